"""``invitebot admin`` through its real command line, on the in-memory storage and on SQLite.

The SQLite runs go through the composition root (``handlers.bootstrap.open_database``) exactly
as the installed command does; the in-memory runs hand the commands their storage through
the Typer context object, the seam :class:`handlers.cli_admin.AdminStorage` provides.
"""

from __future__ import annotations

import asyncio
import re
import stat
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bot.domain import Community, Household, Member, Role
from bot.ports import UnitOfWorkFactory
from bot.secrets import hash_access_code, normalise_access_code
from handlers.cli_admin import AdminStorage, admin_app, open_configured_storage
from handlers.settings import Settings
from tests.fakes import FakeClock, MemoryHouseholds, MemoryUnitOfWork, MemoryUnitOfWorkFactory

SECRET = "cli-test-secret-0123456789abcdefghij"  # 32+ bytes, as the settings require
CODE = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}\b")


def code_hash(code: str) -> str:
    canonical = normalise_access_code(code)
    assert canonical is not None
    return hash_access_code(canonical, secret_key=SECRET.encode())


@dataclass
class Admin:
    """Runs ``invitebot admin ...`` and looks into the storage it used."""

    obj: AdminStorage | None
    sqlite_file: Path | None
    memory: MemoryUnitOfWorkFactory | None

    def __call__(self, *args: str | Path) -> Result:
        result = CliRunner().invoke(admin_app, [str(a) for a in args], obj=self.obj)
        # Whatever happened, it was never a traceback.
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert "Traceback" not in result.output
        return result

    @asynccontextmanager
    async def _storage(self) -> AsyncIterator[UnitOfWorkFactory]:
        if self.memory is not None:
            yield self.memory
            return
        async with open_configured_storage(Settings()) as uow_factory:
            yield uow_factory

    def households(self) -> dict[str, Household]:
        async def read() -> dict[str, Household]:
            async with self._storage() as uow_factory, uow_factory() as uow:
                return {h.address: h for h in await uow.households.list()}

        return asyncio.run(read())

    def communities(self) -> list[str]:
        async def read() -> list[Community]:
            async with self._storage() as uow_factory, uow_factory() as uow:
                return list(await uow.communities.list())

        return sorted(c.name for c in asyncio.run(read()))

    def claim(self, address: str) -> None:
        """Make the household at ``address`` claimed, the way a head's /join leaves it."""

        async def write() -> None:
            async with self._storage() as uow_factory, uow_factory() as uow:
                [household] = [h for h in await uow.households.list() if h.address == address]
                head = Member(household_id=household.id, name="Maria Ruiz", role=Role.HEAD)
                await uow.members.add(head)
                household.head_member_id = head.id
                household.claimed_at = FakeClock().now()
                await uow.households.update(household)
                await uow.commit()

        asyncio.run(write())

    def dump(self) -> str:
        """Everything storage holds, as text: the database file's bytes, or the memory store."""
        if self.memory is not None:
            return repr(self.memory.store)
        assert self.sqlite_file is not None
        files = [self.sqlite_file, *self.sqlite_file.parent.glob(self.sqlite_file.name + "-*")]
        return b"".join(f.read_bytes() for f in files).decode("latin-1")


