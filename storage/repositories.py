"""SQL implementations of the repositories and the unit of work of :mod:`bot.ports`.

They behave like the in-memory twins in ``tests/fakes.py`` (the contract tests in
``tests/storage`` run the same assertions on both): the same sort orders, the same
case-insensitive matches, and detached results. Repositories hand out fresh domain
dataclasses, never live rows, so a change to a returned entity reaches the database only
through ``update``/``save``. Every read refreshes the rows the session already holds
(``populate_existing``), so a read inside a transaction returns what the database holds now,
not a copy cached earlier in the same session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Self, TypeVar

from sqlalchemy import (
    ColumnElement,
    Executable,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    update,
)
from sqlalchemy import select as core_select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot.domain import (
    Channel,
    ChannelIdentity,
    Community,
    Conversation,
    Household,
    InboundReceipt,
    Invitation,
    InvitationStatus,
    Member,
    OutboxMessage,
    OutboxStatus,
    PhoneStatus,
    Role,
    Route,
    ThrottleCount,
)
from bot.ports import (
    CommunityRepository,
    ConversationRepository,
    EventListener,
    HouseholdEventRepository,
    HouseholdRepository,
    IdentityRepository,
    IdentityWithOwner,
    InboundReceiptRepository,
    InboundUpdateRepository,
    InvitationRepository,
    InvitationWithHousehold,
    MemberRepository,
    OutboxRepository,
    PhoneStatusRepository,
    ThrottleRepository,
)

from .events import SqlHouseholdEvents
from .executors import Connection, Params, Rows, open_connection
from .mapping import RowMapper
from .ordering import assign_sequences, first_of_its_key
from .sql_repository import SeenKey, SqlRepository, prefixed, remembered
from .tables import (
    ChannelIdentityRow,
    CommunityRow,
    ConversationRow,
    HouseholdRow,
    InboundReceiptRow,
    InvitationRow,
    MemberRow,
    OutboxRow,
    PhoneStatusRow,
    ThrottleCountRow,
)
from .updates import SqlInboundUpdates

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Write:
    """A write waiting to be sent (see :meth:`SqlUnitOfWork.write`)."""

    statement: Executable
    params: Mapping[str, Any]
    if_none: Callable[[], Awaitable[None]] | None


class SqlCommunities(SqlRepository[Community, CommunityRow]):
    """:class:`bot.ports.CommunityRepository` on the ``communities`` table."""

    _mapper = RowMapper(Community, CommunityRow)

    async def add(self, community: Community) -> None:
        await self._add(community)

    async def update(self, community: Community) -> None:
        await self._update(community)

    async def get(self, community_id: str) -> Community | None:
        return await self._get(community_id)

    async def get_by_name(self, name: str) -> Community | None:
        return await self._first(
            select(CommunityRow).where(func.lower(CommunityRow.name) == func.lower(name))
        )

    async def list(self) -> Sequence[Community]:
        return await self._all(
            select(CommunityRow).order_by(
                self._by_code_point(CommunityRow.name), col(CommunityRow.id)
            )
        )


class SqlHouseholds(SqlRepository[Household, HouseholdRow]):
    """:class:`bot.ports.HouseholdRepository` on the ``households`` table."""

    _mapper = RowMapper(Household, HouseholdRow)

    async def add(self, household: Household) -> None:
        await self._add(household)

    async def update(self, household: Household) -> None:
        await self._update(household)

    async def get(self, household_id: str, *, for_update: bool = False) -> Household | None:
        """``for_update`` locks the row until the transaction ends (PostgreSQL), which
        serialises a household's claims and invitations; SQLite transactions are already
        serial."""
        return await self._get(household_id, for_update=for_update)

    async def get_with_community(
        self, household_id: str
    ) -> tuple[Household, Community | None] | None:
        """One ``SELECT`` with a join (a round trip less than two lookups)."""
        communities = SqlCommunities._mapper

        def build(table: Table) -> Executable:
            other = communities.table
            columns = [c.label(f"community__{c.name}") for c in other.columns]
            return (
                core_select(table, *columns)
                .outerjoin(other, other.c.id == table.c.community_id)
                .where(*self._by_key(table))
            )

        result = await self._execute(
            self._statement("get_with_community", build), self._key_params(household_id)
        )
        row = result.first()
        if row is None:
            return None
        household = self._entity({name: row[name] for name in self._mapper.table.columns.keys()})
        values = prefixed(row, "community__", communities)
        if values["id"] is None:  # the foreign key makes this rare, not impossible (SQLite)
            return household, None
        return household, remembered(self._uow, communities, values)

    async def get_by_code_hash(self, code_hash: str) -> Household | None:
        return await self._first(
            select(HouseholdRow).where(HouseholdRow.access_code_hash == code_hash)
        )

    async def find_by_address(self, *, community_id: str, address: str) -> Household | None:
        return await self._first(
            select(HouseholdRow)
            .where(
                HouseholdRow.community_id == community_id,
                func.lower(HouseholdRow.address) == func.lower(address),
            )
            .order_by(col(HouseholdRow.id))
        )

    async def list_lapsing_head_requests(
        self, *, made_before: datetime, limit: int
    ) -> Sequence[Household]:
        """Households whose head request was made before ``made_before`` (and so has
        lapsed), locked, skipping any another transaction holds (PostgreSQL)."""
        return await self._all(
            select(HouseholdRow)
            .where(col(HouseholdRow.head_request_at) < made_before)
            .order_by(col(HouseholdRow.head_request_at), col(HouseholdRow.id))
            .limit(limit)
            .with_for_update(skip_locked=True, key_share=True)
        )

    async def list(self, *, community_id: str | None = None) -> Sequence[Household]:
        statement = select(HouseholdRow).order_by(
            self._by_code_point(HouseholdRow.address), col(HouseholdRow.id)
        )
        if community_id is not None:
            statement = statement.where(HouseholdRow.community_id == community_id)
        return await self._all(statement)


class SqlMembers(SqlRepository[Member, MemberRow]):
    """:class:`bot.ports.MemberRepository` on the ``members`` table."""

    _mapper = RowMapper(Member, MemberRow)

    async def add(self, member: Member) -> None:
        await self._add(member)

    async def update(self, member: Member) -> None:
        await self._update(member)

    async def get(self, member_id: str, *, for_update: bool = False) -> Member | None:
        return await self._get(member_id, for_update=for_update)

    async def list_for_household(self, household_id: str) -> Sequence[Member]:
        """The current members (not those who left or were removed), head first."""
        heads_first = case((col(MemberRow.role) == Role.HEAD.value, 0), else_=1)
        return await self._all(
            select(MemberRow)
            .where(MemberRow.household_id == household_id, col(MemberRow.left_at).is_(None))
            .order_by(heads_first, self._by_code_point(MemberRow.name), col(MemberRow.id))
        )

    async def find_by_contact(self, *, household_id: str, contact: str) -> Member | None:
        return await self._first(
            select(MemberRow)
            .where(
                MemberRow.household_id == household_id,
                col(MemberRow.left_at).is_(None),
                or_(col(MemberRow.email) == contact, col(MemberRow.phone) == contact),
            )
            .order_by(col(MemberRow.id))
        )

    async def set_language(self, member_id: str, language: str) -> None:
        await self._execute(
            self._statement(
                "set_language",
                lambda t: (
                    update(t)
                    .where(t.c.id == bindparam("member_id"))
                    .values(language=bindparam("language"))
                ),
            ),
            {"member_id": member_id, "language": language},
        )


class SqlIdentities(SqlRepository[ChannelIdentity, ChannelIdentityRow]):
    """:class:`bot.ports.IdentityRepository` on the ``channel_identities`` table.

    ``add`` raises :class:`sqlalchemy.exc.IntegrityError` when the (platform, external id)
    pair is already linked.
    """

    _mapper = RowMapper(ChannelIdentity, ChannelIdentityRow)

    async def add(self, identity: ChannelIdentity) -> None:
        await self._add(identity)

    async def get(self, *, platform: str, external_id: str) -> ChannelIdentity | None:
        statement = self._statement(
            "by_platform",
            lambda t: (
                core_select(t)
                .where(
                    t.c.platform == bindparam("platform"), t.c.external_id == bindparam("external")
                )
                .limit(1)
            ),
        )
        return await self._first(statement, {"platform": platform, "external": external_id})

    async def get_with_owner(self, *, platform: str, external_id: str) -> IdentityWithOwner | None:
        """One ``SELECT`` joining the member and their household (two round trips less than
        three lookups: every chat message resolves its sender this way)."""
        members, households = SqlMembers._mapper, SqlHouseholds._mapper

        def build(table: Table) -> Executable:
            member, house = members.table, households.table
            community = SqlCommunities._mapper.table
            return (
                core_select(
                    table,
                    *(c.label(f"member__{c.name}") for c in member.columns),
                    *(c.label(f"household__{c.name}") for c in house.columns),
                    community.c.timezone.label("community__timezone"),
                )
                .outerjoin(member, member.c.id == table.c.member_id)
                .outerjoin(house, house.c.id == member.c.household_id)
                .outerjoin(community, community.c.id == house.c.community_id)
                .where(
                    table.c.platform == bindparam("platform"),
                    table.c.external_id == bindparam("external"),
                )
                .limit(1)
            )

        result = await self._execute(
            self._statement("with_owner", build), {"platform": platform, "external": external_id}
        )
        row = result.first()
        if row is None:
            return None
        identity = self._entity({n: row[n] for n in self._mapper.table.columns.keys()})
        values = prefixed(row, "member__", members)
        member = remembered(self._uow, members, values) if values["id"] is not None else None
        values = prefixed(row, "household__", households)
        household = remembered(self._uow, households, values) if values["id"] is not None else None
        zone = row["community__timezone"] or ""
        return IdentityWithOwner(identity, member, household, zone)

    async def list_for_member(self, member_id: str) -> Sequence[ChannelIdentity]:
        return await self._all(
            select(ChannelIdentityRow)
            .where(ChannelIdentityRow.member_id == member_id)
            .order_by(
                col(ChannelIdentityRow.created_at).asc().nulls_last(),
                col(ChannelIdentityRow.id),
            )
        )

    async def unlink_member(self, member_id: str) -> int:
        """Delete every chat account linked to ``member_id``; how many there were."""
        table = self._mapper.table
        result = await self._execute(delete(table).where(table.c.member_id == member_id))
        return int(result.rowcount)


class SqlInvitations(SqlRepository[Invitation, InvitationRow]):
    """:class:`bot.ports.InvitationRepository` on the ``invitations`` table."""

    _mapper = RowMapper(Invitation, InvitationRow)

    async def add(self, invitation: Invitation) -> None:
        await self._add(invitation)

    async def update(self, invitation: Invitation) -> None:
        await self._update(invitation)

    async def get(self, invitation_id: str, *, for_update: bool = False) -> Invitation | None:
        """``for_update`` takes a row lock (``SELECT ... FOR UPDATE``) on PostgreSQL; SQLite
        needs none, as every unit of work there holds the database's write lock."""
        return await self._get(invitation_id, for_update=for_update)

    async def list_for_household(self, household_id: str) -> Sequence[Invitation]:
        return await self._all(
            select(InvitationRow)
            .where(InvitationRow.household_id == household_id)
            .order_by(col(InvitationRow.created_at), col(InvitationRow.id))
        )

    async def find_pending(self, *, household_id: str, contact: str) -> Invitation | None:
        return await self._first(
            select(InvitationRow)
            .where(
                InvitationRow.household_id == household_id,
                InvitationRow.contact == contact,
                InvitationRow.status == InvitationStatus.PENDING.value,
            )
            .order_by(col(InvitationRow.created_at), col(InvitationRow.id))
        )

    async def list_pending_for_contact(
        self, contact: str, *, for_update: bool = False
    ) -> Sequence[Invitation]:
        """With ``for_update``, ``SELECT ... FOR UPDATE`` on PostgreSQL: a row another
        transaction holds is waited for, then its status checked again, so an invitation
        accepted or cancelled meanwhile is not returned."""

        def build(table: Table) -> Executable:
            statement = (
                core_select(table)
                .where(
                    table.c.contact == bindparam("contact"),
                    table.c.status == InvitationStatus.PENDING.value,
                )
                .order_by(table.c.created_at, table.c.id)
            )
            return statement.with_for_update(key_share=True) if for_update else statement

        name = "pending_for_contact_for_update" if for_update else "pending_for_contact"
        return await self._all(self._statement(name, build), {"contact": contact})

    async def list_pending_with_households(
        self, contact: str, *, for_update: bool = False
    ) -> Sequence[InvitationWithHousehold]:
        """One ``SELECT`` joining the households and communities; with ``for_update``,
        ``FOR UPDATE OF invitations`` (PostgreSQL): the invitations are locked and checked
        again as :meth:`list_pending_for_contact` does, their households are not locked."""
        households, communities = SqlHouseholds._mapper, SqlCommunities._mapper

        def build(table: Table) -> Executable:
            house, community = households.table, communities.table
            statement = (
                core_select(
                    table,
                    *(c.label(f"household__{c.name}") for c in house.columns),
                    *(c.label(f"community__{c.name}") for c in community.columns),
                )
                .join(house, house.c.id == table.c.household_id)
                .outerjoin(community, community.c.id == house.c.community_id)
                .where(
                    table.c.contact == bindparam("contact"),
                    table.c.status == InvitationStatus.PENDING.value,
                )
                .order_by(table.c.created_at, table.c.id)
            )
            return statement.with_for_update(of=table, key_share=True) if for_update else statement

        name = "pending_with_households" + ("_for_update" if for_update else "")
        result = await self._execute(self._statement(name, build), {"contact": contact})
        found = []
        for row in result.mappings():
            invitation = self._entity({n: row[n] for n in self._mapper.table.columns.keys()})
            values = prefixed(row, "household__", households)
            household = remembered(self._uow, households, values)
            values = prefixed(row, "community__", communities)
            community = remembered(self._uow, communities, values) if values["id"] else None
            found.append(InvitationWithHousehold(invitation, household, community))
        return found

    async def count_created_by(self, *, member_id: str, since: datetime) -> int:
        return await self._count(
            select(func.count())
            .select_from(InvitationRow)
            .where(InvitationRow.invited_by == member_id, col(InvitationRow.created_at) >= since)
        )

    async def list_expiring(self, *, now: datetime, limit: int) -> Sequence[Invitation]:
        """Locked, skipping rows another transaction holds (PostgreSQL): two dispatchers
        never expire one invitation twice, and one that a transaction holding it closed
        meanwhile (cancelled by a deactivation, accepted) is read again and left out."""
        return await self._all(
            select(InvitationRow)
            .where(
                InvitationRow.status == InvitationStatus.PENDING.value,
                col(InvitationRow.expires_at) <= now,
            )
            .order_by(col(InvitationRow.expires_at), col(InvitationRow.id))
            .limit(limit)
            .with_for_update(skip_locked=True, key_share=True)
        )


