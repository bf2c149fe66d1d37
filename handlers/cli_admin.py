"""``invitebot admin``: the HOA board's commands for communities, households and access codes.

The main CLI mounts this app with ``app.add_typer(admin_app, name="admin")``. Every command
reads the settings once, opens storage through the composition root and runs one use case of
:mod:`bot.admin`. Errors are one red line and a non-zero exit code, never a traceback.

Where storage comes from is a seam: a caller (a test, or another front end) may put an
:class:`AdminStorage` in the Typer context object (``CliRunner().invoke(admin_app, args,
obj=AdminStorage(...))``); without one, :func:`handlers.bootstrap.open_database` is used.
"""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TextIO, TypeAlias, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Column, Table

from .cli_errors import load_settings, startup_problem
from .cli_errors import secret_key as _configured_secret_key
from .terminal import printable

# The core (phone numbers, email addresses, the use cases) is imported by the commands that
# run it: `invitebot --help` should not pay for it (docs/performance.md, "CLI startup").
if TYPE_CHECKING:
    from bot.admin import IssuedCode, RowOutcome
    from bot.domain import Household
    from bot.ports import Clock, UnitOfWorkFactory

    from .settings import Settings

__all__ = ["AdminStorage", "admin_app", "load_settings", "open_configured_storage"]

_T = TypeVar("_T")

StorageOpener: TypeAlias = "Callable[[Settings], AbstractAsyncContextManager[UnitOfWorkFactory]]"


@asynccontextmanager
async def open_configured_storage(settings: Settings) -> AsyncIterator[UnitOfWorkFactory]:
    """The configured database's unit-of-work factory, via the composition root."""
    # Imported here: the composition root imports the whole application, which the main CLI
    # (importing this module) should not pay for before a command actually runs.
    from .bootstrap import open_database

    async with open_database(settings) as database:
        yield database.uow


def _system_clock() -> Clock:
    from bot.context import SystemClock

    return SystemClock()


@dataclass(frozen=True)
class AdminStorage:
    """How the admin commands reach storage, and which clock they read."""

    open: StorageOpener = open_configured_storage
    clock: Clock = field(default_factory=_system_clock)


admin_app = typer.Typer(
    help="Board tools: communities, households and the heads' access codes.",
    no_args_is_help=True,
)
community_app = typer.Typer(help="Communities (one per HOA).", no_args_is_help=True)
household_app = typer.Typer(help="Households and their heads' access codes.", no_args_is_help=True)
admin_app.add_typer(community_app, name="community")
admin_app.add_typer(household_app, name="household")


STATUS_COLOURS = {"active": "green", "not activated": "yellow", "inactive": "red"}
"""By :class:`bot.domain.HouseholdStatus` (a ``StrEnum``: its members are these strings)."""


def _code_warning(count: int) -> str:
    these, it, codes = ("This", "it", "code") if count == 1 else ("These", "one", "codes")
    return (
        f"{these} {codes} cannot be shown again: the database keeps only a fingerprint. "
        f"If {it} is lost, issue a new one with: invitebot admin household reset-code"
    )


# --- plumbing ----------------------------------------------------------------------------


def _out() -> Console:
    return Console(highlight=False, emoji=False)


def _fail(message: str, *, code: int = 1) -> NoReturn:
    Console(stderr=True, highlight=False, emoji=False).print(
        f"[bold red]Error:[/] [red]{escape(printable(message))}[/]", soft_wrap=True
    )
    raise typer.Exit(code)


def _secret_key(settings: Settings) -> bytes:
    """The secret key, or one line saying why there is none (exit code 2, as every problem
    with the settings)."""
    return _configured_secret_key(settings)


def _run(
    ctx: typer.Context,
    settings: Settings,
    work: Callable[[UnitOfWorkFactory, Clock], Awaitable[_T]],
) -> _T:
    """Run one use case against storage; an :class:`AdminError` becomes a red line (exit
    code 1), a database that is behind or cannot be reached another (exit code 2)."""
    import asyncio

    from bot.admin import AdminError

    storage = ctx.find_object(AdminStorage) or AdminStorage()

    async def main() -> _T:
        async with storage.open(settings) as uow_factory:
            return await work(uow_factory, storage.clock)

    try:
        return asyncio.run(main())
    except AdminError as exc:
        _fail(exc.message)
    except Exception as exc:
        if (problem := startup_problem(exc)) is not None:
            _fail(problem, code=2)
        if settings.log_level.upper() == "DEBUG":
            raise
        _fail(
            f"{exc} ({type(exc).__name__}; set INVITEBOT_LOG_LEVEL=DEBUG for the details)"
            if str(exc)
            else f"Unexpected {type(exc).__name__} (set INVITEBOT_LOG_LEVEL=DEBUG for details)"
        )


