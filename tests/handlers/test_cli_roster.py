"""``invitebot admin household list`` (status, search), ``household show`` and ``export``
through their real command line (``tests.handlers.board_cli``), on SQLite and, when
``INVITEBOT_TEST_DATABASE_URL`` names one, on PostgreSQL, with a fake clock."""

from __future__ import annotations

import csv
import io
import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain import Role
from bot.ports import UnitOfWorkFactory
from tests.handlers.board_cli import Board, one_error_line, open_board
from tests.roster_data import (
    OakRidge,
    add_community,
    add_household,
    day,
    join,
    seed_many,
    seed_oak_ridge,
)
from tests.storage.databases import SQL_BACKENDS

COLUMNS = "community,address,household_status,name,role,email,phone,joined_at,joined_via"
BOM = b"\xef\xbb\xbf"


@pytest.fixture(params=SQL_BACKENDS)
def board(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Board]:
    yield from open_board(request.param, tmp_path, monkeypatch)


@pytest.fixture
def oak(board: Board) -> OakRidge:
    return board.seed(seed_oak_ridge)


def line_of(output: str, address: str) -> str:
    [found] = [line for line in output.splitlines() if f"│ {address} " in line]
    return found


def csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(BOM)
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


# --- household list ------------------------------------------------------------------------


def test_the_list_shows_each_households_status(board: Board, oak: OakRidge) -> None:
    result = board("household", "list")
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[1]
    assert re.search(r"Community\s*┃\s*Address\s*┃\s*Status\s*┃\s*Expected head", header)
    lane, elm = line_of(result.stdout, "12 Oak Lane"), line_of(result.stdout, "3 Elm Road")
    assert re.search(r"│\s*active\s*│ José Núñez\s*│ yes, 2026-10-25\s*│ 3\s*│", lane)
    assert re.search(r"│\s*not activated\s*│ Zoë Adams\s*│ no\s*│ 0\s*│", elm)
    assert re.search(r"│\s*inactive\s*│", line_of(result.stdout, "7 Pine Court"))
    assert re.search(r"│\s*active\s*│", line_of(result.stdout, "1 Birch Way"))


@pytest.mark.parametrize(
    ("args", "found"),
    [
        (["--status", "active"], ["1 Birch Way", "12 Oak Lane"]),
        (["--status", "not-activated"], ["3 Elm Road"]),
        (["--status", "INACTIVE"], ["7 Pine Court"]),
        (["--search", "jose"], ["12 Oak Lane"]),
        (["--search", "JOSÉ"], ["12 Oak Lane"]),
        (["--search", "OAK"], ["12 Oak Lane"]),
        (["--search", "lopez"], ["12 Oak Lane"]),
        (["--search", "zoe"], ["3 Elm Road"]),
        (["--search", "chloe", "--community", "birch hill"], ["1 Birch Way"]),
        (["--search", "e", "--status", "inactive"], ["7 Pine Court"]),
    ],
)
def test_the_list_is_filtered(
    board: Board, oak: OakRidge, args: list[str], found: list[str]
) -> None:
    result = board("household", "list", *args)
    assert result.exit_code == 0, result.output
    shown = [a for a in oak.households if f"│ {a} " in result.stdout]
    assert sorted(shown) == sorted(found)


def test_a_list_that_matches_nothing_says_so(board: Board, oak: OakRidge) -> None:
    result = board("household", "list", "--search", "nobody here")
    assert result.exit_code == 0
    assert result.stdout.strip() == "No households match."


def test_an_unknown_status_is_one_red_line(board: Board, oak: OakRidge) -> None:
    result = board("household", "list", "--status", "claimed")
    assert result.exit_code == 2
    assert one_error_line(result) == (
        "Error: There is no household status “claimed”. Use active, not-activated or inactive."
    )
    assert result.stdout == ""


# --- household show ------------------------------------------------------------------------


