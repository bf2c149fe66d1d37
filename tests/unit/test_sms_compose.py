"""SMS segments and the invitation text: GSM-7 and UCS-2 arithmetic, and the composer that
keeps an invitation within two segments whatever the names."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.language import Words
from bot.sms import (
    JOIN_SENTENCE,
    SegmentInfo,
    compose_invitation_sms,
    gsm7_spelling,
    is_gsm7,
    segment_info,
)

LINK = "https://hoa.example.org/i/" + "Ab3_-x" * 7 + "Z"  # 43 token characters
HOA_LINK = "https://hoa.example/i/" + "Ab3_-x" * 7 + "Z"
LOCAL_LINK = "http://localhost:8000/i/" + "Ab3_-x" * 7 + "Z"
LONG_LINK = "https://invites.oak-ridge-homeowners.example.org/i/" + "Ab3_-x" * 7 + "Z"
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


def test_an_invitee_name_with_accents_gsm7_lacks_is_spelled_in_gsm7() -> None:
    text = invitation(invitee="María Ruiz")

    assert text.startswith("Hi Maria Ruiz, Ana Lopez invited you to join their household")
    assert "Oak Ridge HOA" in text and EXPIRES in text
    assert segment_info(text).encoding == "GSM-7"


def test_a_gsm7_first_name_is_kept_when_the_full_greeting_is_too_long() -> None:
    text = invitation(invitee="Maria 王芳")  # no Latin spelling: the surname would force UCS-2
    assert text.startswith("Hi Maria, Ana Lopez invited you")
    assert segment_info(text) == SegmentInfo("GSM-7", len(text), 2)


@pytest.mark.parametrize(
    ("inviter", "spelled"),
    [
        ("Ángel Pérez", "Angel Pérez"),  # é is GSM-7, Á is not
        ("Zoë Ølsen", "Zoe Ølsen"),  # Ø is GSM-7, ë is not
        ("Łukasz Đorđević", "Lukasz Dordevic"),
        ("François d’Artagnan", "Francois d'Artagnan"),
        ("Ana Lópes", "Ana Lopes"),
    ],
)
def test_an_inviter_name_with_a_latin_spelling_is_spelled_in_gsm7_not_dropped(
    inviter: str, spelled: str
) -> None:
    text = invitation(inviter=inviter)

    assert text.startswith(f"Hi Maria Ruiz, {spelled} invited you to join their household at ")
    assert "12 Oak Lane in Oak Ridge HOA" in text and EXPIRES in text
    assert segment_info(text).encoding == "GSM-7"


@pytest.mark.parametrize(
    ("text", "spelled"),
    [
        ("Ángel Pérez", "Angel Pérez"),
        ("Zoë Ølsen", "Zoe Ølsen"),
        ("Œdipe Straße Ævar", "OEdipe Straße Ævar"),  # ß and Æ are GSM-7
        ("ıspir İpek", "ispir Ipek"),
        ("Ñoño Müller Åse", "Ñoño Müller Åse"),
        ("Zoe\u0308", "Zoe"),  # a decomposed ë
        ("“Oak” – Ridge’s", '"Oak" - Ridge\'s'),
        ("王伟", "王伟"),
        ("Анна", "Анна"),
        ("Δημήτρης", "Δημήτρης"),  # lower-case Greek has no GSM-7 spelling
        ("ΔΦΣ", "ΔΦΣ"),  # these capitals are GSM-7
        ("Ana 🌻", "Ana 🌻"),
    ],
)
def test_gsm7_spelling(text: str, spelled: str) -> None:
    assert gsm7_spelling(text) == spelled


@pytest.mark.parametrize("link", [LINK, HOA_LINK, LOCAL_LINK])
def test_an_inviter_name_without_latin_spelling_is_kept_whole_in_ucs2(link: str) -> None:
    text = invitation(inviter="王伟", link=link)

    assert text.startswith("Join 王伟 at 12")
    assert " (Oak" in text
    assert text.endswith(f"): {link} {JOIN_SENTENCE}")
    assert segment_info(text).encoding == "UCS-2" and segment_info(text).segments == 2


@pytest.mark.parametrize("link", [LINK, HOA_LINK, LOCAL_LINK])
@pytest.mark.parametrize("inviter", ["🌻 Ana", "محمد علي", "😀😀😀😀😀", "Анна Лопес-Петровна"])
def test_an_inviter_name_without_latin_spelling_is_never_dropped(inviter: str, link: str) -> None:
    text = invitation(inviter=inviter, link=link)

    shown = text.removeprefix("Join ").split(" at ")[0]
    assert shown == inviter or (shown.endswith("…") and inviter.startswith(shown[:-1]))
    assert len(shown) >= 2
    assert " at 12" in text and " (O" in text
    assert text.endswith(f"): {link} {JOIN_SENTENCE}")
    assert segment_info(text).encoding == "UCS-2" and segment_info(text).segments == 2


@pytest.mark.parametrize("link", [LINK, LOCAL_LINK])
def test_a_latin_first_name_cut_before_the_rest_takes_gsm7_when_that_shows_as_much(
    link: str,
) -> None:
    # UCS-2 has room for no more than "Ana…" here; cut there, GSM-7 has room for the rest.
    text = invitation(inviter="Ana 王伟", link=link)
    assert text.startswith("Hi Maria Ruiz, Ana... invited you to join their household at ")
    assert "12 Oak Lane" in text and "Oak Ridge HOA" in text
    assert segment_info(text).encoding == "GSM-7"

    # With room for the whole name in UCS-2, it stays whole.
    text = invitation(inviter="Ana 王伟", link=HOA_LINK)
    assert text.startswith("Join Ana 王伟 at 12")


def test_an_emoji_name_is_shown_whole_when_it_fits() -> None:
    text = invitation(inviter="🌻 Al", address="1 Elm", community="Elm", link=HOA_LINK)
    assert text == f"Join 🌻 Al at 1 Elm (Elm): {HOA_LINK} {JOIN_SENTENCE}"
    assert segment_info(text) == SegmentInfo("UCS-2", 134, 2)


def test_address_and_community_are_shortened_evenly_before_the_inviter_name() -> None:
    text = invitation(
        inviter="王伟",
        address="北京市朝阳区建国路88号",
        community="阳光社区业主委员会",
        link=LOCAL_LINK,
    )

    assert text == f"Join 王伟 at 北京市… (阳光社…): {LOCAL_LINK} {JOIN_SENTENCE}"
    assert segment_info(text).segments == 2


def test_a_name_cut_short_keeps_whole_characters_and_says_so() -> None:
    text = invitation(inviter="Анна Лопес-Петровна", link=HOA_LINK)

    assert text == f"Join Анна… at 12… (Oak…): {HOA_LINK} {JOIN_SENTENCE}"
    assert segment_info(text).segments == 2


def test_an_emoji_after_the_name_is_cut_to_keep_gsm7_room_for_everything_else() -> None:
    text = invitation(inviter="Ana Lopez 🌻")

    assert text.startswith("Hi Maria Ruiz, Ana Lopez... invited you to join their household")
    assert segment_info(text).encoding == "GSM-7"


def test_a_cut_never_splits_an_emoji_from_its_modifiers() -> None:
    farmer = "👩🏽\u200d🌾"  # woman, skin tone, zero-width joiner, sheaf: one emoji, 7 units
    text = invitation(inviter=f"{farmer}Лопес", link=HOA_LINK)

    assert text.startswith(f"Join {farmer}… at ")
    assert segment_info(text).segments == 2


def test_long_gsm7_names_are_shortened_address_and_community_first() -> None:
    inviter = "Ana " * 25
    text = invitation(
        inviter=inviter, address="12 Oak Lane " * 16, community="Oak " * 25, link=LONG_LINK
    )

    assert text.startswith(f"Join {inviter.strip()} at 12 Oak Lane 12 Oak Lane")
    assert "... (Oak Oak Oak" in text and "...): " in text
    assert text.endswith(f": {LONG_LINK} {JOIN_SENTENCE}")
    assert segment_info(text).segments == 2


def test_optional_parts_go_in_order_expiry_before_community() -> None:
    long_community = "Oak Ridge Estates Homeowners Association of Greater Springfield"
    text = invitation(invitee="María", community=long_community)
    assert f"in {long_community}" in text and EXPIRES in text  # dropping the brand was enough

    longer = long_community + " and Environs" * 3
    text = invitation(invitee="María", community=longer)
    assert f"in {longer}." in text and "Expires" not in text

    text = invitation(invitee="María", community=longer * 2)
    assert " (Oak Ridge Estates" in text and "Expires" not in text


def test_fixed_wording_is_made_gsm7() -> None:
    text = invitation(expires="1 Dec – 12:00\u202fUTC")  # an en dash and a narrow space
    assert "Expires 1 Dec - 12:00 UTC." in text
    assert segment_info(text).encoding == "GSM-7"


def test_an_address_ending_a_sentence_gets_no_second_full_stop() -> None:
    text = invitation(address="12 Oak St.", community="", link=LINK + "x" * 70)
    assert "at 12 Oak St. Accept:" in text


def test_a_link_too_long_for_two_segments_still_gives_the_shortest_invitation() -> None:
    link = "https://example.org/i/" + "x" * 300
    text = invitation(link=link)
    assert text == f"Join A... at 1... (O...): {link} {JOIN_SENTENCE}"


# Any names at all


ANY_CHAR = st.characters(exclude_categories=("Cc", "Cs"))
# Characters with a GSM-7 spelling (Latin letters with or without accents, punctuation).
LATIN_CHAR = st.characters(max_codepoint=0x24F, exclude_categories=("Cc", "Cs")).filter(
    lambda char: is_gsm7(gsm7_spelling(char))
)


def words(chars: st.SearchStrategy[str], max_size: int) -> st.SearchStrategy[str]:
    return st.text(chars, min_size=1, max_size=max_size).filter(lambda text: text.split())


TOKEN = st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=43, max_size=43)


def shown_forms(part: str) -> set[str]:
    """How the composer may show a part: whole or cut with an ellipsis, as given or spelled
    in GSM-7; never empty."""
    part = " ".join(part.split())
    forms = set()
    for spelling in {part, gsm7_spelling(part)}:
        forms.add(spelling)
        for keep in range(1, len(spelling)):
            head = spelling[:keep].rstrip(" ,;:-") or spelling[:keep]
            forms |= {head + "...", head + "…"}
    return forms


def assert_invitation(text: str, *, inviter: str, address: str, community: str, link: str) -> None:
    assert segment_info(text).segments <= 2
    assert f": {link} {JOIN_SENTENCE}" in text
    assert any(
        f"{shown} invited you to join their household at " in text
        or text.startswith(f"Join {shown} at ")
        for shown in shown_forms(inviter)
    ), "the inviter"
    assert any(f" at {shown}" in text for shown in shown_forms(address)), "the address"
    assert any(
        f" in {shown}" in text or f" ({shown})" in text for shown in shown_forms(community)
    ), "the community"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    invitee=st.text(ANY_CHAR, max_size=100),
    inviter=words(ANY_CHAR, 100),
    address=words(ANY_CHAR, 200),
    community=words(ANY_CHAR, 100),
    base=st.sampled_from(["https://hoa.example", "http://localhost:8000"]),
    token=TOKEN,
    expires=st.sampled_from(["1 Dec 2026, 12:00 UTC", "1 Dec", ""]),
)
def test_any_invitation_fits_two_segments_and_names_everything_required(
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
    assert_invitation(text, inviter=inviter, address=address, community=community, link=link)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    invitee=st.text(ANY_CHAR, max_size=100),
    inviter=words(LATIN_CHAR, 100),
    address=words(LATIN_CHAR, 200),
    community=words(LATIN_CHAR, 100),
    path=st.text(alphabet=string.ascii_letters + string.digits + "-_/", max_size=80),
)
def test_names_with_a_gsm7_spelling_fit_two_gsm7_segments_with_links_up_to_100(
    invitee: str, inviter: str, address: str, community: str, path: str
) -> None:
    link = f"https://hoa.example/{path}"[:100]
    text = compose_invitation_sms(
        invitee=invitee,
        inviter=inviter,
        address=address,
        community=community,
        link=link,
        expires="1 Dec 2026, 12:00 UTC",
    )
    assert segment_info(text).encoding == "GSM-7"
    assert_invitation(text, inviter=inviter, address=address, community=community, link=link)


SPANISH = Words("es")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    invitee=st.text(ANY_CHAR, max_size=100),
    inviter=words(ANY_CHAR, 100),
    address=words(ANY_CHAR, 200),
    community=words(ANY_CHAR, 100),
    base=st.sampled_from(["https://hoa.example", "http://localhost:8000"]),
    token=TOKEN,
    expires=st.sampled_from(["1 dic 2026, 12:00 UTC", "10 dic 2026, 14:44 EST", ""]),
)
def test_any_spanish_invitation_fits_two_segments_and_names_everything_required(
    invitee: str, inviter: str, address: str, community: str, base: str, token: str, expires: str
) -> None:
    """Whatever the names, in any script: the Spanish wording is no longer than the English
    where it must fit (the JOIN sentence, the tersest form)."""
    link = f"{base}/i/{token}"
    text = compose_invitation_sms(
        invitee=invitee,
        inviter=inviter,
        address=address,
        community=community,
        link=link,
        expires=expires,
        words=SPANISH,
    )
    assert segment_info(text).segments <= 2
    join = SPANISH(JOIN_SENTENCE)
    assert "UNIRME" in join and f"{link} {join}" in text
    for part in (inviter, address, community):
        assert any(shown in text for shown in shown_forms(part)), part


def test_a_spanish_invitation_reads_in_spanish() -> None:
    text = compose_invitation_sms(
        invitee="María Núñez",
        inviter="Ana López",
        address="12 Oak Lane",
        community="Oak Ridge HOA",
        link=HOA_LINK,
        expires="10 dic 2026, 14:44 EST",
        words=SPANISH,
    )
    assert text.startswith("Hola Maria Nuñez, Ana Lopez ")
    assert "12 Oak Lane" in text and "Oak Ridge HOA" in text and "10 dic 2026" in text
    assert SPANISH(JOIN_SENTENCE) in text and "JOIN" not in text
    assert segment_info(text).encoding == "GSM-7" and segment_info(text).segments <= 2
