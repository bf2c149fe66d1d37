"""How a unit of work runs its statements on one pooled connection, in one transaction.

Two ways, one behaviour (the contract tests in ``tests/storage`` run on both):

- :class:`SqlAlchemyConnection`: SQLAlchemy Core executes the statement (SQLite; PostgreSQL
  too when the fast path below is switched off, ``INVITEBOT_DATABASE_FAST_PATH=0``).
- :class:`AsyncpgConnection`, the fast path (PostgreSQL through asyncpg, on by default):
  SQLAlchemy still builds and compiles every statement, applies its column types'
  conversions and lends the connection from its pool, but the compiled SQL then runs straight
  on the asyncpg connection. SQLAlchemy's execution layer (execution contexts, the greenlet
  bridge for each call, cursor emulation and result plumbing) costs more than half of a
  one-row statement's CPU: about 2.4 times the fast path's, and a transaction of eight takes
  1.6 times as long (``docs/performance.md``, item 9; ``python -m tests.benchmarks.executors``
  measures both).

The fast path uses SQLAlchemy internals that are not public API (``_generate_cache_key``,
``construct_params(extracted_parameters=...)``, ``positiontup``, ``effective_returning``,
``binds``); ``pyproject.toml`` pins SQLAlchemy to the minor series the tests ran on, and the
PostgreSQL suite runs with the fast path on and off. It bypasses SQLAlchemy's events, so
``echo`` and anything listening on ``before_cursor_execute`` see nothing of it: it logs each
statement (SQL and milliseconds, never the parameters) to the ``invitebot.sql`` logger at
``DEBUG`` instead.

Both raise SQLAlchemy's exceptions (:class:`~sqlalchemy.exc.IntegrityError` for a broken
constraint, :class:`~sqlalchemy.exc.DBAPIError` with ``connection_invalidated`` for a lost
connection, :class:`~sqlalchemy.exc.StatementError` for a value a column type refuses), so
callers and :func:`storage.errors.is_unavailable` cannot tell them apart.
"""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from time import perf_counter
from typing import Any, Protocol, Self, cast

import asyncpg
from sqlalchemy import exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
Batch = Sequence[tuple[Executable, Mapping[str, Any]]]
"""Writes to run together, each a statement and its one set of parameters."""

BUILT_ONCE = "invitebot_built_once"
"""Execution option of a statement that is built once and reused for every call (see
``storage.repositories``): its compiled form is looked up by identity, without computing
SQLAlchemy's cache key."""

SQL_LOG = logging.getLogger("invitebot.sql")
"""The fast path's statements, at ``DEBUG``: the SQL as sent (placeholders, never the values:
they hold phone numbers and email addresses) and how long it took, in milliseconds."""

_CACHE_SIZE = 512
_ROWCOUNT = re.compile(r"(?:SELECT|UPDATE|DELETE|INSERT \d+|MERGE) (\d+)$")


class Rows:
    """What a statement gave: its rows as mappings (column name → value) and its row count."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Mapping[str, Any]], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def mappings(self) -> list[Mapping[str, Any]]:
        return self._rows

    def first(self) -> Mapping[str, Any] | None:
        return self._rows[0] if self._rows else None

    def scalar_one(self) -> Any:
        if len(self._rows) != 1:
            raise exc.NoResultFound("no row") if not self._rows else exc.MultipleResultsFound()
        return next(iter(self._rows[0].values()))


class Connection(Protocol):
    """One pooled connection with its open transaction."""

    async def execute(self, statement: Executable, params: Params = None) -> Rows: ...
    async def execute_batch(self, batch: Batch) -> list[int]:
        """Runs writes that return no rows, in order, and returns the rows each affected.
        They are independent of each other (no two touch the same row), so they may run as
        one statement."""
        ...

    async def commit(self) -> None: ...
    async def close(self) -> None:
        """Rolls back what was not committed and gives the connection back to the pool."""
        ...


async def open_connection(
    engine: AsyncEngine, *, fast_path: bool = True, alone: bool = False
) -> Connection:
    """A connection of ``engine``'s pool, in a transaction: on the fast path when
    ``fast_path`` and the driver has one (asyncpg), else executed by SQLAlchemy.

    ``alone``: for one statement that is a transaction by itself (then ``commit``). The fast
    path sends it without ``BEGIN`` and ``COMMIT`` (PostgreSQL commits a statement run outside
    a transaction as it ends, atomically): one round trip instead of three."""
    if fast_path and engine.dialect.driver == "asyncpg":
        return await AsyncpgConnection.open(engine, begin=not alone)
    return await SqlAlchemyConnection.open(engine)


class SqlAlchemyConnection:
    """Statements executed by SQLAlchemy (the transaction begins with the first)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    @classmethod
    async def open(cls, engine: AsyncEngine) -> Self:
        return cls(await engine.connect())

    async def execute(self, statement: Executable, params: Params = None) -> Rows:
        result = await self._connection.execute(statement, params)
        rows: list[Mapping[str, Any]] = []
        if result.returns_rows:
            rows.extend(cast("Iterable[Mapping[str, Any]]", result.mappings()))
        return Rows(rows, result.rowcount if not result.returns_rows else len(rows))

    async def execute_batch(self, batch: Batch) -> list[int]:
        return [(await self.execute(statement, params)).rowcount for statement, params in batch]

    async def commit(self) -> None:
        await self._connection.commit()

    async def close(self) -> None:
        await self._connection.close()


