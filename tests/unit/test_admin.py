"""The board's use cases, on every storage backend the shared ``uow_factory`` fixture offers."""

from __future__ import annotations

import pytest

from bot import admin
from bot.admin import (
    DuplicateCommunity,
    DuplicateHousehold,
    InvalidInput,
    MissingColumns,
    RowOutcome,
    RowStatus,
    UnknownCommunity,
    UnknownHousehold,
    UnreadableCsv,
)
from bot.domain import Community, Household, Member, Role
from bot.ports import UnitOfWorkFactory
from bot.secrets import hash_access_code, normalise_access_code
from tests.fakes import (
    FakeClock,
    MemoryHouseholds,
    MemoryUnitOfWork,
    MemoryUnitOfWorkFactory,
)

KEY = b"test-secret-key"


@pytest.fixture
def uow(uow_factory: UnitOfWorkFactory) -> UnitOfWorkFactory:
    return uow_factory


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def code_hash(code: str) -> str:
    canonical = normalise_access_code(code)
    assert canonical is not None
    return hash_access_code(canonical, secret_key=KEY)


async def stored_households(uow: UnitOfWorkFactory) -> dict[str, Household]:
    async with uow() as tx:
        return {h.id: h for h in await tx.households.list()}


async def stored_communities(uow: UnitOfWorkFactory) -> list[Community]:
    async with uow() as tx:
        return list(await tx.communities.list())


async def add_maple_grove(uow: UnitOfWorkFactory, clock: FakeClock) -> None:
    await admin.add_community(uow, name="Maple Grove", contact="board@maplegrove.org", clock=clock)


# --- communities -------------------------------------------------------------------------


async def test_a_community_is_created_with_a_clean_name(uow, clock) -> None:
    community = await admin.add_community(
        uow, name="  Maple   Grove ", contact=" board@maplegrove.org ", clock=clock
    )
    assert (community.name, community.contact) == ("Maple Grove", "board@maplegrove.org")
    assert community.created_at == clock.now()
    assert [c.name for c in await admin.list_communities(uow)] == ["Maple Grove"]


async def test_community_names_may_be_digits_and_punctuation(uow, clock) -> None:
    await admin.add_community(uow, name="1200 Elm St. (Phase 2)", clock=clock)
    await admin.add_community(uow, name="1300", clock=clock)
    names = sorted(c.name for c in await admin.list_communities(uow))
    assert names == ["1200 Elm St. (Phase 2)", "1300"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 101, "too_long"),
        ("--", "no_letter"),
        ("Maple\u202eGrove", "control_character"),
    ],
)
async def test_unusable_community_names_are_refused(uow, clock, name, reason) -> None:
    with pytest.raises(InvalidInput) as caught:
        await admin.add_community(uow, name=name, clock=clock)
    assert caught.value.reason == reason
    assert await admin.list_communities(uow) == []


async def test_a_community_name_is_taken_whatever_its_case(uow, clock) -> None:
    await add_maple_grove(uow, clock)
    with pytest.raises(DuplicateCommunity, match="“Maple Grove” already exists"):
        await admin.add_community(uow, name="MAPLE  grove", clock=clock)
    assert len(await admin.list_communities(uow)) == 1


# --- households ----------------------------------------------------------------------------


async def test_a_household_gets_a_code_that_is_stored_only_as_a_hash(uow, clock) -> None:
    await add_maple_grove(uow, clock)
    issued = await admin.add_household(
        uow,
        community_name="maple grove",
        address=" 12  Oak Street ",
        head_name=" Maria Ruiz ",
        head_contact="(202) 555-0199",
        secret_key=KEY,
        clock=clock,
    )
    assert normalise_access_code(issued.code) is not None
    assert issued.community.name == "Maple Grove"
    stored = (await stored_households(uow))[issued.household.id]
    assert stored.address == "12 Oak Street"
    assert (stored.head_name, stored.head_contact) == ("Maria Ruiz", "+12025550199")
    assert stored.access_code_hash == code_hash(issued.code)
    assert stored.created_at == clock.now()
    assert not stored.claimed
    # The plaintext code is nowhere in storage, in any spelling.
    dump = repr(await stored_households(uow)) + repr(await stored_communities(uow))
    canonical = normalise_access_code(issued.code)
    assert issued.code not in dump and canonical is not None and canonical not in dump


