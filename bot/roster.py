"""The HOA board's roster, read-only: the households by status and by a search, one household
in full, and everyone in them as rows for a spreadsheet or another system.

The board may see contacts in full here (the chat shows them masked). Each use case opens its
own units of work and changes nothing. How a person joined comes from the household's event
log: the ``via`` of their ACCEPTED (an invitation) or CLAIMED (an access code) event.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from . import admin
from .admin import (
    AdminError,
    HouseholdRow,
    UnknownHousehold,
    _address,
    _community_name,
    _community_named,
    community_named,
)
from .domain import (
    Community,
    Household,
    HouseholdEvent,
    HouseholdEventKind,
    HouseholdStatus,
    Invitation,
    Member,
)
from .flows.history import HISTORY_LENGTH, describe
from .language import ENGLISH, Words, zone_or_default
from .ports import UnitOfWork, UnitOfWorkFactory

EXPORT_COLUMNS = (
    "community",
    "address",
    "household_status",
    "name",
    "role",
    "email",
    "phone",
    "joined_at",
    "joined_via",
)

# Households read per unit of work by an export: each transaction stays short (on SQLite a
# transaction holds the write lock), and few enough of them that the export is quick.
_EXPORT_BATCH = 250

# Events read at first when looking for how people joined; a household with a longer history
# is read again with more (see _joins).
_FIRST_EVENTS = 100

_JOINS = (HouseholdEventKind.ACCEPTED, HouseholdEventKind.CLAIMED)

# The longest a change takes between writing a member and the event of it (one unit of work).
_SAME_CHANGE = timedelta(minutes=1)

# A cell a spreadsheet would read as a formula (OWASP, "CSV Injection"; the full-width forms
# are read as formulas by Excel in some locales).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
# A separator inside a cell followed by one of those: a spreadsheet that splits the line at
# its own list separator (';' in much of Europe) would start a new cell there.
_SEPARATED_FORMULA = re.compile("([;,\t])(?=[=+\\-@\t\r\n＝＋－＠])")


class UnknownStatus(AdminError):
    reason = "unknown_status"


# --- the list ------------------------------------------------------------------------------


def parse_status(text: str) -> HouseholdStatus:
    """The status a board member typed: ``active``, ``not-activated`` (or ``not activated``,
    ``not_activated``), ``inactive``, in any case. Raises :class:`UnknownStatus`."""
    wanted = " ".join(text.replace("-", " ").replace("_", " ").split()).casefold()
    for status in HouseholdStatus:
        if status.value == wanted:
            return status
    raise UnknownStatus(
        f"There is no household status “{text}”. Use active, not-activated or inactive."
    )


# Letters whose accent is part of the letter (no decomposition takes it off).
_BARE_LETTERS = str.maketrans(
    {"ø": "o", "ł": "l", "đ": "d", "ð": "d", "æ": "ae", "œ": "oe", "þ": "th", "ı": "i", "ħ": "h"}
)


def folded(text: str) -> str:
    """``text`` as the search compares it: without accents, case or repeated spaces
    ("José  Núñez" → "jose nunez", "Łukasz" → "lukasz")."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(bare.casefold().translate(_BARE_LETTERS).split())


def matches(row: HouseholdRow, search: str) -> bool:
    """Whether ``search`` is part of the household's address, its expected head's name, or the
    name of anyone in it now (the head included), ignoring case and accents."""
    wanted = folded(search)
    household = row.household
    texts = (household.address, household.head_name, *row.member_names)
    return any(wanted in folded(text) for text in texts)


async def list_households(
    uow_factory: UnitOfWorkFactory,
    *,
    community_name: str | None = None,
    status: HouseholdStatus | None = None,
    search: str = "",
) -> list[HouseholdRow]:
    """The board's listing (:func:`bot.admin.list_households`), only the households with
    ``status`` and matching ``search`` (see :func:`matches`; blank matches every one)."""
    rows = await admin.list_households(uow_factory, community_name=community_name)
    return [
        row
        for row in rows
        if (status is None or row.household.status is status)
        and (not search.strip() or matches(row, search))
    ]


