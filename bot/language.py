"""The words a person reads, in their language, and times in the community's time zone.

The sentences live in ``bot/messages.py`` as English text; the catalogs under ``bot/locales``
(gettext ``.po`` files, compiled to ``.mo`` when the package is built or installed) translate
them. A :class:`Words` is one reader's view: their language and their community's time zone.
The core asks it for a sentence (``words(msg.ASK_NAME)``) or a time (``words.when(moment)``);
storage and the flows' decisions stay in UTC and English-free.

Adding a language is copying a ``.po`` and translating it: :data:`LANGUAGES` is whatever the
``bot/locales`` directory holds.
"""

from __future__ import annotations

import functools
import gettext
import hashlib
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel import Locale, dates
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot import messages as msg

DOMAIN = "invitebot"
LOCALES = Path(__file__).with_name("locales")
DEFAULT_LANGUAGE = "en"
"""The source language: the words in ``bot/messages.py``."""

_TAG = re.compile(r"[A-Za-z]{1,8}")
_SPACES = str.maketrans({"\u202f": " ", "\u00a0": " "})


def _available() -> tuple[str, ...]:
    found = {p.parent.parent.name for p in LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    return tuple(sorted(found | {DEFAULT_LANGUAGE}))


LANGUAGES: tuple[str, ...] = _available()
"""Every language a person can read invitebot in, as lower-case ISO 639-1 codes."""


def language_of(*tags: str | None) -> str | None:
    """The first of ``tags`` invitebot speaks, or ``None``: each tag is a platform's language
    (Telegram's ``language_code`` ``"es"``, Slack's ``"es-LA"``, a ``LANG`` such as
    ``"es_MX.UTF-8"``) and only its primary subtag counts."""
    for tag in tags:
        if not tag:
            continue
        head = _TAG.match(tag.strip())
        if head is not None and head.group().lower() in LANGUAGES:
            return head.group().lower()
    return None


def accepted_language(header: str | None) -> str | None:
    """The language an ``Accept-Language`` header prefers among :data:`LANGUAGES`
    (RFC 9110 weights; ``*`` and unknown tags are ignored), or ``None``."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header[:1000].split(",")[:40]):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        if not 0.0 < weight <= 1.0:
            continue
        language = language_of(tag)
        if language is not None:
            ranked.append((-weight, index, language))
    return min(ranked)[2] if ranked else None


def language_name(code: str) -> str:
    """A language as its speakers write it, for a choice between languages: ``"English"``,
    ``"Español"``."""
    name = _locale(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


_NOT_PLACES = ("Etc/", "SystemV/", "posix/", "right/")
"""Zone names that name no place: fixed offsets and old system aliases."""


def iana_name(name: str) -> str:
    """``name`` as an IANA time zone name of a place (``America/Los_Angeles``), or ``UTC``;
    ``ValueError``, with a sentence a board member can act on, for anything else: an
    abbreviation (``EST`` is a zone without summer time, so New York would be an hour off
    half the year; ``PST`` is none), a fixed offset, ``localtime``, a typo."""
    cleaned = name.strip()
    if cleaned.upper() == "UTC":
        return "UTC"
    if "/" not in cleaned or cleaned.startswith(_NOT_PLACES) or cleaned not in _zone_names():
        raise ValueError(
            f"{name[:80]!r} is not an IANA time zone name, such as America/New_York or "
            "America/Los_Angeles"
        )
    return cleaned


def zone_named(name: str) -> tzinfo:
    """The time zone :func:`iana_name` accepts ``name`` as (UTC needs no zone data)."""
    cleaned = iana_name(name)
    if cleaned == "UTC":
        return UTC
    try:
        return ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError) as error:  # pragma: no cover (listed yet absent)
        raise ValueError(f"the time zone {cleaned!r} can't be loaded on this machine") from error


def zone_or_default(name: str, default: str = "UTC") -> tzinfo:
    """The zone ``name`` names ("" for ``default``). A stored name this machine does not
    know (its time zone data is older) reads as ``default``, then UTC, rather than failing
    what a person is reading."""
    for candidate in (name, default):
        if candidate:
            try:
                return zone_named(candidate)
            except ValueError:
                continue
    return UTC


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


SOURCE_KEY = "invitebot:source-sha256"
"""The message a compiled catalog carries with the SHA-256 of its ``.po`` (see
``build_catalogs.py``)."""


@functools.cache
def _translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog of ``language``; the ``.po`` itself when no ``.mo`` was built
    from it or it changed since (a source checkout, or a translator trying a change)."""
    if language == DEFAULT_LANGUAGE or language not in LANGUAGES:
        return gettext.NullTranslations()
    folder = LOCALES / language / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    text = po.read_bytes()
    if mo.exists():
        with mo.open("rb") as compiled:
            translations = gettext.GNUTranslations(compiled)
        if translations.gettext(SOURCE_KEY) == hashlib.sha256(text).hexdigest():
            return translations
    with io.BytesIO(text) as source:
        catalog = read_po(source, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@functools.cache
def _locale(language: str) -> Locale:
    return Locale.parse(language)


class Phrase(Protocol):
    """Something a reader reads in their own words: a :class:`Say`, a wait in minutes."""

    def said_by(self, words: Words, /) -> str: ...


@dataclass(frozen=True, slots=True)
class Say:
    """A sentence with its fields, to be read in the reader's words later: what a refusal
    holds, deep in a use case that does not know who reads it."""

    sentence: str
    fields: Mapping[str, object] = field(default_factory=dict)

    def said_by(self, words: Words, /) -> str:
        return words(self.sentence, **self.fields)


@dataclass(frozen=True, slots=True)
class Minutes:
    """How long to wait, in whole minutes: "1 minute", "5 minutos"."""

    count: int

    def said_by(self, words: Words, /) -> str:
        return words.plural(msg.MINUTES, self.count)


@dataclass(frozen=True, slots=True)
class Words:
    """One reader's words: their ``language`` and the time ``zone`` of their community."""

    language: str = DEFAULT_LANGUAGE
    zone: tzinfo = field(default=UTC)

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            object.__setattr__(self, "language", DEFAULT_LANGUAGE)

    def __call__(self, message: str, /, **fields: object) -> str:
        """``message`` (one of ``bot.messages``) in this reader's language, its fields filled:
        a time (``datetime``) as :meth:`when` writes it, a sentence of the catalogs (a status,
        a method) or a :class:`Phrase` in this language, anything else as its text. A
        field's text is never read as a template, whatever it holds."""
        text = _translations(self.language).gettext(message)
        if not fields:
            return text
        return text.format(**{name: self.field(value) for name, value in fields.items()})

    def field(self, value: object) -> object:
        """One field's value as this reader reads it."""
        if isinstance(value, msg.Sentence):
            return self(value)
        if isinstance(value, datetime):
            return self.when(value)
        if isinstance(value, Say | Minutes):
            return value.said_by(self)
        return value

    def say(self, phrase: Phrase) -> str:
        return phrase.said_by(self)

    def plural(self, forms: tuple[str, str], count: int, /, **fields: object) -> str:
        """The form of ``forms`` (``msg.NP_(...)``) that suits ``count``; ``{count}`` is filled."""
        text = _translations(self.language).ngettext(forms[0], forms[1], count)
        return text.format(count=count, **{name: self.field(v) for name, v in fields.items()})

    def when(self, moment: datetime | None) -> str:
        """A time as this reader reads it, in the community's zone with its abbreviation:
        ``Dec 10, 2026, 2:44 PM EST`` in English, ``10 dic 2026, 14:44 EST`` in Spanish."""
        if moment is None:
            return self(msg.NOT_YET)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        local = moment.astimezone(self.zone)
        locale = _locale(self.language)
        day = dates.format_date(local, "medium", locale=locale)
        clock = dates.format_time(local, "short", tzinfo=local.tzinfo, locale=locale)
        joined = str(locale.datetime_formats["medium"]).replace("'", "").format(clock, day)
        return f"{joined} {local.tzname() or 'UTC'}".translate(_SPACES)

    def wait_for(self, minutes: int) -> str:
        """``1`` → "1 minute", ``5`` → "5 minutos": how long someone should wait."""
        return self.plural(msg.MINUTES, minutes)

    def in_zone(self, zone: tzinfo) -> Words:
        return Words(self.language, zone)


ENGLISH = Words()
"""English in UTC: for a reader whose language and community are not known."""
