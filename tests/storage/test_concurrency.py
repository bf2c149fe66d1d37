"""Several dispatchers on one outbox never send the same message twice, and several workers
given the same webhook delivery handle it once.

Each test uses two :class:`Database` objects on one database, as two processes would (their
own engines and pools). PostgreSQL takes rows with ``FOR UPDATE SKIP LOCKED``, and a second
insert of a key waits for the transaction that inserted it first; SQLite makes every
transaction ``BEGIN IMMEDIATE``, so the second claimer waits for the first to commit.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest

from bot.domain import Channel, InboundReceipt, OutboxMessage, Route
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


RECEIPT = InboundReceipt("twilio", "SM0123456789abcdef", received_at=at(0))


async def handle(database: Database, started: asyncio.Event | None = None) -> bool:
    """A webhook worker: records the delivery, and commits."""
    async with database.uow() as uow:
        if started is not None:
            started.set()
        new = await uow.receipts.first_time(RECEIPT)
        await uow.commit()
    return new


@pytest.mark.parametrize("first_ends", ["commit", "rollback"])
async def test_a_second_delivery_waits_for_the_first_and_follows_its_outcome(
    first_ends: str, two_databases: tuple[Database, Database]
) -> None:
    one, two = two_databases
    async with one.uow() as first:
        assert await first.receipts.first_time(RECEIPT) is True
        started = asyncio.Event()
        second = asyncio.create_task(handle(two, started))
        await started.wait()
        # PostgreSQL: the second insert of the key waits for the first transaction.
        # SQLite: the second transaction waits to begin.
        await asyncio.sleep(0.3)
        assert not second.done(), "the second delivery did not wait for the first"
        if first_ends == "commit":
            await first.commit()
        else:
            await first.rollback()  # the first worker's handling failed
    # Committed: the retry is a duplicate. Rolled back: the retry is the one to handle it.
    assert await asyncio.wait_for(second, timeout=5) is (first_ends == "rollback")
    async with one.uow() as uow:
        assert await uow.receipts.first_time(RECEIPT) is False


async def test_racing_deliveries_of_one_receipt_are_handled_exactly_once(
    two_databases: tuple[Database, Database],
) -> None:
    workers = list(itertools.chain(*[two_databases] * 4))  # four in each "process"
    barrier = asyncio.Barrier(len(workers))

    async def worker(database: Database) -> bool:
        async with database.uow() as uow:
            await barrier.wait()  # all begin at once
            new = await uow.receipts.first_time(RECEIPT)
            await asyncio.sleep(0.05)  # hold the transaction open while the others insert
            await uow.commit()
        return new

    results = await asyncio.gather(*(worker(database) for database in workers))
    assert sorted(results) == [False] * (len(workers) - 1) + [True]
