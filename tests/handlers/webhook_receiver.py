"""A webhook receiver on loopback, as the HOA's other system would run one: it verifies each
request with the ``standardwebhooks`` package (the specification's reference library, not
our code) and keeps what it was sent.

``respond_next`` queues how the next requests are answered (a status, a :class:`Reply`, or
hanging); every
other request gets 204. A request that fails verification gets 401 and is kept apart.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

from tests.handlers.loopback import LoopbackServer

SECRET = "whsec_" + base64.b64encode(b"the HOA portal's shared secret!!").decode()


@dataclass(frozen=True)
class Hang:
    """Answer nothing for ``seconds`` (or until the receiver closes)."""

    seconds: float = 60.0


@dataclass(frozen=True)
class Reply:
    """An answer of its own: a status, a body, and a ``Location`` (for a redirect)."""

    status: int
    text: str = ""
    location: str = ""


@dataclass(frozen=True)
class Received:
    """One verified request: its headers of note, the parsed body, and the answer given."""

    webhook_id: str
    timestamp: str
    signature: str
    body: dict[str, Any]
    raw: bytes
    answered: int | None

    @property
    def type(self) -> str:
        return str(self.body["type"])


@dataclass
class WebhookReceiver:
    secret: str = SECRET
    received: list[Received] = field(default_factory=list)
    refused: list[bytes] = field(default_factory=list)
    _queue: list[int | Hang | Reply] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: LoopbackServer | None = None
    _stopping: asyncio.Event | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"{self._server.url}/hooks/invitebot"

    def respond_next(self, *answers: int | Hang | Reply) -> None:
        with self._lock:
            self._queue.extend(answers)

    def taken(self) -> list[Received]:
        """The requests answered 2xx, in the order they arrived."""
        with self._lock:
            return [r for r in self.received if r.answered is not None and r.answered < 300]

    def delivered(self) -> dict[str, Received]:
        """Each webhook taken, once, by its ``webhook-id`` (a receiver drops repeats so)."""
        unique: dict[str, Received] = {}
        for r in self.taken():
            unique.setdefault(r.webhook_id, r)
        return unique

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = Webhook(self.secret).verify(raw, dict(request.headers))
        except WebhookVerificationError:
            with self._lock:
                self.refused.append(raw)
            return web.Response(status=401, text="bad signature")
        with self._lock:
            answer: int | Hang | Reply = self._queue.pop(0) if self._queue else 204
        if isinstance(answer, Hang):
            self._keep(request, raw, body, None)
            assert self._stopping is not None
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=answer.seconds)
            except TimeoutError:
                pass
            return web.Response(status=503)
        if isinstance(answer, Reply):
            self._keep(request, raw, body, answer.status)
            headers = {"Location": answer.location} if answer.location else {}
            return web.Response(status=answer.status, text=answer.text, headers=headers)
        self._keep(request, raw, body, answer)
        return web.Response(status=answer, text=json.dumps({"ok": answer < 300}))

    def _keep(self, request: web.Request, raw: bytes, body: Any, answered: int | None) -> None:
        with self._lock:
            self.received.append(
                Received(
                    webhook_id=request.headers["webhook-id"],
                    timestamp=request.headers["webhook-timestamp"],
                    signature=request.headers["webhook-signature"],
                    body=body,
                    raw=raw,
                    answered=answered,
                )
            )

    async def _app(self) -> web.Application:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_post("/hooks/invitebot", self._handle)
        return app

    async def _stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    def start(self) -> WebhookReceiver:
        self._server = LoopbackServer("webhook-receiver", self._app, on_stop=self._stop).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def random_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