# --- one household -------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """Someone in a household now, with when and how they joined (``via``: sms, page,
    telegram, slack, console; empty when the log does not say)."""

    member: Member
    joined_at: datetime | None
    joined_via: str


@dataclass(frozen=True)
class HouseholdDetails:
    """A household as ``invitebot admin household show`` prints it."""

    household: Household
    community: Community
    people: list[Person]
    """The head first, then the members by name."""
    open_invitations: list[Invitation]
    """Invitations that can still admit someone, oldest first."""
    inviters: dict[str, str]
    """The name of each open invitation's inviter, by member id."""
    history: list[str]
    """The last ``HISTORY_LENGTH`` events as the head's history shows them, newest first."""
    more_history: bool
    """Whether older events exist than those in ``history``."""
    words: Words
    """The board's words: English, in the community's time zone (the history's, and every
    time shown with it)."""


async def show_household(
    uow_factory: UnitOfWorkFactory,
    *,
    community_name: str,
    address: str,
    now: datetime,
    default_timezone: str = "UTC",
) -> HouseholdDetails:
    """Everything the board may know about one household, its times in the community's
    zone (``default_timezone`` for one that names none). Raises
    :class:`bot.admin.UnknownCommunity` or :class:`bot.admin.UnknownHousehold`."""
    community_name, address = _community_name(community_name), _address(address)
    async with uow_factory() as uow:
        community = await _community_named(uow, community_name)
        household = await uow.households.find_by_address(community_id=community.id, address=address)
        if household is None:
            raise UnknownHousehold(f"There is no household at “{address}” in “{community.name}”.")
        members = list(await uow.members.list_for_household(household.id))
        events, joins = await _joins(uow, household.id, members, at_least=HISTORY_LENGTH + 1)
        invitations = sorted(
            (i for i in await uow.invitations.list_for_household(household.id) if i.is_open(now)),
            key=lambda i: (i.created_at, i.id),
        )
        inviters = {m.id: m.name for m in members}
        for invitation in invitations:
            if invitation.invited_by not in inviters:
                inviter = await uow.members.get(invitation.invited_by)
                inviters[invitation.invited_by] = inviter.name if inviter is not None else ""
    words = ENGLISH.in_zone(zone_or_default(community.timezone, default_timezone))
    return HouseholdDetails(
        household=household,
        community=community,
        people=[_person(m, joins.get(m.id)) for m in members],
        open_invitations=invitations,
        inviters=inviters,
        history=[describe(words, event) for event in events[:HISTORY_LENGTH]],
        more_history=len(events) > HISTORY_LENGTH,
        words=words,
    )


# --- the export ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportRow:
    """One person in a household, as a row of the export (every value text)."""

    community: str
    address: str
    household_status: str
    name: str
    role: str
    email: str
    phone: str
    joined_at: str
    """ISO 8601 in UTC (``2026-11-24T12:00:00+00:00``), empty when unknown."""
    joined_via: str

    def cells(self) -> list[str]:
        """The values in the order of :data:`EXPORT_COLUMNS`."""
        return [getattr(self, column) for column in EXPORT_COLUMNS]

    def as_dict(self) -> dict[str, str]:
        return dict(zip(EXPORT_COLUMNS, self.cells(), strict=True))


