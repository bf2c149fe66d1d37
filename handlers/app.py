"""The ASGI app that ``invitebot serve`` runs: one process serves every platform.

Routes: ``GET /healthz``; ``GET /metrics`` (Prometheus); the invitation page,
``GET/POST /i/{token}`` and ``GET /i/{token}/qr.png``; with Twilio configured,
``POST /twilio/sms`` and ``POST /twilio/status``; with Telegram configured for webhooks,
``POST /telegram/webhook`` (or, instead, long polling in the background). The app's lifespan
brings the database up to date (SQLite) and, unless told not to, runs the outbox dispatcher
in the same process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from bot.context import CoreContext
from bot.domain import Channel
from bot.domain import Route as DomainRoute
from bot.engine import Engine
from bot.ports import Clock

from .bootstrap import (
    StartupError,
    build_dispatcher,
    close_senders,
    core_context,
    invitee_senders,
    make_database,
    prepare_database,
)
from .http_headers import HardenedStarlette
from .http_limits import Gate, RequestLimits
from .http_server import loop_name
from .intake import stopped
from .logs import mask_logger
from .metrics import MeasureRequests, Metrics
from .settings import Settings
from .twilio_webhooks import TwilioWebhooks
from .unavailable import DatabaseUnavailableIs503
from .web_page import InvitationPageRoutes

if TYPE_CHECKING:
    from storage.database import Database

    from .slack.wiring import SlackEdge
    from .telegram.polling import TelegramPolling
    from .telegram.updates import UpdateIntake
    from .telegram.webhook import TelegramWebhook

log = logging.getLogger(__name__)

TELEGRAM_PATH = "/telegram/webhook"
SLACK_PATH = "/slack/events"
JSON_PATHS = (TELEGRAM_PATH, SLACK_PATH)
"""The routes whose bodies may be as large as ``INVITEBOT_MAX_JSON_BODY_BYTES``."""


@dataclass
class TelegramEdge:
    """The Telegram adapter as the app runs it: updates come in by webhook or by polling."""

    intake: UpdateIntake
    webhook: TelegramWebhook | None = None
    polling: TelegramPolling | None = None

    _menu: asyncio.Task[None] | None = None
    _leases: asyncio.Task[None] | None = None

    async def start(self, stop: asyncio.Event) -> asyncio.Task[None] | None:
        """Publish the command menu (in the background: a Telegram that does not answer must
        not keep the server from starting), run the intake's leases (taking over the updates
        a process that died left), and start polling when that is the mode."""
        self._menu = asyncio.create_task(self._publish_menu(), name="telegram-menu")
        self._leases = asyncio.create_task(self.intake.durable.run(stop), name="telegram-intake")
        if self.polling is None:
            return None
        return asyncio.create_task(self.polling.run(stop), name="telegram-polling")

    async def _publish_menu(self) -> None:
        try:
            await self.intake.adapter.set_commands()
        except Exception as error:  # the menu is a nicety: log, and carry on without it
            log.warning("could not publish the Telegram command menu: %s", error)

    async def close(self) -> None:
        if self._menu is not None and not self._menu.done():
            self._menu.cancel()
        if self._leases is not None:
            await stopped(self._leases)
        await self.intake.drain()
        await self.intake.adapter.close()


def telegram_edge(
    settings: Settings, *, database: Database, ctx: CoreContext, polling: bool = False
) -> TelegramEdge | None:
    """The Telegram adapter, when a bot token is set: with ``polling``, it long-polls;
    otherwise it serves ``POST /telegram/webhook``, which needs the webhook secret too."""
    if settings.telegram_bot_token is None:
        return None
    if not polling and settings.telegram_webhook_secret is None:
        log.warning(
            "INVITEBOT_TELEGRAM_BOT_TOKEN is set without INVITEBOT_TELEGRAM_WEBHOOK_SECRET, so "
            "no Telegram updates are received: set the secret and run `invitebot telegram "
            "set-webhook`, or serve with --telegram-polling"
        )
        return None
    # Imported only when configured: aiogram is heavy, and most deployments start without it.
    from .telegram.bot import TelegramAdapter, bot_from_settings
    from .telegram.polling import TelegramPolling
    from .telegram.updates import UpdateIntake
    from .telegram.webhook import TelegramWebhook

    bot = bot_from_settings(settings)
    if bot is None:
        return None
    adapter = TelegramAdapter(Engine(uow_factory=database.uow, ctx=ctx), bot)
    intake = UpdateIntake(
        adapter=adapter,
        uow_factory=database.uow,
        clock=ctx.clock,
        lease=timedelta(seconds=settings.intake_lease_seconds),
    )
    if polling:
        return TelegramEdge(intake, polling=TelegramPolling(intake))
    assert settings.telegram_webhook_secret is not None
    secret = settings.telegram_webhook_secret.get_secret_value()
    return TelegramEdge(intake, webhook=TelegramWebhook(intake=intake, secret=secret))


def slack_edge(settings: Settings, *, database: Database, ctx: CoreContext) -> SlackEdge | None:
    """Slack, when a bot token is set: Socket Mode with an app token, else
    ``POST /slack/events`` with the signing secret."""
    if settings.slack_bot_token is None:
        return None
    # Imported only when configured: slack-bolt is heavy, and most deployments start without it.
    from .slack import wiring

    return wiring.slack_edge(settings, database=database, ctx=ctx)


def create_app(
    settings: Settings | None = None,
    *,
    dispatch: bool = True,
    telegram_polling: bool = False,
    database: Database | None = None,
    clock: Clock | None = None,
) -> Starlette:
    """The app; ``database`` replaces the configured one (tests pass a prepared database), and
    ``clock`` the system clock (tests pass the clock their other parts run on). With
    ``telegram_polling``, Telegram updates are fetched by long polling instead of the
    webhook."""
    settings = settings or Settings()
    database = database or make_database(settings)
    ctx = core_context(settings, clock=clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Set here, after the server has configured its logging: access logs show invite
        # links (/i/<token>), and a plain `uvicorn` command keeps uvicorn's own handlers.
        mask_logger("uvicorn.access")
        try:
            await prepare_database(settings, database)
        except StartupError as error:  # `invitebot serve` says it in one line, exit code 2
            app.state.startup_error = error
            raise
        serving = getattr(app.state, "serving", None)  # set by `invitebot serve`
        if serving is not None:
            loop = loop_name(asyncio.get_running_loop())
            parser = getattr(app.state, "http_parser", "?")
            log.info(
                "serving on %s with %s and %s",
                serving,
                loop,
                parser,
                extra={"event_loop": loop, "http_parser": parser},
            )
        stop = asyncio.Event()
        task = None
        senders = invitee_senders(settings)
        if slack is not None:  # DMs to heads that also bring their home tab up to date
            senders[DomainRoute(Channel.CHAT, "slack")] = slack.chat_sender()
        if dispatch:
            dispatcher = build_dispatcher(settings, database, senders, clock=clock)
            task = asyncio.create_task(dispatcher.run_forever(stop), name="outbox")
        polling = await telegram.start(stop) if telegram is not None else None
        socket_mode = slack.start(stop) if slack is not None else None
        try:
            yield
        finally:
            stop.set()
            for running in (task, polling, socket_mode):
                if running is not None:
                    await running
            await close_senders(senders)
            if telegram is not None:
                await telegram.close()
            if slack is not None:
                await slack.close()
            await database.dispose()

    async def healthz(request: Request) -> JSONResponse:
        database_ok = await request.app.state.database.ping()
        report: dict[str, object] = {
            "status": "ok" if database_ok else "degraded",
            "database": database_ok,
        }
        if slack is not None and slack.app_token is not None:
            # Reported, not judged: a Slack outage is no reason to restart this process.
            report["slack_socket_mode"] = slack.socket_connected
        return JSONResponse(report, status_code=200 if database_ok else 503)

    if settings.twilio_auth_token is not None and "localhost" in settings.public_base_url:
        log.warning(
            "Twilio is configured but INVITEBOT_PUBLIC_BASE_URL is %s: Twilio cannot reach it, "
            "and webhook signatures are checked against it, so every webhook will get 403",
            settings.public_base_url,
        )
    routes: list[BaseRoute] = [Route("/healthz", healthz)]
    telegram = telegram_edge(settings, database=database, ctx=ctx, polling=telegram_polling)
    if telegram is not None and telegram.webhook is not None:
        routes += telegram.webhook.routes
    slack = slack_edge(settings, database=database, ctx=ctx)
    if slack is not None:
        routes += slack.routes
    routes += InvitationPageRoutes(
        uow_factory=database.uow,
        ctx=ctx,
        public_base_url=settings.public_base_url,
        telegram_bot_username=settings.telegram_bot_username,
        trusted_proxies=settings.trusted_proxy_list,
    ).routes
    if settings.twilio_auth_token is not None:
        routes += TwilioWebhooks(
            uow_factory=database.uow,
            ctx=ctx,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            public_base_url=settings.public_base_url,
        ).routes
    metrics_token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    metrics = Metrics(database=database, clock=ctx.clock, token=metrics_token)
    routes.append(metrics.route)
    metrics.routes = routes
    # Telegram's and Slack's webhooks take JSON (Slack's forms carry JSON too); the rest, forms.
    json_limits = dict.fromkeys(JSON_PATHS, settings.max_json_body_bytes)
    # Checks of the headers alone, before a body is read from anyone.
    gates: dict[str, Gate] = {}
    if telegram is not None and telegram.webhook is not None:
        gates[TELEGRAM_PATH] = telegram.webhook.authentic
    if slack is not None and slack.events is not None:
        gates[SLACK_PATH] = slack.events.plausible
    # Security headers on every response, the 500s of ServerErrorMiddleware included.
    app = HardenedStarlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(MeasureRequests, metrics=metrics),
            Middleware(
                RequestLimits,
                limits=json_limits,
                default_limit=settings.max_form_body_bytes,
                timeout=settings.request_timeout_seconds,
                gates=gates,
            ),
            Middleware(DatabaseUnavailableIs503),
        ],
    )
    app.state.database = database
    app.state.telegram = telegram
    app.state.slack = slack
    return app
