"""The database schema: one SQLModel table per entity of :mod:`bot.domain`.

Every table has exactly the fields of its dataclass, under the same names, so that
:mod:`storage.mapping` can copy an entity to a row and back without a mapper per table (an
import-time check there refuses a table that drifts from its entity). Enums are stored as plain
strings, so a new status needs no migration of a database enum type. Every datetime column is
:class:`UTCDateTime`: the domain only deals in timezone-aware UTC datetimes, and SQLite keeps
none of that by itself.

Indexes follow the lookups in :mod:`storage.repositories`; change both together.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel, col

# Named constraints, so that a later migration can drop or alter them by name (SQLite's batch
# mode needs the names too). See "The Importance of Naming Constraints" in Alembic's docs.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)
"""The metadata of invitebot's tables (Alembic's ``target_metadata``)."""

ID = String(32)  # bot.domain.new_id(): a UUID in hex
NAME = String(100)
CONTACT = String(320)  # the longest email address RFC 5321 allows
PLATFORM = String(32)
EXTERNAL_ID = String(320)  # platform user and chat ids, E.164 numbers, email addresses
SHORT = String(16)  # enum values
LANGUAGE = String(16)  # a language code: "es", or "" for the default
HASH = String(64)  # hex SHA-256


class UTCDateTime(TypeDecorator[datetime]):
    """A ``TIMESTAMP WITH TIME ZONE`` that only takes and only gives aware UTC datetimes.

    PostgreSQL keeps the instant; SQLite keeps the text of the wall time and drops the offset,
    so values are converted to UTC on the way in (for comparisons and ordering to hold) and
    read back as UTC. A naive datetime is refused: its meaning would depend on the server.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the storage keeps aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class TableBase(SQLModel, registry=registry(metadata=metadata)):
    """Base of invitebot's tables: keeps them in :data:`metadata`, apart from any other
    SQLModel models an importing program may have."""


class CommunityRow(TableBase, table=True):
    __tablename__ = "communities"

    id: str = Field(primary_key=True, sa_type=ID)
    name: str = Field(sa_type=NAME)
    contact: str = Field(sa_type=CONTACT)
    created_at: datetime | None = Field(sa_type=UTCDateTime)
    telegram_group: str = Field(sa_type=EXTERNAL_ID, sa_column_kwargs={"server_default": ""})
    slack_channel: str = Field(sa_type=EXTERNAL_ID, sa_column_kwargs={"server_default": ""})
    timezone: str = Field(sa_type=String(64), sa_column_kwargs={"server_default": ""})


class HouseholdRow(TableBase, table=True):
    __tablename__ = "households"

    id: str = Field(primary_key=True, sa_type=ID)
    community_id: str = Field(foreign_key="communities.id", sa_type=ID)
    address: str = Field(sa_type=String(200))
    access_code_hash: str = Field(unique=True, sa_type=HASH)
    head_name: str = Field(sa_type=NAME)
    head_contact: str = Field(sa_type=CONTACT)
    # households <-> members is a cycle: use_alter adds this key once both tables exist.
    head_member_id: str | None = Field(
        sa_type=ID, sa_column_args=[ForeignKey("members.id", use_alter=True)]
    )
    claimed_at: datetime | None = Field(sa_type=UTCDateTime)
    created_at: datetime | None = Field(sa_type=UTCDateTime)
    # Not a foreign key, like the event log's ids: the request names a member for a week at
    # most and is cleared when either of them leaves (bot/handover.py).
    head_request_member_id: str | None = Field(sa_type=ID)
    head_request_at: datetime | None = Field(sa_type=UTCDateTime, index=True)
    deactivated_at: datetime | None = Field(sa_type=UTCDateTime)


class MemberRow(TableBase, table=True):
    __tablename__ = "members"

    id: str = Field(primary_key=True, sa_type=ID)
    household_id: str = Field(foreign_key="households.id", index=True, sa_type=ID)
    name: str = Field(sa_type=NAME)
    role: str = Field(sa_type=SHORT)
    email: str | None = Field(sa_type=CONTACT)
    phone: str | None = Field(sa_type=String(32))
    joined_at: datetime | None = Field(sa_type=UTCDateTime)
    left_at: datetime | None = Field(sa_type=UTCDateTime)
    language: str = Field(sa_type=LANGUAGE, sa_column_kwargs={"server_default": ""})