class SqlOutbox(SqlRepository[OutboxMessage, OutboxRow]):
    """:class:`bot.ports.OutboxRepository` on the ``outbox`` table."""

    _mapper = RowMapper(OutboxMessage, OutboxRow)

    async def add(self, message: OutboxMessage) -> None:
        """A message with an ordering key is inserted when the unit of work commits, with
        its sequence (:mod:`storage.ordering`); any other with the next statement."""
        if message.ordering_key and message.sequence is None:
            self._uow.sequenced.append(message)
            return
        await self._add(message)

    async def add_sequenced(self, message: OutboxMessage) -> None:
        """The insert of a message :meth:`add` held back, once it has its sequence."""
        await self._add(message)

    async def update(self, message: OutboxMessage) -> None:
        await self._update(message)

    async def get(self, message_id: str) -> OutboxMessage | None:
        return await self._get(message_id)

    async def get_by_provider_id(self, provider_id: str) -> OutboxMessage | None:
        """The message the provider knows by ``provider_id``; the empty string, which every
        message not yet sent has, matches none."""
        if not provider_id:
            return None
        return await self._first(
            select(OutboxRow)
            .where(OutboxRow.provider_id == provider_id)
            .order_by(col(OutboxRow.created_at), col(OutboxRow.id))
        )

    async def claim_due(
        self,
        *,
        now: datetime,
        routes: Sequence[Route],
        limit: int,
        lease_until: datetime,
    ) -> Sequence[OutboxMessage]:
        """Leases due messages to the caller's transaction; see the port for the contract.

        On PostgreSQL the rows are taken with ``FOR UPDATE SKIP LOCKED``: a concurrent
        dispatcher skips them instead of waiting, and once this transaction commits the
        moved ``next_attempt_at`` keeps them out of everyone's reach until the lease ends.
        SQLite renders no ``FOR UPDATE``; its units of work are serialised by
        ``BEGIN IMMEDIATE`` instead (see :mod:`storage.database`).
        """
        if not routes or limit <= 0:
            return []
        result = await self._execute(
            select(OutboxRow)
            .where(
                OutboxRow.status == OutboxStatus.PENDING.value,
                col(OutboxRow.next_attempt_at) <= now,
                or_(*(self._on_route(route) for route in routes)),
                first_of_its_key(),
            )
            .order_by(col(OutboxRow.next_attempt_at), col(OutboxRow.created_at), col(OutboxRow.id))
            .limit(limit)
            .with_for_update(skip_locked=True, key_share=True)
        )
        rows = [dict(row) | {"next_attempt_at": lease_until} for row in result.mappings()]
        if rows:
            table = self._mapper.table
            await self._execute(
                update(table)
                .where(table.c.id.in_([row["id"] for row in rows]))
                .values(next_attempt_at=lease_until)
            )
        return [self._entity(row) for row in rows]

    @staticmethod
    def _on_route(route: Route) -> ColumnElement[bool]:
        """SQL for :meth:`bot.domain.Route.matches`."""
        conditions = [col(OutboxRow.channel) == str(route.channel)]
        if route.platform is not None:
            conditions.append(col(OutboxRow.platform) == route.platform)
        if route.destination is not None:
            conditions.append(col(OutboxRow.destination) == route.destination)
        return and_(*conditions)

    async def count_to_destination(self, *, destination: str, since: datetime) -> int:
        return await self._count(
            select(func.count())
            .select_from(OutboxRow)
            .where(OutboxRow.destination == destination, col(OutboxRow.created_at) >= since)
        )

    async def count_invitations_sent_for(self, *, household_id: str, since: datetime) -> int:
        """One count over a join: the household's invitations (the index on
        ``household_id, contact, status``) to their messages (``invitation_id`` index). Chat
        notifications to the head do not count."""
        return await self._count(
            select(func.count())
            .select_from(OutboxRow)
            .join(InvitationRow, col(InvitationRow.id) == col(OutboxRow.invitation_id))
            .where(
                InvitationRow.household_id == household_id,
                col(OutboxRow.channel) != Channel.CHAT.value,
                col(OutboxRow.created_at) >= since,
            )
        )

    async def list_for_invitation(self, invitation_id: str) -> Sequence[OutboxMessage]:
        return await self._all(
            select(OutboxRow)
            .where(OutboxRow.invitation_id == invitation_id)
            .order_by(col(OutboxRow.created_at), col(OutboxRow.id))
        )

    async def list_for_ordering_key(self, key: str, *, since: datetime) -> Sequence[OutboxMessage]:
        return await self._all(
            select(OutboxRow)
            .where(OutboxRow.ordering_key == key, col(OutboxRow.created_at) >= since)
            .order_by(col(OutboxRow.sequence), col(OutboxRow.id))
        )


