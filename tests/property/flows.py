"""Putting a chat user into any conversation state, so a property can hit it with any input.

Each example starts from ``/cancel`` and walks the ordinary path to the state it needs, with
fresh contacts (a counter), so examples never depend on each other; :func:`reach` checks that
the state was really reached, so a broken setup cannot pass for a robust engine.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from bot import engine as states
from bot.domain import InvitationStatus, Limits
from bot.ports import UnitOfWorkFactory
from tests.chat import Person
from tests.unit.conftest import World

STATES = [
    states.IDLE,
    states.METHOD,
    states.NAME,
    "invite.contact:email",
    "invite.contact:sms",
    states.SUMMARY,
    states.EDIT,
    states.DUPLICATE,
    states.JOIN,
]
"""Every conversation state (the contact question once per method)."""

GENEROUS = Limits(
    invites_per_hour=1_000_000,
    invites_per_day=1_000_000,
    messages_per_destination_per_day=1_000,
    code_attempts_per_account=1_000_000,
    code_attempts_everyone=1_000_000,
    page_requests_per_address=1_000_000,
    sms_replies_per_sender_per_hour=1_000_000,
)
"""Caps no run can reach: hypothesis runs every example of a test on one site, so a cap counted
in the database (tests/security/test_throttles.py, test_quotas.py and test_sms_autoreply.py
test each one) would otherwise answer a later example differently, depending on what the
earlier examples drew."""
_fresh = itertools.count(1)


def fresh_email() -> str:
    return f"invitee{next(_fresh)}@example.org"


@dataclass
class Cast:
    """Ana heads 12 Oak Lane; Bob heads 3 Elm Road and has invited someone; Sam belongs
    nowhere. Ids of their invitations are what near-miss button payloads aim at."""

    world: World
    ana: Person
    bob: Person
    sam: Person
    bob_invitation: str

    @property
    def people(self) -> list[Person]:
        return [self.ana, self.bob, self.sam]

    def keys(self) -> list[tuple[str, str]]:
        return [(p.actor.platform, p.actor.user_id) for p in self.people]

    async def invitation_ids(self) -> list[str]:
        async with self.world.uow_factory() as uow:
            households = await uow.households.list()
            return [
                i.id for h in households for i in await uow.invitations.list_for_household(h.id)
            ]

    async def ana_pending(self) -> str:
        """The contact of one of Ana's pending invitations, made if she has none."""
        async with self.world.uow_factory() as uow:
            household = (await who(uow, self.ana)).household
            assert household is not None
            found = [
                i
                for i in await uow.invitations.list_for_household(household.id)
                if i.status is InvitationStatus.PENDING
            ]
        if found:
            return found[0].contact
        email = fresh_email()
        await self.ana.say("/cancel")
        await self.ana.say(f"/invite email Maria Ruiz {email}")
        await self.ana.press_payload("flow:send")
        assert "Invitation sent" in self.ana.text, self.ana.text
        return email


async def who(uow, person: Person):
    from bot.invitations import who_is

    return await who_is(uow, person.actor)


async def cast(uow_factory: UnitOfWorkFactory) -> Cast:
    world = World(uow_factory=uow_factory, limits=GENEROUS)
    ana = await world.head("ana")
    bob = await world.head("bob", address="3 Elm Road")
    await bob.say("/invite email Bea Stone bea@example.org")
    await bob.press_payload("flow:send")
    assert "Invitation sent" in bob.text, bob.text
    sam = world.person("sam", "Sam Lee")
    c = Cast(world=world, ana=ana, bob=bob, sam=sam, bob_invitation="")
    [c.bob_invitation] = [i for i in await c.invitation_ids()]
    await c.ana_pending()
    return c


async def state_of(world: World, person: Person) -> str:
    async with world.uow_factory() as uow:
        conversation = await uow.conversations.get(
            platform=person.actor.platform, user_id=person.actor.user_id
        )
    return conversation.state if conversation else states.IDLE


async def reach(c: Cast, person: Person, state: str) -> None:
    """Walk ``person`` (Ana, normally) to ``state``."""
    await person.say("/cancel")
    if state == states.JOIN:
        await person.say("/join")
    elif state == states.DUPLICATE:
        contact = await c.ana_pending()
        await person.say(f"/invite email Zoe Adams {contact}")
    elif state != states.IDLE:
        await person.say("/invite")
        if state != states.METHOD:
            method = "sms" if state.endswith(":sms") else "email"
            await person.press_payload(f"flow:method:{method}")
            if state != states.NAME:
                await person.say("Zoe Adams")
                if state in (states.SUMMARY, states.EDIT):
                    await person.say(fresh_email())
                if state == states.EDIT:
                    await person.press_payload("flow:edit")
    expected = state.partition(":")[0]
    assert await state_of(c.world, person) == expected, (state, person.text)