class ChannelIdentityRow(TableBase, table=True):
    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: str = Field(primary_key=True, sa_type=ID)
    platform: str = Field(sa_type=PLATFORM)
    external_id: str = Field(sa_type=EXTERNAL_ID)
    member_id: str = Field(foreign_key="members.id", index=True, sa_type=ID)
    chat_id: str = Field(sa_type=EXTERNAL_ID)
    created_at: datetime | None = Field(sa_type=UTCDateTime)


class InvitationRow(TableBase, table=True):
    __tablename__ = "invitations"
    __table_args__ = (
        Index(None, "household_id", "contact", "status"),
        # list_pending_for_contact looks across households, so the index above (household
        # first) cannot serve it.
        Index(None, "contact", "status"),
        Index(None, "invited_by", "created_at"),
        Index(None, "status", "expires_at"),
    )

    id: str = Field(primary_key=True, sa_type=ID)
    household_id: str = Field(foreign_key="households.id", sa_type=ID)
    invited_by: str = Field(foreign_key="members.id", sa_type=ID)
    method: str = Field(sa_type=SHORT)
    invitee_name: str = Field(sa_type=NAME)
    contact: str = Field(sa_type=CONTACT)
    nonce: str = Field(sa_type=HASH)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(sa_type=SHORT)
    delivery_status: str = Field(sa_type=SHORT)
    sent_at: datetime | None = Field(sa_type=UTCDateTime)
    responded_at: datetime | None = Field(sa_type=UTCDateTime)
    member_id: str | None = Field(foreign_key="members.id", sa_type=ID)
    origin_platform: str = Field(sa_type=PLATFORM)
    origin_chat_id: str = Field(sa_type=EXTERNAL_ID)
    send_count: int
    # The sender's id for the message that carried it: an SMS id, or an email's Message-ID,
    # which has no fixed length (as long as the outbox's provider_id may be). Server defaults,
    # here and on outbox.data: columns added by a migration, filled in for existing rows.
    provider_message_id: str = Field(sa_type=String(255), sa_column_kwargs={"server_default": ""})
    language: str = Field(sa_type=LANGUAGE, sa_column_kwargs={"server_default": ""})


class OutboxRow(TableBase, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        Index(None, "status", "next_attempt_at"),
        Index(None, "destination", "created_at"),
        Index(None, "provider_id"),  # get_by_provider_id: delivery receipts
        # claim_due: is an earlier message of the same key still pending? (one range of the
        # index, however many of the key's messages were sent before)
        Index(None, "ordering_key", "status", "sequence"),
    )

    id: str = Field(primary_key=True, sa_type=ID)
    channel: str = Field(sa_type=SHORT)
    destination: str = Field(sa_type=CONTACT)
    body: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    subject: str = Field(sa_type=String(255))
    platform: str = Field(sa_type=PLATFORM)
    invitation_id: str | None = Field(foreign_key="invitations.id", index=True, sa_type=ID)
    status: str = Field(sa_type=SHORT)
    attempts: int
    last_error: str = Field(sa_type=Text)
    sent_at: datetime | None = Field(sa_type=UTCDateTime)
    provider_id: str = Field(sa_type=String(255))
    data: dict[str, str] = Field(sa_type=JSON, sa_column_kwargs={"server_default": "{}"})
    ordering_key: str = Field(sa_type=ID, sa_column_kwargs={"server_default": ""})
    sequence: int | None = Field(sa_type=BigInteger)


class OutboxSequenceRow(TableBase, table=True):
    """The last sequence given to an outbox ordering key (see ``OutboxMessage.ordering_key``):
    a transaction takes its numbers when it commits, holding the row until it has."""

    __tablename__ = "outbox_sequences"

    ordering_key: str = Field(primary_key=True, sa_type=ID)
    last: int = Field(sa_type=BigInteger)


class ConversationRow(TableBase, table=True):
    __tablename__ = "conversations"

    platform: str = Field(primary_key=True, sa_type=PLATFORM)
    user_id: str = Field(primary_key=True, sa_type=EXTERNAL_ID)
    state: str = Field(sa_type=String(64))
    data: dict[str, Any] = Field(sa_type=JSON)
    updated_at: datetime | None = Field(sa_type=UTCDateTime)
    language: str = Field(sa_type=LANGUAGE, sa_column_kwargs={"server_default": ""})


class PhoneStatusRow(TableBase, table=True):
    __tablename__ = "phone_statuses"

    phone: str = Field(primary_key=True, sa_type=String(32))
    opted_out: bool
    wrong_number: bool
    updated_at: datetime | None = Field(sa_type=UTCDateTime)


class InboundReceiptRow(TableBase, table=True):
    __tablename__ = "inbound_receipts"
    __table_args__ = (Index(None, "received_at"),)  # for purging old receipts

    source: str = Field(primary_key=True, sa_type=PLATFORM)
    external_id: str = Field(primary_key=True, sa_type=EXTERNAL_ID)
    received_at: datetime = Field(sa_type=UTCDateTime)


UPDATE_ID = BigInteger().with_variant(Integer(), "sqlite")
"""An id that counts up: BIGSERIAL on PostgreSQL, SQLite's INTEGER PRIMARY KEY (the rowid)."""


class InboundUpdateRow(TableBase, table=True):
    __tablename__ = "inbound_updates"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        # earlier_unhandled: the sender's older updates (one range of the index)
        Index(None, "source", "sender", "id"),
        Index(None, "source", "lease_until"),  # claim: leases that ended
        Index(None, "received_at"),  # purge
        # AUTOINCREMENT: never an id again once its row is gone (plain INTEGER PRIMARY KEY
        # starts again at 1 when the table empties, its usual state), so a leftover
        # reference to a handled update can never name a new one.
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=UPDATE_ID)
    source: str = Field(sa_type=PLATFORM)
    external_id: str = Field(sa_type=EXTERNAL_ID)
    sender: str = Field(sa_type=EXTERNAL_ID)
    payload: str = Field(sa_type=Text)
    received_at: datetime = Field(sa_type=UTCDateTime)
    owner: str = Field(sa_type=String(80))
    lease_until: datetime = Field(sa_type=UTCDateTime)
    attempts: int
    replies: str | None = Field(sa_type=Text)


class ThrottleCountRow(TableBase, table=True):
    __tablename__ = "throttles"
    __table_args__ = (Index(None, "window_started_at"),)  # for purging old counters

    # "<what>:<who>", e.g. "code:account:telegram:123", "page:203.0.113.7", "sms-reply:+1...".
    key: str = Field(primary_key=True, sa_type=String(400))
    count: int
    window_started_at: datetime = Field(sa_type=UTCDateTime)


class HouseholdEventRow(TableBase, table=True):
    __tablename__ = "household_events"
    # A household's history, newest first (storage.events.SqlHouseholdEvents).
    __table_args__ = (Index(None, "household_id", "at", "id"),)

    id: str = Field(primary_key=True, sa_type=ID)
    household_id: str = Field(foreign_key="households.id", sa_type=ID)
    kind: str = Field(sa_type=String(32))
    at: datetime = Field(sa_type=UTCDateTime)
    actor: str = Field(sa_type=SHORT)
    # Member and invitation ids without foreign keys: the log outlives what it describes, and
    # keeps the names it shows in its own columns.
    actor_member_id: str | None = Field(sa_type=ID)
    actor_name: str = Field(sa_type=NAME)
    subject_member_id: str | None = Field(sa_type=ID)
    subject_invitation_id: str | None = Field(sa_type=ID)
    subject_name: str = Field(sa_type=NAME)
    method: str | None = Field(sa_type=SHORT)
    masked_contact: str = Field(sa_type=CONTACT)
    via: str = Field(sa_type=PLATFORM)
    details: dict[str, str] = Field(sa_type=JSON)


# Case-insensitive names and addresses: compared as lower(...) by the repositories.
Index("uq_communities_lower_name", func.lower(col(CommunityRow.name)), unique=True)
Index(
    "ix_households_community_id_lower_address",
    col(HouseholdRow.community_id),
    func.lower(col(HouseholdRow.address)),
)
