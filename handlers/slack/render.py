"""Replies as Slack Block Kit: messages in the direct message, the App Home tab, modals.

Every piece of text that reaches Slack as ``mrkdwn`` is escaped first (``&``, ``<``, ``>``),
so a name such as ``<!channel>`` or ``<https://evil.example|click>`` shows as typed and never
becomes a mention or a link; titles go out as ``plain_text``, which Slack never parses. A
button carries the engine's opaque payload in its ``value`` (Slack allows 2000 characters)
under an ``action_id`` the adapter registers, so a press comes back as exactly that payload.

The engine's commands are typed with a slash; in Slack only the app's slash commands reach
it, so ``/join``, ``/decline``, ``/cancel`` and ``/help`` are shown as the ``/household``
sub-commands that do the same (see :data:`SUBCOMMANDS`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from bot import messages as msg
from bot.language import Words
from bot.replies import Button, Reply, Style

Block = dict[str, Any]

PRESS_ACTION = "invitebot.press"
"""``action_id`` prefix of buttons that carry an engine payload (``invitebot.press.<n>``)."""
PRESS_ACTION_ID = re.compile(r"^invitebot\.press\.\d{1,2}$")
HOME_INVITE_ACTION = "invitebot.home.invite"
"""The App Home's **+ Invite** button: starts the invite flow in the direct message."""
MODAL_CALLBACK = "invitebot.answer"

MAX_VALUE = 2000
"""Slack's limit for a button's ``value``."""
MAX_SECTION_TEXT = 3000
MAX_HEADER = 150
MAX_LABEL = 75
MAX_FIELD = 2000
MAX_FIELDS = 10
MAX_FALLBACK = 3000
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MODAL_TITLE = 24
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30
BUTTONS_PER_BLOCK = 25

SUBCOMMANDS = {
    "join": "join",
    "decline": "decline",
    "cancel": "cancel",
    "help": "help",
    "language": "language",
    "history": "household history",
    "leave": "household leave",
}
"""``/household <word> …`` runs the engine's ``/<word> …`` (``history`` and ``leave`` are the
engine's own ``/household`` sub-commands): Slack keeps ``/join`` for itself (joining a
channel), and a direct message with an app only passes on the app's own commands."""
_ENGINE_COMMAND = re.compile(r"(?<![\w/.:-])/(join|decline|cancel|help|language)\b")

_STYLES = {Style.PRIMARY: "primary", Style.DANGER: "danger"}


def escape(text: str) -> str:
    """Text as Slack ``mrkdwn`` shows literally: no mentions, links or entities injected."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_commands(text: str) -> str:
    """The engine's sentence with its commands as they are typed in Slack."""
    return _ENGINE_COMMAND.sub(lambda m: f"/household {SUBCOMMANDS[m.group(1)]}", text)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": _cut(text, limit) or " ", "emoji": True}


def _mrkdwn(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, Any]:
    escaped = escape(text)
    if len(escaped) > limit:
        cut = escaped[: limit - 1]
        entity = cut.rfind("&", len(cut) - 4)  # never leave half an "&amp;" behind
        if entity != -1 and ";" not in cut[entity:]:
            cut = cut[:entity]
        escaped = cut + "…"
    return {"type": "mrkdwn", "text": escaped or " "}


def button_value(payload: str) -> str:
    """The ``value`` for an engine payload; ``ValueError`` for one that cannot travel (a bug
    in the engine's payloads, better found loudly in tests)."""
    if not payload or len(payload) > MAX_VALUE:
        raise ValueError(f"button payload does not fit a Slack button: {payload!r}")
    return payload


def button_element(button: Button, index: int) -> dict[str, Any]:
    """A button. One whose press the engine wants confirmed (``button.confirm``) asks in
    Slack's own dialog, whose Yes sends the confirmed payload straight away (the engine
    authorises it like any other press); No sends nothing."""
    element: dict[str, Any] = {
        "type": "button",
        "action_id": f"{PRESS_ACTION}.{index}",
        "text": _plain(button.label, MAX_LABEL),
        "value": button_value(button.payload),
    }
    if button.style in _STYLES:
        element["style"] = _STYLES[button.style]
    confirm = button.confirm
    if confirm is not None:
        element["value"] = button_value(confirm.payload)
        element["confirm"] = {
            "title": _plain(confirm.title, MAX_CONFIRM_TITLE),
            "text": _plain(slack_commands(confirm.text), MAX_CONFIRM_TEXT),
            "confirm": _plain(confirm.yes, MAX_CONFIRM_BUTTON),
            "deny": _plain(confirm.no, MAX_CONFIRM_BUTTON),
        }
        if button.style in _STYLES:
            element["confirm"]["style"] = _STYLES[button.style]
    return element


