"""``POST /telegram/webhook``: Telegram's updates, checked and handled exactly once.

Telegram sends the secret given to ``setWebhook`` in ``X-Telegram-Bot-Api-Secret-Token``;
a request without the right one gets 401 and runs nothing (compared in constant time).
Telegram redelivers an update it got no timely 200 for, so each ``update_id`` is recorded as
an :class:`~bot.domain.InboundReceipt` in its own committed unit of work before the update is
handled: a redelivery is answered 200 and has no second effect. The price is that an update
whose handling crashes is not retried, which beats inviting someone twice.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging

from aiogram.types import Update
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.domain import InboundReceipt
from bot.ports import Clock, UnitOfWorkFactory

from .bot import TelegramAdapter

log = logging.getLogger("invitebot.telegram")

SOURCE = "telegram"
SECRET_HEADER = "x-telegram-bot-api-secret-token"
MAX_UPDATE_BYTES = 256 * 1024


class TelegramWebhook:
    """The route; ``background`` answers Telegram before the update is handled (the default,
    so a slow Bot API call never makes Telegram time out and redeliver)."""

    def __init__(
        self,
        *,
        adapter: TelegramAdapter,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        secret: str,
        background: bool = True,
    ) -> None:
        if not secret:
            raise ValueError("the Telegram webhook needs a secret token")
        self.adapter = adapter
        self.uow_factory = uow_factory
        self.clock = clock
        self._secret = secret.encode()
        self.background = background
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def routes(self) -> list[Route]:
        return [Route("/telegram/webhook", self.webhook, methods=["POST"])]

    async def drain(self) -> None:
        """Wait for updates still being handled (at shutdown, and in tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _authentic(self, request: Request) -> bool:
        sent = request.headers.get(SECRET_HEADER, "").encode()
        return hmac.compare_digest(sent, self._secret)

    async def webhook(self, request: Request) -> Response:
        if not self._authentic(request):
            log.warning("rejected a Telegram webhook with a missing or wrong secret token")
            return PlainTextResponse("Unauthorized", status_code=401)
        if int(request.headers.get("content-length") or 0) > MAX_UPDATE_BYTES:
            return PlainTextResponse("Too large", status_code=413)
        body = await request.body()
        if len(body) > MAX_UPDATE_BYTES:
            return PlainTextResponse("Too large", status_code=413)
        try:
            update = Update.model_validate(json.loads(body), context={"bot": self.adapter.bot})
        except (ValueError, ValidationError):
            return PlainTextResponse("Bad update", status_code=400)
        async with self.uow_factory() as uow:
            receipt = InboundReceipt(
                source=SOURCE, external_id=str(update.update_id), received_at=self.clock.now()
            )
            first = await uow.receipts.first_time(receipt)
            await uow.commit()
        if not first:
            log.info("update %s delivered again: already handled", update.update_id)
            return Response(status_code=200)
        if self.background:
            task = asyncio.create_task(self._handle(update), name=f"telegram-{update.update_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            await self._handle(update)
        return Response(status_code=200)

    async def _handle(self, update: Update) -> None:
        try:
            await self.adapter.dispatcher.feed_update(self.adapter.bot, update)
        except Exception:
            log.exception("handling Telegram update %s failed", update.update_id)
