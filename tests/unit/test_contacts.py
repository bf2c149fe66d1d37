"""Names, email addresses and phone numbers as people type them."""

from __future__ import annotations

import time

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.contacts import (
    ContactError,
    InvalidEmail,
    InvalidName,
    InvalidPhone,
    display_contact,
    guess_method,
    mask_contact,
    normalise_contact,
    normalise_email,
    normalise_name,
    normalise_phone,
    phone_example,
)

HUGE = 100_000

# --- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Maria Ruiz", "Maria Ruiz"),
        ("  Maria   Ruiz \n", "Maria Ruiz"),
        ("Maria\tdel\u00a0Carmen\u3000Ruiz", "Maria del Carmen Ruiz"),
        ("Maria\nRuiz", "Maria Ruiz"),
        ("Ｍａｒｉａ", "Maria"),  # full-width letters, NFKC
        ("Jose\u0301", "José"),  # decomposed accent composes
        ("O'Brien-Smith Jr.", "O'Brien-Smith Jr."),
        ("Louis XIV 2nd", "Louis XIV 2nd"),
        ("Maria 😀", "Maria 😀"),
        ("李小龙", "李小龙"),
        ("محمد علي", "محمد علي"),
        ("علی\u200cرضا", "علی\u200cرضا"),  # Persian zero-width non-joiner inside a word
        ("👨\u200d👩\u200d👧 Ruiz", "👨\u200d👩\u200d👧 Ruiz"),  # emoji joined by ZWJ
        ("A", "A"),
        ("a" * 100, "a" * 100),
    ],
)
def test_names_that_work_come_back_clean(typed: str, expected: str) -> None:
    assert normalise_name(typed) == expected


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "empty"),
        ("   \t\n ", "empty"),
        ("a" * 101, "too_long"),
        ("x" * HUGE, "too_long"),
        ("12345", "no_letter"),
        ("😀😀", "no_letter"),
        ("-- .", "no_letter"),
        ("\u202eMaria", "control_character"),  # right-to-left override
        ("Maria\u202eziuR", "control_character"),
        ("Mar\u200bia", "control_character"),  # zero-width space
        ("Maria\u200d", "control_character"),  # joiner with nothing after it
        ("\u200cMaria", "control_character"),
        ("Maria\ufeffRuiz", "control_character"),  # byte-order mark inside
        ("Maria\x00Ruiz", "control_character"),
        ("Maria\x1bRuiz", "control_character"),  # escape
        ("Maria\x7fRuiz", "control_character"),
        ("Maria\u2028Ruiz", "control_character"),  # line separator
        ("Maria\ue000", "control_character"),  # private use
        ("Maria\U000e0001", "control_character"),  # language tag
    ],
)
def test_names_that_do_not_work_are_refused_with_a_reason(typed: str, reason: str) -> None:
    with pytest.raises(InvalidName) as caught:
        normalise_name(typed)
    assert caught.value.reason == reason
    assert "Maria Ruiz" in str(caught.value)  # the example of what works
    assert isinstance(caught.value, ValueError)


def test_a_refused_invisible_character_is_named_in_the_message() -> None:
    with pytest.raises(InvalidName, match="U\\+202E RIGHT-TO-LEFT OVERRIDE"):
        normalise_name("\u202eMaria")


def test_long_names_are_measured_after_normalising() -> None:
    # 100 letters surrounded by lots of spaces still fit.
    assert normalise_name("  " + "b" * 100 + "   ") == "b" * 100
    # 101 characters after NFKC (a ligature that expands) do not.
    with pytest.raises(InvalidName) as caught:
        normalise_name("a" * 99 + "ﬁ")  # U+FB01 → "fi"
    assert caught.value.reason == "too_long"


# --- email ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("maria@example.org", "maria@example.org"),
        ("  maria@example.org  ", "maria@example.org"),
        ("Maria.Ruiz@EXAMPLE.ORG", "maria.ruiz@example.org"),
        ("MARIA@example.org", "maria@example.org"),
        ("JOSÉ@EXÄMPLE.ORG", "josé@exämple.org"),
        ("maria+hoa@mail.example.org", "maria+hoa@mail.example.org"),
        ("josé@exämple.org", "josé@exämple.org"),
    ],
)
def test_emails_that_work_are_normalised(typed: str, expected: str) -> None:
    assert normalise_email(typed) == expected


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "empty"),
        ("maria", "invalid"),
        ("maria@", "invalid"),
        ("maria@localhost", "invalid"),
        ("maria@@example.org", "invalid"),
        ("maria ruiz@example.org", "invalid"),
        ("Maria <maria@example.org>", "invalid"),
        ("maria@example.org\u202e", "invalid"),
        ("m" * 250 + "@example.org", "too_long"),
        ("m@" + "e" * HUGE + ".org", "too_long"),
    ],
)
def test_emails_that_do_not_work_are_refused(typed: str, reason: str) -> None:
    with pytest.raises(InvalidEmail) as caught:
        normalise_email(typed)
    assert caught.value.reason == reason
    assert "maria@example.org" in str(caught.value)


# --- phone numbers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "+1 202 555 0199",
        "+12025550199",
        "(202) 555-0199",
        "202-555-0199",
        "202.555.0199",
        "202 555 0199",
        "2025550199",
        "1 202 555 0199",
        "+1 (202) 555-0199",
        "  +1 202 555 0199 ",
        "011 1 202 555 0199",  # dialled from the US with the international prefix
        "２０２ ５５５ ０１９９",  # full-width digits
        "٢٠٢٥٥٥٠١٩٩",  # Arabic-Indic digits
        "+1\u2011202\u2011555\u20110199",  # non-breaking hyphens
    ],
)
def test_us_numbers_in_many_forms_come_back_in_e164(typed: str) -> None:
    assert normalise_phone(typed, region="US") == "+12025550199"


