"""Email headers written by us, byte for byte, so that no text can become a header.

Why not let the ``email`` package do it: its header registry *parses* every value it is
given, and decodes any RFC 2047 encoded word it finds there, even in a display name passed as
``Address(display_name=...)``. A name typed as
``=?utf-8?q?Board=0D=0AReply-To:_x@evil.example=0D=0A=0D=0APay_here?=`` becomes "Board",
CR LF, "Reply-To: ...", and on Python 3.11.7 and 3.12.1 (before the fix for CVE-2024-6923)
the folder writes those line breaks out raw: a Reply-To header arrives and the body is
replaced. Where that is fixed, the name still arrives decoded rather than as typed. Encoding
the text ourselves first does not help either: the registry decodes our encoded word and
writes the decoded text back out unencoded, for the receiver to decode a second time.

So every header we set is a :class:`PreparedHeader`. An email policy stores a value that has a
``name`` attribute as it is and asks its ``fold`` method for the line (documented behaviour of
``email.policy.EmailPolicy.header_store_parse`` and ``fold``), so nothing re-parses it. Its
line holds only printable ASCII made here by :func:`header_words`: words that are plain ASCII
with no ``=?`` in them as they are, the others as RFC 2047 base64 encoded words of their UTF-8,
which every mail reader decodes to exactly the characters typed, ``=?...?=`` and all.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Sequence
from email.policy import Policy
from typing import Any

MAX_LINE_LENGTH = 78
"""RFC 5322's recommended limit; lines are folded before it wherever there is a space."""

_ENCODED_WORD_BYTES = 42
"""UTF-8 bytes per encoded word: 56 base64 characters, 68 with ``=?utf-8?b?`` and ``?=``
(RFC 2047 allows 75), so that ``Subject: `` and one word fit in a 78-character line."""

# Unstructured text (Subject) may go out as typed when it is printable ASCII words.
_PLAIN_TEXT = re.compile(r"[\x21-\x7e]{1,60}(?: [\x21-\x7e]{1,60})*")
# A display name may go out as typed only as atoms (RFC 5322 atext) separated by spaces:
# anything else (quotes, commas, angle brackets, dots...) would need quoting, so is encoded.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,60}"
_PLAIN_PHRASE = re.compile(_ATEXT)
# An address we write: a dot-atom local part and an ASCII (IDNA) domain, nothing else.
_ADDR_SPEC = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)


def one_line(text: str) -> str:
    """``text`` as a single line: every control character and line or paragraph separator
    becomes a space, and each run of spaces one space.

    Keeps the rest of a name (accents, right-to-left scripts, emoji with their joiners), so a
    stray break in a name never fails a send; it can never break a header either.
    """
    spaced = "".join(
        " " if unicodedata.category(char) in {"Cc", "Zl", "Zp"} else char for char in text
    )
    return " ".join(spaced.split())


def header_words(text: str, *, phrase: bool = False) -> list[str]:
    """The one place text becomes header bytes: ``text`` (made one line) as the
    space-separated words of a header value, each printable ASCII.

    Unstructured text (a Subject) goes out as it is when it is plain ASCII words with no
    ``=?``; otherwise all of it becomes encoded words. In a display name (``phrase``) only the
    words that need it are encoded (non-ASCII, ``=?``, a character that would need quoting,
    too long to fold), each run of such words together, spaces inside: this is how the
    ``email`` package writes names itself, and the only way its own lenient parser (which
    keeps the space between two encoded words of a name) reads back what RFC 2047 readers do.
    """
    line = one_line(text)
    if not line:
        return []
    if not phrase:
        if "=?" not in line and _PLAIN_TEXT.fullmatch(line):
            return line.split(" ")
        return _encoded_words(line)
    words: list[str] = []
    run: list[str] = []  # consecutive words that need encoding
    for word in line.split(" "):
        if "=?" not in word and _PLAIN_PHRASE.fullmatch(word):
            if run:
                words.extend(_encoded_words(" ".join(run)))
                run = []
            words.append(word)
        else:
            run.append(word)
    if run:
        words.extend(_encoded_words(" ".join(run)))
    return words


