"""Issue 13, point 6: every inbound text got an automatic reply with no limit per sender, so
two auto-responders could text each other forever. Now a number gets at most 5 automatic
replies an hour; past that its texts still take effect (JOIN admits, STOP opts out), only
the reply is dropped.

Runs on the in-memory fakes, SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import itertools

import pytest

from bot import messages as msg
from bot.domain import Channel, Limits
from bot.ports import UnitOfWorkFactory
from bot.sms_inbound import InboundSms, handle_inbound_sms
from tests.unit.conftest import World

MARIA = "+12025550199"
LUIS = "+12025550142"
_sids = itertools.count(1)


@pytest.fixture
def world(uow_factory: UnitOfWorkFactory) -> World:
    return World(uow_factory=uow_factory, limits=Limits(messages_per_destination_per_day=50))


async def text(world: World, body: str, *, sender: str = MARIA, sid: str = "") -> str | None:
    """A text arriving from ``sender``: the reply the bot texts back (``""``: none)."""
    async with world.uow_factory() as uow:
        reply = await handle_inbound_sms(
            uow,
            world.ctx,
            InboundSms(sender=sender, body=body, message_id=sid or f"SMauto{next(_sids)}"),
        )
        await uow.commit()
    return reply


async def test_an_auto_responder_gets_five_replies_an_hour(world: World) -> None:
    replies = [await text(world, "I'm driving right now, I'll text you later.") for _ in range(8)]
    assert replies == [msg.SMS_HINT] * 5 + [""] * 3
    # Someone else still gets an answer.
    assert await text(world, "what is this?", sender=LUIS) == msg.SMS_HINT
    world.clock.advance(minutes=61)
    assert await text(world, "I'm driving right now") == msg.SMS_HINT


async def test_past_the_cap_keywords_still_take_effect(world: World) -> None:
    ana = await world.head()
    await ana.say(f"/invite sms Maria Ruiz {MARIA}")
    await ana.press("Send Invite")
    await world.deliver()
    for _ in range(5):
        assert await text(world, "HELP") != ""
    assert await text(world, "JOIN") == ""  # no reply ...
    async with world.uow_factory() as uow:  # ... but Maria is a member
        [household] = await uow.households.list()
        members = await uow.members.list_for_household(household.id)
    assert [m.name for m in members if m.phone == MARIA] == ["Maria Ruiz"]
    await world.deliver()
    assert any("Maria Ruiz accepted" in m.body for m in world.sender.to("ana"))


async def test_a_stop_past_the_cap_is_recorded(world: World) -> None:
    for _ in range(6):
        await text(world, "hello")
    assert await text(world, "STOP") == ""
    async with world.uow_factory() as uow:
        status = await uow.phones.get(MARIA)
    assert status is not None and status.opted_out
    ana = await world.head()
    await ana.say(f"/invite sms Maria Ruiz {MARIA}")
    assert "opted out of text messages" in ana.text


async def test_a_redelivered_text_is_not_counted_twice(world: World) -> None:
    assert await text(world, "hello", sid="SMsame") == msg.SMS_HINT
    for _ in range(10):
        assert await text(world, "hello", sid="SMsame") is None  # Twilio's retries
    replies = [await text(world, "hello") for _ in range(5)]
    assert replies == [msg.SMS_HINT] * 4 + [""]


async def test_the_silent_replies_send_nothing(world: World) -> None:
    """End to end: what the sender would actually text back stays within the cap."""
    sent = 0
    for _ in range(20):  # two auto-responders: each reply of ours gets one back
        if await text(world, "Auto-reply: I am out of office."):
            sent += 1
    assert sent == 5
    await world.deliver()
    assert [m for m in world.sender.sent if m.channel is Channel.SMS] == []
