"""Scale-out: two ``invitebot serve`` and two ``invitebot worker`` processes on one database.

A burst of heads claim their households and invite by SMS from Telegram, each step of each
conversation landing on either server (and the Send Invite press delivered to both, as a
Telegram redelivery would); the workers text every invitee through a fake Twilio; every
invitee answers, each answer posted three times across both servers (Twilio's retries); the
workers tell every head in Telegram. Then: every outbox message was sent exactly once, every
invitation is in one final state, no conversation step was lost or applied twice.

On SQLite (the processes share the file) and on PostgreSQL when configured.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import httpx

from bot.domain import InvitationStatus
from storage.stats import state_counts
from tests.handlers.fake_telegram import FakeTelegram
from tests.handlers.fake_twilio import FakeTwilio
from tests.system.cluster import Cluster, SystemDatabase, until
from tests.system.traffic import Load, phone_of
from tests.unit.conftest import World

HEADS = 12


async def test_two_servers_and_two_workers_lose_nothing_and_repeat_nothing(
    db: SystemDatabase, cluster: Cluster, twilio: FakeTwilio, telegram: FakeTelegram
) -> None:
    world = World(uow_factory=db.database.uow)
    codes = [await world.household(address=f"{i} Birch Way") for i in range(HEADS)]
    servers = [await cluster.serve("serve-a"), await cluster.serve("serve-b")]
    await cluster.worker("worker-a")
    await cluster.worker("worker-b")

    async with httpx.AsyncClient(timeout=30) as client:
        load = Load(client, servers, telegram)
        await asyncio.gather(*(load.head_invites(i, code) for i, code in enumerate(codes)))
        await until(lambda: len(twilio.messages) >= HEADS, what="every invitation texted")
        await asyncio.gather(*(load.invitee_answers(i) for i in range(HEADS)))

        def notifications() -> list[str]:
            return [
                str(c.params["text"])
                for c in telegram.calls_of("sendMessage")
                if "accepted your invitation" in str(c.params["text"])
                or "declined your invitation" in str(c.params["text"])
            ]

        await until(lambda: len(notifications()) >= HEADS, what="every head told")
        await asyncio.sleep(2)  # room for a duplicate to show up, were there one

    # Every invitee texted once, every head told once.
    texted = Counter(m.form["To"] for m in twilio.messages)
    assert texted == Counter(phone_of(i) for i in range(HEADS))
    told = Counter(
        str(c.params["chat_id"])
        for c in telegram.calls_of("sendMessage")
        if "your invitation" in str(c.params["text"])
    )
    assert told == Counter(str(50_000 + i) for i in range(HEADS))
    # Each head saw exactly three answers (claimed, the summary, the confirmation) and the news.
    for i in range(HEADS):
        shown = [str(c.params["text"]) for c in load.shown(50_000 + i)]
        assert len(shown) == 4 and "your invitation" in shown[-1], shown
    assert set(load.statuses) == {200}

    async with db.database.uow() as uow:
        households = await uow.households.list()
        invitations = [
            i for h in households for i in await uow.invitations.list_for_household(h.id)
        ]
        members = [m for h in households for m in await uow.members.list_for_household(h.id)]
    assert len(invitations) == HEADS  # one per head: no Send Invite applied twice
    final = Counter(i.status for i in invitations)
    declined = sum(1 for i in range(HEADS) if i % 4 == 0)
    assert final == {
        InvitationStatus.ACCEPTED: HEADS - declined,
        InvitationStatus.DECLINED: declined,
    }
    assert len(members) == HEADS + (HEADS - declined)  # heads, and those who joined
    # Every outbox message sent, none pending or given up: the invitations and the news.
    counts = await state_counts(db.database.engine, now=datetime.now(UTC))
    assert counts.outbox == {"pending": 0, "sent": 2 * HEADS, "failed": 0}
