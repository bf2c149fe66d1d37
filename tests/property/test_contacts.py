"""The validators themselves, and the HOA board's CSV import, on any text.

Each normaliser either returns a value it would return unchanged if given again (so what is
stored re-validates), or refuses with a :class:`ContactError` whose message is a friendly
sentence. No other exception, ever.
"""

from __future__ import annotations

import unicodedata

from hypothesis import example, given
from hypothesis import strategies as st

from bot import admin, contacts
from tests.fakes import FakeClock, MemoryUnitOfWorkFactory
from tests.property.invariants import (
    E164,
    assert_all_stored_valid,
    assert_valid_contact,
    assert_valid_email,
    assert_valid_name,
    assert_valid_phone,
)
from tests.property.strategies import EMAILS, NAMES, PHONES, strings, texts

SECRET = b"property-secret-key-0123456789abcdef"
# Addresses with odd characters in the right places, so some get past the validator.
email_like = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    strings(max_size=12),
    strings(min_size=1, max_size=12),
    st.sampled_from(["org", "com", "co.uk", "xn--p1ai", "рф", "ORG", "c"]),
)
REGIONS = st.sampled_from(["US", "GB", "DE", "IN", "BR", "us", " gb ", "ZZ", "", "XK"])


def assert_friendly(error: contacts.ContactError) -> None:
    assert error.reason and error.reason.isidentifier(), error.reason
    assert str(error).strip() and str(error)[0].isupper(), str(error)
    assert str(error) == error.message
    # A refusal is shown to people as it is: nothing invisible leaks into it.
    assert "\x00" not in str(error)


@given(texts())
@example("Maria Ruiz")
@example("\u200dMaria")
@example("ﷺ" * 30)
def test_a_name_is_normalised_to_a_fixed_point_or_refused(text: str) -> None:
    try:
        name = contacts.normalise_name(text)
    except contacts.ContactError as error:
        assert isinstance(error, contacts.InvalidName)
        assert_friendly(error)
        return
    assert_valid_name(name)
    assert 1 <= len(name) <= contacts.MAX_NAME_LENGTH
    assert name == name.strip() and "  " not in name
    assert any(unicodedata.category(c).startswith("L") for c in name)


@given(texts(), st.integers(1, 300))
def test_text_is_normalised_to_a_fixed_point_or_refused(text: str, max_length: int) -> None:
    try:
        cleaned = contacts.normalise_text(text, max_length=max_length)
    except contacts.ContactError as error:
        assert_friendly(error)
        return
    assert contacts.normalise_text(cleaned, max_length=max_length) == cleaned
    assert 1 <= len(cleaned) <= max_length


@given(st.one_of(texts(), email_like, st.sampled_from(EMAILS)))
@example("MARIA@Example.ORG")
@example("maria@exämple.org")
@example("Ⓜaria@example.org")
def test_an_email_is_normalised_to_a_fixed_point_or_refused(text: str) -> None:
    try:
        email = contacts.normalise_email(text)
    except contacts.ContactError as error:
        assert isinstance(error, contacts.InvalidEmail)
        assert_friendly(error)
        return
    assert_valid_email(email)
    assert email == email.lower() and "@" in email
    assert len(email) <= contacts.MAX_EMAIL_LENGTH


@given(st.one_of(texts(), st.sampled_from(PHONES)), REGIONS)
@example("+1 202 555 0199", "US")
@example("٢٠٢٥٥٥٠١٩٩", "US")
def test_a_phone_is_normalised_to_e164_or_refused(text: str, region: str) -> None:
    try:
        phone = contacts.normalise_phone(text, region=region)
    except contacts.ContactError as error:
        assert isinstance(error, contacts.InvalidPhone)
        assert_friendly(error)
        return
    assert E164.match(phone), phone
    assert_valid_phone(phone)


