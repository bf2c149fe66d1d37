"""The household event log as the services write it: each change to a household records one
event in the same unit of work, saying who did what to whom, how, and when; a refused change
records nothing; no event keeps a whole contact."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

import pytest

from bot import admin
from bot.delivery import (
    DeliveryError,
    PermanentDeliveryError,
    RecipientOptedOut,
    apply_delivery_report,
)
from bot.domain import EventActor, HouseholdEvent, Limits, Method
from bot.domain import HouseholdEventKind as Kind
from bot.invitation_page import answer_on_page
from bot.ports import UnitOfWorkFactory
from bot.sms_inbound import InboundSms, handle_inbound_sms
from tests.chat import Person
from tests.unit.conftest import SECRET, World

MARIA = "+12025550199"
MARIA_MASKED = "+1 ••• ••• 0199"
TOM = "tom@example.org"
LINK = re.compile(r"https://hoa\.example/i/([A-Za-z0-9_-]{43})")
_sids = itertools.count(1)


@pytest.fixture
def world(uow_factory: UnitOfWorkFactory) -> World:
    return World(uow_factory=uow_factory, limits=Limits(sms_replies_per_sender_per_hour=1000))


async def history(world: World, address: str = "12 Oak Lane") -> list[HouseholdEvent]:
    """The household's events, oldest first (as a story reads)."""
    async with world.uow_factory() as uow:
        households = {h.address: h for h in await uow.households.list()}
        events = await uow.events.list_for_household(households[address].id, limit=100)
    return list(reversed(events))


async def kinds(world: World) -> list[Kind]:
    return [e.kind for e in await history(world)]


async def last(world: World) -> HouseholdEvent:
    return (await history(world))[-1]


async def invite(world: World, head: Person, one_shot: str) -> str:
    """Send an invitation and deliver it; return the token in the link the invitee got."""
    await head.say(f"/invite {one_shot}")
    await head.press("Send Invite")
    assert "Invitation sent" in head.text, head.text
    await world.deliver()
    found = LINK.search(world.sender.sent[-1].body)
    assert found, world.sender.sent[-1].body
    return found.group(1)


async def text(world: World, body: str, *, sender: str = MARIA) -> str | None:
    async with world.uow_factory() as uow:
        reply = await handle_inbound_sms(
            uow, world.ctx, InboundSms(sender=sender, body=body, message_id=f"SM{next(_sids)}")
        )
        await uow.commit()
    return reply


async def report(world: World, status: str, *, error_code: str = "") -> bool:
    """A provider's status callback about the first message sent; whether it changed anything."""
    async with world.uow_factory() as uow:
        changed = await apply_delivery_report(
            uow, world.ctx, provider_id="fake-1", status=status, error_code=error_code
        )
        await uow.commit()
    return changed


async def on_page(world: World, token: str, *, accept: bool) -> None:
    async with world.uow_factory() as uow:
        await answer_on_page(uow, world.ctx, token=token, accept=accept, browser="browser-1")
        await uow.commit()


def assert_nothing_unmasked(events: list[HouseholdEvent]) -> None:
    everything = repr(events)
    for raw in [MARIA, MARIA[2:], "202 555 0199", TOM, "tom@"]:
        assert raw not in everything


# --- claiming and the board ----------------------------------------------------------------


async def test_claiming_a_household_records_the_head(world: World) -> None:
    ana = await world.head()
    [claimed] = await history(world)
    async with world.uow_factory() as uow:
        who = await uow.identities.get_with_owner(platform="console", external_id="ana")
    assert who is not None and who.member is not None
    assert claimed.kind is Kind.CLAIMED and claimed.at == world.clock.now()
    assert (claimed.actor, claimed.actor_member_id, claimed.actor_name) == (
        EventActor.MEMBER,
        who.member.id,
        "Ana Lopez",
    )
    assert (claimed.subject_member_id, claimed.subject_name) == (who.member.id, "Ana Lopez")
    assert claimed.via == "console"
    await ana.say("/household")  # reading changes nothing
    assert await kinds(world) == [Kind.CLAIMED]