def _encoded_words(text: str) -> list[str]:
    """``text`` as base64 encoded words of its UTF-8, split only between characters (readers
    join adjacent encoded words, dropping the space between them)."""
    words: list[str] = []
    chunk = b""
    for char in text:
        data = char.encode("utf-8", "replace")  # a lone surrogate becomes "?"
        if len(chunk) + len(data) > _ENCODED_WORD_BYTES:
            words.append(_encoded_word(chunk))
            chunk = b""
        chunk += data
    if chunk:
        words.append(_encoded_word(chunk))
    return words


def _encoded_word(data: bytes) -> str:
    return f"=?utf-8?b?{base64.b64encode(data).decode('ascii')}?="


class PreparedHeader(str):
    """A header the email package writes exactly as prepared here.

    As a string it is the text we meant (what a reader sees); :meth:`fold` gives the line
    that is sent, folded at the spaces between its words.
    """

    name: str
    words: tuple[str, ...]

    def __new__(cls, name: str, text: str, words: Sequence[str]) -> PreparedHeader:
        header = super().__new__(cls, text)
        header.name = name
        header.words = tuple(words)
        for word in header.words:
            if not word or not word.isascii() or not word.isprintable() or " " in word:
                raise ValueError(f"not a header word: {word!r}")
        return header

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.name, str(self), self.words))

    def fold(self, *, policy: Policy) -> str:
        """``Name: words`` in lines of at most :data:`MAX_LINE_LENGTH` (where the words
        allow), each continuation line starting with a space, ending with the policy's
        line separator."""
        limit = min(policy.max_line_length or MAX_LINE_LENGTH, MAX_LINE_LENGTH)
        lines = [f"{self.name}:"]
        holds_a_word = False  # whether the current line has a word after its start
        for word in self.words:
            if holds_a_word and len(lines[-1]) + 1 + len(word) > limit:
                lines.append("")
            lines[-1] += f" {word}"
            holds_a_word = True
        return policy.linesep.join(lines) + policy.linesep


def text_header(name: str, text: str) -> PreparedHeader:
    """An unstructured header (``Subject``) carrying ``text``, whatever it holds."""
    line = one_line(text)
    return PreparedHeader(name, line, header_words(line))


def ascii_header(name: str, value: str) -> PreparedHeader:
    """A header whose value we made ourselves and which must go out as it is (``Date``,
    ``Message-ID``, ``Auto-Submitted``): never encoded, so ``ValueError`` for anything but
    printable ASCII words separated by single spaces."""
    words = value.split(" ")
    if not value or not all(word and word.isascii() and word.isprintable() for word in words):
        raise ValueError(f"{name} must be printable ASCII words: {value!r}")
    return PreparedHeader(name, value, words)


def mailbox_header(name: str, addr_spec: str, display_name: str = "") -> PreparedHeader:
    """An address header (``From``, ``To``) for one mailbox, with an optional display name.

    ``addr_spec`` must be one plain address (``ValueError`` otherwise); a non-ASCII domain is
    written in its IDNA form. The display name may hold anything: it is encoded as needed.
    """
    address = ascii_addr_spec(addr_spec)
    shown = one_line(display_name)
    if not shown:
        return PreparedHeader(name, address, [address])
    return PreparedHeader(
        name, f"{shown} <{address}>", [*header_words(shown, phrase=True), f"<{address}>"]
    )


def ascii_addr_spec(addr_spec: str) -> str:
    """``local@domain`` as written in a header: the domain in IDNA form when it is not ASCII;
    ``ValueError`` for anything but a dot-atom local part and a host name (no quoting, no
    comments, no spaces, no ``=?``, no non-ASCII local part)."""
    local, at, domain = addr_spec.rpartition("@")
    if not at:
        raise ValueError(f"not an email address: {addr_spec!r}")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as invalid:
            raise ValueError(f"not a usable domain: {domain!r}") from invalid
    address = f"{local}@{domain}"
    if "=?" in address or not _ADDR_SPEC.fullmatch(address):
        raise ValueError(f"not a plain email address: {addr_spec!r}")
    return address
