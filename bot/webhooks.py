"""Telling the HOA's other systems: a signed webhook for each household event they care about.

A gate-access list, a portal or a mailing list wants to know who is in a household, and the
moment that changes. :class:`WebhookPublisher` listens to every household event as it is
appended (:class:`bot.ports.EventListener`) and writes one outbox message per webhook type the
event makes, in the transaction that records the event: a webhook is sent exactly when the
change committed, never for one rolled back, and sending never holds up the chat. The
messages of a household carry its id as their ordering key, so they leave one at a time in
the order their changes committed (see ``OutboxMessage.ordering_key``).

The body follows the Standard Webhooks payload shape (``type``, ``timestamp``, ``data``);
signing happens when it is sent (the signature covers the attempt's own timestamp), by the
sender in ``handlers/webhooks.py``. Its ``webhook-id`` is the event's id and the type, the
same on every attempt, so a receiver drops a repeat by it.

What a webhook carries: the household (id, address, status), its community, who did it, and
the member with their whole contact (the board's other systems need the email or phone to
let them in or take them off a list). An invitation's contact stays masked, as in the
history: until someone accepts, the other systems have no use for it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from .delivery import RetryPolicy
from .domain import (
    Channel,
    Community,
    Household,
    HouseholdEvent,
    HouseholdEventKind,
    Member,
    OutboxMessage,
)
from .ports import UnitOfWork

MEMBER_JOINED = "member.joined"
MEMBER_REMOVED = "member.removed"
MEMBER_LEFT = "member.left"
HEAD_CHANGED = "household.head_changed"
HOUSEHOLD_ACTIVATED = "household.activated"
HOUSEHOLD_DEACTIVATED = "household.deactivated"
INVITATION_CREATED = "invitation.created"
INVITATION_ACCEPTED = "invitation.accepted"
INVITATION_DECLINED = "invitation.declined"
INVITATION_CANCELLED = "invitation.cancelled"
INVITATION_EXPIRED = "invitation.expired"
INVITATION_RENEWED = "invitation.renewed"
"""An expired invitation sent again: open once more, until its new expiry."""
PING = "ping"

WEBHOOK_RETRY = RetryPolicy(
    schedule=(
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
    ),
)
"""The Standard Webhooks retry schedule: at once, then after 5 s, 5 min, 30 min, 2 h, 5 h,
10 h and 10 h (8 attempts over about a day and a quarter), each with some jitter."""

WEBHOOK_TYPES: Mapping[HouseholdEventKind, tuple[str, ...]] = {
    HouseholdEventKind.INVITED: (INVITATION_CREATED,),
    HouseholdEventKind.ACCEPTED: (INVITATION_ACCEPTED, MEMBER_JOINED),
    HouseholdEventKind.DECLINED: (INVITATION_DECLINED,),
    HouseholdEventKind.CANCELLED: (INVITATION_CANCELLED,),
    HouseholdEventKind.EXPIRED: (INVITATION_EXPIRED,),
    HouseholdEventKind.REMOVED: (MEMBER_REMOVED,),
    HouseholdEventKind.LEFT: (MEMBER_LEFT,),
    HouseholdEventKind.HEAD_HANDED_OVER: (HEAD_CHANGED,),
    HouseholdEventKind.ACTIVATED: (HOUSEHOLD_ACTIVATED,),
    HouseholdEventKind.DEACTIVATED: (HOUSEHOLD_DEACTIVATED,),
}
"""The webhooks each kind of event makes; a kind not here (a resend, a delivery report, a
rename, a head request, a new access code) makes none. A claim and a resend are decided by
their details: see :func:`webhook_types`."""

ALL_TYPES = (
    MEMBER_JOINED,
    MEMBER_REMOVED,
    MEMBER_LEFT,
    HEAD_CHANGED,
    HOUSEHOLD_ACTIVATED,
    HOUSEHOLD_DEACTIVATED,
    INVITATION_CREATED,
    INVITATION_ACCEPTED,
    INVITATION_DECLINED,
    INVITATION_CANCELLED,
    INVITATION_EXPIRED,
    INVITATION_RENEWED,
)


def webhook_types(event: HouseholdEvent) -> tuple[str, ...]:
    """The webhook types ``event`` makes, in the order they are sent.

    A claim makes ``member.joined`` when the head is new to the household, and
    ``household.head_changed`` when the head is someone else than before (the first claim
    included); the head typing a new code of their own household makes none. A resend makes
    ``invitation.renewed`` when it opened an expired invitation again, and none otherwise.
    """
    if event.kind is HouseholdEventKind.RESENT:
        return (INVITATION_RENEWED,) if event.details.get("renewed") == "yes" else ()
    if event.kind is HouseholdEventKind.CLAIMED:
        joined = event.details.get("joined") == "yes"
        replaced = bool(event.details.get("replaced_id"))
        return ((MEMBER_JOINED,) if joined else ()) + (
            (HEAD_CHANGED,) if joined or replaced else ()
        )
    return WEBHOOK_TYPES.get(event.kind, ())


def webhook_id(event: HouseholdEvent, webhook_type: str) -> str:
    """The ``webhook-id`` of one webhook: stable across attempts, unique across webhooks."""
    return f"{event.id}.{webhook_type}"


def payload(webhook_type: str, *, at: datetime, data: Mapping[str, Any]) -> str:
    """The JSON body: ``{"type", "timestamp", "data"}`` (UTF-8, no needless spaces)."""
    return json.dumps(
        {"type": webhook_type, "timestamp": _iso(at), "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def ping(now: datetime, *, nonce: str) -> tuple[str, str]:
    """The ``webhook-id`` and body of ``invitebot admin webhook test``'s ping."""
    return f"ping.{nonce}", payload(PING, at=now, data={"message": "invitebot webhook test"})


