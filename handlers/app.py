"""The ASGI app that ``invitebot serve`` runs: one process serves every platform.

Routes: ``GET /healthz``; the invitation page, ``GET/POST /i/{token}`` and
``GET /i/{token}/qr.png``; with Twilio configured, ``POST /twilio/sms`` and
``POST /twilio/status``. The app's lifespan brings the database up to date (SQLite) and,
unless told not to, runs the outbox dispatcher in the same process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from bot.context import CoreContext
from bot.engine import Engine

from .bootstrap import (
    build_dispatcher,
    close_senders,
    core_context,
    invitee_senders,
    make_database,
    prepare_database,
)
from .settings import Settings
from .twilio_webhooks import TwilioWebhooks
from .web_page import InvitationPageRoutes

if TYPE_CHECKING:
    from storage.database import Database

    from .telegram.webhook import TelegramWebhook

log = logging.getLogger(__name__)

_INVITE_PATH = re.compile(r"/i/[A-Za-z0-9_-]{43}")


class MaskInviteLinks(logging.Filter):
    """Hides the token of ``/i/<token>`` paths in access logs: an invite link is a secret,
    and logs travel further than the database."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _INVITE_PATH.sub("/i/<token>", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _INVITE_PATH.sub("/i/<token>", record.msg)
        return True


def mask_invite_links_in(logger_name: str) -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, MaskInviteLinks) for f in logger.filters):
        logger.addFilter(MaskInviteLinks())


def telegram_webhook(
    settings: Settings, *, database: Database, ctx: CoreContext
) -> TelegramWebhook | None:
    """``POST /telegram/webhook``, when a bot token and a webhook secret are both set."""
    if settings.telegram_bot_token is None or settings.telegram_webhook_secret is None:
        return None
    # Imported only when configured: aiogram is heavy, and most deployments start without it.
    from .telegram.bot import TelegramAdapter, bot_from_settings
    from .telegram.webhook import TelegramWebhook

    bot = bot_from_settings(settings)
    if bot is None or settings.telegram_webhook_secret is None:
        return None
    adapter = TelegramAdapter(Engine(uow_factory=database.uow, ctx=ctx), bot)
    return TelegramWebhook(
        adapter=adapter,
        uow_factory=database.uow,
        clock=ctx.clock,
        secret=settings.telegram_webhook_secret.get_secret_value(),
    )


def create_app(
    settings: Settings | None = None, *, dispatch: bool = True, database: Database | None = None
) -> Starlette:
    """The app; ``database`` replaces the configured one (tests pass a prepared database)."""
    settings = settings or Settings()
    database = database or make_database(settings)
    ctx = core_context(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Set here, after the server has configured its logging.
        mask_invite_links_in("uvicorn.access")
        await prepare_database(settings, database)
        stop = asyncio.Event()
        task = None
        senders = invitee_senders(settings)
        if dispatch:
            dispatcher = build_dispatcher(settings, database, senders)
            task = asyncio.create_task(dispatcher.run_forever(stop), name="outbox")
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task
            await close_senders(senders)
            if telegram is not None:
                await telegram.drain()
                await telegram.adapter.close()
            await database.dispose()

    async def healthz(request: Request) -> JSONResponse:
        database_ok = await request.app.state.database.ping()
        return JSONResponse(
            {"status": "ok" if database_ok else "degraded", "database": database_ok},
            status_code=200 if database_ok else 503,
        )

    if settings.twilio_auth_token is not None and "localhost" in settings.public_base_url:
        log.warning(
            "Twilio is configured but INVITEBOT_PUBLIC_BASE_URL is %s: Twilio cannot reach it, "
            "and webhook signatures are checked against it, so every webhook will get 403",
            settings.public_base_url,
        )
    routes: list[BaseRoute] = [Route("/healthz", healthz)]
    telegram = telegram_webhook(settings, database=database, ctx=ctx)
    if telegram is not None:
        routes += telegram.routes
    routes += InvitationPageRoutes(
        uow_factory=database.uow,
        ctx=ctx,
        public_base_url=settings.public_base_url,
        # Not a setting yet: the Telegram adapter adds it (the bot's @username).
        telegram_bot_username=getattr(settings, "telegram_bot_username", None),
    ).routes
    if settings.twilio_auth_token is not None:
        routes += TwilioWebhooks(
            uow_factory=database.uow,
            ctx=ctx,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            public_base_url=settings.public_base_url,
        ).routes
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.database = database
    return app