def test_a_household_is_shown_in_full(board: Board, oak: OakRidge) -> None:
    result = board("household", "show", "--community", "oak ridge hoa", "--address", "12 OAK LANE")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "12 Oak Lane, Oak Ridge HOA" in out
    assert "Status: active" in out and "Claimed: Oct 25, 2026, 10:00 AM UTC" in out
    assert re.search(
        r"│ José Núñez\s*│ head\s*│ jose@example.org\s*│ \+1 202 555 0101\s*│ "
        r"Oct 25, 2026, 10:00 AM UTC\s*│ telegram\s*│",
        out,
    )
    assert re.search(r"│ Ana López\s*│ member\s*│ ana@example.org\s*│\s*│ Nov 4, 2026.*│ page", out)
    assert re.search(r"│ Luis Ruiz\s*│ member\s*│\s*│ \+1 202 555 0103\s*│ .*│ sms\s*│", out)
    assert "Old Member" not in out.split("History")[0]  # left: not among the people
    assert re.search(r"│ Maria Ruiz\s*│ \+1 202 555 0199\s*│ José Núñez\s*│ .*│ delivered\s*│", out)
    assert re.search(r"│ Ken Ito\s*│ ken@example.org\s*│ José Núñez\s*│ .*│ queued\s*│", out)
    assert "Cancelled Person" not in out.split("History")[0]
    assert "Late Person" not in out.split("History")[0]
    history = out.split("History (newest first)")[1].strip().splitlines()
    assert len(history) == 8
    assert history[0].startswith("Nov 23, 2026, 10:00 AM UTC · José Núñez invited Ken Ito by email")
    assert history[-1] == "Oct 25, 2026, 10:00 AM UTC · José Núñez claimed the household as head."
    assert "Luis Ruiz accepted the invitation by text message." in out


def test_a_household_not_activated_is_shown(board: Board, oak: OakRidge) -> None:
    result = board("household", "show", "--community", "Oak Ridge HOA", "--address", "3 Elm Road")
    assert result.exit_code == 0
    assert "Status: not activated" in result.stdout
    assert "Expected head: Zoë Adams" in result.stdout
    assert "Nobody has joined yet." in result.stdout
    assert "No open invitations." in result.stdout


def test_an_inactive_household_says_since_when(board: Board, oak: OakRidge) -> None:
    result = board("household", "show", "--community", "Oak Ridge HOA", "--address", "7 pine court")
    assert result.exit_code == 0
    assert "Status: inactive" in result.stdout
    assert "Deactivated: Nov 19, 2026, 10:00 AM UTC" in result.stdout
    assert "bob@example.org" in result.stdout


@pytest.mark.parametrize(
    ("community", "address", "message"),
    [
        (
            "Cedar",
            "1 Oak",
            "Error: There is no community named “Cedar”. "
            "Communities: “Birch Hill”, “Oak Ridge HOA”.",
        ),
        ("Oak Ridge HOA", "1 Oak", "Error: There is no household at “1 Oak” in “Oak Ridge HOA”."),
    ],
)
def test_showing_an_unknown_household_is_refused_as_reset_code_refuses(
    board: Board, oak: OakRidge, community: str, address: str, message: str
) -> None:
    shown = board("household", "show", "--community", community, "--address", address)
    reset = board("household", "reset-code", "--community", community, "--address", address)
    assert shown.exit_code == reset.exit_code == 1
    assert one_error_line(shown) == one_error_line(reset) == message


# --- export --------------------------------------------------------------------------------

OAK_ROWS = [
    ["Birch Hill", "1 Birch Way", "active", "Chloé Martin", "head", "", "'+12025550120",
     "2026-11-12T10:00:00+00:00", "console"],
    ["Birch Hill", "1 Birch Way", "active", "Dan Martin", "member", "dan@example.org", "",
     "2026-11-13T10:00:00+00:00", "slack"],
    ["Oak Ridge HOA", "12 Oak Lane", "active", "José Núñez", "head", "jose@example.org",
     "'+12025550101", "2026-10-25T10:00:00+00:00", "telegram"],
    ["Oak Ridge HOA", "12 Oak Lane", "active", "Ana López", "member", "ana@example.org", "",
     "2026-11-04T10:00:00+00:00", "page"],
    ["Oak Ridge HOA", "12 Oak Lane", "active", "Luis Ruiz", "member", "", "'+12025550103",
     "2026-11-14T10:00:00+00:00", "sms"],
    ["Oak Ridge HOA", "7 Pine Court", "inactive", "Bob Stone", "head", "bob@example.org", "",
     "2026-10-15T10:00:00+00:00", "slack"],
]  # fmt: skip


