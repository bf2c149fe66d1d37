"""The HOA board's use cases: communities, households and the heads' access codes.

Each use case opens its own unit of work, asks the domain, and commits; nothing here knows
which database or command line is on the other side. Failures raise :class:`AdminError`
subclasses whose message is a friendly sentence for the board.

An access code is shown exactly once, in the :class:`IssuedCode` a use case returns; storage
only ever sees its keyed hash.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ParamSpec, TypeVar

from .contacts import ContactError, normalise_contact, normalise_name, normalise_text
from .domain import Community, Household
from .history import access_code_reset
from .language import iana_name, zone_named
from .ports import Clock, UnitOfWork, UnitOfWorkFactory
from .secrets import hash_access_code, new_access_code, normalise_access_code

MAX_COMMUNITY_NAME_LENGTH = 100
MAX_COMMUNITY_CONTACT_LENGTH = 200
MAX_ADDRESS_LENGTH = 200

_P = ParamSpec("_P")
_R = TypeVar("_R")

# Attempts at drawing a code whose hash no other household has (60 random bits: a second
# attempt is already a curiosity).
_CODE_ATTEMPTS = 5


class AdminError(ValueError):
    """A board request that cannot be carried out; ``str(error)`` says why, kindly."""

    reason = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(AdminError):
    """A value the board typed (name, address, contact...) is not usable."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class DuplicateCommunity(AdminError):
    reason = "duplicate_community"


class UnknownCommunity(AdminError):
    """No community has that name; ``known`` lists the names that exist."""

    reason = "unknown_community"

    def __init__(self, name: str, *, known: list[str]) -> None:
        if known:
            listing = ", ".join(f"“{n}”" for n in known)
            message = f"There is no community named “{name}”. Communities: {listing}."
        else:
            message = f"There is no community named “{name}”, and no community exists yet."
        super().__init__(message)
        self.name = name
        self.known = known


class DuplicateHousehold(AdminError):
    reason = "duplicate_household"


class UnknownHousehold(AdminError):
    reason = "unknown_household"


class UnreadableCsv(AdminError):
    """A household CSV file that cannot be read as such."""

    reason = "unreadable_csv"


class MissingColumns(UnreadableCsv):
    """A household CSV file without a header naming the required columns."""

    reason = "missing_columns"


@dataclass(frozen=True)
class IssuedCode:
    """A household and its new access code in plain text: show it once, never store it."""

    household: Household
    community: Community
    code: str


@dataclass(frozen=True)
class HouseholdRow:
    """A household as the board's listing shows it."""

    household: Household
    community_name: str
    members: int
    member_names: tuple[str, ...] = ()
    """The current members' names, head first (what the roster's search looks at)."""


class RowStatus(StrEnum):
    CREATED = "created"
    SKIPPED = "skipped"
    INVALID = "invalid"


@dataclass(frozen=True)
class RowOutcome:
    """What happened to one row of an import.

    ``line`` is the row's line number in the file; ``code`` is the plaintext access code of a
    created household (empty otherwise); ``reason`` says why a row was skipped or invalid;
    ``new_community`` is true when the row created its community.
    """

    line: int
    status: RowStatus
    reason: str = ""
    code: str = ""
    address: str = ""
    community: str = ""
    new_community: bool = False


@dataclass
class ImportReport:
    """Every row's outcome, in file order."""

    outcomes: list[RowOutcome] = field(default_factory=list)

    def with_status(self, status: RowStatus) -> list[RowOutcome]:
        return [o for o in self.outcomes if o.status is status]

    @property
    def created(self) -> list[RowOutcome]:
        return self.with_status(RowStatus.CREATED)

    @property
    def skipped(self) -> list[RowOutcome]:
        return self.with_status(RowStatus.SKIPPED)

    @property
    def invalid(self) -> list[RowOutcome]:
        return self.with_status(RowStatus.INVALID)

    @property
    def new_communities(self) -> list[str]:
        return [o.community for o in self.outcomes if o.new_community]


