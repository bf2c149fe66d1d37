"""What the HOA board does to a household from the command line beyond its access code:
deactivate it (every open invitation cancelled at once, its head unable to invite, its access
code admitting no one), activate it again, and remove one of its members.

Each use case runs in one unit of work, locks the household row first (as the chat's changes
do, :mod:`bot.membership`), records its household event as done by the board, and queues
what the people concerned are told.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import history
from . import messages as msg
from .admin import (
    AdminError,
    IssuedCode,
    UnknownHousehold,
    _address,
    _community_name,
    _community_named,
    _fresh_code,
)
from .domain import (
    Community,
    EventActor,
    Household,
    HouseholdEventKind,
    InvitationStatus,
    Member,
)
from .group_access import offer_group_to_household, take_out_of_group
from .language import Words
from .membership import take_out, tell, tell_member
from .ports import Clock, UnitOfWork, UnitOfWorkFactory
from .roster import folded
from .secrets import new_nonce


class AlreadyInactive(AdminError):
    reason = "already_inactive"


class AlreadyActive(AdminError):
    reason = "already_active"


class UnknownMember(AdminError):
    reason = "unknown_member"


@dataclass(frozen=True)
class Deactivation:
    household: Household
    community: Community
    cancelled: int
    """How many open invitations were cancelled with it."""


@dataclass(frozen=True)
class Activation:
    household: Household
    community: Community
    issued: IssuedCode | None
    """The new access code, when one was asked for."""


@dataclass(frozen=True)
class BoardRemoval:
    household: Household
    community: Community
    member: Member


async def _locked_household(
    uow: UnitOfWork, community_name: str, address: str
) -> tuple[Household, Community]:
    community = await _community_named(uow, _community_name(community_name))
    address = _address(address)
    found = await uow.households.find_by_address(community_id=community.id, address=address)
    household = await uow.households.get(found.id, for_update=True) if found else None
    if household is None:
        raise UnknownHousehold(f"There is no household at “{address}” in “{community.name}”.")
    return household, community


def _hoa(community: Community, fallback: str) -> str:
    return community.contact or fallback or msg.YOUR_HOA_BOARD


async def deactivate_household(
    uow_factory: UnitOfWorkFactory,
    *,
    community_name: str,
    address: str,
    clock: Clock,
    hoa_contact: str = "",
) -> Deactivation:
    """Deactivate a household: every open invitation is cancelled (its links and SMS replies
    stop working, and a message still queued for it is never sent), its head can no longer
    invite, and its access code admits no one until it is activated again. The head is
    told. Raises :class:`AlreadyInactive` for a household that is inactive already."""
    async with uow_factory() as uow:
        household, community = await _locked_household(uow, community_name, address)
        if household.deactivated_at is not None:
            raise AlreadyInactive(
                f"The household at “{household.address}” is already inactive "
                f"(since {household.deactivated_at.date().isoformat()})."
            )
        now = clock.now()
        household.deactivated_at = now
        await uow.households.update(household)
        cancelled = 0
        for listed in await uow.invitations.list_for_household(household.id):
            # Locked and read again: an acceptance holding the invitation commits first, and
            # then it is no longer open (never an accepted invitation marked cancelled).
            invitation = await uow.invitations.get(listed.id, for_update=True)
            if invitation is None or invitation.effective_status(now) not in (
                InvitationStatus.PENDING,
                InvitationStatus.EXPIRED,
            ):
                continue
            invitation.status = InvitationStatus.CANCELLED
            invitation.nonce = new_nonce()
            invitation.responded_at = now
            await uow.invitations.update(invitation)
            await uow.events.append(
                history.about_invitation(
                    HouseholdEventKind.CANCELLED, invitation, at=now, actor=EventActor.BOARD
                )
            )
            cancelled += 1
        await uow.events.append(
            history.by_the_board(HouseholdEventKind.DEACTIVATED, household, at=now)
        )
        for member in await uow.members.list_for_household(household.id):
            accounts = list(await uow.identities.list_for_member(member.id))
            await take_out_of_group(
                uow,
                community,
                household,
                accounts,
                now=now,
                why=msg.GROUP_REMOVED_DEACTIVATED,
                language=member.language,
            )
        await tell_member(
            uow,
            now,
            household.head_member_id,
            msg.NOTIFY_DEACTIVATED,
            address=household.address,
            hoa=_hoa(community, hoa_contact),
        )
        await uow.commit()
    return Deactivation(household=household, community=community, cancelled=cancelled)


async def activate_household(
    uow_factory: UnitOfWorkFactory,
    *,
    community_name: str,
    address: str,
    clock: Clock,
    secret_key: bytes,
    new_code: bool = False,
) -> Activation:
    """Activate a deactivated household again: its head may invite, and its access code (if
    not used yet) works again; with ``new_code`` a new one is issued and the old one stops.
    The invitations cancelled with the deactivation stay cancelled. The head is told."""
    async with uow_factory() as uow:
        household, community = await _locked_household(uow, community_name, address)
        if household.deactivated_at is None:
            raise AlreadyActive(f"The household at “{household.address}” is active already.")
        now = clock.now()
        household.deactivated_at = None
        issued = None
        if new_code:
            code, household.access_code_hash = await _fresh_code(uow, secret_key=secret_key)
            issued = IssuedCode(household=household, community=community, code=code)
        await uow.households.update(household)
        await uow.events.append(
            history.by_the_board(HouseholdEventKind.ACTIVATED, household, at=now)
        )
        # Their way back into the residents' group (Slack has no request to ask with).
        await offer_group_to_household(uow, household.id, now=now)
        if new_code:
            await uow.events.append(history.access_code_reset(household, at=now))
        await tell_member(
            uow, now, household.head_member_id, msg.NOTIFY_ACTIVATED, address=household.address
        )
        await uow.commit()
    return Activation(household=household, community=community, issued=issued)


async def remove_member_by_board(
    uow_factory: UnitOfWorkFactory,
    *,
    community_name: str,
    address: str,
    name: str,
    clock: Clock,
    hoa_contact: str = "",
) -> BoardRemoval:
    """The board takes a member out of a household (as the head's Remove does: chat
    accounts unlinked, the invitation's links voided, the row kept), recorded as done by the
    board; the member and the head are told. The head is not removed this way: the board
    issues a new access code to hand the household over (``reset-code``)."""
    async with uow_factory() as uow:
        household, community = await _locked_household(uow, community_name, address)
        wanted = folded(name)
        matches = [
            m
            for m in await uow.members.list_for_household(household.id)
            if folded(m.name) == wanted
        ]
        if not matches:
            raise UnknownMember(
                f"Nobody named “{name.strip()[:100]}” is a member of the household at "
                f"“{household.address}”."
            )
        if len(matches) > 1:
            raise UnknownMember(
                f"{len(matches)} members of “{household.address}” are named "
                f"“{matches[0].name}”; rename one of them first (the head's Rename in chat)."
            )
        [member] = matches
        if member.id == household.head_member_id:
            raise AdminError(
                f"{member.name} is the head of “{household.address}”. To give the household "
                "to someone else, issue a new access code (invitebot admin household "
                "reset-code): whoever types it becomes head."
            )
        now = clock.now()
        accounts = await take_out(uow, household, member, via="", reason="removed", now=now)
        await uow.events.append(
            history.about_member(
                HouseholdEventKind.REMOVED, member, at=now, by=None, via="", board=True
            )
        )
        await tell(
            uow,
            now,
            accounts,
            Words(member.language)(
                msg.NOTIFY_REMOVED_BY_BOARD,
                address=household.address,
                community=community.name,
                hoa=_hoa(community, hoa_contact),
            ),
        )
        await tell_member(
            uow,
            now,
            household.head_member_id,
            msg.NOTIFY_BOARD_REMOVED,
            name=member.name,
            address=household.address,
        )
        await uow.commit()
    return BoardRemoval(household=household, community=community, member=member)
