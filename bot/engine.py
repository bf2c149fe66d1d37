"""The conversation engine: one platform-neutral state machine for every flow.

``Engine.handle(actor, event)`` loads the actor's conversation from storage, takes one step,
saves the conversation and commits, all in one unit of work, and returns the replies to show.
A refusal rolls everything back: bad input changes nothing.

Flows: ``/invite`` (method → name → contact → summary → Send Invite | Edit | Cancel →
confirmation with OK), ``/household`` (members and invitation cards with Copy Invite Link,
Resend, Cancel Invite), ``/join`` (claim a household with an access code, or accept an
invitation by its link), ``/decline``, ``/help`` and ``/cancel``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from . import contacts
from . import messages as msg
from .context import CoreContext
from .domain import Conversation, Household, Invitation, InvitationStatus, Method
from .invitation_page import is_account_link_token, link_account_by_token
from .invitations import (
    cancel_invitation,
    check_contact,
    check_invite_quota,
    check_phone_may_be_texted,
    create_invitation,
    household_view,
    link_of,
    managed_invitation,
    resend_invitation,
    who_is,
)
from .join import decline_with, find_token, join_with
from .ports import UnitOfWork, UnitOfWorkFactory
from .replies import Actor, Button, Confirm, Event, EventKind, Reply, Style
from .rules import Refused, Who, only_a_head_may_manage_invitations

# Conversation states.
IDLE = "idle"
METHOD = "invite.method"
NAME = "invite.name"
CONTACT = "invite.contact"
SUMMARY = "invite.summary"
EDIT = "invite.edit"
DUPLICATE = "invite.duplicate"
JOIN = "join.code"

_ID = r"[0-9a-f]{32}"
_CARD_PAYLOAD = re.compile(
    rf"^card:(copy|resend|resend_same|resend_new|cancel|cancel_yes|keep|ok):({_ID})$"
)
_FLOW_PAYLOAD = re.compile(
    r"^flow:(method:email|method:sms|send|edit|edit:method|edit:name|edit:contact|back|cancel|resend_existing)$"
)
_START_COMMANDS = {"invite", "household", "help"}
"""Deep-link payloads that name a command (``?start=invite``)."""
_METHOD_WORDS = {
    "email": Method.EMAIL,
    "e-mail": Method.EMAIL,
    "mail": Method.EMAIL,
    "sms": Method.SMS,
    "text": Method.SMS,
    "phone": Method.SMS,
}


@dataclass
class Turn:
    """Everything one step of a conversation works with."""

    uow: UnitOfWork
    actor: Actor
    conversation: Conversation
    who: Who

    @property
    def state(self) -> str:
        return self.conversation.state

    @property
    def data(self) -> dict[str, object]:
        return self.conversation.data

    def go(self, state: str) -> None:
        self.conversation.state = state

    def end(self) -> None:
        self.conversation.reset()


class Engine:
    """Takes one event at a time from any adapter and decides what comes next."""

    def __init__(self, *, uow_factory: UnitOfWorkFactory, ctx: CoreContext) -> None:
        self.uow_factory = uow_factory
        self.ctx = ctx
        self._commands: dict[str, Callable[[Turn, str], Awaitable[list[Reply]]]] = {
            "invite": self._cmd_invite,
            "household": self._cmd_household,
            "join": self._cmd_join,
            "start": self._cmd_start,
            "decline": self._cmd_decline,
            "help": self._cmd_help,
            "cancel": self._cmd_cancel,
        }

    async def handle(self, actor: Actor, event: Event) -> list[Reply]:
        async with self.uow_factory() as uow:
            # Locked: a person's next message, taken by another process at the same moment,
            # waits for this step instead of overwriting it.
            conversation = await uow.conversations.get(
                platform=actor.platform, user_id=actor.user_id, for_update=True
            ) or await uow.conversations.lock_new(
                Conversation(platform=actor.platform, user_id=actor.user_id)
            )
            turn = Turn(
                uow=uow, actor=actor, conversation=conversation, who=await who_is(uow, actor)
            )
            try:
                replies = await self._step(turn, event)
            except Refused as refusal:
                await uow.rollback()
                return [Reply(str(refusal))]
            conversation.updated_at = self.ctx.clock.now()
            await uow.conversations.save(conversation)
            await uow.commit()
            return replies

    async def _step(self, turn: Turn, event: Event) -> list[Reply]:
        if event.kind is EventKind.COMMAND:
            command = self._commands.get(event.command)
            if command is None:
                return [Reply(msg.UNKNOWN_COMMAND.format(command=event.command[:32]))]
            return await command(turn, event.args)
        if event.kind is EventKind.BUTTON:
            return await self._press(turn, event.payload)
        if event.kind is EventKind.RESUME:
            return await self._prompt(turn) if turn.state != IDLE else []
        return await self._text(turn, event.text)

    # --- commands ------------------------------------------------------------------------

    async def _cmd_help(self, turn: Turn, args: str) -> list[Reply]:
        hoa = self.ctx.hoa_contact
        if turn.who.household is not None:
            community = await turn.uow.communities.get(turn.who.household.community_id)
            if community is not None and community.contact:
                hoa = f"{community.name} at {community.contact}"
        return [Reply(msg.HELP.format(hoa=hoa))]

    async def _cmd_cancel(self, turn: Turn, args: str) -> list[Reply]:
        if turn.state == IDLE:
            return [Reply(msg.NOTHING_TO_CANCEL)]
        turn.end()
        return [Reply(msg.FLOW_CANCELLED)]

    async def _cmd_invite(self, turn: Turn, args: str) -> list[Reply]:
        head, _ = only_a_head_may_manage_invitations(turn.who)
        await check_invite_quota(turn.uow, self.ctx, head=head)
        turn.end()
        method, name, contact = _split_invite_args(args)
        errors: list[Reply] = []
        if method is not None:
            turn.data["method"] = method.value
        if name:
            try:
                turn.data["name"] = contacts.normalise_name(name)
            except contacts.ContactError as error:
                errors.append(Reply(str(error)))
        if contact:
            if method is None:
                guessed = contacts.guess_method(contact)
                if guessed is not None:
                    turn.data["method"] = guessed
            if "method" in turn.data and "name" in turn.data:
                return errors + await self._take_contact(turn, contact)
        return errors + await self._next_question(turn)

    async def _cmd_household(self, turn: Turn, args: str) -> list[Reply]:
        if turn.who.member is None or turn.who.household is None:
            raise Refused(msg.NOT_IN_HOUSEHOLD)
        return await self._household_cards(turn, turn.who.household, with_buttons=turn.who.is_head)

    async def _cmd_join(self, turn: Turn, args: str) -> list[Reply]:
        if not args:
            turn.end()
            turn.go(JOIN)
            return await self._prompt(turn)
        return await self._join_with(turn, args)

    async def _cmd_start(self, turn: Turn, args: str) -> list[Reply]:
        """``/start``, as Telegram sends it when someone opens the bot or a deep link
        (``https://t.me/<bot>?start=<payload>``). The payload is an invitation token (accept
        it), an account link token from the invitation page's "Open in Telegram" (link this
        chat account to the new member), the HOA's access code (claim the household), or the
        name of a command (the "continue in private" button of a group chat)."""
        payload = args.strip()
        if not payload:
            if turn.who.member is not None:
                return await self._cmd_help(turn, "")
            return [Reply(msg.WELCOME_START)]
        if payload.lower() in _START_COMMANDS:
            return await self._commands[payload.lower()](turn, "")
        if is_account_link_token(payload):
            member = await link_account_by_token(
                turn.uow, self.ctx, token=payload, actor=turn.actor
            )
            turn.end()
            household = await turn.uow.households.get(member.household_id)
            address = household.address if household else ""
            return [Reply(msg.ACCOUNT_LINKED.format(name=member.name, address=address))]
        return await self._join_with(turn, payload)

    async def _cmd_decline(self, turn: Turn, args: str) -> list[Reply]:
        declined = await decline_with(turn.uow, self.ctx, actor=turn.actor, text=args)
        if declined.done:
            turn.end()
        return [declined.reply]

    async def _join_with(self, turn: Turn, text: str) -> list[Reply]:
        """An access code or an invitation link (see :mod:`bot.join`)."""
        joined = await join_with(turn.uow, self.ctx, actor=turn.actor, text=text)
        if joined is not None:
            if joined.done:
                turn.end()
            return [joined.reply]
        if turn.state == JOIN:
            return [Reply(msg.BAD_JOIN_ARGUMENT), *await self._prompt(turn)]
        return [Reply(msg.BAD_JOIN_ARGUMENT)]

    # --- free text -----------------------------------------------------------------------

    async def _text(self, turn: Turn, text: str) -> list[Reply]:
        if turn.state == NAME:
            try:
                turn.data["name"] = contacts.normalise_name(text)
            except contacts.ContactError as error:
                return [Reply(str(error)), *await self._prompt(turn)]
            return await self._next_question(turn)
        if turn.state == CONTACT:
            return await self._take_contact(turn, text)
        if turn.state == JOIN:
            return await self._join_with(turn, text)
        if turn.state != IDLE:
            # A question answered with buttons: typing a button's label works too.
            prompt = await self._prompt(turn)
            buttons = [b for reply in prompt for b in reply.buttons]
            typed = " ".join(text.split()).casefold()
            for button in buttons:
                if button.label.casefold() == typed:
                    return await self._press(turn, button.payload)
            options = ", ".join(b.label for b in buttons)
            return [Reply(msg.PICK_A_BUTTON.format(options=options)), *prompt]
        if find_token(text) is not None:
            return await self._join_with(turn, text)
        return [Reply(msg.NOT_UNDERSTOOD)]

    async def _take_contact(self, turn: Turn, text: str) -> list[Reply]:
        method = Method(str(turn.data["method"]))
        try:
            if method is Method.EMAIL:
                contact = contacts.normalise_email(text)
            else:
                contact = contacts.normalise_phone(text, region=self.ctx.region)
        except contacts.ContactError as error:
            turn.go(CONTACT)
            return [Reply(str(error)), *await self._prompt(turn)]
        _, household = only_a_head_may_manage_invitations(turn.who)
        check = await check_contact(turn.uow, self.ctx, household=household, contact=contact)
        if check.member is not None:
            turn.end()
            return [Reply(msg.ALREADY_MEMBER.format(name=check.member.name))]
        if method is Method.SMS:
            try:
                await check_phone_may_be_texted(
                    turn.uow, phone=contact, shown_as=contacts.display_contact(contact)
                )
            except Refused as refusal:
                turn.go(CONTACT)
                return [Reply(str(refusal)), *await self._prompt(turn)]
        turn.data["contact"] = contact
        if check.pending is not None and check.pending.is_open(self.ctx.clock.now()):
            turn.data["existing"] = check.pending.id
            turn.go(DUPLICATE)
            return await self._prompt(turn)
        return await self._next_question(turn)

    async def _next_question(self, turn: Turn) -> list[Reply]:
        """Ask the first question the flow has no answer to yet, else show the summary."""
        if "method" not in turn.data:
            turn.go(METHOD)
        elif "name" not in turn.data:
            turn.go(NAME)
        elif "contact" not in turn.data:
            turn.go(CONTACT)
        else:
            turn.go(SUMMARY)
        return await self._prompt(turn)

    # --- buttons -------------------------------------------------------------------------

    async def _press(self, turn: Turn, payload: str) -> list[Reply]:
        card = _CARD_PAYLOAD.match(payload)
        if card:
            return await self._press_card(turn, card.group(1), card.group(2))
        flow = _FLOW_PAYLOAD.match(payload)
        if flow is None:
            return [Reply(msg.INVALID_BUTTON)]
        action = flow.group(1)
        if action == "cancel":
            if turn.state == IDLE:
                return [Reply(msg.STALE_BUTTON)]
            turn.end()
            return [Reply(msg.FLOW_CANCELLED, replace_previous=True)]
        allowed = {
            METHOD: {"method:email", "method:sms"},
            SUMMARY: {"send", "edit"},
            EDIT: {"edit:method", "edit:name", "edit:contact", "back"},
            DUPLICATE: {"resend_existing"},
        }.get(turn.state, set())
        if action not in allowed:
            return [Reply(msg.STALE_BUTTON)]
        if action.startswith("method:"):
            chosen = Method(action.removeprefix("method:"))
            if turn.data.get("method") != chosen.value:
                turn.data.pop("contact", None)  # an email address is no phone number
            turn.data["method"] = chosen.value
            return await self._next_question(turn)
        if action == "send":
            return await self._send(turn)
        if action == "edit":
            turn.go(EDIT)
            return await self._prompt(turn)
        if action == "back":
            return await self._next_question(turn)
        if action.startswith("edit:"):
            field = action.removeprefix("edit:")
            turn.go({"method": METHOD, "name": NAME, "contact": CONTACT}[field])
            return await self._prompt(turn)
        # resend_existing
        invitation = await resend_invitation(
            turn.uow,
            self.ctx,
            who=turn.who,
            invitation_id=str(turn.data["existing"]),
            new_link=False,
            shown_as=str(turn.data["contact"]),
        )
        turn.end()
        return [
            Reply(
                msg.RESENT.format(
                    name=invitation.invitee_name, expires=msg.when(invitation.expires_at)
                )
            )
        ]

    async def _send(self, turn: Turn) -> list[Reply]:
        invitation = await create_invitation(
            turn.uow,
            self.ctx,
            who=turn.who,
            actor=turn.actor,
            method=Method(str(turn.data["method"])),
            name=str(turn.data["name"]),
            contact=str(turn.data["contact"]),
            shown_as=str(turn.data["contact"]),
        )
        turn.end()
        return [
            Reply(
                _sent_text(invitation),
                buttons=(Button(msg.BTN_OK, f"card:ok:{invitation.id}", Style.PRIMARY),),
                replace_previous=True,
            )
        ]

    async def _press_card(self, turn: Turn, action: str, invitation_id: str) -> list[Reply]:
        ctx = self.ctx
        if action == "ok":
            invitation = await managed_invitation(turn.uow, turn.who, invitation_id)
            return [Reply(_sent_text(invitation), replace_previous=True)]
        if action in ("resend", "resend_same", "resend_new"):
            invitation = await managed_invitation(turn.uow, turn.who, invitation_id)
            status = invitation.effective_status(ctx.clock.now())
            if action == "resend" and status is InvitationStatus.EXPIRED:
                return [
                    Reply(
                        msg.RESEND_CHOICE.format(name=invitation.invitee_name),
                        buttons=(
                            Button(msg.BTN_RESEND_SAME, f"card:resend_same:{invitation.id}"),
                            Button(
                                msg.BTN_RESEND_NEW,
                                f"card:resend_new:{invitation.id}",
                                Style.PRIMARY,
                            ),
                        ),
                    )
                ]
            new_link = action == "resend_new"
            invitation = await resend_invitation(
                turn.uow,
                ctx,
                who=turn.who,
                invitation_id=invitation_id,
                new_link=new_link,
                shown_as=contacts.mask_contact(invitation.contact),
            )
            text = msg.RESENT_NEW_LINK if new_link else msg.RESENT
            return [
                Reply(
                    text.format(
                        name=invitation.invitee_name, expires=msg.when(invitation.expires_at)
                    ),
                    replace_previous=action != "resend",
                )
            ]
        invitation = await managed_invitation(turn.uow, turn.who, invitation_id)
        status = invitation.effective_status(ctx.clock.now())
        name = invitation.invitee_name
        if action == "copy":
            if status is InvitationStatus.PENDING:
                link = link_of(ctx, invitation)
                return [
                    Reply(
                        msg.COPY_LINK.format(name=name, expires=msg.when(invitation.expires_at)),
                        link=link,
                    ),
                    # The invitation page serves a QR code of the link while it is open.
                    Reply(msg.COPY_QR.format(name=name), link=f"{link}/qr.png"),
                ]
            if status is InvitationStatus.EXPIRED:
                return [Reply(msg.COPY_EXPIRED.format(name=name))]
            return [Reply(msg.COPY_NOT_OPEN.format(name=name, status=msg.STATUS_LABELS[status]))]
        if status not in (InvitationStatus.PENDING, InvitationStatus.EXPIRED):
            return [Reply(msg.ALREADY_CLOSED.format(name=name, status=msg.STATUS_LABELS[status]))]
        if action == "cancel":
            return [
                Reply(
                    msg.CONFIRM_CANCEL.format(name=name),
                    buttons=(
                        Button(
                            msg.BTN_CONFIRM_CANCEL, f"card:cancel_yes:{invitation.id}", Style.DANGER
                        ),
                        Button(msg.BTN_KEEP, f"card:keep:{invitation.id}"),
                    ),
                )
            ]
        if action == "keep":
            return [Reply(msg.KEPT.format(name=name), replace_previous=True)]
        await cancel_invitation(turn.uow, ctx, who=turn.who, invitation_id=invitation_id)
        return [Reply(msg.CANCELLED.format(name=name), replace_previous=True)]

    # --- what to show --------------------------------------------------------------------

    async def _prompt(self, turn: Turn) -> list[Reply]:
        """The current question, with its buttons."""
        cancel = Button(msg.BTN_CANCEL, "flow:cancel")
        data = turn.data
        if turn.state == METHOD:
            return [
                Reply(
                    msg.ASK_METHOD,
                    buttons=(
                        Button(msg.BTN_EMAIL, "flow:method:email"),
                        Button(msg.BTN_SMS, "flow:method:sms"),
                        cancel,
                    ),
                )
            ]
        if turn.state == NAME:
            return [Reply(msg.ASK_NAME, buttons=(cancel,))]
        if turn.state == CONTACT:
            name = str(data.get("name", ""))
            if data.get("method") == Method.EMAIL.value:
                text = msg.ASK_EMAIL.format(name=name)
            else:
                text = msg.ASK_PHONE.format(
                    name=name, example=contacts.phone_example(self.ctx.region)
                )
            return [Reply(text, buttons=(cancel,))]
        if turn.state == SUMMARY:
            method = Method(str(data["method"]))
            household = turn.who.household
            return [
                Reply(
                    msg.SUMMARY.format(
                        name=data["name"],
                        method=method.label,
                        contact_label="Email" if method is Method.EMAIL else "Mobile",
                        contact=contacts.display_contact(str(data["contact"])),
                        household=household.address if household else "",
                    ),
                    title=msg.SUMMARY_TITLE,
                    buttons=(
                        Button(msg.BTN_SEND, "flow:send", Style.PRIMARY),
                        Button(msg.BTN_EDIT, "flow:edit"),
                        cancel,
                    ),
                )
            ]
        if turn.state == EDIT:
            return [
                Reply(
                    msg.EDIT_WHAT,
                    buttons=(
                        Button(msg.BTN_EDIT_METHOD, "flow:edit:method"),
                        Button(msg.BTN_EDIT_NAME, "flow:edit:name"),
                        Button(msg.BTN_EDIT_CONTACT, "flow:edit:contact"),
                        Button(msg.BTN_BACK, "flow:back"),
                    ),
                )
            ]
        if turn.state == DUPLICATE:
            existing = await turn.uow.invitations.get(str(data["existing"]))
            if existing is None:
                turn.end()
                return [Reply(msg.STALE_BUTTON)]
            return [
                Reply(
                    msg.DUPLICATE_PENDING.format(
                        name=existing.invitee_name,
                        contact=contacts.display_contact(existing.contact),
                        sent=msg.when(existing.sent_at or existing.created_at),
                    ),
                    buttons=(
                        Button(msg.BTN_RESEND_EXISTING, "flow:resend_existing", Style.PRIMARY),
                        cancel,
                    ),
                )
            ]
        if turn.state == JOIN:
            return [Reply(msg.ASK_JOIN, buttons=(cancel,))]
        return []

    async def _household_cards(
        self, turn: Turn, household: Household, *, with_buttons: bool
    ) -> list[Reply]:
        view = await household_view(turn.uow, self.ctx, household=household)
        now = self.ctx.clock.now()
        member_lines = [
            msg.MEMBER_LINE.format(
                name=m.name,
                head=msg.HEAD_MARK if m.is_head else "",
                contact=f" · {contacts.mask_contact(m.email or m.phone or '')}"
                if (m.email or m.phone)
                else "",
            )
            for m in view.members
        ]
        replies = [
            Reply(
                "\n".join([msg.MEMBERS_TITLE, *member_lines]),
                title=msg.HOUSEHOLD_TITLE.format(
                    address=household.address,
                    community=view.community.name if view.community else "",
                ),
            )
        ]
        if not with_buttons:
            return replies
        if not view.open_invitations and not view.closed_invitations:
            replies.append(Reply(msg.NO_INVITATIONS))
        for invitation in view.open_invitations:
            replies.append(_card(invitation, now))
        if view.closed_invitations:
            lines = [
                msg.CARD_CLOSED.format(
                    name=i.invitee_name,
                    method=i.method.label,
                    contact=contacts.mask_contact(i.contact),
                    status=msg.STATUS_LABELS[i.effective_status(now)],
                    when=msg.when(i.responded_at or i.expires_at),
                )
                for i in sorted(
                    view.closed_invitations, key=lambda i: i.responded_at or i.created_at
                )[-5:]
            ]
            replies.append(Reply("\n".join(lines), title=msg.EARLIER_TITLE))
        return replies

    async def household_home(self, actor: Actor) -> HomeView:
        """What the person's household page shows (a Slack home tab): the ``/household``
        cards, with their buttons for a head; for someone in no household, how to join.
        Read-only: the person's conversation is neither loaded nor saved, and nothing is
        committed, so it never disturbs a step another process is taking."""
        async with self.uow_factory() as uow:
            who = await who_is(uow, actor)
            if who.member is None or who.household is None:
                return HomeView(replies=(Reply(msg.NOT_IN_HOUSEHOLD),), is_head=False)
            turn = Turn(
                uow=uow,
                actor=actor,
                conversation=Conversation(platform=actor.platform, user_id=actor.user_id),
                who=who,
            )
            cards = await self._household_cards(turn, who.household, with_buttons=who.is_head)
            return HomeView(replies=tuple(cards), is_head=who.is_head)


@dataclass(frozen=True)
class HomeView:
    """A person's household page, from :meth:`Engine.household_home`."""

    replies: tuple[Reply, ...]
    is_head: bool
    """A head may invite from the page (and its cards carry the head's buttons)."""