def _expected_head(household: Household) -> str:
    """Who the board expects to claim a household: "Maria Ruiz · +1 202 555 0199"."""
    from bot.contacts import display_contact

    parts = (household.head_name, display_contact(household.head_contact))
    return " · ".join(part for part in parts if part)


def _print_code(console: Console, issued: IssuedCode, *, title: str) -> None:
    household = issued.household
    lines = [
        f"[bold]{escape(household.address)}[/], {escape(issued.community.name)}",
    ]
    if head := _expected_head(household):
        lines.append(f"Expected head: {escape(head)}")
    lines += [
        "",
        f"Access code:  [bold reverse] {issued.code} [/]",
        "",
        f"Give it to the head of the household, who claims it with: /join {issued.code}",
    ]
    console.print(Panel("\n".join(lines), title=title, title_align="left", expand=False))
    console.print(f"[yellow]{_code_warning(1)}[/]", soft_wrap=True)


# --- communities -------------------------------------------------------------------------


@community_app.command("add")
def community_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The community's name, e.g. 'Maple Grove'.")],
    contact: Annotated[
        str,
        typer.Option(help="How residents reach the HOA board (shown to them by the bot)."),
    ] = "",
    timezone: Annotated[
        str,
        typer.Option(
            help="The community's time zone, an IANA name such as America/New_York: every "
            "time residents read is shown in it. Default: INVITEBOT_DEFAULT_TIMEZONE."
        ),
    ] = "",
) -> None:
    """Create a community."""
    from bot import admin

    settings = load_settings()
    community = _run(
        ctx,
        settings,
        lambda uow, clock: admin.add_community(
            uow, name=name, contact=contact, clock=clock, timezone=timezone
        ),
    )
    zone = community.timezone or f"{settings.default_timezone} (the default)"
    _out().print(f"Community [bold]{escape(community.name)}[/] created. Time zone: {escape(zone)}.")


@community_app.command("list")
def community_list(ctx: typer.Context) -> None:
    """List the communities."""
    from bot import admin

    settings = load_settings()
    communities = _run(ctx, settings, lambda uow, clock: admin.list_communities(uow))
    console = _out()
    if not communities:
        console.print("No communities yet. Create one with: invitebot admin community add NAME")
        return
    table = Table("Community", "HOA contact", "Time zone", "Created")
    for community in communities:
        created = community.created_at.date().isoformat() if community.created_at else ""
        zone = community.timezone or f"{settings.default_timezone} (default)"
        table.add_row(escape(community.name), escape(community.contact), escape(zone), created)
    console.print(table)


# --- households ----------------------------------------------------------------------------


@household_app.command("add")
def household_add(
    ctx: typer.Context,
    community: Annotated[str, typer.Option(help="The community's name.")],
    address: Annotated[str, typer.Option(help="The household's address, e.g. '12 Oak Street'.")],
    head_name: Annotated[str, typer.Option(help="Who is expected to claim it.")] = "",
    head_contact: Annotated[
        str, typer.Option(help="The expected head's email or mobile number.")
    ] = "",
) -> None:
    """Create a household and print its head's access code (once)."""
    from bot import admin

    settings = load_settings()
    secret_key = _secret_key(settings)
    issued = _run(
        ctx,
        settings,
        lambda uow, clock: admin.add_household(
            uow,
            community_name=community,
            address=address,
            head_name=head_name,
            head_contact=head_contact,
            secret_key=secret_key,
            clock=clock,
            region=settings.default_region,
        ),
    )
    _print_code(_out(), issued, title="Household created")


