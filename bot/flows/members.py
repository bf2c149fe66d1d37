"""The members on ``/household`` and what can be done to them: the head's **Remove** (asks
first), **Make head** (a request the member answers with **Accept** or **Decline**, which the
head may cancel) and **Rename** (asks for the name); a member's **Leave household** (asks
first). Payloads: ``member:<action>:<member id>``, ``household:<action>``,
``head:<accept|decline>:<household id>``. Every press is authorised again on the household
as it is when the press is handled (see :mod:`bot.membership`): a stranger's, a plain
member's or a removed member's press changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from .. import contacts
from .. import messages as msg
from ..context import CoreContext
from ..domain import HEAD_REQUEST_TTL, ChannelIdentity, Household, Member
from ..handover import (
    ACCEPT,
    answer_head_request,
    cancel_head_request,
    request_buttons,
    request_head,
)
from ..language import Words
from ..membership import acting_head, chat_accounts, leave_household, member_of, remove_member
from ..membership import rename_member as rename
from ..replies import Button, Confirm, Reply, Style
from ..rules import Refused
from .common import Flow, Handler, Turn, cancel_button

RENAME = "members.rename"

_ID = r"[0-9a-f]{32}"
_MEMBER = re.compile(rf"^member:(remove|remove_yes|keep|rename|make_head|cancel_request):({_ID})$")
_HEAD = re.compile(rf"^head:(accept|decline):({_ID})$")
_HOUSEHOLD = re.compile(r"^household:(leave|leave_yes|stay|history)$")

HISTORY_PAYLOAD = "household:history"
LEAVE_PAYLOAD = "household:leave"


def member_line(words: Words, member: Member) -> str:
    contact = member.email or member.phone or ""
    return words(
        msg.MEMBER_LINE,
        name=member.name,
        head=words(msg.HEAD_MARK) if member.is_head else "",
        contact=f" · {contacts.mask_contact(contact)}" if contact else "",
    )


def head_cards(
    words: Words,
    household: Household,
    members: Sequence[Member],
    accounts: dict[str, Sequence[ChannelIdentity]],
    now: datetime,
) -> list[Reply]:
    """A head's member cards: one per member with the head's buttons (Make head only for a
    member the bot can reach on chat), and the open head request with Cancel request."""
    cards = []
    asked = household.open_head_request(now)
    for member in members:
        buttons = [Button(words(msg.BTN_RENAME), f"member:rename:{member.id}")]
        if not member.is_head:
            if asked is None and chat_accounts(accounts.get(member.id, ())):
                buttons.append(Button(words(msg.BTN_MAKE_HEAD), f"member:make_head:{member.id}"))
            buttons.append(_remove_button(words, member, household))
        cards.append(Reply(member_line(words, member), buttons=tuple(buttons)))
        if member.id == asked and household.head_request_at is not None:
            cards.append(
                Reply(
                    words(
                        msg.HEAD_REQUEST_OPEN,
                        name=member.name,
                        expires=household.head_request_at + HEAD_REQUEST_TTL,
                    ),
                    buttons=(
                        Button(
                            words(msg.BTN_CANCEL_HEAD_REQUEST), f"member:cancel_request:{member.id}"
                        ),
                    ),
                )
            )
    return cards


def member_view_buttons(words: Words) -> tuple[Button, ...]:
    return (Button(words(msg.BTN_LEAVE), LEAVE_PAYLOAD, Style.DANGER),)


def request_card(
    words: Words,
    household: Household,
    community: str,
    head: Member | None,
    me: Member,
    now: datetime,
) -> list[Reply]:
    """For the member a head request names: the request again, with Accept and Decline."""
    if household.open_head_request(now) != me.id or household.head_request_at is None:
        return []
    return [
        Reply(
            words(
                msg.HEAD_REQUEST,
                head=head.name if head else "",
                address=household.address,
                community=community,
                expires=household.head_request_at + HEAD_REQUEST_TTL,
            ),
            buttons=request_buttons(words, household.id),
        )
    ]


def _remove_button(words: Words, member: Member, household: Household) -> Button:
    question = words(msg.CONFIRM_REMOVE, name=member.name, address=household.address)
    return Button(
        words(msg.BTN_REMOVE),
        f"member:remove:{member.id}",
        Style.DANGER,
        confirm=Confirm(
            title=words(msg.CONFIRM_REMOVE_TITLE),
            text=question,
            yes=words(msg.BTN_CONFIRM_REMOVE),
            no=words(msg.BTN_KEEP_MEMBER),
            payload=f"member:remove_yes:{member.id}",
        ),
    )


class MembersFlow(Flow):
    states = frozenset({RENAME})

    def __init__(self, ctx: CoreContext, *, show_history: Handler) -> None:
        super().__init__(ctx)
        self._show_history = show_history

    def _via(self, turn: Turn) -> str:
        return turn.actor.platform

    async def press_member(self, turn: Turn, payload: str) -> list[Reply]:
        """A ``member:`` button: the head's, on a member's card."""
        pressed = _MEMBER.match(payload)
        if pressed is None:
            return [Reply(turn.words(msg.INVALID_BUTTON))]
        action, member_id = pressed.group(1), pressed.group(2)
        via = self._via(turn)
        if action == "remove_yes":
            change = await remove_member(
                turn.uow, self.ctx, who=turn.who, member_id=member_id, via=via
            )
            return [
                Reply(
                    turn.words(
                        msg.REMOVED, name=change.member.name, address=change.household.address
                    ),
                    replace_previous=True,
                )
            ]
        if action == "make_head":
            request = await request_head(
                turn.uow, self.ctx, who=turn.who, member_id=member_id, via=via
            )
            return [
                Reply(
                    turn.words(
                        msg.HEAD_ASKED,
                        name=request.asked.name,
                        address=request.household.address,
                        expires=request.expires,
                    ),
                    replace_previous=True,
                )
            ]
        if action == "cancel_request":
            acting = await acting_head(turn.uow, turn.who)
            if acting.household.open_head_request(self.ctx.clock.now()) != member_id:
                raise Refused(msg.HEAD_REQUEST_NOT_OPEN)
            asked = await cancel_head_request(turn.uow, self.ctx, who=turn.who, via=via)
            return [
                Reply(
                    turn.words(
                        msg.HEAD_REQUEST_CANCELLED,
                        name=asked.name,
                        address=acting.household.address,
                    ),
                    replace_previous=True,
                )
            ]
        # Remove (the question), Keep and Rename change nothing yet: checked all the same,
        # so a stranger's press learns nothing about the member it names.
        acting = await acting_head(turn.uow, turn.who)
        member = await member_of(turn.uow, acting, member_id)
        address = acting.household.address
        if action == "remove":
            if member.id == acting.member.id:
                raise Refused(msg.HEAD_CANNOT_LEAVE, address=address, hoa=self.ctx.hoa_contact)
            return [
                Reply(
                    turn.words(msg.CONFIRM_REMOVE, name=member.name, address=address),
                    buttons=(
                        Button(
                            turn.words(msg.BTN_CONFIRM_REMOVE),
                            f"member:remove_yes:{member.id}",
                            Style.DANGER,
                        ),
                        Button(turn.words(msg.BTN_KEEP_MEMBER), f"member:keep:{member.id}"),
                    ),
                )
            ]
        if action == "keep":
            return [
                Reply(
                    turn.words(msg.KEPT_MEMBER, name=member.name, address=address),
                    replace_previous=True,
                )
            ]
        turn.go(RENAME)
        turn.data["member_id"] = member.id
        return await self.prompt(turn)

    async def press_household(self, turn: Turn, payload: str) -> list[Reply]:
        """A ``household:`` button: a member's Leave (and its question), or History."""
        pressed = _HOUSEHOLD.match(payload)
        if pressed is None:
            return [Reply(turn.words(msg.INVALID_BUTTON))]
        action = pressed.group(1)
        if action == "history":
            return await self._show_history(turn, "")
        return await self.leave(turn, confirmed=action == "leave_yes", stay=action == "stay")

    async def leave(
        self, turn: Turn, *, confirmed: bool = False, stay: bool = False
    ) -> list[Reply]:
        member, household = turn.who.member, turn.who.household
        if member is None or household is None:
            raise Refused(msg.NOT_IN_HOUSEHOLD)
        if stay:
            return [Reply(turn.words(msg.STAYED, address=household.address), replace_previous=True)]
        if not confirmed:
            if household.head_member_id == member.id:
                raise Refused(
                    msg.HEAD_CANNOT_LEAVE, address=household.address, hoa=self.ctx.hoa_contact
                )
            head = await turn.uow.members.get(household.head_member_id or "")
            return [
                Reply(
                    turn.words(
                        msg.CONFIRM_LEAVE,
                        address=household.address,
                        head=head.name if head else msg.YOUR_HEAD,
                    ),
                    buttons=(
                        Button(
                            turn.words(msg.BTN_CONFIRM_LEAVE), "household:leave_yes", Style.DANGER
                        ),
                        Button(turn.words(msg.BTN_STAY), "household:stay"),
                    ),
                )
            ]
        change = await leave_household(turn.uow, self.ctx, who=turn.who, via=self._via(turn))
        turn.end()
        return [
            Reply(turn.words(msg.LEFT, address=change.household.address), replace_previous=True)
        ]

    async def press_head(self, turn: Turn, payload: str) -> list[Reply]:
        """``head:accept`` / ``head:decline`` on the request the head sent."""
        pressed = _HEAD.match(payload)
        if pressed is None:
            return [Reply(turn.words(msg.INVALID_BUTTON))]
        accept = payload.startswith(ACCEPT)
        request = await answer_head_request(
            turn.uow,
            self.ctx,
            who=turn.who,
            household_id=pressed.group(2),
            accept=accept,
            via=self._via(turn),
        )
        text = msg.HEAD_ACCEPTED if accept else msg.HEAD_DECLINED
        return [
            Reply(
                turn.words(text, address=request.household.address, head=request.head.name),
                replace_previous=True,
            )
        ]

    async def prompt(self, turn: Turn) -> list[Reply]:
        """The rename question, while it can still be answered: the asker is still the head
        and the member still in the household (else the question ends)."""
        member = await turn.uow.members.get(str(turn.data.get("member_id", "")))
        household = turn.who.household
        if (
            member is None
            or not member.is_current
            or household is None
            or turn.who.member is None
            or household.head_member_id != turn.who.member.id
            or member.household_id != household.id
        ):
            turn.end()
            return []
        return [
            Reply(
                turn.words(msg.ASK_NEW_NAME, name=member.name), buttons=(cancel_button(turn.words),)
            )
        ]

    async def text(self, turn: Turn, text: str) -> list[Reply] | None:
        try:
            name = contacts.normalise_name(text)
        except contacts.ContactError as error:
            return [Reply(turn.words.say(error.say)), *await self.prompt(turn)]
        member_id = str(turn.data.get("member_id", ""))
        member = await turn.uow.members.get(member_id)
        if member is not None and member.name == name:
            question = await self.prompt(turn)  # ends the question if it can't be answered
            if question:
                return [Reply(turn.words(msg.RENAME_SAME, name=name)), *question]
        try:
            old, member = await rename(
                turn.uow,
                self.ctx,
                who=turn.who,
                member_id=member_id,
                name=name,
                via=self._via(turn),
            )
        except Refused as refusal:
            # The rename can no longer happen (the member left, the head handed over): the
            # question ends rather than refusing every later message. Nothing was written.
            turn.end()
            return [Reply(turn.words.say(refusal.say))]
        turn.end()
        return [Reply(turn.words(msg.RENAMED, old=old, new=member.name))]
