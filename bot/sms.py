"""SMS text: how many segments a text costs, and the invitation text that fits in two.

Carriers bill and deliver SMS by segment. A text made only of the GSM-7 alphabet fits 160
characters in one segment and 153 in each part of a longer one (the rest carries the
concatenation header); a single character outside it switches the whole text to UCS-2, where
one segment holds only 70 UTF-16 units and each part of a longer text 67. One accented name
can therefore halve the room, so the invitation composer measures every form it tries and
gives up optional words before it would spill into a third segment.

Only the standard library and the catalogs live here (the core imports no platform
library): the segment arithmetic is the public GSM 03.38 table, not Twilio's; the wording
comes from ``bot.messages`` in the invitee's language.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

from . import messages as msg
from .language import ENGLISH, Words

# GSM 03.38 basic character set: one septet each. ESC (0x1B) is left out: it only introduces
# the extension table.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: ESC plus one septet, so two units each.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True)
class SegmentInfo:
    """What a text costs as SMS: its encoding, its length in that encoding's units (septets
    for GSM-7, UTF-16 code units for UCS-2) and how many segments carry it."""

    encoding: Encoding
    units: int
    segments: int


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in GSM-7 (basic set or extension table)."""
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def segment_info(text: str) -> SegmentInfo:
    """Count the segments ``text`` is sent in.

    A long text is cut into parts greedily, and a part never splits a two-unit character
    (a GSM-7 escape pair, a UTF-16 surrogate pair): handsets and carriers keep those whole,
    so a part may hold one unit less than the nominal 153 or 67. An empty text still costs
    one segment.
    """
    if is_gsm7(text):
        encoding: Encoding = "GSM-7"
        weights = [2 if char in GSM7_EXTENSION else 1 for char in text]
        single, part = GSM7_SINGLE, GSM7_PART
    else:
        encoding = "UCS-2"
        weights = [2 if ord(char) > 0xFFFF else 1 for char in text]
        single, part = UCS2_SINGLE, UCS2_PART
    units = sum(weights)
    if units <= single:
        return SegmentInfo(encoding, units, 1)
    segments, used = 1, 0
    for weight in weights:
        if used + weight > part:
            segments, used = segments + 1, 0
        used += weight
    return SegmentInfo(encoding, units, segments)


# Look-alike punctuation GSM-7 lacks, with the GSM-7 character that reads the same: for our
# own wording and generated text (a date), and in the GSM-7 spelling of names.
_PUNCTUATION = {
    "\u00a0": " ",  # no-break space
    "\u202f": " ",  # narrow no-break space (some date formats)
    "\u2009": " ",  # thin space
    "\u2002": " ",  # en space
    "\u2003": " ",  # em space
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2015": "-",  # horizontal bar
    "\u2212": "-",  # minus sign
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",  # prime
    "\u2039": "'",
    "\u203a": "'",
    "\u00b4": "'",  # acute accent
    "`": "'",
    "\u02bb": "'",  # ʻokina
    "\u02bc": "'",  # modifier apostrophe
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',  # double prime
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2026": "...",
}
_GSM7_STAND_INS = str.maketrans(_PUNCTUATION)

# Latin letters outside GSM-7 that Unicode does not decompose into a base letter and a mark.
# Letters GSM-7 has (Ø ø Æ æ ß Å å) are not here: they are kept as they are.
_LETTER_STAND_INS = {
    "Đ": "D",
    "đ": "d",
    "Ð": "D",
    "ð": "d",
    "Ł": "L",
    "ł": "l",
    "Ŀ": "L",
    "ŀ": "l",
    "Œ": "OE",
    "œ": "oe",
    "ı": "i",
    "Ħ": "H",
    "ħ": "h",
    "Ŧ": "T",
    "ŧ": "t",
    "Þ": "Th",
    "þ": "th",
    "Ŋ": "N",
    "ŋ": "n",
    "ĸ": "k",
    "ſ": "s",
    "ƒ": "f",
}


def gsm7_friendly(text: str) -> str:
    """Our own wording with look-alike punctuation swapped for GSM-7 characters, so that
    fixed text alone never forces the costlier UCS-2 encoding."""
    return text.translate(_GSM7_STAND_INS)


def gsm7_spelling(text: str) -> str:
    """``text`` as GSM-7 can spell it, for an SMS only: a Latin letter with a diacritic GSM-7
    lacks becomes its base letter (``Á`` → ``A``, ``ë`` → ``e``, ``ł`` → ``l``), typographic
    punctuation becomes ASCII. Characters GSM-7 has stay as they are (``é``, ``ñ``, ``ü``,
    ``Ø``), and so does anything without a Latin spelling (Chinese, Cyrillic, lower-case
    Greek, emoji): check the result with :func:`is_gsm7`."""
    out: list[str] = []
    for char in unicodedata.normalize("NFC", text):
        if is_gsm7(char):
            out.append(char)
            continue
        if unicodedata.combining(char) and out and out[-1].isascii() and out[-1].isalpha():
            continue  # a mark on a Latin letter that has no precomposed form
        stand_in = _PUNCTUATION.get(char) or _LETTER_STAND_INS.get(char)
        if stand_in is None:
            base = "".join(
                part
                for part in unicodedata.normalize("NFKD", char)
                if not unicodedata.combining(part)
            )
            if base.strip() and is_gsm7(base):
                stand_in = base
        out.append(stand_in or char)
    return "".join(out)


JOIN_SENTENCE = msg.SMS_JOIN_SENTENCE
"""Never dropped: it is how an invitee answers by text. JOIN rather than YES or START, which
Twilio treats as opt-in keywords and may answer itself (UNIRME in Spanish)."""

BRAND = "invitebot"

Wording = Literal["long", "compact", "minimal"]


@dataclass(frozen=True)
class _Extras:
    """The optional parts a form shows; ``None``/``False`` leaves one out."""

    greeting: str | None = None
    brand: bool = False
    expires: str | None = None


_SENTENCE_END = (".", "!", "?", "…")


def _sentence(text: str) -> str:
    """End ``text`` with a full stop unless it already ends a sentence (``12 Oak St.``)."""
    return text if text.endswith(_SENTENCE_END) else text + "."


def _render(
    words: Words,
    wording: Wording,
    inviter: str,
    address: str,
    community: str,
    extras: _Extras,
    link: str,
) -> str:
    """One wording of the invitation, in ``words``' language. The inviter, address and
    community are shown as given (already shortened); an empty one is left out and the
    sentence still reads."""
    join = words(JOIN_SENTENCE)
    if wording == "minimal":
        # Join Ana Lopez at 12 Oak Lane (Oak Ridge HOA): <link> Reply JOIN ...
        if inviter and address:
            head = words(msg.SMS_JOIN_AT, inviter=inviter, address=address)
        elif inviter or address or community:
            head = words(msg.SMS_JOIN, who=inviter or address or community)
        else:
            head = words(msg.SMS_YOU_ARE_INVITED)
        if (inviter or address) and community:
            head += f" ({community})"
        return f"{head}: {link} {join}"
    if inviter:
        place = words(msg.SMS_INVITED_BY, inviter=inviter)
    else:
        place = words(msg.SMS_INVITED_AFTER_HI if extras.greeting else msg.SMS_INVITED)
    if address:
        place = words(msg.SMS_AT_ADDRESS, place=place, address=address)
    if wording == "long":
        if community:
            place = words(msg.SMS_IN_COMMUNITY, place=place, community=community)
        if extras.brand:
            place = words(msg.SMS_ON_BRAND, place=place, brand=BRAND)
        text = f"{_sentence(place)} {words(msg.SMS_ACCEPT, link=link)} {join}"
    else:
        if community:
            place += f" ({community})"
        text = f"{place}: {link} {join}"
    if extras.greeting:
        text = words(msg.SMS_HI, name=extras.greeting, text=text)
    if extras.expires:
        text += " " + _sentence(words(msg.SMS_EXPIRES, expires=extras.expires))
    return text


_ZWJ = "\u200d"


