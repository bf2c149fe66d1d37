"""``invitebot admin household show`` and ``invitebot admin export``: the board's roster, read
only, from :mod:`bot.roster`. (``household list``, with its status and search, stays beside the
other household commands in :mod:`handlers.cli_admin`.)

These commands register themselves on the apps of :mod:`handlers.cli_admin`, which imports this
module at its end.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import stat
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Column, Table

from .cli_admin import (
    STATUS_COLOURS,
    _expected_head,
    _fail,
    _out,
    _run,
    admin_app,
    household_app,
    load_settings,
)

if TYPE_CHECKING:  # the core is imported by the commands that run it
    from bot.roster import ExportRow, HouseholdDetails

FORMATS = ("csv", "json")


# --- household show ------------------------------------------------------------------------


@household_app.command("show")
def household_show(
    ctx: typer.Context,
    community: Annotated[str, typer.Option(help="The community's name.")],
    address: Annotated[str, typer.Option(help="The household's address.")],
) -> None:
    """Show one household in full: people and contacts, open invitations, last 20 events."""
    from bot import roster

    settings = load_settings()
    details = _run(
        ctx,
        settings,
        lambda uow, clock: roster.show_household(
            uow,
            community_name=community,
            address=address,
            now=clock.now(),
            default_timezone=settings.default_timezone,
        ),
    )
    _print_household(_out(), details)


def _print_household(console: Console, details: HouseholdDetails) -> None:
    from bot.contacts import display_contact
    from bot.domain import HouseholdStatus
    from bot.messages import HISTORY_MORE

    household = details.household
    when = details.words.when
    lines = [
        f"[bold]{escape(household.address)}[/], {escape(details.community.name)}",
        f"Status: [{STATUS_COLOURS[household.status]}]{household.status.value}[/]",
    ]
    if household.claimed_at is not None:
        lines.append(f"Claimed: {when(household.claimed_at)}")
    if household.status is HouseholdStatus.INACTIVE:
        lines.append(f"Deactivated: {when(household.deactivated_at)}")
    if not household.claimed and (head := _expected_head(household)):
        lines.append(f"Expected head: {escape(head)}")
    console.print(Panel("\n".join(lines), title="Household", title_align="left", expand=False))

    people = [
        [
            person.member.name,
            person.member.role.value,
            person.member.email or "",
            display_contact(person.member.phone or ""),
            when(person.joined_at) if person.joined_at is not None else "",
            person.joined_via,
        ]
        for person in details.people
    ]
    if people:
        headers = ("Name", "Role", "Email", "Phone", "Joined", "How")
        console.print(_table("People", headers, people, whole={"Role", "Email", "Phone", "How"}))
    else:
        console.print("Nobody has joined yet.")

    invitations = [
        [
            invitation.invitee_name,
            display_contact(invitation.contact),
            details.inviters.get(invitation.invited_by, ""),
            when(invitation.created_at),
            when(invitation.expires_at),
            invitation.delivery_status.value,
        ]
        for invitation in details.open_invitations
    ]
    if invitations:
        headers = ("Invitee", "Contact", "Invited by", "Invited", "Expires", "Delivery")
        table = _table("Open invitations", headers, invitations, whole={"Contact", "Delivery"})
        console.print(table)
    else:
        console.print("No open invitations.")

    console.print()
    console.print("[bold]History[/] (newest first)")
    for line in details.history:
        console.print(escape(line), soft_wrap=True)
    if not details.history:
        console.print("Nothing has happened yet.")
    if details.more_history:
        console.print(HISTORY_MORE.format(count=len(details.history)))


def _table(
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    whole: Collection[str],
) -> Table:
    """A table of plain text (never read as markup). The ``whole`` columns are never cut
    short, however narrow the terminal (a contact missing its end is no contact); the others
    fold their words onto more lines rather than end in an ellipsis."""
    columns = [
        Column(header, no_wrap=True, min_width=max((len(row[i]) for row in rows), default=0))
        if header in whole
        else Column(header, overflow="fold")
        for i, header in enumerate(headers)
    ]
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    return table


# --- export --------------------------------------------------------------------------------


@admin_app.command("export")
def export(
    ctx: typer.Context,
    community: Annotated[str | None, typer.Option(help="Only this community's people.")] = None,
    format_: Annotated[
        str, typer.Option("--format", help="csv (opens in Excel) or json.", metavar="csv|json")
    ] = "csv",
    output: Annotated[
        Path | None,
        typer.Option(
            help="Write to this file (a new one readable only by you) instead of the screen."
        ),
    ] = None,
) -> None:
    """Export everyone in a household, one row each, as CSV or JSON.

    The columns: community, address, household_status, name, role, email, phone, joined_at,
    joined_via.

    CSV cells that begin with =, +, -, @, a tab or a carriage return get a ' in front, so a
    spreadsheet shows them as text instead of running them as formulas.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from bot import roster

    kind = format_.strip().casefold()
    if kind not in FORMATS:
        _fail(f"There is no export format “{format_}”. Use csv or json.", code=2)
    if output is not None:
        _check_writable(output)
    settings = load_settings()
    if output is None:
        rows = _run(
            ctx, settings, lambda uow, clock: roster.export_rows(uow, community_name=community)
        )
        _write_stdout(rows, kind)
        return

    stderr = Console(stderr=True)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=stderr,
        transient=True,
        disable=not stderr.is_terminal,
    )
    with progress:
        reading = progress.add_task("Reading households", total=None)

        def heard(done: int, total: int) -> None:
            progress.update(reading, completed=done, total=total)

        rows = _run(
            ctx,
            settings,
            lambda uow, clock: roster.export_rows(uow, community_name=community, on_progress=heard),
        )
        writing = progress.add_task("Writing", total=len(rows))
        _write_file(output, rows, kind, advance=lambda: progress.advance(writing))
    people = "person" if len(rows) == 1 else "people"
    households = roster.households_in(rows)
    _out().print(
        f"Exported {len(rows)} {people} from {households} "
        f"household{'' if households == 1 else 's'} to {escape(str(output))}.",
        soft_wrap=True,
    )


