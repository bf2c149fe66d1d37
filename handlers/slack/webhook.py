"""``POST /slack/events``: slash commands, interactivity and the Events API, on one URL.

slack-bolt checks every request before anything runs: the ``X-Slack-Signature`` HMAC of the
body under the signing secret, and an ``X-Slack-Request-Timestamp`` no more than five minutes
away; a forged or replayed request gets 401. Then the adapter's receipt middleware makes a
retry or repeat a no-op (see :mod:`handlers.slack.bot`).
"""

from __future__ import annotations

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from .bot import SlackAdapter

PATH = "/slack/events"
MAX_REQUEST_BYTES = 1024 * 1024
"""Far above anything Slack sends (a home tab's interaction payload is the largest)."""


class SlackEvents:
    """The route, over one adapter; :meth:`close` at shutdown waits for work under way."""

    def __init__(self, adapter: SlackAdapter) -> None:
        if not adapter.verifies_requests:
            raise ValueError("POST /slack/events needs the signing secret to check requests")
        self.adapter = adapter
        self._handler = AsyncSlackRequestHandler(adapter.app)

    @property
    def routes(self) -> list[Route]:
        return [Route(PATH, self.endpoint, methods=["POST"])]

    async def endpoint(self, request: Request) -> Response:
        if int(request.headers.get("content-length") or 0) > MAX_REQUEST_BYTES:
            return PlainTextResponse("Too large", status_code=413)
        if len(await request.body()) > MAX_REQUEST_BYTES:  # Starlette caches the body
            return PlainTextResponse("Too large", status_code=413)
        return await self._handler.handle(request)

    async def drain(self) -> None:
        await self.adapter.drain()

    async def close(self) -> None:
        await self.adapter.close()
