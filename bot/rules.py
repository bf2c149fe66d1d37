"""The business rules, each a named check that raises :class:`Refused` with the sentence the
person should read. Use cases call them before they change anything."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from . import messages as msg
from .domain import ChannelIdentity, Household, Invitation, Member, ThrottleCount
from .language import ENGLISH, Minutes, Say


class Refused(Exception):
    """A rule said no. ``say`` is the friendly sentence for the person, to be read in their
    words (``words.say(error.say)``); ``str(error)`` is it in English, for logs and tests."""

    def __init__(self, sentence: str, /, **fields: object) -> None:
        self.say = Say(sentence, fields)
        super().__init__(ENGLISH.say(self.say))


class WrongSecret(Refused):
    """An access code or invitation link that admits no one: unknown, forged, used,
    cancelled or expired (one sentence for all, so a stranger learns nothing). A guess, as
    far as the throttles in :mod:`bot.throttles` go."""


class Throttled(Refused):
    """Too many of something in too short a time: ``retry_after`` says how long to wait."""

    def __init__(self, sentence: str, /, *, retry_after: timedelta, **fields: object) -> None:
        super().__init__(sentence, **fields)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Who:
    """The person behind a chat account, as far as the household goes."""

    identity: ChannelIdentity | None = None
    member: Member | None = None
    household: Household | None = None
    timezone: str = ""
    """The time zone of the household's community; "" for the server's default."""

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


def minutes_to_wait(retry_after: timedelta) -> int:
    """Whole minutes, rounded up: "try again in 1 minute" rather than "in 0"."""
    return max(1, -(-int(retry_after.total_seconds()) // 60))


def within_limit(
    counted: ThrottleCount,
    *,
    limit: int,
    now: datetime,
    window: timedelta,
    sentence: str,
    **fields: object,
) -> None:
    """Nothing past ``limit`` in a window: past it, refuse until the window ends, with
    ``sentence`` (its ``{wait}`` and ``fields`` filled in). ``counted`` includes the
    attempt at hand."""
    if counted.count > limit:
        retry_after = counted.retry_after(now=now, window=window)
        wait = Minutes(minutes_to_wait(retry_after))
        raise Throttled(sentence, retry_after=retry_after, wait=wait, **fields)


# --- who may change a household (bot/membership.py, bot/handover.py) ----------------------
# Each takes what the service read after locking the household row, so a rule is decided on
# the household as it is now, not as it was when the message arrived.


def still_in_the_household(household: Household | None, member: Member | None) -> None:
    """The person acting is a current member of the (locked) household they act in."""
    if (
        household is None
        or member is None
        or not member.is_current
        or member.household_id != household.id
    ):
        raise Refused(msg.NOT_IN_HOUSEHOLD)


def only_the_head_changes_members(household: Household, member: Member) -> None:
    """Only the head removes, renames, and hands over the head role (the household row says
    who the head is: a hand-over that just committed counts)."""
    if household.head_member_id != member.id:
        raise Refused(msg.ONLY_HEAD)


def a_current_member_of_this_household(household: Household, member: Member | None) -> Member:
    """A button names a member of the head's own household who has not left: a payload
    naming anyone else (tampered, replayed, or from before they left) changes nothing."""
    if member is None or member.household_id != household.id:
        raise Refused(msg.NOT_YOUR_MEMBER)
    if not member.is_current:
        raise Refused(msg.NOT_A_MEMBER_NOW, name=member.name)
    return member


def the_head_stays_until_handed_over(household: Household, member: Member, *, hoa: str) -> None:
    """A head cannot leave or remove themselves: they hand the role over first (or the board
    issues a new access code)."""
    if household.head_member_id == member.id:
        raise Refused(msg.HEAD_CANNOT_LEAVE, address=household.address, hoa=hoa)


def only_the_asked_member_answers(household: Household, member: Member, now: datetime) -> None:
    """Only the member a head request names answers it, and only while it is open."""
    if household.open_head_request(now) != member.id:
        raise Refused(msg.HEAD_REQUEST_NOT_OPEN)
