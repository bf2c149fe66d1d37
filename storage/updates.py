"""The chat updates taken in and not yet done with, on the ``inbound_updates`` table
(:class:`bot.ports.InboundUpdateRepository`; what they are for: :mod:`bot.intake`).

A row lives from the transaction that answers the platform 2xx until its replies are sent:
milliseconds, unless a process died holding it. Its payload (what a person typed) is therefore
kept no longer than it takes to handle it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Executable, Table, bindparam, delete, insert, update
from sqlalchemy import select as core_select

from bot.domain import InboundUpdate

from .mapping import RowMapper
from .sql_repository import SqlRepository
from .tables import InboundUpdateRow


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

    async def get(self, update_id: int, *, for_update: bool = False) -> InboundUpdate | None:
        return await self._get(update_id, for_update=for_update)

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

    async def finish(self, update_id: int, *, owner: str) -> None:
        def build(table: Table) -> Executable:
            return delete(table).where(
                table.c.id == bindparam("update_id"), table.c.owner == bindparam("owner")
            )

        statement = self._statement("finish", build)
        await self._execute(statement, {"update_id": update_id, "owner": owner})

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

    async def extend(self, ids: Sequence[int], *, owner: str, lease_until: datetime) -> int:
        if not ids:
            return 0
        table = self._mapper.table
        result = await self._execute(
            update(table)
            .where(table.c.id.in_(list(ids)), table.c.owner == owner)
            .values(lease_until=lease_until)
        )
        return int(result.rowcount or 0)

    async def purge(self, *, before: datetime) -> int:
        """One ``DELETE`` on the ``received_at`` index."""
        table = self._mapper.table
        result = await self._execute(delete(table).where(table.c.received_at < before))
        return int(result.rowcount or 0)