def _check_writable(path: Path) -> None:
    """Fail before reading anything when ``path`` surely cannot be written."""
    try:
        is_dir, parent_is_dir = path.is_dir(), path.parent.is_dir()
    except OSError as exc:  # a name too long, a directory that may not be searched
        _fail(f"Cannot write {path}: {exc.strerror or exc}.")
    if is_dir:
        _fail(f"Cannot write {path}: it is a directory.")
    if not parent_is_dir:
        _fail(f"Cannot write {path}: there is no directory {path.parent}.")


def _write_file(
    path: Path, rows: Sequence[ExportRow], kind: str, *, advance: Callable[[], None]
) -> None:
    """Write the export to ``path``: a new file readable and writable by its owner only, an
    existing one replaced (its permissions kept). A file that fails part-way is removed."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    except OSError as exc:
        _fail(f"Cannot write {path}: {exc.strerror or exc}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            _write(handle, rows, kind, advance=advance)
    except OSError as exc:
        path.unlink(missing_ok=True)
        _fail(f"Cannot write {path}: {exc.strerror or exc}.")


def _write_stdout(rows: Sequence[ExportRow], kind: str) -> None:
    stdout = typer.get_binary_stream("stdout")
    try:
        _write(stdout, rows, kind)
        stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (`| head`): nothing more to say, and nowhere to say it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
        raise typer.Exit(1) from None
    except OSError as exc:
        _fail(f"Cannot write the export: {exc.strerror or exc}.")


def _write(
    stream: BinaryIO,
    rows: Sequence[ExportRow],
    kind: str,
    *,
    advance: Callable[[], None] = lambda: None,
) -> None:
    """The rows as UTF-8 CSV (with a byte-order mark, so Excel reads it as UTF-8; ``\\r\\n``
    line ends; formulas neutralised) or as a JSON list of objects, one a line."""
    if kind == "csv":
        from bot.roster import EXPORT_COLUMNS

        stream.write(codecs.BOM_UTF8)
        line = _csv_line()
        stream.write(line(EXPORT_COLUMNS))
        for row in rows:
            stream.write(line(row.cells()))
            advance()
        return
    stream.write(b"[")
    for index, row in enumerate(rows):
        text = json.dumps(row.as_dict(), ensure_ascii=False)
        stream.write(f"{',' if index else ''}\n  {text}".encode())
        advance()
    stream.write(b"\n]\n" if rows else b"]\n")


def _csv_line() -> Callable[[Sequence[str]], bytes]:
    """A function making one CSV record (as UTF-8 bytes) of cells, each made spreadsheet-safe."""
    from bot.roster import spreadsheet_safe

    buffer = io.StringIO()
    writer = csv.writer(buffer)  # quotes what needs it; "\r\n" ends each record

    def line(cells: Sequence[str]) -> bytes:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([spreadsheet_safe(cell) for cell in cells])
        return buffer.getvalue().encode()

    return line
