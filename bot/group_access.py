"""Membership opens the residents' group: who gets into a community's Telegram group, and who
is taken out of it.

A community may name its residents' group (``Community.telegram_group``). The group admits
people through join requests: the bot approves a request from a chat account linked to a
current member or head of an active household of that community, and declines any other,
telling that person privately how to get in. Someone who stops belonging (removed, left, the
household deactivated) is taken out of the group, without a lasting ban, and told why.

Every approval, refusal and removal is an outbox message (channel ``group``) written in the
transaction that decides it: retried, never lost, and in order per person (its ordering key
is the person's account), so a quick leave and join again ends with the person in. The
platform adapter's sender carries it out. Nothing here ever puts a contact in the group.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from . import messages as msg
from .admin import AdminError, community_named
from .context import CoreContext, SystemClock
from .domain import Channel, ChannelIdentity, Community, Household, OutboxMessage, OutboxStatus
from .language import Words
from .ports import Clock, UnitOfWork, UnitOfWorkFactory
from .replies import NOTICE_RECIPIENT

TELEGRAM = "telegram"
SLACK = "slack"


def group_of(community: Community, platform: str) -> str:
    """The community's residents' group on ``platform`` (a Telegram group, a Slack channel),
    or ""."""
    if platform == TELEGRAM:
        return community.telegram_group
    if platform == SLACK:
        return community.slack_channel
    return ""


class GroupAction(StrEnum):
    """What a ``group`` outbox message asks the platform to do (its ``data["action"]``)."""

    APPROVE = "approve"
    """Approve the person's join request."""
    DECLINE = "decline"
    """Decline the person's join request."""
    REMOVE = "remove"
    """Take the person out of the group, free to come back once they belong again; when they
    were in it, tell them ``body`` in their private chat (``data["chat_id"]``)."""
    INVITE = "invite"
    """Send the person (in their private chat: ``data["chat_id"]``) a link into the group
    that admits them alone, once, for a day."""


ACTION = "action"
USER = "user_id"
CHAT = "chat_id"
BUTTON = "button"
REVOKE = "revoke"
"""On a removal: the one-person links sent to the person that may still admit them."""

INVITE_LINK_LIFETIME = timedelta(days=1)
"""How long a one-person link into the group works."""


@dataclass(frozen=True)
class JoinRequestAnswer:
    """What the bot answered a join request: approved, or declined and why."""

    approved: bool
    community: Community


def ordering_key(platform: str, user_id: str) -> str:
    """One person's order: their account on the platform."""
    return f"{platform}:{user_id}"


async def answer_join_request(
    uow: UnitOfWork,
    ctx: CoreContext,
    *,
    platform: str,
    group: str,
    user_id: str,
    user_chat_id: str,
    language: str = "",
) -> JoinRequestAnswer | None:
    """Approve or decline ``user_id``'s request to join ``group``; ``None`` for a group that
    is no community's (the bot may administer others: their requests are not ours to answer).
    ``language``: the person's app's (a platform's tag), for what they are told.

    Approved: the account is linked to a current member of a household of the group's
    community, and that household is active. Declined otherwise, and the person is told in
    their private chat with the bot (``user_chat_id``: Telegram lets a bot write there within
    five minutes of the request) how to get in."""
    community = await community_of_group(uow, platform=platform, group=group)
    if community is None:
        return None
    now = ctx.clock.now()
    found = await uow.identities.get_with_owner(platform=platform, external_id=user_id)
    if found is not None and found.household is not None:
        # Locked, then read again (in belongs): a removal or deactivation holding the row
        # commits first and is seen, or waits and queues its removal after this answer.
        await uow.households.get(found.household.id, for_update=True)
    approved = await belongs(uow, community, platform=platform, user_id=user_id)
    if not approved:
        # Told first: Telegram lets the bot write to ``user_chat_id`` only while the request
        # is pending (someone who never started the bot cannot be written to after).
        hoa = community.contact or ctx.hoa_contact
        await uow.outbox.add(
            OutboxMessage(
                channel=Channel.CHAT,
                platform=platform,
                destination=user_chat_id,
                body=ctx.words(language)(
                    msg.GROUP_REQUEST_DECLINED, community=community.name, hoa=hoa
                ),
                data={NOTICE_RECIPIENT: user_id},
                created_at=now,
                next_attempt_at=now,
                ordering_key=ordering_key(platform, user_id),
            )
        )
    action = GroupAction.APPROVE if approved else GroupAction.DECLINE
    await uow.outbox.add(group_message(platform, group, user_id, action, now=now))
    return JoinRequestAnswer(approved=approved, community=community)


