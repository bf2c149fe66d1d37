"""The invitation landing page's use cases (``GET/POST /i/<token>``), platform-free.

The page shows what the invitation holder may know: who invited them, to which household,
until when, and, once the invitation is closed, what happened to it. Only a token that
verifies gets any of that; an unknown or forged token gets ``None`` here, and the web page one
generic answer, so nobody learns anything about invitations whose link they do not hold.

Answers given on the page are recorded as :class:`~bot.domain.InboundReceipt` rows keyed by
the invitation and an opaque browser key (the web edge derives it from a cookie). The receipt
is written in the same transaction as the answer, which is what makes a repeated POST (a
double click, the back button) harmless: the second submission from the same browser finds
its receipt and is told "done", while any other browser finds a closed invitation.

It also makes the *account link token*: the welcome page offers "Open in Telegram" so a
person who joined on the web can link a chat account to their new membership. The invitation
token cannot do that (it admits nobody once used), so the deep link carries a short-lived,
purpose-bound token naming the member instead (48 characters of ``[A-Za-z0-9_-]``, which
fits Telegram's 64-character ``start`` payload and is never mistaken for a 43-character
invitation token).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from . import messages as msg
from .context import CoreContext
from .domain import InboundReceipt, Invitation, InvitationStatus, Member
from .history import PAGE
from .invitations import admit, decline, link_account, verified_invitation, who_is
from .ports import UnitOfWork
from .replies import Actor
from .rules import Refused

PAGE_RECEIPT_SOURCE = "web-page"
"""The ``InboundReceipt.source`` of answers given on the invitation page."""

ACCOUNT_LINK_TTL = timedelta(days=1)
"""How long an "Open in Telegram" link from the welcome page links an account. Short: the
page makes a fresh one each time it is shown."""

ACCOUNT_LINK_TOKEN_LENGTH = 48
_ACCOUNT_LINK_RE = re.compile(r"[A-Za-z0-9_-]{48}")
_MAC_BYTES = 16


@dataclass(frozen=True)
class InvitationPage:
    """Everything the page shows about one invitation whose token verified."""

    invitation: Invitation
    status: InvitationStatus
    """The effective status: a pending invitation past its time reads as expired."""
    invitee: str
    inviter: str
    address: str
    community: str
    hoa_contact: str
    timezone: str = ""
    """The community's time zone ("" for the server's default), for the times shown."""

    @property
    def is_open(self) -> bool:
        return self.status is InvitationStatus.PENDING


async def invitation_page(
    uow: UnitOfWork, ctx: CoreContext, token: str, *, for_update: bool = False
) -> InvitationPage | None:
    """What the page shows for ``token``, or ``None`` when it names no invitation (unknown,
    forged, or voided by a cancel or a new link: those all look the same from outside)."""
    invitation = await verified_invitation(uow, ctx.tokens, token, for_update=for_update)
    if invitation is None:
        return None
    household = await uow.households.get(invitation.household_id)
    if household is None:
        return None
    community = await uow.communities.get(household.community_id)
    inviter = await uow.members.get(invitation.invited_by)
    return InvitationPage(
        invitation=invitation,
        status=invitation.effective_status(ctx.clock.now()),
        invitee=invitation.invitee_name,
        inviter=inviter.name if inviter else household.head_name,
        address=household.address,
        community=community.name if community else "",
        hoa_contact=(community.contact if community else "") or ctx.hoa_contact,
        timezone=community.timezone if community else "",
    )


class Outcome(StrEnum):
    DONE = "done"
    """This browser's answer is recorded: just now, or by an earlier submission of it."""
    CLOSED = "closed"
    """Nothing changed: the invitation was answered elsewhere, cancelled or expired."""
    NOT_VALID = "not_valid"
    """The token names no invitation."""


@dataclass(frozen=True)
class PageAnswer:
    outcome: Outcome
    page: InvitationPage | None = None


async def answer_on_page(
    uow: UnitOfWork, ctx: CoreContext, *, token: str, accept: bool, browser: str
) -> PageAnswer:
    """Accept or decline the invitation ``token`` names, on behalf of the browser ``browser``
    (an opaque key, stable for one browser, at most 64 characters).

    Commit only when the outcome is ``DONE``; otherwise leave without committing (checking
    for this browser's receipt may have written one that must not be kept).

    The invitation is read ``for_update``, so this and a concurrent answer by SMS or chat
    happen one after the other: exactly one of them admits the invitee.
    """
    page = await invitation_page(uow, ctx, token, for_update=True)
    if page is None:
        return PageAnswer(Outcome.NOT_VALID)
    invitation = page.invitation
    answer = "accept" if accept else "decline"
    receipt = InboundReceipt(
        source=PAGE_RECEIPT_SOURCE,
        external_id=f"{answer}:{invitation.id}:{browser}",
        received_at=ctx.clock.now(),
    )
    if page.is_open:
        if accept:
            await admit(uow, ctx, invitation=invitation, actor=None)
        else:
            await decline(uow, ctx, invitation=invitation, via=PAGE)
        await uow.receipts.first_time(receipt)
        return PageAnswer(Outcome.DONE, replace(page, status=invitation.status))
    wanted = InvitationStatus.ACCEPTED if accept else InvitationStatus.DECLINED
    if page.status is wanted and not await uow.receipts.first_time(receipt):
        # This browser gave this very answer before: a double click or the back button.
        return PageAnswer(Outcome.DONE, page)
    return PageAnswer(Outcome.CLOSED, page)


# --- linking a chat account after joining on the web ----------------------------------------


def _account_link_mac(secret_key: bytes, member_id: str, expires: int, platform: str) -> bytes:
    message = f"account-link:{platform}:{member_id}:{expires}".encode()
    return hmac.new(secret_key, message, hashlib.sha256).digest()[:_MAC_BYTES]


ACCOUNT_LINK_PLATFORM = "telegram"
"""The one platform an account link token links (its MAC says so): the page's "Open in
Telegram" and the SMS welcome's ``t.me`` link. A token read off a text message cannot make
its reader the member on another platform."""


def account_link_token(ctx: CoreContext, member_id: str) -> str:
    """A token that links one Telegram account to this member, valid for
    :data:`ACCOUNT_LINK_TTL`: ``base64url(member id ‖ expiry (4 bytes) ‖ MAC (16 bytes))``."""
    expires = int((ctx.clock.now() + ACCOUNT_LINK_TTL).timestamp())
    raw = (
        uuid.UUID(hex=member_id).bytes
        + expires.to_bytes(4, "big")
        + _account_link_mac(ctx.secret_key, member_id, expires, ACCOUNT_LINK_PLATFORM)
    )
    return base64.urlsafe_b64encode(raw).decode("ascii")


def is_account_link_token(text: str) -> bool:
    """Whether ``text`` has the shape of an account link token (not whether it verifies):
    for an adapter or the engine to tell it from an invitation token in ``/start <payload>``."""
    return bool(_ACCOUNT_LINK_RE.fullmatch(text.strip()))


def _member_id_of(ctx: CoreContext, token: str, platform: str) -> str | None:
    """The member a well-formed, unexpired, authentic account link token names, when it is
    used on the platform it was made for."""
    token = token.strip()
    if not _ACCOUNT_LINK_RE.fullmatch(token):
        return None
    try:
        raw = base64.urlsafe_b64decode(token)
    except (binascii.Error, ValueError):
        return None
    member_id = uuid.UUID(bytes=raw[:16]).hex
    expires = int.from_bytes(raw[16:20], "big")
    expected = _account_link_mac(ctx.secret_key, member_id, expires, platform)
    if not hmac.compare_digest(expected, raw[20:]):
        return None
    if datetime.fromtimestamp(expires, UTC) <= ctx.clock.now():
        return None
    return member_id


async def link_account_by_token(
    uow: UnitOfWork, ctx: CoreContext, *, token: str, actor: Actor
) -> Member:
    """Link ``actor``'s chat account to the member an account link token names (the
    "Open in Telegram" link on the welcome page). The caller commits.

    Refused, with one sentence for every bad token, when the token is forged or expired; and
    when the member already has an account on this platform (so a leaked link cannot add a
    second one) or the actor already belongs to a household. Linking the same account twice
    is harmless and returns the member.
    """
    member_id = _member_id_of(ctx, token, actor.platform)
    member = await uow.members.get(member_id) if member_id else None
    if member is not None:
        # Locked, then read again: a removal committing meanwhile is seen, never undone by
        # linking an account to the member it took out.
        await uow.households.get(member.household_id, for_update=True)
        member = await uow.members.get(member.id)
    if member is None or not member.is_current:  # a member who left or was removed
        raise Refused(msg.ACCOUNT_LINK_NOT_VALID)
    current = await who_is(uow, actor)
    if current.member is not None:
        if current.member.id == member.id:
            return member
        household = current.household
        raise Refused(msg.ALREADY_IN_HOUSEHOLD, address=household.address if household else "")
    linked = await uow.identities.list_for_member(member.id)
    if any(identity.platform == actor.platform for identity in linked):
        raise Refused(msg.ACCOUNT_LINK_USED)
    await link_account(uow, actor=actor, member=member, now=ctx.clock.now())
    return member