# --- communities -------------------------------------------------------------------------


async def add_community(
    uow_factory: UnitOfWorkFactory,
    *,
    name: str,
    contact: str = "",
    clock: Clock,
    timezone: str = "",
) -> Community:
    """Create a community. ``contact`` is how its members reach the HOA (free text);
    ``timezone`` the IANA name of its time zone ("" for the server's default).

    Raises :class:`InvalidInput` for an unusable name, contact or time zone and
    :class:`DuplicateCommunity` when the name (ignoring case) is taken.
    """
    name = _community_name(name)
    contact = _optional_text(
        contact,
        max_length=MAX_COMMUNITY_CONTACT_LENGTH,
        what="HOA contact",
        example="board@maplegrove-hoa.org",
    )
    timezone = checked_timezone(timezone) if timezone.strip() else ""
    async with uow_factory() as uow:
        existing = await uow.communities.get_by_name(name)
        if existing is not None:
            raise DuplicateCommunity(f"A community named “{existing.name}” already exists.")
        community = Community(name=name, contact=contact, created_at=clock.now(), timezone=timezone)
        await uow.communities.add(community)
        await uow.commit()
    return community


def checked_timezone(text: str) -> str:
    """An IANA time zone name as the board typed it (``America/Los_Angeles``), checked:
    :class:`InvalidInput` for anything else (``PST``, ``Pacific``, a typo)."""
    try:
        zone_named(text)  # a name that is listed and can be loaded
        return iana_name(text)
    except ValueError as error:
        raise InvalidInput(
            f"{error}. The list: https://en.wikipedia.org/wiki/List_of_tz_database_time_zones",
            reason="timezone",
        ) from None


async def set_timezone(
    uow_factory: UnitOfWorkFactory, *, community_name: str, timezone: str
) -> Community:
    """Give the community a time zone (an IANA name), or with "" the server's default. Every
    time its people read is shown in it from their next message on; nothing stored changes
    (times are kept in UTC)."""
    timezone = checked_timezone(timezone) if timezone.strip() else ""
    async with uow_factory() as uow:
        community = await community_named(uow, community_name)
        community.timezone = timezone
        await uow.communities.update(community)
        await uow.commit()
    return community


async def list_communities(uow_factory: UnitOfWorkFactory) -> list[Community]:
    """Every community, by name."""
    async with uow_factory() as uow:
        return _by_name(await uow.communities.list())


# --- households ----------------------------------------------------------------------------


async def add_household(
    uow_factory: UnitOfWorkFactory,
    *,
    community_name: str,
    address: str,
    head_name: str = "",
    head_contact: str = "",
    secret_key: bytes,
    clock: Clock,
    region: str = "US",
) -> IssuedCode:
    """Create a household in an existing community and issue its head's access code.

    ``head_name`` and ``head_contact`` (an email address or mobile number) describe who is
    expected to claim it; both are optional. Raises :class:`InvalidInput`,
    :class:`UnknownCommunity` or :class:`DuplicateHousehold`.
    """
    details = _HouseholdDetails.parse(
        community=community_name,
        address=address,
        head_name=head_name,
        head_contact=head_contact,
        region=region,
    )
    async with uow_factory() as uow:
        community = await _community_named(uow, details.community)
        issued = await _create_household(
            uow, community=community, details=details, secret_key=secret_key, clock=clock
        )
        await uow.commit()
    return issued


