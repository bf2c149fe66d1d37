"""Signed webhooks end to end, in one process: a household's whole life (claims, invitations
made, accepted, declined, cancelled and expired, a member leaving, a hand-over, the board
removing, deactivating and activating) on SQLite and PostgreSQL, delivered by the outbox
dispatcher through :class:`handlers.webhooks.WebhookSender` to a receiver on loopback that
verifies every request with the ``standardwebhooks`` package.

The receiver answers 500 twice and a dispatcher dies in the middle of a send (its lease runs
out and a new one takes over); still every webhook arrives exactly once by its
``webhook-id``, each household's in the order its changes were made.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot import board
from bot.delivery import DeliveryError, Dispatcher, PermanentDeliveryError
from bot.domain import Channel, OutboxMessage, Route
from bot.domain import HouseholdEventKind as Kind
from bot.history import by_the_board
from bot.invitations import decline_invitation
from bot.webhooks import ALL_TYPES, WEBHOOK_RETRY, WebhookPublisher
from handlers.webhooks import WebhookSender
from storage.database import Database
from tests.handlers.webhook_receiver import Hang, WebhookReceiver
from tests.storage.databases import SQL_BACKENDS, fresh_database
from tests.storage.test_contract import T0
from tests.unit.conftest import World
from tests.unit.test_household_events import invite


@pytest.fixture(params=SQL_BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with fresh_database(request.param, tmp_path) as opened:
        opened.on_event = WebhookPublisher()  # as the composition root wires it
        yield opened


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def webhook_dispatcher(world: World, receiver: WebhookReceiver) -> Dispatcher:
    return Dispatcher(
        uow_factory=world.uow_factory,
        ctx=world.ctx,
        senders={Route(Channel.WEBHOOK): WebhookSender(url=receiver.url, secret=receiver.secret)},
        retries={Channel.WEBHOOK: WEBHOOK_RETRY},
        lease=timedelta(minutes=2),
    )


async def close(dispatcher: Dispatcher) -> None:
    for sender in dispatcher.senders.values():
        await sender.close()  # type: ignore[attr-defined]


# The webhook types the life below makes at 12 Oak Lane, in order.
OAK_LANE = [
    "member.joined",  # Ana claims the household with its access code
    "household.head_changed",
    "invitation.created",  # Maria, by text
    "invitation.accepted",
    "member.joined",
    "invitation.created",  # Tom
    "invitation.accepted",
    "member.joined",
    "invitation.created",  # Rita, who declines on the page
    "invitation.declined",
    "invitation.created",  # Sam, cancelled when the board deactivates
    "member.left",  # Tom
    "household.head_changed",  # Ana hands over to Maria
    "member.removed",  # the board takes Ana out
    "invitation.cancelled",  # Sam's, by the deactivation
    "household.deactivated",
    "household.activated",
    "invitation.created",  # Kim, invited by Maria, does not answer in time
    "invitation.expired",
    "invitation.renewed",  # Maria sends it again
]
ELM_STREET = ["member.joined", "household.head_changed"]  # Ben claims 3 Elm Street


async def a_household_life(world: World) -> dict[str, str]:
    """Drive every change; return the people's member ids by name."""
    ana = await world.head()
    maria_token = await invite(world, ana, "sms Maria Ruiz +12025550199")
    maria = world.person("maria", "Maria")
    await maria.say(f"/join https://hoa.example/i/{maria_token}")
    ben_code = await world.household(address="3 Elm Street", head_name="Ben Ode")
    ben = world.person("ben", "Ben")
    await ben.say(f"/join {ben_code}")
    tom_token = await invite(world, ana, "email Tom Lee tom@example.org")
    tom = world.person("tom", "Tom")
    await tom.say(f"/join https://hoa.example/i/{tom_token}")
    rita_token = await invite(world, ana, "sms Rita Cole +12025550124")
    async with world.uow_factory() as uow:
        await decline_invitation(uow, world.ctx, token=rita_token, via="page")
        await uow.commit()
    await invite(world, ana, "sms Sam Wu +12025550125")
    await tom.press_payload("household:leave")
    await tom.press_payload("household:leave_yes")
    assert "You have left" in tom.text, tom.text

    async with world.uow_factory() as uow:
        household = (await uow.households.list())[0]
        people = {m.name: m.id for m in await uow.members.list_for_household(household.id)}
    await ana.press_payload(f"member:make_head:{people['Maria Ruiz']}")
    await maria.press_payload(f"head:accept:{household.id}")
    assert "You are now the head" in maria.text, maria.text

    place = {"community_name": "Oak Ridge HOA", "address": "12 Oak Lane", "clock": world.clock}
    await board.remove_member_by_board(world.uow_factory, name="Ana Lopez", **place)
    await board.deactivate_household(world.uow_factory, **place)
    await board.activate_household(world.uow_factory, secret_key=b"k" * 32, **place)
    await invite(world, maria, "sms Kim Park +12025550126")
    world.clock.advance(days=8)
    await world.deliver()  # the dispatcher finds Kim's invitation expired
    async with world.uow_factory() as uow:
        kim = next(
            i
            for i in await uow.invitations.list_for_household(household.id)
            if i.invitee_name == "Kim Park"
        )
    await maria.press_payload(f"card:resend_new:{kim.id}")  # open again, with a new link
    assert "Sent Kim Park a new invitation link" in maria.text, maria.text
    return people