async def test_each_household_gets_its_own_code(uow, clock) -> None:
    await add_maple_grove(uow, clock)
    codes = {
        (
            await admin.add_household(
                uow,
                community_name="Maple Grove",
                address=f"{n} Oak Street",
                secret_key=KEY,
                clock=clock,
            )
        ).code
        for n in range(20)
    }
    assert len(codes) == 20


async def test_the_head_contact_may_be_an_email(uow, clock) -> None:
    await add_maple_grove(uow, clock)
    issued = await admin.add_household(
        uow,
        community_name="Maple Grove",
        address="12 Oak Street",
        head_contact="Maria@EXAMPLE.org",
        secret_key=KEY,
        clock=clock,
    )
    assert issued.household.head_contact == "maria@example.org"


async def test_phone_numbers_are_read_in_the_given_region(uow, clock) -> None:
    await add_maple_grove(uow, clock)
    issued = await admin.add_household(
        uow,
        community_name="Maple Grove",
        address="12 Oak Street",
        head_contact="07400 123456",
        secret_key=KEY,
        clock=clock,
        region="GB",
    )
    assert issued.household.head_contact == "+447400123456"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"address": ""}, "missing_address"),
        ({"address": "x" * 201}, "too_long"),
        ({"community_name": " "}, "missing_community"),
        ({"head_name": "1234"}, "no_letter"),
        ({"head_contact": "+1 800 555 0199"}, "toll_free"),
        ({"head_contact": "maria@localhost"}, "invalid"),
        ({"head_contact": "Maria"}, "not_a_contact"),
    ],
)
async def test_unusable_household_fields_are_refused(uow, clock, fields, reason) -> None:
    await add_maple_grove(uow, clock)
    given = {"community_name": "Maple Grove", "address": "12 Oak Street"} | fields
    with pytest.raises(InvalidInput) as caught:
        await admin.add_household(uow, **given, secret_key=KEY, clock=clock)
    assert caught.value.reason == reason
    assert await stored_households(uow) == {}


async def test_an_address_is_taken_whatever_its_case_within_a_community(uow, clock) -> None:
    await add_maple_grove(uow, clock)
    await admin.add_community(uow, name="Birch Hill", clock=clock)
    await admin.add_household(
        uow, community_name="Maple Grove", address="12 Oak Street", secret_key=KEY, clock=clock
    )
    with pytest.raises(DuplicateHousehold, match="already a household of “Maple Grove”"):
        await admin.add_household(
            uow,
            community_name="Maple Grove",
            address="12 OAK  street",
            secret_key=KEY,
            clock=clock,
        )
    # The same address in another community is another household.
    await admin.add_household(
        uow, community_name="Birch Hill", address="12 Oak Street", secret_key=KEY, clock=clock
    )
    assert len(await stored_households(uow)) == 2


async def test_an_unknown_community_is_named_with_the_ones_that_exist(uow, clock) -> None:
    with pytest.raises(UnknownCommunity, match="no community exists yet"):
        await admin.add_household(
            uow,
            community_name="Maple Grove",
            address="12 Oak Street",
            secret_key=KEY,
            clock=clock,
        )
    await add_maple_grove(uow, clock)
    await admin.add_community(uow, name="Birch Hill", clock=clock)
    with pytest.raises(UnknownCommunity) as caught:
        await admin.add_household(
            uow,
            community_name="Maple Grov",
            address="12 Oak Street",
            secret_key=KEY,
            clock=clock,
        )
    assert caught.value.known == ["Birch Hill", "Maple Grove"]
    assert "“Birch Hill”, “Maple Grove”" in str(caught.value)