async def export_rows(
    uow_factory: UnitOfWorkFactory,
    *,
    community_name: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[ExportRow]:
    """A row for everyone in a household now (head first, then the members by name), by
    community then address; households nobody has joined give none. ``on_progress(done,
    total)`` hears the number of households read so far. Raises
    :class:`bot.admin.UnknownCommunity` when ``community_name`` names no community.

    Two reads per household (its members, and its events when someone is in it), never one
    per person; households are read a batch per unit of work.
    """
    async with uow_factory() as uow:
        if community_name is not None:
            communities = [await _community_named(uow, _community_name(community_name))]
            households = list(await uow.households.list(community_id=communities[0].id))
        else:
            communities = list(await uow.communities.list())
            households = list(await uow.households.list())
    names = {c.id: c.name for c in communities}
    households.sort(
        key=lambda h: (names.get(h.community_id, "").casefold(), h.address.casefold(), h.id)
    )
    rows: list[ExportRow] = []
    if on_progress is not None:
        on_progress(0, len(households))
    for start in range(0, len(households), _EXPORT_BATCH):
        batch = households[start : start + _EXPORT_BATCH]
        async with uow_factory() as uow:
            for household in batch:
                members = list(await uow.members.list_for_household(household.id))
                if not members:
                    continue
                _events, joins = await _joins(uow, household.id, members)
                community = names.get(household.community_id, "")
                rows += (_row(community, household, _person(m, joins.get(m.id))) for m in members)
        if on_progress is not None:
            on_progress(start + len(batch), len(households))
    return rows


def spreadsheet_safe(cell: str) -> str:
    """``cell`` with a ``'`` in front when a spreadsheet would run it as a formula (it begins
    with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return, a line feed, or a full-width
    ``＝``, ``＋``, ``－``, ``＠``), and after any ``;``, ``,`` or tab inside it that one of
    those follows (a spreadsheet splitting at its own separator would start a cell there),
    so it shows as typed."""
    cell = _SEPARATED_FORMULA.sub(r"\1'", cell)
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def households_in(rows: Iterable[ExportRow]) -> int:
    """How many households the rows come from."""
    return len({(row.community, row.address) for row in rows})


# --- shared steps --------------------------------------------------------------------------


async def _joins(
    uow: UnitOfWork, household_id: str, members: Sequence[Member], *, at_least: int = 0
) -> tuple[list[HouseholdEvent], dict[str, HouseholdEvent]]:
    """The household's latest events (``at_least`` of them, when it has as many), and the
    event each member joined by, by member id: their oldest ACCEPTED or CLAIMED event (a member
    who joined by invitation and later claimed the household with a new code joined by the
    invitation).

    One read, enough for nearly every household; a long history is read again with more until
    each member's join is found for sure, or the log is read whole.
    """
    wanted = {m.id: m.joined_at for m in members}
    limit = max(_FIRST_EVENTS, at_least)
    while True:
        events = list(await uow.events.list_for_household(household_id, limit=limit))
        joins: dict[str, HouseholdEvent] = {}
        for event in events:  # newest first: the oldest join is the one left standing
            if event.kind in _JOINS and event.subject_member_id in wanted:
                joins[event.subject_member_id] = event
        if len(events) < limit or all(
            member_id in joins and _joined_by(joins[member_id], joined_at)
            for member_id, joined_at in wanted.items()
        ):
            return events, joins
        limit *= 4


def _joined_by(event: HouseholdEvent, joined_at: datetime | None) -> bool:
    """Whether ``event`` is surely how its member joined: an acceptance always is (it makes
    the member), a claim only when it made the member too (recorded with the member's
    ``joined_at``, in the same unit of work), not when a member claimed the household later."""
    if event.kind is HouseholdEventKind.ACCEPTED or joined_at is None:
        return True
    return event.at - joined_at < _SAME_CHANGE


def _person(member: Member, join: HouseholdEvent | None) -> Person:
    joined_at = member.joined_at or (join.at if join is not None else None)
    return Person(member=member, joined_at=joined_at, joined_via=join.via if join else "")


def _row(community: str, household: Household, person: Person) -> ExportRow:
    member = person.member
    joined_at = person.joined_at
    return ExportRow(
        community=community,
        address=household.address,
        household_status=household.status.value,
        name=member.name,
        role=member.role.value,
        email=member.email or "",
        phone=member.phone or "",
        joined_at=joined_at.astimezone(UTC).isoformat() if joined_at is not None else "",
        joined_via=person.joined_via,
    )


@dataclass(frozen=True)
class CommunityOverview:
    """One community for the board: its details and how many households are in each status."""

    community: Community
    households: dict[HouseholdStatus, int]


async def show_community(
    uow_factory: UnitOfWorkFactory, *, community_name: str
) -> CommunityOverview:
    """The community called ``community_name``, with its households counted by status."""
    async with uow_factory() as uow:
        community = await community_named(uow, community_name)
        households = await uow.households.list(community_id=community.id)
    counts = dict.fromkeys(HouseholdStatus, 0)
    for household in households:
        counts[household.status] += 1
    return CommunityOverview(community=community, households=counts)
