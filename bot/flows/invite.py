"""``/invite``: method → full name → contact → summary → Send Invite | Edit | Cancel →
confirmation with OK.

A one-shot form (``/invite sms Maria Ruiz +1 202 555 0199``) skips the questions it already
has answers to. A contact with an open invitation offers to resend it instead. The buttons'
payloads are ``flow:<action>``; the confirmation's OK is a card button (:mod:`.household`).
"""

from __future__ import annotations

import re

from .. import contacts
from .. import messages as msg
from ..domain import Method
from ..invitations import create_invitation, resend_invitation
from ..invite_checks import (
    check_active,
    check_contact,
    check_invite_quota,
    check_phone_may_be_texted,
)
from ..language import LANGUAGES, language_name
from ..replies import Button, Reply, Style
from ..rules import Refused, only_a_head_may_manage_invitations
from .common import Flow, Turn, cancel_button, sent_text

METHOD = "invite.method"
NAME = "invite.name"
CONTACT = "invite.contact"
SUMMARY = "invite.summary"
EDIT = "invite.edit"
DUPLICATE = "invite.duplicate"
LANGUAGE = "invite.language"

_PAYLOAD = re.compile(
    r"^flow:(method:email|method:sms|send|edit|edit:method|edit:name|edit:contact"
    r"|edit:language|language:[a-z]{2,8}|back|resend_existing)$"
)
_ALLOWED = {
    METHOD: {"method:email", "method:sms"},
    SUMMARY: {"send", "edit"},
    EDIT: {"edit:method", "edit:name", "edit:contact", "edit:language", "back"},
    DUPLICATE: {"resend_existing"},
    LANGUAGE: {f"language:{code}" for code in LANGUAGES},
}
"""The buttons each question shows; any other is stale."""
_METHOD_WORDS = {
    "email": Method.EMAIL,
    "e-mail": Method.EMAIL,
    "mail": Method.EMAIL,
    "sms": Method.SMS,
    "text": Method.SMS,
    "phone": Method.SMS,
    # Spanish, so that a one-shot /invite reads in the head's words too.
    "correo": Method.EMAIL,
    "texto": Method.SMS,
    "telefono": Method.SMS,
    "teléfono": Method.SMS,
}
_PHONEISH = re.compile(r"^[+()\d.\-]+$")


