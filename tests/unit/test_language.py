"""The catalogs are complete, and a reader gets their language and their community's time.

A sentence added to ``bot/messages.py`` without ``N_``, a template (``invitebot.pot``) not
extracted again, a language whose ``.po`` lacks a sentence or changes its ``{fields}``: each
fails here (README.md, "Languages", says how to update them).
"""

from __future__ import annotations

import hashlib
import string
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

import build_catalogs
from bot import language
from bot import messages as msg
from bot.language import ENGLISH, LANGUAGES, Words, accepted_language, language_of, zone_named
from bot.sms import is_gsm7
from build_catalogs import compile_catalogs

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"N_": None, "NP_": (1, 2)}
TRANSLATED = [code for code in LANGUAGES if code != language.DEFAULT_LANGUAGE]

MsgId = str | tuple[str, str]


def _source() -> list[MsgId]:
    """The sentences Babel's extractor finds in bot/messages.py, in order."""
    found: list[MsgId] = []
    for _, text, _, _ in extract_from_file(
        "python", str(ROOT / "bot" / "messages.py"), keywords=KEYWORDS
    ):
        key = text if isinstance(text, str) else (text[0], text[1])
        if key not in found:
            found.append(key)
    return found


def _catalog(path: Path) -> Catalog:
    with path.open("rb") as source:
        return read_po(source)