class WebhookPublisher:
    """Writes the webhooks of each household event into the outbox, in the event's unit of
    work (an :class:`bot.ports.EventListener`, wired by the composition root when a webhook
    URL is configured)."""

    async def __call__(self, uow: UnitOfWork, event: HouseholdEvent) -> None:
        types = webhook_types(event)
        if not types:
            return
        found = await uow.households.get_with_community(event.household_id)
        if found is None:  # the event's own household: there while its transaction is open
            return
        household, community = found
        data = await _data(uow, event, household, community)
        for webhook_type in types:
            ident = webhook_id(event, webhook_type)
            await uow.outbox.add(
                OutboxMessage(
                    channel=Channel.WEBHOOK,
                    destination=webhook_type,
                    body=payload(webhook_type, at=event.at, data=data),
                    created_at=event.at,
                    next_attempt_at=event.at,
                    subject=ident,
                    data={"webhook_id": ident},
                    ordering_key=household.id,
                )
            )


async def _data(
    uow: UnitOfWork, event: HouseholdEvent, household: Household, community: Community | None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event_id": event.id,
        "community": {"id": community.id, "name": community.name} if community else None,
        "household": {
            "id": household.id,
            "address": household.address,
            "status": household.status.value.replace(" ", "_"),
        },
        "actor": {
            "type": event.actor.value,
            "member_id": event.actor_member_id,
            "name": event.actor_name,
        },
        "via": event.via,
    }
    if event.subject_invitation_id is not None:
        data["invitation"] = {
            "id": event.subject_invitation_id,
            "invitee_name": event.subject_name,
            "method": event.method.value if event.method else None,
            "contact": event.masked_contact,
        }
    if event.subject_member_id is not None:
        member = await uow.members.get(event.subject_member_id)
        if member is not None:
            data["member"] = _member(member)
    previous = await _previous_head(uow, event)
    if previous is not None:
        data["previous_head"] = {"id": previous.id, "name": previous.name}
    elif event.kind in (HouseholdEventKind.CLAIMED, HouseholdEventKind.HEAD_HANDED_OVER):
        data["previous_head"] = None
    return data


async def _previous_head(uow: UnitOfWork, event: HouseholdEvent) -> Member | None:
    if event.kind is HouseholdEventKind.HEAD_HANDED_OVER and event.actor_member_id:
        return await uow.members.get(event.actor_member_id)
    if event.kind is not HouseholdEventKind.CLAIMED:
        return None
    replaced = event.details.get("replaced_id")
    return await uow.members.get(replaced) if replaced else None


def _member(member: Member) -> dict[str, Any]:
    return {
        "id": member.id,
        "name": member.name,
        "role": member.role.value,
        "email": member.email,
        "phone": member.phone,
        "joined_at": _iso(member.joined_at) if member.joined_at else None,
        "left_at": _iso(member.left_at) if member.left_at else None,
    }


def _iso(at: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, to the millisecond."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