async def test_a_wrong_or_used_access_code_records_nothing(world: World) -> None:
    code = await world.household()
    await world.person("eve").say("/join ABCD-EFGH-JKMN")
    assert await kinds(world) == []
    await world.person("ana", "Ana").say(f"/join {code}")
    await world.person("bob", "Bob").say(f"/join {code}")
    assert await kinds(world) == [Kind.CLAIMED]


async def test_the_board_resetting_the_access_code_is_recorded_as_the_board(world: World) -> None:
    await world.head()
    await admin.reset_access_code(
        world.uow_factory,
        community_name="Oak Ridge HOA",
        address="12 Oak Lane",
        secret_key=SECRET,
        clock=world.clock,
    )
    reset = await last(world)
    assert reset.kind is Kind.ACCESS_CODE_RESET
    assert (reset.actor, reset.actor_member_id, reset.actor_name) == (EventActor.BOARD, None, "")
    assert reset.details == {"claimed": "yes"}


# --- an invitation's life ------------------------------------------------------------------


async def test_an_sms_invitation_invited_delivered_and_accepted_by_text(world: World) -> None:
    ana = await world.head()
    await invite(world, ana, f"sms Maria Ruiz {MARIA}")
    assert not await report(world, "queued")  # behind what is known: changes nothing
    assert await report(world, "delivered")
    assert await text(world, "JOIN") is not None

    events = await history(world)
    assert [e.kind for e in events] == [Kind.CLAIMED, Kind.INVITED, Kind.DELIVERED, Kind.ACCEPTED]
    _, invited, delivered, accepted = events
    head_id = events[0].actor_member_id
    assert (invited.actor, invited.actor_member_id, invited.actor_name) == (
        EventActor.MEMBER,
        head_id,
        "Ana Lopez",
    )
    assert (invited.subject_name, invited.method, invited.masked_contact, invited.via) == (
        "Maria Ruiz",
        Method.SMS,
        MARIA_MASKED,
        "console",
    )
    assert invited.subject_invitation_id is not None and invited.subject_member_id is None
    assert delivered.actor is EventActor.SYSTEM
    assert delivered.subject_invitation_id == invited.subject_invitation_id
    assert accepted.via == "sms" and accepted.actor is EventActor.MEMBER
    assert accepted.actor_member_id == accepted.subject_member_id is not None
    assert accepted.actor_name == accepted.subject_name == "Maria Ruiz"
    assert accepted.subject_invitation_id == invited.subject_invitation_id
    async with world.uow_factory() as uow:
        maria = await uow.members.get(accepted.subject_member_id)
    assert maria is not None and maria.name == "Maria Ruiz"
    assert_nothing_unmasked(events)


@pytest.mark.parametrize("platform", ["telegram", "slack", "console"])
async def test_accepting_in_chat_records_the_platform(world: World, platform: str) -> None:
    ana = await world.head()
    token = await invite(world, ana, f"email Tom Ruiz {TOM}")
    tom = world.person("tom", "Tom", platform=platform)
    await tom.say(f"/join https://hoa.example/i/{token}")
    assert "Welcome, Tom Ruiz" in tom.text
    accepted = await last(world)
    assert (accepted.kind, accepted.via, accepted.method) == (Kind.ACCEPTED, platform, Method.EMAIL)
    assert accepted.masked_contact == "t•••@example.org"
    assert_nothing_unmasked(await history(world))


