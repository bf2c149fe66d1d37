"""SMS text: how many segments a text costs, and the invitation text that fits in two.

Carriers bill and deliver SMS by segment. A text made only of the GSM-7 alphabet fits 160
characters in one segment and 153 in each part of a longer one (the rest carries the
concatenation header); a single character outside it switches the whole text to UCS-2, where
one segment holds only 70 UTF-16 units and each part of a longer text 67. One accented name
can therefore halve the room, so the invitation composer measures every form it tries and
gives up optional words before it would spill into a third segment.

Only the standard library lives here (the core imports no platform library): the segment
arithmetic is the public GSM 03.38 table, not Twilio's.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from typing import Literal

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


# Characters our own wording or generated text (a date) might carry that GSM-7 lacks, with
# the GSM-7 stand-in that reads the same. Applied only to text we write, never to a name.
_GSM7_STAND_INS = str.maketrans(
    {
        "\u00a0": " ",  # no-break space
        "\u202f": " ",  # narrow no-break space (some date formats)
        "\u2009": " ",  # thin space
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
    }
)


def gsm7_friendly(text: str) -> str:
    """Our own wording with look-alike punctuation swapped for GSM-7 characters, so that
    fixed text alone never forces the costlier UCS-2 encoding."""
    return text.translate(_GSM7_STAND_INS)


JOIN_SENTENCE = "Reply JOIN to accept, DECLINE to decline."
"""Never dropped: it is how an invitee answers by text. JOIN rather than YES or START, which
Twilio treats as opt-in keywords and may answer itself."""

BRAND = "invitebot"


@dataclass(frozen=True)
class _Form:
    """One way of wording the invitation; ``None``/``False`` leaves a part out."""

    greeting: str | None
    inviter: str
    address: str
    community: str | None
    brand: bool
    expires: str | None
    long_wording: bool


def _ladder(full: _Form, first_name: str | None) -> list[_Form]:
    """The forms to try, richest first, each leaving out one more optional part."""
    no_brand = replace(full, brand=False)
    first_only = replace(no_brand, greeting=first_name)
    no_greeting = replace(first_only, greeting=None)
    no_community = replace(no_greeting, community=None)
    no_expiry = replace(no_community, expires=None)
    short = replace(no_expiry, long_wording=False)
    return [full, no_brand, first_only, no_greeting, no_community, no_expiry, short]


_SENTENCE_END = (".", "!", "?", "…")


def _sentence(text: str) -> str:
    """End ``text`` with a full stop unless it already ends a sentence (``12 Oak St.``)."""
    return text if text.endswith(_SENTENCE_END) else text + "."


def _render(form: _Form, link: str) -> str:
    if form.inviter:
        who = f"{form.inviter} invited you"
    else:
        who = "you are invited" if form.greeting and form.long_wording else "You are invited"
    if not form.long_wording:
        # The short wording: no greeting, community or expiry, the fewest fixed words.
        if form.address:
            who += f" to join {form.address}"
        return f"{who}: {link} {JOIN_SENTENCE}"
    place = f"{who} to join their household"
    if form.address:
        place += f" at {form.address}"
    if form.community:
        place += f" in {form.community}"
    if form.brand:
        place += f" on {BRAND}"
    text = f"{_sentence(place)} Accept: {link} {JOIN_SENTENCE}"
    if form.greeting:
        text = f"Hi {form.greeting}, {text}"
    if form.expires:
        text += " " + _sentence(f"Expires {form.expires}")
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


_MIN_KEPT = 3
"""A shortened name or address keeps at least this many characters, or is left out: "A…"
tells the reader nothing."""


def _keeps(text: str, most: int) -> list[int]:
    """How many characters of a part to try keeping, longest first: ``most``, then one fewer
    each time down to a few, then none."""
    keeps = [most, *range(most - 1, _MIN_KEPT - 1, -1)]
    return [*keeps, 0] if most else keeps


def _shown(text: str, keep: int, ellipsis: str) -> str:
    """A part as the text shows it: whole, or cut with an ellipsis marking the cut."""
    if keep >= len(text):
        return text
    head = _cut(text, keep).rstrip(" ,;:-")
    return head + ellipsis if head else ""


def _gsm7_prefix_length(text: str) -> int:
    """How many leading characters of ``text`` GSM-7 can carry, not splitting a cluster."""
    for index, char in enumerate(text):
        if not is_gsm7(char):
            return len(_cut(text, index))
    return len(text)


@dataclass(frozen=True)
class _Fit:
    text: str
    inviter_letters: int
    """How many letters of the inviter's name the text shows: the part that matters most to
    a reader deciding whether to trust the link."""
    shortened: bool


def _letters(text: str) -> int:
    return sum(1 for char in text if unicodedata.category(char).startswith("L"))


def _fit(
    full: _Form,
    first_name: str | None,
    *,
    inviter_keep: int,
    address_keep: int,
    link: str,
    max_segments: int,
) -> _Fit:
    """The richest form that fits, with the inviter's name and the address cut to at most
    the given lengths: first the ladder of forms, then the short form with the address
    shortened down to nothing, then the inviter's name likewise."""
    inviter, address = full.inviter, full.address

    def attempt(form: _Form, keep_inviter: int, keep_address: int) -> str | None:
        for ellipsis in ("...", "…"):
            text = _render(
                replace(
                    form,
                    inviter=_shown(inviter, keep_inviter, ellipsis),
                    address=_shown(address, keep_address, ellipsis),
                ),
                link,
            )
            # "..." costs three GSM-7 units, but "…" is one unit of a text that is UCS-2
            # anyway, and "…" must never be what forces UCS-2 on a text.
            if ellipsis == "..." and not is_gsm7(text):
                continue
            if segment_info(text).segments <= max_segments:
                return text
        return None

    def result(text: str, keep_inviter: int, keep_address: int) -> _Fit:
        return _Fit(
            text=text,
            inviter_letters=_letters(_cut(inviter, keep_inviter)),
            shortened=keep_inviter < len(inviter) or keep_address < len(address),
        )

    ladder = _ladder(full, first_name)
    for form in ladder:
        text = attempt(form, inviter_keep, address_keep)
        if text is not None:
            return result(text, inviter_keep, address_keep)
    short = ladder[-1]
    for keep_address in _keeps(address, address_keep)[1:]:
        text = attempt(short, inviter_keep, keep_address)
        if text is not None:
            return result(text, inviter_keep, keep_address)
    for keep_inviter in _keeps(inviter, inviter_keep)[1:]:
        text = attempt(short, keep_inviter, 0)
        if text is not None:
            return result(text, keep_inviter, 0)
    # Only a link too long for max_segments gets here: the shortest form, in more segments.
    return result(_render(replace(short, inviter="", address=""), link), 0, 0)


