"""A step taken for a stored update (:mod:`bot.intake`): exactly once however often it is asked
for, in order per person, with its replies kept until they are sent. On the in-memory twins and
on SQL storage (``uow_factory``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot import messages as msg
from bot.domain import InboundUpdate
from bot.intake import Inbound, NotYourTurn, dump_step, load_step
from bot.replies import Actor, Button, Confirm, Event, Reply, Style
from tests.unit.conftest import World

ANA = Actor(platform="telegram", user_id="1001", chat_id="1001", display_name="Ana")


async def stored(world: World, n: int, *, sender: str = "1001", owner: str = "me") -> Inbound:
    now = world.clock.now()
    update = InboundUpdate(
        source="telegram",
        external_id=f"bot:{n}",
        sender=sender,
        payload="{}",
        received_at=now,
        owner=owner,
        lease_until=now,
    )
    async with world.uow_factory() as uow:
        await uow.updates.add(update)
        await uow.commit()
    return Inbound.of(update)


async def head(world: World) -> None:
    """Ana, on Telegram, heads 12 Oak Lane."""
    code = await world.household()
    replies = await world.engine.handle(ANA, Event.message(f"/join {code}"))
    assert "You are now the head" in replies[0].text


async def conversation_state(world: World) -> str:
    async with world.uow_factory() as uow:
        found = await uow.conversations.get(platform="telegram", user_id="1001")
    assert found is not None
    return found.state


async def test_a_step_asked_for_again_returns_its_replies_and_changes_nothing(
    world: World,
) -> None:
    """The process died between the step's commit and sending its replies: taken again, the
    step gives the replies it stored, and the conversation does not move a second time."""
    await head(world)
    await world.engine.handle(ANA, Event.message("/invite"))
    press = await stored(world, 1)
    first = await world.engine.handle(ANA, Event.message("Email"), inbound=press)
    assert msg.ASK_NAME in first[0].text
    state = await conversation_state(world)
    # Typed again, "Email" would be taken as the member's name; asked for again, the same
    # update only gives the same question back.
    assert await world.engine.handle(ANA, Event.message("Email"), inbound=press) == first
    assert await conversation_state(world) == state


async def test_stored_replies_are_not_shown_again_once_a_later_step_came(world: World) -> None:
    """The replies of "Email" were sent, but the update could not be forgotten (the database
    away for a moment) and Ana went on: taken again later, it shows nothing, not the old
    question."""
    await head(world)
    await world.engine.handle(ANA, Event.message("/invite"))
    email = await stored(world, 1)
    assert await world.engine.handle(ANA, Event.message("Email"), inbound=email)
    world.clock.advance(seconds=1)
    await world.engine.handle(ANA, Event.message("/cancel"))
    assert await world.engine.handle(ANA, Event.message("Email"), inbound=email) == []
    assert await conversation_state(world) == "idle"


async def test_an_update_done_with_or_taken_over_runs_nothing(world: World) -> None:
    await head(world)
    done = await stored(world, 1)
    async with world.uow_factory() as uow:
        await uow.updates.finish([done.id], owner="me")
        await uow.commit()
    assert await world.engine.handle(ANA, Event.message("/invite"), inbound=done) == []
    theirs = await stored(world, 2, owner="another process")
    mine_once = Inbound(
        id=theirs.id, source="telegram", external_id="bot:2", sender="1001", owner="me"
    )
    assert await world.engine.handle(ANA, Event.message("/invite"), inbound=mine_once) == []
    # An id alone is not enough: the same id naming another update runs nothing either.
    other = Inbound(
        id=theirs.id, source="telegram", external_id="bot:9", sender="1001", owner="another process"
    )
    assert await world.engine.handle(ANA, Event.message("/invite"), inbound=other) == []
    # Neither started the invitation: the conversation is where the head left it.
    reply = await world.engine.handle(ANA, Event.message("Email"))
    assert reply[0].text == msg.NOT_UNDERSTOOD


async def test_a_later_update_waits_for_the_earlier_one_of_the_same_person(
    world: World,
) -> None:
    await head(world)
    earlier = await stored(world, 1)
    later = await stored(world, 2)
    someone_else = await stored(world, 3, sender="2002")
    with pytest.raises(NotYourTurn):
        await world.engine.handle(ANA, Event.message("Email"), inbound=later)
    assert await conversation_state(world) == "idle"  # nothing changed
    sam = Actor(platform="telegram", user_id="2002", chat_id="2002", display_name="Sam")
    assert await world.engine.handle(sam, Event.message("/help"), inbound=someone_else)
    assert await world.engine.handle(ANA, Event.message("/invite"), inbound=earlier)
    replies = await world.engine.handle(ANA, Event.message("Email"), inbound=later)
    assert msg.ASK_NAME in replies[0].text


async def test_a_refused_step_stores_nothing_and_is_refused_again(world: World) -> None:
    await head(world)
    other = await world.household(address="14 Oak Lane")
    wrong = await stored(world, 1)
    first = await world.engine.handle(ANA, Event.message(f"/join {other}"), inbound=wrong)
    assert "12 Oak Lane" in first[0].text  # refused: she is in a household already
    async with world.uow_factory() as uow:
        kept = await uow.updates.get(wrong.id)
    assert kept is not None and kept.replies is None
    again = await world.engine.handle(ANA, Event.message(f"/join {other}"), inbound=wrong)
    assert [r.text for r in again] == [r.text for r in first]


def test_replies_come_back_as_they_were_stored() -> None:
    replies = [
        Reply(
            "Invitation for María «Ruiz»\n",
            buttons=(
                Button("Send Invite", "flow:send", Style.PRIMARY),
                Button(
                    "Cancel Invite",
                    "card:cancel:abc",
                    Style.DANGER,
                    Confirm("Cancel?", "It voids the link.", "Yes", "No", "card:cancel!:abc"),
                ),
            ),
            link="https://hoa.example/i/tok",
            link_label="📋 Copiar enlace",
            replace_previous=True,
            title="Summary",
            fields=(("Name", "María Ruiz"), ("Email", "maria@example.com")),
        ),
        Reply(""),
    ]
    at = datetime(2026, 12, 6, 18, 30, 1, 123456, tzinfo=UTC)
    assert load_step(dump_step(at, replies)) == (at, replies)
    assert load_step(dump_step(None, [])) == (None, [])