# --- PostgreSQL through asyncpg ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement compiled once for the asyncpg dialect, with its types' conversions."""

    sql: str
    compiled: SQLCompiler
    names: tuple[str, ...]
    bind_processors: tuple[Callable[[Any], Any] | None, ...]
    returns_rows: bool
    result_processors: tuple[Callable[[Any], Any] | None, ...]
    cacheable: bool
    reads_only: bool
    """A plain ``SELECT``: no row lock, nothing a transaction would hold (see
    :func:`_reads_only`)."""

    @classmethod
    def of(
        cls,
        statement: Executable,
        dialect: Dialect,
        column_keys: tuple[str, ...] | None,
        cache_key: Any = None,
    ) -> _Compiled:
        keys = list(column_keys) if column_keys is not None else None
        element = cast(ClauseElement, statement)  # every statement a repository runs is one
        compiled = element.compile(dialect=dialect, column_keys=keys, cache_key=cache_key)
        cacheable = "POSTCOMPILE" not in compiled.string
        if not cacheable:  # an IN list: its parameters are rendered for these values only
            compiled = element.compile(
                dialect=dialect, column_keys=keys, compile_kwargs={"render_postcompile": True}
            )
        assert isinstance(compiled, SQLCompiler)
        names = tuple(compiled.positiontup or ())
        binds = compiled.binds
        selected = getattr(statement, "selected_columns", None)
        returns_rows = bool(getattr(statement, "is_select", False) or compiled.effective_returning)
        if returns_rows and compiled.effective_returning:
            columns = list(compiled.effective_returning)
        else:
            columns = list(selected) if selected is not None else []
        return cls(
            sql=compiled.string,
            compiled=compiled,
            names=names,
            bind_processors=tuple(_bind_type(binds, n).bind_processor(dialect) for n in names),
            returns_rows=returns_rows,
            result_processors=tuple(c.type.result_processor(dialect, None) for c in columns),
            cacheable=cacheable,
            reads_only=_reads_only(compiled.string),
        )

    def arguments(self, params: Mapping[str, Any] | None, extracted: Any = None) -> list[Any]:
        values = self.compiled.construct_params(
            params, extracted_parameters=extracted, escape_names=False
        )
        arguments = []
        for name, process in zip(self.names, self.bind_processors, strict=True):
            value = values[name]
            if process is not None and value is not None:
                try:
                    value = process(value)
                except Exception as error:  # as SQLAlchemy reports a value its type refuses
                    raise exc.StatementError(
                        str(error), self.sql, params, error, hide_parameters=True
                    ) from error
            arguments.append(value)
        return arguments

    def rows(self, records: list[asyncpg.Record]) -> list[Mapping[str, Any]]:
        processors = self.result_processors
        if not any(processors):
            return [dict(record.items()) for record in records]
        rows: list[Mapping[str, Any]] = []
        for record in records:
            row = {}
            for (key, value), process in zip(record.items(), processors, strict=True):
                row[key] = process(value) if process is not None and value is not None else value
            rows.append(row)
        return rows


def _bind_type(binds: Mapping[str, Any], name: str) -> Any:
    """The type of parameter ``name``; an IN list's values, rendered as ``<name>_1``,
    ``<name>_2``..., have the list's."""
    found = binds.get(name)
    if found is None:
        found = binds[name.rsplit("_", 1)[0]]
    return found.type


