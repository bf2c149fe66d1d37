"""Handling a Telegram update never leaves the event loop: aiogram runs a synchronous filter
or handler in a thread of the default executor, one thread hop per update."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from handlers.telegram.bot import CONTINUE_IN_PRIVATE
from tests.handlers import test_telegram
from tests.handlers.test_telegram import ANA, GROUP, Site, head

fake = test_telegram.fake  # the fixtures of the webhook tests
site = test_telegram.site


class NoThreads(ThreadPoolExecutor):
    """A default executor that refuses work, so anything handed to it fails loudly."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.refused: list[Any] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.refused.append(fn)
        raise RuntimeError("the default executor was asked to run something")


async def test_updates_are_handled_without_the_default_executor(site: Site) -> None:
    executor = NoThreads()
    asyncio.get_running_loop().set_default_executor(executor)
    await head(site)  # a private message: the private-chat filter, then the flow
    await site.say(ANA, "/invite", chat_id=GROUP)  # a group command: the command filter
    assert site.shown(GROUP)[-1].params["text"] == CONTINUE_IN_PRIVATE
    assert executor.refused == []
