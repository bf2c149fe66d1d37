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

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, Self

from sqlalchemy import ColumnElement, and_, case, func, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from bot.domain import (
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
)
from bot.ports import (
    CommunityRepository,
    ConversationRepository,
    HouseholdRepository,
    IdentityRepository,
    InboundReceiptRepository,
    InvitationRepository,
    MemberRepository,
    OutboxRepository,
    PhoneStatusRepository,
)

from .mapping import E, R, RowMapper
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
)


class _Repository(Generic[E, R]):
    """Shared plumbing: the unit of work's session, and reads and writes through the
    repository's mapper (each subclass names its own in ``_mapper``)."""

    _mapper: RowMapper[E, R]

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    @property
    def _session(self) -> AsyncSession:
        return self._uow.session

    def _by_code_point(self, column: str) -> ColumnElement[str] | Mapped[str]:
        """``column`` for ORDER BY in code-point order, as Python's ``sorted`` orders str.

        SQLite compares text bytewise already; PostgreSQL follows the database's collation
        (``en_US`` puts "apple" before "Banana"), so it is told to use "C".
        """
        if self._uow.dialect == "postgresql":
            return col(column).collate("C")
        return col(column)

    async def _rows(self, statement: SelectOfScalar[R]) -> list[R]:
        result = await self._session.exec(statement.execution_options(populate_existing=True))
        return list(result.all())

    async def _all(self, statement: SelectOfScalar[R]) -> list[E]:
        return [self._mapper.to_entity(row) for row in await self._rows(statement)]

    async def _first(self, statement: SelectOfScalar[R]) -> E | None:
        rows = await self._rows(statement.limit(1))
        return self._mapper.to_entity(rows[0]) if rows else None

    async def _get(self, key: object, *, for_update: bool = False) -> E | None:
        row = await self._session.get(
            self._mapper.row_type, key, populate_existing=True, with_for_update=for_update
        )
        return None if row is None else self._mapper.to_entity(row)

    async def _count(self, statement: SelectOfScalar[int]) -> int:
        return (await self._session.exec(statement)).one()

    async def _add(self, entity: E) -> None:
        self._session.add(self._mapper.to_row(entity))
        # Flushing now makes a broken constraint fail at the call that broke it.
        await self._session.flush()

    async def _update(self, entity: E) -> None:
        await self._session.merge(self._mapper.to_row(entity))
        await self._session.flush()

    def _insert(self, values: dict[str, Any]) -> postgresql.Insert | sqlite.Insert:
        """``INSERT`` of one row, in the dialect's own construct: both have ``ON CONFLICT``."""
        insert = postgresql.insert if self._uow.dialect == "postgresql" else sqlite.insert
        return insert(self._mapper.row_type).values(values)

    async def _upsert(self, entity: E) -> None:
        """Inserts or replaces ``entity``, in one statement (``INSERT ... ON CONFLICT DO
        UPDATE`` on the primary key): two transactions saving a new key at once both succeed,
        the later one's values win, and neither fails on the primary key."""
        values = self._mapper.to_values(entity)
        key = self._mapper.key
        statement = self._insert(values)
        statement = statement.on_conflict_do_update(
            index_elements=list(key),
            set_={name: statement.excluded[name] for name in values if name not in key},
        )
        await self._session.exec(statement)


class SqlCommunities(_Repository[Community, CommunityRow]):
    """:class:`bot.ports.CommunityRepository` on the ``communities`` table."""

    _mapper = RowMapper(Community, CommunityRow)

    async def add(self, community: Community) -> None:
        await self._add(community)

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


class SqlHouseholds(_Repository[Household, HouseholdRow]):
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

    async def list(self, *, community_id: str | None = None) -> Sequence[Household]:
        statement = select(HouseholdRow).order_by(
            self._by_code_point(HouseholdRow.address), col(HouseholdRow.id)
        )
        if community_id is not None:
            statement = statement.where(HouseholdRow.community_id == community_id)
        return await self._all(statement)


class SqlMembers(_Repository[Member, MemberRow]):
    """:class:`bot.ports.MemberRepository` on the ``members`` table."""

    _mapper = RowMapper(Member, MemberRow)

    async def add(self, member: Member) -> None:
        await self._add(member)

    async def get(self, member_id: str) -> Member | None:
        return await self._get(member_id)

    async def list_for_household(self, household_id: str) -> Sequence[Member]:
        heads_first = case((col(MemberRow.role) == Role.HEAD.value, 0), else_=1)
        return await self._all(
            select(MemberRow)
            .where(MemberRow.household_id == household_id)
            .order_by(heads_first, self._by_code_point(MemberRow.name), col(MemberRow.id))
        )

    async def find_by_contact(self, *, household_id: str, contact: str) -> Member | None:
        return await self._first(
            select(MemberRow)
            .where(
                MemberRow.household_id == household_id,
                or_(col(MemberRow.email) == contact, col(MemberRow.phone) == contact),
            )
            .order_by(col(MemberRow.id))
        )