@pytest.fixture(params=["memory", "sqlite"])
def run(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Admin]:
    monkeypatch.chdir(tmp_path)  # no stray .env or invitebot.db
    monkeypatch.setenv("INVITEBOT_SECRET_KEY", SECRET)
    monkeypatch.setenv("COLUMNS", "200")  # rich tables wide enough that no reason wraps
    monkeypatch.delenv("INVITEBOT_LOG_LEVEL", raising=False)
    if request.param == "memory":
        memory = MemoryUnitOfWorkFactory()

        @asynccontextmanager
        async def opener(settings: Settings) -> AsyncIterator[UnitOfWorkFactory]:
            yield memory

        yield Admin(
            obj=AdminStorage(open=opener, clock=FakeClock()), sqlite_file=None, memory=memory
        )
    else:
        pytest.importorskip("handlers.bootstrap", reason="the composition root is not there")
        database = tmp_path / "data" / "invitebot.db"
        monkeypatch.setenv("INVITEBOT_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
        yield Admin(obj=None, sqlite_file=database, memory=None)


def one_error_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


# --- communities -------------------------------------------------------------------------


def test_communities_are_added_and_listed(run: Admin) -> None:
    result = run("community", "add", "Maple Grove", "--contact", "board@maplegrove.org")
    assert result.exit_code == 0, result.output
    assert "Community Maple Grove created." in result.stdout
    assert run("community", "add", "Birch  Hill").exit_code == 0

    listing = run("community", "list")
    assert listing.exit_code == 0
    assert "Maple Grove" in listing.stdout and "board@maplegrove.org" in listing.stdout
    assert "Birch Hill" in listing.stdout
    assert run.communities() == ["Birch Hill", "Maple Grove"]


def test_a_duplicate_community_is_a_red_one_liner(run: Admin) -> None:
    run("community", "add", "Maple Grove")
    result = run("community", "add", "MAPLE GROVE")
    assert result.exit_code == 1
    assert one_error_line(result) == "Error: A community named “Maple Grove” already exists."


def test_an_empty_listing_says_what_to_do(run: Admin) -> None:
    assert "community add" in run("community", "list").stdout
    assert "No households yet." in run("household", "list").stdout


# --- households ----------------------------------------------------------------------------


def test_a_household_code_is_printed_once_and_stored_hashed(run: Admin) -> None:
    run("community", "add", "Maple Grove")
    result = run(
        "household",
        "add",
        "--community",
        "maple grove",
        "--address",
        "12 Oak Street",
        "--head-name",
        "Maria Ruiz",
        "--head-contact",
        "(202) 555-0199",
    )
    assert result.exit_code == 0, result.output
    codes = CODE.findall(result.stdout)
    assert codes and set(codes) == {codes[0]}  # one code (shown in the card and in /join)
    code = codes[0]
    assert "cannot be shown again" in result.stdout
    assert "Maria Ruiz · +1 202 555 0199" in result.stdout

    stored = run.households()["12 Oak Street"]
    assert stored.access_code_hash == code_hash(code)
    assert stored.head_contact == "+12025550199"
    dump = run.dump()
    assert code_hash(code) in dump
    assert code not in dump and code.replace("-", "") not in dump

    listing = run("household", "list")
    assert listing.exit_code == 0
    assert "12 Oak Street" in listing.stdout and "Maria Ruiz" in listing.stdout
    assert not CODE.search(listing.stdout)  # never shown again


def test_an_unknown_community_lists_the_ones_that_exist(run: Admin) -> None:
    result = run("household", "add", "--community", "Maple", "--address", "1 Oak Street")
    assert result.exit_code == 1
    assert "no community exists yet" in one_error_line(result)

    run("community", "add", "Maple Grove")
    run("community", "add", "Birch Hill")
    result = run("household", "add", "--community", "Maple", "--address", "1 Oak Street")
    assert result.exit_code == 1
    assert one_error_line(result) == (
        "Error: There is no community named “Maple”. Communities: “Birch Hill”, “Maple Grove”."
    )
    assert run.households() == {}


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--head-contact", "+1 800 555 0199", "Toll-free numbers cannot receive text messages."),
        ("--head-contact", "maria@", "maria@example.org"),
        ("--head-name", "\u202eMaria", "invisible or control character"),
        ("--address", "   ", "The address is missing."),
    ],
)
def test_bad_household_values_are_refused_kindly(
    run: Admin, option: str, value: str, message: str
) -> None:
    run("community", "add", "Maple Grove")
    args = {"--community": "Maple Grove", "--address": "12 Oak Street", option: value}
    result = run("household", "add", *[part for pair in args.items() for part in pair])
    assert result.exit_code == 1
    assert message in one_error_line(result)
    assert run.households() == {}


def test_a_duplicate_household_is_refused(run: Admin) -> None:
    run("community", "add", "Maple Grove")
    run("household", "add", "--community", "Maple Grove", "--address", "12 Oak Street")
    result = run("household", "add", "--community", "Maple Grove", "--address", "12 oak street")
    assert result.exit_code == 1
    assert "already a household of “Maple Grove”" in one_error_line(result)
    assert not CODE.search(result.output)