def compose_invitation_sms(
    *,
    invitee: str,
    inviter: str,
    address: str,
    community: str,
    link: str,
    expires: str,
    max_segments: int = 2,
) -> str:
    """The invitation as one SMS of at most ``max_segments`` segments.

    The full form names the invitee, the inviter, the household's address and community, the
    link, how to answer and when it expires::

        Hi Maria, Ana Lopez invited you to join their household at 12 Oak Lane in Oak Ridge
        HOA on invitebot. Accept: <link> Reply JOIN to accept, DECLINE to decline. Expires 1 Dec.

    When that is too long, parts go in this order: the app's name, the invitee's surname, the
    greeting, the community, the expiry; then a shorter wording (``Ana Lopez invited you to
    join 12 Oak Lane: <link> Reply JOIN ...``); then the address is shortened with an
    ellipsis, down to nothing, then the inviter's name. The link and the JOIN sentence always
    stay. Names are never respelled, only shortened; our own wording is plain GSM-7.

    One character outside GSM-7 turns the whole text into UCS-2, which leaves 134 units for
    two segments, barely more than the link and the JOIN sentence. So when a name or address
    outside GSM-7 does not fit whole, a second candidate cuts it before its first such
    character and gets GSM-7's 306 units back for everything else; the candidate showing
    more of the inviter's name wins, then the one saying more.

    With names up to 100 characters, an address up to 200 and an ASCII link up to about 240
    characters, the result fits two segments. A longer link still yields the shortest form
    (in more segments) rather than no invitation.
    """
    invitee, inviter, address, community = (
        part.strip() for part in (invitee, inviter, address, community)
    )
    link = link.strip()
    expires = gsm7_friendly(expires.strip())
    first_name = invitee.split()[0] if invitee else None
    full = _Form(
        greeting=invitee or None,
        inviter=inviter,
        address=address,
        community=community or None,
        brand=True,
        expires=expires or None,
        long_wording=True,
    )
    as_is = _fit(
        full,
        first_name,
        inviter_keep=len(inviter),
        address_keep=len(address),
        link=link,
        max_segments=max_segments,
    )
    if not as_is.shortened or is_gsm7(invitee + inviter + address + community + expires):
        return as_is.text

    def gsm7_or_none(text: str | None) -> str | None:
        return text if text and is_gsm7(text) else None

    gsm7 = _fit(
        replace(
            full,
            greeting=gsm7_or_none(invitee) or gsm7_or_none(first_name),
            community=gsm7_or_none(community),
            expires=gsm7_or_none(expires),
        ),
        gsm7_or_none(first_name),
        inviter_keep=_gsm7_prefix_length(inviter),
        address_keep=_gsm7_prefix_length(address),
        link=link,
        max_segments=max_segments,
    )
    best = max(
        (as_is, gsm7), key=lambda fit: (not fit.shortened, fit.inviter_letters, len(fit.text))
    )
    return best.text
