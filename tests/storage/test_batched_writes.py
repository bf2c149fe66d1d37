"""Writes wait for the unit of work's next statement or its commit, and go together.

On PostgreSQL's fast path a batch of them is one statement (``storage.executors._combined``),
elsewhere they go one at a time; these tests hold every way to the same outcome: the writes
applied in the order they were made, reads seeing them, a broken constraint failing the
commit with nothing of the batch stored, and an update of a row gone meanwhile inserting it
(as before).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from bot.domain import (
    Channel,
    ChannelIdentity,
    EventActor,
    HouseholdEvent,
    HouseholdEventKind,
    InvitationStatus,
    Member,
    OutboxMessage,
    Role,
)
from storage import Database
from storage.executors import _combined
from tests.storage.test_contract import T0, invitation
from tests.storage.test_sql import seeded


async def test_writes_are_applied_in_order_and_seen_by_the_next_read(database: Database) -> None:
    s = await seeded(database)
    stored = invitation(s)
    async with database.uow() as uow:
        await uow.invitations.add(stored)
        # The same row again: the insert is sent first, so the update finds it.
        await uow.invitations.update(dataclasses.replace(stored, status=InvitationStatus.CANCELLED))
        member = Member(household_id=s.household.id, name="Maria Ruiz", role=Role.MEMBER)
        await uow.members.add(member)
        await uow.identities.add(ChannelIdentity("sms", "+12025550199", member_id=member.id))
        got = await uow.invitations.get(stored.id)  # a read sends what waits before it
        assert got is not None and got.status is InvitationStatus.CANCELLED
        await uow.commit()
    async with database.uow() as uow:
        got = await uow.invitations.get(stored.id)
        assert got is not None and got.status is InvitationStatus.CANCELLED
        identity = await uow.identities.get(platform="sms", external_id="+12025550199")
        assert identity is not None and identity.member_id == member.id


async def test_a_broken_constraint_fails_the_commit_and_stores_nothing_of_the_batch(
    database: Database,
) -> None:
    s = await seeded(database)
    async with database.uow() as uow:
        fine = Member(household_id=s.household.id, name="Maria Ruiz", role=Role.MEMBER)
        await uow.members.add(fine)
        await uow.identities.add(ChannelIdentity("sms", "+12025550199", member_id=fine.id))
        await uow.identities.add(ChannelIdentity("sms", "+12025550188", member_id="0" * 32))
        with pytest.raises(IntegrityError):
            await uow.commit()
    async with database.uow() as uow:
        assert await uow.members.get(fine.id) is None
        assert await uow.identities.get(platform="sms", external_id="+12025550199") is None


async def test_an_update_of_a_row_gone_meanwhile_inserts_it(database: Database) -> None:
    s = await seeded(database)
    stored = invitation(s)
    async with database.uow() as uow:
        await uow.invitations.add(stored)
        await uow.commit()
    async with database.uow() as uow:
        read = await uow.invitations.get(stored.id)
        assert read is not None
        await uow.execute(text("DELETE FROM invitations WHERE id = :id"), {"id": stored.id})
        other = Member(household_id=s.household.id, name="Maria Ruiz", role=Role.MEMBER)
        await uow.members.add(other)  # in the same batch: the update's count is its own
        await uow.invitations.update(dataclasses.replace(read, status=InvitationStatus.DECLINED))
        await uow.commit()
    async with database.uow() as uow:
        got = await uow.invitations.get(stored.id)
        assert got == dataclasses.replace(read, status=InvitationStatus.DECLINED)
        assert await uow.members.get(other.id) == other


async def test_a_rolled_back_unit_of_work_sends_none_of_its_writes(database: Database) -> None:
    s = await seeded(database)
    member = Member(household_id=s.household.id, name="Maria Ruiz", role=Role.MEMBER)
    async with database.uow() as uow:
        await uow.members.add(member)
        await uow.rollback()
        await uow.communities.list()  # a new transaction: the dropped write stays dropped
        await uow.commit()
    async with database.uow() as uow:
        assert await uow.members.get(member.id) is None


@pytest.fixture
def statements(database: Database) -> Iterator[list[str]]:
    """The SQL of every statement the database was sent: asyncpg's query logger on each new
    pooled connection (PostgreSQL's fast path), SQLAlchemy's cursor events (elsewhere)."""
    sent: list[str] = []
    engine = database.engine.sync_engine
    if database.engine.dialect.name == "postgresql" and database.fast_path:

        def on_connect(dbapi_connection: Any, record: object) -> None:
            raw = dbapi_connection.driver_connection
            raw.add_query_logger(lambda logged: sent.append(logged.query))

        listened: tuple[str, Any] = ("connect", on_connect)
    else:

        def on_execute(connection: object, cursor: object, sql: str, *rest: object) -> None:
            sent.append(sql)

        listened = ("before_cursor_execute", on_execute)
    event.listen(engine, *listened)
    yield sent
    event.remove(engine, *listened)


async def test_an_accept_s_five_writes_are_one_statement_on_the_fast_path_else_in_order(
    database: Database, statements: list[str]
) -> None:
    s = await seeded(database)
    stored = invitation(s)
    async with database.uow() as uow:
        await uow.invitations.add(stored)
        await uow.commit()
    await database.engine.dispose()  # new connections, which log what they are sent
    statements.clear()
    async with database.uow() as uow:
        read = await uow.invitations.get(stored.id, for_update=True)
        assert read is not None
        member = Member(household_id=s.household.id, name="Maria Ruiz", role=Role.MEMBER)
        await uow.members.add(member)
        await uow.identities.add(ChannelIdentity("sms", stored.contact, member_id=member.id))
        await uow.invitations.update(
            dataclasses.replace(read, status=InvitationStatus.ACCEPTED, member_id=member.id)
        )
        message = OutboxMessage(
            channel=Channel.CHAT,
            platform="telegram",
            destination="42",
            body="Maria Ruiz joined",
            created_at=T0,
            next_attempt_at=T0,
        )
        await uow.outbox.add(message)
        accepted = HouseholdEvent(
            s.household.id, HouseholdEventKind.ACCEPTED, T0, EventActor.MEMBER, member.id
        )
        await uow.events.append(accepted)
        await uow.commit()
    writes = [q for q in statements if q.startswith(("WITH", "INSERT", "UPDATE"))]
    tables = ["INSERT INTO members ", "INSERT INTO channel_identities ", "UPDATE invitations "]
    tables += ["INSERT INTO outbox ", "INSERT INTO household_events "]
    if database.engine.dialect.name == "postgresql" and database.fast_path:
        assert len(writes) == 1, statements  # one round trip
        assert all(t in writes[0] for t in tables), writes[0]
        assert [writes[0].index(t) for t in tables] == sorted(writes[0].index(t) for t in tables)
    else:  # SQLite, or SQLAlchemy's execution: one at a time, in order
        assert [next(t for t in tables if q.startswith(t)) for q in writes] == tables
    async with database.uow() as uow:
        got = await uow.invitations.get(stored.id)
        assert got is not None and got.status is InvitationStatus.ACCEPTED
        assert await uow.outbox.get(message.id) == message
        assert await uow.members.get(member.id) == member
        assert await uow.events.list_for_household(s.household.id) == [accepted]


def test_statements_are_combined_with_their_parameters_renumbered() -> None:
    combined = _combined(
        ("INSERT INTO a (x, y) VALUES ($1, $2)", "UPDATE b SET x=$1 WHERE b.id = $2"), (2, 2)
    )
    assert combined == (
        "WITH w0 AS (INSERT INTO a (x, y) VALUES ($1, $2) RETURNING 1), "
        "w1 AS (UPDATE b SET x=$3 WHERE b.id = $4 RETURNING 1) "
        "SELECT (SELECT count(*) FROM w0) AS n0, (SELECT count(*) FROM w1) AS n1"
    )


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT a.x FROM a WHERE a.id = $1 AND a.y = $2",  # not a write
        "INSERT INTO a (x, y) VALUES ($1, 'literal $2')",  # a literal could hold "$n"
        "INSERT INTO a (x, y) VALUES ($1, $2) RETURNING a.x",  # rows of its own
        "INSERT INTO a (x, y) VALUES ($1, $3)",  # parameters not numbered 1..n
    ],
)
def test_a_statement_that_cannot_be_a_with_query_is_not_combined(sql: str) -> None:
    assert _combined(("DELETE FROM c WHERE c.id = $1", sql), (1, 2)) is None


async def test_begin_waits_for_the_first_write_or_lock_on_the_fast_path(
    database: Database, statements: list[str]
) -> None:
    """Plain reads before it run on their own (READ COMMITTED: each statement sees what had
    committed when it began, in a transaction or not), so a unit of work that only reads
    sends neither ``BEGIN`` nor ``ROLLBACK``; a write or a locking read begins the
    transaction first."""
    s = await seeded(database)
    stored = invitation(s)
    async with database.uow() as uow:
        await uow.invitations.add(stored)
        await uow.commit()
    await database.engine.dispose()
    statements.clear()
    async with database.uow() as uow:
        assert await uow.invitations.get(stored.id) == stored
        assert await uow.households.get(s.household.id) is not None
    await asyncio.sleep(0.05)  # asyncpg tells its query loggers soon after each query
    reading = list(statements)
    statements.clear()
    async with database.uow() as uow:
        assert await uow.households.get(s.household.id) is not None
        read = await uow.invitations.get(stored.id, for_update=True)
        assert read is not None
        await uow.invitations.update(dataclasses.replace(read, status=InvitationStatus.DECLINED))
        await uow.commit()
    await asyncio.sleep(0.05)
    writing = [q.split()[0] for q in statements]
    if database.engine.dialect.name == "postgresql" and database.fast_path:
        assert [q.split()[0] for q in reading] == ["SELECT", "SELECT"], reading
        assert writing == ["SELECT", "BEGIN", "SELECT", "UPDATE", "COMMIT"], statements
        assert "FOR NO KEY UPDATE" in statements[2]
    async with database.uow() as uow:
        got = await uow.invitations.get(stored.id)
        assert got is not None and got.status is InvitationStatus.DECLINED