@household_app.command("list")
def household_list(
    ctx: typer.Context,
    community: Annotated[str | None, typer.Option(help="Only this community's households.")] = None,
    status: Annotated[
        str | None,
        typer.Option(help="Only households with this status: active, not-activated or inactive."),
    ] = None,
    search: Annotated[
        str | None,
        typer.Option(
            help="Only households whose address, head or member names contain TEXT "
            "(any case, with or without accents).",
            metavar="TEXT",
        ),
    ] = None,
) -> None:
    """List households: community, address, status, expected head, claimed or not, members."""
    from bot import roster
    from bot.admin import AdminError

    try:
        wanted = roster.parse_status(status) if status is not None else None
    except AdminError as exc:
        _fail(exc.message, code=2)
    settings = load_settings()
    rows = _run(
        ctx,
        settings,
        lambda uow, clock: roster.list_households(
            uow, community_name=community, status=wanted, search=search or ""
        ),
    )
    console = _out()
    if not rows:
        filtered = wanted is not None or (search or "").strip()
        console.print("No households match." if filtered else "No households yet.")
        return
    status_column = Column("Status", no_wrap=True)
    table = Table("Community", "Address", status_column, "Expected head", "Claimed", "Members")
    for row in rows:
        household = row.household
        claimed = "no"
        if household.claimed:
            claimed = "yes"
            if household.claimed_at is not None:
                claimed += f", {household.claimed_at.date().isoformat()}"
        table.add_row(
            escape(row.community_name),
            escape(household.address),
            f"[{STATUS_COLOURS[household.status]}]{household.status.value}[/]",
            escape(_expected_head(household)),
            claimed,
            str(row.members),
        )
    console.print(table)


@household_app.command("reset-code")
def household_reset_code(
    ctx: typer.Context,
    community: Annotated[str, typer.Option(help="The community's name.")],
    address: Annotated[str, typer.Option(help="The household's address.")],
) -> None:
    """Issue a new access code for a household; the old one stops working."""
    from bot import admin

    settings = load_settings()
    secret_key = _secret_key(settings)
    issued = _run(
        ctx,
        settings,
        lambda uow, clock: admin.reset_access_code(
            uow, community_name=community, address=address, secret_key=secret_key, clock=clock
        ),
    )
    console = _out()
    _print_code(console, issued, title="New access code")
    console.print("The previous code no longer works.")
    if issued.household.claimed:
        when = issued.household.claimed_at
        console.print(
            "[yellow]Note: this household was already claimed by its head"
            f"{f' on {when.date().isoformat()}' if when else ''}. Whoever types this code in "
            "chat becomes its head (a member of it, or someone new); the head before stays a "
            "member and is told.[/]",
        )


# --- import --------------------------------------------------------------------------------


@admin_app.command("import")
def import_csv(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="A CSV file with the columns: community, address, head name, head email or phone.",
            show_default=False,
        ),
    ],
    codes_out: Annotated[
        Path | None,
        typer.Option(
            help="Also write the new access codes to this CSV file (created, readable only "
            "by you). It must not exist yet."
        ),
    ] = None,
) -> None:
    """Create the households listed in a CSV file, each row on its own.

    Communities named in the file are created when they do not exist. Rows whose household
    exists already are skipped; rows with a missing or unusable value are reported with their
    line number. Exits with 1 when any row was invalid.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from bot import admin
    from bot.admin import RowStatus

    rows = _read_rows(file)
    settings = load_settings()
    secret_key = _secret_key(settings)
    codes_file = _open_codes_file(codes_out) if codes_out is not None else None
    outcomes: list[RowOutcome] = []
    console = _out()
    progress = Progress(
        TextColumn("Importing"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task = progress.add_task("import", total=len(rows))

    def heard(outcome: RowOutcome) -> None:
        outcomes.append(outcome)
        if codes_file is not None and outcome.status is RowStatus.CREATED:
            _write_code_row(codes_file, outcome)
        progress.advance(task)

    try:
        with progress:
            _run(
                ctx,
                settings,
                lambda uow, clock: admin.import_households(
                    uow,
                    rows,
                    secret_key=secret_key,
                    clock=clock,
                    region=settings.default_region,
                    on_row=heard,
                ),
            )
    except (typer.Exit, KeyboardInterrupt):
        # Stopped part-way: the rows done so far are committed, so show their codes.
        if outcomes:
            _print_import_summary(console, outcomes, total=len(rows), codes_out=codes_out)
        raise
    finally:
        if codes_file is not None:
            codes_file.close()
    _print_import_summary(console, outcomes, total=len(rows), codes_out=codes_out)
    if any(o.status is RowStatus.INVALID for o in outcomes):
        raise typer.Exit(1)


def _read_rows(file: Path) -> list[tuple[int, dict[str, str]]]:
    from bot import admin
    from bot.admin import AdminError

    try:
        data = file.read_bytes()
    except FileNotFoundError:
        _fail(f"There is no file {file}.", code=2)
    except IsADirectoryError:
        _fail(f"{file} is a directory, not a CSV file.", code=2)
    except OSError as exc:
        _fail(f"Cannot read {file}: {exc.strerror or exc}.", code=2)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        _fail(f"{file} is not UTF-8 text. Save it as 'CSV UTF-8' and try again.", code=2)
    try:
        return admin.read_household_csv(text)
    except AdminError as exc:
        _fail(f"{file}: {exc.message}", code=2)


def _open_codes_file(path: Path) -> TextIO:
    """A new file for the codes, readable and writable by its owner only."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    except FileExistsError:
        _fail(f"{path} already exists; choose a new file for the codes.", code=2)
    except OSError as exc:
        _fail(f"Cannot create {path}: {exc.strerror or exc}.", code=2)
    os.fchmod(fd, stat.S_IRUSR | stat.S_IWUSR)  # whatever the umask says
    handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
    handle.write("line,community,address,access code\r\n")
    handle.flush()
    return handle