class SqlConversations(SqlRepository[Conversation, ConversationRow]):
    """:class:`bot.ports.ConversationRepository` on the ``conversations`` table."""

    _mapper = RowMapper(Conversation, ConversationRow)

    async def get(
        self, *, platform: str, user_id: str, for_update: bool = False
    ) -> Conversation | None:
        """``for_update`` locks the row until the transaction ends (PostgreSQL), so two
        processes taking the same person's messages at once apply them one after the other
        instead of one overwriting the other's step (SQLite serialises every transaction)."""
        return await self._get((platform, user_id), for_update=for_update)

    async def save(self, conversation: Conversation) -> None:
        """Inserts or replaces, in one statement (``INSERT ... ON CONFLICT DO UPDATE``).

        Two workers may take a new user's first two messages at once; an upsert lets both
        save instead of failing one of them on the primary key.
        """
        await self._upsert(conversation)

    async def lock_new(self, conversation: Conversation) -> Conversation:
        """``INSERT ... ON CONFLICT DO NOTHING``, then the row read ``FOR UPDATE``: on
        PostgreSQL a second transaction inserting the same key waits for the first to end,
        then reads (and locks) what it committed."""
        statement = self._statement(
            "insert_new",
            lambda t: self._dialect_insert(t).on_conflict_do_nothing(
                index_elements=list(self._mapper.key)
            ),
        )
        await self._execute(statement, self._mapper.to_values(conversation))
        stored = await self._get((conversation.platform, conversation.user_id), for_update=True)
        assert stored is not None  # inserted, or there already
        return stored


