"""The terminal adapter: ``invitebot chat``.

It translates typed lines into events (a number or a label picks one of the buttons shown
last) and renders replies with Rich: buttons as numbered choices. Messages the bot would
send by SMS or email are shown in the window too, as are notifications to this user.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Mapping

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from bot.contacts import display_contact
from bot.domain import Channel, OutboxMessage
from bot.engine import Engine
from bot.language import language_of
from bot.replies import Actor, Button, Event, Reply

PLATFORM = "console"
QUIT_WORDS = {"/quit", "/exit", "quit", "exit"}


def terminal_language(environ: Mapping[str, str] | None = None) -> str:
    """The language the terminal is set to, as POSIX reads it: ``LC_ALL``, else
    ``LC_MESSAGES``, else ``LANG`` (``es_MX.UTF-8``); ``LANGUAGE``'s list comes first, as
    gettext reads it. "" when none is set (``C`` and ``POSIX`` are no language)."""
    env = os.environ if environ is None else environ
    candidates = [*env.get("LANGUAGE", "").split(":")]
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if env.get(name):
            candidates.append(env[name])
            break
    tags = [c for c in candidates if c and c.split(".")[0] not in ("C", "POSIX")]
    return next((tag for tag in tags if language_of(tag)), tags[0] if tags else "")


log = logging.getLogger("invitebot.console")


class ConsoleView:
    """Renders replies and deliveries on a Rich console."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def replies(self, replies: list[Reply]) -> list[Button]:
        """Show replies; return the buttons, numbered in the order shown."""
        buttons: list[Button] = []
        for reply in replies:
            body = Text()
            if reply.title:
                body.append(reply.title + "\n", style="bold")
            body.append(reply.text)
            if reply.link:
                body.append("\n")
                body.append(reply.link, style="underline cyan")
            self.console.print(Text("bot> ", style="bold green"), body, sep="")
            if reply.buttons:
                choices = Text("     ")
                for button in reply.buttons:
                    buttons.append(button)
                    style = {"primary": "bold cyan", "danger": "bold red"}.get(button.style, "cyan")
                    choices.append(f"[{len(buttons)}] {button.label}", style=style)
                    choices.append("   ")
                self.console.print(choices)
        return buttons

    def delivery(self, message: OutboxMessage) -> None:
        if message.channel is Channel.CHAT:
            self.console.print(
                Panel(Text(message.body), title="🔔 Notification", border_style="yellow")
            )
            return
        what = "📱 SMS" if message.channel is Channel.SMS else "✉️  Email"
        title = f"{what} to {display_contact(message.destination)} (console delivery)"
        body = f"Subject: {message.subject}\n\n{message.body}" if message.subject else message.body
        self.console.print(Panel(Text(body), title=Text(title), border_style="magenta"))


class ConsoleSender:
    """Delivers to the terminal window (and the log): the embedded default."""

    def __init__(self, view: ConsoleView) -> None:
        self.view = view

    async def send(self, message: OutboxMessage) -> str:
        self.view.delivery(message)
        log.info("console delivery of outbox %s (%s)", message.id, message.channel.value)
        return f"console-{message.id}"


class ConsoleChat:
    """One person at the keyboard talking to the engine."""

    def __init__(self, *, engine: Engine, actor: Actor, view: ConsoleView) -> None:
        self.engine = engine
        self.actor = actor
        self.view = view
        self.buttons: list[Button] = []

    def event_for(self, line: str) -> Event:
        """A typed line as an event: a number or a label of the buttons shown last picks it."""
        typed = line.strip()
        # isdecimal, not isdigit: "²" is a digit that int() refuses. And a short number only:
        # int() refuses more than 4,300 digits, and no button list is that long anyway.
        if typed.isdecimal() and len(typed) <= 6 and 1 <= int(typed) <= len(self.buttons):
            return Event.press(self.buttons[int(typed) - 1].payload)
        for button in self.buttons:
            if button.label.casefold() == " ".join(typed.split()).casefold():
                return Event.press(button.payload)
        return Event.message(typed)

    async def send(self, event: Event) -> None:
        replies = await self.engine.handle(self.actor, event)
        if replies:
            self.buttons = self.view.replies(replies)

    async def run(
        self, lines: AsyncIterator[str], *, after_each: Callable[[], object] | None = None
    ) -> None:
        """Resume where the conversation was, then take lines until they end or ``/quit``."""
        await self.send(Event.resume())
        async for line in lines:
            if line.strip().casefold() in QUIT_WORDS:
                break
            if not line.strip():
                continue
            await self.send(self.event_for(line))
            if after_each is not None:
                result = after_each()
                if asyncio.iscoroutine(result):
                    await result


async def stdin_lines(console: Console) -> AsyncIterator[str]:
    """Lines from the keyboard (or a pipe), read without blocking the event loop."""
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            console.print(Text("you> ", style="bold blue"), end="")
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        if not interactive:
            console.print(Text("you> ", style="bold blue") + Text(line.rstrip("\n")))
        yield line.rstrip("\n")
