"""Socket Mode: Slack's requests over a WebSocket the app opens, for a workspace whose bot
has no public URL (``SLACK_APP_TOKEN``, an app-level token with ``connections:write``).

The same adapter handles them; there is no signature to check (the connection itself is
authenticated by the app token), and the receipts still make Slack's redeliveries no-ops.

Connecting is retried until ``stop``: Slack's own trouble (``internal_error``, ``ratelimited``,
5xx), the network, or a WebSocket that will not open back off exponentially with jitter, up
to a minute, each attempt with a fresh WebSocket URL. Only a refused app token
(:data:`REFUSED_TOKEN_ERRORS`) gives up, as no retry can fix it. Once connected, slack_sdk
reconnects by itself when the connection drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.errors import SlackApiError

from .bot import SlackAdapter

log = logging.getLogger("invitebot.slack")

REFUSED_TOKEN_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "not_allowed_token_type",
        "missing_scope",
    }
)
"""``apps.connections.open`` errors that say the app-level token itself is refused."""
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
CONNECT_TIMEOUT_SECONDS = 30.0
"""How long one WebSocket URL is tried (slack_sdk retries a failed connect with the same
URL); after that the attempt starts over with a fresh one."""


class SocketModeRefused(RuntimeError):
    """Slack refused the app-level token: retrying never helps."""


def _error_code(error: SlackApiError) -> str:
    response = error.response
    if response is None:
        return ""
    try:
        return str(response.get("error", "") or "")
    except AttributeError:
        return ""


def _retry_after(error: Exception) -> float:
    """Slack's ``Retry-After`` (seconds) on a rate-limited answer, else 0."""
    if not isinstance(error, SlackApiError) or error.response is None:
        return 0.0
    try:
        return float(error.response.headers.get("Retry-After", 0))
    except (AttributeError, TypeError, ValueError):
        return 0.0


async def serve_socket_mode(
    adapter: SlackAdapter,
    *,
    app_token: str,
    stop: asyncio.Event,
    first_backoff: float = FIRST_BACKOFF_SECONDS,
    max_backoff: float = MAX_BACKOFF_SECONDS,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    on_state: Callable[[bool], None] | None = None,
) -> None:
    """Connect, handle requests until ``stop`` is set, then disconnect and finish the work
    under way. Until connected, every failure is retried with backoff (``stop`` ends the
    wait); a refused app token raises :class:`SocketModeRefused` at once. ``on_state`` is
    told ``True`` once connected and ``False`` once no longer serving."""
    backoff = first_backoff
    try:
        while not stop.is_set():
            try:
                handler = await _connect(adapter, app_token, stop, connect_timeout)
            except SocketModeRefused:
                raise
            except Exception as error:
                delay = max(backoff * (0.5 + random.random() / 2), _retry_after(error))
                log.warning(
                    "could not connect to Slack in Socket Mode (%s); retrying in %.1f s",
                    _describe(error),
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                backoff = min(backoff * 2, max_backoff)
                continue
            if handler is None:  # stopped while connecting
                return
            try:
                log.info("connected to Slack in Socket Mode")
                if on_state is not None:
                    on_state(True)
                await stop.wait()
            finally:
                await handler.close_async()
            return
    finally:
        if on_state is not None:
            on_state(False)
        await adapter.drain()


async def _connect(
    adapter: SlackAdapter, app_token: str, stop: asyncio.Event, connect_timeout: float
) -> AsyncSocketModeHandler | None:
    """One attempt: a fresh WebSocket URL, then the connection; the connected handler, or
    ``None`` when ``stop`` was set meanwhile. A refused token raises
    :class:`SocketModeRefused`; anything else raises for the caller to retry."""
    try:
        opened = await adapter.client.apps_connections_open(app_token=app_token)
    except SlackApiError as error:
        code = _error_code(error)
        if code in REFUSED_TOKEN_ERRORS:
            raise SocketModeRefused(f"Slack refused the app-level token ({code})") from error
        raise
    handler = AsyncSocketModeHandler(adapter.app, app_token, logger=log)
    handler.client.wss_uri = str(opened["url"])
    connecting = asyncio.create_task(handler.connect_async(), name="slack-socket-connect")
    stopping = asyncio.create_task(stop.wait(), name="slack-socket-stop")
    connected = False
    try:
        await asyncio.wait(
            {connecting, stopping}, timeout=connect_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if connecting.done():
            connecting.result()
            connected = True
            return handler
        if stopping.done():
            return None
        raise TimeoutError(f"the WebSocket did not open within {connect_timeout:.0f} s")
    finally:
        for task in (connecting, stopping):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if not connected:
            await handler.close_async()


def _describe(error: Exception) -> str:
    if isinstance(error, SlackApiError):
        return _error_code(error) or "Slack error"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
