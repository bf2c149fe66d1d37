"""Bulk seeding of a benchmark database, straight into the tables (no use cases): a million
invitations through the repositories would take an hour, through ``COPY`` (PostgreSQL) or
``executemany`` (SQLite) it takes a minute.

Every household ``h`` has a head (``Member``) with a Telegram account ``telegram_user(h)``
(``TELEGRAM_BASE + h``, its private chat the same id) and a Slack account ``slack_user(h)``
(``U0BENCH…``, its direct message with the app ``slack_channel(h)``, ``D0BENCH…``, as the
Slack adapter stores them: the user id as ``external_id``, the DM as ``chat_id``);
optionally that head is in the middle of ``/invite`` on both (a conversation in state
``invite.name``, method SMS chosen, for each account), and its household's first invitation
is a pending SMS invitation to ``target_phone(h)``, so a ``JOIN`` from that number takes the
whole accept path. Further invitations per household (the growth case) are closed or pending ones to
other contacts, each with the outbox row that carried it, as a database that has been in
use for a while holds them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import make_url

from storage.database import Database

TELEGRAM_BASE = 700_000_000
"""Telegram user (and private chat) id of household 0's head."""
COMMUNITY_SIZE = 1_000
"""Households per community."""
_CLOSED = ("accepted", "declined", "cancelled", "expired", "accepted", "accepted", "expired")


def target_phone(h: int) -> str:
    """The number household ``h``'s pending SMS invitation went to (E.164)."""
    return f"+1{2_000_000_000 + h}"


def telegram_user(h: int) -> int:
    return TELEGRAM_BASE + h


def slack_user(h: int) -> str:
    """Household ``h``'s head's Slack user id (Slack's shape: capitals and digits)."""
    return f"U0BENCH{h:09d}"


def slack_channel(h: int) -> str:
    """The id of that head's direct message with the app (as the test fake's
    ``conversations.open`` names it: ``D`` and the user id's letters after its ``U``)."""
    return "D" + slack_user(h)[1:]


def _id(kind: int, n: int) -> str:
    return f"{kind:x}{n:031x}"


@dataclass(frozen=True)
class Shape:
    households: int
    invitations_per_household: int = 1
    conversations: bool = True
    """Each head in the middle of ``/invite`` (asked for the invitee's name)."""

    @property
    def invitations(self) -> int:
        return self.households * self.invitations_per_household


