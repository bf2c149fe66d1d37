"""The database: engine set-up for SQLite and PostgreSQL, units of work, and migrations.

SQLite is the zero-configuration default and may still be shared by several processes (the
web server and ``invitebot worker``), so every connection runs in WAL mode with foreign keys
on, and every transaction starts with ``BEGIN IMMEDIATE``: it takes the write lock at once, so
two processes never both read a row and then both write it. The price is that units of work
on SQLite run one at a time; keep them short (never wait on the network inside one).
PostgreSQL needs none of this: row locks (``FOR UPDATE``, ``SKIP LOCKED``) do the work there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from bot.ports import EventListener

from .repositories import SqlUnitOfWork

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
"""Alembic's script directory, shipped inside the package."""

PING_TIMEOUT = 5.0
"""Seconds :meth:`Database.ping` waits: a health check must answer even when the database
does not (asyncpg alone would wait a minute for a connection)."""

SQLITE_PRAGMAS = (
    # First, so that the pragmas below wait for a lock instead of failing on it.
    "PRAGMA busy_timeout=5000",
    # Readers do not block the writer, nor the writer the readers.
    "PRAGMA journal_mode=WAL",
    # SQLite ignores foreign keys unless asked, per connection.
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)


def _is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


PRIVATE_FILE_MODE = 0o600
"""The database and the log hold names, email addresses and phone numbers: owner only."""
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist, so that it is never readable
    by anyone else, not even for a moment (``O_EXCL``: an existing file is left as it is);
    a mode that lets others in is then tightened (see :func:`keep_private`)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        keep_private(path)


def keep_private(path: Path) -> None:
    """Take away every permission ``path`` grants to others (not its owner or group), with a
    warning: a file created world-readable by an earlier version, or copied in. The group's
    bits are the operator's choice (a backup group, say) and are left alone."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & stat.S_IRWXO:
            path.chmod(mode & ~stat.S_IRWXO)
            logger.warning(
                "%s was open to every user (mode %o): made it %o",
                path,
                mode,
                mode & ~stat.S_IRWXO,
            )
    except OSError as exc:  # not ours to change, or gone: say so, and carry on
        logger.warning("cannot check the permissions of %s: %s", path, exc)


def _sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL names, or ``None`` (in memory, or a ``file:`` URI whose options
    SQLite reads itself)."""
    if url.get_backend_name() != "sqlite" or _is_memory_sqlite(url) or url.query.get("uri"):
        return None
    return Path(url.database or "")


def prepare_sqlite_file(url: URL) -> None:
    """Before SQLite opens the database: create its file 0600, or tighten an existing one and
    its ``-wal``/``-shm`` files. SQLite creates those with the main file's permissions, so they
    are private from the start too. A missing folder is left to SQLite to report."""
    path = _sqlite_file(url)
    if path is None or not path.parent.is_dir():
        return
    create_private_file(path)
    for suffix in _SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            keep_private(companion)


POOL_SIZE = 8
"""Connections a process keeps open to a server database (PostgreSQL)."""
MAX_OVERFLOW = 0
"""Connections it may open beyond those under load, closed again when given back."""