class SqlPhoneStatuses(SqlRepository[PhoneStatus, PhoneStatusRow]):
    """:class:`bot.ports.PhoneStatusRepository` on the ``phone_statuses`` table."""

    _mapper = RowMapper(PhoneStatus, PhoneStatusRow)

    async def get(self, phone: str) -> PhoneStatus | None:
        return await self._get(phone)

    async def save(self, status: PhoneStatus) -> None:
        """Inserts or replaces (an upsert: two STOPs from one new number at once both save)."""
        await self._upsert(status)


class SqlInboundReceipts(SqlRepository[InboundReceipt, InboundReceiptRow]):
    """:class:`bot.ports.InboundReceiptRepository` on the ``inbound_receipts`` table."""

    _mapper = RowMapper(InboundReceipt, InboundReceiptRow)

    async def first_time(self, receipt: InboundReceipt) -> bool:
        """Records the delivery with ``INSERT ... ON CONFLICT DO NOTHING``; the row count says
        whether this call inserted it.

        Exactly once under concurrency: on PostgreSQL a second transaction inserting the same
        key waits for the first to end, then inserts nothing (``False``) if the first
        committed, or inserts it (``True``) if the first rolled back. On SQLite the units of
        work run one at a time (``BEGIN IMMEDIATE``), so the second sees the first's outcome.
        """
        statement = self._statement(
            "insert_new",
            lambda t: self._dialect_insert(t).on_conflict_do_nothing(
                index_elements=list(self._mapper.key)
            ),
        )
        result = await self._execute(statement, self._mapper.to_values(receipt))
        return result.rowcount == 1

    async def purge(self, *, before: datetime, keep_sources: Sequence[str] = ()) -> int:
        """One ``DELETE`` on the ``received_at`` index."""
        table = self._mapper.table
        statement = delete(table).where(table.c.received_at < before)
        if keep_sources:
            statement = statement.where(table.c.source.not_in(list(keep_sources)))
        result = await self._execute(statement)
        return int(result.rowcount or 0)


