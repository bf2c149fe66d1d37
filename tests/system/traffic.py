"""Traffic for system tests: Telegram updates and signed Twilio webhooks as the platforms send
them, spread over several servers, and the environment every process of a cluster shares."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from typing import Any

import httpx
from twilio.request_validator import RequestValidator

from bot import messages as msg
from handlers.telegram.render import pack_payload
from tests.handlers.fake_telegram import FakeTelegram
from tests.handlers.fake_twilio import FakeTwilio
from tests.system.cluster import PUBLIC, Process, SystemDatabase, until
from tests.unit.conftest import SECRET

WEBHOOK_SECRET = "scale-out-webhook-secret"
OUR_NUMBER = "+12025550000"
_update_ids = itertools.count(7_000_000)


NAMES = [f"{first}{second}" for first in "ABCDEFGH" for second in "aeiou"]


def phone_of(i: int) -> str:
    return f"+1202555{100 + i:04d}"


def cluster_env(db: SystemDatabase, twilio: FakeTwilio, telegram: FakeTelegram) -> dict[str, str]:
    return {
        "INVITEBOT_DATABASE_URL": db.url,
        "INVITEBOT_SECRET_KEY": SECRET.decode(),
        "INVITEBOT_PUBLIC_BASE_URL": PUBLIC,
        "INVITEBOT_TWILIO_ACCOUNT_SID": twilio.account_sid,
        "INVITEBOT_TWILIO_AUTH_TOKEN": twilio.auth_token,
        "INVITEBOT_TWILIO_FROM_NUMBER": OUR_NUMBER,
        "INVITEBOT_TWILIO_API_BASE": twilio.url,
        "INVITEBOT_TWILIO_MESSAGES_PER_SECOND": "200",
        "INVITEBOT_TELEGRAM_BOT_TOKEN": telegram.token,
        "INVITEBOT_TELEGRAM_API_BASE": telegram.url,
        "INVITEBOT_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "INVITEBOT_INVITES_PER_HOUR": "1000",
        "INVITEBOT_LOG_LEVEL": "INFO",
    }


def message(user_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": next(_update_ids),
        "message": {
            "message_id": next(_update_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "Head"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Head", "last_name": "Of"},
            "text": text,
        },
    }


def press(user_id: int, payload: str, message_id: int) -> dict[str, Any]:
    return {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": f"q{next(_update_ids)}",
            "from": {"id": user_id, "is_bot": False, "first_name": "Head"},
            "chat_instance": "ci",
            "data": pack_payload(payload),
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": user_id, "type": "private", "first_name": "Head"},
                "from": {"id": 1, "is_bot": True, "first_name": "Bot"},
                "text": "…",
            },
        },
    }


class Load:
    """The requests of the burst, spread over the servers."""

    def __init__(
        self, client: httpx.AsyncClient, servers: list[Process], telegram: FakeTelegram
    ) -> None:
        self.client = client
        self.servers = servers
        self.telegram = telegram
        self.validator = RequestValidator(FakeTwilio.auth_token)
        self.statuses: Counter[int] = Counter()

    def shown(self, chat_id: int) -> list[Any]:
        return [
            c
            for c in self.telegram.calls
            if c.method in ("sendMessage", "editMessageText")
            and str(c.params.get("chat_id")) == str(chat_id)
        ]

    async def update(self, server: Process, body: dict[str, Any]) -> None:
        response = await self.client.post(
            f"{server.url}/telegram/webhook",
            json=body,
            headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
        )
        self.statuses[response.status_code] += 1
        assert response.status_code == 200, response.text

    async def step(self, server: Process, chat_id: int, body: dict[str, Any]) -> None:
        """Post an update and wait for the bot's answer in that chat (handled in the
        background, so the next step of the conversation comes after this one)."""
        before = len(self.shown(chat_id))
        await self.update(server, body)
        await until(lambda: len(self.shown(chat_id)) > before, what=f"an answer to {chat_id}")

    async def head_invites(self, i: int, code: str) -> None:
        head = 50_000 + i
        first, second = self.servers[i % 2], self.servers[(i + 1) % 2]
        await self.step(first, head, message(head, f"/start {code}"))
        await self.step(second, head, message(head, f"/invite sms Guest {NAMES[i]} {phone_of(i)}"))
        summary = self.shown(head)[-1]
        assert summary.params["text"].startswith(msg.SUMMARY_TITLE), summary.params["text"]
        # Send Invite, delivered to both servers at once: one invitation, one edit.
        body = press(head, "flow:send", summary.message_id)
        await asyncio.gather(self.update(first, body), self.update(second, body))
        await until(lambda: len(self.shown(head)) == 3, what=f"head {i}'s confirmation")

    async def sms(self, server: Process, *, sender: str, body: str, sid: str) -> httpx.Response:
        """A text from ``sender``, as Twilio posts it (signed) to ``/twilio/sms``."""
        form = {"MessageSid": sid, "From": sender, "To": OUR_NUMBER, "Body": body}
        signature = self.validator.compute_signature(f"{PUBLIC}/twilio/sms", form)
        response = await self.client.post(
            f"{server.url}/twilio/sms", data=form, headers={"X-Twilio-Signature": signature}
        )
        self.statuses[response.status_code] += 1
        return response

    async def invitee_answers(self, i: int) -> None:
        body = "JOIN" if i % 4 else "Decline."
        # Twilio's retries: the same message three times, across both servers, at once.
        responses = await asyncio.gather(
            *(
                self.sms(server, sender=phone_of(i), body=body, sid=f"SM{i:032x}")
                for server in (self.servers[0], self.servers[1], self.servers[i % 2])
            )
        )
        for response in responses:
            assert response.status_code == 200, response.text