async def test_households_are_listed_with_community_and_member_count(uow, clock) -> None:
    await add_maple_grove(uow, clock)
    await admin.add_community(uow, name="Birch Hill", clock=clock)
    first = await admin.add_household(
        uow,
        community_name="Maple Grove",
        address="3 Oak Street",
        head_name="Maria Ruiz",
        secret_key=KEY,
        clock=clock,
    )
    await admin.add_household(
        uow, community_name="Maple Grove", address="1 Oak Street", secret_key=KEY, clock=clock
    )
    await admin.add_household(
        uow, community_name="Birch Hill", address="9 Elm Road", secret_key=KEY, clock=clock
    )
    async with uow() as tx:
        for name, role in (("Maria Ruiz", Role.HEAD), ("Luis Ruiz", Role.MEMBER)):
            await tx.members.add(Member(household_id=first.household.id, name=name, role=role))
        await tx.commit()

    rows = await admin.list_households(uow)
    assert [(r.community_name, r.household.address, r.members) for r in rows] == [
        ("Birch Hill", "9 Elm Road", 0),
        ("Maple Grove", "1 Oak Street", 0),
        ("Maple Grove", "3 Oak Street", 2),
    ]
    only = await admin.list_households(uow, community_name="maple grove")
    assert [r.household.address for r in only] == ["1 Oak Street", "3 Oak Street"]
    with pytest.raises(UnknownCommunity):
        await admin.list_households(uow, community_name="Cedar")


async def test_resetting_a_code_voids_the_old_one(uow, clock) -> None:
    await add_maple_grove(uow, clock)
    old = await admin.add_household(
        uow, community_name="Maple Grove", address="12 Oak Street", secret_key=KEY, clock=clock
    )
    new = await admin.reset_access_code(
        uow, community_name="MAPLE GROVE", address="12 oak street", secret_key=KEY, clock=clock
    )
    assert new.household.id == old.household.id
    assert new.code != old.code
    stored = (await stored_households(uow))[old.household.id]
    assert stored.access_code_hash == code_hash(new.code)
    async with uow() as tx:
        assert await tx.households.get_by_code_hash(code_hash(old.code)) is None


async def test_a_claimed_household_can_be_given_a_new_code(uow, clock) -> None:
    await add_maple_grove(uow, clock)
    issued = await admin.add_household(
        uow, community_name="Maple Grove", address="12 Oak Street", secret_key=KEY, clock=clock
    )
    head = Member(household_id=issued.household.id, name="Maria Ruiz", role=Role.HEAD)
    async with uow() as tx:
        await tx.members.add(head)
        claimed = await tx.households.get(issued.household.id)
        assert claimed is not None
        claimed.head_member_id, claimed.claimed_at = head.id, clock.now()
        await tx.households.update(claimed)
        await tx.commit()
    new = await admin.reset_access_code(
        uow, community_name="Maple Grove", address="12 Oak Street", secret_key=KEY, clock=clock
    )
    assert new.household.claimed
    stored = (await stored_households(uow))[issued.household.id]
    assert stored.head_member_id == head.id
    assert stored.access_code_hash == code_hash(new.code)


async def test_resetting_an_unknown_household_is_refused(uow, clock) -> None:
    await add_maple_grove(uow, clock)
    with pytest.raises(UnknownHousehold, match="no household at “12 Oak Street”"):
        await admin.reset_access_code(
            uow,
            community_name="Maple Grove",
            address="12 Oak Street",
            secret_key=KEY,
            clock=clock,
        )
    with pytest.raises(UnknownCommunity):
        await admin.reset_access_code(
            uow,
            community_name="Birch Hill",
            address="12 Oak Street",
            secret_key=KEY,
            clock=clock,
        )


# --- reading a CSV file --------------------------------------------------------------------