class _StatementCache:
    """Compiled statements of one dialect: by identity for those built once, else by
    SQLAlchemy's cache key (bounded)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._by_identity: dict[Any, tuple[Executable, _Compiled]] = {}
        self._by_key: dict[Any, _Compiled] = {}

    def lookup(
        self, statement: Executable, params: Mapping[str, Any] | None
    ) -> tuple[_Compiled, Any]:
        """The compiled form of ``statement`` for ``params``, and the parameters its cache key
        extracted. An ``INSERT`` or ``UPDATE`` without values of its own sets the columns its
        parameters name (as SQLAlchemy compiles it), so those are part of the key."""
        is_dml = getattr(statement, "is_dml", False)
        column_keys = tuple(sorted(params)) if params and is_dml else None
        identity = (id(statement), column_keys)
        found = self._by_identity.get(identity)
        if found is not None and found[0] is statement:
            return found[1], None
        if statement.get_execution_options().get(BUILT_ONCE):
            compiled = _Compiled.of(statement, self.dialect, column_keys)
            if compiled.cacheable:
                if len(self._by_identity) >= _CACHE_SIZE:
                    self._by_identity.clear()
                self._by_identity[identity] = (statement, compiled)
            return compiled, None
        # What SQLAlchemy's own compiled cache keys on.
        cache_key = cast(ClauseElement, statement)._generate_cache_key()
        if cache_key is None:
            return _Compiled.of(statement, self.dialect, column_keys), None
        key = (cache_key.key, column_keys)
        cached = self._by_key.get(key)
        if cached is None:
            compiled = _Compiled.of(statement, self.dialect, column_keys, cache_key)
            if not compiled.cacheable:
                return compiled, None
            if len(self._by_key) >= _CACHE_SIZE:
                self._by_key.clear()
            self._by_key[key] = compiled
        else:
            compiled = cached
        return compiled, cache_key.bindparams


_CACHES: weakref.WeakKeyDictionary[Dialect, _StatementCache] = weakref.WeakKeyDictionary()


def _cache_of(dialect: Dialect) -> _StatementCache:
    cache = _CACHES.get(dialect)
    if cache is None:
        cache = _CACHES[dialect] = _StatementCache(dialect)
    return cache


class PostgresError(Exception):
    """A PostgreSQL error as SQLAlchemy's own asyncpg dialect shows it: the server's message,
    without the ``DETAIL`` asyncpg adds to it, which quotes the row's values (``Key
    (platform, external_id)=(sms, +12025550199) already exists``). The SQLSTATE and the
    constraint stay readable; asyncpg's error is its ``__cause__``."""

    def __init__(self, message: str, *, sqlstate: str | None, constraint_name: str | None):
        super().__init__(message)
        self.sqlstate = sqlstate
        self.constraint_name = constraint_name

    @classmethod
    def of(cls, error: Exception) -> Exception:
        if not isinstance(error, asyncpg.PostgresError):
            return error
        message = str(error.args[0]) if error.args else type(error).__name__
        shown = cls(
            f"{type(error).__name__}: {message}",
            sqlstate=getattr(error, "sqlstate", None),
            constraint_name=getattr(error, "constraint_name", None),
        )
        shown.__cause__ = error
        return shown


_SQLSTATE_ERRORS: dict[str, type[exc.DBAPIError]] = {
    "23": exc.IntegrityError,
    "22": exc.DataError,
    "42": exc.ProgrammingError,
    "0A": exc.NotSupportedError,
    "08": exc.OperationalError,
    "53": exc.OperationalError,
    "57": exc.OperationalError,
    "40": exc.OperationalError,
    "XX": exc.InternalError,
}


