"""The contract of the chat updates taken in (:class:`bot.ports.InboundUpdateRepository`), on the
in-memory twin and on SQL storage alike; and, on SQL, two processes taking over at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.domain import Conversation, InboundReceipt, InboundUpdate
from bot.ports import UnitOfWorkFactory
from storage import Database

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def update(
    external_id: str, sender: str, *, owner: str = "one", lease: float = 15
) -> InboundUpdate:
    return InboundUpdate(
        source="telegram",
        external_id=external_id,
        sender=sender,
        payload='{"update_id": 1, "text": "Maria Ruiz \\u00e9"}',
        received_at=at(0),
        owner=owner,
        lease_until=at(lease),
    )


async def add(uow_factory: UnitOfWorkFactory, *updates: InboundUpdate) -> list[int]:
    async with uow_factory() as uow:
        ids = [await uow.updates.add(u) for u in updates]
        await uow.commit()
    return ids


async def test_an_update_is_kept_as_it_came_with_ids_in_order(
    uow_factory: UnitOfWorkFactory,
) -> None:
    first, second = update("b:1", "ana"), update("b:2", "ana")
    ids = await add(uow_factory, first, second)
    assert ids[0] < ids[1] and [first.id, second.id] == ids
    async with uow_factory() as uow:
        assert await uow.updates.get(ids[0]) == first
        assert await uow.updates.get(ids[1], for_update=True) == second
        assert await uow.updates.get(ids[1] + 1000) is None


async def test_only_an_older_update_without_replies_of_the_same_sender_is_earlier(
    uow_factory: UnitOfWorkFactory,
) -> None:
    ana_1, sam_1, ana_2, ana_3 = await add(
        uow_factory,
        update("b:1", "ana"),
        update("b:2", "sam"),
        update("b:3", "ana"),
        update("b:4", "ana"),
    )
    async with uow_factory() as uow:
        assert not await uow.updates.earlier_unhandled(
            source="telegram", sender="ana", before=ana_1
        )
        assert await uow.updates.earlier_unhandled(source="telegram", sender="ana", before=ana_2)
        assert not await uow.updates.earlier_unhandled(
            source="telegram", sender="sam", before=sam_1
        )
        assert not await uow.updates.earlier_unhandled(source="slack", sender="ana", before=ana_3)
        handled = await uow.updates.get(ana_1, for_update=True)
        assert handled is not None
        handled.replies = '[{"text": "What is their full name?"}]'
        await uow.updates.save(handled)
        await uow.commit()
    async with uow_factory() as uow:
        # Ana's first has its replies: her second is no longer early; her third still is.
        assert not await uow.updates.earlier_unhandled(
            source="telegram", sender="ana", before=ana_2
        )
        assert await uow.updates.earlier_unhandled(source="telegram", sender="ana", before=ana_3)
        assert (await uow.updates.get(ana_1)).replies == '[{"text": "What is their full name?"}]'  # type: ignore[union-attr]


async def test_only_the_holder_finishes_an_update(uow_factory: UnitOfWorkFactory) -> None:
    (kept,) = await add(uow_factory, update("b:1", "ana", owner="one"))
    async with uow_factory() as uow:
        # taken over since: not "one"'s to finish
        assert await uow.updates.finish([kept], owner="two") == 0
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.updates.get(kept) is not None
    async with uow_factory() as uow:
        assert await uow.updates.finish([kept], owner="one") == 1
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.updates.get(kept) is None


async def test_finish_forgets_several_at_once_only_the_holders(
    uow_factory: UnitOfWorkFactory,
) -> None:
    ids = await add(
        uow_factory,
        update("c:1", "ana", owner="one"),
        update("c:2", "bob", owner="two"),
        update("c:3", "cy", owner="one"),
    )
    async with uow_factory() as uow:
        assert await uow.updates.finish([*ids, 10**9], owner="one") == 2
        await uow.commit()
    async with uow_factory() as uow:
        assert [await uow.updates.get(i) is None for i in ids] == [True, False, True]
    async with uow_factory() as uow:
        assert await uow.updates.finish([], owner="one") == 0


async def test_take_in_stores_an_update_once_with_its_receipt(
    uow_factory: UnitOfWorkFactory,
) -> None:
    first = update("d:1", "ana")
    async with uow_factory() as uow:
        assert await uow.updates.take_in(first) is True
        await uow.commit()
    assert first.id is not None
    again = update("d:1", "ana")  # the platform sent it again
    async with uow_factory() as uow:
        assert await uow.updates.take_in(again) is False
        await uow.commit()
    assert again.id is None
    async with uow_factory() as uow:
        stored = await uow.updates.get(first.id)
        assert stored is not None and stored.payload == first.payload
        assert stored.owner == first.owner and stored.replies is None
        # the receipt is stored too: a later delivery is known even once the update is gone
        assert await uow.receipts.first_time(InboundReceipt("telegram", "d:1", T0)) is False
    async with uow_factory() as uow:
        await uow.updates.finish([first.id], owner=first.owner)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.updates.take_in(update("d:1", "ana")) is False
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.updates.get(first.id) is None


async def test_claim_takes_ended_leases_oldest_first_with_one_attempt_more(
    uow_factory: UnitOfWorkFactory,
) -> None:
    ids = await add(
        uow_factory,
        update("b:1", "ana", lease=10),
        update("b:2", "sam", lease=30),  # still held at 20 s
        update("b:3", "ana", lease=5),
        update("b:4", "sam", lease=20),  # ends exactly at 20 s: taken
    )
    async with uow_factory() as uow:
        taken = await uow.updates.claim(
            source="telegram", now=at(20), owner="two", lease_until=at(35), limit=10
        )
        await uow.commit()
    assert [u.id for u in taken] == [ids[0], ids[2], ids[3]]
    assert {(u.owner, u.lease_until, u.attempts) for u in taken} == {("two", at(35), 1)}
    async with uow_factory() as uow:
        assert (await uow.updates.get(ids[0])) == taken[0]
        held = await uow.updates.get(ids[1])
        assert held is not None and (held.owner, held.attempts) == ("one", 0)
        # At 30 s Sam's first lease has ended too; the three taken are held until 35 s.
        later = await uow.updates.claim(
            source="telegram", now=at(30), owner="three", lease_until=at(45), limit=10
        )
        assert [(u.id, u.owner, u.attempts) for u in later] == [(ids[1], "three", 1)]
        await uow.commit()
    async with uow_factory() as uow:
        again = await uow.updates.claim(
            source="slack", now=at(100), owner="three", lease_until=at(115), limit=10
        )
        assert again == []  # another platform's updates only


async def test_claim_narrowed_to_a_senders_older_updates_and_limited(
    uow_factory: UnitOfWorkFactory,
) -> None:
    ids = await add(
        uow_factory,
        update("b:1", "ana", lease=1),
        update("b:2", "sam", lease=1),
        update("b:3", "ana", lease=1),
        update("b:4", "ana", lease=1),
    )
    async with uow_factory() as uow:
        taken = await uow.updates.claim(
            source="telegram",
            now=at(2),
            owner="two",
            lease_until=at(17),
            limit=10,
            sender="ana",
            before=ids[3],
        )
        assert [u.id for u in taken] == [ids[0], ids[2]]
        first = await uow.updates.claim(
            source="telegram", now=at(2), owner="two", lease_until=at(17), limit=1
        )
        assert [u.id for u in first] == [ids[1]]  # Ana's are held by now; Sam's is the oldest
        assert (
            await uow.updates.claim(
                source="telegram", now=at(2), owner="two", lease_until=at(17), limit=0
            )
            == []
        )


async def test_extend_moves_only_the_holders_leases(uow_factory: UnitOfWorkFactory) -> None:
    mine, theirs = await add(
        uow_factory, update("b:1", "ana", owner="one"), update("b:2", "sam", owner="two")
    )
    async with uow_factory() as uow:
        assert await uow.updates.extend([mine, theirs], owner="one", lease_until=at(60)) == 1
        assert await uow.updates.extend([], owner="one", lease_until=at(60)) == 0
        await uow.commit()
    async with uow_factory() as uow:
        assert (await uow.updates.get(mine)).lease_until == at(60)  # type: ignore[union-attr]
        assert (await uow.updates.get(theirs)).lease_until == at(15)  # type: ignore[union-attr]


async def test_two_processes_taking_over_at_once_never_take_the_same_update(
    two_databases: tuple[Database, ...],
) -> None:
    """On PostgreSQL the rows are claimed with ``SKIP LOCKED``; SQLite runs one unit of work
    at a time. Either way each ended lease goes to exactly one of them."""
    one, two = two_databases
    await add(one.uow, *(update(f"b:{n}", f"person-{n % 7}", lease=1) for n in range(60)))

    async def take(database: Database, owner: str) -> list[int]:
        taken: list[int] = []
        for _ in range(8):
            async with database.uow() as uow:
                got = await uow.updates.claim(
                    source="telegram", now=at(2), owner=owner, lease_until=at(17), limit=5
                )
                await asyncio.sleep(0.01)  # hold the rows a moment, as a busy process would
                await uow.commit()
            taken += [u.id for u in got if u.id is not None]
        return taken

    first, second = await asyncio.gather(take(one, "one"), take(two, "two"))
    assert not set(first) & set(second)
    assert len(first) + len(second) == 60


async def test_two_processes_taking_in_one_delivery_at_once_store_it_once(
    two_databases: tuple[Database, ...],
) -> None:
    """A platform's retry reaching another process while the first delivery is being taken
    in: the receipt's key makes one of them wait, and only one stores it."""
    one, two = two_databases

    async def take(database: Database, owner: str) -> bool:
        async with database.uow() as uow:
            taken = await uow.updates.take_in(update("e:1", "ana", owner=owner))
            await uow.commit()
        return taken

    assert sorted(await asyncio.gather(take(one, "a"), take(two, "b"))) == [False, True]
    assert await asyncio.gather(take(one, "a"), take(two, "b")) == [False, False]
    async with one.uow() as uow:
        claimed = await uow.updates.claim(
            source="telegram", now=at(100), owner="c", lease_until=at(200), limit=10
        )
    assert len(claimed) == 1


