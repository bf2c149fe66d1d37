"""What every flow works with: the ``Turn``, the ``Flow`` base and the Cancel button."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar

from .. import messages as msg
from ..context import CoreContext
from ..domain import Conversation, Invitation
from ..language import ENGLISH, Words
from ..ports import UnitOfWork
from ..replies import Actor, Button, Reply
from ..rules import Who

IDLE = "idle"
"""The state of a conversation in no flow. A flow's states are named ``<flow>.<question>``."""

CANCEL_PAYLOAD = "flow:cancel"
"""The Cancel button of every question, whichever flow asked it (see :mod:`.basics`)."""


@dataclass
class Turn:
    """Everything one step of a conversation works with."""

    uow: UnitOfWork
    actor: Actor
    conversation: Conversation
    who: Who
    words: Words = ENGLISH
    """The person's words: their language (``/language``, else their app's) and their
    community's time zone."""

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


Handler = Callable[[Turn, str], Awaitable[list[Reply]]]
"""A command (given its arguments) or a button press (given its payload)."""

RunCommand = Callable[[Turn, str, str], Awaitable[list[Reply]]]
"""The engine's command router: ``run(turn, command, args)``, for a flow that hands over."""


class Flow:
    """One flow. The engine routes its commands and button payloads to the methods it names
    in ``Engine.__init__``; a flow that asks questions lists their ``states`` and answers
    :meth:`prompt` and :meth:`text` for them."""

    states: ClassVar[frozenset[str]] = frozenset()
    """The conversation states this flow asks in."""

    def __init__(self, ctx: CoreContext) -> None:
        self.ctx = ctx

    async def prompt(self, turn: Turn) -> list[Reply]:
        """The current question (``turn.state`` is one of :attr:`states`), with its buttons."""
        return []

    async def text(self, turn: Turn, text: str) -> list[Reply] | None:
        """Typed text answering the current question; ``None`` for a question answered with
        buttons (the engine then matches the text against the buttons' labels)."""
        return None


def cancel_button(words: Words) -> Button:
    return Button(words(msg.BTN_CANCEL), CANCEL_PAYLOAD)


def sent_text(words: Words, invitation: Invitation) -> str:
    """The confirmation after Send Invite (and again after its OK)."""
    return words(
        msg.SENT,
        name=invitation.invitee_name,
        method=invitation.method.label,
        expires=invitation.expires_at,
    )
