"""Invitation use cases: create, resend, cancel, accept, decline, expire, and telling the
head. Each takes an open unit of work and leaves the commit to its caller, so a conversation
step, the state change and the outbound messages it causes land in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypedDict

from . import history
from . import messages as msg
from .context import CoreContext
from .domain import (
    Channel,
    ChannelIdentity,
    Community,
    DeliveryStatus,
    EventActor,
    Household,
    HouseholdEventKind,
    Invitation,
    InvitationStatus,
    Member,
    Method,
    OutboxMessage,
    Role,
)
from .group_access import offer_group
from .invite_checks import (
    check_active,
    check_contact,
    check_destination_cap,
    check_invite_quota,
    check_phone_may_be_texted,
)
from .language import LANGUAGES, Words, language_of
from .ports import UnitOfWork
from .replies import Actor
from .rules import (
    Refused,
    Who,
    WrongSecret,
    only_a_head_may_manage_invitations,
    only_in_their_own_household,
)
from .secrets import TokenMaker, new_nonce
from .sms import compose_invitation_sms


async def who_is(uow: UnitOfWork, actor: Actor) -> Who:
    """Resolve a chat account to its member and household, if it has one."""
    found = await uow.identities.get_with_owner(platform=actor.platform, external_id=actor.user_id)
    if found is None or (found.member is not None and not found.member.is_current):
        # (A member who left has no chat account linked: this is only a second guard.)
        return Who()
    return Who(
        identity=found.identity,
        member=found.member,
        household=found.household,
        timezone=found.timezone,
    )


async def link_account(uow: UnitOfWork, *, actor: Actor, member: Member, now: datetime) -> None:
    """Link the chat account an actor uses to a member, so the bot knows them next time, and
    offer them the community's residents' group there."""
    account = ChannelIdentity(
        platform=actor.platform,
        external_id=actor.user_id,
        chat_id=actor.chat_id,
        member_id=member.id,
        created_at=now,
    )
    await uow.identities.add(account)
    language = language_of(actor.language) or member.language
    await offer_group(uow, account, member.household_id, now=now, language=language)


# --- creating and sending ------------------------------------------------------------------


async def create_invitation(
    uow: UnitOfWork,
    ctx: CoreContext,
    *,
    who: Who,
    actor: Actor,
    method: Method,
    name: str,
    contact: str,
    shown_as: str,
    language: str = "",
) -> Invitation:
    """Record an invitation and queue its message. ``name`` and ``contact`` are already
    normalised (see ``bot.contacts``); ``language`` is the one the invitation is written in
    ("" for the default)."""
    head, household = await _locked_household(uow, who, hoa=ctx.hoa_contact)
    check = await check_contact(uow, ctx, household=household, contact=contact)
    if check.member is not None:
        raise Refused(msg.ALREADY_MEMBER, name=check.member.name)
    if check.pending is not None and check.pending.is_open(ctx.clock.now()):
        raise Refused(
            msg.DUPLICATE_PENDING,
            name=check.pending.invitee_name,
            contact=shown_as,
            sent=check.pending.sent_at or check.pending.created_at,
        )
    await check_invite_quota(uow, ctx, head=head)
    await check_destination_cap(uow, ctx, contact=contact, shown_as=shown_as)
    if method is Method.SMS:
        await check_phone_may_be_texted(uow, phone=contact, shown_as=shown_as)
    if check.pending is not None:
        # An earlier invitation to this contact ran out of time: this one replaces it.
        check.pending.status = InvitationStatus.EXPIRED
        await uow.invitations.update(check.pending)
        await _record(uow, ctx, HouseholdEventKind.EXPIRED, check.pending, actor=EventActor.SYSTEM)
    now = ctx.clock.now()
    invitation = Invitation(
        household_id=household.id,
        invited_by=head.id,
        method=method,
        invitee_name=name,
        contact=contact,
        nonce=new_nonce(),
        created_at=now,
        expires_at=now + ctx.limits.invite_ttl,
        origin_platform=actor.platform,
        origin_chat_id=actor.chat_id,
        language=language if language in LANGUAGES else "",
    )
    await uow.invitations.add(invitation)
    await _queue_invitation_message(uow, ctx, invitation=invitation, household=household, head=head)
    await _record(uow, ctx, HouseholdEventKind.INVITED, invitation, by=head, via=actor.platform)
    return invitation


# Outbox rows never hold a working link, so a dump of the database admits no one: the link and
# token are stored as slots (control characters no name or address may contain), and the
# dispatcher fills in the invitation's current link just before sending.
LINK_SLOT = "\x1finvite-link\x1f"
TOKEN_SLOT = "\x1finvite-token\x1f"


def _slotted(text: str, *, link: str, token: str) -> str:
    return text.replace(link, LINK_SLOT).replace(token, TOKEN_SLOT)


def with_current_link(
    message: OutboxMessage, ctx: CoreContext, invitation: Invitation
) -> OutboxMessage:
    """The message as it is sent: its slots filled with the invitation's current link."""
    token = ctx.tokens.make(invitation.id, invitation.nonce)
    link = ctx.link_for(token)

    def fill(text: str) -> str:
        return text.replace(LINK_SLOT, link).replace(TOKEN_SLOT, token)

    return replace(
        message,
        subject=fill(message.subject),
        body=fill(message.body),
        data={key: fill(value) for key, value in message.data.items()},
    )


async def _queue_invitation_message(
    uow: UnitOfWork, ctx: CoreContext, *, invitation: Invitation, household: Household, head: Member
) -> None:
    community = await uow.communities.get(household.community_id)
    token = ctx.tokens.make(invitation.id, invitation.nonce)
    # In the invitation's language, its times in the community's zone.
    words = ctx.words(invitation.language, community.timezone if community else "")
    fields = {
        "name": invitation.invitee_name,
        "inviter": head.name,
        "address": household.address,
        "community": community.name if community else "",
        "link": ctx.link_for(token),
        "token": token,
        "expires": words.when(invitation.expires_at),
        # Translated now: the email's templates read it from the outbox row, as text.
        "hoa": str(words.field((community.contact if community else "") or ctx.hoa_contact)),
    }
    is_sms = invitation.method is Method.SMS
    now = ctx.clock.now()
    # Composed with the real link (an SMS's length depends on it), then slotted.
    link = fields["link"]
    await uow.outbox.add(
        OutboxMessage(
            channel=Channel.SMS if is_sms else Channel.EMAIL,
            destination=invitation.contact,
            subject="" if is_sms else words(msg.INVITE_SUBJECT, **fields),
            body=_slotted(
                compose_invitation_sms(
                    invitee=invitation.invitee_name,
                    inviter=head.name,
                    address=household.address,
                    community=fields["community"],
                    link=fields["link"],
                    expires=fields["expires"],
                    words=words,
                )
                if is_sms
                else words(msg.INVITE_BODY, **fields),
                link=link,
                token=token,
            ),
            invitation_id=invitation.id,
            created_at=now,
            next_attempt_at=now,
            data={
                "kind": "invitation",
                "language": words.language,
                **{k: _slotted(v, link=link, token=token) for k, v in fields.items()},
            },
        )
    )
    invitation.send_count += 1
    invitation.delivery_status = DeliveryStatus.QUEUED
    await uow.invitations.update(invitation)


async def _locked_household(
    uow: UnitOfWork, who: Who, *, hoa: str = ""
) -> tuple[Member, Household]:
    """The head's household, locked until commit: two presses of Send Invite at once are
    decided one after the other, so neither the duplicate check nor the quota is raced."""
    head, household = only_a_head_may_manage_invitations(who)
    locked = await uow.households.get(household.id, for_update=True)
    if locked is None:
        raise Refused(msg.NOT_IN_HOUSEHOLD)
    if locked.head_member_id != head.id:  # handed over while this message waited
        raise Refused(msg.ONLY_HEAD)
    await check_active(uow, locked, hoa=hoa)
    return head, locked


async def managed_invitation(
    uow: UnitOfWork, who: Who, invitation_id: str, *, hoa: str = ""
) -> Invitation:
    """The invitation a button names, re-authorised: only its household's head gets it (the
    head as the locked household row says now, so a head who just handed over does not)."""
    await _locked_household(uow, who, hoa=hoa)
    invitation = await uow.invitations.get(invitation_id, for_update=True)
    return only_in_their_own_household(who, invitation)


async def resend_invitation(
    uow: UnitOfWork,
    ctx: CoreContext,
    *,
    who: Who,
    invitation_id: str,
    new_link: bool,
    shown_as: str,
) -> Invitation:
    """Send a pending or expired invitation again. An expired one gets a new period; with
    ``new_link`` the nonce changes, so every earlier link stops working."""
    head, household = await _locked_household(uow, who, hoa=ctx.hoa_contact)
    invitation = await managed_invitation(uow, who, invitation_id, hoa=ctx.hoa_contact)
    now = ctx.clock.now()
    status = invitation.effective_status(now)
    if status not in (InvitationStatus.PENDING, InvitationStatus.EXPIRED):
        raise Refused(
            msg.ALREADY_CLOSED, name=invitation.invitee_name, status=msg.STATUS_LABELS[status]
        )
    await check_invite_quota(uow, ctx, head=head)
    await check_destination_cap(uow, ctx, contact=invitation.contact, shown_as=shown_as)
    if invitation.method is Method.SMS:
        await check_phone_may_be_texted(uow, phone=invitation.contact, shown_as=shown_as)
    if status is InvitationStatus.EXPIRED:
        other = await uow.invitations.find_pending(
            household_id=household.id, contact=invitation.contact
        )
        if other is not None and other.id != invitation.id and other.is_open(now):
            raise Refused(
                msg.DUPLICATE_PENDING,
                name=other.invitee_name,
                contact=shown_as,
                sent=other.sent_at or other.created_at,
            )
        invitation.status = InvitationStatus.PENDING
        invitation.expires_at = now + ctx.limits.invite_ttl
    if new_link:
        invitation.nonce = new_nonce()
    await uow.invitations.update(invitation)
    await _queue_invitation_message(uow, ctx, invitation=invitation, household=household, head=head)
    await _record(
        uow,
        ctx,
        HouseholdEventKind.RESENT,
        invitation,
        by=head,
        via=_platform_of(who),
        new_link=_yes_no(new_link),
        renewed=_yes_no(status is InvitationStatus.EXPIRED),
    )
    return invitation


async def cancel_invitation(
    uow: UnitOfWork, ctx: CoreContext, *, who: Who, invitation_id: str
) -> Invitation:
    """Void an invitation: its status and a fresh nonce make every earlier link useless."""
    invitation = await managed_invitation(uow, who, invitation_id, hoa=ctx.hoa_contact)
    status = invitation.effective_status(ctx.clock.now())
    if status not in (InvitationStatus.PENDING, InvitationStatus.EXPIRED):
        raise Refused(
            msg.ALREADY_CLOSED, name=invitation.invitee_name, status=msg.STATUS_LABELS[status]
        )
    invitation.status = InvitationStatus.CANCELLED
    invitation.nonce = new_nonce()
    invitation.responded_at = ctx.clock.now()
    await uow.invitations.update(invitation)
    await _record(
        uow, ctx, HouseholdEventKind.CANCELLED, invitation, by=who.member, via=_platform_of(who)
    )
    return invitation


def link_of(ctx: CoreContext, invitation: Invitation) -> str:
    return ctx.link_for(ctx.tokens.make(invitation.id, invitation.nonce))


# --- answering an invitation ---------------------------------------------------------------


async def open_invitation_by_token(
    uow: UnitOfWork, ctx: CoreContext, token: str, *, for_update: bool = True
) -> Invitation:
    """The open invitation a token names. Unknown, forged, cancelled, expired and used tokens
    are refused with one and the same sentence: strangers learn nothing from a refusal."""
    invitation = await verified_invitation(uow, ctx.tokens, token, for_update=for_update)
    if invitation is None or not invitation.is_open(ctx.clock.now()):
        raise WrongSecret(msg.INVITE_NOT_VALID)
    return invitation


async def verified_invitation(
    uow: UnitOfWork, tokens: TokenMaker, token: str, *, for_update: bool = False
) -> Invitation | None:
    """The invitation whose current token this is, whatever its status, or ``None``."""
    invitation_id = tokens.invitation_id_of(token)
    if invitation_id is None:
        return None
    invitation = await uow.invitations.get(invitation_id, for_update=for_update)
    if invitation is None or not tokens.verify(
        token, invitation_id=invitation.id, nonce=invitation.nonce
    ):
        return None
    return invitation


@dataclass(frozen=True)
class Acceptance:
    invitation: Invitation
    member: Member
    household: Household
    community: Community | None


async def accept_invitation(
    uow: UnitOfWork, ctx: CoreContext, *, token: str, actor: Actor | None
) -> Acceptance:
    """Admit the invitee: a member of the household, linked to the chat account that
    accepted (if any), and the head is told."""
    if actor is not None:
        current = await who_is(uow, actor)
        if current.household is not None:
            # Checked before the token so that a member learns nothing about other links.
            raise Refused(msg.ALREADY_IN_HOUSEHOLD, address=current.household.address)
    invitation = await open_invitation_by_token(uow, ctx, token)
    return await admit(uow, ctx, invitation=invitation, actor=actor)


async def admit(
    uow: UnitOfWork,
    ctx: CoreContext,
    *,
    invitation: Invitation,
    actor: Actor | None,
    home: tuple[Household, Community | None] | None = None,
) -> Acceptance:
    """Make an open invitation's invitee a member, linked to ``actor``'s chat account (if
    any), and tell the head. The caller has checked the invitation is open and the actor is
    in no household; the invitation should have been read ``for_update``. ``home`` is its
    household and community when the caller read them with it (else they are read here)."""
    found = home or await uow.households.get_with_community(invitation.household_id)
    if found is None or found[0].id != invitation.household_id:
        raise Refused(msg.INVITE_NOT_VALID)
    household, community = found
    now = ctx.clock.now()
    member = Member(
        household_id=household.id,
        name=invitation.invitee_name,
        role=Role.MEMBER,
        email=invitation.contact if invitation.method is Method.EMAIL else None,
        phone=invitation.contact if invitation.method is Method.SMS else None,
        joined_at=now,
        # Their app's, when they accept in a chat that says; else the invitation's.
        language=(language_of(actor.language) if actor else None) or invitation.language,
    )
    await uow.members.add(member)
    if actor is not None:
        await link_account(uow, actor=actor, member=member, now=now)
    invitation.status = InvitationStatus.ACCEPTED
    invitation.member_id = member.id
    invitation.responded_at = now
    await uow.invitations.update(invitation)
    await _record(
        uow,
        ctx,
        HouseholdEventKind.ACCEPTED,
        invitation,
        by=member,
        via=actor.platform if actor is not None else history.PAGE,
    )
    await notify_head(
        uow, ctx, msg.NOTIFY_ACCEPTED, invitation=invitation, household=household, name=member.name
    )
    return Acceptance(
        invitation=invitation, member=member, household=household, community=community
    )


async def decline_invitation(
    uow: UnitOfWork, ctx: CoreContext, *, token: str, via: str
) -> tuple[Invitation, Household]:
    """Decline the open invitation ``token`` names, from ``via`` (a chat platform)."""
    invitation = await open_invitation_by_token(uow, ctx, token)
    return await decline(uow, ctx, invitation=invitation, via=via)


