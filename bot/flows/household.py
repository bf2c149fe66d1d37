"""``/household``: the members and the invitation cards, the cards' buttons (Copy Invite Link,
Resend, Cancel Invite, and the OK under an invitation just sent), and the household page
(Slack's home tab). Card payloads are ``card:<action>:<invitation id>``; every press is
authorised again against the database (:func:`bot.invitations.managed_invitation`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from .. import contacts
from .. import messages as msg
from ..context import CoreContext
from ..domain import Conversation, Household, Invitation, InvitationStatus
from ..households import household_view
from ..invitations import (
    cancel_invitation,
    link_of,
    managed_invitation,
    resend_invitation,
)
from ..language import ENGLISH, Words
from ..ports import UnitOfWork
from ..replies import Actor, Button, Confirm, Reply, Style
from ..rules import Refused
from .common import Flow, Handler, Turn, sent_text
from .language import words_of
from .members import (
    HISTORY_PAYLOAD,
    head_cards,
    member_line,
    member_view_buttons,
    request_card,
)

_ID = r"[0-9a-f]{32}"
_PAYLOAD = re.compile(
    rf"^card:(copy|resend|resend_same|resend_new|cancel|cancel_yes|keep|ok):({_ID})$"
)


@dataclass(frozen=True)
class HomeView:
    """A person's household page, from :meth:`bot.engine.Engine.household_home`."""

    replies: tuple[Reply, ...]
    is_head: bool
    """A head may invite from the page (and its cards carry the head's buttons)."""
    words: Words = ENGLISH
    """The person's words, for what the page shows around the cards."""


class HouseholdFlow(Flow):
    def __init__(self, ctx: CoreContext) -> None:
        super().__init__(ctx)
        self.subcommands: dict[str, Handler] = {}
        """``/household <word>``: filled in by the engine (history, leave)."""

    async def command(self, turn: Turn, args: str) -> list[Reply]:
        """``/household``, ``/household history`` (the head's), ``/household leave`` (a
        member's)."""
        if turn.who.member is None or turn.who.household is None:
            raise Refused(msg.NOT_IN_HOUSEHOLD)
        word = args.strip().casefold()
        subcommand = self.subcommands.get(word)
        if subcommand is not None:
            return await subcommand(turn, "")
        if word:
            return [Reply(turn.words(msg.HOUSEHOLD_USAGE))]
        return await self._cards(turn, turn.who.household, with_buttons=turn.who.is_head)

    async def home(self, uow: UnitOfWork, actor: Actor) -> HomeView:
        """The ``/household`` cards, with their buttons for a head; for someone in no
        household, how to join. Reads only: no conversation is locked or saved."""
        who, words = await words_of(uow, self.ctx, actor)
        if who.member is None or who.household is None:
            return HomeView(
                replies=(Reply(words(msg.NOT_IN_HOUSEHOLD)),), is_head=False, words=words
            )
        conversation = Conversation(platform=actor.platform, user_id=actor.user_id)
        turn = Turn(uow=uow, actor=actor, conversation=conversation, who=who, words=words)
        cards = await self._cards(turn, who.household, with_buttons=who.is_head)
        return HomeView(replies=tuple(cards), is_head=who.is_head, words=words)

    async def press(self, turn: Turn, payload: str) -> list[Reply]:
        """A ``card:`` button."""
        card = _PAYLOAD.match(payload)
        if card is None:
            return [Reply(turn.words(msg.INVALID_BUTTON))]
        action, invitation_id = card.group(1), card.group(2)
        ctx = self.ctx
        if action == "ok":
            invitation = await managed_invitation(
                turn.uow, turn.who, invitation_id, hoa=self.ctx.hoa_contact
            )
            return [Reply(sent_text(turn.words, invitation), replace_previous=True)]
        if action in ("resend", "resend_same", "resend_new"):
            return await self._resend(turn, action, invitation_id)
        invitation = await managed_invitation(
            turn.uow, turn.who, invitation_id, hoa=self.ctx.hoa_contact
        )
        status = invitation.effective_status(ctx.clock.now())
        name = invitation.invitee_name
        if action == "copy":
            if status is InvitationStatus.PENDING:
                link = link_of(ctx, invitation)
                return [
                    Reply(
                        turn.words(msg.COPY_LINK, name=name, expires=invitation.expires_at),
                        link=link,
                        link_label=turn.words(msg.COPY_LINK_BUTTON),
                    ),
                    # The invitation page serves a QR code of the link while it is open.
                    Reply(
                        turn.words(msg.COPY_QR, name=name),
                        link=f"{link}/qr.png",
                        link_label=turn.words(msg.COPY_LINK_BUTTON),
                    ),
                ]
            if status is InvitationStatus.EXPIRED:
                return [Reply(turn.words(msg.COPY_EXPIRED, name=name))]
            return [
                Reply(turn.words(msg.COPY_NOT_OPEN, name=name, status=msg.STATUS_LABELS[status]))
            ]
        if status not in (InvitationStatus.PENDING, InvitationStatus.EXPIRED):
            return [
                Reply(turn.words(msg.ALREADY_CLOSED, name=name, status=msg.STATUS_LABELS[status]))
            ]
        if action == "cancel":
            return [
                Reply(
                    turn.words(msg.CONFIRM_CANCEL, name=name),
                    buttons=(
                        Button(
                            turn.words(msg.BTN_CONFIRM_CANCEL),
                            f"card:cancel_yes:{invitation.id}",
                            Style.DANGER,
                        ),
                        Button(turn.words(msg.BTN_KEEP), f"card:keep:{invitation.id}"),
                    ),
                )
            ]
        if action == "keep":
            return [Reply(turn.words(msg.KEPT, name=name), replace_previous=True)]
        await cancel_invitation(turn.uow, ctx, who=turn.who, invitation_id=invitation_id)
        return [Reply(turn.words(msg.CANCELLED, name=name), replace_previous=True)]

    async def _resend(self, turn: Turn, action: str, invitation_id: str) -> list[Reply]:
        """Resend; an expired invitation first asks whether to keep its link or make a new one."""
        invitation = await managed_invitation(
            turn.uow, turn.who, invitation_id, hoa=self.ctx.hoa_contact
        )
        status = invitation.effective_status(self.ctx.clock.now())
        if action == "resend" and status is InvitationStatus.EXPIRED:
            return [
                Reply(
                    turn.words(msg.RESEND_CHOICE, name=invitation.invitee_name),
                    buttons=(
                        Button(
                            turn.words(msg.BTN_RESEND_SAME), f"card:resend_same:{invitation.id}"
                        ),
                        Button(
                            turn.words(msg.BTN_RESEND_NEW),
                            f"card:resend_new:{invitation.id}",
                            Style.PRIMARY,
                        ),
                    ),
                )
            ]
        new_link = action == "resend_new"
        invitation = await resend_invitation(
            turn.uow,
            self.ctx,
            who=turn.who,
            invitation_id=invitation_id,
            new_link=new_link,
            shown_as=contacts.mask_contact(invitation.contact),
        )
        text = msg.RESENT_NEW_LINK if new_link else msg.RESENT
        return [
            Reply(
                turn.words(text, name=invitation.invitee_name, expires=invitation.expires_at),
                replace_previous=action != "resend",
            )
        ]

    async def _cards(self, turn: Turn, household: Household, *, with_buttons: bool) -> list[Reply]:
        view = await household_view(turn.uow, self.ctx, household=household)
        now = self.ctx.clock.now()
        title = turn.words(
            msg.HOUSEHOLD_TITLE,
            address=household.address,
            community=view.community.name if view.community else "",
        )
        if with_buttons:
            accounts = {m.id: await turn.uow.identities.list_for_member(m.id) for m in view.members}
            replies = [
                Reply(
                    turn.words(msg.MEMBERS_TITLE),
                    title=title,
                    buttons=(Button(turn.words(msg.BTN_HISTORY), HISTORY_PAYLOAD),),
                ),
                *head_cards(turn.words, household, view.members, accounts, now),
            ]
        else:
            me = turn.who.member
            head = next((m for m in view.members if m.is_head), None)
            lines = [member_line(turn.words, m) for m in view.members]
            if head is not None:
                lines.append(turn.words(msg.MEMBER_VIEW_NOTE, head=head.name))
            replies = [
                Reply(
                    "\n".join([turn.words(msg.MEMBERS_TITLE), *lines]),
                    title=title,
                    buttons=member_view_buttons(turn.words) if me is not None else (),
                )
            ]
            if me is not None:
                community = view.community.name if view.community else ""
                replies.extend(request_card(turn.words, household, community, head, me, now))
        if not with_buttons:
            return replies
        if not view.open_invitations and not view.closed_invitations:
            replies.append(Reply(turn.words(msg.NO_INVITATIONS)))
        for invitation in view.open_invitations:
            replies.append(_card(turn.words, invitation, now))
        if view.closed_invitations:
            lines = [
                turn.words(
                    msg.CARD_CLOSED,
                    name=i.invitee_name,
                    method=i.method.label,
                    contact=contacts.mask_contact(i.contact),
                    status=msg.STATUS_LABELS[i.effective_status(now)],
                    when=i.responded_at or i.expires_at,
                )
                for i in sorted(
                    view.closed_invitations, key=lambda i: i.responded_at or i.created_at
                )[-5:]
            ]
            replies.append(Reply("\n".join(lines), title=turn.words(msg.EARLIER_TITLE)))
        return replies


def _card(words: Words, invitation: Invitation, now: datetime) -> Reply:
    status = invitation.effective_status(now)
    delivery = ""
    if status is InvitationStatus.PENDING:
        delivery = f" ({words(msg.DELIVERY_LABELS[invitation.delivery_status])})"
    expired = status is InvitationStatus.EXPIRED
    expiry = words(msg.CARD_EXPIRED if expired else msg.CARD_EXPIRES, when=invitation.expires_at)
    return Reply(
        words(
            msg.CARD,
            name=invitation.invitee_name,
            method=invitation.method.label,
            contact=contacts.mask_contact(invitation.contact),
            status=msg.STATUS_LABELS[status],
            delivery=delivery,
            sent=invitation.sent_at or invitation.created_at,
            expiry=expiry,
        ),
        buttons=(
            Button(words(msg.BTN_COPY), f"card:copy:{invitation.id}"),
            Button(words(msg.BTN_RESEND), f"card:resend:{invitation.id}"),
            Button(
                words(msg.BTN_CANCEL_INVITE),
                f"card:cancel:{invitation.id}",
                Style.DANGER,
                confirm=Confirm(
                    title=words(msg.CONFIRM_CANCEL_TITLE),
                    text=words(msg.CONFIRM_CANCEL, name=invitation.invitee_name),
                    yes=words(msg.BTN_CONFIRM_CANCEL),
                    no=words(msg.BTN_KEEP),
                    payload=f"card:cancel_yes:{invitation.id}",
                ),
            ),
        ),
    )
