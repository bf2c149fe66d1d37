"""The web server's own guards, below the app: how long a client may take to send a request's
headers, and how many connections one process holds.

uvicorn bounds neither: its keep-alive timer stops at the first byte of the next request, so a
client sending a byte now and then (slowloris) holds a connection, and a task, forever; and its
``limit_concurrency`` answers 503 without the security headers. So ``invitebot serve`` runs
uvicorn with a protocol class of its own (uvicorn's ``http=`` option takes one): uvicorn's
HTTP/1.1 protocol, h11 or httptools, with this mixin in front of it.

- When a connection opens, and after each response, a timer starts; a request whose headers
  are not all in when it fires gets **408** and the connection is closed (one that sent nothing
  is just closed, as an idle keep-alive connection is). The body then has its own deadline in
  :mod:`handlers.http_limits`.
- A connection opened while the process holds ``max_connections`` gets **503** (with
  ``Retry-After``) to its request, and is closed.
- uvicorn's own answers to a malformed request (400) carry the security headers too.

What the mixin relies on in uvicorn's protocol classes (``cycle``, ``cycle.response_complete``,
``connections``, ``app``, ``on_response_complete``, ``send_400_response``) is not documented
API, so ``pyproject.toml`` pins uvicorn's range and ``tests/security`` runs every protocol
installed; ``INVITEBOT_HTTP_PROTOCOL`` picks h11 or httptools if one misbehaves.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

from starlette.types import Receive, Scope, Send

from .http_headers import SECURITY_HEADERS, with_security_headers

log = logging.getLogger("invitebot.web")

REQUIRED = ("connection_made", "connection_lost", "data_received", "on_response_complete")
_WARN_EVERY = 60.0


def _raw_response(status: int, reason: str, text: str) -> bytes:
    """A whole HTTP/1.1 response, written straight to the socket (the app never saw the
    request), with the security headers and ``Connection: close``."""
    body = text.encode()
    head = [
        f"HTTP/1.1 {status} {reason}".encode(),
        b"content-type: text/plain; charset=utf-8",
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
        *(name + b": " + value for name, value in SECURITY_HEADERS),
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


REQUEST_TIMEOUT = _raw_response(408, "Request Timeout", "Request Timeout")


async def over_capacity(scope: Scope, receive: Receive, send: Send) -> None:
    """The app a connection over ``max_connections`` gets: 503, then the connection closes."""
    body = b"Service Unavailable"
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
    ]
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": with_security_headers(headers),
        }
    )
    await send({"type": "http.response.body", "body": body})


class GuardedConnection:
    """Mixin for a uvicorn HTTP/1.1 protocol class: the header deadline and the connection
    bound (see the module's doc). Set the two class attributes in a subclass."""

    request_timeout: float = 10.0
    max_connections: int = 1000

    # Set by the uvicorn protocol this is mixed into.
    app: Any
    cycle: Any
    connections: set[Any]
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    _header_timer: asyncio.TimerHandle | None = None
    _armed_for: Any = None
    _heard_since_armed = False
    _last_warning = float("-inf")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        if len(self.connections) > self.max_connections:
            self.app = over_capacity
            now = time.monotonic()
            if now - GuardedConnection._last_warning > _WARN_EVERY:
                GuardedConnection._last_warning = now
                log.warning(
                    "more than %d connections open: answering 503 (INVITEBOT_MAX_CONNECTIONS)",
                    self.max_connections,
                )
        self._arm()

    def data_received(self, data: bytes) -> None:
        self._heard_since_armed = True
        super().data_received(data)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        # Wait for the next request's headers, unless a pipelined one is already in.
        if not self.transport.is_closing() and self.cycle.response_complete:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request it cannot parse, with the security headers."""
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(_raw_response(400, "Bad Request", msg))
            self.transport.close()

    def _arm(self) -> None:
        self._disarm()
        self._armed_for = self.cycle
        self._heard_since_armed = False
        self._header_timer = self.loop.call_later(self.request_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.cycle is not self._armed_for or self.transport.is_closing():
            return  # a request's headers came in time: its body has a deadline of its own
        if self._heard_since_armed:
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()


def protocol_class(
    name: str = "auto", *, request_timeout: float = 10.0, max_connections: int = 1000
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol ``name`` (``auto``: httptools when installed, else h11)
    with :class:`GuardedConnection` in front, for ``uvicorn.run(http=...)``."""
    base: type[asyncio.Protocol]
    if name == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol as base
    elif name == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as base
    elif name == "auto":
        from uvicorn.protocols.http.auto import AutoHTTPProtocol as base
    else:
        raise ValueError(f"unknown HTTP protocol {name!r}: auto, h11 or httptools")
    missing = [method for method in REQUIRED if not hasattr(base, method)]
    if missing or not hasattr(base, "send_400_response"):
        raise RuntimeError(
            f"this uvicorn's {base.__name__} lacks {missing or ['send_400_response']}: "
            "the version pinned in pyproject.toml is needed"
        )
    attributes = {"request_timeout": request_timeout, "max_connections": max_connections}
    return type(f"Guarded{base.__name__}", (GuardedConnection, base), attributes)


def parser_name(protocol: type[asyncio.Protocol]) -> str:
    """Which HTTP parser a protocol class from :func:`protocol_class` runs: ``httptools`` or
    ``h11`` (for the startup log)."""
    names = {cls.__name__ for cls in protocol.__mro__}
    if "HttpToolsProtocol" in names:
        return "httptools"
    if "H11Protocol" in names:
        return "h11"
    return protocol.__name__


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """Which event loop runs: ``uvloop`` or ``asyncio`` (for the startup log)."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def listening_sockets(host: str, port: int) -> list[socket.socket]:
    """The sockets ``invitebot serve`` listens on, bound before uvicorn starts (which then
    only listens on them): a port in use, or an address this host does not have, is known
    before the app's startup, and the app logs that it serves only once it can.

    Bound as uvicorn would (``loop.create_server(host=, port=)``): one socket for each
    address ``host`` names (all interfaces when it is empty), ``SO_REUSEADDR`` so a restart
    need not wait for the last connections' TIME_WAIT, IPv6 ones ``IPV6_V6ONLY`` beside the
    IPv4 ones, and inheritable as ``uvicorn.Config.bind_socket`` makes them. Raises
    :class:`OSError` (:class:`OverflowError` for a port past 65535), none left open."""
    if not 0 <= port <= 65535:  # getaddrinfo would take 65536 as 0, and so on
        raise OverflowError(f"port {port} is not from 0 to 65535")
    infos = socket.getaddrinfo(
        host or None,
        port,
        family=socket.AF_UNSPEC,
        type=socket.SOCK_STREAM,
        flags=socket.AI_PASSIVE,
    )
    sockets: list[socket.socket] = []
    bound: set[tuple[int, Any]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in bound:
                continue
            bound.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.set_inheritable(True)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets
