"""SMS segments and the invitation text: GSM-7 and UCS-2 arithmetic, and the composer that
keeps an invitation within two segments whatever the names."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.sms import JOIN_SENTENCE, SegmentInfo, compose_invitation_sms, segment_info

LINK = "https://hoa.example.org/i/" + "Ab3_-x" * 7 + "Z"  # 43 token characters
EXPIRES = "1 Dec 2026, 12:00 UTC"


def invitation(**changes: str) -> str:
    fields = {
        "invitee": "Maria Ruiz",
        "inviter": "Ana Lopez",
        "address": "12 Oak Lane",
        "community": "Oak Ridge HOA",
        "link": LINK,
        "expires": EXPIRES,
    } | changes
    return compose_invitation_sms(
        invitee=fields["invitee"],
        inviter=fields["inviter"],
        address=fields["address"],
        community=fields["community"],
        link=fields["link"],
        expires=fields["expires"],
    )


# Segment arithmetic


def test_gsm7_fits_160_characters_in_one_segment_and_153_in_each_part() -> None:
    assert segment_info("a" * 160) == SegmentInfo("GSM-7", 160, 1)
    assert segment_info("a" * 161) == SegmentInfo("GSM-7", 161, 2)
    assert segment_info("a" * 306) == SegmentInfo("GSM-7", 306, 2)
    assert segment_info("a" * 307) == SegmentInfo("GSM-7", 307, 3)
    assert segment_info("") == SegmentInfo("GSM-7", 0, 1)


@pytest.mark.parametrize("char", ["€", "{", "}", "[", "]", "~", "\\", "^", "|"])
def test_gsm7_extension_characters_count_two(char: str) -> None:
    assert segment_info(char) == SegmentInfo("GSM-7", 2, 1)
    assert segment_info("a" * 158 + char) == SegmentInfo("GSM-7", 160, 1)
    assert segment_info("a" * 159 + char) == SegmentInfo("GSM-7", 161, 2)


def test_an_escape_pair_is_never_split_between_parts() -> None:
    # 152 + 2 + 152 = 306 units, but the € cannot straddle the first part's end.
    assert segment_info("a" * 152 + "€" + "a" * 152) == SegmentInfo("GSM-7", 306, 3)


@pytest.mark.parametrize("name", ["José", "Élodie", "Müller", "Ñoño", "Øyvind"])
def test_accents_in_the_gsm7_basic_set_stay_gsm7(name: str) -> None:
    assert segment_info(f"Hi {name}") == SegmentInfo("GSM-7", len(name) + 3, 1)


@pytest.mark.parametrize("name", ["María", "Zoë", "François", "Łukasz", "Ана"])
def test_accents_outside_gsm7_make_the_text_ucs2(name: str) -> None:
    assert segment_info(f"Hi {name}").encoding == "UCS-2"
    assert segment_info(name + "a" * (70 - len(name))) == SegmentInfo("UCS-2", 70, 1)
    assert segment_info(name + "a" * (71 - len(name))) == SegmentInfo("UCS-2", 71, 2)
    assert segment_info(name + "a" * (134 - len(name))).segments == 2
    assert segment_info(name + "a" * (135 - len(name))).segments == 3


def test_emoji_are_ucs2_and_count_two_units_as_surrogate_pairs() -> None:
    assert segment_info("😀") == SegmentInfo("UCS-2", 2, 1)
    assert segment_info("😀" * 35) == SegmentInfo("UCS-2", 70, 1)
    assert segment_info("😀" * 35 + "a") == SegmentInfo("UCS-2", 71, 2)
    # A pair cannot straddle a part's end: 66 + 2 + 66 = 134 units need a third part.
    assert segment_info("á" * 66 + "😀" + "á" * 66) == SegmentInfo("UCS-2", 134, 3)
    assert segment_info("✓") == SegmentInfo("UCS-2", 1, 1)  # in the BMP: one unit


# The invitation


def test_the_full_invitation_names_everyone_and_fits_two_gsm7_segments() -> None:
    text = invitation(expires="1 Dec")

    assert text == (
        "Hi Maria Ruiz, Ana Lopez invited you to join their household at 12 Oak Lane in "
        f"Oak Ridge HOA on invitebot. Accept: {LINK} Reply JOIN to accept, DECLINE to decline. "
        "Expires 1 Dec."
    )
    assert segment_info(text) == SegmentInfo("GSM-7", len(text), 2)


def test_an_invitee_name_outside_gsm7_gives_up_the_greeting_not_the_encoding() -> None:
    text = invitation(invitee="María Ruiz")

    assert "María" not in text
    assert text.startswith("Ana Lopez invited you to join their household at 12 Oak Lane")
    assert "Oak Ridge HOA" in text and EXPIRES in text
    assert segment_info(text).encoding == "GSM-7"


def test_a_gsm7_first_name_is_kept_when_the_full_greeting_is_too_long() -> None:
    text = invitation(invitee="Maria " + "Fernández" * 3)  # á forces UCS-2
    assert text.startswith("Hi Maria, Ana Lopez invited you")
    assert segment_info(text) == SegmentInfo("GSM-7", len(text), 2)


def test_an_inviter_name_outside_gsm7_is_shown_whole_in_ucs2_when_it_fits() -> None:
    text = invitation(inviter="Ana Lópes")

    assert text == f"Ana Lópes invited you: {LINK} {JOIN_SENTENCE}"
    assert segment_info(text) == SegmentInfo("UCS-2", 134, 2)


def test_a_name_cut_short_keeps_whole_characters_and_says_so() -> None:
    text = invitation(inviter="Анна Лопес-Петровна")

    assert text.startswith("Анна Л")
    shown = text.split(" invited you")[0]
    assert shown.endswith("…") and "Анна Лопес-Петровна".startswith(shown[:-1])
    assert segment_info(text).segments == 2


def test_an_emoji_after_the_name_is_cut_to_keep_gsm7_room_for_everything_else() -> None:
    text = invitation(inviter="Ana Lopez 🌻")

    assert text.startswith("Hi Maria Ruiz, Ana Lopez... invited you to join their household")
    assert segment_info(text).encoding == "GSM-7"


def test_a_cut_never_splits_an_emoji_from_its_modifiers() -> None:
    farmer = "👩🏽\u200d🌾"  # woman, skin tone, zero-width joiner, sheaf: one emoji, 7 units
    text = invitation(inviter=f"Ан{farmer}Лопес")

    # "Ан" + the farmer + "…" would be one unit too many; a cut inside the farmer is not tried.
    assert text == f"Ан… invited you: {LINK} {JOIN_SENTENCE}"


def test_long_gsm7_names_are_shortened_in_the_short_wording() -> None:
    text = invitation(inviter="Ana " * 25, address="12 Oak Lane " * 16, community="Oak " * 25)

    assert text.startswith("Ana Ana Ana")
    assert " invited you to join 12 Oak Lane 12 Oak Lane" in text
    assert "...:" in text  # the address was cut
    assert text.endswith(f": {LINK} {JOIN_SENTENCE}")
    assert segment_info(text).segments == 2


def test_optional_parts_go_in_order_community_then_expiry() -> None:
    long_community = "Oak Ridge Estates Homeowners Association of Greater Springfield"
    text = invitation(invitee="María", community=long_community)
    assert long_community in text  # dropping the greeting was enough

    text = invitation(invitee="María", community=long_community + " and Environs" * 3)
    assert "in Oak Ridge" not in text and EXPIRES in text


def test_fixed_wording_is_made_gsm7_but_names_are_never_respelled() -> None:
    text = invitation(expires="1 Dec – 12:00\u202fUTC")  # an en dash and a narrow space
    assert "Expires 1 Dec - 12:00 UTC." in text
    assert segment_info(text).encoding == "GSM-7"

    assert "Zoë" in invitation(inviter="Zoë")


def test_an_address_ending_a_sentence_gets_no_second_full_stop() -> None:
    text = invitation(invitee="María", address="12 Oak St.", community="")
    assert "at 12 Oak St. Accept:" in text


def test_a_link_too_long_for_two_segments_still_gives_the_shortest_invitation() -> None:
    link = "https://example.org/i/" + "x" * 300
    text = invitation(link=link)
    assert text == f"You are invited: {link} {JOIN_SENTENCE}"


# Any names at all

NAMES = st.text(max_size=100)
ADDRESSES = st.text(max_size=200)
TOKEN = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=43, max_size=43)
BASES = st.sampled_from(
    [
        "https://hoa.example",
        "https://invites.oak-ridge-homeowners.example.org",
        "http://localhost:8000",
    ]
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    invitee=NAMES,
    inviter=NAMES,
    address=ADDRESSES,
    community=NAMES,
    base=BASES,
    token=TOKEN,
    expires=st.sampled_from(["1 Dec 2026, 12:00 UTC", "1 Dec", ""]),
)
def test_any_invitation_fits_two_segments_with_its_link_and_how_to_answer(
    invitee: str, inviter: str, address: str, community: str, base: str, token: str, expires: str
) -> None:
    link = f"{base}/i/{token}"
    text = compose_invitation_sms(
        invitee=invitee,
        inviter=inviter,
        address=address,
        community=community,
        link=link,
        expires=expires,
    )
    assert segment_info(text).segments <= 2
    assert f" {link} " in text or text.startswith(f"{link} ")
    assert JOIN_SENTENCE in text