async def deliver_webhooks(world: World, dispatcher: Dispatcher, rounds: int = 40) -> None:
    """Run the dispatcher, moving the clock past each retry's wait, until nothing is left."""
    for _ in range(rounds):
        if not await dispatcher.run_once():
            world.clock.advance(minutes=6)
            if not await dispatcher.run_once():
                return
    raise AssertionError("webhooks still pending after many rounds")


async def test_every_kind_arrives_signed_once_and_in_order_across_500s_and_a_restart(
    database: Database, receiver: WebhookReceiver
) -> None:
    world = World(uow_factory=database.uow)
    people = await a_household_life(world)

    # The first webhook of each household is refused (500), then both wait to be retried.
    receiver.respond_next(500, 500)
    first = webhook_dispatcher(world, receiver)
    try:
        assert await first.run_once() == 2  # one at a time per household: the first of each
        assert len(receiver.received) == 2
        assert await first.run_once() == 0  # the rest wait behind them
        world.clock.advance(minutes=6)
        # The next attempts (one per household, sent side by side) hang, and the dispatcher
        # dies in the middle of the sends. (Had one of them been answered, whether its
        # outcome was stored before the death would be a race: sent again, or not.)
        receiver.respond_next(Hang(seconds=30), Hang(seconds=30))
        dying = asyncio.create_task(first.run_once())
        for _ in range(1000):
            if len(receiver.received) == 4:
                break
            await asyncio.sleep(0.01)
        assert len(receiver.received) == 4
        dying.cancel()
        with pytest.raises(asyncio.CancelledError):
            await dying
    finally:
        await close(first)

    world.clock.advance(minutes=3)  # the dead dispatcher's lease runs out
    second = webhook_dispatcher(world, receiver)
    try:
        await deliver_webhooks(world, second)
    finally:
        await close(second)

    assert receiver.refused == []  # every request verified by the standardwebhooks package
    answers: dict[str, list[int | None]] = {}
    for r in receiver.received:
        answers.setdefault(r.webhook_id, []).append(r.answered)
    failures = sorted((a for tried in answers.values() for a in tried if a != 204), key=str)
    assert failures == [500, 500, None, None]  # None: the sends the dead dispatcher never finished
    for ident, tried in answers.items():
        assert tried[-1] == 204 and tried.count(204) == 1, (ident, tried)  # then taken, once
    taken = receiver.taken()

    by_household: dict[str, list[str]] = {}
    for r in taken:
        by_household.setdefault(r.body["data"]["household"]["address"], []).append(r.type)
    assert by_household == {"12 Oak Lane": OAK_LANE, "3 Elm Street": ELM_STREET}
    assert {r.type for r in taken} == set(ALL_TYPES)

    async with world.uow_factory() as uow:
        leftover = await uow.outbox.claim_due(
            now=world.clock.now() + timedelta(days=30),
            routes=[Route(Channel.WEBHOOK)],
            limit=100,
            lease_until=world.clock.now(),
        )
    assert leftover == []

    # What the other systems learn.
    joined = [r.body["data"] for r in taken if r.type == "member.joined"]
    maria = next(d["member"] for d in joined if d["member"]["name"] == "Maria Ruiz")
    assert maria == {
        "id": people["Maria Ruiz"],
        "name": "Maria Ruiz",
        "role": "member",
        "email": None,
        "phone": "+12025550199",
        "joined_at": maria["joined_at"],
        "left_at": None,
    }
    assert joined[0]["community"]["name"] == "Oak Ridge HOA"
    handover = [r.body["data"] for r in taken if r.type == "household.head_changed"][-1]
    assert handover["member"]["name"] == "Maria Ruiz" and handover["member"]["role"] == "head"
    assert handover["previous_head"] == {"id": people["Ana Lopez"], "name": "Ana Lopez"}
    removed = next(r.body["data"] for r in taken if r.type == "member.removed")
    assert removed["actor"]["type"] == "board" and removed["member"]["name"] == "Ana Lopez"
    assert removed["member"]["left_at"] is not None
    created = next(r.body["data"] for r in taken if r.type == "invitation.created")
    assert created["invitation"]["contact"] == "+1 ••• ••• 0199"  # masked, as in the history
    assert "+12025550199" not in json.dumps(created)
    deactivated = next(r.body for r in taken if r.type == "household.deactivated")
    assert deactivated["data"]["household"]["status"] == "inactive"
    assert deactivated["timestamp"].endswith("Z")
    for r in taken:
        assert r.webhook_id == f"{r.body['data']['event_id']}.{r.type}"


