"""An aiohttp app on 127.0.0.1 in a thread of its own, with its own event loop: how every fake
platform API runs, so sync and async tests alike can use one, and a test's event loop is never
the one answering it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import web


class LoopbackServer:
    """Serves the app ``build()`` makes (on the server's loop) on a free port of 127.0.0.1.

    ``on_stop`` runs on the server's loop before the app is cleaned up (to release requests a
    fake keeps hanging, say)."""

    def __init__(
        self,
        name: str,
        build: Callable[[], Awaitable[web.Application]],
        *,
        on_stop: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self._build = build
        self._on_stop = on_stop
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port: int | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError(f"the {self.name} server is not running")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackServer:
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
            try:
                loop.run_until_complete(self._start())
            except BaseException as error:
                failure.append(error)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=serve, name=self.name, daemon=True)
        self._thread.start()
        started.wait(timeout=10)
        if failure:
            raise RuntimeError(f"the {self.name} server did not start") from failure[0]
        return self

    def call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coroutine`` on the server's loop, from the test's thread; its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def call_soon(self, callback: Callable[[], object]) -> None:
        """Schedule ``callback`` on the server's loop (thread-safe, returns at once)."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(callback)

    def close(self) -> None:
        loop, thread = self.loop, self._thread
        if loop is None or thread is None:
            return
        if not loop.is_closed():
            self.call(self._stop())
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self.loop = self._thread = None
        self.port = None

    async def _start(self) -> None:
        self._runner = web.AppRunner(await self._build(), shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        if self._on_stop is not None:
            await self._on_stop()
        if self._runner is not None:
            await self._runner.cleanup()
