"""Changing who is in a household: the head removes or renames a member, a member leaves.

Every change runs in the caller's unit of work and starts by locking the household row
(:func:`acting_member`), then reads the people again and checks the rules in
:mod:`bot.rules` on what it read: two changes to one household (a remove and a leave, two
presses of Remove, a remove and the hand-over it races) are decided one after the other, and
the second sees what the first did. Each records its household event and queues what the
people concerned are told, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from . import history
from . import messages as msg
from .contacts import ContactError, normalise_name
from .context import CoreContext
from .domain import (
    Channel,
    ChannelIdentity,
    Community,
    Household,
    HouseholdEventKind,
    Member,
    OutboxMessage,
)
from .group_access import take_out_of_group
from .language import Words
from .ports import UnitOfWork
from .replies import NOTICE_RECIPIENT, Button, notice_data
from .rules import (
    Refused,
    Who,
    a_current_member_of_this_household,
    must_be_in_a_household,
    only_the_head_changes_members,
    still_in_the_household,
    the_head_stays_until_handed_over,
)
from .secrets import new_nonce

SMS_ACCOUNT = "sms"
"""The platform of the account a member who joined by text has: the bot can text it only
through an invitation, never a chat notice."""


@dataclass(frozen=True)
class Acting:
    """The person acting and their household, as read after locking the household."""

    member: Member
    household: Household


@dataclass(frozen=True)
class Change:
    """What a change did: to ``member`` of ``household`` (in ``community``)."""

    member: Member
    household: Household
    community: Community | None


async def acting_member(uow: UnitOfWork, who: Who) -> Acting:
    """The actor's household, locked until commit, and the actor as a current member of it."""
    member, household = must_be_in_a_household(who)
    locked = await uow.households.get(household.id, for_update=True)
    current = await uow.members.get(member.id)
    still_in_the_household(locked, current)
    assert locked is not None and current is not None
    return Acting(member=current, household=locked)


async def acting_head(uow: UnitOfWork, who: Who) -> Acting:
    acting = await acting_member(uow, who)
    only_the_head_changes_members(acting.household, acting.member)
    return acting


async def member_of(uow: UnitOfWork, acting: Acting, member_id: str) -> Member:
    """The member a button names: current, and in the actor's household."""
    return a_current_member_of_this_household(acting.household, await uow.members.get(member_id))


def chat_accounts(accounts: Sequence[ChannelIdentity]) -> list[ChannelIdentity]:
    """The accounts a chat notice can reach (not a number that joined by text)."""
    return [a for a in accounts if a.platform != SMS_ACCOUNT]


async def tell(
    uow: UnitOfWork,
    now: datetime,
    accounts: Sequence[ChannelIdentity],
    text: str,
    buttons: tuple[Button, ...] = (),
) -> int:
    """Queue ``text`` (with ``buttons``) to each chat account in ``accounts``; how many."""
    reachable = chat_accounts(accounts)
    for account in reachable:
        await uow.outbox.add(
            OutboxMessage(
                channel=Channel.CHAT,
                platform=account.platform,
                destination=account.chat_id or account.external_id,
                body=text,
                data=notice_data(buttons) | {NOTICE_RECIPIENT: account.external_id},
                created_at=now,
                next_attempt_at=now,
            )
        )
    return len(reachable)


async def tell_member(
    uow: UnitOfWork,
    now: datetime,
    member: Member | str | None,
    sentence: str,
    /,
    **fields: object,
) -> int:
    """Queue ``sentence`` (its ``fields`` filled) to each chat account of ``member`` (or the
    member of that id), in the member's language; how many."""
    if isinstance(member, str):
        member = await uow.members.get(member)
    if member is None:
        return 0
    text = Words(member.language)(sentence, **fields)
    return await tell(uow, now, await uow.identities.list_for_member(member.id), text)


