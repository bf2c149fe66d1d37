"""The neutral language between adapters and the core.

An adapter turns a platform message into an :class:`Actor` and an :class:`Event`, hands them to
the engine, and renders the :class:`Reply` list it gets back (Block Kit, inline keyboards,
TwiML, numbered console choices). Adapters never decide what comes next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

MAX_INPUT_CHARS = 4096


@dataclass(frozen=True)
class Actor:
    """Who sent an event: a user of one platform, in one chat."""

    platform: str
    user_id: str
    chat_id: str
    display_name: str = ""
    language: str = ""
    """The language the person's app is set to, as the platform says it (Telegram's
    ``language_code`` ``"es"``, Slack's locale ``"es-LA"``, a terminal's ``LANG``); "" when
    it does not say. ``/language`` overrides it."""


class EventKind(StrEnum):
    TEXT = "text"
    COMMAND = "command"
    BUTTON = "button"
    RESUME = "resume"


@dataclass(frozen=True)
class Event:
    kind: EventKind
    text: str = ""
    command: str = ""
    args: str = ""
    payload: str = ""

    @classmethod
    def message(cls, text: str) -> Event:
        """A typed message: a command when it starts with ``/``, else free text."""
        return parse_text(text)

    @classmethod
    def press(cls, payload: str) -> Event:
        return cls(EventKind.BUTTON, payload=payload[:MAX_INPUT_CHARS])

    @classmethod
    def resume(cls) -> Event:
        """Ask the engine to show the current question again (e.g. after a restart)."""
        return cls(EventKind.RESUME)


_COMMAND_RE = re.compile(r"^/([A-Za-z][A-Za-z0-9_]{0,31})(?:@[A-Za-z0-9_]+)?(?:\s+(.*))?$", re.S)


def parse_text(text: str) -> Event:
    """Turn typed text into an event; ``/invite@MyBot sms ...`` is the command ``invite``."""
    text = text[:MAX_INPUT_CHARS].strip()
    match = _COMMAND_RE.match(text)
    if match:
        return Event(
            EventKind.COMMAND,
            text=text,
            command=match.group(1).lower(),
            args=(match.group(2) or "").strip(),
        )
    return Event(EventKind.TEXT, text=text)


class Style(StrEnum):
    DEFAULT = "default"
    PRIMARY = "primary"
    DANGER = "danger"


@dataclass(frozen=True)
class Confirm:
    """A question to ask before a button's action, for platforms with a dialog of their own
    (Slack's ``confirm``): once the person says yes, the adapter sends ``payload``. Elsewhere
    the adapter sends the button's own payload, and the engine asks the question itself."""

    title: str
    text: str
    yes: str
    no: str
    payload: str


@dataclass(frozen=True)
class Button:
    label: str
    payload: str
    style: Style = Style.DEFAULT
    confirm: Confirm | None = None


@dataclass(frozen=True)
class Reply:
    """One message to show. ``replace_previous`` asks the adapter to edit the last card
    instead of sending a new message, where the platform can."""

    text: str
    buttons: tuple[Button, ...] = ()
    link: str | None = None
    link_label: str = ""
    """The label of a button that copies ``link``, where the platform has one ("" for the
    adapter's own)."""
    replace_previous: bool = False
    title: str = ""
    fields: tuple[tuple[str, str], ...] = field(default_factory=tuple)


NOTICE_BUTTONS = "buttons"
"""The key in a chat notification's ``OutboxMessage.data`` that holds its buttons."""
NOTICE_RECIPIENT = "recipient"
"""The key that holds the platform's user id of the person a notice is for (its destination
is their chat), so an adapter can bring what else it shows them up to date (a home tab)."""


def notice_data(buttons: tuple[Button, ...]) -> dict[str, str]:
    """Buttons for a chat notification, as its outbox row keeps them (``data`` is strings):
    one ``label|style|payload`` line each."""
    if not buttons:
        return {}
    lines = []
    for button in buttons:
        if "\n" in button.label or "|" in button.label or "\n" in button.payload:
            raise ValueError(f"a notification button cannot hold '|' or a newline: {button!r}")
        lines.append(f"{button.label}|{button.style.value}|{button.payload}")
    return {NOTICE_BUTTONS: "\n".join(lines)}


def notice_reply(body: str, data: dict[str, str]) -> Reply:
    """A chat notification as a reply to render: its text and the buttons :func:`notice_data`
    stored (a line that is not one is left out)."""
    buttons = []
    for line in data.get(NOTICE_BUTTONS, "").splitlines():
        label, _, rest = line.partition("|")
        style, _, payload = rest.partition("|")
        if label and payload and style in {s.value for s in Style}:
            buttons.append(Button(label, payload, Style(style)))
    return Reply(body, buttons=tuple(buttons))
