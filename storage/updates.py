"""The chat updates taken in and not yet done with, on the ``inbound_updates`` table
(:class:`bot.ports.InboundUpdateRepository`; what they are for: :mod:`bot.intake`).

A row lives from the transaction that answers the platform 2xx until its replies are sent:
milliseconds, unless a process died holding it. Its payload (what a person typed) is therefore
kept no longer than it takes to handle it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Executable,
    Table,
    any_,
    bindparam,
    delete,
    exists,
    insert,
    literal,
    true,
    update,
)
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql

from bot.domain import Conversation, InboundReceipt, InboundUpdate

from .mapping import RowMapper
from .sql_repository import SqlRepository, remembered
from .tables import ConversationRow, InboundReceiptRow, InboundUpdateRow

_CONVERSATIONS = RowMapper(Conversation, ConversationRow)


class SqlInboundUpdates(SqlRepository[InboundUpdate, InboundUpdateRow]):
    """:class:`bot.ports.InboundUpdateRepository` on the ``inbound_updates`` table."""

    _mapper = RowMapper(InboundUpdate, InboundUpdateRow)

    async def add(self, update: InboundUpdate) -> int:
        """One ``INSERT ... RETURNING id``: the id is the database's (a sequence on
        PostgreSQL, the rowid on SQLite), so it grows in the order of the inserts' commits
        as closely as the database can tell."""
        values = self._mapper.to_values(update)
        del values["id"]
        statement = self._statement("insert_returning", lambda t: insert(t).returning(t.c.id))
        update.id = int((await self._execute(statement, values)).scalar_one())
        values["id"] = update.id
        self._uow._seen[self._seen_key(values)] = values
        return update.id

    async def take_in(self, update: InboundUpdate) -> bool:
        """On PostgreSQL one statement, run alone (no ``BEGIN``, no ``COMMIT``: one round
        trip): the receipt's ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` in a ``WITH``,
        and the update inserted only if it returned a row. A second delivery taken in at the
        same moment waits on the receipt's key, then inserts nothing. Elsewhere the receipt
        and the update are two statements of the unit of work's transaction."""
        values = self._mapper.to_values(update)
        del values["id"]
        if self._uow.dialect != "postgresql":
            receipt = InboundReceipt(update.source, update.external_id, update.received_at)
            if not await self._uow.receipts.first_time(receipt):
                return False
            await self.add(update)
            return True
        statement = self._statement("take_in", _take_in)
        rows = (
            await self._uow.execute_alone(statement, {f"p_{k}": v for k, v in values.items()})
        ).mappings()
        if not rows:
            return False
        update.id = int(rows[0]["id"])
        values["id"] = update.id
        self._uow._seen[self._seen_key(values)] = values
        return True

    async def get(self, update_id: int, *, for_update: bool = False) -> InboundUpdate | None:
        return await self._get(update_id, for_update=for_update)

    async def lock_step(
        self, update_id: int, *, platform: str, user_id: str
    ) -> tuple[InboundUpdate | None, Conversation | None]:
        """On PostgreSQL one statement (two locking ``SELECT``s in a ``WITH``, each joined to
        a one-row table so that either may find nothing): one round trip instead of two. The
        update's row is locked first (the conversation's ``SELECT`` needs it), as a step
        always does."""
        if self._uow.dialect != "postgresql":
            found = await self.get(update_id, for_update=True)
            if found is None:
                return None, None
            conversations = self._uow.conversations
            return found, await conversations.get(
                platform=platform, user_id=user_id, for_update=True
            )
        statement = self._statement("lock_step", _lock_step)
        params = {"update_id": update_id, "platform": platform, "user_id": user_id}
        row = (await self._execute(statement, params)).first()
        if row is None:
            return None, None
        values = {name: row[f"u_{name}"] for name in self._mapper.table.columns.keys()}
        conversation_values = {
            name: row[f"c_{name}"] for name in _CONVERSATIONS.table.columns.keys()
        }
        return (
            self._entity(values) if values["id"] is not None else None,
            remembered(self._uow, _CONVERSATIONS, conversation_values)
            if conversation_values["platform"] is not None
            else None,
        )

    async def earlier_unhandled(self, *, source: str, sender: str, before: int) -> bool:
        def build(table: Table) -> Executable:
            return (
                core_select(table.c.id)
                .where(
                    table.c.source == bindparam("source"),
                    table.c.sender == bindparam("sender"),
                    table.c.id < bindparam("before"),
                    table.c.replies.is_(None),
                )
                .limit(1)
            )

        statement = self._statement("earlier_unhandled", build)
        params = {"source": source, "sender": sender, "before": before}
        return (await self._execute(statement, params)).first() is not None

    async def save(self, update: InboundUpdate) -> None:
        await self._update(update)

    async def finish(self, ids: Sequence[int], *, owner: str) -> int:
        """One ``DELETE``, run alone (a transaction by itself: the unit of work's only
        statement)."""
        if not ids:
            return 0

        if self._uow.dialect == "postgresql":  # one prepared statement whatever the count
            statement = self._statement("finish", _finish)
            params = {"ids": list(ids), "owner": owner}
            result = await self._uow.execute_alone(statement, params)
        else:
            table = self._mapper.table
            statement = delete(table).where(table.c.id.in_(list(ids)), table.c.owner == owner)
            result = await self._uow.execute_alone(statement)
        return int(result.rowcount or 0)

    async def claim(
        self,
        *,
        source: str,
        now: datetime,
        owner: str,
        lease_until: datetime,
        limit: int,
        sender: str | None = None,
        before: int | None = None,
    ) -> Sequence[InboundUpdate]:
        """On PostgreSQL the rows are taken with ``FOR UPDATE SKIP LOCKED`` (a row whose
        step another process is taking is skipped, not waited for); SQLite's units of work
        run one at a time. The new lease is written before the transaction commits, so once
        it does nobody else takes them until the lease ends."""
        if limit <= 0:
            return []
        table = self._mapper.table
        query = core_select(table).where(table.c.source == source, table.c.lease_until <= now)
        if sender is not None:
            query = query.where(table.c.sender == sender)
        if before is not None:
            query = query.where(table.c.id < before)
        query = query.order_by(table.c.id).limit(limit).with_for_update(skip_locked=True)
        rows = [dict(row) for row in (await self._execute(query)).mappings()]
        if not rows:
            return []
        await self._execute(
            update(table)
            .where(table.c.id.in_([row["id"] for row in rows]))
            .values(owner=owner, lease_until=lease_until, attempts=table.c.attempts + 1)
        )
        for row in rows:
            row |= {"owner": owner, "lease_until": lease_until, "attempts": row["attempts"] + 1}
        return [self._entity(row) for row in rows]

    async def extend(
        self,
        ids: Sequence[int],
        *,
        owner: str,
        lease_until: datetime,
        skip_locked: bool = False,
    ) -> int:
        """``skip_locked`` on PostgreSQL: the rows are picked with ``FOR NO KEY UPDATE SKIP
        LOCKED`` first. A plain ``UPDATE`` of a hundred leases would wait for every step
        holding one of them, and every step that then locks one of those it updated would
        wait for it: a convoy of a tenth of a second each time the leases are renewed."""
        if not ids:
            return 0
        table = self._mapper.table
        mine = (table.c.id.in_(list(ids)), table.c.owner == owner)
        statement = update(table).values(lease_until=lease_until)
        if skip_locked and self._uow.dialect == "postgresql":
            free = (
                core_select(table.c.id)
                .where(*mine)
                .with_for_update(key_share=True, skip_locked=True)
                .scalar_subquery()
            )
            statement = statement.where(table.c.id.in_(free))
        else:
            statement = statement.where(*mine)
        result = await self._execute(statement)
        return int(result.rowcount or 0)

    async def purge(self, *, before: datetime) -> int:
        """One ``DELETE`` on the ``received_at`` index."""
        table = self._mapper.table
        result = await self._execute(delete(table).where(table.c.received_at < before))
        return int(result.rowcount or 0)