@given(st.one_of(texts(), email_like, st.sampled_from(EMAILS + PHONES)), REGIONS)
def test_a_contact_is_an_email_or_a_phone_or_refused(text: str, region: str) -> None:
    try:
        method, contact = contacts.normalise_contact(text, region=region)
    except contacts.ContactError as error:
        assert_friendly(error)
        return
    assert method in ("email", "sms")
    assert_valid_contact(contact, method)


@given(texts())
def test_display_and_mask_never_fail(text: str) -> None:
    assert isinstance(contacts.display_contact(text), str)
    assert isinstance(contacts.mask_contact(text), str)


# --- the board's CSV import ----------------------------------------------------------------

cells = st.one_of(
    texts(long=False),
    st.sampled_from(NAMES + EMAILS + PHONES + ["Oak Ridge HOA", "12 Oak Lane", ""]),
)
HEADERS = [
    "community,address,head name,head email or phone",
    "Community;Address;Head;Head phone",
    "community\taddress",
    "address,community,head_contact,head_name,extra",
]


@st.composite
def csv_files(draw: st.DrawFn) -> str:
    """A CSV file: a real header (or any text), then rows of any cells, quoted or not."""
    header = draw(st.one_of(st.sampled_from(HEADERS), texts(long=False)))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    lines = [header]
    for _ in range(draw(st.integers(0, 5))):
        row = draw(st.lists(cells, min_size=0, max_size=5))
        quoted = draw(st.booleans())
        if quoted:
            row = ['"' + c.replace('"', '""') + '"' for c in row]
        lines.append(delimiter.join(row))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return draw(st.sampled_from(["", "\ufeff"])) + newline.join(lines)


@given(st.one_of(csv_files(), texts()))
@example('community,address\n"Oak,12 Oak Lane')
@example("community,address\nOak\x00Ridge,12 Oak Lane")
async def test_an_import_stores_only_valid_households(text: str) -> None:
    try:
        rows = admin.read_household_csv(text)
    except admin.UnreadableCsv as error:
        assert error.message.strip()
        return
    uow_factory = MemoryUnitOfWorkFactory()
    report = await admin.import_households(
        uow_factory, rows, secret_key=SECRET, clock=FakeClock(), region="US"
    )
    assert len(report.outcomes) == len(rows)
    for outcome in report.outcomes:
        if outcome.status is not admin.RowStatus.CREATED:
            assert outcome.reason.strip() and not outcome.code
    state = await assert_all_stored_valid(uow_factory)
    assert len(state.households) == len(report.created)
    for household in state.households:
        assert (
            admin._address(household.address) == household.address  # re-validates as it is
        )
    async with uow_factory() as uow:
        for community in await uow.communities.list():
            assert admin._community_name(community.name) == community.name


@given(
    community=st.one_of(texts(long=False), st.just("Oak Ridge HOA")),
    address=st.one_of(texts(), st.just("12 Oak Lane")),
    head_name=st.one_of(texts(), st.sampled_from(["", *NAMES])),
    head_contact=st.one_of(texts(), st.sampled_from(["", *EMAILS, *PHONES])),
)
async def test_adding_a_household_stores_valid_fields_or_refuses_kindly(
    community: str, address: str, head_name: str, head_contact: str
) -> None:
    uow_factory = MemoryUnitOfWorkFactory()
    clock = FakeClock()
    try:
        await admin.add_community(uow_factory, name=community, clock=clock)
    except admin.AdminError as error:
        assert error.message.strip()
        community = "Oak Ridge HOA"
        await admin.add_community(uow_factory, name=community, clock=clock)
    try:
        issued = await admin.add_household(
            uow_factory,
            community_name=community,
            address=address,
            head_name=head_name,
            head_contact=head_contact,
            secret_key=SECRET,
            clock=clock,
        )
    except admin.AdminError as error:
        assert error.message.strip()
        state = await assert_all_stored_valid(uow_factory)
        assert state.households == []
        return
    [household] = (await assert_all_stored_valid(uow_factory)).households
    assert household.id == issued.household.id
