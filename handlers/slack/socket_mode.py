"""Socket Mode: Slack's requests over a WebSocket the app opens, for a workspace whose bot
has no public URL (``SLACK_APP_TOKEN``, an app-level token with ``connections:write``).

The same adapter handles them; there is no signature to check (the connection itself is
authenticated by the app token), and the receipts still make Slack's redeliveries no-ops.
"""

from __future__ import annotations

import asyncio
import logging

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from .bot import SlackAdapter

log = logging.getLogger("invitebot.slack")


async def serve_socket_mode(adapter: SlackAdapter, *, app_token: str, stop: asyncio.Event) -> None:
    """Connect, handle requests until ``stop`` is set, then disconnect and finish the work
    under way. The client reconnects by itself when Slack drops the connection."""
    if not app_token.startswith("xapp-"):
        raise ValueError("SLACK_APP_TOKEN must be an app-level token (xapp-…)")
    handler = AsyncSocketModeHandler(adapter.app, app_token, logger=log)
    await handler.connect_async()
    log.info("connected to Slack in Socket Mode")
    try:
        await stop.wait()
    finally:
        await handler.close_async()
        await adapter.drain()