def reply_blocks(reply: Reply) -> list[Block]:
    """One reply: a header for its title, a section for its text (and fields), the link in
    a preformatted block (easy to copy, still clickable), and its buttons."""
    blocks: list[Block] = []
    if reply.title:
        blocks.append({"type": "header", "text": _plain(reply.title, MAX_HEADER)})
    text = slack_commands(reply.text)
    if text.strip():
        blocks.append({"type": "section", "text": _mrkdwn(text)})
    if reply.fields:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    _mrkdwn(f"{name}\n{value}", MAX_FIELD)
                    for name, value in reply.fields[:MAX_FIELDS]
                ],
            }
        )
    if reply.link:
        blocks.append(
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_preformatted",
                        "elements": [{"type": "link", "url": reply.link, "text": reply.link}],
                    }
                ],
            }
        )
    buttons = list(reply.buttons)
    for start in range(0, len(buttons), BUTTONS_PER_BLOCK):
        chunk = buttons[start : start + BUTTONS_PER_BLOCK]
        blocks.append(
            {
                "type": "actions",
                "elements": [button_element(b, start + i) for i, b in enumerate(chunk)],
            }
        )
    return blocks


def fallback_text(reply: Reply) -> str:
    """The message's ``text``: what notifications and screen readers show (escaped too).
    The link is left out: an invite link is a secret, and a push notification shows it on
    a locked screen (it is in the blocks, for the person to copy)."""
    text = "\n".join(part for part in (reply.title, slack_commands(reply.text)) if part)
    return escape(_cut(text, MAX_FALLBACK)) or "…"


def message(reply: Reply) -> dict[str, Any]:
    """``chat.postMessage`` / ``chat.update`` arguments for a reply (without the channel).
    Links never unfurl: an invite link is a secret, and Slack's servers would fetch it."""
    return {
        "text": fallback_text(reply),
        "blocks": reply_blocks(reply)[:MAX_MESSAGE_BLOCKS],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def view_blocks(replies: Iterable[Reply], *, limit: int, more: str = "") -> list[Block]:
    """Several replies in one view (the home tab, a modal), with dividers between them.
    Replies that do not fit are left out whole, with ``more`` said in their place."""
    blocks: list[Block] = []
    rendered = [reply_blocks(reply) for reply in replies]
    for index, reply in enumerate(rendered):
        divider = [{"type": "divider"}] if blocks else []
        room = limit - len(blocks) - (1 if more and index < len(rendered) - 1 else 0)
        if len(divider) + len(reply) > room:
            if more:
                blocks.append({"type": "context", "elements": [_mrkdwn(more)]})
            break
        blocks += divider + reply
    return blocks[:limit]


def home_view(replies: Sequence[Reply], *, can_invite: bool, words: Words) -> dict[str, Any]:
    """The App Home tab, "My Household": the title, **+ Invite** for a head, then the
    engine's household cards (members, then each invitation with its buttons)."""
    title = _plain(words(msg.SLACK_HOME_TITLE), MAX_HEADER)
    top: list[Block] = [{"type": "header", "text": title}]
    if can_invite:
        top.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": HOME_INVITE_ACTION,
                        "text": _plain(words(msg.SLACK_BTN_INVITE), MAX_LABEL),
                        "style": "primary",
                        "value": "invite",
                    }
                ],
            }
        )
    more = words(msg.SLACK_HOME_MORE)
    cards = view_blocks(replies, limit=MAX_VIEW_BLOCKS - len(top) - 1, more=more)
    return {"type": "home", "blocks": [*top, {"type": "divider"}, *cards]}


def modal_view(replies: Sequence[Reply], *, words: Words) -> dict[str, Any]:
    """A modal with the answer to a press on the home tab (a press in it updates it)."""
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "title": _plain(words(msg.SLACK_MODAL_TITLE), MAX_MODAL_TITLE),
        "close": _plain(words(msg.SLACK_BTN_CLOSE), MAX_MODAL_TITLE),
        "blocks": view_blocks(replies, limit=MAX_VIEW_BLOCKS)
        or [{"type": "section", "text": _mrkdwn(words(msg.INVALID_BUTTON))}],
    }


# --- what people type ---------------------------------------------------------------------

_SLACK_MARKUP = re.compile(r"<([^<>]*)>")


def _markup_as_typed(match: re.Match[str]) -> str:
    target, _, label = match.group(1).partition("|")
    if target.startswith(("@", "#")):  # a user or channel mention: its name when given
        return target[0] + label if label else target
    if target.startswith("!"):  # <!here>, <!subteam^S123|@team>
        return label if label.startswith("@") else "@" + (label or target[1:].split("^")[0])
    return label or target  # a link, an email address or a phone number, as typed


def typed_text(text: str) -> str:
    """What a person typed, from the text Slack sends: its links (``<mailto:a@b.org|a@b.org>``,
    ``<https://…>``) and mentions back as typed, and ``&amp;``, ``&lt;``, ``&gt;`` decoded."""
    text = _SLACK_MARKUP.sub(_markup_as_typed, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