def _continues_cluster(char: str) -> bool:
    """Whether ``char`` belongs to the character before it, so a cut must not fall just
    before it: a combining accent, a zero-width joiner, a variation selector, an emoji
    skin-tone modifier or tag."""
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Mc", "Me")
        or char == _ZWJ
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
        or 0xE0100 <= code <= 0xE01EF
    )


def _is_regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _cut(text: str, keep: int) -> str:
    """The first ``keep`` characters of ``text`` or fewer, so the cut does not split what a
    reader sees as one character (a letter from its accent, an emoji from its modifiers, a
    flag's two halves)."""
    if keep >= len(text):
        return text
    while keep > 0 and (_continues_cluster(text[keep]) or text[keep - 1] == _ZWJ):
        keep -= 1
    if keep > 0 and _is_regional_indicator(text[keep]):
        run = 0
        while run < keep and _is_regional_indicator(text[keep - 1 - run]):
            run += 1
        keep -= run % 2
    return text[:keep]


def _gsm7_prefix_length(text: str) -> int:
    """How many leading characters of ``text`` GSM-7 can carry, not splitting a cluster."""
    for index, char in enumerate(text):
        if not is_gsm7(char):
            return len(_cut(text, index))
    return len(text)


_FEW = 3
"""A shortened address or community keeps at least this many characters (whole clusters)
while anything else can still give: "O…" tells the reader little."""


@dataclass(frozen=True)
class _Part:
    """A required part: its text, and how much of it may be shown at most (less than the
    whole when only a GSM-7 prefix is to be shown)."""

    text: str
    limit: int

    def ends(self) -> list[int]:
        """Where a cut may fall, shortest first: after each whole cluster, up to ``limit``."""
        ends = {len(_cut(self.text, keep)) for keep in range(1, self.limit + 1)} - {0}
        return sorted(ends | ({self.limit} if self.limit else set()))

    def shown(self, keep: int, ellipsis: str) -> str:
        """The part as the text shows it: whole, or its first ``keep`` characters with an
        ellipsis marking the cut. Never empty unless the part is."""
        if keep >= len(self.text):
            return self.text
        head = self.text[:keep]
        return (head.rstrip(" ,;:-" + _ZWJ) or head) + ellipsis


@dataclass(frozen=True)
class _Fit:
    text: str
    fits: bool
    shortened: bool
    letters: tuple[int, int, int]
    """How many letters and digits of the inviter, address and community the text shows."""


