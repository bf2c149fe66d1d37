"""Durable intake: a chat update that got a 2xx answer is handled exactly once, in order per
person, and its replies are never lost, whatever process dies when.

Telegram and Slack send an update once they have our 2xx, and never again. So the edge stores
it (an :class:`~bot.domain.InboundUpdate`: its payload, whose it is, which process holds it
and until when) in the same transaction as its :class:`~bot.domain.InboundReceipt`, before
answering; a process that dies leaves it stored, and another takes it over when the lease
ends (``handlers/intake.py``).

The step an update causes is where "exactly once" is decided, and it is decided here, in the
step's own transaction (:meth:`bot.engine.Engine.handle` with an :class:`Inbound`):

1. the update's row is locked, and the person's conversation with it (one statement, where
   the database allows); if the update is gone (done with) or another process took it
   over, the step does nothing;
2. if it already has replies, the step committed before and the replies may not have left:
   they are returned again (unless a later step of the person's came since, which makes them
   an old question), and nothing runs twice;
3. with the conversation locked, an older update of the same person that is still to be
   handled (looked for in a statement of its own, which sees what committed while the lock
   was waited for) means this one is early: :class:`NotYourTurn`, and the caller handles
   the older one first;
4. the step runs, and its replies are stored on the update in the same commit.

The edge then sends the replies and forgets the update. A crash between the commit and the
send leaves the replies to send; one after the send may send them twice, never the step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .domain import Conversation, InboundUpdate
from .ports import UnitOfWork
from .replies import Button, Confirm, Reply, Style


@dataclass(frozen=True)
class Inbound:
    """The update a step is taken for: its stored id, whose it is, and the process holding
    it."""

    id: int
    source: str
    external_id: str
    sender: str
    owner: str

    @classmethod
    def of(cls, update: InboundUpdate) -> Inbound:
        if update.id is None:
            raise ValueError("the update is not stored yet")
        return cls(
            id=update.id,
            source=update.source,
            external_id=update.external_id,
            sender=update.sender,
            owner=update.owner,
        )

    def names(self, update: InboundUpdate | None) -> bool:
        """Whether ``update`` is this one, still held by this process (an id alone could
        be another update's by now, once this one was done with)."""
        return (
            update is not None
            and update.source == self.source
            and update.external_id == self.external_id
            and update.owner == self.owner
        )


class NotYourTurn(Exception):
    """An older update of the same person is still to be handled: this one must wait for it
    (nothing was changed)."""

    def __init__(self, inbound: Inbound) -> None:
        super().__init__(f"update {inbound.id} of {inbound.source} waits for an older one")
        self.inbound = inbound


async def open_step(
    uow: UnitOfWork, inbound: Inbound, *, platform: str, user_id: str
) -> tuple[InboundUpdate | None, Conversation | None, list[Reply]]:
    """Lock the update for its step, and the person's conversation with it (one round trip).
    Returns the update and the conversation (``None`` when the person has none yet) when the
    step is to run; otherwise ``None`` for both and what to show instead: the stored replies
    of a step that committed before, while they still match the conversation (no later step
    of the person's since; one that came after would make them an old question), or nothing
    for an update that is done with or no longer this process's."""
    update, conversation = await uow.updates.lock_step(
        inbound.id, platform=platform, user_id=user_id
    )
    if update is None or not inbound.names(update):
        return None, None, []
    if update.replies is not None:
        at, replies = load_step(update.replies)
        if conversation is None or conversation.updated_at != at:
            return None, None, []
        return None, None, replies
    return update, conversation, []


async def open_effect(uow: UnitOfWork, inbound: Inbound) -> InboundUpdate | None:
    """Lock an update whose handling is not a conversation step (a request to join a group, a
    member joining a channel) for its effect: the update when the effect is still to happen,
    ``None`` when it happened before (or the update is done with, or another process's).
    Store :func:`close_step` with no replies in the same transaction as the effect."""
    update = await uow.updates.get(inbound.id, for_update=True)
    if update is None or not inbound.names(update) or update.replies is not None:
        return None
    return update


async def check_turn(uow: UnitOfWork, inbound: Inbound) -> None:
    """Raise :class:`NotYourTurn` when an older update of the person is still to be handled.
    Called with the person's conversation locked, so a step of theirs that another process
    is taking has either committed (and is seen as handled) or not begun."""
    if await uow.updates.earlier_unhandled(
        source=inbound.source, sender=inbound.sender, before=inbound.id
    ):
        raise NotYourTurn(inbound)


async def close_step(
    uow: UnitOfWork, update: InboundUpdate, replies: list[Reply], *, at: datetime | None
) -> None:
    """Store the step's replies on the update, in the step's transaction, with the time the
    step left on the conversation (``at``)."""
    update.replies = dump_step(at, replies)
    await uow.updates.save(update)


# --- a step's replies as the update keeps them ---------------------------------------------


def dump_step(at: datetime | None, replies: list[Reply]) -> str:
    """The step's time and replies as JSON (what :func:`load_step` reads back)."""
    data = {
        "at": at.isoformat() if at is not None else None,
        "replies": [_reply_data(reply) for reply in replies],
    }
    return json.dumps(data, ensure_ascii=False)


def load_step(text: str) -> tuple[datetime | None, list[Reply]]:
    data = json.loads(text)
    at = datetime.fromisoformat(data["at"]) if data["at"] is not None else None
    return at, [_reply_of(item) for item in data["replies"]]


def _reply_data(reply: Reply) -> dict[str, Any]:
    return {
        "text": reply.text,
        "buttons": [_button_data(button) for button in reply.buttons],
        "link": reply.link,
        "link_label": reply.link_label,
        "replace_previous": reply.replace_previous,
        "title": reply.title,
        "fields": [list(pair) for pair in reply.fields],
    }


def _button_data(button: Button) -> dict[str, Any]:
    confirm = button.confirm
    return {
        "label": button.label,
        "payload": button.payload,
        "style": button.style.value,
        "confirm": None
        if confirm is None
        else {
            "title": confirm.title,
            "text": confirm.text,
            "yes": confirm.yes,
            "no": confirm.no,
            "payload": confirm.payload,
        },
    }


def _reply_of(data: dict[str, Any]) -> Reply:
    return Reply(
        text=data["text"],
        buttons=tuple(_button_of(item) for item in data["buttons"]),
        link=data["link"],
        link_label=data.get("link_label", ""),  # stored before the label was
        replace_previous=data["replace_previous"],
        title=data["title"],
        fields=tuple((name, value) for name, value in data["fields"]),
    )


def _button_of(data: dict[str, Any]) -> Button:
    confirm = data["confirm"]
    return Button(
        label=data["label"],
        payload=data["payload"],
        style=Style(data["style"]),
        confirm=None if confirm is None else Confirm(**confirm),
    )
