"""``GET /metrics``: Prometheus's text format, through prometheus-client.

Two kinds of figures:

- this process's requests: ``invitebot_http_requests_total{route,method,status}`` and
  ``invitebot_http_request_duration_seconds{route}``. ``route`` is the route's template
  (``/i/{token}``), never the path itself: paths carry invite tokens, and one label value per
  token would be a leak and a cardinality explosion. Unmatched paths count as ``unmatched``.
- the whole service's state, read from the database at each scrape (so any process answers
  the same): ``invitebot_invitations{state}``, ``invitebot_outbox_messages{status}``,
  ``invitebot_outbox_due`` (the queue's depth), ``invitebot_outbox_oldest_due_seconds`` and
  ``invitebot_database_up``.

With ``INVITEBOT_METRICS_TOKEN`` set, a scrape must send ``Authorization: Bearer <token>``;
without it, only a client on loopback (127.0.0.0/8, ::1) may scrape, and only directly: a request
carrying ``Forwarded`` or ``X-Forwarded-For`` came through a proxy (a reverse proxy on this
machine connects from loopback on behalf of anyone) and is refused. The figures say how busy
the service is and how its deliveries go, which is nobody else's business.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.ports import Clock
from storage.database import Database
from storage.stats import state_counts

log = logging.getLogger(__name__)

SCRAPE_DATABASE_TIMEOUT = 5.0
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The registry, the request middleware and the ``/metrics`` route of one app."""

    def __init__(self, *, database: Database, clock: Clock, token: str | None = None) -> None:
        self.database = database
        self.clock = clock
        self._token = token.encode() if token else None
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "invitebot_http_requests",
            "HTTP requests served, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "invitebot_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.abandoned = Counter(
            "invitebot_http_requests_abandoned",
            "Requests whose client went away before sending all of it (nothing was answered).",
            ["route", "method"],
            registry=self.registry,
        )
        self.invitations = Gauge(
            "invitebot_invitations", "Invitations by state.", ["state"], registry=self.registry
        )
        self.outbox = Gauge(
            "invitebot_outbox_messages",
            "Outbox messages by status (failed: never to be sent: gave up, or no longer needed).",
            ["status"],
            registry=self.registry,
        )
        self.outbox_due = Gauge(
            "invitebot_outbox_due",
            "Outbox messages due to be sent now: the delivery queue's depth.",
            registry=self.registry,
        )
        self.oldest_due = Gauge(
            "invitebot_outbox_oldest_due_seconds",
            "How long the longest-waiting due outbox message has waited.",
            registry=self.registry,
        )
        self.database_up = Gauge(
            "invitebot_database_up",
            "1 when the last scrape could read the database, else 0.",
            registry=self.registry,
        )
        self.routes: list[BaseRoute] = []
        """The app's routes, to name a request by its route's template (set by the app)."""

    @property
    def route(self) -> Route:
        return Route("/metrics", self.endpoint, methods=["GET"])

    def template(self, scope: Scope) -> str:
        """The template of the route ``scope`` goes to, or ``unmatched``."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return getattr(route, "path", "unmatched")
        return "unmatched"

    def _authorised(self, request: Request) -> bool:
        if self._token is None:
            proxied = "forwarded" in request.headers or "x-forwarded-for" in request.headers
            return request.client is not None and is_loopback(request.client.host) and not proxied
        sent = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(sent, b"Bearer " + self._token)

    async def endpoint(self, request: Request) -> Response:
        if not self._authorised(request):
            if self._token is None:
                return PlainTextResponse("Forbidden", status_code=403)
            return PlainTextResponse("Unauthorized", status_code=401)
        now = self.clock.now()
        try:
            async with asyncio.timeout(SCRAPE_DATABASE_TIMEOUT):
                counts = await state_counts(self.database.engine, now=now)
        except Exception as error:
            log.warning("metrics: could not read the database (%s)", type(error).__name__)
            self.database_up.set(0)
        else:
            self.database_up.set(1)
            for state, count in counts.invitations.items():
                self.invitations.labels(state).set(count)
            for status, count in counts.outbox.items():
                self.outbox.labels(status).set(count)
            self.outbox_due.set(counts.outbox_due)
            waited = (now - counts.oldest_due).total_seconds() if counts.oldest_due else 0.0
            self.oldest_due.set(max(0.0, waited))
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class MeasureRequests:
    """ASGI middleware: every HTTP request is counted and timed in ``metrics``."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None
        failed = True  # until the app returns: an exception escaping it is a 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
            failed = False
        finally:
            metrics = self.metrics
            template = metrics.template(scope)
            method = scope.get("method", "")
            if status is None and not failed:
                # No answer and no error: the client hung up mid-request (http_limits).
                metrics.abandoned.labels(template, method).inc()
            else:
                metrics.requests.labels(template, method, str(status or 500)).inc()
                metrics.latency.labels(template).observe(time.perf_counter() - started)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a client's address) is on this machine's loopback, an IPv4 one
    written as IPv6 (``::ffff:127.0.0.1``) included."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback
