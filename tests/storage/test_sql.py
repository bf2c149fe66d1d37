"""What only the SQL storage promises: constraints, time zones, row locks, the mapper."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, StatementError

from bot.domain import (
    ChannelIdentity,
    Community,
    Household,
    InboundUpdate,
    Invitation,
    InvitationStatus,
    Member,
    Role,
)
from storage import Database
from storage.mapping import RowMapper
from storage.repositories import SqlUnitOfWork
from storage.tables import CommunityRow, metadata
from tests.storage.test_contract import T0, Seed, at, invitation, seed


async def seeded(database: Database) -> Seed:
    async with database.uow() as uow:
        found = await seed(uow)
        await uow.commit()
    return found


async def test_a_chat_account_links_to_one_member_only(database: Database) -> None:
    s = await seeded(database)
    async with database.uow() as uow:
        await uow.identities.add(ChannelIdentity("slack", "U1", member_id=s.head.id))
        await uow.identities.add(ChannelIdentity("slack", "U1", member_id=s.head.id))
        with pytest.raises(IntegrityError):  # writes are sent by the commit at the latest
            await uow.commit()
        await uow.rollback()
    async with database.uow() as uow:
        assert await uow.identities.get(platform="slack", external_id="U1") is None
        # The same user id on another platform is another account.
        await uow.identities.add(ChannelIdentity("slack", "U1", member_id=s.head.id))
        await uow.identities.add(ChannelIdentity("telegram", "U1", member_id=s.head.id))
        await uow.commit()


async def test_community_names_are_unique_in_any_case(database: Database) -> None:
    async with database.uow() as uow:
        await uow.communities.add(Community(name="Oak Ridge HOA"))
        await uow.communities.add(Community(name="OAK RIDGE hoa"))
        with pytest.raises(IntegrityError):
            await uow.commit()


async def test_access_codes_are_unique(database: Database) -> None:
    s = await seeded(database)
    async with database.uow() as uow:
        await uow.households.add(
            Household(
                community_id=s.community.id,
                address="14 Oak Lane",
                access_code_hash=s.household.access_code_hash,
            )
        )
        with pytest.raises(IntegrityError):
            await uow.commit()


@pytest.mark.parametrize(
    "orphan",
    [
        Member(household_id="0" * 32, name="Nobody", role=Role.MEMBER),
        Household(community_id="0" * 32, address="1 Nowhere", access_code_hash="h"),
    ],
    ids=["member", "household"],
)
async def test_foreign_keys_are_enforced(database: Database, orphan: Member | Household) -> None:
    async with database.uow() as uow:
        if isinstance(orphan, Member):
            await uow.members.add(orphan)
        else:
            await uow.households.add(orphan)
        with pytest.raises(IntegrityError):
            await uow.commit()


async def test_an_instant_in_any_zone_comes_back_in_utc(database: Database) -> None:
    s = await seeded(database)
    tokyo = timezone(timedelta(hours=9))
    sent = datetime(2026, 11, 25, 8, 30, 15, 123456, tzinfo=tokyo)
    stored = invitation(s, sent_at=sent, created_at=sent)
    async with database.uow() as uow:
        await uow.invitations.add(stored)
        await uow.commit()
    async with database.uow() as uow:
        got = await uow.invitations.get(stored.id)
        assert got is not None
        assert got.sent_at == sent and got.sent_at is not None and got.sent_at.tzinfo is UTC
        assert got.sent_at.isoformat() == "2026-11-24T23:30:15.123456+00:00"
        # Ordering and comparisons hold across zones: 23:30 UTC is after 12:00 UTC.
        assert await uow.invitations.count_created_by(member_id=s.head.id, since=at(11 * 60)) == 1


async def test_a_naive_datetime_is_refused(database: Database) -> None:
    async with database.uow() as uow:
        await uow.communities.add(Community(name="Oak", created_at=datetime(2026, 11, 24)))
        with pytest.raises(StatementError, match="naive datetime"):
            await uow.commit()
    async with database.uow() as uow:
        assert await uow.communities.list() == []


async def test_repositories_work_only_inside_the_unit_of_work(database: Database) -> None:
    uow = database.uow()
    with pytest.raises(RuntimeError, match="outside"):
        await uow.communities.list()
    async with uow:
        with pytest.raises(RuntimeError, match="already open"):
            await uow.__aenter__()
    with pytest.raises(RuntimeError, match="outside"):
        await uow.commit()


async def test_for_update_makes_a_second_writer_wait_for_the_first(database: Database) -> None:
    s = await seeded(database)
    stored = invitation(s)
    async with database.uow() as uow:
        await uow.invitations.add(stored)
        await uow.commit()

    async def bump(started: asyncio.Event | None = None) -> Invitation:
        async with database.uow() as uow:
            if started is not None:
                started.set()
            got = await uow.invitations.get(stored.id, for_update=True)
            assert got is not None
            got.send_count += 1
            await uow.invitations.update(got)
            await uow.commit()
            return got

    async with database.uow() as first:
        held = await first.invitations.get(stored.id, for_update=True)
        assert held is not None
        started = asyncio.Event()
        second = asyncio.create_task(bump(started))
        await started.wait()
        await asyncio.sleep(0.3)
        assert not second.done(), "the second writer did not wait for the lock"
        held.send_count += 1
        await first.invitations.update(held)
        await first.commit()
    assert (await second).send_count == 2  # read after the first commit: nothing lost
    async with database.uow() as uow:
        final = await uow.invitations.get(stored.id)
        assert final is not None and final.send_count == 2


async def test_an_update_writes_every_field_it_is_given(database: Database) -> None:
    s = await seeded(database)
    stored = invitation(s, sent_at=T0, member_id=s.head.id)
    async with database.uow() as uow:
        await uow.invitations.add(stored)
        await uow.commit()
    cleared = dataclasses.replace(stored, sent_at=None, member_id=None, origin_chat_id="c1")
    async with database.uow() as uow:
        await uow.invitations.update(cleared)
        await uow.commit()
    async with database.uow() as uow:
        assert await uow.invitations.get(stored.id) == cleared


def test_the_mapper_refuses_a_table_that_does_not_mirror_its_entity() -> None:
    @dataclasses.dataclass
    class Renamed:
        id: str
        title: str
        contact: str
        created_at: datetime | None
        telegram_group: str
        slack_channel: str
        timezone: str

    with pytest.raises(TypeError, match=r"missing columns \['title'\], extra columns \['name'\]"):
        RowMapper(Renamed, CommunityRow)


def test_every_table_has_a_repository_whose_mapper_checked_it() -> None:
    """The mapper's import-time check only covers tables a repository maps: all of them."""
    uow = SqlUnitOfWork(Database("sqlite+aiosqlite://").engine)
    mappers = [getattr(repository, "_mapper", None) for repository in vars(uow).values()]
    mapped = {mapper.row_type.__tablename__ for mapper in mappers if isinstance(mapper, RowMapper)}
    # But the counters of storage.ordering: no entity, read and written by one statement.
    assert mapped == set(metadata.tables) - {"outbox_sequences"}


@pytest.mark.parametrize("method", ["list_pending_for_contact", "list_pending_with_households"])
async def test_pending_invitations_listed_for_update_wait_and_leave_out_one_closed_meanwhile(
    database: Database, method: str
) -> None:
    s = await seeded(database)
    stored = invitation(s)
    async with database.uow() as uow:
        await uow.invitations.add(stored)
        await uow.commit()

    async def list_locked(started: asyncio.Event) -> list[object]:
        async with database.uow() as uow:
            started.set()
            found = await getattr(uow.invitations, method)(stored.contact, for_update=True)
            await uow.commit()
            return list(found)

    async with database.uow() as first:
        [held] = await first.invitations.list_pending_for_contact(stored.contact, for_update=True)
        started = asyncio.Event()
        second = asyncio.create_task(list_locked(started))
        await started.wait()
        await asyncio.sleep(0.3)
        assert not second.done(), "the second reader did not wait for the lock"
        held.status = InvitationStatus.ACCEPTED
        await first.invitations.update(held)
        await first.commit()
    assert await second == []  # read after the first commit: no longer pending


async def _kill_pooled_connection(database: Database) -> None:
    """The pool's one connection dies from the far end, as when the server restarts."""
    async with database.engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        if database.engine.dialect.name == "postgresql":
            pid = driver.get_server_pid()
        else:
            await driver.close()
    if database.engine.dialect.name == "postgresql":
        other = Database(database.url.render_as_string(hide_password=False))
        try:
            async with other.engine.connect() as connection:
                await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        finally:
            await other.dispose()
        await asyncio.sleep(0.2)  # the FATAL and the close reach the driver


async def test_a_dead_pooled_connection_costs_a_unit_of_work_nothing(database: Database) -> None:
    """The pool does not ping before lending (a round trip per transaction); a first statement
    that finds its connection dead is tried again on a new one."""
    s = await seeded(database)
    await database.engine.dispose()
    async with database.uow() as uow:  # one connection in the pool from here
        await uow.households.get(s.household.id)
    await _kill_pooled_connection(database)
    stored = invitation(s)
    async with database.uow() as uow:
        await uow.invitations.add(stored)
        await uow.commit()
    async with database.uow() as uow:
        assert await uow.invitations.get(stored.id) == stored


async def test_a_dead_pooled_connection_costs_a_statement_alone_nothing(
    database: Database,
) -> None:
    """``take_in`` and ``finish`` run alone (no ``BEGIN``, on PostgreSQL's fast path), and are
    tried again on a new connection like a transaction's first statement."""
    await database.engine.dispose()
    async with database.uow() as uow:  # one connection in the pool from here
        await uow.updates.get(1)
    await _kill_pooled_connection(database)
    update = InboundUpdate("telegram", "9:1", "ana", "{}", T0, "me", T0)
    async with database.uow() as uow:
        assert await uow.updates.take_in(update) is True
        await uow.commit()
    assert update.id is not None
    await _kill_pooled_connection(database)
    async with database.uow() as uow:
        assert await uow.updates.finish([update.id], owner="me") == 1
        await uow.commit()
    async with database.uow() as uow:
        assert await uow.updates.get(update.id) is None