async def list_households(
    uow_factory: UnitOfWorkFactory, *, community_name: str | None = None
) -> list[HouseholdRow]:
    """Households with their community's name, member count and members' names, by
    community then address.

    Raises :class:`UnknownCommunity` when ``community_name`` names no community.
    """
    async with uow_factory() as uow:
        if community_name is not None:
            community = await _community_named(uow, _community_name(community_name))
            communities = [community]
            households = list(await uow.households.list(community_id=community.id))
        else:
            communities = list(await uow.communities.list())
            households = list(await uow.households.list())
        names = {c.id: c.name for c in communities}
        rows = []
        for h in households:
            members = await uow.members.list_for_household(h.id)
            rows.append(
                HouseholdRow(
                    household=h,
                    community_name=names.get(h.community_id, ""),
                    members=len(members),
                    member_names=tuple(m.name for m in members),
                )
            )
    rows.sort(key=lambda r: (r.community_name.casefold(), r.household.address.casefold()))
    return rows


async def reset_access_code(
    uow_factory: UnitOfWorkFactory,
    *,
    community_name: str,
    address: str,
    secret_key: bytes,
    clock: Clock,
) -> IssuedCode:
    """Issue a new access code for a household; the old one stops working at once.

    Allowed for a claimed household too (``issued.household.claimed`` tells): the board may
    need to hand the household to someone else. Raises :class:`UnknownCommunity` or
    :class:`UnknownHousehold`.
    """
    community_name, address = _community_name(community_name), _address(address)
    async with uow_factory() as uow:
        community = await _community_named(uow, community_name)
        household = await uow.households.find_by_address(community_id=community.id, address=address)
        if household is None:
            raise UnknownHousehold(f"There is no household at “{address}” in “{community.name}”.")
        code, household.access_code_hash = await _fresh_code(uow, secret_key=secret_key)
        await uow.households.update(household)
        await uow.events.append(access_code_reset(household, at=clock.now()))
        await uow.commit()
    return IssuedCode(household=household, community=community, code=code)


# --- import --------------------------------------------------------------------------------

# Header cells are compared after case folding and squeezing spaces, underscores and dashes.
_HEADER_ALIASES: dict[str, str] = {
    "community": "community",
    "community name": "community",
    "address": "address",
    "head name": "head_name",
    "head": "head_name",
    "head email or phone": "head_contact",
    "head phone or email": "head_contact",
    "head contact": "head_contact",
    "head email": "head_contact",
    "head phone": "head_contact",
}
REQUIRED_COLUMNS = ("community", "address")
_ROW_KEYS = ("community", "address", "head_name", "head_contact")
_HEADER_SQUEEZE = re.compile(r"[\s_\-]+")


def read_household_csv(text: str) -> list[tuple[int, dict[str, str]]]:
    """The data rows of a household CSV file, each with its line number in the file.

    The first non-blank line is the header; it must name ``community`` and ``address``, and
    may name ``head name`` and ``head email or phone`` (``head_name`` / ``head_contact`` work
    too). Each row maps ``community``, ``address``, ``head_name`` and ``head_contact`` to its
    cell (empty when absent). A leading byte-order mark, blank lines and unknown columns are
    ignored; a header without comma but with semicolons or tabs sets the delimiter.
    Raises :class:`MissingColumns` when the header lacks a required column and
    :class:`UnreadableCsv` when the file is not valid CSV.
    """
    text = text.removeprefix("\ufeff")
    first = next((line for line in io.StringIO(text) if line.strip()), "")
    if not first:
        raise MissingColumns(
            "The file is empty. Its first line should be: "
            "community,address,head name,head email or phone"
        )
    delimiter = ","
    if "," not in first:
        delimiter = ";" if ";" in first else "\t" if "\t" in first else ","

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns: dict[str, int] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    line = 1  # where the next record starts: a quoted cell may span several lines
    try:
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if columns is None:
                columns = _header_columns(cells)
                continue
            rows.append((start, {key: _cell(cells, columns.get(key)) for key in _ROW_KEYS}))
    except csv.Error as exc:
        raise UnreadableCsv(f"Line {line} of the file is not valid CSV: {exc}.") from exc
    return rows


