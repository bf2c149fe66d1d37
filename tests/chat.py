"""A chat-transcript harness: a person talking to the engine, pressing buttons by label."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.delivery import Dispatcher, Sender
from bot.domain import Channel, OutboxMessage, Route
from bot.engine import Engine
from bot.replies import Actor, Event, Reply


@dataclass
class Person:
    engine: Engine
    actor: Actor
    last: list[Reply] = field(default_factory=list)
    seen: list[Reply] = field(default_factory=list)

    async def say(self, text: str) -> list[Reply]:
        return self._keep(await self.engine.handle(self.actor, Event.message(text)))

    async def press(self, label: str, *, on: str = "") -> list[Reply]:
        """Press the button with this label on the most recent reply that has one (and whose
        text contains ``on``)."""
        for reply in reversed(self.last):
            if on not in reply.text:
                continue
            for button in reply.buttons:
                if button.label == label:
                    return await self.press_payload(button.payload)
        shown = [b.label for r in self.last for b in r.buttons]
        raise AssertionError(f"no button {label!r} among {shown}")

    async def press_payload(self, payload: str) -> list[Reply]:
        return self._keep(await self.engine.handle(self.actor, Event.press(payload)))

    async def resume(self) -> list[Reply]:
        return self._keep(await self.engine.handle(self.actor, Event.resume()))

    def _keep(self, replies: list[Reply]) -> list[Reply]:
        self.last = replies
        self.seen.extend(replies)
        return replies

    @property
    def text(self) -> str:
        """All the last replies' text, one string, for ``in`` assertions."""
        return "\n".join(
            filter(None, (f"{r.title}\n{r.text}" if r.title else r.text for r in self.last))
        )

    def buttons(self) -> list[str]:
        return [b.label for r in self.last for b in r.buttons]

    def payload_of(self, label: str) -> str:
        for reply in reversed(self.last):
            for button in reply.buttons:
                if button.label == label:
                    return button.payload
        raise AssertionError(f"no button {label!r}")


class RecordingSender:
    """A sender that records what it was asked to send, and fails on request."""

    def __init__(self) -> None:
        self.sent: list[OutboxMessage] = []
        self.fail_with: Exception | None = None

    async def send(self, message: OutboxMessage) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(message)
        return f"fake-{len(self.sent)}"

    def to(self, destination: str) -> list[OutboxMessage]:
        return [m for m in self.sent if m.destination == destination]


def recording_routes(sender: RecordingSender) -> dict[Route, RecordingSender]:
    return {Route(Channel.SMS): sender, Route(Channel.EMAIL): sender, Route(Channel.CHAT): sender}


async def deliver_all(dispatcher: Dispatcher) -> None:
    while await dispatcher.run_once():
        pass


if TYPE_CHECKING:
    # mypy checks that the recording sender implements the Sender port (tests/test_types.py).
    _sender: Sender = RecordingSender()
