"""``POST /slack/events``: slash commands, interactivity and the Events API, on one URL.

Every request is checked here before any of it is read: an ``X-Slack-Request-Timestamp`` of
digits no more than five minutes away, and the ``X-Slack-Signature`` HMAC of the raw body
under the signing secret; anything else gets 401. slack-bolt checks the same again, but it
would parse the body first (bad UTF-8 or JSON raising, from anyone, as a 500) and read the
timestamp with ``int()`` (``abc`` raising too). A signed body that is still unreadable (not
UTF-8, not a JSON object, nested too deep) gets 400 with ``X-Slack-No-Retry: 1``, so Slack
stops re-sending it, and a WARNING. Then the adapter's middleware cleans every string and
makes a retry or repeat a no-op (see :mod:`handlers.slack.bot`).
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Mapping

from slack_bolt.adapter.starlette.async_handler import (
    to_async_bolt_request,
    to_starlette_response,
)
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from .bot import SlackAdapter
from .payload import NO_RETRY

log = logging.getLogger("invitebot.slack")

PATH = "/slack/events"
MAX_REQUEST_BYTES = 1024 * 1024
"""Far above anything Slack sends (a home tab's interaction payload is the largest)."""
MAX_CLOCK_SKEW = 5 * 60
"""Seconds a request's timestamp may be away from our clock (slack-bolt's own window)."""
_TIMESTAMP = re.compile(rb"[0-9]{1,12}")
_SIGNATURE = re.compile(rb"v0=[0-9a-f]{64}")
_UNREADABLE = (ValueError, TypeError, LookupError, AttributeError, RecursionError)
"""What slack-bolt's parsing and matching raise on a body that is not Slack's
(UnicodeDecodeError and JSONDecodeError are ValueErrors). Our listeners never raise into
bolt, and a failing database raises none of these, so it still gets 500 and Slack's retry."""


class SlackEvents:
    """The route, over one adapter; :meth:`close` at shutdown waits for work under way."""

    def __init__(self, adapter: SlackAdapter) -> None:
        if adapter.signing_secret is None:
            raise ValueError("POST /slack/events needs the signing secret to check requests")
        self.adapter = adapter
        self._signing_secret = adapter.signing_secret.encode()

    @property
    def routes(self) -> list[Route]:
        return [Route(PATH, self.endpoint, methods=["POST"])]

    def plausible(self, headers: Mapping[str, str], *, now: float | None = None) -> bool:
        """Whether the headers alone could be Slack's: a timestamp within five minutes and a
        signature of the right shape. Checked by :mod:`handlers.http_limits` before the body
        is read, so a stranger cannot make us hold a megabyte for nothing."""
        stamp = headers.get("x-slack-request-timestamp", "").encode("latin-1")
        sent = headers.get("x-slack-signature", "").encode("latin-1")
        now = time.time() if now is None else now
        return (
            _TIMESTAMP.fullmatch(stamp) is not None
            and abs(now - int(stamp)) <= MAX_CLOCK_SKEW
            and _SIGNATURE.fullmatch(sent) is not None
        )

    def authentic(self, headers: Mapping[str, str], body: bytes, *, now: float) -> bool:
        """Whether Slack signed ``body`` within the last five minutes. Headers are compared
        as the bytes they arrived as (Starlette decodes them as Latin-1), so no header,
        however odd, can make the check raise."""
        stamp = headers.get("x-slack-request-timestamp", "").encode("latin-1")
        sent = headers.get("x-slack-signature", "").encode("latin-1")
        if not _TIMESTAMP.fullmatch(stamp) or abs(now - int(stamp)) > MAX_CLOCK_SKEW:
            return False
        base = b"v0:" + stamp + b":" + body
        expected = b"v0=" + hmac.new(self._signing_secret, base, "sha256").hexdigest().encode()
        return hmac.compare_digest(expected, sent)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()  # read within a limit by handlers.http_limits
        if len(body) > MAX_REQUEST_BYTES:
            return PlainTextResponse("Too large", status_code=413)
        if not self.authentic(request.headers, body, now=time.time()):
            log.warning("rejected a Slack request with a missing, malformed or wrong signature")
            return PlainTextResponse("Unauthorized", status_code=401)
        try:
            bolt_request = to_async_bolt_request(request, body)
            if not isinstance(bolt_request.body, dict):
                raise TypeError("not a JSON object")
        except _UNREADABLE as error:
            return _bad_request("unreadable", error)
        try:
            answer = await self.adapter.app.async_dispatch(bolt_request)
        except _UNREADABLE as error:
            # slack-bolt's own error handling reads the body again to build its arguments,
            # and raises out of dispatch on a body of a shape it never expected.
            return _bad_request("of an unexpected shape", error)
        return to_starlette_response(answer)

    async def drain(self) -> None:
        await self.adapter.drain()

    async def close(self) -> None:
        await self.adapter.close()


def _bad_request(what: str, error: Exception) -> Response:
    """400 and no retries from Slack, for a signed request we cannot take."""
    log.warning("ignored a signed Slack request whose body is %s (%s)", what, type(error).__name__)
    return PlainTextResponse("Bad Request", status_code=400, headers=NO_RETRY)