def test_households_are_listed_per_community_with_claim_and_members(run: Admin) -> None:
    run("community", "add", "Maple Grove")
    run("community", "add", "Birch Hill")
    run("household", "add", "--community", "Maple Grove", "--address", "12 Oak Street")
    run("household", "add", "--community", "Birch Hill", "--address", "9 Elm Road")
    run.claim("12 Oak Street")

    everything = run("household", "list").stdout
    assert "9 Elm Road" in everything and "12 Oak Street" in everything
    [oak_line] = [line for line in everything.splitlines() if "12 Oak Street" in line]
    assert re.search(r"yes, 2026-11-24\s*│\s*1\s*│", oak_line)
    [elm_line] = [line for line in everything.splitlines() if "9 Elm Road" in line]
    assert re.search(r"│\s*no\s*│\s*0\s*│", elm_line)

    maple = run("household", "list", "--community", "maple grove").stdout
    assert "12 Oak Street" in maple and "9 Elm Road" not in maple

    unknown = run("household", "list", "--community", "Cedar")
    assert unknown.exit_code == 1 and "Cedar" in one_error_line(unknown)


def test_resetting_a_code_prints_a_new_one_and_voids_the_old(run: Admin) -> None:
    run("community", "add", "Maple Grove")
    first = run("household", "add", "--community", "Maple Grove", "--address", "12 Oak Street")
    old = CODE.findall(first.stdout)[0]

    result = run(
        "household", "reset-code", "--community", "Maple Grove", "--address", "12 OAK STREET"
    )
    assert result.exit_code == 0, result.output
    new = CODE.findall(result.stdout)[0]
    assert new != old
    assert "previous code no longer works" in result.stdout
    assert "already claimed" not in result.stdout
    assert run.households()["12 Oak Street"].access_code_hash == code_hash(new)
    assert code_hash(old) not in {h.access_code_hash for h in run.households().values()}


def test_resetting_a_claimed_household_says_so(run: Admin) -> None:
    run("community", "add", "Maple Grove")
    run("household", "add", "--community", "Maple Grove", "--address", "12 Oak Street")
    run.claim("12 Oak Street")
    result = run(
        "household", "reset-code", "--community", "Maple Grove", "--address", "12 Oak Street"
    )
    assert result.exit_code == 0
    assert CODE.search(result.stdout)
    assert "already claimed by its head on 2026-11-24" in result.stdout
    assert "Whoever types this code in chat becomes its head" in result.stdout


def test_resetting_an_unknown_household_is_refused(run: Admin) -> None:
    run("community", "add", "Maple Grove")
    result = run("household", "reset-code", "--community", "Maple Grove", "--address", "1 Elm")
    assert result.exit_code == 1
    assert one_error_line(result) == "Error: There is no household at “1 Elm” in “Maple Grove”."


# --- import --------------------------------------------------------------------------------

