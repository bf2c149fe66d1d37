"""``POST /twilio/sms`` and ``POST /twilio/status`` through the real ASGI app, with requests
signed by twilio's own RequestValidator, and forged ones."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest
from twilio.request_validator import RequestValidator

from bot.domain import Channel, DeliveryStatus, InvitationStatus
from handlers.app import create_app
from handlers.settings import Settings
from storage import Database
from tests.storage.databases import SQL_BACKENDS, fresh_database
from tests.unit.conftest import SECRET, World

AUTH_TOKEN = "twilio-auth-token-0123456789abcdef"
PUBLIC = "https://hoa.example"
MARIA = "+12025550199"
_numbers = itertools.count(1)


def sid() -> str:
    return "SM" + uuid.uuid4().hex


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def twiml_text(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"].startswith("application/xml")
    return [m.text or "" for m in ElementTree.fromstring(response.text).iter("Message")]


@dataclass
class Site:
    client: httpx.AsyncClient
    world: World
    database: Database

    async def text(
        self,
        body: str,
        *,
        sender: str = MARIA,
        message_sid: str | None = None,
        signature: str | None = None,
        url: str = f"{PUBLIC}/twilio/sms",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        params = {
            "MessageSid": message_sid or sid(),
            "AccountSid": "AC" + "0" * 32,
            "From": sender,
            "To": "+12025550000",
            "Body": body,
            "NumMedia": "0",
        }
        signed = sign(url, params) if signature is None else signature
        return await self.client.post(
            "/twilio/sms", data=params, headers={"X-Twilio-Signature": signed, **(headers or {})}
        )

    async def report(self, message_sid: str, status: str, **extra: str) -> httpx.Response:
        params = {"MessageSid": message_sid, "MessageStatus": status, **extra}
        return await self.client.post(
            "/twilio/status",
            data=params,
            headers={"X-Twilio-Signature": sign(f"{PUBLIC}/twilio/status", params)},
        )

    async def invitation(self):
        async with self.database.uow() as uow:
            households = await uow.households.list()
            found = [i for h in households for i in await uow.invitations.list_for_household(h.id)]
        [invitation] = found
        return invitation


@pytest.fixture(params=SQL_BACKENDS)
async def site(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Site]:
    async with fresh_database(request.param, tmp_path) as database:
        settings = Settings(
            database_url="postgresql+asyncpg://unused/x"
            if request.param != "sqlite"
            else f"sqlite+aiosqlite:///{tmp_path}/invitebot.db",
            secret_key=SECRET.decode(),
            public_base_url=PUBLIC,
            twilio_auth_token=AUTH_TOKEN,
            twilio_account_sid="AC" + "0" * 32,
        )
        world = World(uow_factory=database.uow)
        app = create_app(settings, dispatch=False, database=database, clock=world.clock)
        transport = httpx.ASGITransport(app=app)
        # The app is reached under another host name than the public one, as behind a proxy.
        async with httpx.AsyncClient(
            transport=transport, base_url="http://10.0.0.5:8000"
        ) as client:
            yield Site(client=client, world=world, database=database)


async def invited(site: Site) -> None:
    ana = await site.world.head()
    await ana.say(f"/invite sms Maria Ruiz {MARIA}")
    await ana.press("Send Invite")
    await site.world.deliver()


async def test_a_signed_join_makes_a_member(site: Site) -> None:
    await invited(site)
    response = await site.text("join")
    assert response.status_code == 200
    assert twiml_text(response) == [
        "Welcome, Maria Ruiz! You are now a member of the household at 12 Oak Lane (Oak Ridge HOA)."
    ]
    assert (await site.invitation()).status is InvitationStatus.ACCEPTED
    await site.world.deliver()
    assert "Maria Ruiz accepted your invitation" in site.world.sender.sent[-1].body


async def test_a_signature_over_the_url_with_its_port_is_accepted_too(site: Site) -> None:
    """Twilio signs the URL as configured in its console, which may carry ``:443``."""
    await invited(site)
    response = await site.text("JOIN", url="https://hoa.example:443/twilio/sms")
    assert response.status_code == 200
    assert (await site.invitation()).status is InvitationStatus.ACCEPTED


@pytest.mark.parametrize(
    "forgery",
    ["missing", "wrong token", "other url", "host header", "tampered body"],
)
async def test_forged_requests_get_403_and_change_nothing(site: Site, forgery: str) -> None:
    await invited(site)
    params_url = f"{PUBLIC}/twilio/sms"
    if forgery == "missing":
        response = await site.text("JOIN", signature="")
    elif forgery == "wrong token":
        params = {"Body": "JOIN"}
        response = await site.text("JOIN", signature=sign(params_url, params, "not-the-token"))
    elif forgery == "other url":
        response = await site.text("JOIN", url="https://evil.example/twilio/sms")
    elif forgery == "host header":
        # Signed for the host the request claims, not for our public URL.
        response = await site.text("JOIN", url="http://10.0.0.5:8000/twilio/sms")
    else:
        good = {"MessageSid": sid(), "From": MARIA, "Body": "DECLINE"}
        signature = sign(params_url, good)
        response = await site.client.post(
            "/twilio/sms", data={**good, "Body": "JOIN"}, headers={"X-Twilio-Signature": signature}
        )
    assert response.status_code == 403
    assert (await site.invitation()).status is InvitationStatus.PENDING


async def test_a_huge_body_is_refused(site: Site) -> None:
    await invited(site)
    response = await site.text("JOIN" + " " * 70_000)
    assert response.status_code == 413  # over the 64 KiB form limit, before the signature
    assert (await site.invitation()).status is InvitationStatus.PENDING


async def test_twilio_retrying_the_same_message_has_one_effect(site: Site) -> None:
    await invited(site)
    message_sid = sid()
    first = await site.text("DECLINE", message_sid=message_sid)
    again = await site.text("DECLINE", message_sid=message_sid)
    assert "you declined" in twiml_text(first)[0]
    assert again.status_code == 200 and twiml_text(again) == []
    await site.world.deliver()
    declined = [m for m in site.world.sender.sent if "declined your invitation" in m.body]
    assert len(declined) == 1


async def test_anything_else_gets_a_hint_never_silence(site: Site) -> None:
    for body in ["hello", "", "🙂" * 500, "<Response>"]:
        response = await site.text(body)
        assert response.status_code == 200
        assert twiml_text(response) == [
            "Reply JOIN to accept your household invitation, DECLINE to decline, or HELP for help."
        ]


async def test_stop_gets_no_reply_and_is_recorded(site: Site) -> None:
    await invited(site)
    response = await site.text("Stop")
    assert twiml_text(response) == []
    async with site.database.uow() as uow:
        status = await uow.phones.get(MARIA)
    assert status is not None and status.opted_out


async def test_status_callbacks_update_the_card_forward_only(site: Site) -> None:
    await invited(site)
    invitation = await site.invitation()
    message_sid = invitation.provider_message_id
    assert message_sid
    assert (await site.report(message_sid, "delivered")).status_code == 204
    assert (await site.report(message_sid, "sent")).status_code == 204
    assert (await site.invitation()).delivery_status is DeliveryStatus.DELIVERED
    unsigned = await site.client.post(
        "/twilio/status", data={"MessageSid": message_sid, "MessageStatus": "failed"}
    )
    assert unsigned.status_code == 403
    assert (await site.invitation()).delivery_status is DeliveryStatus.DELIVERED


async def test_an_undelivered_callback_tells_the_head(site: Site) -> None:
    await invited(site)
    invitation = await site.invitation()
    await site.report(invitation.provider_message_id, "undelivered", ErrorCode="30006")
    assert (await site.invitation()).delivery_status is DeliveryStatus.FAILED
    await site.world.deliver()
    note = site.world.sender.sent[-1]
    assert note.channel is Channel.CHAT and "30006" in note.body