def test_the_export_to_the_screen_is_csv(board: Board, oak: OakRidge) -> None:
    result = board("export")
    assert result.exit_code == 0, result.stderr
    data = result.stdout_bytes
    assert data.startswith(BOM + COLUMNS.encode() + b"\r\n")
    assert data.count(b"\r\n") == 1 + len(OAK_ROWS) and b"\n" not in data.replace(b"\r\n", b"")
    assert csv_rows(data) == [COLUMNS.split(","), *OAK_ROWS]
    assert result.stderr == ""


def test_the_export_as_json(board: Board, oak: OakRidge) -> None:
    result = board("export", "--format", "json", "--community", "OAK RIDGE HOA")
    assert result.exit_code == 0, result.stderr
    exported = json.loads(result.stdout_bytes.decode("utf-8"))
    assert exported == [
        dict(zip(COLUMNS.split(","), [cell.removeprefix("'") for cell in row], strict=True))
        for row in OAK_ROWS[2:]
    ]
    assert "José Núñez" in result.stdout_bytes.decode("utf-8")  # not \u00e9 escapes
    assert list(exported[0]) == COLUMNS.split(",")


def test_the_export_to_a_file_shows_a_summary(board: Board, oak: OakRidge, tmp_path: Path) -> None:
    target = tmp_path / "roster.csv"
    result = board("export", "--output", target)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"Exported 6 people from 3 households to {target}."
    assert csv_rows(target.read_bytes()) == [COLUMNS.split(","), *OAK_ROWS]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # contacts: readable only by its owner

    json_file = tmp_path / "roster.json"
    again = board("export", "--output", json_file, "--format", "JSON", "--community", "Birch Hill")
    assert again.exit_code == 0, again.stderr
    assert again.stdout.strip() == f"Exported 2 people from 1 household to {json_file}."
    assert [p["name"] for p in json.loads(json_file.read_text("utf-8"))] == [
        "Chloé Martin",
        "Dan Martin",
    ]


FORMULAS = ['=HYPERLINK("http://evil","x")', "+1+1", "-2", "@SUM(A1)", "\tTab", "\rCR"]


async def seed_formulas(uow_factory: UnitOfWorkFactory) -> None:
    """Names (and an address, a community, an email) a spreadsheet would run, stored as they
    are: the chat's own checks may refuse some of them."""
    async with uow_factory() as tx:
        community = await add_community(tx, "@Evil HOA")
        house = await add_household(tx, community, "=1+2 Main Street")
        await join(
            tx,
            house,
            FORMULAS[0],
            via="page",
            at=day(3),
            role=Role.HEAD,
            email="-boss@example.org",
            phone="+12025550111",
        )
        for n, name in enumerate(FORMULAS[1:]):
            await join(tx, house, name, via="sms", at=day(2), email=f"m{n}@example.org")
        await tx.commit()


def test_cells_a_spreadsheet_would_run_are_neutralised(board: Board, tmp_path: Path) -> None:
    board.seed(seed_formulas)
    target = tmp_path / "roster.csv"
    assert board("export", "--output", target).exit_code == 0
    [header, *rows] = csv_rows(target.read_bytes())
    assert header == COLUMNS.split(",")
    by_name = {row[3]: row for row in rows}
    assert sorted(by_name) == sorted("'" + name for name in FORMULAS)
    head = by_name["'" + FORMULAS[0]]
    assert head[:7] == [
        "'@Evil HOA", "'=1+2 Main Street", "active", '\'=HYPERLINK("http://evil","x")', "head",
        "'-boss@example.org", "'+12025550111",
    ]  # fmt: skip
    for row in rows:  # every cell, whatever its column
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)

    # JSON is not opened by spreadsheets: it keeps the text exactly.
    result = board("export", "--format", "json")
    names = {p["name"] for p in json.loads(result.stdout_bytes.decode("utf-8"))}
    assert names == set(FORMULAS)


