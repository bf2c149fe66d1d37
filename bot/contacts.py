"""Checking and normalising what people type: names, email addresses, phone numbers.

Every function here either returns the canonical form of its input or raises a
:class:`ContactError` whose ``reason`` is a short machine-readable word and whose message is a
friendly sentence, with an example of what works, that can be shown to the person as it is.

Lengths are checked before any parsing, so a pasted 100,000-character blob is refused at once.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from . import messages as msg
from .language import ENGLISH, Say

MAX_NAME_LENGTH = 100
MAX_EMAIL_LENGTH = 254  # RFC 5321's limit on a forward path
MAX_PHONE_LENGTH = 40

NAME_EXAMPLE = "Maria Ruiz"
EMAIL_EXAMPLE = "maria@example.org"
_FALLBACK_REGION = "US"

# Invisible or structural characters: controls, format characters (zero-width spaces,
# bidirectional overrides...), line/paragraph separators, private-use, surrogates, unassigned.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})
# Zero-width (non-)joiners are format characters, but Persian, Indic scripts and emoji
# sequences need them inside a word; they are allowed only between two visible characters.
_JOINERS = frozenset({"\u200c", "\u200d"})
# Ordinary whitespace: tab, line breaks and every space separator (category Zs).
_WHITESPACE_RUN = re.compile("[\t\n\r\u0020\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
# What a typed phone number may contain: digits of any script, spaces, a leading plus and the
# usual separators. Anything else (a name, "ext. 12", letters of a vanity number) is refused,
# because phonenumbers would otherwise quietly pick a number out of surrounding text.
_PHONE_SEPARATORS = frozenset("().-/\u2010\u2011\u2012\u2013\u2014\u2015\u2212")
_SMS_TYPES = frozenset(
    {
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
        PhoneNumberType.PERSONAL_NUMBER,
    }
)

ContactMethod = Literal["email", "sms"]


class ContactError(ValueError):
    """Input that is not a usable name, email address or phone number.

    ``say`` is a friendly sentence for the person who typed it, to be read in their words
    (``str(error)`` and ``message`` are it in English); ``reason`` is a short word for code and
    tests (``"too_long"``, ``"invalid"``, ``"landline"``...).
    """

    def __init__(self, sentence: str, *, reason: str, **fields: object) -> None:
        self.say = Say(sentence, fields)
        self.message = ENGLISH.say(self.say)
        super().__init__(self.message)
        self.reason = reason


class InvalidText(ContactError):
    """A name, address or label that is empty, too long or has invisible characters."""


class InvalidName(InvalidText):
    """Not a usable full name."""


class InvalidEmail(ContactError):
    """Not a usable email address."""


class InvalidPhone(ContactError):
    """Not a phone number that can receive text messages."""


def normalise_text(
    text: str,
    *,
    max_length: int,
    what: str = msg.WHAT_TEXT,
    example: str = "",
    error: type[InvalidText] = InvalidText,
) -> str:
    """``text`` trimmed, NFKC-normalised, with each run of whitespace made one space.

    Refuses (with ``error``) empty text, text longer than ``max_length`` characters and text
    with control, format, separator, private-use, surrogate or unassigned characters (see
    ``_JOINERS`` for the one exception). ``what`` names the field in messages ("name",
    "address") and ``example`` shows what works.
    """
    hint: Say | str = Say(msg.FOR_EXAMPLE, {"example": example}) if example else ""
    # NFKC and whitespace trimming never grow text by more than a bounded factor for real
    # input; anything this long cannot end up within the limit.
    if len(text) > 4 * max_length:
        raise error(
            msg.TEXT_TOO_LONG, reason="too_long", what=what, max_length=max_length, hint=hint
        )
    cleaned = _WHITESPACE_RUN.sub(" ", unicodedata.normalize("NFKC", text)).strip(" ")
    if not cleaned:
        raise error(msg.TEXT_EMPTY, reason="empty", what=what, hint=hint)
    if len(cleaned) > max_length:
        raise error(
            msg.TEXT_TOO_LONG, reason="too_long", what=what, max_length=max_length, hint=hint
        )
    for index, char in enumerate(cleaned):
        if unicodedata.category(char) not in _FORBIDDEN_CATEGORIES:
            continue
        if char in _JOINERS and _visible_on_both_sides(cleaned, index):
            continue
        raise error(
            msg.TEXT_INVISIBLE,
            reason="control_character",
            what=what,
            character=_codepoint(char),
            hint=hint,
        )
    return cleaned


def normalise_name(text: str) -> str:
    """A person's full name, cleaned (see :func:`normalise_text`), 1–100 characters.

    It must contain at least one letter; digits, punctuation and emoji may come along.
    """
    name = normalise_text(
        text,
        max_length=MAX_NAME_LENGTH,
        what=msg.WHAT_NAME,
        example=NAME_EXAMPLE,
        error=InvalidName,
    )
    if not any(unicodedata.category(char).startswith("L") for char in name):
        raise InvalidName(msg.NAME_NO_LETTER, reason="no_letter", example=NAME_EXAMPLE)
    return name


def normalise_email(text: str) -> str:
    """The normalised form of an email address, all in lower case, without DNS checks.

    The part before the ``@`` is lower-cased too: strictly it may be case-sensitive, but no
    mainstream provider treats it so, and one spelling per mailbox is what lets the core see
    that ``MARIA@example.org`` is a member already or has a pending invitation.
    """
    stripped = text.strip()
    if len(stripped) > MAX_EMAIL_LENGTH:
        raise InvalidEmail(
            msg.EMAIL_TOO_LONG,
            reason="too_long",
            max_length=MAX_EMAIL_LENGTH,
            example=EMAIL_EXAMPLE,
        )
    if not stripped:
        raise InvalidEmail(msg.EMAIL_EMPTY, reason="empty", example=EMAIL_EXAMPLE)
    # Imported here: email-validator (and the dnspython it brings, unused with deliverability
    # checks off) costs ~50 ms at startup, and most commands never read an address.
    from email_validator import EmailNotValidError, validate_email

    try:
        validated = validate_email(stripped, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(
            msg.EMAIL_INVALID, reason="invalid", problem=str(exc), example=EMAIL_EXAMPLE
        ) from exc
    return validated.normalized.lower()


def phone_example(region: str) -> str:
    """An example mobile number of ``region`` as people write it, e.g. ``+1 201 555 0123``."""
    for candidate in (region, _FALLBACK_REGION):
        example = phonenumbers.example_number_for_type(candidate, PhoneNumberType.MOBILE)
        if example is not None:
            return _international(example)
    raise AssertionError("phonenumbers has no example number for the fallback region")


def normalise_phone(text: str, *, region: str) -> str:
    """The E.164 form (``+12025550199``) of a phone number that can receive text messages.

    A number without a ``+`` country code is read as a number of ``region`` (ISO 3166 code,
    e.g. ``"US"``). Refused: too short or too long, not a valid number, landline-only,
    toll-free and other numbers that cannot take an SMS, extensions, and text around the number.
    """
    region = region.strip().upper()
    example = phone_example(region)
    if len(text.strip()) > MAX_PHONE_LENGTH:
        raise InvalidPhone(msg.PHONE_TOO_LONG, reason="too_long", example=example)
    stripped = unicodedata.normalize("NFKC", text).strip()
    if not any(char.isdigit() for char in stripped):
        raise InvalidPhone(msg.PHONE_NOT_A_NUMBER, reason="not_a_number", example=example)
    body = stripped[1:] if stripped.startswith("+") else stripped
    if not all(char.isdigit() or char.isspace() or char in _PHONE_SEPARATORS for char in body):
        raise InvalidPhone(msg.PHONE_CHARACTERS, reason="not_a_number", example=example)
    try:
        number = phonenumbers.parse(stripped, region)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE:
            raise InvalidPhone(
                msg.PHONE_NEEDS_COUNTRY, reason="country_code", example=example
            ) from exc
        if exc.error_type == NumberParseException.TOO_LONG:
            raise InvalidPhone(
                msg.PHONE_TOO_MANY_DIGITS, reason="too_long", example=example
            ) from exc
        raise InvalidPhone(msg.PHONE_TOO_SHORT, reason="too_short", example=example) from exc

    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == phonenumbers.ValidationResult.TOO_LONG:
        raise InvalidPhone(msg.PHONE_TOO_MANY_DIGITS, reason="too_long", example=example)
    if possible in (
        phonenumbers.ValidationResult.TOO_SHORT,
        phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    ):
        raise InvalidPhone(msg.PHONE_NO_AREA_CODE, reason="too_short", example=example)
    if possible == phonenumbers.ValidationResult.INVALID_COUNTRY_CODE:
        raise InvalidPhone(msg.PHONE_NO_SUCH_COUNTRY, reason="country_code", example=example)
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(msg.PHONE_INVALID, reason="invalid", example=example)
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.FIXED_LINE:
        raise InvalidPhone(msg.PHONE_LANDLINE, reason="landline", example=example)
    if kind == PhoneNumberType.TOLL_FREE:
        raise InvalidPhone(msg.PHONE_TOLL_FREE, reason="toll_free", example=example)
    if kind not in _SMS_TYPES:
        raise InvalidPhone(msg.PHONE_NOT_MOBILE, reason="not_mobile", example=example)
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def guess_method(contact_text: str) -> ContactMethod | None:
    """Whether typed contact text looks like an email address or a phone number.

    Only a guess for choosing a validator: ``"email"`` if it has an ``@``, ``"sms"`` if it is
    made of phone-number characters with at least three digits, else ``None``.
    """
    text = unicodedata.normalize("NFKC", contact_text).strip()
    if "@" in text:
        return "email"
    body = text[1:] if text.startswith("+") else text
    if sum(char.isdigit() for char in body) >= 3 and all(
        char.isdigit() or char.isspace() or char in _PHONE_SEPARATORS for char in body
    ):
        return "sms"
    return None


def normalise_contact(text: str, *, region: str) -> tuple[ContactMethod, str]:
    """The method (``"email"`` or ``"sms"``) and normalised form of an email or phone number."""
    method = guess_method(text)
    if method == "email":
        return "email", normalise_email(text)
    if method == "sms":
        return "sms", normalise_phone(text, region=region)
    raise ContactError(
        msg.NOT_A_CONTACT,
        reason="not_a_contact",
        email=EMAIL_EXAMPLE,
        phone=phone_example(region.strip().upper()),
    )


def display_contact(contact: str) -> str:
    """A normalised email or phone number in full, as people read it.

    ``maria@example.org`` stays as it is; ``+12025550199`` → ``+1 202 555 0199``.
    """
    if "@" in contact or not contact.startswith("+"):
        return contact
    try:
        number = phonenumbers.parse(contact, None)
    except NumberParseException:
        return contact
    return _international(number)


def mask_contact(contact: str) -> str:
    """A normalised email or phone number with most of it hidden, for showing on screen.

    ``maria@example.org`` → ``m•••@example.org``; ``+12025550199`` → ``+1 ••• ••• 0199``.
    """
    if not contact:
        return ""
    local, at, domain = contact.rpartition("@")
    if at:
        return f"{local[:1]}•••@{domain}"
    if contact.startswith("+"):
        country_code = _e164_country_code(contact)
        if country_code is None:
            try:
                country_code = phonenumbers.parse(contact, None).country_code
            except NumberParseException:
                country_code = None
        if country_code:
            return f"+{country_code} ••• ••• {contact[-4:]}"
    return f"•••{contact[-2:]}" if len(contact) > 4 else "•••"


def _e164_country_code(contact: str) -> int | None:
    """The country calling code of a normalised number (``+`` and 8 to 15 digits), read off
    its first one to three digits as E.164 assigns them (no code is a prefix of another):
    what ``phonenumbers.parse`` finds, without parsing the rest, which masking every number
    in every log line does not need."""
    digits = contact[1:]
    if not (8 <= len(digits) <= 15 and digits.isascii() and digits.isdigit()):
        return None
    for length in (1, 2, 3):
        code = int(digits[:length])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return code
    return None


def _international(number: phonenumbers.PhoneNumber) -> str:
    # Spaces rather than the dashes phonenumbers puts in North American numbers, so every
    # region reads alike: "+1 202 555 0199", "+44 7400 123456".
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL).replace("-", " ")


def _visible_on_both_sides(text: str, index: int) -> bool:
    if index == 0 or index == len(text) - 1:
        return False
    return all(
        text[i] != " " and unicodedata.category(text[i]) not in _FORBIDDEN_CATEGORIES
        for i in (index - 1, index + 1)
    )


def _codepoint(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X} {name}".strip()