def make_engine(
    url: str | URL,
    *,
    echo: bool = False,
    connect_args: Mapping[str, Any] | None = None,
    pool_size: int = POOL_SIZE,
    max_overflow: int = MAX_OVERFLOW,
) -> AsyncEngine:
    """An async engine for ``url``, configured as this module's docstring explains.

    ``connect_args`` go to the driver, e.g. ``{"server_settings": {...}}`` for asyncpg.
    ``pool_size`` and ``max_overflow`` size a server database's pool: a request that finds
    every kept connection busy opens an overflow one, which is closed when given back, so a
    pool smaller than the requests a process has in flight keeps opening connections (a new
    PostgreSQL backend process each time) under a steady load.
    """
    url = make_url(url)
    args = dict(connect_args or {})
    if url.get_backend_name() != "sqlite":
        return create_async_engine(
            url,
            echo=echo,
            hide_parameters=True,
            connect_args=args,
            pool_size=pool_size,
            max_overflow=max_overflow,
        )
    prepare_sqlite_file(url)
    if _is_memory_sqlite(url):
        # One in-memory database lives in one connection: every session must share it.
        engine = create_async_engine(
            url, echo=echo, hide_parameters=True, poolclass=StaticPool, connect_args=args
        )
    else:
        # One connection per process: every unit of work takes the write lock at its
        # BEGIN IMMEDIATE anyway, so more connections only add contention, and SQLite's busy
        # handler waits for a lock by sleeping and polling (up to 100 ms at a time), where
        # the pool's queue hands the connection over the moment it is free.
        engine = create_async_engine(
            url,
            echo=echo,
            hide_parameters=True,
            connect_args=args,
            pool_size=1,
            max_overflow=0,
        )
    _take_over_sqlite_transactions(engine)
    return engine


def _take_over_sqlite_transactions(engine: AsyncEngine) -> None:
    """Applies :data:`SQLITE_PRAGMAS` and makes every transaction ``BEGIN IMMEDIATE``.

    The pattern from SQLAlchemy's SQLite dialect docs ("Enabling Non-Legacy SQLite
    Transactional Modes"): the driver stops emitting its own deferred ``BEGIN``, and
    SQLAlchemy emits ours when a transaction starts.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, connection_record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the packaged migrations, without an ini file.

    With ``connection``, ``env.py`` migrates through it instead of opening its own engine;
    without an ini file it also leaves the program's logging configuration alone.
    """
    # Alembic is imported when a migration is needed, not by every command (~0.2 s).
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)
_REVISION_VALUE = re.compile(r"""^(?:None|(["'])([\w-]+)\1)$""")


def known_heads(versions: Path = MIGRATIONS / "versions") -> frozenset[str] | None:
    """The packaged migrations' heads, read from each script's ``revision`` and
    ``down_revision`` lines (as Alembic's would be, without importing it); ``None`` when a
    script does not say them in the plain form every migration here uses (a tuple of parents,
    say): then only Alembic can tell."""
    read = _script_revisions(versions)
    if read is None:
        return None
    revisions, parents = read
    heads = frozenset(revisions - parents)
    return heads or None


def known_revisions(versions: Path = MIGRATIONS / "versions") -> frozenset[str]:
    """Every revision the packaged migrations know (Alembic's answer where a script does not
    say its revisions plainly)."""
    read = _script_revisions(versions)
    if read is not None:
        return frozenset(read[0])
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    return frozenset(script.revision for script in scripts.walk_revisions())


class SchemaAhead(RuntimeError):
    """The database's schema was migrated by a newer version of invitebot: its revision is
    none this version knows, so neither this code nor its migrations can use it."""

    def __init__(self, unknown: frozenset[str]) -> None:
        self.unknown = unknown
        super().__init__(
            f"The database's schema is at revision {', '.join(sorted(unknown))}, which this "
            "version of invitebot does not know: it was upgraded by a newer version. Run that "
            "version, or restore the backup taken before its upgrade."
        )


def _script_revisions(versions: Path) -> tuple[set[str], set[str]] | None:
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in versions.glob("*.py"):
        found = dict(
            (name, _REVISION_VALUE.match(value))
            for name, value in _REVISION_LINE.findall(script.read_text(encoding="utf-8"))
        )
        revision, parent = found.get("revision"), found.get("down_revision")
        if revision is None or parent is None or revision.group(2) is None:
            return None
        revisions.add(revision.group(2))
        if parent.group(2) is not None:
            parents.add(parent.group(2))
    return revisions, parents


def _alembic_versions(connection: Connection) -> frozenset[str] | None:
    """The revisions in ``alembic_version``, or ``None`` without that table."""
    if not connection.dialect.has_table(connection, "alembic_version"):
        return None
    rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
    return frozenset(str(row[0]) for row in rows)


