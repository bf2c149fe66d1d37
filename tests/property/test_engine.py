"""The conversation engine on any input, at every state, over the in-memory fakes.

Whatever is typed or pressed: ``Engine.handle`` returns non-empty text replies and raises
nothing; everything stored (invitations, members, conversation answers so far) re-validates;
text never creates an invitation outside the summary; nobody's button touches another
household's invitations.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot import contacts
from bot import engine as states
from bot.domain import Invitation
from bot.replies import Actor, Event, EventKind
from tests.fakes import MemoryUnitOfWorkFactory
from tests.property.flows import STATES, Cast, cast, reach, state_of
from tests.property.invariants import assert_all_stored_valid, assert_replies
from tests.property.profiles import examples
from tests.property.strategies import command_args, commands, payloads, texts

_claimants = itertools.count(1)


@pytest.fixture
async def c() -> AsyncIterator[Cast]:
    yield await cast(MemoryUnitOfWorkFactory())


async def snapshot(c: Cast) -> dict[str, Invitation]:
    state = await assert_all_stored_valid(c.world.uow_factory, c.keys())
    return {i.id: i for i in state.invitations}


def changed(before: dict[str, Invitation], after: dict[str, Invitation]) -> set[str]:
    return {i for i in before if after[i] != before[i]}


async def households_of(c: Cast) -> dict[str, str]:
    """Invitation id → the user id of the head whose household it belongs to."""
    heads = {}
    async with c.world.uow_factory() as uow:
        for person in (c.ana, c.bob):
            identity = await uow.identities.get(
                platform="console", external_id=person.actor.user_id
            )
            assert identity is not None
            member = await uow.members.get(identity.member_id)
            assert member is not None
            for invitation in await uow.invitations.list_for_household(member.household_id):
                heads[invitation.id] = person.actor.user_id
    return heads


@pytest.mark.parametrize("state", STATES)
@examples(35)
@given(text=texts())
@example(text="")
@example(text="\x00")
@example(text=" \u200b ")
@example(text="send invite")
@example(text="Zoë\u200d" * 3000)
async def test_any_text_at_any_state(c: Cast, state: str, text: str) -> None:
    await reach(c, c.ana, state)
    before = await snapshot(c)
    event = Event.message(text)
    replies = await c.world.engine.handle(c.ana.actor, event)
    assert replies, (state, text)
    assert_replies(replies)
    after = await snapshot(c)
    assert set(after) >= set(before)
    bob_ids = {i for i, head in (await households_of(c)).items() if head == "bob"}
    assert not changed(before, after) & bob_ids
    if state != states.SUMMARY:
        assert set(after) == set(before), "text made an invitation outside the summary"
    if state == states.NAME and event.kind is EventKind.TEXT:
        try:
            contacts.normalise_name(event.text)
        except contacts.ContactError:
            # A refused name changes nothing: the same question is asked again.
            assert await state_of(c.world, c.ana) == states.NAME
            assert str(replies[0].text).strip()


@pytest.mark.parametrize("state", [states.IDLE, states.NAME, states.SUMMARY, states.JOIN])
@examples(40)
@given(text=commands())
@example(text="/invite@oakridge_bot sms Maria Ruiz +1 202 555 0199")
@example(text="/join " + "A" * 5000)
@example(text="/start \x00")
@example(text="/decline /i/" + "A" * 43)
async def test_any_command_at_any_state(c: Cast, state: str, text: str) -> None:
    await reach(c, c.ana, state)
    before = await snapshot(c)
    replies = await c.world.engine.handle(c.ana.actor, Event.message(text))
    assert_replies(replies)
    assert replies, text
    after = await snapshot(c)
    assert set(after) == set(before), "a command made an invitation"


@given(args=command_args(), press=st.sampled_from(["flow:send", "flow:edit", "flow:cancel"]))
@example(args="sms Maria Ruiz +1 202 555 0199", press="flow:send")
@example(args="email Maria Ruiz MARIA@Example.ORG", press="flow:send")
@example(args="sms \x00 +1 202 555 0199", press="flow:send")
@example(args="Maria Ruiz ٢٠٢٥٥٥٠١٩٩", press="flow:send")
async def test_a_one_shot_invite_stores_only_valid_answers(c: Cast, args: str, press: str) -> None:
    await c.ana.say("/cancel")
    replies = await c.world.engine.handle(c.ana.actor, Event.message(f"/invite {args}"))
    assert replies
    assert_replies(replies)
    await assert_all_stored_valid(c.world.uow_factory, c.keys())
    replies = await c.world.engine.handle(c.ana.actor, Event.press(press))
    assert replies
    assert_replies(replies)
    await assert_all_stored_valid(c.world.uow_factory, c.keys())


@pytest.mark.parametrize("state", [states.IDLE, states.SUMMARY, states.DUPLICATE, states.EDIT])
@given(data=st.data())
async def test_any_button_payload_from_anyone(c: Cast, state: str, data: st.DataObject) -> None:
    """Real payloads, near misses, other households' ids: only the head of the household an
    invitation belongs to changes it."""
    await reach(c, c.ana, state)
    ids = await c.invitation_ids()
    payload = data.draw(payloads(ids), label="payload")
    person = data.draw(st.sampled_from(c.people), label="who")
    heads = await households_of(c)
    before = await snapshot(c)
    replies = await c.world.engine.handle(person.actor, Event.press(payload))
    assert replies, payload
    assert_replies(replies)
    after = await snapshot(c)
    for invitation_id in changed(before, after):
        assert heads[invitation_id] == person.actor.user_id, (payload, person.actor.user_id)


@pytest.mark.parametrize("state", STATES)
async def test_resume_at_any_state_shows_the_question(c: Cast, state: str) -> None:
    await reach(c, c.ana, state)
    replies = await c.world.engine.handle(c.ana.actor, Event.resume())
    assert_replies(replies)
    assert bool(replies) == (state != states.IDLE)


@given(display_name=texts())
@example(display_name="\u202eAna")
@example(display_name="")
async def test_claiming_with_any_display_name_stores_a_valid_name(
    c: Cast, display_name: str
) -> None:
    n = next(_claimants)
    code = await c.world.household(address=f"{n} Any Street")
    actor = Actor(
        platform="telegram",
        user_id=f"claimant-{n}",
        chat_id="1",
        display_name=display_name,
    )
    replies = await c.world.engine.handle(actor, Event.message(f"/join {code}"))
    assert_replies(replies)
    assert "You are now the head" in replies[0].text
    await assert_all_stored_valid(c.world.uow_factory)
