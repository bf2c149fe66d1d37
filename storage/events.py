"""The households' event log on the ``household_events`` table.

Append-only: :class:`SqlHouseholdEvents` has an insert and a read, and nothing that updates or
deletes a row. An append is a write like any repository's ``add``
(:meth:`storage.repositories.SqlUnitOfWork.write`): it waits for the unit of work's next
statement or its commit and goes with the change it records, on PostgreSQL in the same
statement.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Executable, Table, bindparam
from sqlalchemy import select as core_select

from bot.domain import HouseholdEvent

from .mapping import RowMapper
from .sql_repository import SqlRepository
from .tables import HouseholdEventRow


class SqlHouseholdEvents(SqlRepository[HouseholdEvent, HouseholdEventRow]):
    """:class:`bot.ports.HouseholdEventRepository` on the ``household_events`` table."""

    _mapper = RowMapper(HouseholdEvent, HouseholdEventRow)

    async def append(self, event: HouseholdEvent) -> None:
        await self._add(event)
        listener = self._uow.on_event
        if listener is not None:
            await listener(self._uow, event)

    async def list_for_household(
        self, household_id: str, *, limit: int = 20
    ) -> Sequence[HouseholdEvent]:
        """Newest first, on the ``(household_id, at, id)`` index read backwards. Ids are
        lowercase hex of one length, which every collation orders as the code points do."""

        def build(table: Table) -> Executable:
            return (
                core_select(table)
                .where(table.c.household_id == bindparam("household_id"))
                .order_by(table.c.at.desc(), table.c.id.desc())
                .limit(bindparam("limit"))
            )

        if limit <= 0:
            return []
        statement = self._statement("list_for_household", build)
        return await self._all(statement, {"household_id": household_id, "limit": limit})
