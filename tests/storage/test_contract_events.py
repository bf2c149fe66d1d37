"""The household event log's contract: the same assertions on the in-memory twin, SQLite and
(when configured) PostgreSQL, as in ``test_contract.py``."""

from __future__ import annotations

import dataclasses

import pytest

from bot.domain import EventActor, HouseholdEvent, HouseholdEventKind, Method, new_id
from bot.ports import UnitOfWorkFactory
from tests.storage.test_contract import Seed, at, invitation, seed, seeded


def event(
    s: Seed, kind: HouseholdEventKind = HouseholdEventKind.INVITED, **changes: object
) -> HouseholdEvent:
    fields: dict[str, object] = {
        "household_id": s.household.id,
        "kind": kind,
        "at": at(0),
        "actor": EventActor.MEMBER,
        "actor_member_id": s.head.id,
        "actor_name": s.head.name,
    }
    return HouseholdEvent(**(fields | changes))  # type: ignore[arg-type]


async def test_an_event_round_trips_with_every_field(uow_factory: UnitOfWorkFactory) -> None:
    s = await seeded(uow_factory)
    full = event(
        s,
        subject_member_id=new_id(),
        subject_invitation_id=new_id(),
        subject_name="María Ruiz",
        method=Method.SMS,
        masked_contact="+1 ••• ••• 0199",
        via="telegram",
        details={"new_link": "yes", "renewed": "no"},
    )
    bare = event(
        s,
        HouseholdEventKind.ACCESS_CODE_RESET,
        at=at(1),
        actor=EventActor.BOARD,
        actor_member_id=None,
        actor_name="",
    )
    async with uow_factory() as uow:
        await uow.events.append(full)
        await uow.events.append(bare)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.events.list_for_household(s.household.id) == [bare, full]


async def test_events_are_listed_newest_first_in_the_order_they_were_made(
    uow_factory: UnitOfWorkFactory,
) -> None:
    s = await seeded(uow_factory)
    # Three at the same instant (one unit of work's changes), made in this order: the ids,
    # time-ordered, keep it.
    same_time = [event(s, kind, at=at(5)) for kind in list(HouseholdEventKind)[:3]]
    earlier, later = event(s, at=at(1)), event(s, at=at(9))
    async with uow_factory() as uow:
        for e in [later, *same_time, earlier]:  # appended out of order
            await uow.events.append(e)
        await uow.commit()
    async with uow_factory() as uow:
        listed = await uow.events.list_for_household(s.household.id)
        assert listed == [later, *reversed(same_time), earlier]
        assert await uow.events.list_for_household(s.household.id, limit=2) == listed[:2]
        assert await uow.events.list_for_household(s.household.id, limit=0) == []


async def test_the_default_is_the_latest_twenty(uow_factory: UnitOfWorkFactory) -> None:
    s = await seeded(uow_factory)
    made = [event(s, at=at(n)) for n in range(25)]
    async with uow_factory() as uow:
        for e in made:
            await uow.events.append(e)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.events.list_for_household(s.household.id) == made[:4:-1]


async def test_each_household_sees_only_its_own_events(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        oak, elm = await seed(uow), await seed(uow, address="3 Elm Court")
        await uow.events.append(mine := event(oak))
        await uow.events.append(theirs := event(elm, HouseholdEventKind.CLAIMED))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.events.list_for_household(oak.household.id) == [mine]
        assert await uow.events.list_for_household(elm.household.id) == [theirs]
        assert await uow.events.list_for_household("0" * 32) == []


async def test_an_event_goes_and_stays_with_its_unit_of_work(
    uow_factory: UnitOfWorkFactory,
) -> None:
    s = await seeded(uow_factory)
    invite = invitation(s)
    async with uow_factory() as uow:
        await uow.invitations.add(invite)
        await uow.events.append(event(s, subject_invitation_id=invite.id))
        await uow.rollback()
    async with uow_factory() as uow:
        assert await uow.invitations.get(invite.id) is None
        assert await uow.events.list_for_household(s.household.id) == []
        await uow.invitations.add(invite)
        recorded = event(s, subject_invitation_id=invite.id)
        await uow.events.append(recorded)
        # Read back inside the unit of work that wrote it.
        assert await uow.events.list_for_household(s.household.id) == [recorded]
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.invitations.get(invite.id) == invite
        assert await uow.events.list_for_household(s.household.id) == [recorded]


async def test_listed_events_are_copies(uow_factory: UnitOfWorkFactory) -> None:
    s = await seeded(uow_factory)
    appended = event(s, details={"new_link": "yes"})
    async with uow_factory() as uow:
        await uow.events.append(appended)
        appended.details["new_link"] = "changed after append"
        await uow.commit()
    async with uow_factory() as uow:
        (got,) = await uow.events.list_for_household(s.household.id)
        assert got.details == {"new_link": "yes"}
        got.details["new_link"] = "changed after read"
        (again,) = await uow.events.list_for_household(s.household.id)
        assert again.details == {"new_link": "yes"}


def test_an_event_refuses_a_contact_that_is_not_masked() -> None:
    with pytest.raises(ValueError, match="masked"):
        HouseholdEvent(
            household_id=new_id(),
            kind=HouseholdEventKind.INVITED,
            at=at(0),
            actor=EventActor.SYSTEM,
            masked_contact="+12025550199",
        )
    assert dataclasses.replace(
        HouseholdEvent(new_id(), HouseholdEventKind.INVITED, at(0), EventActor.SYSTEM),
        masked_contact="m•••@example.org",
    ).masked_contact