def _write_code_row(handle: TextIO, outcome: RowOutcome) -> None:
    csv.writer(handle).writerow([outcome.line, outcome.community, outcome.address, outcome.code])
    handle.flush()  # each code is on disk as soon as its row is committed


def _print_import_summary(
    console: Console, outcomes: list[RowOutcome], *, total: int, codes_out: Path | None
) -> None:
    from bot.admin import RowStatus

    by_status = {status: [o for o in outcomes if o.status is status] for status in RowStatus}
    created, skipped, invalid = (
        by_status[RowStatus.CREATED],
        by_status[RowStatus.SKIPPED],
        by_status[RowStatus.INVALID],
    )
    stopped = len(outcomes) < total
    heading = "Import stopped part-way" if stopped else "Import finished"
    rows = f"{len(outcomes)} of {total}" if stopped else f"{total}"
    console.print(
        f"[bold]{heading}:[/] [green]{len(created)} created[/], "
        f"[yellow]{len(skipped)} skipped[/], [red]{len(invalid)} invalid[/] "
        f"({rows} row{'' if total == 1 else 's'}).",
        soft_wrap=True,
    )
    new_communities = [o.community for o in outcomes if o.new_community]
    if new_communities:
        console.print("New communities: " + ", ".join(escape(n) for n in new_communities))

    if skipped or invalid:
        table = Table("Line", "Status", "Community", "Address", "Reason", title="Rows not created")
        for outcome in sorted(skipped + invalid, key=lambda o: o.line):
            colour = "yellow" if outcome.status is RowStatus.SKIPPED else "red"
            table.add_row(
                str(outcome.line),
                f"[{colour}]{outcome.status.value}[/]",
                escape(outcome.community),
                escape(outcome.address),
                escape(outcome.reason),
            )
        console.print(table)

    if created:
        table = Table("Line", "Community", "Address", "Access code", title="New access codes")
        for outcome in created:
            table.add_row(
                str(outcome.line),
                escape(outcome.community),
                escape(outcome.address),
                f"[bold]{outcome.code}[/]",
            )
        console.print(table)
        if codes_out is not None:
            console.print(f"The codes are also in {escape(str(codes_out))} (readable only by you).")
        console.print(f"[yellow]{_code_warning(len(created))}[/]", soft_wrap=True)


# The board's other commands register themselves on the apps above.
from handlers import (  # noqa: E402
    cli_board,  # noqa: F401  (household deactivate/activate, member remove)
    cli_community,  # noqa: F401  (community set)
    cli_roster,  # noqa: F401  (household show, export)
    cli_webhooks,  # noqa: F401  (webhook test, secret)
)
