"""The whole invitation across platforms as one test: a head claims their household and
invites by SMS from Telegram (updates posted to the app's real ``/telegram/webhook``, aiogram
answering through a fake Bot API on loopback), the SMS leaves through the real twilio client
for a fake Twilio API, the invitee's ``JOIN`` arrives signed at ``/twilio/sms``, and the head's
Telegram chat gets the news through the outbox. On SQLite, and on PostgreSQL when configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from bot import messages as msg
from bot.domain import InvitationStatus
from handlers.app import create_app
from handlers.bootstrap import build_dispatcher, close_senders, invitee_senders
from handlers.settings import Settings
from tests.handlers.fake_telegram import FakeTelegram
from tests.handlers.fake_twilio import FakeTwilio
from tests.handlers.test_telegram import ANA, button_update, find_button, message_update
from tests.storage.databases import SQL_BACKENDS, fresh_database
from tests.unit.conftest import SECRET, World

PUBLIC = "https://hoa.example"
MARIA = "+12025550199"
OUR_NUMBER = "+12025550000"
WEBHOOK_SECRET = "telegram-webhook-secret-0123456789"


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as running:
        yield running


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as running:
        yield running


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_invite_by_sms_from_telegram_and_hear_back_in_telegram(
    backend: str, tmp_path: Path, twilio: FakeTwilio, telegram: FakeTelegram
) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/unused.db",
        secret_key=SECRET.decode(),
        public_base_url=PUBLIC,
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_from_number=OUR_NUMBER,
        twilio_api_base=twilio.url,
        twilio_messages_per_second=50,
        telegram_bot_token=telegram.token,
        telegram_api_base=telegram.url,
        telegram_webhook_secret=WEBHOOK_SECRET,
    )
    async with fresh_database(backend, tmp_path) as database:
        world = World(uow_factory=database.uow)
        code = await world.household(address="3 Elm Court")
        app = create_app(settings, dispatch=False, database=database, clock=world.clock)
        senders = invitee_senders(settings)
        dispatcher = build_dispatcher(settings, database, senders, clock=world.clock)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:

                async def update(body: dict[str, Any]) -> None:
                    response = await client.post(
                        "/telegram/webhook",
                        json=body,
                        headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
                    )
                    assert response.status_code == 200
                    await app.state.telegram.intake.drain()

                def said_to_ana() -> list[str]:
                    return [
                        str(c.params["text"])
                        for c in telegram.calls
                        if c.method in ("sendMessage", "editMessageText")
                        and str(c.params.get("chat_id")) == str(ANA)
                    ]

                # The head claims the household, then invites Maria by SMS, in one go.
                await update(message_update(ANA, f"/start {code}"))
                assert "You are now the head of the household at 3 Elm Court" in said_to_ana()[-1]
                await update(message_update(ANA, "/invite sms Maria Ruiz (202) 555-0199"))
                assert said_to_ana()[-1].startswith(msg.SUMMARY_TITLE)
                data, message_id = find_button(telegram.calls_of("sendMessage"), "Send Invite")
                await update(button_update(ANA, data, message_id=message_id, query_id="q1"))
                assert "Invitation sent to Maria Ruiz" in said_to_ana()[-1]

                # The outbox texts Maria through Twilio.
                assert await dispatcher.run_once() == 1
                [sms] = twilio.messages
                assert sms.form["To"] == MARIA and "3 Elm Court" in sms.form["Body"]

                # Maria answers JOIN; Twilio signs the webhook.
                reply = {"MessageSid": "SM" + "b" * 32, "From": MARIA, "To": OUR_NUMBER}
                reply["Body"] = "join!"
                signature = RequestValidator(twilio.auth_token).compute_signature(
                    f"{PUBLIC}/twilio/sms", reply
                )
                response = await client.post(
                    "/twilio/sms", data=reply, headers={"X-Twilio-Signature": signature}
                )
                assert response.status_code == 200
                assert "Welcome, Maria Ruiz!" in response.text

                # The head hears of it in their Telegram chat, through the real sender.
                before = len(said_to_ana())
                assert await dispatcher.run_once() == 1
                [news] = said_to_ana()[before:]
                assert news == msg.NOTIFY_ACCEPTED.format(name="Maria Ruiz")
        finally:
            await close_senders(senders)
            if app.state.telegram is not None:
                await app.state.telegram.close()
        async with database.uow() as uow:
            identity = await uow.identities.get(platform="sms", external_id=MARIA)
            assert identity is not None
            member = await uow.members.get(identity.member_id)
            assert member is not None and member.name == "Maria Ruiz"
            [invitation] = await uow.invitations.list_for_household(member.household_id)
            assert invitation.status is InvitationStatus.ACCEPTED
            assert invitation.origin_platform == "telegram"