def _sent_text(invitation: Invitation) -> str:
    return msg.SENT.format(
        name=invitation.invitee_name,
        method=invitation.method.label,
        expires=msg.when(invitation.expires_at),
    )


def _card(invitation: Invitation, now: datetime) -> Reply:
    status = invitation.effective_status(now)
    delivery = ""
    if status is InvitationStatus.PENDING:
        delivery = f" ({msg.DELIVERY_LABELS[invitation.delivery_status]})"
    expiry = (msg.CARD_EXPIRED if status is InvitationStatus.EXPIRED else msg.CARD_EXPIRES).format(
        when=msg.when(invitation.expires_at)
    )
    return Reply(
        msg.CARD.format(
            name=invitation.invitee_name,
            method=invitation.method.label,
            contact=contacts.mask_contact(invitation.contact),
            status=msg.STATUS_LABELS[status],
            delivery=delivery,
            sent=msg.when(invitation.sent_at or invitation.created_at),
            expiry=expiry,
        ),
        buttons=(
            Button(msg.BTN_COPY, f"card:copy:{invitation.id}"),
            Button(msg.BTN_RESEND, f"card:resend:{invitation.id}"),
            Button(
                msg.BTN_CANCEL_INVITE,
                f"card:cancel:{invitation.id}",
                Style.DANGER,
                confirm=Confirm(
                    title=msg.CONFIRM_CANCEL_TITLE,
                    text=msg.CONFIRM_CANCEL.format(name=invitation.invitee_name),
                    yes=msg.BTN_CONFIRM_CANCEL,
                    no=msg.BTN_KEEP,
                    payload=f"card:cancel_yes:{invitation.id}",
                ),
            ),
        ),
    )


_PHONEISH = re.compile(r"^[+()\d.\-]+$")


def _split_invite_args(args: str) -> tuple[Method | None, str, str]:
    """Split a one-shot ``/invite [method] [name] [contact]`` into its parts.

    The contact is the last word with an ``@`` in it, or the longest run of phone-like words
    at the end; what lies between the method and the contact is the name."""
    words = args.split()
    method: Method | None = None
    if words and words[0].casefold() in _METHOD_WORDS:
        method = _METHOD_WORDS[words.pop(0).casefold()]
    contact_words: list[str] = []
    if words and "@" in words[-1]:
        contact_words = [words.pop()]
    else:
        while words and _PHONEISH.match(words[-1]):
            contact_words.insert(0, words.pop())
        if contact_words and not any(ch.isdigit() for ch in "".join(contact_words)):
            words.extend(contact_words)
            contact_words = []
    return method, " ".join(words), " ".join(contact_words)
