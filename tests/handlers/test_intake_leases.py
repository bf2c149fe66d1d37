"""Leases around a step that takes longer than a lease (PostgreSQL, where a step holds its
update's row and the renewal skips such rows instead of waiting for them): the update stays
its process's, so no other process takes it over and sends its replies a second time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.context import SystemClock
from bot.domain import InboundUpdate
from bot.intake import Inbound
from handlers.intake import DurableIntake
from tests.storage.databases import fresh_databases

LEASE = timedelta(seconds=3)


@pytest.mark.postgres
async def test_a_step_longer_than_a_lease_keeps_its_update(tmp_path: Path) -> None:
    async with fresh_databases("postgresql", tmp_path, count=2) as (one, other):
        after_commit: list[datetime] = []

        async def slow_step(update: InboundUpdate, inbound: Inbound) -> None:
            async with one.uow() as uow:  # the step: its row held longer than a lease
                assert await uow.updates.get(inbound.id, for_update=True) is not None
                await asyncio.sleep(1.4 * LEASE.total_seconds())
                await uow.commit()
            # The replies on their way: the lease has ended during the step, and the periodic
            # renewal is up to a third of a lease away.
            await asyncio.sleep(0.05)
            async with one.uow() as uow:
                held = await uow.updates.get(inbound.id)
                assert held is not None
                after_commit.append(held.lease_until)
            # meanwhile another process looks for leases that ended: none
            async with other.uow() as uow:
                now = datetime.now(UTC)
                taken = await uow.updates.claim(
                    source="telegram", now=now, owner="other", lease_until=now + LEASE, limit=9
                )
                await uow.commit()
            assert taken == []

        intake = DurableIntake(
            source="telegram",
            uow_factory=one.uow,
            clock=SystemClock(),
            handler=slow_step,
            lease=LEASE,
        )
        update = await intake.accept(external_id="1", sender="ana", payload="{}")
        assert update is not None
        stop = asyncio.Event()
        leases = asyncio.create_task(intake.run(stop))
        try:
            await asyncio.wait_for(intake.handle(update), timeout=20)
        finally:
            stop.set()
            await leases
            await intake.drain()
        assert after_commit and after_commit[0] > datetime.now(UTC)
        async with one.uow() as uow:
            assert await uow.updates.get(update.id or 0) is None  # handled once, forgotten