def _fields(text: str) -> Counter[str]:
    return Counter(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def test_every_sentence_in_messages_is_marked_for_the_catalogs() -> None:
    source = _source()
    marked = {text for key in source for text in ((key,) if isinstance(key, str) else key)}
    unmarked = []
    for name, value in vars(msg).items():
        if not name.isupper() or name.startswith("_"):
            continue
        if name == "TELEGRAM_COMMANDS":  # the commands themselves are not words
            value = [description for _, description in value]
        unmarked += [f"{name}: {text!r}" for text in _strings(value) if text not in marked]
    assert not unmarked, "sentences without N_(...) in bot/messages.py:\n" + "\n".join(unmarked)


def test_the_template_is_extracted_from_the_current_messages() -> None:
    template = _catalog(ROOT / "bot" / "locales" / "invitebot.pot")
    in_template = [message.id for message in template if message.id]
    assert sorted(map(str, in_template)) == sorted(map(str, _source())), (
        "bot/locales/invitebot.pot is out of date: run the pybabel extract command in README.md"
    )


def test_there_is_a_language_beside_english() -> None:
    assert "en" in LANGUAGES
    assert "es" in LANGUAGES


@pytest.mark.parametrize("code", TRANSLATED)
def test_a_catalog_translates_every_sentence_with_the_same_fields(code: str) -> None:
    catalog = _catalog(ROOT / "bot" / "locales" / code / "LC_MESSAGES" / "invitebot.po")
    problems = []
    source = _source()
    for key in source:
        entry = catalog.get(key[0] if isinstance(key, tuple) else key)
        if entry is None or entry.id != key:
            problems.append(f"missing: {key!r}")
            continue
        if entry.fuzzy:
            problems.append(f"fuzzy (not reviewed): {key!r}")
        english = key if isinstance(key, tuple) else (key,)
        texts = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        for text in texts:
            if not text:
                problems.append(f"not translated: {key!r}")
            elif _fields(text) != _fields(english[-1]):
                problems.append(
                    f"fields differ: {key!r} has {sorted(_fields(english[-1]))}, "
                    f"{text!r} has {sorted(_fields(text))}"
                )
    extra = [entry.id for entry in catalog if entry.id and entry.id not in source]
    problems += [f"no longer in bot/messages.py: {key!r}" for key in extra]
    assert not problems, f"{code}: " + "\n".join(problems)


@pytest.mark.parametrize("code", TRANSLATED)
def test_texts_sent_by_sms_are_spelled_in_gsm7(code: str) -> None:
    """Carriers bill a text with one letter outside GSM-7 at less than half the length."""
    words = Words(code)
    for name, value in vars(msg).items():
        if name.startswith("SMS_") and isinstance(value, str):
            assert is_gsm7(words(value)), f"{code} {name}: {words(value)!r}"


def test_the_compiled_catalogs_are_what_the_sources_say(tmp_path: Path) -> None:
    written = compile_catalogs(ROOT, tmp_path)
    assert sorted(path.parent.parent.name for path in written) == TRANSLATED
    import gettext

    for path in written:
        with path.open("rb") as compiled:
            translations = gettext.GNUTranslations(compiled)
        code = path.parent.parent.name
        assert translations.gettext(msg.ASK_NAME) == Words(code)(msg.ASK_NAME)
        assert translations.gettext(msg.ASK_NAME) != msg.ASK_NAME


def test_spanish_is_spanish_and_english_is_the_source() -> None:
    assert ENGLISH(msg.ASK_NAME) == msg.ASK_NAME
    spanish = Words("es")(msg.ASK_EMAIL, name="Ana Ruiz")
    assert "Ana Ruiz" in spanish
    assert spanish != msg.ASK_EMAIL.format(name="Ana Ruiz")
    assert Words("es").wait_for(1) != Words("es").wait_for(5)
    assert Words("es").wait_for(5).startswith("5 ")
    assert ENGLISH.wait_for(1) == "1 minute"
    assert ENGLISH.wait_for(5) == "5 minutes"


def test_a_field_is_never_read_as_a_template() -> None:
    for words in (ENGLISH, Words("es")):
        text = words(msg.ASK_EMAIL, name="{hoa} {0} {name.__class__}")
        assert "{hoa} {0} {name.__class__}" in text


def test_an_unknown_language_reads_english() -> None:
    assert Words("xx").language == "en"
    assert Words("xx")(msg.ASK_NAME) == msg.ASK_NAME


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (("es",), "es"),
        (("es-MX",), "es"),
        (("es_US.UTF-8",), "es"),
        (("ES",), "es"),
        (("en-GB",), "en"),
        ((None, "", "es-419"), "es"),
        (("fr", "pt-BR"), None),
        (("fr", "es"), "es"),
        (("C.UTF-8",), None),
        (("POSIX",), None),
        ((" ",), None),
        (("-es",), None),
    ],
)
def test_the_language_of_a_platform_tag(tags: tuple[str | None, ...], expected: str) -> None:
    assert language_of(*tags) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("es-MX,es;q=0.9,en;q=0.8", "es"),
        ("en-US,en;q=0.9,es;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,es;q=0.5,en;q=0.4", "es"),
        ("es;q=0.2, en;q=0.9", "en"),
        ("es;q=0, en", "en"),
        ("es;q=0", None),
        ("*", None),
        ("de, fr", None),
        ("es;q=abc, en;q=0.1", "en"),
        ("es;q=2", None),
        ("", None),
        (None, None),
        (";;;,,,;q=", None),
        ("es" + ",x" * 10_000, "es"),
    ],
)
def test_accept_language(header: str | None, expected: str | None) -> None:
    assert accepted_language(header) == expected


LOS_ANGELES = zone_named("America/Los_Angeles")


@pytest.mark.parametrize(
    ("moment", "english", "spanish"),
    [
        # Spring forward, 8 March 2026: 2:00 PST became 3:00 PDT at 10:00 UTC.
        (
            datetime(2026, 3, 8, 9, 30, tzinfo=UTC),
            "Mar 8, 2026, 1:30 AM PST",
            "8 mar 2026, 1:30 PST",
        ),
        (
            datetime(2026, 3, 8, 10, 30, tzinfo=UTC),
            "Mar 8, 2026, 3:30 AM PDT",
            "8 mar 2026, 3:30 PDT",
        ),
        # Fall back, 1 November 2026: 1:30 happens twice, first PDT, then PST.
        (
            datetime(2026, 11, 1, 8, 30, tzinfo=UTC),
            "Nov 1, 2026, 1:30 AM PDT",
            "1 nov 2026, 1:30 PDT",
        ),
        (
            datetime(2026, 11, 1, 9, 30, tzinfo=UTC),
            "Nov 1, 2026, 1:30 AM PST",
            "1 nov 2026, 1:30 PST",
        ),
        # An evening in UTC is the afternoon of the same day in California.
        (
            datetime(2026, 12, 10, 22, 44, tzinfo=UTC),
            "Dec 10, 2026, 2:44 PM PST",
            "10 dic 2026, 14:44 PST",
        ),
        # And the early morning in UTC is still the day before.
        (
            datetime(2026, 7, 4, 3, 5, tzinfo=UTC),
            "Jul 3, 2026, 8:05 PM PDT",
            "3 jul 2026, 20:05 PDT",
        ),
    ],
)
def test_pacific_time_on_both_sides_of_daylight_saving(
    moment: datetime, english: str, spanish: str
) -> None:
    assert Words("en", LOS_ANGELES).when(moment) == english
    assert Words("es", LOS_ANGELES).when(moment) == spanish


