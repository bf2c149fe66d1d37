"""The composition root: the one place where settings, storage and senders are wired to the
core. Everything else in ``handlers/`` asks this module for what it needs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from bot import messages as msg
from bot.context import CoreContext, SystemClock
from bot.domain import Channel, Route
from bot.ports import Clock
from storage.database import Database, SchemaAhead

from .settings import Settings, shown_database_url

if TYPE_CHECKING:
    from bot.delivery import Dispatcher, Sender
    from bot.engine import Engine

# What only some commands use is imported where it is used: the Twilio sender (aiohttp), the
# SMTP sender, the engine and the dispatcher would cost every command (`invitebot admin ...`
# included) a few hundred milliseconds of imports (see docs/performance.md, "CLI startup").

log = logging.getLogger(__name__)


_T = TypeVar("_T")


class StartupError(RuntimeError):
    """What keeps a process from starting, in one line that says what fixes it (the CLI
    prints it alone, with exit code 2)."""


class DatabaseBehind(StartupError):
    """The database schema is older than this code; ``invitebot db upgrade`` fixes it."""


class DatabaseAhead(StartupError):
    """The database schema was upgraded by a newer version of invitebot (a rollback of the
    code without the database): this version cannot use it, and ``db upgrade`` cannot help."""


class DatabaseUnreachable(StartupError):
    """The database does not answer, or refuses the connection."""


CHECK_TIMEOUT = 15.0
"""Seconds a process waits at startup for the database to answer (asyncpg alone: 60)."""


def database_unreachable(settings: Settings, error: BaseException) -> DatabaseUnreachable | None:
    """``error``, raised while connecting to the database and reading its schema's revision,
    as one line naming the database (its password hidden) and what went wrong: no answer,
    an unknown host, a refused connection, no such database or role, a file SQLite cannot
    open. ``None`` when it is none of those."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(error, TimeoutError):
        reason = f"no answer within {CHECK_TIMEOUT:g} s"
    elif isinstance(error, OSError):
        reason = error.strerror or str(error)
    elif isinstance(error, DBAPIError):
        reason = str(error.orig) if error.orig is not None else type(error).__name__
    else:
        return None
    return DatabaseUnreachable(_cannot_use(settings, reason or type(error).__name__))


def _cannot_use(settings: Settings, reason: str) -> str:
    url = shown_database_url(settings.database_url)
    reason = " ".join(reason.split()).rstrip(".")
    if settings.is_sqlite:
        fix = "that its folder can be written"
    else:
        fix = "that the database server is running (a new database needs `invitebot db upgrade`)"
    return f"Cannot use the database {url}: {reason}. Check INVITEBOT_DATABASE_URL and {fix}."


async def _reached(settings: Settings, read: Awaitable[_T]) -> _T:
    """``read``, the first thing asked of the database: one that cannot be reached within
    :data:`CHECK_TIMEOUT` is a one-line :class:`DatabaseUnreachable`."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            return await read
    except Exception as error:
        unreachable = database_unreachable(settings, error)
        if unreachable is None:
            raise
        raise unreachable from error


def _refuse_a_newer_schema(unknown: frozenset[str]) -> None:
    if unknown:
        raise DatabaseAhead(str(SchemaAhead(unknown)))


async def check_reachable(settings: Settings, database: Database) -> None:
    """Connect once: a database that cannot be reached is a one-line
    :class:`DatabaseUnreachable`, one a newer version upgraded a :class:`DatabaseAhead`
    (before a migration, whose own errors are its own)."""
    _refuse_a_newer_schema(await _reached(settings, database.unknown_revisions()))


def hoa_contact(settings: Settings) -> str:
    """``INVITEBOT_HOA_CONTACT``; left at its default, the catalogs' sentence for it, so each
    reader reads it in their language ("your HOA board", "la junta de su HOA")."""
    default = Settings.model_fields["hoa_contact"].default
    return msg.YOUR_HOA_BOARD if settings.hoa_contact == default else settings.hoa_contact


def core_context(settings: Settings, *, clock: Clock | None = None) -> CoreContext:
    return CoreContext(
        clock=clock or SystemClock(),
        secret_key=settings.secret_key_bytes,
        public_base_url=settings.public_base_url,
        region=settings.default_region,
        default_timezone=settings.default_timezone,
        hoa_contact=hoa_contact(settings),
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
    try:
        database = make_database(settings)
    except OSError as error:  # the SQLite file's folder cannot be made
        raise DatabaseUnreachable(_cannot_use(settings, error.strerror or str(error))) from error
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
        from bot.webhooks import WebhookPublisher

        # Every household event writes its webhooks into the outbox, in its transaction.
        database.on_event = WebhookPublisher()
    return database


async def prepare_database(settings: Settings, database: Database) -> None:
    """Bring a SQLite database up to date; check that any other one already is.

    Raises :class:`DatabaseBehind`, :class:`DatabaseAhead` or :class:`DatabaseUnreachable`,
    each a one-line :class:`StartupError`."""
    # Read without Alembic, which a schema at the head never needs to import.
    at_head = await _reached(settings, database.is_at_head())
    if at_head:
        return
    _refuse_a_newer_schema(await database.unknown_revisions())
    if settings.is_sqlite:
        await database.upgrade()
    elif at_head is False or await database.current_revision() != database.head_revision():
        raise DatabaseBehind("The database is not up to date. Run `invitebot db upgrade` first.")


def invitee_senders(settings: Settings) -> dict[Route, Sender]:
    """Senders for the outbox: Twilio for SMS and SMTP for email where configured (without
    credentials, the embedded default logs what would be sent), and Telegram chats."""
    from .outbound import LoggingSender
    from .smtp_email import smtp_sender_from_settings
    from .twilio_sms import twilio_sender_from_settings

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
    from bot.engine import Engine

    return Engine(uow_factory=database.uow, ctx=core_context(settings, clock=clock))


def build_dispatcher(
    settings: Settings,
    database: Database,
    senders: Mapping[Route, Sender],
    *,
    clock: Clock | None = None,
) -> Dispatcher:
    from bot.delivery import Dispatcher
    from bot.webhooks import WEBHOOK_RETRY

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
