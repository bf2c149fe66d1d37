"""The ASGI app that ``invitebot serve`` runs: one process serves every platform.

This release serves ``GET /healthz``; the Slack, Telegram, Twilio and invitation-page routes
join it in later releases. The app's lifespan opens the database and, unless told not to,
runs the outbox dispatcher in the same process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .bootstrap import build_dispatcher, invitee_senders, open_database
from .settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, dispatch: bool = True) -> Starlette:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_database(settings) as database:
            app.state.database = database
            stop = asyncio.Event()
            task = None
            if dispatch:
                dispatcher = build_dispatcher(settings, database, invitee_senders(settings))
                task = asyncio.create_task(dispatcher.run_forever(stop), name="outbox")
            try:
                yield
            finally:
                stop.set()
                if task is not None:
                    await task

    async def healthz(request: Request) -> JSONResponse:
        database_ok = await request.app.state.database.ping()
        return JSONResponse(
            {"status": "ok" if database_ok else "degraded", "database": database_ok},
            status_code=200 if database_ok else 503,
        )

    return Starlette(routes=[Route("/healthz", healthz)], lifespan=lifespan)
