"""Issue 13, point 4: Resend skipped the head's invitation quota, so 2 invitations and 4
resends sent 6 texts with a quota of 2. Every message that goes out to an invitee counts
against the head's hourly and daily quota, and a head over it is told so, kindly.

Runs on the in-memory fakes, SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import pytest

from bot.domain import Channel, Limits
from bot.ports import UnitOfWorkFactory
from tests.chat import Person
from tests.unit.conftest import World

MARIA = "+12025550199"
LUIS = "+12025550142"


@pytest.fixture
def world(uow_factory: UnitOfWorkFactory) -> World:
    # A destination cap out of the way: only the head's quota is under test here.
    return World(
        uow_factory=uow_factory,
        limits=Limits(invites_per_hour=2, invites_per_day=3, messages_per_destination_per_day=50),
    )


async def invite(ana: Person, name: str, phone: str) -> None:
    await ana.say(f"/invite sms {name} {phone}")
    await ana.press("Send Invite")
    assert "Invitation sent" in ana.text, ana.text


async def resend(ana: Person, name: str) -> str:
    await ana.say("/household")
    await ana.press("Resend", on=name)
    return ana.text


async def texts(world: World) -> int:
    await world.deliver()
    return sum(1 for m in world.sender.sent if m.channel is Channel.SMS)


async def test_two_invitations_and_four_resends_send_two_texts(world: World) -> None:
    ana = await world.head()
    await invite(ana, "Maria Ruiz", MARIA)
    await invite(ana, "Luis Ruiz", LUIS)
    assert await texts(world) == 2
    for name in ["Maria Ruiz", "Luis Ruiz", "Maria Ruiz", "Luis Ruiz"]:
        answer = await resend(ana, name)
        assert "2 invitations in the last hour (each resend counts as one)" in answer
        assert "Please try again later" in answer and "Copy Invite Link" in answer
    assert await texts(world) == 2  # not 6


async def test_a_resend_uses_up_the_quota_like_an_invitation(world: World) -> None:
    ana = await world.head()
    await invite(ana, "Maria Ruiz", MARIA)
    assert "Sent the invitation to Maria Ruiz again" in await resend(ana, "Maria Ruiz")
    # Two messages in the hour: no new invitation either, and nothing queued for Luis.
    await ana.say(f"/invite sms Luis Ruiz {LUIS}")
    assert "2 invitations in the last hour" in ana.text
    assert await texts(world) == 2
    # An hour on, the quota has room again.
    world.clock.advance(minutes=61)
    await invite(ana, "Luis Ruiz", LUIS)
    assert await texts(world) == 3


async def test_resends_count_against_the_daily_quota(world: World) -> None:
    ana = await world.head()
    await invite(ana, "Maria Ruiz", MARIA)
    for _ in range(2):
        world.clock.advance(minutes=61)
        assert "Sent the invitation to Maria Ruiz again" in await resend(ana, "Maria Ruiz")
    world.clock.advance(minutes=61)
    answer = await resend(ana, "Maria Ruiz")
    assert "3 invitations in the last day (each resend counts as one)" in answer
    assert "Please try again tomorrow" in answer
    assert await texts(world) == 3


async def test_resending_an_expired_invitation_counts_too(world: World) -> None:
    ana = await world.head()
    await invite(ana, "Maria Ruiz", MARIA)
    await invite(ana, "Luis Ruiz", LUIS)
    assert await texts(world) == 2
    world.clock.advance(days=8)  # both expired; the hour and the day are over
    await world.deliver()
    await resend(ana, "Maria Ruiz")
    await ana.press("New link")
    assert "Sent Maria Ruiz a new invitation link" in ana.text, ana.text
    await resend(ana, "Luis Ruiz")
    await ana.press("Same link")
    assert "Sent the invitation to Luis Ruiz again" in ana.text, ana.text
    answer = await resend(ana, "Maria Ruiz")
    assert "2 invitations in the last hour" in answer
    assert await texts(world) == 4


async def test_sending_again_from_the_duplicate_question_counts_too(world: World) -> None:
    ana = await world.head()
    await invite(ana, "Maria Ruiz", MARIA)
    await ana.say(f"/invite sms Maria Ruiz {MARIA}")
    assert "already has a pending invitation" in ana.text
    # Meanwhile (another window, say) the head resends from the card: the quota is full.
    assert "Sent the invitation to Maria Ruiz again" in await resend(ana, "Maria Ruiz")
    await ana.press_payload("flow:resend_existing")
    assert "2 invitations in the last hour" in ana.text
    assert await texts(world) == 2