def _compose(
    inviter: _Part,
    address: _Part,
    community: _Part,
    *,
    invitee: str | None,
    expires: str | None,
    link: str,
    max_segments: int,
    words: Words,
) -> _Fit:
    """The richest form that fits ``max_segments``: first the optional parts go, one by one,
    while the wording gets terser; then the address and community are shortened, evenly,
    down to a few characters; then the inviter's name down to its first character; then
    the address and community down to their first. Failing all that (a very long link),
    the shortest form, in more segments."""
    parts = (inviter, address, community)

    def attempt(wording: Wording, extras: _Extras, keeps: tuple[int, int, int]) -> str | None:
        for ellipsis in ("...", "…"):
            text = _render(words, wording, *_shown(parts, keeps, ellipsis), extras, link)
            # "..." costs three GSM-7 units, but "…" is one unit of a text that is UCS-2
            # anyway, and "…" must never be what forces UCS-2 on a text.
            if ellipsis == "..." and not is_gsm7(text):
                continue
            if segment_info(text).segments <= max_segments:
                return text
        return None

    def fit(text: str, keeps: tuple[int, int, int]) -> _Fit:
        pairs = list(zip(parts, keeps, strict=True))
        letters = tuple(_letters(part.text[:keep]) for part, keep in pairs)
        return _Fit(
            text,
            fits=segment_info(text).segments <= max_segments,
            shortened=any(keep < len(part.text) for part, keep in pairs),
            letters=(letters[0], letters[1], letters[2]),
        )

    first_name = invitee.split()[0] if invitee else None
    greetings = [invitee, first_name] if first_name != invitee else [invitee]
    forms: list[tuple[Wording, _Extras]] = [("long", _Extras(invitee, True, expires))]
    for greeting in [*greetings, None]:
        forms += [
            ("long", _Extras(greeting, False, expires)),
            ("compact", _Extras(greeting, False, expires)),
        ]
    forms += [("long", _Extras()), ("compact", _Extras()), ("minimal", _Extras())]
    limits = (inviter.limit, address.limit, community.limit)
    for wording, extras in dict.fromkeys(forms):
        text = attempt(wording, extras, limits)
        if text is not None:
            return fit(text, limits)

    # Shortening, in the minimal wording.
    ends = [part.ends() for part in parts]

    def floor(index: int, graphemes: int) -> int:
        return ends[index][min(graphemes, len(ends[index])) - 1] if ends[index] else 0

    def largest_end(index: int, cap: int, lowest: int) -> int:
        return max([lowest, *(end for end in ends[index] if end <= cap)])

    def even_cuts(keep_inviter: int, graphemes: int) -> _Fit | None:
        """Address and community cut to at most the same length, longest cap first."""
        lows = (floor(1, graphemes), floor(2, graphemes))
        caps = sorted({end for i in (1, 2) for end in ends[i] if end >= lows[i - 1]}, reverse=True)
        for cap in caps:
            keeps = (keep_inviter, largest_end(1, cap, lows[0]), largest_end(2, cap, lows[1]))
            text = attempt("minimal", _Extras(), keeps)
            if text is not None:
                return fit(text, keeps)
        return None

    found = even_cuts(inviter.limit, _FEW)
    if found:
        return found
    few = (floor(1, _FEW), floor(2, _FEW))
    for keep in reversed(ends[0][:-1]):
        keeps = (keep, *few)
        text = attempt("minimal", _Extras(), keeps)
        if text is not None:
            return fit(text, keeps)
    found = even_cuts(floor(0, 1), 1)
    if found:
        return found
    # Only a huge first character (a long emoji sequence, a letter under many accents) or a
    # very long link gets here: cut inside the characters, down to one code point each,
    # the address and community first.
    firsts = [floor(index, 1) for index in range(3)]
    for cap in range(max(firsts[1:]) - 1, 0, -1):
        keeps = (firsts[0], min(firsts[1], cap), min(firsts[2], cap))
        text = attempt("minimal", _Extras(), keeps)
        if text is not None:
            return fit(text, keeps)
    for cap in range(firsts[0] - 1, 0, -1):
        keeps = (cap, min(firsts[1], 1), min(firsts[2], 1))
        text = attempt("minimal", _Extras(), keeps)
        if text is not None:
            return fit(text, keeps)
    # A link too long for max_segments: the shortest form, in more segments.
    keeps = (min(firsts[0], 1), min(firsts[1], 1), min(firsts[2], 1))
    shortest = _render(words, "minimal", *_shown(parts, keeps, "..."), _Extras(), link)
    if not is_gsm7(shortest):
        shortest = _render(words, "minimal", *_shown(parts, keeps, "…"), _Extras(), link)
    return fit(shortest, keeps)


def _shown(
    parts: tuple[_Part, _Part, _Part], keeps: tuple[int, int, int], ellipsis: str
) -> tuple[str, str, str]:
    """The inviter, address and community as the text shows them (see :meth:`_Part.shown`)."""
    inviter, address, community = parts
    return (
        inviter.shown(keeps[0], ellipsis),
        address.shown(keeps[1], ellipsis),
        community.shown(keeps[2], ellipsis),
    )


def _letters(text: str) -> int:
    return sum(1 for char in text if unicodedata.category(char)[0] in "LN")


def _whole(text: str) -> _Part:
    return _Part(text, len(text))


def _gsm7_part(text: str) -> _Part | None:
    """``text`` spelled in GSM-7 and cut before its first character GSM-7 lacks; ``None``
    when that leaves nothing."""
    spelled = gsm7_spelling(text)
    keep = _gsm7_prefix_length(spelled)
    if text and not spelled[:keep].strip(" ,;:-"):
        return None
    return _Part(spelled, keep)