GOOD_AND_BAD = (
    "\ufeffCommunity,Address,Head Name,Head Email or Phone\n"
    "Maple Grove,12 Oak Street,Maria Ruiz,(202) 555-0199\n"
    "\n"
    "Maple Grove,14 Oak Street,,\n"
    "MAPLE GROVE,12 oak street,Someone Else,\n"
    "Cedar Park,1 Pine Way,Ann Lee,ann@example.org\n"
    ",15 Oak Street,,\n"
    "Maple Grove,,,\n"
    "Birch Hill,3 Elm Road,Bob,+1 800 555 0199\n"
    "Maple Grove,20 Oak Street,,\n"
    "\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_an_import_reports_every_row(run: Admin, tmp_path: Path) -> None:
    run("community", "add", "Maple Grove")
    run("household", "add", "--community", "Maple Grove", "--address", "20 Oak Street")
    before = run.households()["20 Oak Street"]
    csv_file = write(tmp_path / "households.csv", GOOD_AND_BAD)

    result = run("import", csv_file)

    assert result.exit_code == 1  # some rows were invalid
    out = result.stdout
    assert "Import finished: 3 created, 2 skipped, 3 invalid (8 rows)." in out
    assert "New communities: Cedar Park" in out

    def row(line: int) -> str:
        [found] = [text for text in out.splitlines() if re.match(rf"│ {line}\s+│", text)]
        return found

    assert "skipped" in row(5) and "The same household as line 2 of this file." in row(5)
    assert "invalid" in row(7) and "The community is missing." in row(7)
    assert "invalid" in row(8) and "The address is missing." in row(8)
    assert "invalid" in row(9) and "Toll-free numbers cannot receive text messages." in row(9)
    assert "skipped" in row(10) and "already a household of “Maple Grove”" in row(10)

    codes = {line: CODE.search(row(line)) for line in (2, 4, 6)}
    assert all(codes.values())
    assert "These codes cannot be shown again" in out

    stored = run.households()
    assert sorted(stored) == ["1 Pine Way", "12 Oak Street", "14 Oak Street", "20 Oak Street"]
    for line, address in ((2, "12 Oak Street"), (4, "14 Oak Street"), (6, "1 Pine Way")):
        match = codes[line]
        assert match is not None
        assert stored[address].access_code_hash == code_hash(match.group())
        assert match.group() not in run.dump()
    assert stored["20 Oak Street"].access_code_hash == before.access_code_hash
    assert stored["12 Oak Street"].head_contact == "+12025550199"
    assert run.communities() == ["Cedar Park", "Maple Grove"]  # no Birch Hill: its row failed


def test_importing_the_same_file_twice_creates_nothing_new(run: Admin, tmp_path: Path) -> None:
    csv_file = write(
        tmp_path / "h.csv",
        "community,address,head_name,head_contact\nMaple Grove,12 Oak Street,Maria Ruiz,\n",
    )
    first = run("import", csv_file)
    assert first.exit_code == 0, first.output
    assert "1 created, 0 skipped, 0 invalid" in first.stdout
    again = run("import", csv_file)
    assert again.exit_code == 0
    assert "0 created, 1 skipped, 0 invalid" in again.stdout
    assert not CODE.search(again.stdout)
    assert list(run.households()) == ["12 Oak Street"]


def test_a_bad_row_creates_neither_community_nor_household(run: Admin, tmp_path: Path) -> None:
    csv_file = write(
        tmp_path / "h.csv",
        "community,address,head email or phone\nCedar Park,1 Pine Way,+44 20 7946 0958\n",
    )
    result = run("import", csv_file)
    assert result.exit_code == 1
    assert "Import finished: 0 created, 0 skipped, 1 invalid (1 row)." in result.stdout
    assert "landline" in result.stdout
    assert run.communities() == [] and run.households() == {}


def test_codes_can_be_written_to_a_private_file(run: Admin, tmp_path: Path) -> None:
    csv_file = write(
        tmp_path / "h.csv",
        "community,address\nMaple Grove,12 Oak Street\nMaple Grove,\nMaple Grove,14 Oak Street\n",
    )
    codes_out = tmp_path / "codes.csv"
    result = run("import", csv_file, "--codes-out", codes_out)
    assert result.exit_code == 1  # line 3 is invalid
    assert stat.S_IMODE(codes_out.stat().st_mode) == 0o600
    lines = codes_out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "line,community,address,access code"
    written = [line.split(",") for line in lines[1:]]
    assert [(w[0], w[1], w[2]) for w in written] == [
        ("2", "Maple Grove", "12 Oak Street"),
        ("4", "Maple Grove", "14 Oak Street"),
    ]
    stored = run.households()
    for _line, _community, address, code in written:
        assert CODE.fullmatch(code) and code in result.stdout
        assert stored[address].access_code_hash == code_hash(code)


def test_an_existing_codes_file_is_never_overwritten(run: Admin, tmp_path: Path) -> None:
    csv_file = write(tmp_path / "h.csv", "community,address\nMaple Grove,12 Oak Street\n")
    codes_out = write(tmp_path / "codes.csv", "earlier codes\n")
    result = run("import", csv_file, "--codes-out", codes_out)
    assert result.exit_code == 2
    assert "already exists" in one_error_line(result)
    assert codes_out.read_text() == "earlier codes\n"
    assert run.households() == {}  # nothing imported without a place for the codes


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "There is no file"),
        (b"community,address\nMaple Grove,12 Oak Stra\xdfe\n", "is not UTF-8"),
        (b"", "The file is empty"),
        (b"name,street\nMaple Grove,12 Oak Street\n", "lacks the community and address columns"),
        (b"community,head name\nMaple Grove,Maria\n", "lacks the address column"),
    ],
)
def test_a_file_that_cannot_be_imported_is_a_friendly_error(
    run: Admin, tmp_path: Path, content: bytes | None, message: str
) -> None:
    csv_file = tmp_path / "households.csv"
    if content is not None:
        csv_file.write_bytes(content)
    result = run("import", csv_file)
    assert result.exit_code == 2
    assert message in one_error_line(result)
    assert result.stdout == ""
    assert run.communities() == [] and run.households() == {}


