"""Replies as Telegram messages: plain text and inline keyboards.

Text is sent without ``parse_mode``: names, addresses and contacts come from users, and as
plain text they can never inject markup or break a message with a stray ``<`` or ``*``.
Button payloads are the engine's opaque strings; they travel in ``callback_data`` (at most
64 bytes) through an aiogram :class:`CallbackData` factory, so anything else arriving there
(an old client, a forged update) fails to unpack and is refused before it reaches the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.enums import ButtonStyle
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CopyTextButton, InlineKeyboardButton, InlineKeyboardMarkup

from bot import messages as msg
from bot.replies import Button, Reply, Style

MAX_TEXT = 4096
"""Telegram's limit for a message's text, in UTF-16 code units."""
MAX_CALLBACK_DATA = 64
"""Telegram's limit for ``callback_data``, in bytes."""
MAX_COPY_TEXT = 256
"""Telegram's limit for a ``copy_text`` button's text."""
SHORT_LABEL = 12
"""Labels up to this many characters share a row (up to :data:`PER_ROW`); longer ones get a
row each, so phones never cut a label short."""
PER_ROW = 3
COPY_LABEL = msg.COPY_LINK_BUTTON
"""The copy button's label when the reply names none (``Reply.link_label``)."""

_STYLES = {Style.PRIMARY: ButtonStyle.PRIMARY, Style.DANGER: ButtonStyle.DANGER}


class ButtonData(CallbackData, prefix="b", sep="|"):
    """A button press: ``b|<payload>``. The separator is ``|`` because payloads use ``:``."""

    p: str


def pack_payload(payload: str) -> str:
    """The ``callback_data`` for an engine payload.

    Raises ``ValueError`` for a payload that cannot travel (too long, or holding the
    separator): that is a bug in the engine's payloads, better found loudly in tests.
    """
    packed = ButtonData(p=payload).pack()
    if len(packed.encode()) > MAX_CALLBACK_DATA:
        raise ValueError(f"button payload too long for Telegram: {payload!r}")
    return packed


def unpack_payload(data: str | None) -> str | None:
    """The engine payload in ``callback_data``, or ``None`` when it is not one of ours."""
    if not data or len(data.encode()) > MAX_CALLBACK_DATA:
        return None
    try:
        return ButtonData.unpack(data).p
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Rendered:
    """One reply as Telegram will show it."""

    text: str
    reply_markup: InlineKeyboardMarkup | None
    replace_previous: bool


def message_text(reply: Reply) -> str:
    """The reply's title, text, fields and link as one plain-text message."""
    parts = [reply.title] if reply.title else []
    parts.append(reply.text)
    if reply.fields:
        parts.append("\n".join(f"{name}: {value}" for name, value in reply.fields))
    if reply.link:
        parts.append(reply.link)
    text = "\n\n".join(part for part in parts if part)
    if _utf16_length(text) > MAX_TEXT:
        text = _cut_to_utf16(text, MAX_TEXT - 1) + "…"
    return text or "…"


def _utf16_length(text: str) -> int:
    """Telegram counts a message's length in UTF-16 code units (an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


def _cut_to_utf16(text: str, units: int) -> str:
    """The longest start of ``text`` of at most ``units`` UTF-16 code units."""
    cut = text[:units]
    while _utf16_length(cut) > units:
        cut = cut[: -max(1, (_utf16_length(cut) - units) // 2)]
    return cut


def _button(button: Button) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=button.label,
        callback_data=pack_payload(button.payload),
        style=_STYLES.get(button.style),
    )


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """The reply's buttons as an inline keyboard: short labels up to three a row, long
    labels one a row; a link adds a button that copies it (Telegram's ``copy_text``)."""
    rows: list[list[InlineKeyboardButton]] = []
    row: list[InlineKeyboardButton] = []
    for button in reply.buttons:
        if len(button.label) > SHORT_LABEL:
            if row:
                rows.append(row)
                row = []
            rows.append([_button(button)])
            continue
        row.append(_button(button))
        if len(row) == PER_ROW:
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    if reply.link and len(reply.link) <= MAX_COPY_TEXT:
        rows.append(
            [
                InlineKeyboardButton(
                    text=reply.link_label or COPY_LABEL, copy_text=CopyTextButton(text=reply.link)
                )
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def render(reply: Reply) -> Rendered:
    return Rendered(
        text=message_text(reply),
        reply_markup=keyboard(reply),
        replace_previous=reply.replace_previous,
    )
