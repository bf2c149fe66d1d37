"""The household events each change records (see :class:`bot.domain.HouseholdEvent`).

A service that changes a household appends one of these to ``uow.events`` in the unit of work
that makes the change, so the history holds exactly what was committed. The builders here
decide what an event keeps: names as they are now, the contact only masked.
"""

from __future__ import annotations

from datetime import datetime

from .contacts import mask_contact
from .domain import (
    EventActor,
    Household,
    HouseholdEvent,
    HouseholdEventKind,
    Invitation,
    Member,
)

PAGE = "page"
"""``HouseholdEvent.via`` for an answer given on the invitation page; chat platforms and
``sms`` go by their platform name."""


def about_invitation(
    kind: HouseholdEventKind,
    invitation: Invitation,
    *,
    at: datetime,
    actor: EventActor,
    by: Member | None = None,
    via: str = "",
    **details: str,
) -> HouseholdEvent:
    """An event about ``invitation``: done by the member ``by`` (``actor`` MEMBER), by its
    invitee (INVITEE: their name is the invitation's), or by the system or the board."""
    if actor is EventActor.MEMBER and by is None:
        raise ValueError("a member's event names the member")
    actor_name = by.name if by is not None else ""
    if actor is EventActor.INVITEE:
        actor_name = invitation.invitee_name
    return HouseholdEvent(
        household_id=invitation.household_id,
        kind=kind,
        at=at,
        actor=actor,
        actor_member_id=by.id if by is not None else None,
        actor_name=actor_name,
        subject_member_id=invitation.member_id,
        subject_invitation_id=invitation.id,
        subject_name=invitation.invitee_name,
        method=invitation.method,
        masked_contact=mask_contact(invitation.contact),
        via=via,
        details=details,
    )


def claimed(
    household: Household,
    head: Member,
    *,
    at: datetime,
    via: str,
    joined: bool,
    replaced: Member | None = None,
) -> HouseholdEvent:
    """``head`` claimed ``household`` with its access code, from the chat platform ``via``;
    ``joined``: the head is new to the household (not a member who took the head role);
    ``replaced``: the head before, when a new code from the board handed the household over."""
    details = {"joined": "yes" if joined else "no"}
    if replaced is not None:
        details |= {"replaced": replaced.name, "replaced_id": replaced.id}
    return HouseholdEvent(
        household_id=household.id,
        kind=HouseholdEventKind.CLAIMED,
        at=at,
        actor=EventActor.MEMBER,
        actor_member_id=head.id,
        actor_name=head.name,
        subject_member_id=head.id,
        subject_name=head.name,
        via=via,
        details=details,
    )


def access_code_reset(household: Household, *, at: datetime) -> HouseholdEvent:
    """The board issued ``household`` a new access code (the old one stopped working)."""
    return HouseholdEvent(
        household_id=household.id,
        kind=HouseholdEventKind.ACCESS_CODE_RESET,
        at=at,
        actor=EventActor.BOARD,
        details={"claimed": "yes" if household.claimed else "no"},
    )


def about_member(
    kind: HouseholdEventKind,
    member: Member,
    *,
    at: datetime,
    by: Member | None,
    via: str,
    board: bool = False,
    **details: str,
) -> HouseholdEvent:
    """An event about ``member`` (removed, left, renamed, asked to become head, ...), done by
    the member ``by`` (themselves when they left or answered), by the HOA board (``board``),
    or by invitebot itself when ``by`` is ``None`` (a request that lapsed)."""
    actor = EventActor.MEMBER if by is not None else EventActor.SYSTEM
    return HouseholdEvent(
        household_id=member.household_id,
        kind=kind,
        at=at,
        actor=EventActor.BOARD if board else actor,
        actor_member_id=by.id if by is not None else None,
        actor_name=by.name if by is not None else "",
        subject_member_id=member.id,
        subject_name=member.name,
        via=via,
        details=details,
    )


def by_the_board(kind: HouseholdEventKind, household: Household, *, at: datetime) -> HouseholdEvent:
    """The board deactivated or activated ``household``."""
    return HouseholdEvent(household_id=household.id, kind=kind, at=at, actor=EventActor.BOARD)
