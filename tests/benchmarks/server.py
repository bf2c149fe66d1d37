"""The server under test: ``invitebot serve``'s app and logging, run by uvicorn as
``invitebot serve`` runs it (uvloop, httptools behind invitebot's guarded protocol), plus one
route that answers a constant (``POST /bench/bare``) as the baseline; and, with ``--raw``, the
true ceiling: a plain Starlette app with that one route and nothing else, on the same uvicorn
stack (uvloop and httptools, uvicorn's own protocol, no logging configured).

The bare route is inserted into the very router ``create_app`` built, so a request to it
goes through everything a webhook does (uvicorn's HTTP parsing, the access log, Starlette's
middleware and routing) except invitebot's own work. The outbox dispatcher is off
(``dispatch=False``, as ``invitebot serve --no-dispatch`` with ``invitebot worker`` elsewhere),
so sending the notifications that the benchmarked requests queue does not skew the figures.

``python -m tests.benchmarks.server --port 8123 [--raw]`` runs one process of it (start several on
one port for more) (settings from the
``INVITEBOT_*`` variables, as ``invitebot serve``); with ``INVITEBOT_BENCH_PROFILE=<prefix>`` each
process writes a cProfile to ``<prefix>.<pid>.pstats`` when it stops.
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import logging
import os
import socket

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BARE_PATH = "/bench/bare"
BARE_BODY = b'<?xml version="1.0" encoding="UTF-8"?><Response />'


async def bare(request: Request) -> Response:
    return Response(BARE_BODY, media_type="application/xml")


def create_raw_app() -> Starlette:
    """The raw bare endpoint's app: no middleware, no logging, one route."""
    return Starlette(routes=[Route(BARE_PATH, bare, methods=["GET", "POST"])])


def create_bench_app() -> Starlette:
    """uvicorn's ``--factory`` target: each worker process builds its own app."""
    from handlers.allocator import fix_malloc_thresholds
    from handlers.app import create_app
    from handlers.logs import configure_logging
    from handlers.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level)  # as `invitebot serve` does
    fix_malloc_thresholds()
    app = create_app(settings, dispatch=False)
    app.router.routes.insert(0, Route(BARE_PATH, bare, methods=["GET", "POST"]))
    profile = os.environ.get("INVITEBOT_BENCH_PROFILE")
    if profile:  # a cProfile of this worker from here on, written when it exits
        profiler = cProfile.Profile()
        atexit.register(lambda: profiler.dump_stats(f"{profile}.{os.getpid()}.pstats"))
        profiler.enable()
    return app


def listening_socket(port: int) -> socket.socket:
    """A socket on ``127.0.0.1:port`` that other processes may bind too (``SO_REUSEPORT``:
    the kernel spreads connections over them).

    This, rather than ``uvicorn --workers``, is how the benchmark runs several processes:
    uvicorn's supervisor hands its workers a socket re-created without its protocol number,
    so asyncio never sets ``TCP_NODELAY`` on the connections they accept, and every
    response then waits ~40 ms for the client's delayed ACK (Nagle's algorithm).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    return sock


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--raw", action="store_true", help="the plain Starlette app only")
    args = parser.parse_args()
    if args.raw:
        # uvicorn's own lifecycle lines only (the runner waits for "startup complete"); the
        # access log stays off, as nothing is configured for it.
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        logging.getLogger("uvicorn.error").setLevel(logging.INFO)
        config = uvicorn.Config(
            "tests.benchmarks.server:create_raw_app",
            factory=True,
            log_config=None,
            loop="uvloop",
            http="httptools",
        )
    else:
        from handlers.http_server import protocol_class
        from handlers.settings import Settings

        settings = Settings()
        # As `invitebot serve` configures uvicorn (handlers/cli.py): uvloop, and httptools
        # behind the header deadline and the connection bound.
        config = uvicorn.Config(
            "tests.benchmarks.server:create_bench_app",
            factory=True,
            log_config=None,  # records go through invitebot's logging
            loop="auto",
            http=protocol_class(
                settings.http_protocol,
                request_timeout=settings.request_timeout_seconds,
                max_connections=settings.max_connections,
            ),
            proxy_headers=False,
        )
    uvicorn.Server(config).run(sockets=[listening_socket(args.port)])


if __name__ == "__main__":
    main()
