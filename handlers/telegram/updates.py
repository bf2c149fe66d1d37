"""Telegram updates, each handled exactly once however they arrive (webhook or long polling),
and none lost when the process dies.

Telegram redelivers an update it got no timely answer for, and a poller that restarts may fetch
one again, so each ``update_id`` is recorded as an :class:`~bot.domain.InboundReceipt`; with it,
in the same transaction and before Telegram is answered (or the poller's offset moves past it),
the update itself is stored (:class:`handlers.intake.DurableIntake`). It is handled after the
earlier updates of the same person, its step taken exactly once (:mod:`bot.intake`), and it is
forgotten once its replies are sent. An update whose process died is taken over by a serve
process when its lease ends.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from aiogram.enums import ChatType
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import Update
from aiogram.types.update import UpdateTypeLookupError

from bot.domain import InboundUpdate
from bot.intake import Inbound
from bot.ports import Clock, UnitOfWorkFactory

from ..inbound import loads_cleaned
from ..intake import DEFAULT_LEASE, DurableIntake
from .bot import TelegramAdapter

log = logging.getLogger("invitebot.telegram")

SOURCE = "telegram"
"""The ``InboundReceipt.source`` and ``InboundUpdate.source`` of Telegram updates."""
RETRIED = (TelegramNetworkError, TelegramRetryAfter, TelegramServerError)
"""The Bot API's failures after which an update is taken again (its replies sent then): the
network, Telegram's 5xx (``RestartingTelegram`` among them) and its flood control."""
MAX_PARSED = 10_000
"""How many updates taken in and not yet run this process keeps as aiogram read them."""
ALLOWED_UPDATES = ["message", "callback_query", "chat_join_request"]
"""The only updates the bot asks Telegram for (``setWebhook`` and ``getUpdates``): messages,
button presses, and requests to join a community's residents' group."""


def sender_of(update: Update) -> str:
    """Whose conversation the update may step: a private message's or a button press's user
    (one person's are handled in order, across processes). Anything else takes no step and
    waits for nothing: a group message gets its group's queue, and a request to join a group
    (or a kind this version does not know) a queue of its own."""
    if update.message is not None:
        message = update.message
        if message.chat.type == ChatType.PRIVATE and message.from_user is not None:
            return str(message.from_user.id)
        return f"chat:{message.chat.id}"
    if update.callback_query is not None:
        return str(update.callback_query.from_user.id)
    return f"update:{update.update_id}"


def payload_of(update: Update) -> str:
    """The update as Telegram sends it (JSON), for one that did not come as a request body (long
    polling): aiogram's model written back by the Bot API's field names."""
    return update.model_dump_json(by_alias=True, exclude_none=True, exclude_unset=True)


class UpdateIntake:
    """Takes Telegram updates in (stored, de-duplicated by ``update_id``) and feeds them to
    aiogram, in order per person."""

    def __init__(
        self,
        *,
        adapter: TelegramAdapter,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        self.adapter = adapter
        self._parsed: dict[int, Update] = {}
        """Updates taken in by this process and not yet run, as aiogram read them when they
        came in: run from here, not read from their payload a second time."""
        self.durable = DurableIntake(
            source=SOURCE, uow_factory=uow_factory, clock=clock, handler=self._run, lease=lease
        )

    async def accept(self, update: Update, payload: str | None = None) -> InboundUpdate | None:
        """Store the update (``payload``: the request body it came in, else written from the
        model); ``None`` when it was taken in before. Keyed by the bot too: update ids start
        again at random after a quiet week, and another bot (a new token, a staging bot on the
        same database) counts its own."""
        stored = await self.durable.accept(
            external_id=f"{self.adapter.bot.id}:{update.update_id}",
            sender=sender_of(update),
            payload=payload if payload is not None else payload_of(update),
        )
        if stored is None:
            log.info("update %s delivered again: already handled", update.update_id)
        elif stored.id is not None:
            if len(self._parsed) >= MAX_PARSED:  # those another process took over
                self._parsed.pop(next(iter(self._parsed)))
            self._parsed[stored.id] = update
        return stored

    async def handle(self, stored: InboundUpdate) -> None:
        """Handle a stored update after the same person's earlier ones; never raises."""
        await self.durable.handle(stored)

    def handle_in_background(self, stored: InboundUpdate) -> None:
        self.durable.handle_in_background(stored)

    async def _run(self, stored: InboundUpdate, inbound: Inbound) -> None:
        update = self._parsed.pop(inbound.id, None)
        if update is None:  # taken over from another process, or taken again
            # Read as it was checked when it came in (the webhook's limits, or the Bot API's
            # answer).
            update = Update.model_validate(
                loads_cleaned(stored.payload), context={"bot": self.adapter.bot}
            )
        try:
            update.event  # noqa: B018  (raises for a kind this version does not know)
        except UpdateTypeLookupError:
            # Signed by Telegram, of a kind this version of aiogram does not know (a newer Bot
            # API's): nothing to do.
            log.warning("ignored Telegram update %s: no event this version knows", update.update_id)
            return
        try:
            await self.adapter.dispatcher.feed_update(self.adapter.bot, update, inbound=inbound)
        except TelegramAPIError as error:
            if isinstance(error, RETRIED):
                raise  # Telegram out of reach: the replies are sent when it is taken again
            # Refused for good (the person blocked the bot, the chat is gone): sending the
            # replies again would be refused again.
            log.warning("Telegram refused a reply to update %s: %s", update.update_id, error)

    @property
    def busy(self) -> bool:
        return self.durable.busy

    async def drain(self) -> None:
        """Wait for updates still being handled (at shutdown, and in tests)."""
        await self.durable.drain()