class AsyncpgConnection:
    """Statements compiled by SQLAlchemy, run on the pooled connection's asyncpg connection
    in a transaction of its own (``BEGIN``, then ``COMMIT`` or ``ROLLBACK`` at the end).

    ``BEGIN`` is sent before the first statement that needs it: a write, or a read that locks
    rows. Plain reads before it run on their own. Under PostgreSQL's isolation level,
    READ COMMITTED (which invitebot never changes), every statement of a transaction sees
    what had committed when it began, in a transaction or not, so such a read sees exactly
    what it would have seen after a ``BEGIN``; and a unit of work that only reads (a home
    tab, a page, the outbox finding nothing due) costs no ``BEGIN`` and no ``ROLLBACK``.

    The connection comes from the engine's pool, where SQLAlchemy's dialect set it up (its
    JSON codecs, for one); SQLAlchemy never runs a statement on it meanwhile, so it holds no
    transaction of its own there. A connection the server closed while it sat in the pool
    (the database restarted) is seen closed by asyncpg at once, and replaced.
    """

    _MAX_DEAD = 32
    """Dead pooled connections passed over before giving up on the pool."""

    def __init__(
        self, connection: AsyncConnection, raw: asyncpg.Connection, cache: Any, *, begun: bool
    ) -> None:
        self._connection = connection
        self._raw = raw
        self._cache: _StatementCache = cache
        self._begun = False
        """Whether ``BEGIN`` was sent."""
        self._alone = not begun
        """For one statement alone (``open(begin=False)``): never a ``BEGIN``."""
        self._statements = 0

    @classmethod
    async def open(cls, engine: AsyncEngine, *, begin: bool = True) -> Self:
        for _ in range(cls._MAX_DEAD):
            connection = await engine.connect()
            try:
                raw = (await connection.get_raw_connection()).driver_connection
                assert isinstance(raw, asyncpg.Connection)
            except BaseException:
                await connection.close()
                raise
            if not raw.is_closed():
                break
            await _discard(connection)
        else:
            raise exc.OperationalError(
                "BEGIN", None, ConnectionError("every pooled connection was closed")
            )
        return cls(connection, raw, _cache_of(engine.dialect), begun=begin)

    async def execute(self, statement: Executable, params: Params = None) -> Rows:
        if params is not None and not isinstance(params, Mapping):
            raise TypeError("one set of parameters at a time")
        if self._alone:
            # Outside a transaction each statement commits by itself: only one may run.
            if self._statements:
                raise RuntimeError("a connection opened for one statement alone ran one")
            self._statements += 1
        compiled, extracted = self._cache.lookup(statement, params)
        arguments = compiled.arguments(params, extracted)
        if not self._begun and not self._alone and not compiled.reads_only:
            await self._begin()
        if compiled.returns_rows:
            records = await self._run(compiled.sql, arguments, rows=True)
            rows = compiled.rows(records)
            return Rows(rows, len(rows))
        status = await self._run(compiled.sql, arguments, rows=False)
        counted = _ROWCOUNT.match(status or "")
        return Rows([], int(counted.group(1)) if counted else -1)

    async def execute_batch(self, batch: Batch) -> list[int]:
        """Two or more writes as one statement, each a data-modifying ``WITH`` query of it
        (``WITH w0 AS (INSERT ... RETURNING 1), w1 AS (UPDATE ... RETURNING 1) SELECT
        (SELECT count(*) FROM w0), ...``): one round trip instead of one each. PostgreSQL
        runs them all on one snapshot and checks foreign keys at the end of the statement,
        so a row may reference another inserted in the same batch; a broken constraint fails
        the whole statement."""
        if len(batch) == 1:
            statement, params = batch[0]
            return [(await self.execute(statement, params)).rowcount]
        if self._alone:
            raise RuntimeError("a connection opened for one statement alone got several")
        if not self._begun:
            await self._begin()
        parts = []
        arguments: list[Any] = []
        for statement, params in batch:
            compiled, extracted = self._cache.lookup(statement, params)
            parts.append(compiled)
            arguments.extend(compiled.arguments(params, extracted))
        sql = _combined(tuple(c.sql for c in parts), tuple(len(c.names) for c in parts))
        if sql is None:  # a statement that cannot be a WITH query: one at a time
            return [(await self.execute(s, p)).rowcount for s, p in batch]
        records = await self._run(sql, arguments, rows=True)
        return [int(n) for n in records[0].values()]

    async def _run(self, sql: str, arguments: list[Any], *, rows: bool) -> Any:
        # Timed only when someone reads the log: nothing else to pay for it.
        started = perf_counter() if SQL_LOG.isEnabledFor(logging.DEBUG) else None
        try:
            if rows:
                result = await self._raw.fetch(sql, *arguments)
            else:
                result = await self._raw.execute(sql, *arguments)
        except Exception as error:
            if started is not None:
                _log_statement(sql, started, "failed")
            raise await self._translated(error, sql, arguments) from error
        except BaseException:
            if started is not None:
                _log_statement(sql, started, "cancelled")
            # Cancelled mid-statement: the protocol's state is unknown, so the connection
            # must not go back to the pool.
            await _discard(self._connection)
            raise
        if started is not None:
            _log_statement(sql, started, "ok")
        return result

    async def _translated(self, error: Exception, sql: str, arguments: list[Any]) -> exc.DBAPIError:
        if self._raw.is_closed() or isinstance(error, OSError):
            # As SQLAlchemy's asyncpg dialect decides a disconnect: the connection is closed.
            await _discard(self._connection)
            return exc.OperationalError(
                sql, arguments, error, hide_parameters=True, connection_invalidated=True
            )
        if isinstance(error, asyncpg.InterfaceError):
            return exc.InterfaceError(sql, arguments, error, hide_parameters=True)
        sqlstate = getattr(error, "sqlstate", None) or ""
        kind = _SQLSTATE_ERRORS.get(sqlstate[:2], exc.DatabaseError)
        # Never the values in the message: they name people and their contacts, and errors
        # are logged (as the engine's own errors are, with hide_parameters).
        return kind(sql, arguments, PostgresError.of(error), hide_parameters=True)

    async def _begin(self) -> None:
        await self._run("BEGIN", [], rows=False)
        self._begun = True

    async def commit(self) -> None:
        if not self._begun:  # nothing but reads, or the one statement alone (committed)
            return
        status = await self._run("COMMIT", [], rows=False)
        if status != "COMMIT":  # a statement failed earlier: PostgreSQL rolled it all back
            raise exc.InvalidRequestError("the transaction had failed, and was rolled back")

    async def close(self) -> None:
        if self._connection.closed:  # discarded after a failure
            return
        try:
            if not self._raw.is_closed() and self._raw.is_in_transaction():
                started = perf_counter() if SQL_LOG.isEnabledFor(logging.DEBUG) else None
                await self._raw.execute("ROLLBACK")
                if started is not None:
                    _log_statement("ROLLBACK", started, "ok")
        except BaseException:
            await _discard(self._connection)
            raise
        await self._connection.close()


