"""The Slack pieces built from the settings, for the composition root and the app.

- :func:`slack_events`: ``POST /slack/events``, when ``SLACK_BOT_TOKEN`` and
  ``SLACK_SIGNING_SECRET`` are set;
- :func:`slack_chat_sender`: heads' notifications as DMs, when ``SLACK_BOT_TOKEN`` is set;
- :func:`run_socket_mode`: the adapter over Socket Mode, when ``SLACK_APP_TOKEN`` is set too;
- :func:`slack_edge`: whichever of the two the settings ask for, as the app runs it.

``SLACK_API_BASE`` points every Web API client elsewhere (a loopback fake in tests).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import aiohttp

from bot.context import CoreContext
from bot.engine import Engine

from ..intake import stopped
from ..settings import Settings
from .bot import PLATFORM, SlackAdapter
from .client import make_client, share_connections
from .sender import SlackChatSender
from .socket_mode import SocketModeRefused, serve_socket_mode
from .webhook import SlackEvents

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from storage.database import Database

log = logging.getLogger("invitebot.slack")

__all__ = [
    "PLATFORM",
    "SlackEdge",
    "SlackEvents",
    "run_socket_mode",
    "slack_adapter",
    "slack_chat_sender",
    "slack_edge",
    "slack_events",
]


def slack_adapter(
    settings: Settings, *, database: Database, ctx: CoreContext, socket_mode: bool = False
) -> SlackAdapter | None:
    """The adapter over the configured bot token; HTTP mode needs the signing secret."""
    if settings.slack_bot_token is None:
        return None
    secret = settings.slack_signing_secret
    if not socket_mode and secret is None:
        return None
    client = make_client(
        settings.slack_bot_token.get_secret_value(), api_base=settings.slack_api_base
    )
    return SlackAdapter(
        Engine(uow_factory=database.uow, ctx=ctx),
        client,
        signing_secret=secret.get_secret_value() if secret is not None else None,
        lease=timedelta(seconds=settings.intake_lease_seconds),
    )


def slack_events(settings: Settings, *, database: Database, ctx: CoreContext) -> SlackEvents | None:
    """``POST /slack/events`` (its ``routes``; ``close()`` it at shutdown), or ``None`` when
    the bot token or the signing secret is missing."""
    adapter = slack_adapter(settings, database=database, ctx=ctx)
    return SlackEvents(adapter) if adapter is not None else None


def slack_chat_sender(settings: Settings) -> SlackChatSender | None:
    """The outbox sender for ``Route(Channel.CHAT, "slack")``, when a bot token is set."""
    if settings.slack_bot_token is None:
        return None
    return SlackChatSender(
        make_client(
            settings.slack_bot_token.get_secret_value(),
            api_base=settings.slack_api_base,
            wait_out_rate_limits=False,
        )
    )


async def run_socket_mode(
    settings: Settings, *, database: Database, ctx: CoreContext, stop: asyncio.Event
) -> None:
    """Serve Slack over Socket Mode until ``stop`` is set (``invitebot serve`` runs it
    beside the web server when ``SLACK_APP_TOKEN`` and ``SLACK_BOT_TOKEN`` are set)."""
    if settings.slack_app_token is None:
        raise ValueError("Socket Mode needs SLACK_APP_TOKEN")
    adapter = slack_adapter(settings, database=database, ctx=ctx, socket_mode=True)
    if adapter is None:
        raise ValueError("Socket Mode needs SLACK_BOT_TOKEN")
    await serve_socket_mode(
        adapter, app_token=settings.slack_app_token.get_secret_value(), stop=stop
    )


@dataclass
class SlackEdge:
    """The Slack adapter as the app runs it: over ``POST /slack/events`` (:attr:`routes`),
    or over Socket Mode (started by :meth:`start`)."""

    adapter: SlackAdapter
    app_token: str | None = None
    """Set for Socket Mode."""
    events: SlackEvents | None = None
    socket_connected: bool = field(default=False, init=False)
    """In Socket Mode: ``True`` from the first connection until ``stop`` (slack_sdk reconnects
    by itself meanwhile), ``False`` while still trying to connect or after giving up."""
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _leases: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _sender: SlackChatSender | None = field(default=None, init=False, repr=False)
    _session: aiohttp.ClientSession | None = field(default=None, init=False, repr=False)

    @property
    def routes(self) -> list[BaseRoute]:
        return list(self.events.routes) if self.events is not None else []

    def start(self, stop: asyncio.Event) -> asyncio.Task[None] | None:
        """Run the intake's leases (taking over the requests a process that died left), and in
        Socket Mode connect, in tasks that end once ``stop`` is set."""
        clients = [self.adapter.client]
        if self._sender is not None:
            clients.append(self._sender.client)
        self._session = share_connections(self._session, *clients)
        durable = self.adapter.intake.durable
        self._leases = asyncio.create_task(durable.run(stop), name="slack-intake")
        if self.app_token is None:
            return None
        self._task = asyncio.create_task(self._serve(self.app_token, stop), name="slack-socket")
        return self._task

    async def _serve(self, app_token: str, stop: asyncio.Event) -> None:
        """Socket Mode until ``stop``, retrying Slack's and the network's trouble; only a
        refused app token ends it early, which is logged, never raised into the app's
        shutdown."""
        try:
            await serve_socket_mode(
                self.adapter, app_token=app_token, stop=stop, on_state=self._connected_now
            )
        except SocketModeRefused as refused:
            log.error(
                "Slack Socket Mode stopped: %s; no Slack requests are received until "
                "INVITEBOT_SLACK_APP_TOKEN is fixed and the server restarted",
                refused,
            )
        except Exception:
            log.exception("Slack Socket Mode stopped: no Slack requests are received")

    def _connected_now(self, connected: bool) -> None:
        self.socket_connected = connected

    def chat_sender(self) -> SlackChatSender:
        """The sender for ``Route(Channel.CHAT, "slack")`` that also refreshes heads' home
        tabs after a notification (use it instead of :func:`slack_chat_sender` here)."""
        self._sender = SlackChatSender.refreshing_homes(self.adapter)
        if self._session is not None:
            share_connections(self._session, self._sender.client)
        return self._sender

    async def close(self) -> None:
        """At shutdown, after ``stop`` is set: wait for the work under way."""
        if self._task is not None:
            await self._task
        try:
            if self._leases is not None:
                await stopped(self._leases)
            await self.adapter.close()
        finally:
            session, self._session = self._session, None
            if session is not None:
                await session.close()


def slack_edge(settings: Settings, *, database: Database, ctx: CoreContext) -> SlackEdge | None:
    """The Slack adapter the settings ask for: Socket Mode when ``SLACK_APP_TOKEN`` is set,
    else ``POST /slack/events`` when ``SLACK_SIGNING_SECRET`` is; ``None`` without a bot
    token (or with neither of the two, which is logged)."""
    if settings.slack_bot_token is None:
        return None
    if settings.slack_app_token is not None:
        adapter = slack_adapter(settings, database=database, ctx=ctx, socket_mode=True)
        assert adapter is not None
        return SlackEdge(adapter, app_token=settings.slack_app_token.get_secret_value())
    events = slack_events(settings, database=database, ctx=ctx)
    if events is None:
        log.warning(
            "INVITEBOT_SLACK_BOT_TOKEN is set without INVITEBOT_SLACK_SIGNING_SECRET or "
            "INVITEBOT_SLACK_APP_TOKEN, so no Slack requests are received: set the signing "
            "secret (request URLs) or an app-level token (Socket Mode)"
        )
        return None
    return SlackEdge(events.adapter, events=events)