class SqlThrottles(SqlRepository[ThrottleCount, ThrottleCountRow]):
    """:class:`bot.ports.ThrottleRepository` on the ``throttles`` table."""

    _mapper = RowMapper(ThrottleCount, ThrottleCountRow)

    async def hit(
        self, key: str, *, now: datetime, window: timedelta, weight: int = 1
    ) -> ThrottleCount:
        """One ``INSERT ... ON CONFLICT (key) DO UPDATE ... RETURNING``: a new key starts at
        ``weight``; an existing one adds ``weight``, or starts again if its window is over.

        Atomic under concurrency: on PostgreSQL a second transaction counting the same key
        waits on the row the first one inserted or updated until the first ends, then adds
        to what it committed; so the count each caller sees is exact, and a check against a
        limit made with it cannot be raced. SQLite's units of work run one at a time.
        """

        def build(table: Table) -> Executable:
            statement = self._dialect_insert(table)
            over = table.c.window_started_at <= bindparam("window_over_at")
            return statement.on_conflict_do_update(
                index_elements=["key"],
                set_={
                    "count": case(
                        (over, statement.excluded["count"]),
                        else_=table.c["count"] + statement.excluded["count"],
                    ),
                    "window_started_at": case(
                        (over, statement.excluded.window_started_at),
                        else_=table.c.window_started_at,
                    ),
                },
            ).returning(*table.columns)

        result = await self._execute(
            self._statement("hit", build),
            {"key": key, "count": weight, "window_started_at": now, "window_over_at": now - window},
        )
        row = result.first()
        assert row is not None  # an upsert always returns its row
        return self._mapper.to_entity_from(row)

    async def forget(self, key: str) -> None:
        await self._execute(
            self._statement("forget", lambda t: delete(t).where(*self._by_key(t))),
            self._key_params(key),
        )

    async def purge(self, *, before: datetime) -> int:
        """One ``DELETE`` on the ``window_started_at`` index."""
        table = self._mapper.table
        result = await self._execute(delete(table).where(table.c.window_started_at < before))
        return int(result.rowcount or 0)