async def answer_channel_join(
    uow: UnitOfWork, ctx: CoreContext, *, platform: str, group: str, user_id: str
) -> bool | None:
    """Someone came into ``group`` (a Slack channel: anyone may join a public one, and a
    member may add a friend to a private one): take them out again, and tell them how to get
    in, unless they belong. ``None`` for a channel that is no community's; else whether they
    may stay."""
    community = await community_of_group(uow, platform=platform, group=group)
    if community is None:
        return None
    found = await uow.identities.get_with_owner(platform=platform, external_id=user_id)
    if found is not None and found.household is not None:
        await uow.households.get(found.household.id, for_update=True)  # as for a request
    if await belongs(uow, community, platform=platform, user_id=user_id):
        return True
    now = ctx.clock.now()
    removal = group_message(platform, group, user_id, GroupAction.REMOVE, now=now)
    hoa = community.contact or ctx.hoa_contact
    removal.body = msg.GROUP_REQUEST_DECLINED.format(community=community.name, hoa=hoa)
    removal.data[CHAT] = found.identity.chat_id if found and found.identity.chat_id else user_id
    await uow.outbox.add(removal)
    return False


async def offer_group_to_household(
    uow: UnitOfWork, household_id: str, *, now: datetime, platform: str | None = None
) -> int:
    """Offer the community's group to every chat account of the household's current members
    (a household activated again; a channel set after they joined); how many offers."""
    offered = 0
    for member in await uow.members.list_for_household(household_id):
        for account in await uow.identities.list_for_member(member.id):
            if platform is None or account.platform == platform:
                offered += await offer_group(
                    uow, account, household_id, now=now, language=member.language
                )
    return offered


async def community_of_group(uow: UnitOfWork, *, platform: str, group: str) -> Community | None:
    """The community whose residents' group ``group`` is (communities are few: one per
    HOA)."""
    if not group:
        return None
    for community in await uow.communities.list():
        if group_of(community, platform) == group:
            return community
    return None


async def belongs(uow: UnitOfWork, community: Community, *, platform: str, user_id: str) -> bool:
    """Whether the account is a current member (or head) of an active household of
    ``community``."""
    found = await uow.identities.get_with_owner(platform=platform, external_id=user_id)
    if found is None or found.member is None or found.household is None:
        return False
    return (
        found.member.is_current
        and found.household.community_id == community.id
        and found.household.deactivated_at is None
    )


async def take_out_of_group(
    uow: UnitOfWork,
    community: Community | None,
    household: Household,
    accounts: list[ChannelIdentity],
    *,
    now: datetime,
    why: str,
    language: str = "",
) -> int:
    """Remove each of ``accounts`` (a person who no longer belongs to ``household``) from the
    community's group, and tell them ``why`` (a sentence of :mod:`bot.messages` with
    ``{community}`` and ``{address}``) in their ``language``; how many removals were
    queued."""
    if community is None:
        return 0
    queued = 0
    for account in accounts:
        platform, user = account.platform, account.external_id
        group = group_of(community, platform)
        if not group:
            continue
        removal = group_message(platform, group, user, GroupAction.REMOVE, now=now)
        links = await _links_sent_to(uow, user, now=now) if platform == TELEGRAM else []
        if links:  # a link made for them alone admits them without asking: revoke it first
            removal.data[REVOKE] = " ".join(links)
        # Told by the sender, and only when they were in the group and are taken out.
        removal.body = Words(language)(why, community=community.name, address=household.address)
        removal.data[CHAT] = account.chat_id or user
        await uow.outbox.add(removal)
        queued += 1
    return queued