async def test_renewing_leases_skips_an_update_whose_step_is_running(
    two_databases: tuple[Database, ...],
) -> None:
    """The renewal never waits for a step (PostgreSQL: a step holds its update's row): it
    moves the other leases at once, and the held one at its next turn."""
    one, two = two_databases
    ids = await add(one.uow, *(update(f"f:{n}", f"person-{n}", lease=1) for n in range(3)))

    async def renew() -> int:
        async with two.uow() as uow:
            moved = await uow.updates.extend(ids, owner="one", lease_until=at(60), skip_locked=True)
            await uow.commit()
        return moved

    if one.engine.dialect.name == "postgresql":
        async with one.uow() as stepping:
            assert await stepping.updates.get(ids[1], for_update=True) is not None
            assert await asyncio.wait_for(renew(), timeout=5) == 2
        async with one.uow() as uow:
            assert [(await uow.updates.get(i)).lease_until for i in ids] == [  # type: ignore[union-attr]
                at(60),
                at(1),
                at(60),
            ]
    assert await renew() == 3


async def test_a_step_locks_its_update_and_the_persons_conversation_together(
    uow_factory: UnitOfWorkFactory,
) -> None:
    (ana_update,) = await add(uow_factory, update("g:1", "ana"))
    ana = Conversation("telegram", "ana", "invite.name", {"method": "sms"}, at(5))
    async with uow_factory() as uow:
        await uow.conversations.save(ana)
        await uow.commit()
    async with uow_factory() as uow:
        found, conversation = await uow.updates.lock_step(
            ana_update, platform="telegram", user_id="ana"
        )
        assert found is not None and found.external_id == "g:1" and conversation == ana
        # a person with no conversation yet, an update done with, or neither
        found, conversation = await uow.updates.lock_step(
            ana_update, platform="telegram", user_id="bob"
        )
        assert found is not None and conversation is None
        assert await uow.updates.lock_step(
            ana_update + 1000, platform="telegram", user_id="ana"
        ) == (None, None)
        assert await uow.updates.lock_step(ana_update + 1000, platform="slack", user_id="ana") == (
            None,
            None,
        )


