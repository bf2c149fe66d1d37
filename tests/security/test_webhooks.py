"""Holes an adversarial review of the signed webhooks (issue 15) found, each shown by a test
that failed before its fix.

- Two dispatchers (``serve`` and a ``worker``, as docs/deployment.md runs them) both expired
  the same invitation on PostgreSQL: the receiver got two ``invitation.expired`` webhooks
  with different ``webhook-id``s, so it could not drop the repeat.
- A dispatcher sent its claimed batch one message after the other with no check that its
  lease still held: when a receiver was slow (20 × 15 s > the 2 min lease) another dispatcher
  took the same webhooks, delivered them and the households' next ones, and then the first
  dispatcher sent its stale copies after them. Now webhooks go at once, a message is sent only
  while half of its lease is left, and a webhook's timeout is at most half a lease.
- A webhook receiver that did not answer held up every other message of the batch: the
  invitation text waited for the webhooks' timeouts.
- A webhook URL the settings accepted made the sender raise ``UnicodeError``:
  ``invitebot admin webhook test`` ended in a traceback; a port out of range was accepted too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from typer.testing import CliRunner

from bot.delivery import Dispatcher, Sender
from bot.domain import Channel, OutboxMessage, OutboxStatus, Route
from bot.invitations import expire_due
from bot.ports import UnitOfWorkFactory
from bot.webhooks import WEBHOOK_RETRY, WebhookPublisher
from handlers.cli_admin import admin_app
from handlers.settings import Settings
from handlers.webhooks import WebhookSender
from storage.database import Database
from tests.chat import RecordingSender, recording_routes
from tests.handlers import test_webhooks
from tests.handlers.webhook_receiver import Hang, WebhookReceiver, random_secret
from tests.storage.databases import fresh_databases
from tests.unit.conftest import World

database = test_webhooks.database  # a database with the publisher wired, on each backend
receiver = test_webhooks.receiver


def webhook_dispatcher(
    world: World,
    url: str,
    secret: str,
    *,
    timeout: float = 15.0,
    others: RecordingSender | None = None,
) -> Dispatcher:
    senders: dict[Route, Sender] = {
        Route(Channel.WEBHOOK): WebhookSender(url=url, secret=secret, timeout=timeout)
    }
    if others is not None:
        senders |= recording_routes(others)
    return Dispatcher(
        uow_factory=world.uow_factory,
        ctx=world.ctx,
        senders=senders,
        retries={Channel.WEBHOOK: WEBHOOK_RETRY},
        lease=timedelta(minutes=2),  # the default INVITEBOT_OUTBOX_LEASE_SECONDS
    )


async def close(dispatcher: Dispatcher) -> None:
    for sender in dispatcher.senders.values():
        if isinstance(sender, WebhookSender):
            await sender.close()


async def all_webhooks(uow_factory: UnitOfWorkFactory) -> list[OutboxMessage]:
    """Every webhook written, in each household's order (claimed and marked sent)."""
    found: list[OutboxMessage] = []
    while True:
        async with uow_factory() as uow:
            batch = await uow.outbox.claim_due(
                now=FAR, routes=[Route(Channel.WEBHOOK)], limit=100, lease_until=FAR
            )
            for message in batch:
                message.status = OutboxStatus.SENT
                await uow.outbox.update(message)
            await uow.commit()
        if not batch:
            return found
        found.extend(batch)


FAR = datetime(2100, 1, 1, tzinfo=UTC)


async def heads(world: World, count: int) -> None:
    """``count`` households, each claimed by its head (two webhooks each)."""
    for n in range(count):
        code = await world.household(address=f"{n + 1} Oak Lane")
        person = world.person(f"head{n}", f"Head {n}")
        await person.say(f"/join {code}")
        assert "You are now the head" in person.text, person.text


async def wait_for(condition: Callable[[], bool], *, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.01)


# --- 1. two dispatchers expire one invitation: two invitation.expired, two ids ---------------