def _log_statement(sql: str, started: float, outcome: str) -> None:
    """One line of :data:`SQL_LOG` (called only when it is enabled for ``DEBUG``)."""
    duration = (perf_counter() - started) * 1000
    SQL_LOG.debug(
        "%.3f ms %s: %s", duration, outcome, sql, extra={"duration_ms": round(duration, 3)}
    )


_HELD_BY_A_TRANSACTION = re.compile(
    r"\bFOR\s+(?:NO\s+KEY\s+)?UPDATE\b|\bFOR\s+(?:KEY\s+)?SHARE\b"
    r"|pg_advisory_xact|set_config|nextval|setval|txid_|pg_current_xact",
    re.IGNORECASE,
)


def _reads_only(sql: str) -> bool:
    """Whether ``sql`` is a ``SELECT`` that locks nothing and leaves nothing behind for its
    transaction: one that may run before ``BEGIN`` (see :class:`AsyncpgConnection`)."""
    return sql.lstrip().upper().startswith("SELECT") and not _HELD_BY_A_TRANSACTION.search(sql)


_PARAMETER = re.compile(r"\$(\d+)")
_DML = re.compile(r"^(?:INSERT INTO|UPDATE|DELETE FROM) ")
_COMBINED: dict[tuple[tuple[str, ...], tuple[int, ...]], str | None] = {}


def _combined(sqls: tuple[str, ...], counts: tuple[int, ...]) -> str | None:
    """One statement running each of ``sqls`` (their positional parameters renumbered to
    follow each other) and answering one row with the rows each affected; ``None`` when one of
    them is not a plain ``INSERT``, ``UPDATE`` or ``DELETE`` with exactly its own
    parameters."""
    key = (sqls, counts)
    if key in _COMBINED:
        return _COMBINED[key]
    parts: list[str] | None = []
    offset = 0
    for n, (sql, count) in enumerate(zip(sqls, counts, strict=True)):
        numbers = {int(m) for m in _PARAMETER.findall(sql)}
        if (
            not _DML.match(sql)
            or " RETURNING " in sql
            or "'" in sql
            or numbers != set(range(1, count + 1))
        ):
            parts = None
            break
        shifted = _PARAMETER.sub(partial(_shifted, offset=offset), sql)
        assert parts is not None
        parts.append(f"w{n} AS ({shifted} RETURNING 1)")
        offset += count
    combined = None
    if parts is not None:
        counted = ", ".join(f"(SELECT count(*) FROM w{n}) AS n{n}" for n in range(len(sqls)))
        combined = f"WITH {', '.join(parts)} SELECT {counted}"
    if len(_COMBINED) >= _CACHE_SIZE:
        _COMBINED.clear()
    _COMBINED[key] = combined
    return combined


def _shifted(match: re.Match[str], *, offset: int) -> str:
    return f"${int(match.group(1)) + offset}"


async def _discard(connection: AsyncConnection) -> None:
    """Take ``connection`` out of the pool for good."""
    if not connection.closed:
        await connection.invalidate()
        await connection.close()
