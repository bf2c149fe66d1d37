"""Claiming a household: the head proves they are the head with the board's access code."""

from __future__ import annotations

from dataclasses import dataclass

from . import messages as msg
from .contacts import ContactError, normalise_name
from .context import CoreContext
from .domain import ChannelIdentity, Community, Household, Member, Role
from .invitations import link_account, who_is
from .ports import UnitOfWork
from .replies import Actor
from .rules import Refused, WrongSecret
from .secrets import normalise_access_code


@dataclass(frozen=True)
class Claim:
    household: Household
    community: Community | None
    head: Member


async def claim_household(uow: UnitOfWork, ctx: CoreContext, *, actor: Actor, code: str) -> Claim:
    """Make the chat user the head of the household whose access code they typed. A code
    admits one head, once; a used, unknown or malformed code gets the same answer."""
    current = await who_is(uow, actor)
    if current.household is not None:
        raise Refused(msg.ALREADY_IN_HOUSEHOLD.format(address=current.household.address))
    normalised = normalise_access_code(code)
    household = (
        await uow.households.get_by_code_hash(ctx.code_hash(normalised)) if normalised else None
    )
    if household is not None:
        # Locked, then checked: of two people sending the same code at once, one is head.
        household = await uow.households.get(household.id, for_update=True)
    if household is None or household.claimed:
        raise WrongSecret(msg.BAD_ACCESS_CODE.format(hoa=ctx.hoa_contact))
    community = await uow.communities.get(household.community_id)
    now = ctx.clock.now()
    email = household.head_contact if "@" in household.head_contact else None
    phone = household.head_contact if household.head_contact.startswith("+") else None
    head = Member(
        household_id=household.id,
        name=household.head_name or _usable_name(actor.display_name),
        role=Role.HEAD,
        email=email,
        phone=phone,
        joined_at=now,
    )
    await uow.members.add(head)
    await link_account(uow, actor=actor, member=head, now=now)
    household.head_member_id = head.id
    household.claimed_at = now
    await uow.households.update(household)
    return Claim(household=household, community=community, head=head)


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
