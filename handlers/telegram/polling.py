"""Long polling (``invitebot serve --telegram-polling``): for hosts Telegram cannot reach.

The poller removes any webhook first (Telegram refuses ``getUpdates`` while one is set), then
asks for updates in a loop, each call waiting up to :data:`LONG_POLL_SECONDS` for something to
arrive. Each update is stored before the offset moves past it (:class:`UpdateIntake`), so an
update fetched again after a restart has no second effect, and handled in a task, in order per
person, so one person's quick messages are never taken out of turn. Errors (the network, Telegram's
5xx, another poller with the same token) back off exponentially up to a minute and never end
the loop; only ``stop`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramConflictError, TelegramUnauthorizedError
from aiogram.types import Update

from .updates import ALLOWED_UPDATES, UpdateIntake

log = logging.getLogger("invitebot.telegram")

LONG_POLL_SECONDS = 25
MAX_BACKOFF_SECONDS = 60.0


class TelegramPolling:
    def __init__(
        self,
        intake: UpdateIntake,
        *,
        long_poll: int = LONG_POLL_SECONDS,
        first_backoff: float = 1.0,
    ) -> None:
        self.intake = intake
        self.long_poll = long_poll
        self.first_backoff = first_backoff
        self.offset: int | None = None
        """The next ``update_id`` wanted; asking with it confirms every earlier one."""

    @property
    def bot(self) -> Bot:
        return self.intake.adapter.bot

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set."""
        backoff = self.first_backoff
        removed_webhook = False
        while not stop.is_set():
            try:
                if not removed_webhook:
                    await self.bot.delete_webhook(drop_pending_updates=False)
                    removed_webhook = True
                    log.info("Telegram long polling started")
                for update in await self._next_batch(stop) or ():
                    await self._take(update)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._log_failure(error, backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            backoff = self.first_backoff

    async def _next_batch(self, stop: asyncio.Event) -> list[Update] | None:
        """The next updates, or ``None`` when ``stop`` was set while waiting for them."""
        fetch = asyncio.ensure_future(
            self.bot.get_updates(
                offset=self.offset,
                timeout=self.long_poll,
                allowed_updates=ALLOWED_UPDATES,
                request_timeout=self.long_poll + 10,
            )
        )
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not fetch.done():
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await fetch
            return None
        return fetch.result()

    async def _take(self, update: Update) -> None:
        # Confirmed only once recorded: if the database is down, Telegram keeps the update.
        stored = await self.intake.accept(update)
        self.offset = update.update_id + 1
        if stored is not None:
            # In a task of its own, in order per person: one person's update waiting for an
            # older one (held by a process that died) never holds up everyone else's.
            self.intake.handle_in_background(stored)

    def _log_failure(self, error: Exception, backoff: float) -> None:
        if isinstance(error, TelegramConflictError):
            log.error(
                "Telegram refused long polling (%s): is another process polling with this "
                "token, or a webhook set? Retrying in %.0f s",
                error.message,
                backoff,
            )
        elif isinstance(error, TelegramUnauthorizedError):
            log.error("Telegram refused the bot token; retrying in %.0f s", backoff)
        else:
            log.warning(
                "getUpdates failed (%s: %s); retrying in %.0f s",
                type(error).__name__,
                error,
                backoff,
            )