@pytest.mark.postgres  # two concurrent writers
async def test_two_dispatchers_expiring_one_invitation_publish_it_once(tmp_path: Path) -> None:
    async with fresh_databases("postgresql", tmp_path, count=2) as (one, two):
        one.on_event = two.on_event = WebhookPublisher()
        world = World(uow_factory=one.uow)
        ana = world.person("ana", "Ana")
        await ana.say(f"/join {await world.household()}")
        await ana.say("/invite sms Maria Ruiz +12025550199")
        await ana.press("Send Invite")
        assert "Invitation sent" in ana.text, ana.text
        world.clock.advance(days=8)  # the invitation ran out

        # Dispatcher one (``serve``) expires it in its round; dispatcher two (a ``worker``)
        # begins its round meanwhile, as the two run independently.
        async with one.uow() as first:
            assert len(await expire_due(first, world.ctx)) == 1

            async def second_round() -> int:
                async with two.uow() as second:
                    expired = await expire_due(second, world.ctx)
                    await second.commit()
                return len(expired)

            other = asyncio.create_task(second_round())
            await asyncio.sleep(0.5)  # it reads the invitation as still pending, then waits
            await first.commit()
        await other

        expired = [m for m in await all_webhooks(one.uow) if m.destination == "invitation.expired"]
        # One invitation expired once: one webhook. Two, with two different webhook-ids (two
        # events), reach the receiver as two different changes; it cannot drop the repeat.
        assert len(expired) == 1, [m.data["webhook_id"] for m in expired]


# --- 2. a dispatcher whose lease ran out still sends its stale batch --------------------------


async def sent_webhooks(database: Database) -> int:
    async with database.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT count(*) FROM outbox WHERE channel = 'webhook' AND status = 'sent'")
        )
        return int(rows.scalar_one())


async def test_a_dispatcher_whose_lease_ran_out_does_not_send_what_another_delivered(
    database: Database, receiver: WebhookReceiver
) -> None:
    world = World(uow_factory=database.uow)
    await heads(world, 3)  # three households: three webhooks due now, three behind them

    # Dispatcher A takes the three; the receiver is slow on the first (as one down or
    # overloaded is: 20 messages a batch × 15 s each is far past a 2-minute lease).
    receiver.respond_next(Hang(seconds=5))
    slow = webhook_dispatcher(world, receiver.url, receiver.secret, timeout=2.0)
    other = webhook_dispatcher(world, receiver.url, receiver.secret)
    try:
        stuck = asyncio.create_task(slow.run_once())
        await wait_for(lambda: len(receiver.received) == 3)  # all three go at once
        for _ in range(500):  # and two are taken, and recorded so by A
            if await sent_webhooks(database) == 2:
                break
            await asyncio.sleep(0.01)
        # A's lease runs out while it is still on its first send; B takes over and delivers
        # the three webhooks, then the households' next ones.
        world.clock.advance(minutes=3)
        assert await other.run_once() == 3  # the first household's again, two others' next
        assert await other.run_once() == 1  # the first household's next
        await stuck
    finally:
        await close(slow)
        await close(other)

    per_household: dict[str, list[str]] = {}
    for r in receiver.taken():  # the requests answered 2xx, in the order they arrived
        per_household.setdefault(r.body["data"]["household"]["id"], []).append(r.type)
    # A sent member.joined of two households again after B had delivered it and the
    # household.head_changed behind it: a stale copy, after a later change.
    assert sorted(per_household.values()) == [["member.joined", "household.head_changed"]] * 3, (
        per_household
    )


# --- 3. a receiver that does not answer holds up the invitations ------------------------------


class TimedSender(RecordingSender):
    """Records when each message reached it."""

    def __init__(self) -> None:
        super().__init__()
        self.at: list[float] = []

    async def send(self, message: OutboxMessage) -> str:
        self.at.append(time.monotonic())
        return await super().send(message)


