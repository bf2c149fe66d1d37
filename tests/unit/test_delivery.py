"""The outbox dispatcher: sending, retrying with backoff, failing for good, routes, leases."""

from __future__ import annotations

import random
from datetime import timedelta

from bot.delivery import (
    DeliveryError,
    Dispatcher,
    PermanentDeliveryError,
    RecipientOptedOut,
    RetryPolicy,
)
from bot.domain import Channel, DeliveryStatus, InboundReceipt, OutboxStatus, Route
from tests.chat import RecordingSender
from tests.unit.conftest import World


async def outbox_rows(world: World):
    async with world.uow_factory() as uow:
        rows = []
        for household in await uow.households.list():
            for invitation in await uow.invitations.list_for_household(household.id):
                rows += await uow.outbox.list_for_invitation(invitation.id)
        return rows


async def the_invitation(world: World):
    async with world.uow_factory() as uow:
        [household] = [h for h in await uow.households.list() if h.claimed]
        [invitation] = await uow.invitations.list_for_household(household.id)
        return invitation


async def test_transient_failures_retry_with_growing_delays(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite sms Maria Ruiz +1 202 555 0199")
    await ana.press("Send Invite")
    world.sender.fail_with = DeliveryError("503 from provider")

    assert await world.dispatcher.run_once() == 1
    [row] = await outbox_rows(world)
    assert row.status is OutboxStatus.PENDING and row.attempts == 1
    assert "503" in row.last_error
    first_wait = row.next_attempt_at - world.clock.now()
    assert timedelta(seconds=2.5) <= first_wait <= timedelta(seconds=5)

    assert await world.dispatcher.run_once() == 0  # not due yet
    world.clock.advance(seconds=6)
    assert await world.dispatcher.run_once() == 1
    [row] = await outbox_rows(world)
    second_wait = row.next_attempt_at - world.clock.now()
    assert row.attempts == 2 and timedelta(seconds=5) <= second_wait <= timedelta(seconds=10)

    world.sender.fail_with = None
    world.clock.advance(seconds=11)
    await world.deliver()
    [row] = await outbox_rows(world)
    assert row.status is OutboxStatus.SENT and row.attempts == 3 and row.provider_id == "fake-1"
    assert (await the_invitation(world)).delivery_status is DeliveryStatus.SENT


async def test_too_many_failures_fail_for_good_and_tell_the_head(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite sms Maria Ruiz +1 202 555 0199")
    await ana.press("Send Invite")
    world.sender.fail_with = DeliveryError("timeout")
    for _ in range(3):  # the world's policy allows 3 attempts
        world.clock.advance(hours=1)
        await world.dispatcher.run_once()
    [row] = [r for r in await outbox_rows(world) if r.channel is Channel.SMS]
    assert row.status is OutboxStatus.FAILED and row.attempts == 3
    assert (await the_invitation(world)).delivery_status is DeliveryStatus.FAILED

    world.sender.fail_with = None
    await world.deliver()
    [note] = world.sender.sent
    assert note.channel is Channel.CHAT and note.destination == "ana"
    assert "could not deliver the invitation to Maria Ruiz by SMS Text" in note.body
    await ana.say("/household")
    assert "could not be delivered" in ana.text


async def test_a_permanent_error_fails_at_once(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite email Maria Ruiz maria@example.org")
    await ana.press("Send Invite")
    world.sender.fail_with = PermanentDeliveryError("550 no such user")
    await world.dispatcher.run_once()
    [row, note] = await outbox_rows(world)
    assert row.status is OutboxStatus.FAILED and row.attempts == 1 and "550" in row.last_error
    assert note.channel is Channel.CHAT and "550 no such user" in note.body


async def test_a_message_without_a_sender_waits_for_one(world: World) -> None:
    """A console serves only its own user's notifications: others stay in the outbox."""
    ana = await world.head()
    await ana.say("/invite email Maria Ruiz maria@example.org")
    await ana.press("Send Invite")
    mine, theirs = RecordingSender(), RecordingSender()
    only_mine = Dispatcher(
        uow_factory=world.uow_factory,
        ctx=world.ctx,
        senders={Route(Channel.EMAIL): mine, Route(Channel.CHAT, "console", "bob"): mine},
    )
    await only_mine.run_once()
    assert [m.channel for m in mine.sent] == [Channel.EMAIL]
    maria = world.person("maria")
    await maria.say(f"/join {mine.sent[0].body}")
    await only_mine.run_once()
    assert [m.channel for m in mine.sent] == [Channel.EMAIL]  # Ana's note is not Bob's
    anas = Dispatcher(
        uow_factory=world.uow_factory,
        ctx=world.ctx,
        senders={Route(Channel.CHAT, "console", "ana"): theirs},
    )
    await anas.run_once()
    assert [m.body for m in theirs.sent] == [
        "🎉 Maria Ruiz accepted your invitation and is now a member of your household."
    ]


async def test_a_claimed_message_is_not_sent_twice_by_two_dispatchers(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite email Maria Ruiz maria@example.org")
    await ana.press("Send Invite")
    other = RecordingSender()
    second = Dispatcher(
        uow_factory=world.uow_factory, ctx=world.ctx, senders={Route(Channel.EMAIL): other}
    )
    async with world.uow_factory() as uow:
        now = world.clock.now()
        claimed = await uow.outbox.claim_due(
            now=now, routes=[Route(Channel.EMAIL)], limit=10, lease_until=now + timedelta(minutes=2)
        )
        await uow.commit()
    assert len(claimed) == 1
    assert await second.run_once() == 0  # leased by the first
    world.clock.advance(minutes=3)  # the first died without recording: the lease runs out
    assert await second.run_once() == 1
    assert len(other.sent) == 1


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(base_delay=timedelta(seconds=5), max_delay=timedelta(minutes=10))
    rng = random.Random(7)
    delays = [policy.delay(n, rng) for n in range(1, 20)]
    assert all(d <= timedelta(minutes=10) for d in delays)
    assert delays[-1] >= timedelta(minutes=5)
    assert len({round(d.total_seconds(), 3) for d in delays}) > 10


async def test_a_message_of_a_cancelled_invitation_is_never_sent(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite sms Maria Ruiz +1 202 555 0199")
    await ana.press("Send Invite")
    await ana.say("/household")
    await ana.press("Cancel Invite")
    await ana.press("Yes, cancel it")
    await world.deliver()
    assert world.sender.sent == []
    [row] = await outbox_rows(world)
    assert row.status is OutboxStatus.FAILED and "closed before it went out" in row.last_error


async def test_a_queued_message_goes_out_with_the_current_link(world: World) -> None:
    """Resend with a new link while the first message still waits: both carry the new one."""
    ana = await world.head()
    await ana.say("/invite email Maria Ruiz maria@example.org")
    await ana.press("Send Invite")
    world.clock.advance(days=8)
    await ana.say("/household")
    await ana.press("Resend")
    await ana.press("New link")
    await world.deliver()
    first, second = world.sender.to("maria@example.org")
    assert first.data["link"] == second.data["link"]
    assert first.data["link"] in first.body and first.data["link"] in second.body
    assert "\x1f" not in first.body + second.body
    maria = world.person("maria")
    await maria.say(f"/join {first.data['link']}")
    assert "Welcome" in maria.text


async def test_a_provider_saying_opted_out_is_remembered(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite sms Maria Ruiz +1 202 555 0199")
    await ana.press("Send Invite")
    world.sender.fail_with = RecipientOptedOut("the number has opted out of texts")
    await world.dispatcher.run_once()
    async with world.uow_factory() as uow:
        status = await uow.phones.get("+12025550199")
    assert status is not None and status.opted_out
    await ana.say("/invite sms Maria R +1 202 555 0199")
    assert "opted out of text messages" in ana.text


async def test_an_unexpected_sender_error_reaches_the_head_in_plain_words(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite email Maria Ruiz maria@example.org")
    await ana.press("Send Invite")
    world.sender.fail_with = KeyError("internal detail 0xDEAD")
    for _ in range(3):
        world.clock.advance(hours=1)
        await world.dispatcher.run_once()
    world.sender.fail_with = None
    await world.deliver()
    [note] = world.sender.sent
    assert "an unexpected error" in note.body and "0xDEAD" not in note.body


async def test_old_webhook_receipts_are_forgotten_once_an_hour(world: World) -> None:
    now = world.clock.now()
    async with world.uow_factory() as uow:
        for source, age in [("telegram", 31), ("twilio-sms", 31), ("web-page", 90), ("slack", 24)]:
            receipt = InboundReceipt(source, f"{source}-1", received_at=now - timedelta(days=age))
            assert await uow.receipts.first_time(receipt)
        await uow.commit()
    await world.dispatcher.run_once()

    async def remembered() -> list[str]:
        async with world.uow_factory() as uow:
            found = []
            for source in ("telegram", "twilio-sms", "web-page", "slack"):
                again = InboundReceipt(source, f"{source}-1", received_at=now)
                if not await uow.receipts.first_time(again):
                    found.append(source)
            return found  # not committed: nothing is recorded by asking

    assert await remembered() == ["web-page", "slack"]  # over thirty days old is forgotten
    world.clock.advance(days=7)  # the Slack one is 31 days old now...
    await world.dispatcher.run_once()
    assert await remembered() == ["web-page"]