def test_a_csv_file_is_read_with_line_numbers() -> None:
    text = (
        "\ufeffCommunity, Address ,HEAD NAME,Head Email or Phone\n"
        "Maple Grove,12 Oak Street,Maria Ruiz,maria@example.org\n"
        "\n"
        ",,,\n"
        'Maple Grove,"14 Oak Street\nUnit B",,\n'
        "Birch Hill,9 Elm Road\n"
        "Birch Hill,11 Elm Road,Ann Lee,+1 202 555 0199,extra,cells\n"
    )
    assert admin.read_household_csv(text) == [
        (
            2,
            {
                "community": "Maple Grove",
                "address": "12 Oak Street",
                "head_name": "Maria Ruiz",
                "head_contact": "maria@example.org",
            },
        ),
        (
            5,
            {
                "community": "Maple Grove",
                "address": "14 Oak Street\nUnit B",
                "head_name": "",
                "head_contact": "",
            },
        ),
        (
            7,
            {
                "community": "Birch Hill",
                "address": "9 Elm Road",
                "head_name": "",
                "head_contact": "",
            },
        ),
        (
            8,
            {
                "community": "Birch Hill",
                "address": "11 Elm Road",
                "head_name": "Ann Lee",
                "head_contact": "+1 202 555 0199",
            },
        ),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "community,address,head_name,head_contact\n"
        "Maple Grove,12 Oak St,Maria Ruiz,maria@example.org\n",
        "address,community,head name,head email or phone\n"
        "12 Oak St,Maple Grove,Maria Ruiz,maria@example.org\n",
        "Community;Address;Head name;Head contact\n"
        "Maple Grove;12 Oak St;Maria Ruiz;maria@example.org\n",
        "community\taddress\thead_name\thead_contact\n"
        "Maple Grove\t12 Oak St\tMaria Ruiz\tmaria@example.org\n",
        "  COMMUNITY , ADDRESS , Head-Name , HEAD_EMAIL_OR_PHONE \n"
        "Maple Grove,12 Oak St,Maria Ruiz,maria@example.org\n",
    ],
)
def test_header_spellings(text: str) -> None:
    assert admin.read_household_csv(text) == [
        (
            2,
            {
                "community": "Maple Grove",
                "address": "12 Oak St",
                "head_name": "Maria Ruiz",
                "head_contact": "maria@example.org",
            },
        ),
    ]


def test_only_a_header_means_no_rows() -> None:
    assert admin.read_household_csv("community,address\n\n") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The file is empty"),
        ("\n \n", "The file is empty"),
        ("community,head name\nMaple Grove,Maria\n", "lacks the address column"),
        ("Maple Grove,12 Oak Street\n", "lacks the community and address columns"),
    ],
)
def test_a_file_without_the_columns_is_refused(text: str, message: str) -> None:
    with pytest.raises(MissingColumns, match=message) as caught:
        admin.read_household_csv(text)
    assert "community,address,head name,head email or phone" in str(caught.value)


def test_a_column_named_twice_is_refused() -> None:
    with pytest.raises(MissingColumns, match=r"names the address column twice \(columns 2 and 3\)"):
        admin.read_household_csv("community,address,Address\n")


def test_a_file_that_is_not_csv_is_refused() -> None:
    with pytest.raises(UnreadableCsv, match="Line 2"):
        admin.read_household_csv("community,address\nMaple," + "x" * 200_000 + "\n")


# --- importing -----------------------------------------------------------------------------

IMPORT = """community,address,head name,head email or phone
Maple Grove,12 Oak Street,Maria Ruiz,(202) 555-0199
Maple Grove,14 Oak Street,,
maple grove,12 OAK STREET,Someone Else,
Birch Hill,9 Elm Road,Ann Lee,ann@example.org
,15 Oak Street,,
Maple Grove,,,
Cedar Park,1 Pine Way,Bob,+1 800 555 0199
Cedar Park,3 Pine Way,12345,
Maple Grove,16 Oak Street,Luis,+44 20 7946 0958
Maple Grove,20 Oak Street,Existing,
"""


