"""Signed webhooks from real ``invitebot worker`` processes, with one killed mid-send.

A household's whole life is written on the test's database (SQLite, then PostgreSQL) with the
composition root's :class:`bot.webhooks.WebhookPublisher` listening, so every event leaves its
webhooks in the outbox. A worker takes the first one to the receiver, which never answers,
and is killed there with SIGKILL; a second worker takes over once the dead one's lease runs
out. The receiver (which verifies every request with the ``standardwebhooks`` package) sees
every webhook exactly once by its ``webhook-id``, each household's in the order its changes
were made, and nothing is left in the outbox.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from bot.domain import Channel, OutboxStatus, Route
from bot.webhooks import ALL_TYPES, WebhookPublisher
from storage.tables import OutboxRow
from tests.fakes import FakeClock
from tests.handlers.test_webhooks import ELM_STREET, OAK_LANE, a_household_life
from tests.handlers.webhook_receiver import Hang, WebhookReceiver
from tests.system.cluster import Cluster, SystemDatabase, until
from tests.unit.conftest import World


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


async def webhook_states(db: SystemDatabase) -> dict[str, int]:
    """How many webhook outbox messages are in each state."""
    async with db.database.engine.connect() as connection:
        rows = await connection.execute(
            select(col(OutboxRow.status), func.count())
            .where(col(OutboxRow.channel) == Channel.WEBHOOK.value)
            .group_by(col(OutboxRow.status))
        )
        return {str(status): int(count) for status, count in rows.all()}


async def webhooks_claimable(db: SystemDatabase) -> list[str]:
    """The webhook ids a dispatcher could take a month from now, leased or not (the lease
    is not kept: the unit of work is never committed)."""
    far = datetime.now(UTC) + timedelta(days=30)
    async with db.database.uow() as uow:
        left = await uow.outbox.claim_due(
            now=far, routes=[Route(Channel.WEBHOOK)], limit=100, lease_until=far
        )
    return [m.subject for m in left]


async def test_a_worker_killed_mid_webhook_leaves_it_to_the_next_and_all_arrive_once_in_order(
    db: SystemDatabase, cluster: Cluster, receiver: WebhookReceiver
) -> None:
    db.database.on_event = WebhookPublisher()  # as the composition root wires it
    # The life moves its clock 8 days on (to expire an invitation): start it 9 days back, so
    # every webhook is due for the workers, which go by the real clock.
    world = World(
        uow_factory=db.database.uow, clock=FakeClock(datetime.now(UTC) - timedelta(days=9))
    )
    await a_household_life(world)
    expected = len(OAK_LANE) + len(ELM_STREET)
    assert await webhook_states(db) == {OutboxStatus.PENDING.value: expected}
    assert len(await webhooks_claimable(db)) == 2  # one at a time per household: the first

    cluster.env["INVITEBOT_WEBHOOK_URL"] = receiver.url
    cluster.env["INVITEBOT_WEBHOOK_SECRET"] = receiver.secret
    cluster.env["INVITEBOT_OUTBOX_LEASE_SECONDS"] = "2"
    cluster.env["INVITEBOT_WEBHOOK_TIMEOUT_SECONDS"] = "1"  # at most half the lease
    # The receiver takes the first request of each household in (they go at once) and never
    # answers them.
    receiver.respond_next(Hang(seconds=120), Hang(seconds=120))
    first = await cluster.worker("worker-1")
    await until(lambda: len(receiver.received) == 2, what="the first webhooks at the receiver")
    cluster.kill(first)
    hung = list(receiver.received)
    assert [r.answered for r in hung] == [None, None]
    assert {r.type for r in hung} == {"member.joined"}

    await cluster.worker("worker-2")
    await until(
        lambda: len(receiver.delivered()) == expected,
        within=60,
        what="every webhook delivered by the next worker",
    )
    # The receiver's answer comes before the worker records it: wait for the last record.
    await until(lambda: _all_sent(db, expected), within=15, what="every webhook recorded as sent")
    assert await webhooks_claimable(db) == []

    assert receiver.refused == []  # every request verified by the standardwebhooks package
    taken = receiver.taken()
    ids = Counter(r.webhook_id for r in taken)
    for unfinished in hung:  # the sends the dead worker never finished, done once
        assert ids[unfinished.webhook_id] == 1
    assert [ident for ident, n in ids.items() if n > 1] == []  # nothing sent twice
    assert len(taken) == expected
    assert [r.webhook_id for r in receiver.received] == [r.webhook_id for r in hung] + [
        r.webhook_id for r in taken
    ]

    by_household: dict[str, list[str]] = {}
    for r in taken:
        by_household.setdefault(r.body["data"]["household"]["address"], []).append(r.type)
    assert by_household == {"12 Oak Lane": OAK_LANE, "3 Elm Street": ELM_STREET}
    assert {r.type for r in taken} == set(ALL_TYPES)
    for r in taken:
        assert r.webhook_id == f"{r.body['data']['event_id']}.{r.type}"


async def _all_sent(db: SystemDatabase, expected: int) -> bool:
    return await webhook_states(db) == {OutboxStatus.SENT.value: expected}