async def webhooks_due(world: World) -> list[str]:
    async with world.uow_factory() as uow:  # not committed: the lease is not kept
        due = await uow.outbox.claim_due(
            now=world.clock.now(),
            routes=[Route(Channel.WEBHOOK)],
            limit=100,
            lease_until=world.clock.now(),
        )
    return [m.destination for m in due]


async def test_a_change_rolled_back_publishes_nothing(database: Database) -> None:
    world = World(uow_factory=database.uow)
    await world.household()
    async with world.uow_factory() as uow:
        household = (await uow.households.list())[0]
        await uow.events.append(by_the_board(Kind.DEACTIVATED, household, at=world.clock.now()))
        await uow.rollback()
    assert await webhooks_due(world) == []
    async with world.uow_factory() as uow:
        await uow.events.append(by_the_board(Kind.DEACTIVATED, household, at=world.clock.now()))
        await uow.commit()
    assert await webhooks_due(world) == ["household.deactivated"]


async def test_a_receiver_that_does_not_answer_in_time_is_a_failure_to_retry(
    receiver: WebhookReceiver,
) -> None:
    receiver.respond_next(Hang(seconds=5))
    sender = WebhookSender(url=receiver.url, secret=receiver.secret, timeout=0.3)
    message = OutboxMessage(
        channel=Channel.WEBHOOK,
        destination="ping",
        body='{"type":"ping"}',
        created_at=T0,
        next_attempt_at=T0,
        data={"webhook_id": "ping.1"},
    )
    try:
        with pytest.raises(DeliveryError, match=r"did not answer within 0\.3 s") as failed:
            await sender.send(message)
        assert not isinstance(failed.value, PermanentDeliveryError)
        with pytest.raises(PermanentDeliveryError):  # not a webhook: a bug, never retried
            await sender.send(OutboxMessage(**{**vars(message), "channel": Channel.SMS}))
        assert await sender.send(message) == "ping.1"  # the next attempt is taken
    finally:
        await sender.close()
    assert [r.webhook_id for r in receiver.received] == ["ping.1", "ping.1"]
