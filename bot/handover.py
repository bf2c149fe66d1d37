"""Handing over the head role: the head asks a member (on the member's chat), the member
accepts or declines, the head may cancel, and an unanswered request lapses after
:data:`bot.domain.HEAD_REQUEST_TTL`. A household holds at most one request (on its row, which
every step locks first, as :mod:`bot.membership` does), so an answer, a cancel, a removal and
the lapse sweep are decided one after the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from . import history
from . import messages as msg
from .context import CoreContext
from .domain import HEAD_REQUEST_TTL, Community, Household, HouseholdEventKind, Member, Role
from .language import Words
from .membership import (
    Acting,
    acting_head,
    acting_member,
    chat_accounts,
    member_of,
    tell,
    tell_member,
    void_head_request,
)
from .ports import UnitOfWork
from .replies import Button, Style
from .rules import Refused, Who, only_the_asked_member_answers

ACCEPT = "head:accept:"
DECLINE = "head:decline:"
"""The payloads of the request's buttons, followed by the household's id."""


@dataclass(frozen=True)
class HeadRequest:
    asked: Member
    head: Member
    household: Household
    community: Community | None
    expires: datetime


def request_buttons(words: Words, household_id: str) -> tuple[Button, ...]:
    return (
        Button(words(msg.BTN_ACCEPT_HEAD), ACCEPT + household_id, Style.PRIMARY),
        Button(words(msg.BTN_DECLINE_HEAD), DECLINE + household_id),
    )


async def request_head(
    uow: UnitOfWork, ctx: CoreContext, *, who: Who, member_id: str, via: str
) -> HeadRequest:
    """The head asks ``member_id`` to take over; the member is sent the request with Accept
    and Decline on every chat account they have (none: refused, nobody could answer)."""
    acting = await acting_head(uow, who)
    asked = await member_of(uow, acting, member_id)
    household, now = acting.household, ctx.clock.now()
    if asked.id == acting.member.id:
        raise Refused(msg.ALREADY_HEAD, address=household.address)
    await _lapse_if_due(uow, ctx, household, now=now)
    waiting_for = household.open_head_request(now)
    if waiting_for is not None:
        other = await uow.members.get(waiting_for)
        raise Refused(msg.HEAD_REQUEST_ALREADY, name=other.name if other else "")
    accounts = chat_accounts(await uow.identities.list_for_member(asked.id))
    if not accounts:
        raise Refused(msg.HEAD_NEEDS_CHAT, name=asked.name)
    household.head_request_member_id = asked.id
    household.head_request_at = now
    await uow.households.update(household)
    await uow.events.append(
        history.about_member(
            HouseholdEventKind.HEAD_REQUESTED, asked, at=now, by=acting.member, via=via
        )
    )
    community = await uow.communities.get(household.community_id)
    expires = now + HEAD_REQUEST_TTL
    words = ctx.words(asked.language, community.timezone if community else "")
    await tell(
        uow,
        ctx.clock.now(),
        accounts,
        words(
            msg.HEAD_REQUEST,
            head=acting.member.name,
            address=household.address,
            community=community.name if community else "",
            expires=expires,
        ),
        request_buttons(words, household.id),
    )
    return HeadRequest(asked, acting.member, household, community, expires)


async def answer_head_request(
    uow: UnitOfWork, ctx: CoreContext, *, who: Who, household_id: str, accept: bool, via: str
) -> HeadRequest:
    """The asked member accepts (the roles swap) or declines; the head is told either way."""
    acting = await acting_member(uow, who)
    household, member, now = acting.household, acting.member, ctx.clock.now()
    if household.id != household_id:
        raise Refused(msg.HEAD_REQUEST_NOT_OPEN)
    only_the_asked_member_answers(household, member, now)
    head = await uow.members.get(household.head_member_id or "")
    if head is None:  # a claimed household always has its head; refuse rather than guess
        raise Refused(msg.HEAD_REQUEST_NOT_OPEN)
    expires = (household.head_request_at or now) + HEAD_REQUEST_TTL
    household.clear_head_request()
    if accept:
        head.role, member.role = Role.MEMBER, Role.HEAD
        household.head_member_id = member.id
        await uow.members.update(head)
        await uow.members.update(member)
        event = history.about_member(
            HouseholdEventKind.HEAD_HANDED_OVER, member, at=now, by=head, via=via
        )
        notice = msg.NOTIFY_HEAD_ACCEPTED
    else:
        event = history.about_member(
            HouseholdEventKind.HEAD_REQUEST_DECLINED, member, at=now, by=member, via=via
        )
        notice = msg.NOTIFY_HEAD_DECLINED
    await uow.households.update(household)
    await uow.events.append(event)
    await tell_member(
        uow, ctx.clock.now(), head, notice, name=member.name, address=household.address
    )
    community = await uow.communities.get(household.community_id)
    return HeadRequest(member, head, household, community, expires)


async def cancel_head_request(uow: UnitOfWork, ctx: CoreContext, *, who: Who, via: str) -> Member:
    """The head withdraws the open request; the member it named is told. Returns them."""
    acting: Acting = await acting_head(uow, who)
    household, now = acting.household, ctx.clock.now()
    if household.open_head_request(now) is None:
        raise Refused(msg.HEAD_REQUEST_NOT_OPEN)
    asked = await void_head_request(
        uow, household, reason="cancelled", via=via, now=now, by=acting.member
    )
    if asked is None:
        raise Refused(msg.HEAD_REQUEST_NOT_OPEN)
    await tell_member(
        uow,
        ctx.clock.now(),
        asked,
        msg.NOTIFY_HEAD_REQUEST_CANCELLED,
        head=acting.member.name,
        address=household.address,
    )
    return asked


async def lapse_head_requests(uow: UnitOfWork, ctx: CoreContext, *, limit: int = 100) -> int:
    """End the head requests nobody answered in time (the dispatcher calls this with its
    other periodic work); each head is told. How many lapsed."""
    now = ctx.clock.now()
    lapsing = await uow.households.list_lapsing_head_requests(
        made_before=now - HEAD_REQUEST_TTL, limit=limit
    )
    for household in lapsing:
        await _lapse_if_due(uow, ctx, household, now=now)
    return len(lapsing)


async def _lapse_if_due(
    uow: UnitOfWork, ctx: CoreContext, household: Household, *, now: datetime
) -> None:
    if household.head_request_at is None or household.open_head_request(now) is not None:
        return
    asked = await void_head_request(uow, household, reason="time", via="", now=now)
    await tell_member(
        uow,
        ctx.clock.now(),
        household.head_member_id,
        msg.NOTIFY_HEAD_REQUEST_LAPSED,
        name=asked.name if asked else "",
        address=household.address,
    )
