"""``POST /telegram/webhook``: Telegram's updates, checked and handled exactly once.

Telegram sends the secret given to ``setWebhook`` in ``X-Telegram-Bot-Api-Secret-Token``;
a request without the right one gets 401 and runs nothing (compared in constant time). Each
update is stored before it is answered (:class:`~handlers.telegram.updates.UpdateIntake`),
so a redelivery is answered 200 and has no second effect, and a crash after the answer loses
nothing.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping

from aiogram.types import Update
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ..inbound import Unreadable, read_json_object
from .bot import TelegramAdapter
from .updates import UpdateIntake

log = logging.getLogger("invitebot.telegram")

PATH = "/telegram/webhook"
SECRET_HEADER = "x-telegram-bot-api-secret-token"
MAX_UPDATE_BYTES = 256 * 1024


class TelegramWebhook:
    """The route; ``background`` answers Telegram before the update is handled (the default,
    so a slow Bot API call never makes Telegram time out and redeliver)."""

    def __init__(self, *, intake: UpdateIntake, secret: str, background: bool = True) -> None:
        if not secret:
            raise ValueError("the Telegram webhook needs a secret token")
        self.intake = intake
        self._secret = secret.encode()
        self.background = background

    @property
    def adapter(self) -> TelegramAdapter:
        return self.intake.adapter

    @property
    def routes(self) -> list[Route]:
        return [Route(PATH, self.webhook, methods=["POST"])]

    async def drain(self) -> None:
        """Wait for updates still being handled (at shutdown, and in tests)."""
        await self.intake.drain()

    def authentic(self, headers: Mapping[str, str]) -> bool:
        """Whether the request carries our secret token: checked on the headers alone, by
        :mod:`handlers.http_limits` before the body is read, and here again."""
        sent = headers.get(SECRET_HEADER, "").encode()
        return hmac.compare_digest(sent, self._secret)

    async def webhook(self, request: Request) -> Response:
        if not self.authentic(request.headers):
            log.warning("rejected a Telegram webhook with a missing or wrong secret token")
            return PlainTextResponse("Unauthorized", status_code=401)
        body = await request.body()  # read within a limit by handlers.http_limits
        if len(body) > MAX_UPDATE_BYTES:
            # From Telegram (the secret matched), so a 413 would only make it send the update
            # again and again: note it, and take the next one.
            log.warning("ignored a Telegram update of %d bytes: too large to be one", len(body))
            return Response(status_code=200)
        try:
            # Strict UTF-8, one JSON object, bounded depth and integers, no NUL and no lone
            # surrogates in any string: what storage and the core can take as it is.
            data = read_json_object(body)
            update = Update.model_validate(data, context={"bot": self.adapter.bot})
        except Unreadable as error:
            log.warning("ignored a Telegram update that is not a readable JSON object: %s", error)
            return Response(status_code=200)
        except ValidationError as error:
            # It came from Telegram (the secret matched): a non-2xx answer would only make
            # Telegram deliver it again and again. Note it, and take the next one.
            log.warning(
                "ignored a Telegram update this version cannot read: %d errors, first at %s",
                error.error_count(),
                ".".join(str(part) for part in error.errors()[0]["loc"]) or "the top",
            )
            return Response(status_code=200)
        # Stored before the answer (a database that cannot take it gets a 5xx, and Telegram
        # sends it again); a redelivery is answered and changes nothing.
        stored = await self.intake.accept(update, body.decode())
        if stored is None:
            return Response(status_code=200)
        if self.background:
            self.intake.handle_in_background(stored)
        else:
            await self.intake.handle(stored)
        return Response(status_code=200)