async def test_a_receiver_that_hangs_does_not_hold_up_an_invitation(
    database: Database, receiver: WebhookReceiver
) -> None:
    world = World(uow_factory=database.uow)
    await heads(world, 6)  # six households: six webhooks due, one per household
    world.clock.advance(minutes=1)
    head = world.person("head0", "Head 0")
    await head.say("/invite sms Maria Ruiz +12025550199")
    await head.press("Send Invite")
    assert "Invitation sent" in head.text, head.text

    receiver.respond_next(*[Hang(seconds=5)] * 6)  # the HOA portal is down: no answer
    texts = TimedSender()
    dispatcher = webhook_dispatcher(world, receiver.url, receiver.secret, timeout=0.5, others=texts)
    try:
        started = time.monotonic()
        await dispatcher.run_once()
    finally:
        await close(dispatcher)
    [sms] = [at for m, at in zip(texts.sent, texts.at, strict=True) if m.channel is Channel.SMS]
    # Maria's invitation waited for six webhook timeouts (15 s each by default: 90 s; a
    # batch of 20 households, 5 minutes) before it was even tried.
    assert sms - started < 1.0, f"the invitation text waited {sms - started:.1f} s"


# --- 4. a webhook URL the settings accept, that the sender cannot use --------------------------

GOOD_SECRET = random_secret()


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks..example/invitebot",  # an empty label: UnicodeError in the sender
        "https://" + "a" * 64 + ".example/invitebot",  # a label over 63 characters: the same
        "https://hooks.example:99999/invitebot",  # no such port
    ],
)
def test_a_webhook_url_that_cannot_work_is_refused_at_start_up(url: str) -> None:
    with pytest.raises(ValidationError):
        Settings(webhook_url=url, webhook_secret=GOOD_SECRET, _env_file=None)  # type: ignore[call-arg]


def test_webhook_test_with_a_malformed_host_is_one_red_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("INVITEBOT_WEBHOOK_TIMEOUT_SECONDS", raising=False)
    monkeypatch.setenv("INVITEBOT_WEBHOOK_URL", "https://hooks..example/invitebot")
    monkeypatch.setenv("INVITEBOT_WEBHOOK_SECRET", GOOD_SECRET)
    result = CliRunner().invoke(admin_app, ["webhook", "test"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code in (1, 2)


# --- 5. a slow sequential lane leaves what it cannot send within its lease --------------------


class ClockMovingSender(RecordingSender):
    """Each send takes 70 seconds of the world's clock (a slow provider)."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    async def send(self, message: OutboxMessage) -> str:
        self.world.clock.advance(seconds=70)
        return await super().send(message)


async def test_a_message_is_sent_only_while_half_of_its_lease_is_left(database: Database) -> None:
    world = World(uow_factory=database.uow)
    head = await world.head()
    for name, phone in [("Maria Ruiz", "+12025550199"), ("Tom Lee", "+12025550123")]:
        await head.say(f"/invite sms {name} {phone}")
        await head.press("Send Invite")
    slow = ClockMovingSender(world)
    dispatcher = Dispatcher(
        uow_factory=world.uow_factory,
        ctx=world.ctx,
        senders=recording_routes(slow),
        lease=timedelta(minutes=2),
    )
    assert await dispatcher.run_once() == 2  # both taken, the second left: 70 s > 60 s
    assert [m.destination for m in slow.sent] == ["+12025550199"]
    assert await dispatcher.run_once() == 0  # still leased to the round that left it
    world.clock.advance(minutes=1)
    assert await dispatcher.run_once() == 1
    assert [m.destination for m in slow.sent] == ["+12025550199", "+12025550123"]


def test_a_webhook_timeout_longer_than_half_the_lease_is_refused() -> None:
    with pytest.raises(ValidationError, match="at most half"):
        Settings(
            webhook_url="https://portal.example/hooks",
            webhook_secret=GOOD_SECRET,
            webhook_timeout_seconds=61,
            outbox_lease_seconds=120,
            _env_file=None,  # type: ignore[call-arg]
        )