class Database:
    """One database, by URL: the engine, units of work on it, and its migrations.

    ``Database(url).uow`` is a :class:`bot.ports.UnitOfWorkFactory`. URLs are
    ``sqlite+aiosqlite:///path/to/file.db``, ``sqlite+aiosqlite://`` (in memory, one shared
    connection: for quick tests, one unit of work at a time), or
    ``postgresql+asyncpg://user:password@host/dbname``.
    """

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        connect_args: Mapping[str, Any] | None = None,
        pool_size: int = POOL_SIZE,
        max_overflow: int = MAX_OVERFLOW,
        fast_path: bool = True,
    ) -> None:
        self.url = make_url(url)
        self.fast_path = fast_path
        """On PostgreSQL, whether units of work run their statements straight on asyncpg
        (:mod:`storage.executors`, the fast path) or through SQLAlchemy's execution (its
        events, ``echo`` and SQL logging see them). Nothing changes on SQLite."""
        self.engine: AsyncEngine = make_engine(
            self.url,
            echo=echo,
            connect_args=connect_args,
            pool_size=pool_size,
            max_overflow=max_overflow,
        )
        self.on_event: EventListener | None = None
        """Given to every unit of work: told of each household event it appends (the
        composition root sets it to publish webhooks)."""

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    def uow(self) -> SqlUnitOfWork:
        """A new unit of work (one transaction) on this database."""
        return SqlUnitOfWork(self.engine, on_event=self.on_event, fast_path=self.fast_path)

    async def upgrade(self, revision: str = "head") -> None:
        """Migrates the schema to ``revision`` (the newest by default), as ``alembic upgrade``.

        Runs Alembic's synchronous API on one of this engine's connections (``run_sync``), so
        it works from a running event loop and on an in-memory database.
        """
        from alembic import command

        unknown = await self.unknown_revisions()
        if unknown:  # Alembic would fail on it with a traceback ("Can't locate revision")
            raise SchemaAhead(unknown)
        async with self.engine.connect() as connection:
            await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))

    async def unknown_revisions(self) -> frozenset[str]:
        """The schema's revisions that the packaged migrations do not know: those of a newer
        version of invitebot (empty for a schema this version made, or never migrated)."""
        async with self.engine.connect() as connection:
            versions = await connection.run_sync(_alembic_versions)
        return (versions or frozenset()) - known_revisions()

    @staticmethod
    def head_revision() -> str | None:
        """The newest revision the packaged migrations know (what ``upgrade`` reaches)."""
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(alembic_config()).get_current_head()

    async def current_revision(self) -> str | None:
        """The schema's Alembic revision, or ``None`` for a database never migrated."""
        from alembic.runtime.migration import MigrationContext

        async with self.engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )

    async def is_at_head(self) -> bool | None:
        """Whether the schema is at the packaged migrations' head, read without importing
        Alembic (which costs a command ~0.2 s): the ``alembic_version`` table's rows against
        :func:`known_heads`. ``False`` for a schema behind, ahead or never migrated; ``None``
        when the scripts do not say their revisions plainly: then only Alembic can tell."""
        heads = known_heads()
        if heads is None:
            return None
        async with self.engine.connect() as connection:
            versions = await connection.run_sync(_alembic_versions)
        return versions == heads

    async def ping(self) -> bool:
        """Whether the database answers ``SELECT 1`` within :data:`PING_TIMEOUT` seconds.

        For health checks: it never raises, and logs the reason of a failure.
        """
        try:
            async with asyncio.timeout(PING_TIMEOUT), self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            logger.warning("database %r did not answer", self, exc_info=True)
            return False
        return True

    async def dispose(self) -> None:
        """Closes every pooled connection; call it once, when the program stops."""
        await self.engine.dispose()
