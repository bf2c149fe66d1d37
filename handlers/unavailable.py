"""ASGI middleware: a request that failed because the database cannot be reached gets
``503 Service Unavailable`` with ``Retry-After``, not a ``500``.

Telegram redelivers an update that got no 2xx, Slack retries an event, and Twilio retries a
webhook on a 5xx when the number's webhook URL asks it to (``#rc=3&rt=...``); 503 with
``Retry-After`` says plainly that the failure is passing, so a monitor does not page anyone
for a bug, and the retry finds the database back. Nothing was written: the request's unit of
work rolled back with the failure.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storage.errors import is_unavailable

log = logging.getLogger("invitebot.web")

RETRY_AFTER_SECONDS = 5


class DatabaseUnavailableIs503:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def noting_start(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, noting_start)
        except Exception as error:
            if started or not is_unavailable(error):
                raise
            log.warning(
                "database unavailable (%s: %s): answered 503",
                type(error).__name__,
                str(error)[:200],
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b"Service Unavailable"})