async def test_accepting_and_declining_on_the_page_record_the_page(world: World) -> None:
    ana = await world.head()
    maria = await invite(world, ana, f"sms Maria Ruiz {MARIA}")
    tom = await invite(world, ana, f"email Tom Ruiz {TOM}")
    await on_page(world, maria, accept=True)
    await on_page(world, maria, accept=True)  # the same browser again: nothing new
    await on_page(world, tom, accept=False)
    *_, accepted, declined = await history(world)
    assert (accepted.kind, accepted.via, accepted.subject_name) == (
        Kind.ACCEPTED,
        "page",
        "Maria Ruiz",
    )
    assert (declined.kind, declined.via, declined.subject_name) == (
        Kind.DECLINED,
        "page",
        "Tom Ruiz",
    )
    assert (declined.actor, declined.actor_member_id, declined.actor_name) == (
        EventActor.INVITEE,
        None,
        "Tom Ruiz",
    )
    assert await kinds(world) == [
        Kind.CLAIMED,
        Kind.INVITED,
        Kind.INVITED,
        Kind.ACCEPTED,
        Kind.DECLINED,
    ]


async def test_declining_in_chat_and_by_text(world: World) -> None:
    ana = await world.head()
    tom = await invite(world, ana, f"email Tom Ruiz {TOM}")
    await invite(world, ana, f"sms Maria Ruiz {MARIA}")
    person = world.person("tom", "Tom", platform="telegram")
    await person.say(f"/decline {tom}")
    assert await text(world, "DECLINE") is not None
    *_, by_chat, by_text = await history(world)
    assert (by_chat.kind, by_chat.via, by_chat.subject_name) == (
        Kind.DECLINED,
        "telegram",
        "Tom Ruiz",
    )
    assert (by_text.kind, by_text.via, by_text.subject_name) == (Kind.DECLINED, "sms", "Maria Ruiz")
    assert by_text.details == {} and by_text.actor is EventActor.INVITEE


async def test_wrong_number_declines_every_open_invitation_to_it(world: World) -> None:
    ana = await world.head()
    await invite(world, ana, f"sms Maria Ruiz {MARIA}")
    bob = await world.head("bob", address="3 Elm Court")
    await invite(world, bob, f"sms Maria R {MARIA}")
    assert await text(world, "WRONG") is not None
    for address in ["12 Oak Lane", "3 Elm Court"]:
        wrong = (await history(world, address))[-1]
        assert (wrong.kind, wrong.via, wrong.details) == (
            Kind.DECLINED,
            "sms",
            {"wrong_number": "yes"},
        )


async def test_resend_and_cancel_are_recorded_as_the_head_s(world: World) -> None:
    ana = await world.head()
    await invite(world, ana, f"sms Maria Ruiz {MARIA}")
    await ana.say("/household")
    await ana.press("Resend")  # a pending invitation: sent again as it is
    resent = await last(world)
    assert (resent.kind, resent.actor_name, resent.via, resent.masked_contact) == (
        Kind.RESENT,
        "Ana Lopez",
        "console",
        MARIA_MASKED,
    )
    assert resent.details == {"new_link": "no", "renewed": "no"}

    world.clock.advance(days=8)  # expired, not yet seen by the dispatcher
    await ana.say("/household")
    await ana.press("Resend")
    await ana.press("New link")
    assert (await last(world)).details == {"new_link": "yes", "renewed": "yes"}

    await ana.say("/household")
    await ana.press("Cancel Invite")
    await ana.press("Yes, cancel it")
    cancelled = await last(world)
    assert (cancelled.kind, cancelled.actor, cancelled.actor_name, cancelled.subject_name) == (
        Kind.CANCELLED,
        EventActor.MEMBER,
        "Ana Lopez",
        "Maria Ruiz",
    )
    assert await kinds(world) == [
        Kind.CLAIMED,
        Kind.INVITED,
        Kind.RESENT,
        Kind.RESENT,
        Kind.CANCELLED,
    ]


async def test_a_refused_invitation_records_nothing(world: World) -> None:
    ana = await world.head()
    await invite(world, ana, f"sms Maria Ruiz {MARIA}")
    await ana.say(f"/invite sms Maria Ruiz {MARIA}")  # already invited
    if "Send Invite" in ana.buttons():
        await ana.press("Send Invite")
    assert "Invitation sent" not in ana.text
    stranger = world.person("eve")
    await stranger.say("/household")
    assert await kinds(world) == [Kind.CLAIMED, Kind.INVITED]