async def decline(
    uow: UnitOfWork,
    ctx: CoreContext,
    *,
    invitation: Invitation,
    via: str,
    wrong_number: bool = False,
) -> tuple[Invitation, Household]:
    """Close an open invitation as declined, answered from ``via`` (``sms``, ``page`` or a
    chat platform), and tell the head; ``wrong_number``: the phone said it is not the
    invitee's (a WRONG reply), and the head is told that."""
    household = await uow.households.get(invitation.household_id)
    if household is None:
        raise Refused(msg.INVITE_NOT_VALID)
    invitation.status = InvitationStatus.DECLINED
    invitation.responded_at = ctx.clock.now()
    await uow.invitations.update(invitation)
    details: _DeclineDetails = {"wrong_number": "yes"} if wrong_number else {}
    await _record(
        uow,
        ctx,
        HouseholdEventKind.DECLINED,
        invitation,
        actor=EventActor.INVITEE,
        via=via,
        **details,
    )
    notice = msg.NOTIFY_WRONG_NUMBER if wrong_number else msg.NOTIFY_DECLINED
    await notify_head(
        uow, ctx, notice, invitation=invitation, household=household, name=invitation.invitee_name
    )
    return invitation, household


async def expire_due(uow: UnitOfWork, ctx: CoreContext, *, limit: int = 100) -> list[Invitation]:
    """Mark invitations whose time ran out as expired and tell their heads."""
    expired = []
    for invitation in await uow.invitations.list_expiring(now=ctx.clock.now(), limit=limit):
        invitation.status = InvitationStatus.EXPIRED
        await uow.invitations.update(invitation)
        await _record(uow, ctx, HouseholdEventKind.EXPIRED, invitation, actor=EventActor.SYSTEM)
        await notify_head(
            uow, ctx, msg.NOTIFY_EXPIRED, invitation=invitation, name=invitation.invitee_name
        )
        expired.append(invitation)
    return expired


class _DeclineDetails(TypedDict, total=False):
    """A decline event's details (a ``TypedDict``, so ``**details`` cannot fill ``by``)."""

    wrong_number: str


async def _record(
    uow: UnitOfWork,
    ctx: CoreContext,
    kind: HouseholdEventKind,
    invitation: Invitation,
    *,
    by: Member | None = None,
    actor: EventActor = EventActor.MEMBER,
    via: str = "",
    **details: str,
) -> None:
    """Append the household event of a change to ``invitation`` (in this unit of work)."""
    await uow.events.append(
        history.about_invitation(
            kind, invitation, at=ctx.clock.now(), actor=actor, by=by, via=via, **details
        )
    )


def _platform_of(who: Who) -> str:
    return who.identity.platform if who.identity is not None else ""


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


async def notify_head(
    uow: UnitOfWork,
    ctx: CoreContext,
    sentence: str,
    /,
    *,
    invitation: Invitation,
    household: Household | None = None,
    **fields: object,
) -> None:
    """Queue a chat message to the head: ``sentence`` with its ``fields``, in the head's
    language, on the platform and chat they invited from, or, when the head role has moved
    to someone else since, to the current head's chat accounts. ``household`` is the
    invitation's, when the caller has it (else it is read)."""
    household = household or await uow.households.get(invitation.household_id)
    head_id = household.head_member_id if household is not None else None
    head = await uow.members.get(head_id or invitation.invited_by)
    text = Words(head.language if head is not None else "")(sentence, **fields)
    platform, chat_id = invitation.origin_platform, invitation.origin_chat_id
    if head_id is not None and head_id != invitation.invited_by:
        platform = chat_id = ""
    if not platform or not chat_id:
        identities = [
            i
            for i in await uow.identities.list_for_member(head_id or invitation.invited_by)
            if i.platform != "sms"
        ]
        if not identities:
            return
        platform, chat_id = (
            identities[0].platform,
            identities[0].chat_id or identities[0].external_id,
        )
    now = ctx.clock.now()
    await uow.outbox.add(
        OutboxMessage(
            channel=Channel.CHAT,
            platform=platform,
            destination=chat_id,
            body=text,
            invitation_id=invitation.id,
            created_at=now,
            next_attempt_at=now,
        )
    )