def test_accents_survive_the_round_trip(board: Board, oak: OakRidge, tmp_path: Path) -> None:
    target = tmp_path / "roster.csv"
    assert board("export", "--output", target).exit_code == 0
    data = target.read_bytes()
    assert data[:3] == BOM and data[3:].count(BOM) == 0  # one mark, at the start
    assert "José Núñez".encode() in data and "Chloé".encode() in data  # UTF-8, not Latin-1
    with target.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][0] == "community"  # no mark glued to the first header
    assert {row[3] for row in rows[1:]} >= {"José Núñez", "Ana López", "Chloé Martin"}


def test_an_export_of_ten_thousand_people(board: Board, tmp_path: Path) -> None:
    board.seed(lambda uow: seed_many(uow, households=2500, per_household=4))
    target = tmp_path / "big.csv"
    result = board("export", "--output", target)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"Exported 10000 people from 2500 households to {target}."
    [header, *rows] = csv_rows(target.read_bytes())
    assert header == COLUMNS.split(",")
    assert len(rows) == 10_000
    assert rows[0] == [
        "Big Park", "House 00001", "active", "Person 00001-0", "head", "p1-0@example.org", "",
        "2026-11-23T10:00:00+00:00", "telegram",
    ]  # fmt: skip
    assert rows[4 * 1234 + 2][3:5] == ["Person 01235-2", "member"]
    assert rows[-1][3] == "Person 02500-3" and rows[-1][8] == "page"


def test_an_export_that_cannot_be_written_is_one_red_line(
    board: Board, oak: OakRidge, tmp_path: Path
) -> None:
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("not a directory")
    for target, reason in (
        (tmp_path, "it is a directory"),
        (tmp_path / "missing" / "roster.csv", "there is no directory"),
        (a_file / "roster.csv", "there is no directory"),
    ):
        result = board("export", "--output", target)
        assert result.exit_code == 1
        assert one_error_line(result).startswith(f"Error: Cannot write {target}: {reason}")
        assert result.stdout == ""
    assert a_file.read_text() == "not a directory"


def test_an_export_of_an_unknown_community_is_one_red_line(board: Board, oak: OakRidge) -> None:
    result = board("export", "--community", "Cedar", "--output", "roster.csv")
    assert result.exit_code == 1
    assert one_error_line(result) == (
        "Error: There is no community named “Cedar”. Communities: “Birch Hill”, “Oak Ridge HOA”."
    )
    assert result.stdout == "" and not Path("roster.csv").exists()


def test_an_unknown_format_is_one_red_line(board: Board, oak: OakRidge) -> None:
    result = board("export", "--format", "xlsx")
    assert result.exit_code == 2
    assert one_error_line(result) == "Error: There is no export format “xlsx”. Use csv or json."
    assert result.stdout == ""


def test_an_empty_export_is_a_header_or_an_empty_list(board: Board) -> None:
    assert board("export").stdout_bytes == BOM + COLUMNS.encode() + b"\r\n"
    assert json.loads(board("export", "--format", "json").stdout) == []


def test_the_help_lists_the_new_commands(board: Board) -> None:
    assert re.search(r"│ export\s", board("--help").stdout)
    assert re.search(r"│ show\s", board("household", "--help").stdout)
    listing = board("household", "list", "--help").stdout
    assert "--status" in listing and "--search" in listing


def test_contacts_are_shown_whole_in_a_narrow_terminal(
    board: Board, oak: OakRidge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    out = board("household", "show", "--community", "Oak Ridge HOA", "--address", "12 Oak Lane")
    for whole in ("jose@example.org", "+1 202 555 0101", "telegram", "ken@example.org"):
        assert whole in out.stdout
    assert "…" not in out.stdout


def test_writing_a_file_shows_progress_on_stderr(
    board: Board, oak: OakRidge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: draw as on a terminal
    result = board("export", "--output", tmp_path / "roster.csv")
    assert result.exit_code == 0
    assert "Reading households" in result.stderr and "Writing" in result.stderr
    assert "Reading" not in result.stdout and result.stdout.startswith("Exported 6 people")