class SqlIdentities(_Repository[ChannelIdentity, ChannelIdentityRow]):
    """:class:`bot.ports.IdentityRepository` on the ``channel_identities`` table.

    ``add`` raises :class:`sqlalchemy.exc.IntegrityError` when the (platform, external id)
    pair is already linked.
    """

    _mapper = RowMapper(ChannelIdentity, ChannelIdentityRow)

    async def add(self, identity: ChannelIdentity) -> None:
        await self._add(identity)

    async def get(self, *, platform: str, external_id: str) -> ChannelIdentity | None:
        return await self._first(
            select(ChannelIdentityRow).where(
                ChannelIdentityRow.platform == platform,
                ChannelIdentityRow.external_id == external_id,
            )
        )

    async def list_for_member(self, member_id: str) -> Sequence[ChannelIdentity]:
        return await self._all(
            select(ChannelIdentityRow)
            .where(ChannelIdentityRow.member_id == member_id)
            .order_by(
                col(ChannelIdentityRow.created_at).asc().nulls_last(),
                col(ChannelIdentityRow.id),
            )
        )


class SqlInvitations(_Repository[Invitation, InvitationRow]):
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

    async def list_pending_for_contact(self, contact: str) -> Sequence[Invitation]:
        return await self._all(
            select(InvitationRow)
            .where(
                InvitationRow.contact == contact,
                InvitationRow.status == InvitationStatus.PENDING.value,
            )
            .order_by(col(InvitationRow.created_at), col(InvitationRow.id))
        )

    async def count_created_by(self, *, member_id: str, since: datetime) -> int:
        return await self._count(
            select(func.count())
            .select_from(InvitationRow)
            .where(InvitationRow.invited_by == member_id, col(InvitationRow.created_at) >= since)
        )

    async def list_expiring(self, *, now: datetime, limit: int) -> Sequence[Invitation]:
        return await self._all(
            select(InvitationRow)
            .where(
                InvitationRow.status == InvitationStatus.PENDING.value,
                col(InvitationRow.expires_at) <= now,
            )
            .order_by(col(InvitationRow.expires_at), col(InvitationRow.id))
            .limit(limit)
        )


class SqlOutbox(_Repository[OutboxMessage, OutboxRow]):
    """:class:`bot.ports.OutboxRepository` on the ``outbox`` table."""

    _mapper = RowMapper(OutboxMessage, OutboxRow)

    async def add(self, message: OutboxMessage) -> None:
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
        rows = await self._rows(
            select(OutboxRow)
            .where(
                OutboxRow.status == OutboxStatus.PENDING.value,
                col(OutboxRow.next_attempt_at) <= now,
                or_(*(self._on_route(route) for route in routes)),
            )
            .order_by(col(OutboxRow.next_attempt_at), col(OutboxRow.created_at), col(OutboxRow.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        for row in rows:
            row.next_attempt_at = lease_until
        await self._session.flush()
        return [self._mapper.to_entity(row) for row in rows]

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

    async def list_for_invitation(self, invitation_id: str) -> Sequence[OutboxMessage]:
        return await self._all(
            select(OutboxRow)
            .where(OutboxRow.invitation_id == invitation_id)
            .order_by(col(OutboxRow.created_at), col(OutboxRow.id))
        )


class SqlConversations(_Repository[Conversation, ConversationRow]):
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


class SqlPhoneStatuses(_Repository[PhoneStatus, PhoneStatusRow]):
    """:class:`bot.ports.PhoneStatusRepository` on the ``phone_statuses`` table."""

    _mapper = RowMapper(PhoneStatus, PhoneStatusRow)

    async def get(self, phone: str) -> PhoneStatus | None:
        return await self._get(phone)

    async def save(self, status: PhoneStatus) -> None:
        """Inserts or replaces (an upsert: two STOPs from one new number at once both save)."""
        await self._upsert(status)


class SqlInboundReceipts(_Repository[InboundReceipt, InboundReceiptRow]):
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
        statement = self._insert(self._mapper.to_values(receipt)).on_conflict_do_nothing(
            index_elements=list(self._mapper.key)
        )
        result = await self._session.exec(statement)
        return result.rowcount == 1


class SqlUnitOfWork:
    """:class:`bot.ports.UnitOfWork` over one SQLAlchemy session, i.e. one transaction.

    ``async with uow:`` opens the session; the transaction begins with the first statement.
    ``commit`` and ``rollback`` end it (a later statement begins the next one); leaving the
    block rolls back whatever was not committed, and closes the session.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.dialect = engine.dialect.name
        self._session: AsyncSession | None = None
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

    @property
    def session(self) -> AsyncSession:
        """The open session; only inside ``async with``."""
        if self._session is None:
            raise RuntimeError("the unit of work is used outside 'async with uow:'")
        return self._session

    async def __aenter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("the unit of work is already open")
        # Nothing is read from rows after a commit, so there is nothing to expire.
        self._session = AsyncSession(self._engine, expire_on_commit=False)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        session, self._session = self.session, None
        await session.close()  # rolls back what was not committed

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()
