"""Outbox messages with an ordering key (a household's webhooks): numbered in the order their
transactions commit, and taken by a dispatcher one at a time per key, in that order. The same
assertions on the in-memory fakes and on each SQL database; the commit-order test on two
:class:`Database` objects, as two processes."""

from __future__ import annotations

import asyncio

from bot.domain import Channel, OutboxMessage, OutboxStatus, Route
from bot.ports import UnitOfWorkFactory
from storage import Database
from tests.storage.test_contract import at, message

ROUTES = [Route(Channel.WEBHOOK), Route(Channel.SMS)]


def webhook(key: str, name: str, minute: int = 0) -> OutboxMessage:
    return message(
        channel=Channel.WEBHOOK,
        destination=name,
        body="{}",
        ordering_key=key,
        created_at=at(minute),
        next_attempt_at=at(minute),
    )


async def add(uow_factory: UnitOfWorkFactory, *messages: OutboxMessage) -> None:
    async with uow_factory() as uow:
        for each in messages:
            await uow.outbox.add(each)
        await uow.commit()


async def due(uow_factory: UnitOfWorkFactory, *, now: int = 100, keep: bool = False) -> list[str]:
    """What a dispatcher would take at ``at(now)``: leased for 10 minutes if ``keep``."""
    async with uow_factory() as uow:
        claimed = await uow.outbox.claim_due(
            now=at(now), routes=ROUTES, limit=50, lease_until=at(now + 10)
        )
        if keep:
            await uow.commit()
    return sorted(m.destination for m in claimed)


async def finish(uow_factory: UnitOfWorkFactory, message_id: str, status: OutboxStatus) -> None:
    async with uow_factory() as uow:
        found = await uow.outbox.get(message_id)
        assert found is not None
        found.status = status
        await uow.outbox.update(found)
        await uow.commit()


async def test_messages_of_a_key_are_numbered_in_order_across_transactions(
    uow_factory: UnitOfWorkFactory,
) -> None:
    first, second = webhook("oak", "a"), webhook("oak", "b")
    await add(uow_factory, first, second, webhook("elm", "x"))
    third = webhook("oak", "c")
    await add(uow_factory, third)
    async with uow_factory() as uow:
        got = [await uow.outbox.get(m.id) for m in (first, second, third)]
    assert [m.sequence for m in got if m is not None] == [1, 2, 3]


async def test_a_key_waits_for_its_first_pending_message_and_no_other_key_does(
    uow_factory: UnitOfWorkFactory,
) -> None:
    a, b, c = webhook("oak", "oak-1", 1), webhook("oak", "oak-2", 0), webhook("oak", "oak-3")
    x = webhook("elm", "elm-1")
    plain = message(destination="+12025550100")  # no key: waits for nothing
    await add(uow_factory, a, b, c, x, plain)
    # b is older by the clock, yet a was written first: a goes first.
    assert await due(uow_factory) == ["+12025550100", "elm-1", "oak-1"]
    assert await due(uow_factory, keep=True) == ["+12025550100", "elm-1", "oak-1"]
    # Leased (being sent, or waiting for a retry): still pending, so oak-2 still waits.
    assert await due(uow_factory, now=105) == []
    await finish(uow_factory, a.id, OutboxStatus.SENT)
    assert await due(uow_factory, now=105) == ["oak-2"]  # the others are leased
    assert await due(uow_factory, now=110) == ["+12025550100", "elm-1", "oak-2"]
    await finish(uow_factory, b.id, OutboxStatus.FAILED)  # failed for good: the next goes
    assert await due(uow_factory, now=110) == ["+12025550100", "elm-1", "oak-3"]


async def test_numbers_follow_the_order_of_commits_not_of_writes(
    sql_backend: str, two_databases: tuple[Database, Database]
) -> None:
    one, two = two_databases
    early, late = webhook("oak", "written first"), webhook("oak", "committed first")
    async with one.uow() as slow:
        if sql_backend == "postgresql":  # (SQLite would make the other wait for this one)
            assert await slow.outbox.get(early.id) is None  # the transaction has begun
        await slow.outbox.add(early)
        await add(two.uow, late)  # another process commits meanwhile
        await slow.commit()
    async with one.uow() as uow:
        got = {m.destination: m.sequence for m in [await uow.outbox.get(early.id)] if m}
        got |= {m.destination: m.sequence for m in [await uow.outbox.get(late.id)] if m}
    assert got == {"committed first": 1, "written first": 2}
    assert await due(one.uow) == ["committed first"]


async def test_two_transactions_committing_one_key_at_once_get_distinct_numbers(
    two_databases: tuple[Database, Database],
) -> None:
    one, two = two_databases
    batches = [[webhook("oak", f"{side}-{n}") for n in range(20)] for side in ("one", "two")]
    await asyncio.gather(add(one.uow, *batches[0]), add(two.uow, *batches[1]))
    async with one.uow() as uow:
        numbers: dict[str, int] = {
            m.destination: m.sequence
            for m in [await uow.outbox.get(x.id) for batch in batches for x in batch]
            if m is not None and m.sequence is not None
        }
    assert sorted(numbers.values()) == list(range(1, 41))
    for batch in batches:  # each transaction's messages together, in the order written
        mine = [numbers[m.destination] for m in batch]
        assert mine == list(range(mine[0], mine[0] + 20))


async def test_a_rolled_back_transaction_takes_no_number(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.outbox.add(webhook("oak", "never"))
        await uow.rollback()
    kept = webhook("oak", "kept")
    await add(uow_factory, kept)
    async with uow_factory() as uow:
        got = await uow.outbox.get(kept.id)
    assert got is not None and got.sequence == 1
    assert await due(uow_factory) == ["kept"]