async def test_an_import_creates_skips_and_refuses_row_by_row(uow, clock) -> None:
    await add_maple_grove(uow, clock)
    existing = await admin.add_household(
        uow, community_name="Maple Grove", address="20 Oak Street", secret_key=KEY, clock=clock
    )
    heard: list[RowOutcome] = []

    report = await admin.import_households(
        uow,
        admin.read_household_csv(IMPORT),
        secret_key=KEY,
        clock=clock,
        region="US",
        on_row=heard.append,
    )

    assert heard == report.outcomes
    summary = [(o.line, o.status, o.community, o.address) for o in report.outcomes]
    assert summary == [
        (2, RowStatus.CREATED, "Maple Grove", "12 Oak Street"),
        (3, RowStatus.CREATED, "Maple Grove", "14 Oak Street"),
        (4, RowStatus.SKIPPED, "maple grove", "12 OAK STREET"),
        (5, RowStatus.CREATED, "Birch Hill", "9 Elm Road"),
        (6, RowStatus.INVALID, "", "15 Oak Street"),
        (7, RowStatus.INVALID, "Maple Grove", ""),
        (8, RowStatus.INVALID, "Cedar Park", "1 Pine Way"),
        (9, RowStatus.INVALID, "Cedar Park", "3 Pine Way"),
        (10, RowStatus.INVALID, "Maple Grove", "16 Oak Street"),
        (11, RowStatus.SKIPPED, "Maple Grove", "20 Oak Street"),
    ]
    reasons = {o.line: o.reason for o in report.outcomes}
    assert reasons[4] == "The same household as line 2 of this file."
    assert reasons[6] == "The community is missing."
    assert reasons[7] == "The address is missing."
    assert reasons[8].startswith("Toll-free numbers cannot receive text messages.")
    assert reasons[9].startswith("A name needs at least one letter.")
    assert reasons[10].startswith("That looks like a landline")
    assert reasons[11] == "“20 Oak Street” is already a household of “Maple Grove”."
    assert (len(report.created), len(report.skipped), len(report.invalid)) == (3, 2, 5)
    assert report.new_communities == ["Birch Hill"]

    # What was created is in storage, hashed; nothing of the refused rows is.
    stored = {h.address: h for h in (await stored_households(uow)).values()}
    communities = sorted(c.name for c in await stored_communities(uow))
    assert communities == ["Birch Hill", "Maple Grove"]  # no "Cedar Park": its rows failed
    assert sorted(stored) == ["12 Oak Street", "14 Oak Street", "20 Oak Street", "9 Elm Road"]
    for outcome in report.created:
        assert stored[outcome.address].access_code_hash == code_hash(outcome.code)
    assert stored["12 Oak Street"].head_contact == "+12025550199"
    assert stored["9 Elm Road"].head_contact == "ann@example.org"
    assert stored["20 Oak Street"].access_code_hash == existing.household.access_code_hash
    assert all(o.code == "" for o in report.skipped + report.invalid)


async def test_importing_the_same_file_again_changes_nothing(uow, clock) -> None:
    rows = admin.read_household_csv(IMPORT)
    first = await admin.import_households(uow, rows, secret_key=KEY, clock=clock, region="US")
    before = (await stored_households(uow), await stored_communities(uow))
    again = await admin.import_households(uow, rows, secret_key=KEY, clock=clock, region="US")
    assert (await stored_households(uow), await stored_communities(uow)) == before
    assert again.created == []
    assert {o.line for o in again.skipped} == {o.line for o in first.created + first.skipped}
    assert {o.line for o in again.invalid} == {o.line for o in first.invalid}


async def test_a_bad_row_in_a_new_community_leaves_no_trace(uow, clock) -> None:
    rows = [
        (2, {"community": "Cedar Park", "address": "1 Pine Way", "head_contact": "not a contact"})
    ]
    report = await admin.import_households(uow, rows, secret_key=KEY, clock=clock, region="US")
    assert report.outcomes[0].status is RowStatus.INVALID
    assert await stored_communities(uow) == [] and await stored_households(uow) == {}


class FullDiskHouseholds(MemoryHouseholds):
    async def add(self, household: Household) -> None:
        raise OSError("disk full")


class FullDiskUnitOfWorkFactory(MemoryUnitOfWorkFactory):
    """Storage whose household writes fail, like a database that ran out of space."""

    def __call__(self) -> MemoryUnitOfWork:
        tx = super().__call__()
        tx.households = FullDiskHouseholds(tx)
        return tx


async def test_a_row_that_fails_in_storage_is_rolled_back_whole(clock) -> None:
    """A row whose household write fails leaves no community behind either."""
    failing = FullDiskUnitOfWorkFactory()
    heard: list[RowOutcome] = []
    rows = [(2, {"community": "Cedar Park", "address": "1 Pine Way"})]
    with pytest.raises(OSError, match="disk full"):
        await admin.import_households(
            failing, rows, secret_key=KEY, clock=clock, region="US", on_row=heard.append
        )
    assert heard == []
    assert failing.store.communities == {} and failing.store.households == {}


async def test_a_row_that_creates_its_community_says_so(uow, clock) -> None:
    rows = [
        (2, {"community": "Cedar Park", "address": "1 Pine Way"}),
        (3, {"community": "CEDAR PARK", "address": "3 Pine Way"}),
    ]
    report = await admin.import_households(uow, rows, secret_key=KEY, clock=clock, region="US")
    assert [(o.new_community, o.community) for o in report.outcomes] == [
        (True, "Cedar Park"),
        (False, "Cedar Park"),
    ]
    assert report.new_communities == ["Cedar Park"]
