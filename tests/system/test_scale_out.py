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
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from bot import messages as msg
from bot.domain import InvitationStatus
from handlers.telegram.render import pack_payload
from storage.stats import state_counts
from tests.handlers.fake_telegram import FakeTelegram
from tests.handlers.fake_twilio import FakeTwilio
from tests.storage.databases import SQL_BACKENDS
from tests.system.cluster import PUBLIC, Cluster, Process, SystemDatabase, system_database, until
from tests.unit.conftest import SECRET, World

HEADS = 12
WEBHOOK_SECRET = "scale-out-webhook-secret"
OUR_NUMBER = "+12025550000"
_update_ids = itertools.count(7_000_000)


NAMES = [f"{first}{second}" for first in "ABCDEFGH" for second in "aeiou"]


def phone_of(i: int) -> str:
    return f"+1202555{100 + i:04d}"


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as running:
        yield running


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as running:
        yield running


def cluster_env(db: SystemDatabase, twilio: FakeTwilio, telegram: FakeTelegram) -> dict[str, str]:
    return {
        "INVITEBOT_DATABASE_URL": db.url,
        "INVITEBOT_SECRET_KEY": SECRET.decode(),
        "INVITEBOT_PUBLIC_BASE_URL": PUBLIC,
        "INVITEBOT_TWILIO_ACCOUNT_SID": twilio.account_sid,
        "INVITEBOT_TWILIO_AUTH_TOKEN": twilio.auth_token,
        "INVITEBOT_TWILIO_FROM_NUMBER": OUR_NUMBER,
        "INVITEBOT_TWILIO_API_BASE": twilio.url,
        "INVITEBOT_TWILIO_MESSAGES_PER_SECOND": "200",
        "INVITEBOT_TELEGRAM_BOT_TOKEN": telegram.token,
        "INVITEBOT_TELEGRAM_API_BASE": telegram.url,
        "INVITEBOT_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "INVITEBOT_INVITES_PER_HOUR": "1000",
        "INVITEBOT_LOG_LEVEL": "INFO",
    }


@pytest.fixture(params=SQL_BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SystemDatabase]:
    async with system_database(request.param, tmp_path) as database:
        yield database


@pytest.fixture
async def cluster(
    db: SystemDatabase, twilio: FakeTwilio, telegram: FakeTelegram, tmp_path: Path
) -> AsyncIterator[Cluster]:
    running = Cluster(directory=tmp_path, env=cluster_env(db, twilio, telegram))
    try:
        yield running
    except BaseException:
        print(running.logs())
        raise
    finally:
        running.close()


def message(user_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": next(_update_ids),
        "message": {
            "message_id": next(_update_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "Head"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Head", "last_name": "Of"},
            "text": text,
        },
    }


def press(user_id: int, payload: str, message_id: int) -> dict[str, Any]:
    return {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": f"q{next(_update_ids)}",
            "from": {"id": user_id, "is_bot": False, "first_name": "Head"},
            "chat_instance": "ci",
            "data": pack_payload(payload),
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": user_id, "type": "private", "first_name": "Head"},
                "from": {"id": 1, "is_bot": True, "first_name": "Bot"},
                "text": "…",
            },
        },
    }


class Load:
    """The requests of the burst, spread over the servers."""

    def __init__(
        self, client: httpx.AsyncClient, servers: list[Process], telegram: FakeTelegram
    ) -> None:
        self.client = client
        self.servers = servers
        self.telegram = telegram
        self.validator = RequestValidator(FakeTwilio.auth_token)
        self.statuses: Counter[int] = Counter()

    def shown(self, chat_id: int) -> list[Any]:
        return [
            c
            for c in self.telegram.calls
            if c.method in ("sendMessage", "editMessageText")
            and str(c.params.get("chat_id")) == str(chat_id)
        ]

    async def update(self, server: Process, body: dict[str, Any]) -> None:
        response = await self.client.post(
            f"{server.url}/telegram/webhook",
            json=body,
            headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
        )
        self.statuses[response.status_code] += 1
        assert response.status_code == 200, response.text

    async def step(self, server: Process, chat_id: int, body: dict[str, Any]) -> None:
        """Post an update and wait for the bot's answer in that chat (handled in the
        background, so the next step of the conversation comes after this one)."""
        before = len(self.shown(chat_id))
        await self.update(server, body)
        await until(lambda: len(self.shown(chat_id)) > before, what=f"an answer to {chat_id}")

    async def head_invites(self, i: int, code: str) -> None:
        head = 50_000 + i
        first, second = self.servers[i % 2], self.servers[(i + 1) % 2]
        await self.step(first, head, message(head, f"/start {code}"))
        await self.step(second, head, message(head, f"/invite sms Guest {NAMES[i]} {phone_of(i)}"))
        summary = self.shown(head)[-1]
        assert summary.params["text"].startswith(msg.SUMMARY_TITLE), summary.params["text"]
        # Send Invite, delivered to both servers at once: one invitation, one edit.
        body = press(head, "flow:send", summary.message_id)
        await asyncio.gather(self.update(first, body), self.update(second, body))
        await until(lambda: len(self.shown(head)) == 3, what=f"head {i}'s confirmation")

    async def invitee_answers(self, i: int) -> None:
        form = {
            "MessageSid": f"SM{i:032x}",
            "From": phone_of(i),
            "To": OUR_NUMBER,
            "Body": "JOIN" if i % 4 else "Decline.",
        }
        signature = self.validator.compute_signature(f"{PUBLIC}/twilio/sms", form)
        headers = {"X-Twilio-Signature": signature}
        # Twilio's retries: the same message three times, across both servers, at once.
        responses = await asyncio.gather(
            *(
                self.client.post(f"{server.url}/twilio/sms", data=form, headers=headers)
                for server in (self.servers[0], self.servers[1], self.servers[i % 2])
            )
        )
        for response in responses:
            self.statuses[response.status_code] += 1
            assert response.status_code == 200, response.text


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