@pytest.mark.parametrize(
    ("typed", "region", "expected"),
    [
        ("+44 7400 123456", "US", "+447400123456"),  # a UK mobile, typed from the US
        ("07400 123456", "GB", "+447400123456"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("0044 7400 123456", "fr", "+447400123456"),  # region is not case-sensitive
        ("+1 415 555 2671", "GB", "+14155552671"),
        ("+1 201 555 0123", "ZZ", "+12015550123"),  # unknown region, full number given
    ],
)
def test_numbers_of_other_regions(typed: str, region: str, expected: str) -> None:
    assert normalise_phone(typed, region=region) == expected


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "not_a_number"),
        ("abc", "not_a_number"),
        ("Maria 202 555 0199", "not_a_number"),  # phonenumbers alone would find a number
        ("202 555 0199 ext. 12", "not_a_number"),
        ("1-800-FLOWERS", "not_a_number"),
        ("+1 202 555 01", "too_short"),
        ("555 0199", "too_short"),  # no area code
        ("+1 202 555 0199 999", "too_long"),
        ("1" * 41, "too_long"),
        ("1" * HUGE, "too_long"),
        ("+1 123 456 7890", "invalid"),  # area codes never start with 1
        ("+44 20 7946 0958", "landline"),  # a London landline
        ("+1 800 555 0199", "toll_free"),
        ("+1 900 555 0199", "not_mobile"),  # premium rate
        ("+999 1234 5678", "country_code"),
    ],
)
def test_numbers_that_cannot_take_a_text_are_refused(typed: str, reason: str) -> None:
    with pytest.raises(InvalidPhone) as caught:
        normalise_phone(typed, region="US")
    assert caught.value.reason == reason
    assert "+1 201 555 0123" in str(caught.value)  # a valid US example, built by phonenumbers


def test_without_a_country_code_an_unknown_region_asks_for_one() -> None:
    with pytest.raises(InvalidPhone) as caught:
        normalise_phone("202 555 0199", region="ZZ")
    assert caught.value.reason == "country_code"


def test_the_example_follows_the_region() -> None:
    assert phone_example("US") == "+1 201 555 0123"
    assert phone_example("GB") == "+44 7400 123456"
    assert phone_example("ZZ") == phone_example("US")
    with pytest.raises(InvalidPhone, match=r"\+44 7400 123456"):
        normalise_phone("0207 946 0958", region="GB")
    # The examples themselves are accepted.
    assert normalise_phone(phone_example("GB"), region="US") == "+447400123456"
    assert normalise_phone(phone_example("US"), region="US") == "+12015550123"


# --- contacts in general -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "method"),
    [
        ("maria@example.org", "email"),
        ("not quite@", "email"),
        ("+1 202 555 0199", "sms"),
        ("(202) 555-0199", "sms"),
        ("٢٠٢٥٥٥٠١٩٩", "sms"),
        ("12", None),
        ("Maria", None),
        ("call 202 555 0199", None),
        ("", None),
        ("1" * HUGE, "sms"),  # a guess only: normalise_phone refuses it
    ],
)
def test_guess_method(typed: str, method: str | None) -> None:
    assert guess_method(typed) == method


def test_normalise_contact_picks_the_validator() -> None:
    assert normalise_contact(" Maria@Example.ORG ", region="US") == ("email", "maria@example.org")
    assert normalise_contact("(202) 555-0199", region="US") == ("sms", "+12025550199")
    with pytest.raises(InvalidPhone):
        normalise_contact("+1 800 555 0199", region="US")
    with pytest.raises(ContactError) as caught:
        normalise_contact("Maria", region="US")
    assert caught.value.reason == "not_a_contact"
    assert "maria@example.org" in str(caught.value)
    assert "+1 201 555 0123" in str(caught.value)


def test_masking_hides_most_of_a_contact() -> None:
    assert mask_contact("maria@example.org") == "m•••@example.org"
    assert mask_contact("+12025550199") == "+1 ••• ••• 0199"
    assert mask_contact("+447400123456") == "+44 ••• ••• 3456"
    assert mask_contact("") == ""
    assert mask_contact("odd") == "•••"


def test_display_shows_a_contact_as_people_write_it() -> None:
    assert display_contact("+12025550199") == "+1 202 555 0199"
    assert display_contact("+447400123456") == "+44 7400 123456"
    assert display_contact("maria@example.org") == "maria@example.org"


def test_huge_inputs_are_refused_quickly() -> None:
    blobs = ["a" * HUGE, "1" * HUGE, "@" * HUGE, "a@" + "b" * HUGE, " " * HUGE + "Maria"]
    started = time.perf_counter()
    for blob in blobs:
        for check in (
            normalise_name,
            normalise_email,
            lambda text: normalise_phone(text, region="US"),
            lambda text: normalise_contact(text, region="US"),
        ):
            with pytest.raises(ContactError):
                check(blob)
    assert time.perf_counter() - started < 2.0


@given(
    st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)),
    st.text(alphabet="0123456789", min_size=4, max_size=13),
)
def test_masking_reads_the_country_code_as_phonenumbers_parses_it(code: int, rest: str) -> None:
    contact = f"+{code}{rest}"
    try:
        expected: int | None = phonenumbers.parse(contact, None).country_code
    except phonenumbers.NumberParseException:
        expected = None
    masked = mask_contact(contact)
    if expected:
        assert masked == f"+{expected} ••• ••• {contact[-4:]}"
    else:
        assert masked == f"•••{contact[-2:]}"
