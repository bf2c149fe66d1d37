"""ASGI middleware: a request's body is read, within a size limit and a time limit, before any
route sees it.

Why before the routes: each webhook checks its caller (a signature, a secret token) only once
it has the body, so whatever a route does with the body, a stranger could make it buffer
anything. Here every request's body is read as a stream from ``receive``:

- a route may name a *gate*, a check of the headers alone (Telegram's secret token, Slack's
  timestamp and the shape of its signature): a request that fails it gets **401** without a
  byte of its body read, so a stranger cannot make us hold a megabyte of JSON per connection;
- a declared ``Content-Length`` over the route's limit gets **413** without a byte read;
- a body (chunked, or lying about its length) that passes the limit gets **413** the moment it
  does; what was read is dropped;
- a body not in within the time limit gets **408**;
- a client that goes away mid-body gets no answer at all (there is nobody to answer), no
  traceback and no ``500``; the app is never called, so ``MeasureRequests`` counts it as
  abandoned.

Each of those answers carries ``Connection: close``: the rest of the body is never read, so the
connection cannot carry another request. A body within its limit is handed to the app whole,
as the first message of ``receive``; the handlers' own size checks stay as a second line.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("invitebot.web")

FORM_LIMIT = 64 * 1024
"""The default limit for a route that takes a form (Twilio's webhooks, the invitation page)."""
JSON_LIMIT = 1024 * 1024
"""The default limit for a route that takes JSON (Telegram's and Slack's webhooks)."""
BODY_TIMEOUT = 10.0

Gate = Callable[[Headers], bool]
"""Whether a request's headers alone may be from the one who may call the route."""


class _TooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length``, ``None`` without one; ``ValueError`` if it is not a
    single non-negative number (servers refuse those already; an app run otherwise must too)."""
    values = [value for name, value in scope["headers"] if name.lower() == b"content-length"]
    if not values:
        return None
    if len(set(values)) != 1 or not values[0].strip().isdigit():
        raise ValueError("malformed Content-Length")
    return int(values[0])


async def _answer(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """Reads each HTTP request's body within ``limits[path]`` bytes (``default_limit`` for a
    path not named) and ``timeout`` seconds, then runs ``app`` with it."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: Mapping[str, int] | None = None,
        default_limit: int = FORM_LIMIT,
        timeout: float = BODY_TIMEOUT,
        gates: Mapping[str, Gate] | None = None,
    ) -> None:
        self.app = app
        self.limits = dict(limits or {})
        self.gates = dict(gates or {})
        self.default_limit = default_limit
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default_limit)
        gate = self.gates.get(scope["path"])
        if gate is not None and scope.get("method") == "POST" and not gate(Headers(scope=scope)):
            log.warning("refused a request to %s on its headers alone", scope["path"])
            await _answer(send, 401, "Unauthorized")
            return
        try:
            declared = declared_length(scope)
        except ValueError:
            await _answer(send, 400, "Bad Request")
            return
        if declared is not None and declared > limit:
            await _answer(send, 413, "Payload Too Large")
            return
        try:
            async with asyncio.timeout(self.timeout):
                body = await _read(receive, limit)
        except _TooLarge:
            await _answer(send, 413, "Payload Too Large")
            return
        except TimeoutError:
            await _answer(send, 408, "Request Timeout")
            return
        except _ClientGone:
            # Quiet on purpose: a client that hangs up is no fault of ours, and one line each
            # would let anyone fill the log. The request is counted as abandoned.
            log.debug("the client went away before sending the whole request")
            return
        await self.app(scope, _replay(body, receive), send)


async def _read(receive: Receive, limit: int) -> bytes:
    """The whole body, as it arrives; ``_TooLarge`` as soon as it passes ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        if message["type"] != "http.request":
            continue
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app ``body`` in one message, then the server's own (which
    then reports only the disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