def _rows(shape: Shape, now: datetime) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """``(table, row)`` in an order that satisfies the foreign keys (households' head
    reference aside, which is why loading runs with the checks off)."""
    week, day = timedelta(days=7), timedelta(days=1)
    for c in range(max(1, -(-shape.households // COMMUNITY_SIZE))):
        yield "communities", (_id(1, c), f"Bench HOA {c}", f"board{c}@bench.example", now)
    for h in range(shape.households):
        head = _id(3, h)
        user = str(telegram_user(h))
        yield (
            "households",
            (
                _id(2, h),
                _id(1, h // COMMUNITY_SIZE),
                f"{h} Bench Street",
                hashlib.sha256(f"code-{h}".encode()).hexdigest(),
                f"Head {h}",
                f"head{h}@bench.example",
                head,
                now - week,
                now - week,
            ),
        )
        yield "members", (head, _id(2, h), f"Head {h}", "head", f"head{h}@bench.example", None, now)
        slack = slack_user(h)
        yield "channel_identities", (_id(4, h), "telegram", user, head, user, now - week)
        yield "channel_identities", (_id(7, h), "slack", slack, head, slack_channel(h), now - week)
        if shape.conversations:
            yield "conversations", ("telegram", user, "invite.name", {"method": "sms"}, now)
            yield "conversations", ("slack", slack, "invite.name", {"method": "sms"}, now)
        for k in range(shape.invitations_per_household):
            j = h * shape.invitations_per_household + k
            if k == 0:
                status, method, contact = "pending", "sms", target_phone(h)
                created, expires = now - day, now - day + week
            else:
                status = "pending" if k % 8 == 0 else _CLOSED[k % len(_CLOSED)]
                method = "sms" if k % 3 else "email"
                contact = f"+1{3_000_000_000 + j}" if method == "sms" else f"inv{j}@bench.example"
                created = now - timedelta(hours=1 + k * 24)
                expires = created + week if status != "expired" else now - timedelta(hours=k)
            responded = None if status in ("pending", "expired") else created + timedelta(hours=1)
            provider = f"SM{j:032x}" if method == "sms" else f"<{j}@bench.example>"
            yield (
                "invitations",
                (
                    _id(5, j),
                    _id(2, h),
                    head,
                    method,
                    f"Invitee {j}",
                    contact,
                    hashlib.sha256(f"nonce-{j}".encode()).hexdigest(),
                    expires,
                    created,
                    status,
                    "delivered",
                    created,
                    responded,
                    None,
                    "telegram",
                    user,
                    1,
                    provider,
                ),
            )
            yield (
                "outbox",
                (
                    _id(6, j),
                    method,
                    contact,
                    f"Head {h} invites you to join {h} Bench Street.",
                    created,
                    created,
                    "" if method == "sms" else "An invitation",
                    "",
                    _id(5, j),
                    "sent",
                    1,
                    "",
                    created,
                    provider,
                    {},
                ),
            )


COLUMNS = {
    "communities": ("id", "name", "contact", "created_at"),
    "households": (
        "id",
        "community_id",
        "address",
        "access_code_hash",
        "head_name",
        "head_contact",
        "head_member_id",
        "claimed_at",
        "created_at",
    ),
    "members": ("id", "household_id", "name", "role", "email", "phone", "joined_at"),
    "channel_identities": ("id", "platform", "external_id", "member_id", "chat_id", "created_at"),
    "conversations": ("platform", "user_id", "state", "data", "updated_at"),
    "invitations": (
        "id",
        "household_id",
        "invited_by",
        "method",
        "invitee_name",
        "contact",
        "nonce",
        "expires_at",
        "created_at",
        "status",
        "delivery_status",
        "sent_at",
        "responded_at",
        "member_id",
        "origin_platform",
        "origin_chat_id",
        "send_count",
        "provider_message_id",
    ),
    "outbox": (
        "id",
        "channel",
        "destination",
        "body",
        "created_at",
        "next_attempt_at",
        "subject",
        "platform",
        "invitation_id",
        "status",
        "attempts",
        "last_error",
        "sent_at",
        "provider_id",
        "data",
    ),
}


def _batches(
    shape: Shape, now: datetime, size: int = 20_000
) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    batch: dict[str, list[tuple[Any, ...]]] = {table: [] for table in COLUMNS}
    count = 0
    for table, row in _rows(shape, now):
        batch[table].append(row)
        count += 1
        if count >= size:
            yield batch
            batch, count = {table: [] for table in COLUMNS}, 0
    yield batch


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):  # as SQLAlchemy's SQLite DATETIME stores it (UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def _seed_sqlite(path: str, shape: Shape, now: datetime) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=OFF")  # seeding only: the server sets its own
        connection.execute("BEGIN")
        for batch in _batches(shape, now):
            for table, rows in batch.items():
                if not rows:
                    continue
                columns = COLUMNS[table]
                connection.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' * len(columns))})",
                    [tuple(_sqlite_value(v) for v in row) for row in rows],
                )
        connection.execute("COMMIT")
        connection.execute("ANALYZE")
        # The load went through the WAL: move it into the database now, or the server's first
        # checkpoints would copy a gigabyte during the measurements.
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def _remove_sqlite(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)


def _pg_value(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict) else value


async def _seed_postgresql(url: str, shape: Shape, now: datetime) -> None:
    import asyncpg

    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        # Seeding only: the households <-> members cycle is loaded with the checks off.
        await connection.execute("SET session_replication_role = replica")
        for batch in _batches(shape, now, size=100_000):
            for table, rows in batch.items():
                if rows:
                    await connection.copy_records_to_table(
                        table,
                        records=[tuple(_pg_value(v) for v in row) for row in rows],
                        columns=COLUMNS[table],
                    )
        # As autovacuum would have left a database in use: statistics, the visibility map and
        # hint bits set (else the first reads of each page write it), then a checkpoint.
        await connection.execute("VACUUM ANALYZE")
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def reset_postgresql(url: str) -> None:
    """Create the benchmark database if need be, and empty it (its own database: nobody
    else's schema is touched)."""
    import asyncpg

    parsed = make_url(url)
    name = parsed.database
    admin = await asyncpg.connect(_asyncpg_dsn(str(parsed.set(database="postgres"))))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await connection.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    finally:
        await connection.close()


async def prepare(url: str, shape: Shape) -> float:
    """An empty, migrated database at ``url`` holding ``shape``; returns the seconds taken."""
    started = time.monotonic()
    backend = make_url(url).get_backend_name()
    if backend == "postgresql":
        await reset_postgresql(url)
    else:
        path = make_url(url).database
        assert path, "a file database is needed (the server runs in other processes)"
        _remove_sqlite(path)
    database = Database(url)
    try:
        await database.upgrade()
    finally:
        await database.dispose()
    now = datetime.now(UTC)
    if backend == "postgresql":
        await _seed_postgresql(url, shape, now)
    else:
        await asyncio.to_thread(_seed_sqlite, str(make_url(url).database), shape, now)
    return time.monotonic() - started


def counts(url: str, tables: Sequence[str] = ("households", "invitations")) -> dict[str, int]:
    """Row counts (for the report)."""

    async def run() -> dict[str, int]:
        from sqlalchemy import text

        database = Database(url)
        try:
            async with database.engine.connect() as connection:
                return {
                    t: (await connection.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()
                    for t in tables
                }
        finally:
            await database.dispose()

    return asyncio.run(run())


async def _pg_io(url: str) -> dict[str, int]:
    import asyncpg

    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await connection.execute("SELECT pg_stat_clear_snapshot()")
        wal = await connection.fetchrow("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal")
        db = await connection.fetchrow(
            "SELECT blks_read, blks_hit FROM pg_stat_database WHERE datname = current_database()"
        )
        return {
            "wal_records": int(wal["wal_records"]),
            "wal_fpi": int(wal["wal_fpi"]),
            "wal_bytes": int(wal["wal_bytes"]),
            "blks_read": int(db["blks_read"]),
            "blks_hit": int(db["blks_hit"]),
        }
    finally:
        await connection.close()


def pg_io(url: str) -> dict[str, int] | None:
    """PostgreSQL's cumulative WAL and buffer counters (``pg_stat_wal`` is cluster-wide, the
    buffer counts are this database's); ``None`` on SQLite. The growth run takes the
    difference around each measurement and prints it per request."""
    if make_url(url).get_backend_name() != "postgresql":
        return None
    return asyncio.run(_pg_io(url))