async def offer_group(
    uow: UnitOfWork,
    account: ChannelIdentity,
    member_household_id: str,
    *,
    now: datetime,
    language: str = "",
) -> bool:
    """``account`` was just linked to a member of ``member_household_id``: when the
    household is active and its community has a residents' group on that platform, send the
    person their own way in (whatever way they joined: in Telegram, by text, on the page):
    in Telegram a link for them alone, in Slack the channel itself. Told in ``language``."""
    if account.platform not in (TELEGRAM, SLACK):
        return False
    found = await uow.households.get_with_community(member_household_id)
    if found is None:
        return False
    household, community = found
    group = group_of(community, account.platform) if community is not None else ""
    if community is None or not group or household.deactivated_at:
        return False
    message = group_message(
        account.platform, group, account.external_id, GroupAction.INVITE, now=now
    )
    if account.platform == TELEGRAM:
        words = Words(language)
        message.body = words(msg.GROUP_INVITE, community=community.name)
        message.data |= {
            CHAT: account.chat_id or account.external_id,
            BUTTON: words(msg.BTN_JOIN_GROUP),
        }
    await uow.outbox.add(message)
    return True


async def _links_sent_to(uow: UnitOfWork, user_id: str, *, now: datetime) -> list[str]:
    """The one-person links sent to this Telegram account that may still work (the sender
    keeps each as the message's provider id). One still queued is not sent at all once the
    person no longer belongs (:func:`still_wanted`)."""
    since = now - INVITE_LINK_LIFETIME - timedelta(hours=1)
    return [
        m.provider_id
        for m in await uow.outbox.list_for_ordering_key(
            ordering_key(TELEGRAM, user_id), since=since
        )
        if m.channel is Channel.GROUP
        and m.data.get(ACTION) == GroupAction.INVITE.value
        and m.status is OutboxStatus.SENT
        and m.provider_id
    ]


async def still_wanted(uow: UnitOfWork, message: OutboxMessage) -> bool:
    """Whether a ``group`` message is still to be carried out when its turn comes: a way in
    is sent only to someone who still belongs; every other change always goes."""
    if message.data.get(ACTION) != GroupAction.INVITE.value:
        return True
    community = await community_of_group(uow, platform=message.platform, group=message.destination)
    if community is None:
        return False
    return await belongs(
        uow, community, platform=message.platform, user_id=message.data.get(USER, "")
    )


def group_message(
    platform: str, group: str, user_id: str, action: GroupAction, *, now: datetime
) -> OutboxMessage:
    return OutboxMessage(
        channel=Channel.GROUP,
        platform=platform,
        destination=group,
        body="",
        data={ACTION: action.value, USER: user_id},
        created_at=now,
        next_attempt_at=now,
        ordering_key=ordering_key(platform, user_id),
    )


async def set_telegram_group(
    uow_factory: UnitOfWorkFactory, *, community_name: str, group: str, clock: Clock | None = None
) -> Community:
    """Make ``group`` (a Telegram chat id the caller has checked the bot's rights in) the
    community's residents' group, or with "" stop gating one. A group is one community's."""
    return await _set_group(uow_factory, community_name, TELEGRAM, group, clock)


async def set_slack_channel(
    uow_factory: UnitOfWorkFactory,
    *,
    community_name: str,
    channel: str,
    clock: Clock | None = None,
) -> Community:
    """The same for the community's residents' Slack channel (its id); the residents already
    in the community's active households are added to a new one."""
    return await _set_group(uow_factory, community_name, SLACK, channel, clock)


async def _set_group(
    uow_factory: UnitOfWorkFactory,
    community_name: str,
    platform: str,
    group: str,
    clock: Clock | None,
) -> Community:
    async with uow_factory() as uow:
        community = await community_named(uow, community_name)
        for other in await uow.communities.list():
            if group and other.id != community.id and group_of(other, platform) == group:
                raise AdminError(
                    f"That group is already the residents' group of “{other.name}”; a group "
                    "admits the residents of one community."
                )
        changed = group_of(community, platform) != group
        if platform == TELEGRAM:
            community.telegram_group = group
        else:
            community.slack_channel = group
        await uow.communities.update(community)
        if changed and group and platform == SLACK:
            # Slack has no request to ask with: the residents already there are added now
            # (in Telegram they ask through the link the board shares).
            now = (clock or SystemClock()).now()
            for household in await uow.households.list(community_id=community.id):
                if household.deactivated_at is None:
                    await offer_group_to_household(uow, household.id, now=now, platform=SLACK)
        await uow.commit()
    return community
