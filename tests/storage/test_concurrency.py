"""Several dispatchers on one outbox never send the same message twice.

Each test uses two :class:`Database` objects on one database, as two processes would (their
own engines and pools). PostgreSQL takes rows with ``FOR UPDATE SKIP LOCKED``; SQLite makes
every transaction ``BEGIN IMMEDIATE``, so the second claimer waits for the first to commit.
"""

from __future__ import annotations

import asyncio
import itertools

from bot.domain import Channel, OutboxMessage, Route
from storage import Database
from tests.storage.test_contract import at, message

ROUTES = [Route(Channel.SMS)]


async def queue(database: Database, count: int) -> list[OutboxMessage]:
    messages = [message(created_at=at(n)) for n in range(count)]
    async with database.uow() as uow:
        for each in messages:
            await uow.outbox.add(each)
        await uow.commit()
    return messages


async def claim(database: Database, limit: int) -> list[str]:
    async with database.uow() as uow:
        claimed = await uow.outbox.claim_due(
            now=at(100), routes=ROUTES, limit=limit, lease_until=at(200)
        )
        await uow.commit()
    return [m.id for m in claimed]


async def test_a_claim_in_progress_keeps_its_rows(
    sql_backend: str, two_databases: tuple[Database, Database]
) -> None:
    one, two = two_databases
    queued = await queue(one, 5)
    async with one.uow() as first:
        mine = await first.outbox.claim_due(
            now=at(100), routes=ROUTES, limit=3, lease_until=at(200)
        )
        other = asyncio.create_task(claim(two, limit=10))
        if sql_backend == "postgresql":
            # SKIP LOCKED: the second claimer takes the rest at once, without waiting.
            await asyncio.wait_for(other, timeout=5)
        else:
            # BEGIN IMMEDIATE: the second claimer waits for the first transaction to end.
            await asyncio.sleep(0.3)
            assert not other.done()
        await first.commit()
    theirs = await other
    assert [m.id for m in mine] == [m.id for m in queued[:3]]
    assert theirs == [m.id for m in queued[3:]]


async def test_racing_dispatchers_claim_every_message_exactly_once(
    two_databases: tuple[Database, Database],
) -> None:
    one, two = two_databases
    queued = await queue(one, 40)
    claimed: list[str] = []

    async def dispatcher(database: Database) -> None:
        while batch := await claim(database, limit=3):
            claimed.extend(batch)

    # Four dispatchers in each "process".
    await asyncio.gather(
        *(dispatcher(database) for database in itertools.chain(*[two_databases] * 4))
    )
    assert sorted(claimed) == sorted(m.id for m in queued)  # each once, none lost
    async with two.uow() as uow:
        for each in queued:
            stored = await uow.outbox.get(each.id)
            assert stored is not None and stored.next_attempt_at == at(200)