async def test_a_second_step_of_the_person_waits_for_the_first(
    two_databases: tuple[Database, ...],
) -> None:
    """On PostgreSQL the conversation is held until the step commits, and the waiting step
    then reads what it committed; SQLite runs one unit of work at a time."""
    one, two = two_databases
    first, second = await add(one.uow, update("h:1", "ana"), update("h:2", "ana"))
    async with one.uow() as uow:
        await uow.conversations.save(Conversation("telegram", "ana", "idle", {}, at(1)))
        await uow.commit()
    if one.engine.dialect.name != "postgresql":
        return
    async with one.uow() as stepping:
        _, conversation = await stepping.updates.lock_step(
            first, platform="telegram", user_id="ana"
        )
        assert conversation is not None

        async def next_step() -> Conversation | None:
            async with two.uow() as uow:
                return (await uow.updates.lock_step(second, platform="telegram", user_id="ana"))[1]

        waiting = asyncio.create_task(next_step())
        await asyncio.sleep(0.3)
        assert not waiting.done()
        conversation.state, conversation.updated_at = "invite.method", at(2)
        await stepping.conversations.save(conversation)
        await stepping.commit()
    seen = await asyncio.wait_for(waiting, timeout=5)
    assert seen is not None and seen.state == "invite.method" and seen.updated_at == at(2)


async def test_an_id_is_never_given_again_once_its_update_is_gone(
    uow_factory: UnitOfWorkFactory,
) -> None:
    """The table is empty most of the time; a leftover reference to a handled update must
    never name the next one (SQLite's AUTOINCREMENT, PostgreSQL's sequence)."""
    (first,) = await add(uow_factory, update("b:1", "ana"))
    async with uow_factory() as uow:
        await uow.updates.finish([first], owner="one")
        await uow.commit()
    (second,) = await add(uow_factory, update("b:2", "bob"))
    assert second > first


async def test_old_updates_are_purged(uow_factory: UnitOfWorkFactory) -> None:
    old = update("b:1", "ana")
    new = update("b:2", "ana")
    new.received_at = at(3600)
    ids = await add(uow_factory, old, new)
    async with uow_factory() as uow:
        assert await uow.updates.purge(before=at(60)) == 1
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.updates.get(ids[0]) is None and await uow.updates.get(ids[1]) == new