def _take_in(table: Table) -> Executable:
    """``WITH receipt AS (INSERT INTO inbound_receipts ... ON CONFLICT DO NOTHING RETURNING
    source) INSERT INTO inbound_updates (...) SELECT $... WHERE EXISTS (SELECT FROM receipt)
    RETURNING id`` (parameters ``p_<column>``)."""
    receipts = InboundReceiptRow.__table__  # type: ignore[attr-defined]
    receipt = (
        postgresql.insert(receipts)
        .values(
            source=bindparam("p_source"),
            external_id=bindparam("p_external_id"),
            received_at=bindparam("p_received_at"),
        )
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(receipts.c.source)
        .cte("receipt")
    )
    columns = [name for name in table.c.keys() if name != "id"]
    values = core_select(*(bindparam(f"p_{name}", type_=table.c[name].type) for name in columns))
    return (
        insert(table)
        .from_select(columns, values.where(exists(core_select(receipt.c.source))))
        .returning(table.c.id)
    )


def _lock_step(table: Table) -> Executable:
    """``WITH u AS (SELECT ... FROM inbound_updates WHERE id = $1 FOR NO KEY UPDATE), c AS
    (SELECT ... FROM conversations WHERE platform = $2 AND user_id = $3 AND EXISTS (SELECT
    FROM u) FOR NO KEY UPDATE)
    SELECT u.* AS u_*, c.* AS c_* FROM (SELECT 1) LEFT JOIN u ON true LEFT JOIN c ON true``."""
    conversations = _CONVERSATIONS.table
    u = (
        core_select(table)
        .where(table.c.id == bindparam("update_id"))
        .with_for_update(key_share=True)
        .cte("u")
    )
    c = (
        core_select(conversations)
        .where(
            conversations.c.platform == bindparam("platform"),
            conversations.c.user_id == bindparam("user_id"),
            # after the update, and only with it: locked in that order whatever the plan
            exists(core_select(u.c.id)),
        )
        .with_for_update(key_share=True)
        .cte("c")
    )
    one = core_select(literal(1).label("one")).subquery("one")
    return core_select(
        *(u.c[name].label(f"u_{name}") for name in table.columns.keys()),
        *(c.c[name].label(f"c_{name}") for name in conversations.columns.keys()),
    ).select_from(one.outerjoin(u, true()).outerjoin(c, true()))


def _finish(table: Table) -> Executable:
    """``DELETE FROM inbound_updates WHERE id = ANY($1) AND owner = $2`` (PostgreSQL)."""
    ids = bindparam("ids", type_=postgresql.ARRAY(BigInteger()))
    return delete(table).where(table.c.id == any_(ids), table.c.owner == bindparam("owner"))
