"""The whole invitation by SMS as one test: ``/invite`` in the terminal chat, the SMS leaving
through the real twilio client for a fake Twilio API on loopback, the invitee's ``JOIN``
arriving signed at ``/twilio/sms`` of the running app, the member existing and the head told
in their terminal. On SQLite, and on PostgreSQL when configured."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from twilio.request_validator import RequestValidator

from bot.delivery import Dispatcher
from bot.domain import Channel, DeliveryStatus, InvitationStatus, Route
from bot.engine import Engine
from bot.replies import Actor
from handlers.app import create_app
from handlers.console import ConsoleChat, ConsoleSender, ConsoleView
from handlers.settings import Settings
from handlers.twilio_sms import twilio_sender_from_settings
from tests.handlers.fake_twilio import FakeTwilio
from tests.storage.databases import SQL_BACKENDS, fresh_database
from tests.unit.conftest import SECRET, World

PUBLIC = "https://hoa.example"
MARIA = "+12025550199"
OUR_NUMBER = "+12025550000"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as running:
        yield running


async def lines(*typed: str):
    for line in typed:
        yield line


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_invite_by_sms_join_by_reply(backend: str, tmp_path: Path, fake: FakeTwilio) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/unused.db",
        secret_key=SECRET.decode(),
        public_base_url=PUBLIC,
        twilio_account_sid=fake.account_sid,
        twilio_auth_token=fake.auth_token,
        twilio_from_number=OUR_NUMBER,
        twilio_api_base=fake.url,
        twilio_messages_per_second=50,
    )
    async with fresh_database(backend, tmp_path) as database:
        world = World(uow_factory=database.uow)
        await world.household(head_name="Ana Lopez")  # seeds the community
        code = await world.household(address="3 Elm Court", head_name="Ana Lopez")
        screen = io.StringIO()
        view = ConsoleView(Console(file=screen, width=200, highlight=False))
        ana = ConsoleChat(
            engine=Engine(uow_factory=database.uow, ctx=world.ctx),
            actor=Actor("console", "ana", "ana", "Ana"),
            view=view,
        )
        twilio = twilio_sender_from_settings(settings)
        assert twilio is not None
        dispatcher = Dispatcher(
            uow_factory=database.uow,
            ctx=world.ctx,
            senders={
                Route(Channel.SMS): twilio,
                Route(Channel.CHAT, "console", "ana"): ConsoleSender(view),
            },
        )
        try:
            await ana.run(
                lines(f"/join {code}", "/invite", "2", "Maria Ruiz", "(202) 555-0199", "1"),
                after_each=dispatcher.run_once,
            )
            [sent] = fake.messages
            assert sent.form["To"] == MARIA and sent.form["From"] == OUR_NUMBER
            assert sent.form["StatusCallback"] == f"{PUBLIC}/twilio/status"
            body = sent.form["Body"]
            assert "Ana Lopez" in body and "3 Elm Court" in body
            assert "Reply JOIN to accept, DECLINE to decline." in body

            app = create_app(settings, dispatch=False, database=database, clock=world.clock)
            validator = RequestValidator(fake.auth_token)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                report = {"MessageSid": sent.sid or "", "MessageStatus": "delivered"}
                response = await client.post(
                    "/twilio/status",
                    data=report,
                    headers={
                        "X-Twilio-Signature": validator.compute_signature(
                            f"{PUBLIC}/twilio/status", report
                        )
                    },
                )
                assert response.status_code == 204
                reply = {
                    "MessageSid": "SM" + "a" * 32,
                    "From": MARIA,
                    "To": OUR_NUMBER,
                    "Body": "Join",
                }
                response = await client.post(
                    "/twilio/sms",
                    data=reply,
                    headers={
                        "X-Twilio-Signature": validator.compute_signature(
                            f"{PUBLIC}/twilio/sms", reply
                        )
                    },
                )
            assert response.status_code == 200
            assert "Welcome, Maria Ruiz!" in response.text and "3 Elm Court" in response.text

            await dispatcher.run_once()  # the head's notification, to Ana's terminal
            assert "Maria Ruiz accepted your invitation" in screen.getvalue()
            async with database.uow() as uow:
                identity = await uow.identities.get(platform="sms", external_id=MARIA)
                assert identity is not None
                member = await uow.members.get(identity.member_id)
                assert member is not None and member.name == "Maria Ruiz"
                household = await uow.households.get(member.household_id)
                assert household is not None and household.address == "3 Elm Court"
                [invitation] = await uow.invitations.list_for_household(household.id)
                assert invitation.status is InvitationStatus.ACCEPTED
                assert invitation.delivery_status is DeliveryStatus.DELIVERED
                assert invitation.provider_message_id == sent.sid
        finally:
            await twilio.close()
