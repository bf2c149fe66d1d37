"""The Slack Web API client every Slack piece uses."""

from __future__ import annotations

from typing import Any

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient


def make_client(
    token: str, *, api_base: str | None = None, wait_out_rate_limits: bool = True
) -> AsyncWebClient:
    """A Web API client for the bot token, talking to ``api_base`` (``SLACK_API_BASE``; a
    loopback fake in tests) instead of ``https://slack.com/api/`` when given. Connection
    errors are retried a little, and so are rate limits (HTTP 429, after ``Retry-After``)
    with ``wait_out_rate_limits``; the outbox sender says no, as its dispatcher retries
    later by itself instead of holding a batch up."""
    retry_handlers: list[Any] = [AsyncConnectionErrorRetryHandler(max_retry_count=2)]
    if wait_out_rate_limits:
        retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    client = AsyncWebClient(token=token, retry_handlers=retry_handlers)
    if api_base:
        client.base_url = api_base if api_base.endswith("/") else api_base + "/"
    return client


def share_connections(
    session: aiohttp.ClientSession | None, *clients: AsyncWebClient
) -> aiohttp.ClientSession:
    """One HTTP session (its pool of kept-alive connections) for the clients' calls, made in
    the running event loop when ``session`` is ``None``; close it at shutdown. Without one,
    slack_sdk opens a session for every call and closes it after: a new TCP (and TLS)
    connection per message."""
    if session is None:
        timeout = max((client.timeout for client in clients), default=30)
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
    for client in clients:
        client.session = session
    return session