def test_a_directory_is_not_a_csv_file(run: Admin, tmp_path: Path) -> None:
    result = run("import", tmp_path)
    assert result.exit_code == 2
    assert "is a directory" in one_error_line(result)


def test_a_file_with_only_a_header_imports_nothing(run: Admin, tmp_path: Path) -> None:
    result = run("import", write(tmp_path / "h.csv", "community,address\n\n\n"))
    assert result.exit_code == 0
    assert "0 created, 0 skipped, 0 invalid (0 rows)" in result.stdout


def test_without_arguments_the_commands_are_listed(run: Admin) -> None:
    result = run()
    assert "community" in result.output and "household" in result.output
    assert "import" in result.output


class RoomForOneHousehold(MemoryUnitOfWorkFactory):
    """In-memory storage that fails every household write after the first."""

    def __call__(self) -> MemoryUnitOfWork:
        tx = super().__call__()
        tx.households = OneHouseholdOnly(tx)
        return tx


class OneHouseholdOnly(MemoryHouseholds):
    async def add(self, household: Household) -> None:
        if self._s.households:
            raise OSError("database or disk is full")
        await super().add(household)


def test_an_import_that_breaks_part_way_still_shows_the_codes_it_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INVITEBOT_SECRET_KEY", SECRET)
    monkeypatch.setenv("COLUMNS", "200")
    memory = RoomForOneHousehold()

    @asynccontextmanager
    async def opener(settings: Settings) -> AsyncIterator[UnitOfWorkFactory]:
        yield memory

    run = Admin(obj=AdminStorage(open=opener, clock=FakeClock()), sqlite_file=None, memory=memory)
    csv_file = write(
        tmp_path / "h.csv", "community,address\nMaple,1 Oak\nMaple,2 Oak\nMaple,3 Oak\n"
    )
    codes_out = tmp_path / "codes.csv"

    result = run("import", csv_file, "--codes-out", codes_out)

    assert result.exit_code == 1
    assert "database or disk is full" in one_error_line(result)
    stdout = result.stdout
    assert "Import stopped part-way: 1 created, 0 skipped, 0 invalid (1 of 3 rows)." in stdout
    [code] = CODE.findall(result.stdout)
    assert run.households()["1 Oak"].access_code_hash == code_hash(code)
    assert code in codes_out.read_text()
    assert list(run.households()) == ["1 Oak"]


def test_names_are_printed_as_typed_never_as_markup(run: Admin) -> None:
    result = run("community", "add", "[bold]Maple[/] Grove")
    assert result.exit_code == 0
    assert "Community [bold]Maple[/] Grove created." in result.stdout
    assert "[bold]Maple[/] Grove" in run("community", "list").stdout
    again = run("community", "add", "[BOLD]maple[/] grove")
    assert one_error_line(again) == (
        "Error: A community named “[bold]Maple[/] Grove” already exists."
    )


def test_a_bad_configuration_is_a_friendly_error(
    run: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INVITEBOT_INVITE_TTL_HOURS", "often")
    result = run("community", "list")
    assert result.exit_code == 2  # as every problem that keeps a command from starting
    assert "The configuration is not valid: INVITEBOT_INVITE_TTL_HOURS" in one_error_line(result)
