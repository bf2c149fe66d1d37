"""Authenticated but malformed input never answers 500 (issue 13, point 8): Telegram's webhook
and Twilio's, with the right secret or a correct signature, and bodies no platform sends.

Each is answered so that the platform stops re-sending it (Telegram 200; Twilio 200 with
TwiML, or 204 for a delivery report), noted at WARNING, and stores nothing PostgreSQL would
refuse: no NUL, no lone surrogate, no id longer than its column. Real requests through the
real endpoints, aiogram against the loopback fake Bot API, on every SQL backend. (Slack's
cases are in ``test_slack_requests.py``.)
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bot.domain import InboundReceipt
from handlers.telegram.bot import TelegramAdapter, make_bot
from handlers.telegram.updates import UpdateIntake
from handlers.telegram.webhook import TelegramWebhook
from storage import Database
from tests.handlers.fake_telegram import FakeTelegram
from tests.handlers.test_twilio_webhooks import MARIA, sid, twiml_text
from tests.handlers.test_twilio_webhooks import Site as TwilioSite
from tests.handlers.test_twilio_webhooks import site as twilio  # noqa: F401  (a fixture)
from tests.property.invariants import assert_no_failure_logged
from tests.storage.databases import SQL_BACKENDS, fresh_database
from tests.unit.conftest import World

SECRET_TOKEN = "telegram-webhook-secret-0123456789"
ANA = 1001


def warnings_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# --- Telegram ---------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as running:
        yield running


@dataclass
class Telegram:
    client: httpx.AsyncClient
    database: Database
    fake: FakeTelegram
    hook: TelegramWebhook
    world: World

    async def post(self, body: bytes) -> httpx.Response:
        response = await self.client.post(
            "/telegram/webhook",
            content=body,
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET_TOKEN},
        )
        await self.hook.drain()
        return response

    async def is_recorded(self, update_id: int) -> bool:
        """Whether the update's receipt was written (recording it again says so)."""
        key = f"{self.hook.adapter.bot.id}:{update_id}"
        async with self.database.uow() as uow:
            now = self.world.clock.now()
            receipt = InboundReceipt(source="telegram", external_id=key, received_at=now)
            first = await uow.receipts.first_time(receipt)
        return not first

    def sent(self) -> list[str]:
        return [str(c.params["text"]) for c in self.fake.calls if c.method == "sendMessage"]


@pytest.fixture(params=SQL_BACKENDS)
async def telegram(
    request: pytest.FixtureRequest, tmp_path: Path, fake: FakeTelegram
) -> AsyncIterator[Telegram]:
    async with fresh_database(request.param, tmp_path) as database:
        world = World(uow_factory=database.uow)
        adapter = TelegramAdapter(world.engine, make_bot(fake.token, api_base=fake.url))
        intake = UpdateIntake(adapter=adapter, uow_factory=database.uow, clock=world.clock)
        hook = TelegramWebhook(intake=intake, secret=SECRET_TOKEN)
        # A 500 is answered, not raised into the test: the answer is what Telegram would see.
        app = Starlette(routes=hook.routes)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.5") as client:
                yield Telegram(client, database, fake, hook, world)
        finally:
            await hook.drain()
            await adapter.close()


def message(text: str, *, update_id: int = 700_001, first: str = "Ana") -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": ANA, "type": "private", "first_name": first},
            "from": {"id": ANA, "is_bot": False, "first_name": first},
            "text": text,
        },
    }


