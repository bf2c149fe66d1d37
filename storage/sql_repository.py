"""What every SQL repository shares: reads and writes of one table through its
:class:`~storage.mapping.RowMapper`, on the unit of work's connection.

The unit of work (:class:`storage.repositories.SqlUnitOfWork`) owns the connection, the writes
waiting to be sent and each row as the transaction last saw it; a repository is a view of one
table on it. The repositories themselves live in :mod:`storage.repositories` and, one module
each where they grow their own, beside it (:mod:`storage.events`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Executable, Select, Table, bindparam, insert, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped
from sqlmodel import col
from sqlmodel.sql.expression import SelectOfScalar

from .executors import BUILT_ONCE, Params, Rows
from .mapping import E, R, RowMapper

if TYPE_CHECKING:
    from .repositories import SqlUnitOfWork

_UNSEEN = object()
_X = TypeVar("_X", bound=Executable)
SeenKey = tuple[str, tuple[Any, ...]]
"""A row's key in :attr:`SqlUnitOfWork._seen`: its table and primary key values."""


def seen_key(mapper: RowMapper[Any, Any], values: Mapping[str, Any]) -> SeenKey:
    return (mapper.table.name, tuple(values[k] for k in mapper.key))


def remembered(uow: SqlUnitOfWork, mapper: RowMapper[E, Any], values: Mapping[str, Any]) -> E:
    """The entity of one row read, remembered as the transaction last saw it."""
    entity = mapper.to_entity_from(values)
    uow._seen[seen_key(mapper, values)] = dict(values)
    return entity


def prefixed(row: Mapping[str, Any], prefix: str, mapper: RowMapper[Any, Any]) -> dict[str, Any]:
    """One table's columns out of a joined row, where they were labelled ``prefix + name``."""
    return {name: row[prefix + name] for name in mapper.table.columns.keys()}


class SqlRepository(Generic[E, R]):
    """Shared plumbing: the unit of work's session, and reads and writes through the
    repository's mapper (each subclass names its own in ``_mapper``)."""

    _mapper: RowMapper[E, R]

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    def _by_code_point(self, column: str) -> ColumnElement[str] | Mapped[str]:
        """``column`` for ORDER BY in code-point order, as Python's ``sorted`` orders str.

        SQLite compares text bytewise already; PostgreSQL follows the database's collation
        (``en_US`` puts "apple" before "Banana"), so it is told to use "C".
        """
        if self._uow.dialect == "postgresql":
            return col(column).collate("C")
        return col(column)

    # Reads and writes run as Core statements on the unit of work's connection: no ORM
    # objects, identity map or flush, and every read returns what the database holds now.

    async def _execute(self, statement: Executable, params: Params = None) -> Rows:
        return await self._uow.execute(statement, params)

    def _entity(self, values: Mapping[str, Any]) -> E:
        """The entity of one row read, remembered as this transaction last saw it."""
        return remembered(self._uow, self._mapper, values)

    def _seen_key(self, values: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
        return seen_key(self._mapper, values)

    def _statement(self, name: str, build: Callable[[Table], _X]) -> _X:
        """A statement built once per table and dialect, with bound parameters for the
        values: building and coercing a statement costs more than compiling it, and the
        compiled form is cached by SQLAlchemy for a statement that is always the same."""
        cache = self._mapper.statements
        key = (name, self._uow.dialect)
        statement = cache.get(key)
        if statement is None:
            statement = build(self._mapper.table).execution_options(**{BUILT_ONCE: True})
            cache[key] = statement
        return statement  # what ``build`` made under this name: the same kind every time

    def _key_params(self, key: object) -> dict[str, Any]:
        keys = key if isinstance(key, tuple) else (key,)
        return {f"key_{name}": v for name, v in zip(self._mapper.key, keys, strict=True)}

    def _by_key(self, table: Table) -> list[ColumnElement[bool]]:
        return [table.c[name] == bindparam(f"key_{name}") for name in self._mapper.key]

    async def _all(self, statement: Executable, params: Mapping[str, Any] | None = None) -> list[E]:
        result = await self._execute(statement, params)
        return [self._entity(row) for row in result.mappings()]

    async def _first(
        self, statement: SelectOfScalar[R] | Select[Any], params: Mapping[str, Any] | None = None
    ) -> E | None:
        found = await self._all(statement.limit(1) if params is None else statement, params)
        return found[0] if found else None

    async def _get(self, key: object, *, for_update: bool = False) -> E | None:
        """``for_update`` locks the row until the transaction ends (PostgreSQL), as ``FOR NO
        KEY UPDATE``: two lockers of a row wait for each other, but a transaction inserting
        a row that refers to it (a member of a household, an event, an outbox message of an
        invitation; PostgreSQL takes ``KEY SHARE`` for the foreign key) does not wait, so
        locking a household and then an invitation never deadlocks with an acceptance that
        holds the invitation and adds a member (no key is ever updated)."""
        if for_update:
            statement = self._statement(
                "get_for_update",
                lambda t: core_select(t).where(*self._by_key(t)).with_for_update(key_share=True),
            )
        else:
            statement = self._statement("get", lambda t: core_select(t).where(*self._by_key(t)))
        return await self._first(statement, self._key_params(key))

    async def _count(self, statement: SelectOfScalar[int]) -> int:
        return int((await self._execute(statement)).scalar_one())

    async def _add(self, entity: E) -> None:
        """Inserted with the unit of work's next statement or its commit (see
        :meth:`SqlUnitOfWork.write`): a broken constraint fails that call at the latest."""
        values = self._mapper.to_values(entity)
        row_key = self._seen_key(values)
        await self._uow.write(self._statement("insert", insert), values, row=row_key)
        self._uow._seen[row_key] = values

    async def _update(self, entity: E) -> None:
        """Writes the columns that differ from the row as this transaction last read or
        wrote it (as ``Session.merge`` would, which reads the row again first); a row this
        transaction never saw gets all of its columns written."""
        values = self._mapper.to_values(entity)
        row_key = self._seen_key(values)
        seen = self._uow._seen.get(row_key)
        key = self._mapper.key
        changed = {
            name: value
            for name, value in values.items()
            if name not in key and (seen is None or seen.get(name, _UNSEEN) != value)
        }
        if changed:
            statement = self._statement("update", lambda t: update(t).where(*self._by_key(t)))
            params = changed | {f"key_{name}": values[name] for name in key}
            insert_it = self._statement("insert", insert)

            async def gone() -> None:  # (or never there): merge inserted it, so do we
                await self._execute(insert_it, values)

            await self._uow.write(statement, params, row=row_key, if_none=gone)
        self._uow._seen[row_key] = values

    def _dialect_insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """``INSERT`` in the dialect's own construct: both have ``ON CONFLICT``."""
        insert = postgresql.insert if self._uow.dialect == "postgresql" else sqlite.insert
        return insert(table)

    async def _upsert(self, entity: E) -> None:
        """Inserts or replaces ``entity``, in one statement (``INSERT ... ON CONFLICT DO
        UPDATE`` on the primary key): two transactions saving a new key at once both succeed,
        the later one's values win, and neither fails on the primary key."""

        def build(table: Table) -> Executable:
            statement = self._dialect_insert(table)
            return statement.on_conflict_do_update(
                index_elements=list(self._mapper.key),
                set_={
                    name: statement.excluded[name]
                    for name in table.columns.keys()
                    if name not in self._mapper.key
                },
            )

        values = self._mapper.to_values(entity)
        row_key = self._seen_key(values)
        await self._uow.write(self._statement("upsert", build), values, row=row_key)
        self._uow._seen[row_key] = values
