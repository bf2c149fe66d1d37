"""Socket Mode: Slack's requests over a WebSocket the app opens, for a workspace whose bot
has no public URL (``SLACK_APP_TOKEN``, an app-level token with ``connections:write``).

The same adapter handles them; there is no signature to check (the connection itself is
authenticated by the app token), and the receipts still make Slack's redeliveries no-ops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.errors import SlackApiError

from .bot import SlackAdapter

log = logging.getLogger("invitebot.slack")


class SocketModeRefused(RuntimeError):
    """Slack refused the app-level token: retrying never helps."""


async def serve_socket_mode(adapter: SlackAdapter, *, app_token: str, stop: asyncio.Event) -> None:
    """Connect, handle requests until ``stop`` is set, then disconnect and finish the work
    under way. The client reconnects by itself when the connection drops.

    The first WebSocket URL is asked for here, so a refused token fails at once
    (:class:`SocketModeRefused`) instead of being retried for ever by slack_sdk; and
    ``stop`` ends the wait even while Slack cannot be reached."""
    try:
        opened = await adapter.client.apps_connections_open(app_token=app_token)
    except SlackApiError as error:
        code = error.response.get("error", "") if error.response is not None else ""
        raise SocketModeRefused(f"Slack refused the app-level token ({code})") from error
    handler = AsyncSocketModeHandler(adapter.app, app_token, logger=log)
    handler.client.wss_uri = str(opened["url"])
    connecting = asyncio.create_task(handler.connect_async(), name="slack-socket-connect")
    stopping = asyncio.create_task(stop.wait(), name="slack-socket-stop")
    try:
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if connecting.done():
            connecting.result()
            log.info("connected to Slack in Socket Mode")
            await stop.wait()
    finally:
        for task in (connecting, stopping):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task  # a failed connect was raised above already
        await handler.close_async()
        await adapter.drain()
