"""Claiming a household (the head proves they are the head with the board's access code, or
takes it over with a new one), and what a household looks like (`household_view`)."""

from __future__ import annotations

from dataclasses import dataclass

from . import messages as msg
from .contacts import ContactError, normalise_name
from .context import CoreContext
from .domain import (
    ChannelIdentity,
    Community,
    Household,
    Invitation,
    InvitationStatus,
    Member,
    Role,
)
from .invitations import link_account, who_is
from .language import language_of
from .membership import tell_member, void_head_request
from .ports import UnitOfWork
from .replies import Actor
from .rules import Refused, WrongSecret
from .secrets import normalise_access_code


@dataclass(frozen=True)
class Claim:
    household: Household
    community: Community | None
    head: Member
    replaced: Member | None = None
    """The head before, when the board's new access code handed the household to someone
    else (who is head now; the one before stays a member)."""
    joined: bool = False
    """Whether the head is new to the household (not a member who took the head role)."""


USED_CODE = "used:"
"""What a household keeps in place of its access code's hash once the code admitted a head:
no typed code hashes to it, so a code admits one head, once."""


async def claim_household(uow: UnitOfWork, ctx: CoreContext, *, actor: Actor, code: str) -> Claim:
    """Make the chat user the head of the household whose access code they typed. A code
    admits one head, once; a used, unknown or malformed code gets the same answer.

    A new code the board issued for a claimed household (``invitebot admin household
    reset-code``) hands it over: whoever types it becomes head (a member of it, or someone in
    no household), and the head before stays a member, told of the change. That is how a
    head who cannot hand over (alone, or with members the bot cannot reach in chat) leaves,
    and how the board takes a household back from a head who is gone."""
    current = await who_is(uow, actor)
    normalised = normalise_access_code(code)
    household = (
        await uow.households.get_by_code_hash(ctx.code_hash(normalised)) if normalised else None
    )
    if current.household is not None and (
        household is None or household.id != current.household.id
    ):
        # Checked before the code's verdict, so a member learns nothing about other codes.
        raise Refused(msg.ALREADY_IN_HOUSEHOLD, address=current.household.address)
    if household is not None:
        # Locked, then checked: of two people sending the same code at once, one is head.
        household = await uow.households.get(household.id, for_update=True)
    if household is None or household.access_code_hash != ctx.code_hash(normalised or ""):
        raise WrongSecret(msg.BAD_ACCESS_CODE, hoa=ctx.hoa_contact)
    community = await uow.communities.get(household.community_id)
    if household.deactivated_at is not None:  # the code is right: it may say why not
        hoa = (community.contact if community else "") or ctx.hoa_contact
        raise Refused(msg.CLAIM_INACTIVE, address=household.address, hoa=hoa)
    now = ctx.clock.now()
    replaced = (
        await uow.members.get(household.head_member_id)
        if household.head_member_id is not None  # claimed
        else None
    )
    if replaced is not None and current.member is not None and current.member.id == replaced.id:
        # The head typing a new code of their own household: it is spent, nothing changes.
        household.access_code_hash = USED_CODE + household.id
        await uow.households.update(household)
        return Claim(household=household, community=community, head=replaced)
    if current.member is not None:
        head = current.member
        head.role = Role.HEAD
        await uow.members.update(head)
    else:
        email = household.head_contact if "@" in household.head_contact else None
        phone = household.head_contact if household.head_contact.startswith("+") else None
        head = Member(
            household_id=household.id,
            name=(household.head_name if replaced is None else "")
            or _usable_name(actor.display_name),
            role=Role.HEAD,
            email=email if replaced is None else None,
            phone=phone if replaced is None else None,
            joined_at=now,
            language=language_of(actor.language) or "",
        )
        await uow.members.add(head)
        await link_account(uow, actor=actor, member=head, now=now)
    if replaced is not None:
        replaced.role = Role.MEMBER
        await uow.members.update(replaced)
        if household.head_request_member_id is not None:
            await void_head_request(uow, household, reason="replaced", via=actor.platform, now=now)
        await tell_member(
            uow,
            ctx.clock.now(),
            replaced,
            msg.NOTIFY_HEAD_REPLACED,
            name=head.name,
            address=household.address,
        )
    household.head_member_id = head.id
    household.claimed_at = household.claimed_at or now
    household.access_code_hash = USED_CODE + household.id
    await uow.households.update(household)
    return Claim(
        household=household,
        community=community,
        head=head,
        replaced=replaced,
        joined=current.member is None,
    )


def _usable_name(display_name: str) -> str:
    """The chat account's display name when it is a usable name, else a neutral one."""
    try:
        return normalise_name(display_name)
    except ContactError:
        return "Head of household"


async def head_accounts_for_invitation(
    uow: UnitOfWork, invitation_id: str, *, platform: str
) -> list[ChannelIdentity]:
    """The chat accounts on ``platform`` of the head of the household an invitation belongs
    to: whose household page shows it, to bring up to date after something happened to it
    (accepted, declined, expired, undeliverable). Read-only; none for an unknown id."""
    invitation = await uow.invitations.get(invitation_id)
    if invitation is None:
        return []
    household = await uow.households.get(invitation.household_id)
    head_id = household.head_member_id if household is not None else None
    accounts = await uow.identities.list_for_member(head_id or invitation.invited_by)
    return [account for account in accounts if account.platform == platform]


# --- what a household looks like -----------------------------------------------------------


@dataclass(frozen=True)
class HouseholdView:
    household: Household
    community: Community | None
    members: list[Member]
    open_invitations: list[Invitation]
    closed_invitations: list[Invitation]


async def household_view(
    uow: UnitOfWork, ctx: CoreContext, *, household: Household
) -> HouseholdView:
    now = ctx.clock.now()
    invitations = await uow.invitations.list_for_household(household.id)
    open_statuses = (InvitationStatus.PENDING, InvitationStatus.EXPIRED)
    return HouseholdView(
        household=household,
        community=await uow.communities.get(household.community_id),
        members=list(await uow.members.list_for_household(household.id)),
        open_invitations=[i for i in invitations if i.effective_status(now) in open_statuses],
        closed_invitations=[i for i in invitations if i.effective_status(now) not in open_statuses],
    )
