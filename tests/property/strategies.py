"""Text that people (and attackers) type: any Unicode, any length, the awkward characters.

``texts()`` is what every adapter input is drawn from. It mixes all of Unicode with a pool of
characters that break naive code: controls and NUL, bidirectional marks and overrides,
zero-width joiners and spaces, combining marks, emoji (with skin tones and ZWJ sequences),
line and paragraph separators, full-width and compatibility forms that NFKC changes, and
surrogates where the transport can carry them (a Python ``str`` can; JSON and HTTP forms
cannot, so those tests pass ``surrogates=False``). Alongside come whitespace-only strings,
very long strings (10k+ characters) and near misses of real input (names, emails, phones,
commands) with noise spliced in.
"""

from __future__ import annotations

from hypothesis import strategies as st

TRICKY = [
    "\x00",
    "\x01",
    "\x07",
    "\x08",
    "\x1b",
    "\x1f",
    "\x7f",
    "\x85",
    "\x9f",
    "\t",
    "\n",
    "\r",
    "\x0b",
    "\x0c",
    "\u00a0",  # no-break space
    "\u00ad",  # soft hyphen (Cf)
    "\u034f",  # combining grapheme joiner
    "\u0301",  # combining acute
    "\u0327",  # combining cedilla
    "\u061c",  # Arabic letter mark
    "\u1680",
    "\u180e",
    "\u2000",
    "\u200b",  # zero-width space
    "\u200c",  # ZWNJ
    "\u200d",  # ZWJ
    "\u200e",  # LRM
    "\u200f",  # RLM
    "\u2028",  # line separator
    "\u2029",  # paragraph separator
    "\u202a",
    "\u202e",  # RLO
    "\u2066",
    "\u2069",
    "\u2060",  # word joiner
    "\u3000",
    "\ufeff",  # BOM
    "\ufe0f",  # variation selector
    "\ufffd",
    "\uffff",  # noncharacter
    "\ue000",  # private use
    "\U000e0001",  # language tag
    "\U0010ffff",
    "ﬁ",  # NFKC: fi
    "Ａ",  # full-width A
    "①",  # NFKC: 1
    "١",  # Arabic-Indic digit one
    "²",
    "ß",
    "İ",  # its lower case is two characters
    "ŉ",  # NFKC grows it
    "ﷺ",  # NFKC: 18 characters
    "Å",
    "\u0130",
    "👩\u200d👩\u200d👧",
    "👍🏽",
    "🇺🇸",
    "🙂",
    "𝔘",  # mathematical fraktur (NFKC: U)
    "ـ",
    "ม",
    "\u0e33",
    "하",
    "@",
    "+",
    "/",
    ":",
    "|",
    "#",
    "<",
    ">",
    "&",
    '"',
    "'",
    "\\",
    "%",
    "{",
    "}",
    "{name}",
    "%s",
    "<script>",
    "]]>",
    "=?utf-8?q?=0D=0AReply-To:_x@evil.example=0D=0A?=",  # RFC 2047: decodes to a header
    "=?UTF-8?B?DQpCY2M6IHhAZXZpbC5leGFtcGxlDQo=?=",
]
SURROGATES = ["\ud800", "\udfff", "\udc80"]

WHITESPACE = (
    " \t\n\r\x0b\x0c\x85\u00a0\u1680\u2000\u2003\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
    "\u200b\ufeff"
)

NAMES = ["Maria Ruiz", "José Núñez", "李小龙", "محمد علي", "Zoë O'Brien-Smith", "A", "Ana Lopez"]
EMAILS = ["maria@example.org", "MARIA@Example.ORG", "a.b+c@sub.example.co.uk", "x@y.z", "@", "a@"]
PHONES = ["+1 202 555 0199", "+12025550199", "(202) 555-0199", "202.555.0199", "+44 7400 123456"]
PHONES += ["+1 800 555 0199", "555", "+", "+0 123", "٠١٢٣٤٥٦٧٨٩", "+1 202 555 0199 ext 12"]
WORDS = ["JOIN", "join 2", "DECLINE", "NO", "YES", "WRONG", "STOP", "START", "HELP", "JOIN #1"]
WORDS += ["/invite", "/join", "/help", "/cancel", "/household", "/start", "/decline", "/quit"]
WORDS += ["Send Invite", "Edit", "Cancel", "OK", "Email", "SMS Text", "1", "2", "3", "0", "99"]