def compose_invitation_sms(
    *,
    invitee: str,
    inviter: str,
    address: str,
    community: str,
    link: str,
    expires: str,
    max_segments: int = 2,
    words: Words = ENGLISH,
) -> str:
    """The invitation as one SMS of at most ``max_segments`` segments, in ``words``'
    language (its wording from the catalogs: ``SMS_*`` in :mod:`bot.messages`).

    The full form names the invitee, the inviter, the household's address and community, the
    link, how to answer and when it expires::

        Hi Maria Ruiz, Ana Lopez invited you to join their household at 12 Oak Lane in Oak
        Ridge HOA on invitebot. Accept: <link> Reply JOIN to accept, DECLINE to decline.
        Expires 1 Dec.

    The inviter's name, the address, the community, the link and the JOIN sentence are
    required; the rest is optional and goes first, in this order, as the wording gets
    terser: the app's name, the invitee's surname, the greeting, the expiry. The tersest
    forms read::

        Ana Lopez invited you to join their household at 12 Oak Lane (Oak Ridge HOA): <link>
        Reply JOIN to accept, DECLINE to decline.

        Join Ana Lopez at 12 Oak Lane (Oak Ridge HOA): <link> Reply JOIN ...

    Still too long, the required parts are shortened with an ellipsis: the address and the
    community first, evenly, down to a few characters each, then the inviter's name, down to
    its first character; never to nothing.

    One character outside GSM-7 turns the whole text into UCS-2, which leaves 134 units for
    two segments, little more than a link and the JOIN sentence. So the names, address and
    community are first spelled in GSM-7 where they have a Latin spelling (``Ángel`` →
    ``Angel``, ``Zoë Ølsen`` → ``Zoe Ølsen``; see :func:`gsm7_spelling`). Names in other
    scripts stay as they are, in UCS-2, and are shortened as above. But when cutting each
    required part before its first character GSM-7 lacks shows as many of its letters as
    that (``Ana Lopez 🌻`` → ``Ana Lopez...``), the GSM-7 text wins: it has room for the rest.

    With names up to 100 characters and an address up to 200, the result fits two segments
    for a link of up to about 100 characters when the names have a GSM-7 spelling, and up to
    about 70 when a required part has none (UCS-2). A longer link still yields the shortest
    form (in more segments) rather than no invitation.
    """
    invitee, inviter, address, community = (
        " ".join(part.split()) for part in (invitee, inviter, address, community)
    )
    link = link.strip()
    expires = gsm7_friendly(expires.strip())

    def gsm7_or_as_is(text: str) -> str:
        spelled = gsm7_spelling(text)
        return spelled if is_gsm7(spelled) else text

    required = (inviter, address, community)
    spelled = tuple(gsm7_or_as_is(part) for part in required)
    all_gsm7 = all(is_gsm7(part) for part in spelled)
    # In UCS-2 every character costs one unit however it is spelled: keep the real one.
    shown = spelled if all_gsm7 else required
    as_is = _compose(
        *(_whole(part) for part in shown),
        invitee=(gsm7_or_as_is(invitee) if all_gsm7 else invitee) or None,
        expires=expires or None,
        link=link,
        max_segments=max_segments,
        words=words,
    )
    if all_gsm7 or not as_is.shortened:
        return as_is.text
    cut = [_gsm7_part(part) for part in required]
    if any(part is None for part in cut):
        return as_is.text
    greeting = gsm7_or_as_is(invitee)
    first_name = next(iter(greeting.split()), "")
    gsm7 = _compose(
        *(part for part in cut if part is not None),
        invitee=(greeting if is_gsm7(greeting) else first_name if is_gsm7(first_name) else "")
        or None,
        expires=expires if is_gsm7(expires) else None,
        link=link,
        max_segments=max_segments,
        words=words,
    )
    more = all(b >= a for a, b in zip(as_is.letters, gsm7.letters, strict=True))
    return gsm7.text if gsm7.fits and more else as_is.text
