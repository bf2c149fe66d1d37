"""The business rules, each a named check that raises :class:`Refused` with the sentence the
person should read. Use cases call them before they change anything."""

from __future__ import annotations

from dataclasses import dataclass

from . import messages as msg
from .domain import ChannelIdentity, Household, Invitation, Member


class Refused(Exception):
    """A rule said no. ``str(error)`` is the friendly sentence for the person."""


@dataclass(frozen=True)
class Who:
    """The person behind a chat account, as far as the household goes."""

    identity: ChannelIdentity | None = None
    member: Member | None = None
    household: Household | None = None

    @property
    def is_head(self) -> bool:
        return self.member is not None and self.member.is_head


def only_a_head_may_manage_invitations(who: Who) -> tuple[Member, Household]:
    """Only the head of a household invites, resends and cancels."""
    if who.member is None or who.household is None:
        raise Refused(msg.NOT_IN_HOUSEHOLD)
    if not who.member.is_head:
        raise Refused(msg.ONLY_HEAD)
    return who.member, who.household


def only_in_their_own_household(who: Who, invitation: Invitation | None) -> Invitation:
    """A head manages only their own household's invitations: a payload naming another
    household's invitation (tampered or replayed) changes nothing."""
    _, household = only_a_head_may_manage_invitations(who)
    if invitation is None or invitation.household_id != household.id:
        raise Refused(msg.NOT_YOUR_INVITATION)
    return invitation


def must_be_in_a_household(who: Who) -> tuple[Member, Household]:
    if who.member is None or who.household is None:
        raise Refused(msg.NOT_IN_HOUSEHOLD)
    return who.member, who.household