def test_times_in_other_zones_and_without_one() -> None:
    moment = datetime(2026, 12, 10, 19, 44, tzinfo=UTC)
    assert Words("en", zone_named("America/New_York")).when(moment) == "Dec 10, 2026, 2:44 PM EST"
    assert Words("es", zone_named("America/New_York")).when(moment) == "10 dic 2026, 14:44 EST"
    assert ENGLISH.when(moment) == "Dec 10, 2026, 7:44 PM UTC"
    # Storage hands back UTC; a naive time is read as UTC, never as the machine's zone.
    assert ENGLISH.when(moment.replace(tzinfo=None)) == ENGLISH.when(moment)
    assert ENGLISH.when(None) == "not yet"
    assert Words("es").when(None) != "not yet"


def test_times_are_plain_text_whatever_the_locale_data() -> None:
    """CLDR puts narrow no-break spaces before AM/PM: a text message would pay UCS-2 for it."""
    text = Words("en", LOS_ANGELES).when(datetime(2026, 12, 10, 22, 44, tzinfo=UTC))
    assert is_gsm7(text)


@pytest.mark.parametrize(
    "name", ["America/Los_Angeles", "America/New_York", "UTC", "utc", "Europe/Madrid"]
)
def test_iana_zone_names(name: str) -> None:
    assert zone_named(name).utcoffset(datetime(2026, 1, 1)) is not None


@pytest.mark.parametrize(
    "name",
    [
        "EST",  # a zone without summer time: New York would be an hour off half the year
        "localtime",
        "Factory",
        "Etc/GMT+5",
        "",
        "Pacific",
        "PST",
        "America/Nowhere",
        "../../etc/passwd",
        "America/Los_Angeles\0",
        "x" * 5000,
    ],
)
def test_other_zone_names_are_refused_with_a_sentence(name: str) -> None:
    with pytest.raises(ValueError, match="IANA time zone"):
        zone_named(name)


def test_zoneinfo_is_what_the_zone_is() -> None:
    assert zone_named("America/Los_Angeles") == ZoneInfo("America/Los_Angeles")


def test_a_compiled_catalog_is_read_only_while_it_matches_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pip keeps no file times, so the .mo carries its .po's hash: a current .mo is read, a
    .po changed since (a translator trying a change) is read as it is."""
    assert language.SOURCE_KEY == build_catalogs.SOURCE_KEY  # the build's and the reader's
    folder = tmp_path / "bot" / "locales" / "es" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    po = folder / "invitebot.po"
    po.write_bytes((ROOT / "bot" / "locales" / "es" / "LC_MESSAGES" / "invitebot.po").read_bytes())
    compile_catalogs(tmp_path, tmp_path)
    monkeypatch.setattr(language, "LOCALES", tmp_path / "bot" / "locales")
    language._translations.cache_clear()
    try:
        compiled = language._translations("es")
        digest = compiled.gettext(language.SOURCE_KEY)
        assert digest == hashlib.sha256(po.read_bytes()).hexdigest()  # the .mo was read
        before = Words("es")(msg.ASK_NAME)
        po.write_bytes(po.read_bytes().replace(before.encode(), b"Nombre completo, por favor"))
        language._translations.cache_clear()
        assert language._translations("es").gettext(language.SOURCE_KEY) == language.SOURCE_KEY
        assert Words("es")(msg.ASK_NAME) == "Nombre completo, por favor"
    finally:
        language._translations.cache_clear()