class SqlUnitOfWork:
    """:class:`bot.ports.UnitOfWork` over one SQLAlchemy connection, i.e. one transaction.

    ``async with uow:`` opens it; a connection is taken from the pool at the first statement,
    which begins the transaction. ``commit`` and ``rollback`` end it and give the connection
    back (a later statement takes one again and begins the next transaction), so a unit of
    work that waits on the network between transactions holds no connection meanwhile.
    Leaving the block rolls back whatever was not committed.

    Repositories run Core statements on the connection (no ORM session: its identity map and
    flushes cost more CPU than the database's work on these one-row statements), on
    PostgreSQL straight on asyncpg (:mod:`storage.executors`) unless ``fast_path`` is off.
    Their inserts and updates (:meth:`write`) wait for the unit of work's next statement or
    its commit, and go to the database together: on PostgreSQL's fast path as one statement,
    so accepting an invitation (the invitation, the member, their chat identity, the head's
    notification) costs one round trip instead of four (one at a time, in order, otherwise).
    The pool
    does not ping a connection before lending it (``pool_pre_ping``: a round trip, three on
    asyncpg, before every transaction); instead a transaction's first statement is tried once
    more on a new connection when it finds its connection dead, as every pooled connection
    is after the database restarted: nothing of the transaction had run.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        on_event: EventListener | None = None,
        fast_path: bool = True,
    ) -> None:
        self._engine = engine
        self._fast_path = fast_path
        """Whether PostgreSQL runs on :class:`storage.executors.AsyncpgConnection`."""
        self.on_event = on_event
        """Told of each household event appended (see :class:`bot.ports.EventListener`)."""
        self.dialect = engine.dialect.name
        self._open = False
        self._connection: Connection | None = None
        self._seen: dict[tuple[str, tuple[Any, ...]], dict[str, Any]] = {}
        """Each row as this transaction last read or wrote it (see ``_update``)."""
        self._writes: list[_Write] = []
        self._written: set[SeenKey] = set()
        self.sequenced: list[OutboxMessage] = []
        """Outbox messages with an ordering key, inserted at the commit (see ``commit``)."""
        # Typed as the ports, so that the type checker holds each repository to its port.
        self.communities: CommunityRepository = SqlCommunities(self)
        self.households: HouseholdRepository = SqlHouseholds(self)
        self.members: MemberRepository = SqlMembers(self)
        self.identities: IdentityRepository = SqlIdentities(self)
        self.invitations: InvitationRepository = SqlInvitations(self)
        self.outbox: OutboxRepository = SqlOutbox(self)
        self.conversations: ConversationRepository = SqlConversations(self)
        self.phones: PhoneStatusRepository = SqlPhoneStatuses(self)
        self.receipts: InboundReceiptRepository = SqlInboundReceipts(self)
        self.updates: InboundUpdateRepository = SqlInboundUpdates(self)
        self.throttles: ThrottleRepository = SqlThrottles(self)
        self.events: HouseholdEventRepository = SqlHouseholdEvents(self)

    async def execute(self, statement: Executable, params: Params = None) -> Rows:
        """Runs one statement in this unit of work's transaction (beginning it if need be),
        after the writes waiting to be sent."""
        if self._writes:
            await self._send_writes()
        return await self._on_connection(lambda c: c.execute(statement, params))

    async def execute_alone(self, statement: Executable, params: Params = None) -> Rows:
        """Runs ``statement`` as a transaction by itself, committed as it ends: the unit of
        work's first statement, with nothing waiting to be written (its ``commit`` then has
        nothing left to do). On PostgreSQL's fast path it is sent without ``BEGIN`` and
        ``COMMIT``: one round trip instead of three.

        On a pooled connection found dead (the database restarted) it is sent once more on a
        new one, as a transaction's first statement is: so it must be one that may run twice
        (a statement the lost connection had already committed runs again). ``take_in`` is:
        the receipt makes the repeat store nothing (and the update stored by the first is
        taken over when its lease ends); ``finish`` is: it deletes nothing more."""
        if not self._open:
            raise RuntimeError("the unit of work is used outside 'async with uow:'")
        if self._connection is not None or self._writes:
            raise RuntimeError("a statement alone must be the unit of work's first")
        try:
            return await self._alone(statement, params)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            return await self._alone(statement, params)

    async def _alone(self, statement: Executable, params: Params) -> Rows:
        connection = await open_connection(self._engine, fast_path=self._fast_path, alone=True)
        try:
            rows = await connection.execute(statement, params)
            await connection.commit()
        finally:
            await connection.close()
        return rows

    async def write(
        self,
        statement: Executable,
        params: Mapping[str, Any],
        *,
        row: SeenKey,
        if_none: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """An insert, update or upsert of ``row`` that returns nothing, sent with the next
        statement or the commit (so several go to the database at once), in the order they
        were made; ``if_none`` runs when it affected no row. A second write of the same row
        sends the first ones before it."""
        if not self._open:
            raise RuntimeError("the unit of work is used outside 'async with uow:'")
        if row in self._written:
            await self._send_writes()
        self._writes.append(_Write(statement, params, if_none))
        self._written.add(row)

    async def _send_writes(self) -> None:
        writes, self._writes = self._writes, []
        self._written.clear()
        batch = [(w.statement, w.params) for w in writes]
        counts = await self._on_connection(lambda c: c.execute_batch(batch))
        for w, count in zip(writes, counts, strict=True):
            if count == 0 and w.if_none is not None:
                await w.if_none()

    async def _on_connection(self, run: Callable[[Connection], Awaitable[T]]) -> T:
        connection = self._connection
        if connection is not None:
            return await run(connection)
        if not self._open:
            raise RuntimeError("the unit of work is used outside 'async with uow:'")
        try:
            return await self._begin_with(run)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            # The pooled connection was dead (the database restarted, or a proxy dropped
            # it), so this first statement never ran. SQLAlchemy has invalidated the pool's
            # other connections of the same age as well; one more try takes a new one.
            await self._release(keep_writes=True)
            return await self._begin_with(run)

    async def _begin_with(self, run: Callable[[Connection], Awaitable[T]]) -> T:
        self._connection = await open_connection(self._engine, fast_path=self._fast_path)
        return await run(self._connection)

    async def _release(self, *, keep_writes: bool = False) -> None:
        connection, self._connection = self._connection, None
        if not keep_writes:
            self._seen.clear()
            self._writes.clear()
            self._written.clear()
            self.sequenced.clear()
        if connection is not None:
            await connection.close()  # back to the pool, rolling back what was not committed

    async def __aenter__(self) -> Self:
        if self._open:
            raise RuntimeError("the unit of work is already open")
        self._open = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._open = False
        await self._release()

    async def commit(self) -> None:
        if not self._open:
            raise RuntimeError("the unit of work is used outside 'async with uow:'")
        if self.sequenced:
            await assign_sequences(self, self.sequenced)
        if self._writes:
            await self._send_writes()
        connection = self._connection
        if connection is not None:
            await connection.commit()
        await self._release()

    async def rollback(self) -> None:
        if not self._open:
            raise RuntimeError("the unit of work is used outside 'async with uow:'")
        await self._release()