async def test_expiry_is_recorded_as_the_system_s(world: World) -> None:
    ana = await world.head()
    await invite(world, ana, f"sms Maria Ruiz {MARIA}")
    world.clock.advance(days=7, seconds=1)
    await world.deliver()  # the dispatcher expires what ran out
    expired = await last(world)
    assert (expired.kind, expired.actor, expired.actor_name, expired.subject_name) == (
        Kind.EXPIRED,
        EventActor.SYSTEM,
        "",
        "Maria Ruiz",
    )
    await world.deliver()
    assert await kinds(world) == [Kind.CLAIMED, Kind.INVITED, Kind.EXPIRED]


async def test_inviting_again_after_expiry_records_the_old_one_expired(world: World) -> None:
    ana = await world.head()
    await ana.say(f"/invite sms Maria Ruiz {MARIA}")
    await ana.press("Send Invite")
    world.clock.advance(days=8)  # before the dispatcher noticed
    await ana.say(f"/invite sms Maria Ruiz {MARIA}")
    await ana.press("Send Invite")
    first, second = [e for e in await history(world) if e.kind is Kind.INVITED]
    assert await kinds(world) == [Kind.CLAIMED, Kind.INVITED, Kind.EXPIRED, Kind.INVITED]
    expired = (await history(world))[2]
    assert expired.subject_invitation_id == first.subject_invitation_id
    assert second.subject_invitation_id != first.subject_invitation_id


# --- delivery failures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (PermanentDeliveryError(f"550 no such user <{TOM}>"), "rejected"),
        (RecipientOptedOut(f"{MARIA} opted out"), "opted_out"),
    ],
)
async def test_a_permanent_delivery_failure_is_recorded_without_the_error_text(
    world: World, error: DeliveryError, reason: str
) -> None:
    ana = await world.head()
    await ana.say(f"/invite email Tom Ruiz {TOM}")
    await ana.press("Send Invite")
    world.sender.fail_with = error
    await world.dispatcher.run_once()
    failed = await last(world)
    assert (failed.kind, failed.actor, failed.details) == (
        Kind.DELIVERY_FAILED,
        EventActor.SYSTEM,
        {"reason": reason},
    )
    assert_nothing_unmasked(await history(world))


async def test_giving_up_after_retries_is_one_failure(world: World) -> None:
    ana = await world.head()
    await ana.say(f"/invite sms Maria Ruiz {MARIA}")
    await ana.press("Send Invite")
    world.sender.fail_with = DeliveryError("timeout")
    for _ in range(3):  # the world's policy allows 3 attempts
        world.clock.advance(hours=1)
        await world.dispatcher.run_once()
    assert await kinds(world) == [Kind.CLAIMED, Kind.INVITED, Kind.DELIVERY_FAILED]
    assert (await last(world)).details == {"reason": "retries_exhausted"}


async def test_a_carrier_failure_report_keeps_its_error_code(world: World) -> None:
    ana = await world.head()
    await invite(world, ana, f"sms Maria Ruiz {MARIA}")
    assert await report(world, "undelivered", error_code="30003")
    failed = await last(world)
    assert (failed.kind, failed.details) == (
        Kind.DELIVERY_FAILED,
        {"reason": "carrier", "error_code": "30003"},
    )
    # A late "delivered" cannot move the status back, and records nothing.
    assert not await report(world, "delivered")
    assert await kinds(world) == [Kind.CLAIMED, Kind.INVITED, Kind.DELIVERY_FAILED]


async def test_events_are_listed_newest_first_with_time(world: World) -> None:
    ana = await world.head()
    world.clock.advance(minutes=5)
    await invite(world, ana, f"sms Maria Ruiz {MARIA}")
    async with world.uow_factory() as uow:
        [household] = await uow.households.list()
        newest, oldest = await uow.events.list_for_household(household.id)
    assert (newest.kind, oldest.kind) == (Kind.INVITED, Kind.CLAIMED)
    assert newest.at - oldest.at == timedelta(minutes=5)