UNREADABLE_UPDATES: dict[str, bytes] = {
    "nested 50,000 deep": b'{"update_id": 1, "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    "nested 900 deep": b'{"update_id": 1, "x": ' + b"[" * 900 + b"]" * 900 + b"}",
    "invalid UTF-8": json.dumps(message("hi")).encode().replace(b"hi", b"h\xff"),
    "an encoded surrogate": json.dumps(message("hi")).encode().replace(b"hi", b"\xed\xa0\x80"),
    "a JSON list": b"[1]",
    "not JSON": b"update_id=1",
    "an update_id of 400 digits": json.dumps(message("/help", update_id=10**400)).encode(),
}


@pytest.mark.parametrize("case", list(UNREADABLE_UPDATES))
async def test_an_unreadable_update_is_200_and_a_warning(
    telegram: Telegram, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    response = await telegram.post(UNREADABLE_UPDATES[case])
    assert response.status_code == 200, response.text
    assert warnings_in(caplog), "nobody was told"
    assert_no_failure_logged(caplog)
    assert telegram.sent() == []


async def test_an_update_of_a_kind_we_never_asked_for_changes_nothing(
    telegram: Telegram, caplog: pytest.LogCaptureFixture
) -> None:
    """No event aiogram knows: ``update.event`` raised while finding whose turn it was."""
    response = await telegram.post(b'{"update_id": 700002, "some_future_kind": {"id": 1}}')
    assert response.status_code == 200
    assert_no_failure_logged(caplog)
    assert telegram.sent() == []


@pytest.mark.parametrize(
    "text, first",
    [
        ("/start \x00", "Ana"),
        ("/join ABCD-EFGH-JKM\x00", "Ana"),
        ("/decline " + "A" * 42 + "\x00", "Ana"),
        ("/start " + "A" * 42 + "\ud800", "Ana"),
        ("/help", "Ana\x00\ud800"),
        ("\ud83d", "\udfff"),
    ],
)
async def test_nul_and_lone_surrogates_in_an_update_are_cleaned(
    telegram: Telegram, caplog: pytest.LogCaptureFixture, text: str, first: str
) -> None:
    # json.dumps writes "\u0000" and "\ud800" escapes: valid JSON, as a forger would send.
    response = await telegram.post(json.dumps(message(text, first=first)).encode())
    assert response.status_code == 200
    assert telegram.sent(), "no answer"
    assert_no_failure_logged(caplog)
    assert await telegram.is_recorded(700_001)


# --- Twilio -----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["MessageSid", "MessageStatus", "ErrorCode"])
async def test_nul_in_a_signed_status_callback_is_ignored_not_500(
    twilio: TwilioSite,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    field: str,
) -> None:
    """The issue's case: the MessageSid was looked up as it came, and PostgreSQL refused it."""
    values = {"MessageSid": sid(), "MessageStatus": "failed", "ErrorCode": "30006"}
    values[field] += "\x00"
    response = await twilio.report(values.pop("MessageSid"), values.pop("MessageStatus"), **values)
    assert response.status_code == 204
    assert_no_failure_logged(caplog)


@pytest.mark.parametrize(
    "sender, message_sid",
    [
        (MARIA, sid() + "\x00"),
        (MARIA, sid() + "\n"),  # $ matched before a final newline: a second spelling of an id
        (MARIA + "\x00", sid()),
        (MARIA + "\n", sid()),  # and of a number: STOP was kept for "+12025550199\n"
        ("+١٢٠٢٥٥٥٠١٩٩", sid()),  # \d matched any script's digits
    ],
)
async def test_a_signed_text_with_a_malformed_sender_or_id_gets_a_hint_and_changes_nothing(
    twilio: TwilioSite,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    sender: str,
    message_sid: str,
) -> None:
    response = await twilio.text("STOP", sender=sender, message_sid=message_sid)
    assert response.status_code == 200
    assert len(twiml_text(response)) == 1  # the hint, not STOP's silence
    assert_no_failure_logged(caplog)
    async with twilio.database.uow() as uow:
        # Looked up as it would be stored (PostgreSQL would refuse the NUL in the query too).
        assert await uow.phones.get(sender.replace("\x00", "\ufffd")) is None


async def test_nul_in_a_signed_text_body_gets_twiml(
    twilio: TwilioSite,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``JO\\0IN`` is not ``JOIN``: the NUL becomes U+FFFD, never a word by vanishing."""
    response = await twilio.text("JO\x00IN")
    assert response.status_code == 200
    assert twiml_text(response) == [
        "Reply JOIN to accept your household invitation, DECLINE to decline, or HELP for help."
    ]
    assert_no_failure_logged(caplog)


async def test_hints_to_a_sender_that_is_not_a_phone_are_capped_too(
    twilio: TwilioSite,  # noqa: F811
) -> None:
    """A WhatsApp auto-responder loops as well as one on a phone: five hints an hour."""
    replies = [
        len(twiml_text(await twilio.text("Auto-reply: I am away", sender="whatsapp:+12025550199")))
        for _ in range(7)
    ]
    assert replies == [1] * 5 + [0] * 2
