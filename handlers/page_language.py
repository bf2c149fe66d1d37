"""Which language the invitation page speaks, and the switch to the others.

In order: the language the reader picked with the page's switch (``?lang=es``, carried by the
forms as a hidden field), the invitation's own language, the browser's ``Accept-Language``,
English. A page about no invitation (not valid, too many requests) starts at the browser's.
"""

from __future__ import annotations

from bot.context import CoreContext
from bot.language import LANGUAGES, Words, accepted_language, language_name

QUERY = "lang"
"""The query parameter (and form field) of the switch."""


def picked(value: str | None) -> str:
    """A language the reader picked, if it is one the page speaks ("" otherwise)."""
    value = (value or "")[:16].strip().lower()
    return value if value in LANGUAGES else ""


def page_words(
    ctx: CoreContext,
    *,
    chosen: str,
    invitation_language: str = "",
    accept_language: str | None = None,
    timezone: str = "",
) -> Words:
    language = chosen or invitation_language or accepted_language(accept_language) or ""
    return ctx.words(language, timezone)


def switch(words: Words) -> list[tuple[str, str]]:
    """The other languages, each by its own name, for the switch."""
    return [(code, language_name(code)) for code in LANGUAGES if code != words.language]
