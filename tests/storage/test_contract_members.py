"""The repositories' part in households changing (issue 14), with the same assertions on the
in-memory twin, SQLite and (when configured) PostgreSQL, as in ``test_contract.py``: a member
who left keeps their row but is no longer listed or found by contact; their chat accounts
are unlinked; a household keeps its head request, and the lapse sweep finds the old ones."""

from __future__ import annotations

from datetime import timedelta

from bot.domain import ChannelIdentity, Member, Role
from bot.ports import UnitOfWorkFactory
from tests.storage.test_contract import T0, at, seed, seeded


async def test_a_member_who_left_keeps_their_row_but_is_not_listed(
    uow_factory: UnitOfWorkFactory,
) -> None:
    s = await seeded(uow_factory)
    maria = Member(
        household_id=s.household.id,
        name="Maria Ruiz",
        role=Role.MEMBER,
        phone="+12025550199",
        joined_at=T0,
    )
    async with uow_factory() as uow:
        await uow.members.add(maria)
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.members.find_by_contact(
            household_id=s.household.id, contact="+12025550199"
        )
        assert found == maria
        assert [m.name for m in await uow.members.list_for_household(s.household.id)] == [
            "Ana Lopez",
            "Maria Ruiz",
        ]
        locked = await uow.members.get(maria.id, for_update=True)
        assert locked is not None
        locked.left_at = at(5)
        locked.name = "María Ruiz"
        await uow.members.update(locked)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.members.get(maria.id) == locked
        assert await uow.members.list_for_household(s.household.id) == [s.head]
        assert (
            await uow.members.find_by_contact(household_id=s.household.id, contact="+12025550199")
            is None
        )


async def test_unlinking_a_member_deletes_only_their_chat_accounts(
    uow_factory: UnitOfWorkFactory,
) -> None:
    s = await seeded(uow_factory)
    maria = Member(household_id=s.household.id, name="Maria Ruiz", role=Role.MEMBER)
    accounts = [
        ChannelIdentity(platform="telegram", external_id="42", member_id=maria.id, chat_id="42"),
        ChannelIdentity(platform="slack", external_id="U1", member_id=maria.id, chat_id="D1"),
    ]
    anas = ChannelIdentity(platform="telegram", external_id="7", member_id=s.head.id)
    async with uow_factory() as uow:
        await uow.members.add(maria)
        for account in [*accounts, anas]:
            await uow.identities.add(account)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.identities.unlink_member(maria.id) == 2
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.identities.list_for_member(maria.id) == []
        assert await uow.identities.get(platform="telegram", external_id="42") is None
        assert await uow.identities.list_for_member(s.head.id) == [anas]
        assert await uow.identities.unlink_member(maria.id) == 0


async def test_a_head_request_is_kept_and_the_sweep_finds_only_lapsed_ones(
    uow_factory: UnitOfWorkFactory,
) -> None:
    s = await seeded(uow_factory)
    async with uow_factory() as uow:
        other = await seed(uow, address="3 Elm Road")
        quiet = await seed(uow, address="9 Pine Court")
        await uow.commit()
    async with uow_factory() as uow:
        old = await uow.households.get(s.household.id, for_update=True)
        recent = await uow.households.get(other.household.id, for_update=True)
        assert old is not None and recent is not None
        old.head_request_member_id, old.head_request_at = s.head.id, at(0)
        recent.head_request_member_id, recent.head_request_at = other.head.id, at(60 * 24 * 6)
        await uow.households.update(old)
        await uow.households.update(recent)
        await uow.commit()
    week = timedelta(days=7)
    async with uow_factory() as uow:
        assert await uow.households.get(s.household.id) == old
        assert old.open_head_request(at(1)) == s.head.id
        assert old.open_head_request(T0 + week) is None
        lapsing = await uow.households.list_lapsing_head_requests(
            made_before=at(60 * 24 * 7 + 1) - week, limit=10
        )
        assert [h.id for h in lapsing] == [s.household.id]
        everything = await uow.households.list_lapsing_head_requests(
            made_before=at(60 * 24 * 30), limit=10
        )
        assert [h.id for h in everything] == [s.household.id, other.household.id]
        assert quiet.household.id not in {h.id for h in everything}
        assert (
            len(
                await uow.households.list_lapsing_head_requests(
                    made_before=at(60 * 24 * 30), limit=1
                )
            )
            == 1
        )
