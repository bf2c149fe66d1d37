"""The checks before an invitation goes out: the household is active, the head is within the
invitation quota, the destination within its daily cap, a phone may be texted, and what a
contact already means for the household (a member, or invited). Each raises
:class:`bot.rules.Refused` with the sentence the head reads, or returns what it found."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from . import messages as msg
from .context import CoreContext
from .domain import Household, Invitation, Member
from .ports import UnitOfWork
from .rules import Refused


async def check_invite_quota(uow: UnitOfWork, ctx: CoreContext, *, head: Member) -> None:
    """The head's quota: at most N invitation messages an hour and M a day from their
    household. Every message that goes out to an invitee counts, a resend as much as a first
    send: otherwise two invitations resent over and over would text or mail far past the
    quota. Counted per household, so handing the head role back and forth gains nothing."""
    now = ctx.clock.now()
    limits = ctx.limits
    last_hour = await uow.outbox.count_invitations_sent_for(
        household_id=head.household_id, since=now - timedelta(hours=1)
    )
    if last_hour >= limits.invites_per_hour:
        raise Refused(msg.QUOTA_HOUR, count=last_hour)
    last_day = await uow.outbox.count_invitations_sent_for(
        household_id=head.household_id, since=now - timedelta(days=1)
    )
    if last_day >= limits.invites_per_day:
        raise Refused(msg.QUOTA_DAY, count=last_day)


async def check_destination_cap(
    uow: UnitOfWork, ctx: CoreContext, *, contact: str, shown_as: str
) -> None:
    """Per-destination cap across the whole system: no one gets flooded by invitations."""
    sent = await uow.outbox.count_to_destination(
        destination=contact, since=ctx.clock.now() - timedelta(days=1)
    )
    if sent >= ctx.limits.messages_per_destination_per_day:
        raise Refused(
            msg.DESTINATION_CAP, contact=shown_as, limit=ctx.limits.messages_per_destination_per_day
        )


async def check_phone_may_be_texted(uow: UnitOfWork, *, phone: str, shown_as: str) -> None:
    """Refuse to text a number that opted out (STOP) or said it is the wrong number."""
    status = await uow.phones.get(phone)
    if status is None:
        return
    if status.opted_out:
        raise Refused(msg.PHONE_OPTED_OUT, contact=shown_as)
    if status.wrong_number:
        raise Refused(msg.PHONE_WRONG_NUMBER, contact=shown_as)


@dataclass(frozen=True)
class ContactCheck:
    """What a contact means for this household: free, already a member, or already invited."""

    member: Member | None = None
    pending: Invitation | None = None


async def check_contact(
    uow: UnitOfWork, ctx: CoreContext, *, household: Household, contact: str
) -> ContactCheck:
    member = await uow.members.find_by_contact(household_id=household.id, contact=contact)
    if member is not None:
        return ContactCheck(member=member)
    pending = await uow.invitations.find_pending(household_id=household.id, contact=contact)
    if pending is not None and pending.is_open(ctx.clock.now()):
        return ContactCheck(pending=pending)
    return ContactCheck(pending=pending)


async def check_active(uow: UnitOfWork, household: Household, *, hoa: str = "") -> None:
    """A household the board deactivated sends and manages no invitations: refused with a
    sentence naming the HOA's contact (the community's, else ``hoa``)."""
    if household.deactivated_at is None:
        return
    community = await uow.communities.get(household.community_id)
    contact = (community.contact if community else "") or hoa or msg.YOUR_HOA_BOARD
    raise Refused(msg.HOUSEHOLD_INACTIVE, address=household.address, hoa=contact)
