"""Telegram updates, each handled at most once, however they arrive (webhook or long polling).

Telegram redelivers an update it got no timely answer for, and a poller that restarts may
fetch an update again, so each ``update_id`` is recorded as an
:class:`~bot.domain.InboundReceipt` in its own committed unit of work before the update is
handled: a second delivery finds the receipt and has no effect. The price is that an update
whose handling crashes is not retried, which beats inviting someone twice; the person is told
something went wrong (see :class:`~handlers.telegram.bot.TelegramAdapter`) and can send again.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from aiogram.types import Update
from aiogram.types.update import UpdateTypeLookupError

from bot.domain import InboundReceipt
from bot.ports import Clock, UnitOfWorkFactory

from .bot import TelegramAdapter

log = logging.getLogger("invitebot.telegram")

SOURCE = "telegram"
"""The ``InboundReceipt.source`` of Telegram updates."""
ALLOWED_UPDATES = ["message", "callback_query", "chat_join_request"]
"""The only updates the bot asks Telegram for (``setWebhook`` and ``getUpdates``): messages,
button presses, and requests to join a community's residents' group."""


class UpdateIntake:
    """Takes updates in: de-duplicates them by ``update_id`` and feeds them to aiogram."""

    def __init__(
        self, *, adapter: TelegramAdapter, uow_factory: UnitOfWorkFactory, clock: Clock
    ) -> None:
        self.adapter = adapter
        self.uow_factory = uow_factory
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    async def first_time(self, update: Update) -> bool:
        """Record the update; ``False`` when it was recorded before (a redelivery)."""
        async with self.uow_factory() as uow:
            # Keyed by the bot too: update ids start again at random after a quiet week, and
            # another bot (a new token, a staging bot on the same database) counts its own.
            receipt = InboundReceipt(
                source=SOURCE,
                external_id=f"{self.adapter.bot.id}:{update.update_id}",
                received_at=self.clock.now(),
            )
            first = await uow.receipts.first_time(receipt)
            await uow.commit()
        if not first:
            log.info("update %s delivered again: already handled", update.update_id)
        return first

    async def handle(self, update: Update) -> None:
        """Run the update through the router, after the updates of the same person that came
        before it; a failure is logged, never raised."""
        try:
            event = update.event
        except UpdateTypeLookupError:
            # Signed by Telegram, of a kind this version of aiogram does not know (a newer Bot
            # API's): nothing to do, and nothing to wait for.
            log.warning("ignored Telegram update %s: no event this version knows", update.update_id)
            return
        async with self._turn_of(event):
            try:
                await self.adapter.dispatcher.feed_update(self.adapter.bot, update)
            except Exception:
                log.exception("handling Telegram update %s failed", update.update_id)

    def _turn_of(self, event: object) -> asyncio.Lock:
        """One lock per person: Telegram sends updates over many connections at once, and a
        name and an email typed in quick succession must be taken in that order. The lock is
        fair (first come, first served) and forgotten when nobody holds or awaits it."""
        sender = getattr(event, "from_user", None)  # messages and presses have one
        key = sender.id if sender is not None else 0
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def handle_in_background(self, update: Update) -> None:
        task = asyncio.create_task(self.handle(update), name=f"telegram-{update.update_id}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        # handle() catches everything: an exception that got through is a bug to hear about
        # now, not as asyncio's "never retrieved" when the task is collected.
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("handling Telegram update failed: %s", task.get_name(), exc_info=error)

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    async def drain(self) -> None:
        """Wait for updates still being handled (at shutdown, and in tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
