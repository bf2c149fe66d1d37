"""The Slack pieces built from the settings, for the composition root and the app.

- :func:`slack_events`: ``POST /slack/events``, when ``SLACK_BOT_TOKEN`` and
  ``SLACK_SIGNING_SECRET`` are set;
- :func:`slack_chat_sender`: heads' notifications as DMs, when ``SLACK_BOT_TOKEN`` is set;
- :func:`run_socket_mode`: the adapter over Socket Mode, when ``SLACK_APP_TOKEN`` is set too.

``SLACK_API_BASE`` points every Web API client elsewhere (a loopback fake in tests).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bot.context import CoreContext
from bot.engine import Engine

from ..settings import Settings
from .bot import PLATFORM, SlackAdapter, make_client
from .sender import SlackChatSender
from .socket_mode import serve_socket_mode
from .webhook import SlackEvents

if TYPE_CHECKING:
    from storage.database import Database

__all__ = [
    "PLATFORM",
    "SlackEvents",
    "run_socket_mode",
    "slack_adapter",
    "slack_chat_sender",
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
