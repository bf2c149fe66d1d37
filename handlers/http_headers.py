"""The security headers every response carries, whatever answers: a page, a webhook's reply, a
404 or 405 from the router, a 413 or 408 from :mod:`handlers.http_limits`, a 503 from
:mod:`handlers.unavailable`, the 500 of an unexpected error, and the server's own 400, 408 and
503 (:mod:`handlers.http_server` writes those with the same headers).

Why on all of them: a response a browser may render (an error page included) must not be
sniffed into HTML, framed by another site, cached on a shared machine, or leak the URL it came
from (``/i/<token>`` holds a secret) to another site in a ``Referer``. A header a route sets
itself (the invitation page's stricter set) is left as it is.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
)


def with_security_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` and each security header it lacks (a header already there is kept)."""
    present = {name.lower() for name, _ in headers}
    return headers + [(name, value) for name, value in SECURITY_HEADERS if name not in present]


class SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = with_security_headers(list(message.get("headers", [])))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HardenedStarlette(Starlette):
    """Starlette with :class:`SecurityHeaders` outside everything, Starlette's own
    ``ServerErrorMiddleware`` included: that one answers an unexpected error's 500 itself,
    past any middleware given to the app, so only a layer around it reaches that response."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())
