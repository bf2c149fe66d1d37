"""The composition root: the one place where settings, storage and senders are wired to the
core. Everything else in ``handlers/`` asks this module for what it needs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta

from bot.context import CoreContext, SystemClock
from bot.delivery import Dispatcher, Sender
from bot.domain import Channel, Route
from bot.engine import Engine
from bot.ports import Clock
from bot.webhooks import WEBHOOK_RETRY, WebhookPublisher
from storage.database import Database

from .outbound import LoggingSender
from .settings import Settings
from .smtp_email import smtp_sender_from_settings
from .twilio_sms import twilio_sender_from_settings

log = logging.getLogger(__name__)


class DatabaseBehind(RuntimeError):
    """The database schema is older than this code; ``invitebot db upgrade`` fixes it."""


def core_context(settings: Settings, *, clock: Clock | None = None) -> CoreContext:
    return CoreContext(
        clock=clock or SystemClock(),
        secret_key=settings.secret_key_bytes,
        public_base_url=settings.public_base_url,
        region=settings.default_region,
        hoa_contact=settings.hoa_contact,
        limits=settings.limits,
        telegram_bot_username=(settings.telegram_bot_username or "").strip().lstrip("@"),
    )


@asynccontextmanager
async def open_database(settings: Settings, *, upgrade: bool = True) -> AsyncIterator[Database]:
    """Connect to the configured database.

    With ``upgrade``, a SQLite database (the embedded default) is brought up to date by
    itself; any other database must already be migrated (``invitebot db upgrade``), since
    several processes starting at once must not race to change a shared schema.
    """
    database = make_database(settings)
    try:
        if upgrade:
            await prepare_database(settings, database)
        yield database
    finally:
        await database.dispose()


def make_database(settings: Settings) -> Database:
    """The configured database, not connected yet."""
    if settings.sqlite_path is not None:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    database = Database(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        fast_path=settings.database_fast_path,
    )
    if settings.webhooks_enabled:
        # Every household event writes its webhooks into the outbox, in its transaction.
        database.on_event = WebhookPublisher()
    return database


async def prepare_database(settings: Settings, database: Database) -> None:
    """Bring a SQLite database up to date; check that any other one already is."""
    if settings.is_sqlite:
        await database.upgrade()
    elif await database.current_revision() != database.head_revision():
        raise DatabaseBehind("The database is not up to date. Run `invitebot db upgrade` first.")


def invitee_senders(settings: Settings) -> dict[Route, Sender]:
    """Senders for the outbox: Twilio for SMS and SMTP for email where configured (without
    credentials, the embedded default logs what would be sent), and Telegram chats."""
    logging_sender = LoggingSender()
    senders: dict[Route, Sender] = {
        Route(Channel.SMS): twilio_sender_from_settings(settings) or logging_sender,
        Route(Channel.EMAIL): smtp_sender_from_settings(settings) or logging_sender,
    }
    if settings.telegram_bot_token is not None:
        # Imported only when configured: aiogram is heavy, and most commands never need it.
        from .telegram.bot import PLATFORM, bot_from_settings
        from .telegram.sender import TelegramChatSender

        telegram = bot_from_settings(settings)
        if telegram is not None:  # notifications to heads who invited from Telegram
            from .telegram.group import TelegramGroupSender

            senders[Route(Channel.CHAT, PLATFORM)] = TelegramChatSender(telegram)
            # and who is in each community's residents' group
            senders[Route(Channel.GROUP, PLATFORM)] = TelegramGroupSender(telegram)
    if settings.webhooks_enabled:
        from .webhooks import webhook_sender_from_settings

        webhooks = webhook_sender_from_settings(settings)
        if webhooks is not None:  # the household events, to the HOA's other systems
            senders[Route(Channel.WEBHOOK)] = webhooks
    if settings.slack_bot_token is not None:
        # Imported only when configured, like aiogram.
        from .slack.wiring import PLATFORM as SLACK
        from .slack.wiring import slack_chat_sender

        slack = slack_chat_sender(settings)
        if slack is not None:  # notifications to heads who invited from Slack
            from .slack.group import SlackGroupSender

            senders[Route(Channel.CHAT, SLACK)] = slack
            # and who is in each community's residents' channel
            senders[Route(Channel.GROUP, SLACK)] = SlackGroupSender(slack.client)
    return senders


async def close_senders(senders: Mapping[Route, Sender]) -> None:
    """Close what senders hold open (an HTTP session), each once."""
    for sender in {id(s): s for s in senders.values()}.values():
        close = getattr(sender, "close", None)
        if close is not None:
            await close()


def build_engine(settings: Settings, database: Database, *, clock: Clock | None = None) -> Engine:
    return Engine(uow_factory=database.uow, ctx=core_context(settings, clock=clock))


def build_dispatcher(
    settings: Settings,
    database: Database,
    senders: Mapping[Route, Sender],
    *,
    clock: Clock | None = None,
) -> Dispatcher:
    lease = timedelta(seconds=settings.outbox_lease_seconds)
    return Dispatcher(
        uow_factory=database.uow,
        ctx=core_context(settings, clock=clock),
        senders=senders,
        retries={Channel.WEBHOOK: WEBHOOK_RETRY},
        batch_size=batch_size_for(settings, lease=lease),
        lease=lease,
    )


def batch_size_for(settings: Settings, *, lease: timedelta) -> int:
    """How many messages one dispatcher takes at a time: no more than the SMS rate lets it
    send in half its lease, so a slow rate never outlives the lease and has another worker
    take (and send again) what this one is still sending."""
    rate_limited = settings.twilio_messages_per_second * lease.total_seconds() / 2
    return max(1, min(20, int(rate_limited)))