async def remove_member(
    uow: UnitOfWork, ctx: CoreContext, *, who: Who, member_id: str, via: str
) -> Change:
    """The head takes ``member_id`` out of the household: see :func:`take_out`. The member
    is told on their chat accounts."""
    acting = await acting_head(uow, who)
    member = await member_of(uow, acting, member_id)
    the_head_stays_until_handed_over(acting.household, member, hoa=ctx.hoa_contact)
    community = await uow.communities.get(acting.household.community_id)
    accounts = await take_out(
        uow, acting.household, member, via=via, reason="removed", now=ctx.clock.now()
    )
    await uow.events.append(
        history.about_member(
            HouseholdEventKind.REMOVED, member, at=ctx.clock.now(), by=acting.member, via=via
        )
    )
    await tell(
        uow,
        ctx.clock.now(),
        accounts,
        Words(member.language)(
            msg.NOTIFY_REMOVED,
            head=acting.member.name,
            address=acting.household.address,
            community=community.name if community else "",
        ),
    )
    return Change(member=member, household=acting.household, community=community)


async def leave_household(uow: UnitOfWork, ctx: CoreContext, *, who: Who, via: str) -> Change:
    """A member (not the head) leaves; the head is told."""
    acting = await acting_member(uow, who)
    member, household = acting.member, acting.household
    the_head_stays_until_handed_over(household, member, hoa=ctx.hoa_contact)
    await take_out(uow, household, member, via=via, reason="left", now=ctx.clock.now())
    await uow.events.append(
        history.about_member(
            HouseholdEventKind.LEFT, member, at=ctx.clock.now(), by=member, via=via
        )
    )
    await tell_member(
        uow,
        ctx.clock.now(),
        household.head_member_id,
        msg.NOTIFY_LEFT,
        name=member.name,
        address=household.address,
    )
    community = await uow.communities.get(household.community_id)
    return Change(member=member, household=household, community=community)


async def take_out(
    uow: UnitOfWork,
    household: Household,
    member: Member,
    *,
    via: str,
    reason: str,
    now: datetime,
) -> list[ChannelIdentity]:
    """``member`` is no longer in ``household``: marked as left (the row stays: invitations
    and the history name it), their chat accounts unlinked (so they no longer act for it),
    every link of the invitation they accepted voided (a new nonce), a head request naming
    them void, and they are taken out of the community's residents' group. Returns the
    accounts they had, to tell them. The caller holds the household row locked."""
    accounts = list(await uow.identities.list_for_member(member.id))
    await uow.identities.unlink_member(member.id)
    member.left_at = now
    await uow.members.update(member)
    for invitation in await uow.invitations.list_for_household(household.id):
        if invitation.member_id == member.id:
            invitation.nonce = new_nonce()
            await uow.invitations.update(invitation)
    if household.head_request_member_id == member.id:
        await void_head_request(uow, household, reason=reason, via=via, now=now)
    await take_out_of_group(
        uow,
        await uow.communities.get(household.community_id),
        household,
        accounts,
        now=now,
        why=msg.GROUP_REMOVED_LEFT if reason == "left" else msg.GROUP_REMOVED_REMOVED,
        language=member.language,
    )
    return accounts


async def void_head_request(
    uow: UnitOfWork,
    household: Household,
    *,
    reason: str,
    via: str,
    now: datetime,
    by: Member | None = None,
) -> Member | None:
    """End ``household``'s head request without a hand-over (``reason``: ``time``,
    ``cancelled``, ``left``, ``removed``), with its event; the member it named, if known."""
    asked = (
        await uow.members.get(household.head_request_member_id)
        if household.head_request_member_id
        else None
    )
    household.clear_head_request()
    await uow.households.update(household)
    if asked is not None:
        await uow.events.append(
            history.about_member(
                HouseholdEventKind.HEAD_REQUEST_LAPSED,
                asked,
                at=now,
                by=by,
                via=via,
                reason=reason,
            )
        )
    return asked


async def rename_member(
    uow: UnitOfWork, ctx: CoreContext, *, who: Who, member_id: str, name: str, via: str
) -> tuple[str, Member]:
    """The head gives a member (or themselves) a new name, validated as at invite time.
    Returns the old name and the member."""
    acting = await acting_head(uow, who)
    member = await member_of(uow, acting, member_id)
    try:
        new_name = normalise_name(name)
    except ContactError as error:
        raise Refused(str(error)) from None
    if new_name == member.name:
        raise Refused(msg.RENAME_SAME, name=member.name)
    old = member.name
    member.name = new_name
    await uow.members.update(member)
    await uow.events.append(
        history.about_member(
            HouseholdEventKind.RENAMED,
            member,
            at=ctx.clock.now(),
            by=acting.member if acting.member.id != member.id else member,
            via=via,
            previous_name=old,
        )
    )
    return old, member