class InviteFlow(Flow):
    states = frozenset({METHOD, NAME, CONTACT, SUMMARY, EDIT, DUPLICATE, LANGUAGE})

    @staticmethod
    def _language(turn: Turn) -> str:
        """The invitation's language: the head's choice in Edit, else their own."""
        chosen = str(turn.data.get("language", ""))
        return chosen if chosen in LANGUAGES else turn.words.language

    async def command(self, turn: Turn, args: str) -> list[Reply]:
        head, household = only_a_head_may_manage_invitations(turn.who)
        await check_active(turn.uow, household, hoa=self.ctx.hoa_contact)
        await check_invite_quota(turn.uow, self.ctx, head=head)
        turn.end()
        method, name, contact = split_invite_args(args)
        errors: list[Reply] = []
        if method is not None:
            turn.data["method"] = method.value
        if name:
            try:
                turn.data["name"] = contacts.normalise_name(name)
            except contacts.ContactError as error:
                errors.append(Reply(turn.words.say(error.say)))
        if contact:
            if method is None:
                guessed = contacts.guess_method(contact)
                if guessed is not None:
                    turn.data["method"] = guessed
            if "method" in turn.data and "name" in turn.data:
                return errors + await self._take_contact(turn, contact)
        return errors + await self._next_question(turn)

    async def text(self, turn: Turn, text: str) -> list[Reply] | None:
        if turn.state == NAME:
            try:
                turn.data["name"] = contacts.normalise_name(text)
            except contacts.ContactError as error:
                return [Reply(turn.words.say(error.say)), *await self.prompt(turn)]
            return await self._next_question(turn)
        if turn.state == CONTACT:
            return await self._take_contact(turn, text)
        return None

    async def _take_contact(self, turn: Turn, text: str) -> list[Reply]:
        method = Method(str(turn.data["method"]))
        try:
            if method is Method.EMAIL:
                contact = contacts.normalise_email(text)
            else:
                contact = contacts.normalise_phone(text, region=self.ctx.region)
        except contacts.ContactError as error:
            turn.go(CONTACT)
            return [Reply(turn.words.say(error.say)), *await self.prompt(turn)]
        _, household = only_a_head_may_manage_invitations(turn.who)
        check = await check_contact(turn.uow, self.ctx, household=household, contact=contact)
        if check.member is not None:
            turn.end()
            return [Reply(turn.words(msg.ALREADY_MEMBER, name=check.member.name))]
        if method is Method.SMS:
            try:
                await check_phone_may_be_texted(
                    turn.uow, phone=contact, shown_as=contacts.display_contact(contact)
                )
            except Refused as refusal:
                turn.go(CONTACT)
                return [Reply(turn.words.say(refusal.say)), *await self.prompt(turn)]
        turn.data["contact"] = contact
        if check.pending is not None and check.pending.is_open(self.ctx.clock.now()):
            turn.data["existing"] = check.pending.id
            turn.go(DUPLICATE)
            return await self.prompt(turn)
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
        return await self.prompt(turn)

    async def press(self, turn: Turn, payload: str) -> list[Reply]:
        """A ``flow:`` button (Cancel is :mod:`.basics`'s)."""
        flow = _PAYLOAD.match(payload)
        if flow is None:
            return [Reply(turn.words(msg.INVALID_BUTTON))]
        action = flow.group(1)
        if action not in _ALLOWED.get(turn.state, set()):
            return [Reply(turn.words(msg.STALE_BUTTON))]
        if action.startswith("language:"):
            turn.data["language"] = action.removeprefix("language:")
            return await self._next_question(turn)
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
            return await self.prompt(turn)
        if action == "back":
            return await self._next_question(turn)
        if action.startswith("edit:"):
            field = action.removeprefix("edit:")
            turn.go(
                {"method": METHOD, "name": NAME, "contact": CONTACT, "language": LANGUAGE}[field]
            )
            return await self.prompt(turn)
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
                turn.words(msg.RESENT, name=invitation.invitee_name, expires=invitation.expires_at)
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
            language=self._language(turn),
        )
        turn.end()
        return [
            Reply(
                sent_text(turn.words, invitation),
                buttons=(
                    Button(turn.words(msg.BTN_OK), f"card:ok:{invitation.id}", Style.PRIMARY),
                ),
                replace_previous=True,
            )
        ]

    async def prompt(self, turn: Turn) -> list[Reply]:
        cancel = cancel_button(turn.words)
        data = turn.data
        if turn.state == METHOD:
            return [
                Reply(
                    turn.words(msg.ASK_METHOD),
                    buttons=(
                        Button(turn.words(msg.BTN_EMAIL), "flow:method:email"),
                        Button(turn.words(msg.BTN_SMS), "flow:method:sms"),
                        cancel,
                    ),
                )
            ]
        if turn.state == NAME:
            return [Reply(turn.words(msg.ASK_NAME), buttons=(cancel,))]
        if turn.state == CONTACT:
            name = str(data.get("name", ""))
            if data.get("method") == Method.EMAIL.value:
                text = turn.words(msg.ASK_EMAIL, name=name)
            else:
                text = turn.words(
                    msg.ASK_PHONE, name=name, example=contacts.phone_example(self.ctx.region)
                )
            return [Reply(text, buttons=(cancel,))]
        if turn.state == SUMMARY:
            method = Method(str(data["method"]))
            household = turn.who.household
            return [
                Reply(
                    turn.words(
                        msg.SUMMARY,
                        name=data["name"],
                        method=method.label,
                        contact_label=msg.LABEL_EMAIL
                        if method is Method.EMAIL
                        else msg.LABEL_MOBILE,
                        language=language_name(self._language(turn)),
                        contact=contacts.display_contact(str(data["contact"])),
                        household=household.address if household else "",
                    ),
                    title=turn.words(msg.SUMMARY_TITLE),
                    buttons=(
                        Button(turn.words(msg.BTN_SEND), "flow:send", Style.PRIMARY),
                        Button(turn.words(msg.BTN_EDIT), "flow:edit"),
                        cancel,
                    ),
                )
            ]
        if turn.state == EDIT:
            return [
                Reply(
                    turn.words(msg.EDIT_WHAT),
                    buttons=(
                        Button(turn.words(msg.BTN_EDIT_METHOD), "flow:edit:method"),
                        Button(turn.words(msg.BTN_EDIT_NAME), "flow:edit:name"),
                        Button(turn.words(msg.BTN_EDIT_CONTACT), "flow:edit:contact"),
                        Button(turn.words(msg.BTN_EDIT_LANGUAGE), "flow:edit:language"),
                        Button(turn.words(msg.BTN_BACK), "flow:back"),
                    ),
                )
            ]
        if turn.state == LANGUAGE:
            choices = [Button(language_name(code), f"flow:language:{code}") for code in LANGUAGES]
            return [
                Reply(
                    turn.words(msg.ASK_INVITATION_LANGUAGE, name=str(data.get("name", ""))),
                    buttons=(*choices, cancel),
                )
            ]
        if turn.state == DUPLICATE:
            existing = await turn.uow.invitations.get(str(data["existing"]))
            if existing is None:
                turn.end()
                return [Reply(turn.words(msg.STALE_BUTTON))]
            return [
                Reply(
                    turn.words(
                        msg.DUPLICATE_PENDING,
                        name=existing.invitee_name,
                        contact=contacts.display_contact(existing.contact),
                        sent=existing.sent_at or existing.created_at,
                    ),
                    buttons=(
                        Button(
                            turn.words(msg.BTN_RESEND_EXISTING),
                            "flow:resend_existing",
                            Style.PRIMARY,
                        ),
                        cancel,
                    ),
                )
            ]
        return []


def split_invite_args(args: str) -> tuple[Method | None, str, str]:
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