async def import_households(
    uow_factory: UnitOfWorkFactory,
    rows: Iterable[tuple[int, Mapping[str, str]]],
    *,
    secret_key: bytes,
    clock: Clock,
    region: str,
    on_row: Callable[[RowOutcome], None] | None = None,
) -> ImportReport:
    """Create the households of ``rows`` (see :func:`read_household_csv`), one transaction each.

    A row names a community (created when it does not exist yet), an address, and optionally
    the expected head's name and email or phone. A row is *skipped* when its household
    already exists, in storage or earlier in ``rows``, and *invalid* when a value is missing or
    unusable; neither changes anything. ``on_row`` hears each outcome as soon as it is final,
    so a caller can keep the codes even if a later row fails unexpectedly.
    """
    report = ImportReport()
    created_on: dict[tuple[str, str], int] = {}
    for line, row in rows:
        outcome = await _import_row(
            uow_factory,
            line,
            row,
            created_on=created_on,
            secret_key=secret_key,
            clock=clock,
            region=region,
        )
        report.outcomes.append(outcome)
        if on_row is not None:
            on_row(outcome)
    return report


async def _import_row(
    uow_factory: UnitOfWorkFactory,
    line: int,
    row: Mapping[str, str],
    *,
    created_on: dict[tuple[str, str], int],
    secret_key: bytes,
    clock: Clock,
    region: str,
) -> RowOutcome:
    raw_community = row.get("community", "").strip()
    raw_address = row.get("address", "").strip()
    try:
        details = _HouseholdDetails.parse(
            community=row.get("community", ""),
            address=row.get("address", ""),
            head_name=row.get("head_name", ""),
            head_contact=row.get("head_contact", ""),
            region=region,
        )
    except InvalidInput as exc:
        return RowOutcome(
            line=line,
            status=RowStatus.INVALID,
            reason=exc.message,
            address=raw_address,
            community=raw_community,
        )

    key = (details.community.casefold(), details.address.casefold())
    if key in created_on:
        return RowOutcome(
            line=line,
            status=RowStatus.SKIPPED,
            address=details.address,
            community=details.community,
            reason=f"The same household as line {created_on[key]} of this file.",
        )

    async with uow_factory() as uow:
        community = await uow.communities.get_by_name(details.community)
        new_community = community is None
        if community is None:
            community = Community(name=details.community, created_at=clock.now())
            await uow.communities.add(community)
        try:
            issued = await _create_household(
                uow, community=community, details=details, secret_key=secret_key, clock=clock
            )
        except DuplicateHousehold as exc:
            return RowOutcome(
                line=line,
                status=RowStatus.SKIPPED,
                reason=exc.message,
                address=details.address,
                community=community.name,
            )
        await uow.commit()
    created_on[key] = line
    return RowOutcome(
        line=line,
        status=RowStatus.CREATED,
        code=issued.code,
        address=details.address,
        community=community.name,
        new_community=new_community,
    )


# --- shared steps --------------------------------------------------------------------------


@dataclass(frozen=True)
class _HouseholdDetails:
    """A household's fields, checked and normalised before any storage is touched."""

    community: str
    address: str
    head_name: str
    head_contact: str

    @classmethod
    def parse(
        cls, *, community: str, address: str, head_name: str, head_contact: str, region: str
    ) -> _HouseholdDetails:
        if not community.strip():
            raise InvalidInput("The community is missing.", reason="missing_community")
        if not address.strip():
            raise InvalidInput("The address is missing.", reason="missing_address")
        return cls(
            community=_community_name(community),
            address=_address(address),
            head_name=_head_name(head_name),
            head_contact=_head_contact(head_contact, region=region),
        )


