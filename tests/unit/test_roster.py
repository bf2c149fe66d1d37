"""The board's roster (``bot.roster``) on every storage backend the ``uow_factory`` fixture
offers: the status filter and the search, one household in full, and the export's rows."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot import history, roster
from bot.admin import UnknownCommunity, UnknownHousehold
from bot.domain import HouseholdStatus, Member, Role
from bot.flows.history import describe
from bot.language import ENGLISH
from bot.ports import UnitOfWorkFactory
from bot.roster import ExportRow, UnknownStatus
from tests.fakes import MemoryUnitOfWorkFactory
from tests.roster_data import (
    NOW,
    OakRidge,
    add_community,
    add_household,
    day,
    join,
    seed_many,
    seed_oak_ridge,
)


@pytest.fixture
async def oak(uow_factory: UnitOfWorkFactory) -> OakRidge:
    return await seed_oak_ridge(uow_factory)


# --- status and search ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "status"),
    [
        ("active", HouseholdStatus.ACTIVE),
        ("ACTIVE", HouseholdStatus.ACTIVE),
        ("not-activated", HouseholdStatus.NOT_ACTIVATED),
        ("not activated", HouseholdStatus.NOT_ACTIVATED),
        ("Not_Activated", HouseholdStatus.NOT_ACTIVATED),
        (" inactive ", HouseholdStatus.INACTIVE),
    ],
)
def test_a_status_is_read_as_the_board_types_it(typed: str, status: HouseholdStatus) -> None:
    assert roster.parse_status(typed) is status


@pytest.mark.parametrize("typed", ["", "claimed", "activ", "not"])
def test_an_unknown_status_says_which_exist(typed: str) -> None:
    with pytest.raises(UnknownStatus) as caught:
        roster.parse_status(typed)
    assert caught.value.message == (
        f"There is no household status “{typed}”. Use active, not-activated or inactive."
    )


async def test_households_are_filtered_by_status(uow_factory, oak: OakRidge) -> None:
    async def addresses(status: HouseholdStatus | None) -> list[str]:
        rows = await roster.list_households(uow_factory, status=status)
        return [row.household.address for row in rows]

    assert await addresses(None) == ["1 Birch Way", "12 Oak Lane", "3 Elm Road", "7 Pine Court"]
    assert await addresses(HouseholdStatus.ACTIVE) == ["1 Birch Way", "12 Oak Lane"]
    assert await addresses(HouseholdStatus.NOT_ACTIVATED) == ["3 Elm Road"]
    assert await addresses(HouseholdStatus.INACTIVE) == ["7 Pine Court"]
    inactive_oak = await roster.list_households(
        uow_factory, community_name="oak ridge hoa", status=HouseholdStatus.INACTIVE
    )
    assert [row.household.address for row in inactive_oak] == ["7 Pine Court"]


@pytest.mark.parametrize(
    ("search", "found"),
    [
        ("jose", ["12 Oak Lane"]),  # the head, José
        ("JOSÉ NÚÑEZ", ["12 Oak Lane"]),
        ("nunez", ["12 Oak Lane"]),
        ("lopez", ["12 Oak Lane"]),  # a member, Ana López
        ("ruiz", ["12 Oak Lane"]),  # Luis Ruiz (Maria Ruiz is only invited)
        ("OAK", ["12 Oak Lane"]),
        ("oak  lane", ["12 Oak Lane"]),
        ("zoe", ["3 Elm Road"]),  # the expected head of a household not activated yet
        ("chloe", ["1 Birch Way"]),
        ("martin", ["1 Birch Way"]),
        ("e", ["1 Birch Way", "12 Oak Lane", "3 Elm Road", "7 Pine Court"]),
        ("old member", []),  # they left
        ("maria", []),  # invited, not a member
        ("12 Elm", []),
        ("   ", ["1 Birch Way", "12 Oak Lane", "3 Elm Road", "7 Pine Court"]),
    ],
)
async def test_the_search_ignores_case_and_accents(
    uow_factory, oak: OakRidge, search: str, found: list[str]
) -> None:
    rows = await roster.list_households(uow_factory, search=search)
    assert [row.household.address for row in rows] == found


async def test_the_search_and_the_status_work_together(uow_factory, oak: OakRidge) -> None:
    rows = await roster.list_households(uow_factory, search="o", status=HouseholdStatus.INACTIVE)
    assert [row.household.address for row in rows] == ["7 Pine Court"]
    assert rows[0].member_names == ("Bob Stone",)
    with pytest.raises(UnknownCommunity):
        await roster.list_households(uow_factory, community_name="Cedar", search="o")


def test_folding_drops_accents_case_and_extra_spaces() -> None:
    assert roster.folded("  José\tNÚÑEZ  Straße ") == "jose nunez strasse"
    assert roster.folded("Zoë") == roster.folded("ZOE") == "zoe"


# --- one household -------------------------------------------------------------------------


async def test_a_household_is_shown_with_everyone_in_full(uow_factory, oak: OakRidge) -> None:
    details = await roster.show_household(
        uow_factory, community_name="OAK RIDGE HOA", address="12 oak lane", now=NOW
    )
    assert details.household.address == "12 Oak Lane"
    assert details.household.status is HouseholdStatus.ACTIVE
    assert details.community.name == "Oak Ridge HOA"
    people = [
        (p.member.name, p.member.role, p.member.email, p.member.phone, p.joined_at, p.joined_via)
        for p in details.people
    ]
    assert people == [
        ("José Núñez", Role.HEAD, "jose@example.org", "+12025550101", day(30), "telegram"),
        ("Ana López", Role.MEMBER, "ana@example.org", None, day(20), "page"),
        ("Luis Ruiz", Role.MEMBER, None, "+12025550103", day(10), "sms"),
    ]
    # Open only: the cancelled invitation and the one past its time are not.
    assert [i.invitee_name for i in details.open_invitations] == ["Maria Ruiz", "Ken Ito"]
    assert [i.delivery_status.value for i in details.open_invitations] == ["delivered", "queued"]
    assert [i.contact for i in details.open_invitations] == ["+12025550199", "ken@example.org"]
    jose = oak.people["José Núñez"].id
    assert details.inviters[jose] == "José Núñez"

    async with uow_factory() as tx:
        events = await tx.events.list_for_household(details.household.id, limit=20)
    assert details.history == [describe(ENGLISH, e) for e in events]
    assert len(details.history) == 8  # claimed, 3 accepted (one left since), 4 invited
    assert details.history[0].startswith("Nov 23, 2026, 10:00 AM UTC · José Núñez invited Ken Ito")
    assert not details.more_history


async def test_a_household_shows_only_its_last_20_events(uow_factory, oak: OakRidge) -> None:
    lane = oak.households["12 Oak Lane"]
    async with uow_factory() as tx:
        for n in range(25):
            house = await tx.households.get(lane.id)
            assert house is not None
            await join(tx, house, f"Guest {n:02d}", via="slack", at=day(1) + timedelta(minutes=n))
        await tx.commit()
    details = await roster.show_household(
        uow_factory, community_name="Oak Ridge HOA", address="12 Oak Lane", now=NOW
    )
    assert len(details.history) == 20 and details.more_history
    assert "Guest 24 accepted the invitation on Slack." in details.history[0]
    assert len(details.people) == 3 + 25
    assert {p.joined_via for p in details.people if p.member.name.startswith("Guest")} == {"slack"}


async def test_a_household_not_activated_has_nobody_yet(uow_factory, oak: OakRidge) -> None:
    details = await roster.show_household(
        uow_factory, community_name="Oak Ridge HOA", address="3 Elm Road", now=NOW
    )
    assert details.household.status is HouseholdStatus.NOT_ACTIVATED
    assert details.household.head_name == "Zoë Adams"
    assert details.people == [] and details.open_invitations == [] and details.history == []


@pytest.mark.parametrize(
    ("community", "address", "error", "message"),
    [
        (
            "Cedar",
            "12 Oak Lane",
            UnknownCommunity,
            "There is no community named “Cedar”. Communities: “Birch Hill”, “Oak Ridge HOA”.",
        ),
        (
            "Oak Ridge HOA",
            "1 Birch Way",
            UnknownHousehold,
            "There is no household at “1 Birch Way” in “Oak Ridge HOA”.",
        ),
    ],
)
async def test_an_unknown_household_is_refused_as_reset_code_refuses_it(
    uow_factory, oak: OakRidge, community: str, address: str, error: type, message: str
) -> None:
    with pytest.raises(error) as caught:
        await roster.show_household(uow_factory, community_name=community, address=address, now=NOW)
    assert caught.value.message == message


async def test_a_member_who_claimed_later_joined_by_their_invitation(
    uow_factory, oak: OakRidge
) -> None:
    """Luis joined by text, then (a long history later) claimed the household with a new code
    from the board: he joined by text, however many events came between."""
    lane = oak.households["12 Oak Lane"]
    luis = oak.people["Luis Ruiz"]
    async with uow_factory() as tx:
        house = await tx.households.get(lane.id)
        assert house is not None
        for n in range(130):  # more than the export reads at first
            await join(tx, house, f"Guest {n:03d}", via="slack", at=day(9) + timedelta(minutes=n))
        await tx.events.append(history.claimed(house, luis, at=day(2), via="console", joined=False))
        await tx.commit()
    details = await roster.show_household(
        uow_factory, community_name="Oak Ridge HOA", address="12 Oak Lane", now=NOW
    )
    [person] = [p for p in details.people if p.member.name == "Luis Ruiz"]
    assert (person.joined_at, person.joined_via) == (day(10), "sms")
    [row] = [r for r in await roster.export_rows(uow_factory) if r.name == "Luis Ruiz"]
    assert row.joined_via == "sms"


# --- the export ----------------------------------------------------------------------------


def row(community: str, address: str, status: str, name: str, role: str, **rest: str) -> ExportRow:
    return ExportRow(
        community=community,
        address=address,
        household_status=status,
        name=name,
        role=role,
        email=rest.get("email", ""),
        phone=rest.get("phone", ""),
        joined_at=rest["joined_at"],
        joined_via=rest["via"],
    )


async def test_the_export_has_a_row_per_person_in_a_household(uow_factory, oak: OakRidge) -> None:
    rows = await roster.export_rows(uow_factory)
    birch, oak_hoa = "Birch Hill", "Oak Ridge HOA"
    assert rows == [
        row(birch, "1 Birch Way", "active", "Chloé Martin", "head", phone="+12025550120",
            joined_at="2026-11-12T10:00:00+00:00", via="console"),
        row(birch, "1 Birch Way", "active", "Dan Martin", "member", email="dan@example.org",
            joined_at="2026-11-13T10:00:00+00:00", via="slack"),
        row(oak_hoa, "12 Oak Lane", "active", "José Núñez", "head", email="jose@example.org",
            phone="+12025550101", joined_at="2026-10-25T10:00:00+00:00", via="telegram"),
        row(oak_hoa, "12 Oak Lane", "active", "Ana López", "member", email="ana@example.org",
            joined_at="2026-11-04T10:00:00+00:00", via="page"),
        row(oak_hoa, "12 Oak Lane", "active", "Luis Ruiz", "member", phone="+12025550103",
            joined_at="2026-11-14T10:00:00+00:00", via="sms"),
        row(oak_hoa, "7 Pine Court", "inactive", "Bob Stone", "head", email="bob@example.org",
            joined_at="2026-10-15T10:00:00+00:00", via="slack"),
    ]  # fmt: skip
    assert rows[0].cells() == [
        "Birch Hill", "1 Birch Way", "active", "Chloé Martin", "head", "", "+12025550120",
        "2026-11-12T10:00:00+00:00", "console",
    ]  # fmt: skip
    assert list(rows[0].as_dict()) == list(roster.EXPORT_COLUMNS)
    assert roster.households_in(rows) == 3  # 3 Elm Road has nobody in it


async def test_the_export_of_one_community(uow_factory, oak: OakRidge) -> None:
    heard: list[tuple[int, int]] = []
    rows = await roster.export_rows(
        uow_factory, community_name="birch hill", on_progress=lambda *p: heard.append(p)
    )
    assert [r.name for r in rows] == ["Chloé Martin", "Dan Martin"]
    assert heard == [(0, 1), (1, 1)]
    with pytest.raises(UnknownCommunity):
        await roster.export_rows(uow_factory, community_name="Cedar")


async def test_an_export_without_households_is_empty(uow_factory) -> None:
    assert await roster.export_rows(uow_factory) == []


async def test_a_person_the_log_says_nothing_about_is_exported_all_the_same(
    uow_factory,
) -> None:
    """A head from before the household events (migration 0004): no join event, no time."""
    async with uow_factory() as tx:
        house = await add_household(tx, await add_community(tx, "Oak"), "1 Oak")
        head = Member(household_id=house.id, name="Ann", role=Role.HEAD)
        await tx.members.add(head)
        house.head_member_id = head.id
        await tx.households.update(house)
        await tx.commit()
    [exported] = await roster.export_rows(uow_factory)
    assert (exported.name, exported.joined_at, exported.joined_via) == ("Ann", "", "")
    details = await roster.show_household(
        uow_factory, community_name="Oak", address="1 Oak", now=NOW
    )
    assert [(p.joined_at, p.joined_via) for p in details.people] == [(None, "")]


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+1+1", "'+1+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTab", "'\tTab"),
        ("\rCR", "'\rCR"),
        ("+12025550199", "'+12025550199"),
        ("Ana = Bob", "Ana = Bob"),
        ("", ""),
        ("José", "José"),
    ],
)
def test_a_cell_a_spreadsheet_would_run_is_neutralised(cell: str, safe: str) -> None:
    assert roster.spreadsheet_safe(cell) == safe


async def test_an_export_of_ten_thousand_people(uow_factory) -> None:
    if isinstance(uow_factory, MemoryUnitOfWorkFactory):
        pytest.skip("the in-memory fakes scan every member for each household")
    await seed_many(uow_factory, households=2500, per_household=4)
    heard: list[tuple[int, int]] = []
    rows = await roster.export_rows(uow_factory, on_progress=lambda *p: heard.append(p))
    assert len(rows) == 10_000
    assert roster.households_in(rows) == 2500
    assert heard[0] == (0, 2500) and heard[-1] == (2500, 2500)
    assert rows[0] == ExportRow(
        community="Big Park",
        address="House 00001",
        household_status="active",
        name="Person 00001-0",
        role="head",
        email="p1-0@example.org",
        phone="",
        joined_at="2026-11-23T10:00:00+00:00",
        joined_via="telegram",
    )
    assert [(r.name, r.role, r.joined_via) for r in rows[-4:]] == [
        ("Person 02500-0", "head", "telegram"),
        ("Person 02500-1", "member", "page"),
        ("Person 02500-2", "member", "page"),
        ("Person 02500-3", "member", "page"),
    ]
    assert rows[-1].joined_at == "2026-11-23T10:03:00+00:00"