def characters(*, surrogates: bool = True) -> st.SearchStrategy[str]:
    """One character of all Unicode, or one of the tricky pieces (some are several
    characters long: emoji sequences, format strings, markup)."""
    pool = TRICKY + (SURROGATES if surrogates else [])
    every = st.characters(exclude_categories=() if surrogates else ("Cs",))
    return st.one_of(every, st.sampled_from(pool))


def strings(*, surrogates: bool = True, min_size: int = 0, max_size: int = 40):
    """Strings made of :func:`characters`."""
    return st.lists(characters(surrogates=surrogates), min_size=min_size, max_size=max_size).map(
        "".join
    )


def _noisy(base: st.SearchStrategy[str], *, surrogates: bool) -> st.SearchStrategy[str]:
    """Real-looking input with characters spliced in, or around it."""

    @st.composite
    def build(draw: st.DrawFn) -> str:
        text = draw(base)
        for _ in range(draw(st.integers(0, 3))):
            at = draw(st.integers(0, len(text)))
            noise = draw(strings(surrogates=surrogates, min_size=1, max_size=3))
            text = text[:at] + noise + text[at:]
        return text

    return build()


def long_texts(*, surrogates: bool = True, min_size: int = 10_000) -> st.SearchStrategy[str]:
    """Very long strings: a short piece repeated past ``min_size`` characters."""
    piece = strings(surrogates=surrogates, min_size=1, max_size=8)
    return st.builds(
        lambda p, extra: p * (min_size // len(p) + 1 + extra), piece, st.integers(0, 50)
    )


# Text that an email reader would decode into something else: an RFC 2047 encoded word.
ENCODED_WORDS = [
    "=?utf-8?q?Board=0D=0AReply-To:_x@evil.example=0D=0A=0D=0APay_here?=",
    "=?UTF-8?B?Qm9hcmQNClJlcGx5LVRvOiB4QGV2aWwuZXhhbXBsZQ0KDQpQYXkgaGVyZQ==?=",
    "=?iso-8859-1?q?Jos=E9?= Ruiz",
    "Ana=?utf-8?q?=0A?=Lopez",
]


def encoded_words(*, surrogates: bool = True) -> st.SearchStrategy[str]:
    """``=?charset?q?...?=`` words, some hiding CR/LF or a whole header, typed as a name: it
    must reach every reader (email, SMS, chat, page) as these characters, never decoded."""
    charset = st.sampled_from(["utf-8", "UTF-8", "us-ascii", "iso-8859-1", "x-unknown"])
    hidden = st.one_of(
        strings(surrogates=surrogates, max_size=12),
        st.sampled_from(["\r\nReply-To: x@evil.example\r\n\r\nPay here", "\r\n", "\n.\n"]),
    )
    made = st.builds(lambda c, text: f"=?{c}?q?{_q_encoded(text)}?=", charset, hidden)
    return st.one_of(st.sampled_from(ENCODED_WORDS), made)


def _q_encoded(text: str) -> str:
    """RFC 2047 "Q" encoding: ASCII letters and digits as they are, every other byte =XX."""
    return "".join(
        chr(b) if chr(b).isascii() and chr(b).isalnum() else f"={b:02X}"
        for b in text.encode("utf-8", "surrogatepass")
    )


def texts(*, surrogates: bool = True, long: bool = True) -> st.SearchStrategy[str]:
    """Anything a person could send as text."""
    real = st.sampled_from(NAMES + EMAILS + PHONES + WORDS)
    options = [
        strings(surrogates=surrogates, max_size=40),
        encoded_words(surrogates=surrogates),
        strings(surrogates=surrogates, min_size=90, max_size=300),
        st.text(st.sampled_from(WHITESPACE), min_size=1, max_size=20),
        _noisy(real, surrogates=surrogates),
        real,
    ]
    if long:
        options.append(long_texts(surrogates=surrogates))
    return st.one_of(*options)


def command_args(*, surrogates: bool = True) -> st.SearchStrategy[str]:
    """What follows ``/invite``: a method word, a name and a contact, any of them odd."""
    method = st.sampled_from(["", "sms", "email", "SMS", "e-mail", "text", "phone", "mail", "fax"])
    name = st.one_of(st.sampled_from(NAMES), texts(surrogates=surrogates, long=False))
    contact = st.one_of(st.sampled_from(EMAILS + PHONES), texts(surrogates=surrogates, long=False))
    parts = st.tuples(method, name, contact).map(" ".join)
    return st.one_of(parts, texts(surrogates=surrogates))


def commands(*, surrogates: bool = True) -> st.SearchStrategy[str]:
    """A typed command: one of ours or not, with or without ``@bot``, with any arguments."""
    name = st.one_of(
        st.sampled_from(
            ["invite", "INVITE", "join", "start", "decline", "help", "cancel", "household"]
        ),
        st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,40}", fullmatch=True),
    )
    suffix = st.sampled_from(["", "@oakridge_bot", "@other_bot", "@"])
    sep = st.sampled_from([" ", "  ", "\n", "\t", "\u00a0", ""])
    return st.builds(
        lambda n, s, p, a: f"/{n}{s}{p}{a}", name, suffix, sep, command_args(surrogates=surrogates)
    )