async def _create_household(
    uow: UnitOfWork,
    *,
    community: Community,
    details: _HouseholdDetails,
    secret_key: bytes,
    clock: Clock,
) -> IssuedCode:
    existing = await uow.households.find_by_address(
        community_id=community.id, address=details.address
    )
    if existing is not None:
        raise DuplicateHousehold(
            f"“{existing.address}” is already a household of “{community.name}”."
        )
    code, code_hash = await _fresh_code(uow, secret_key=secret_key)
    household = Household(
        community_id=community.id,
        address=details.address,
        access_code_hash=code_hash,
        head_name=details.head_name,
        head_contact=details.head_contact,
        created_at=clock.now(),
    )
    await uow.households.add(household)
    return IssuedCode(household=household, community=community, code=code)


async def _fresh_code(uow: UnitOfWork, *, secret_key: bytes) -> tuple[str, str]:
    """A new access code and its stored hash, unused by any other household."""
    for _ in range(_CODE_ATTEMPTS):
        code = new_access_code()
        canonical = normalise_access_code(code)
        assert canonical is not None, "new_access_code made a code it cannot read back"
        code_hash = hash_access_code(canonical, secret_key=secret_key)
        if await uow.households.get_by_code_hash(code_hash) is None:
            return code, code_hash
    raise RuntimeError("could not draw an unused access code")  # pragma: no cover


async def community_named(uow: UnitOfWork, name: str) -> Community:
    """The community called ``name`` (as typed: checked and normalised first), or
    :class:`UnknownCommunity` naming the ones there are."""
    return await _community_named(uow, _community_name(name))


async def _community_named(uow: UnitOfWork, name: str) -> Community:
    community = await uow.communities.get_by_name(name)
    if community is None:
        known = [c.name for c in _by_name(await uow.communities.list())]
        raise UnknownCommunity(name, known=known)
    return community


def _by_name(communities: Iterable[Community]) -> list[Community]:
    return sorted(communities, key=lambda c: (c.name.casefold(), c.name))


def _community_name(text: str) -> str:
    name = _checked(
        normalise_text,
        text,
        max_length=MAX_COMMUNITY_NAME_LENGTH,
        what="community name",
        example="Maple Grove",
    )
    if not any(char.isalnum() for char in name):
        raise InvalidInput(
            "A community name needs a letter or a digit. For example: Maple Grove.",
            reason="no_letter",
        )
    return name


def _address(text: str) -> str:
    return _checked(
        normalise_text,
        text,
        max_length=MAX_ADDRESS_LENGTH,
        what="address",
        example="12 Oak Street",
    )


def _head_name(text: str) -> str:
    return _checked(normalise_name, text) if text.strip() else ""


def _head_contact(text: str, *, region: str) -> str:
    if not text.strip():
        return ""
    _method, contact = _checked(normalise_contact, text, region=region)
    return contact


def _optional_text(text: str, *, max_length: int, what: str, example: str) -> str:
    if not text.strip():
        return ""
    return _checked(normalise_text, text, max_length=max_length, what=what, example=example)


def _checked(check: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """``check(...)``, with a :class:`ContactError` turned into :class:`InvalidInput`."""
    try:
        return check(*args, **kwargs)
    except ContactError as exc:
        raise InvalidInput(exc.message, reason=exc.reason) from exc


def _header_columns(cells: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        label = _HEADER_SQUEEZE.sub(" ", unicodedata.normalize("NFKC", cell)).strip().casefold()
        key = _HEADER_ALIASES.get(label)
        if key is None:
            continue
        if key in columns:
            raise MissingColumns(
                f"The header names the {key.replace('_', ' ')} column twice "
                f"(columns {columns[key] + 1} and {index + 1})."
            )
        columns[key] = index
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        found = ", ".join(cell.strip() for cell in cells if cell.strip()) or "nothing"
        raise MissingColumns(
            f"The header row lacks the {' and '.join(missing)} "
            f"column{'s' if len(missing) > 1 else ''}. Expected: "
            f"community,address,head name,head email or phone; found: {found}."
        )
    return columns


def _cell(cells: list[str], index: int | None) -> str:
    return cells[index] if index is not None and index < len(cells) else ""