CARD_ACTIONS = ["copy", "resend", "resend_same", "resend_new", "cancel", "cancel_yes", "keep", "ok"]
FLOW_ACTIONS = [
    "method:email",
    "method:sms",
    "send",
    "edit",
    "edit:method",
    "edit:name",
    "edit:contact",
    "back",
    "cancel",
    "resend_existing",
]


def payloads(ids: list[str], *, surrogates: bool = True) -> st.SearchStrategy[str]:
    """Button payloads: real ones, real ones with ids that are someone else's or nobody's,
    near misses (case, whitespace, extra colons), and anything at all."""
    hex_id = st.text(st.sampled_from("0123456789abcdef"), min_size=32, max_size=32)
    # One of ``ids`` by an index drawn from a fixed range: the list may grow between
    # examples, and a strategy whose shape follows it would replay differently.
    ours = st.tuples(st.integers(min_value=0, max_value=15), hex_id).map(
        lambda pick: ids[pick[0] % len(ids)] if ids else pick[1]
    )
    some_id = st.one_of(ours, hex_id)
    odd_id = st.one_of(
        some_id.map(str.upper),
        some_id.map(lambda i: i[:-1]),
        some_id.map(lambda i: i + "0"),
        some_id.map(lambda i: f" {i}"),
        some_id.map(lambda i: f"{i}\n"),
        texts(surrogates=surrogates, long=False),
    )
    action = st.one_of(st.sampled_from(CARD_ACTIONS), texts(surrogates=surrogates, long=False))
    card = st.builds(lambda a, i: f"card:{a}:{i}", st.sampled_from(CARD_ACTIONS), some_id)
    near_card = st.builds(lambda a, i: f"card:{a}:{i}", action, st.one_of(some_id, odd_id))
    flow = st.sampled_from(FLOW_ACTIONS).map(lambda a: f"flow:{a}")
    near_flow = st.one_of(
        flow.map(str.upper),
        flow.map(lambda p: p + ":"),
        flow.map(lambda p: p + "\n"),
        st.builds(lambda t: f"flow:{t}", texts(surrogates=surrogates, long=False)),
    )
    return st.one_of(card, near_card, flow, near_flow, texts(surrogates=surrogates))
