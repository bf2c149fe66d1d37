"""Fresh, migrated databases for tests.

SQLite (a file in a temporary directory) always; PostgreSQL as well when the environment
variable ``INVITEBOT_TEST_DATABASE_URL`` names one, e.g.
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``. Without the variable no PostgreSQL case
is generated at all (CI runs the whole suite a second time with it set). Each PostgreSQL
database is a schema of its own, made for one test and dropped after it, so tests never see
each other's rows.

``INVITEBOT_DATABASE_FAST_PATH`` (read as the program's settings read it) chooses how their
units of work run on PostgreSQL: straight on asyncpg (the default) or, ``0``, through
SQLAlchemy (``storage.executors``); CI runs the PostgreSQL suite both ways.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pydantic import TypeAdapter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from storage import Database

POSTGRES_URL = os.environ.get("INVITEBOT_TEST_DATABASE_URL") or None

FAST_PATH: bool = TypeAdapter(bool).validate_python(
    os.environ.get("INVITEBOT_DATABASE_FAST_PATH") or True
)
"""Whether the tests' databases take PostgreSQL's fast path (``Settings.database_fast_path``:
the same variable, parsed the same way)."""

FAST_PATH_ENV: dict[str, str] = {} if FAST_PATH else {"INVITEBOT_DATABASE_FAST_PATH": "0"}
"""The same choice for a process a test starts with an environment of its own (without the
``INVITEBOT_*`` variables of the test run): add it to that environment."""

SQL_BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]
"""The SQL backends to parametrize over, by name."""


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A new, empty schema in the PostgreSQL test database, dropped on the way out."""
    assert POSTGRES_URL is not None
    name = f"test_{uuid.uuid4().hex}"
    admin = create_async_engine(POSTGRES_URL, poolclass=NullPool)
    try:
        async with admin.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{name}"'))
        yield name
    finally:
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        await admin.dispose()


@asynccontextmanager
async def fresh_database(
    backend: str, directory: Path, *, migrated: bool = True
) -> AsyncIterator[Database]:
    """A new database on ``backend`` ("sqlite" or "postgresql"), migrated to the newest
    revision unless ``migrated`` is false. SQLite files go in ``directory``."""
    async with fresh_databases(backend, directory, count=1, migrated=migrated) as (database,):
        yield database


@asynccontextmanager
async def fresh_databases(
    backend: str, directory: Path, *, count: int, migrated: bool = True
) -> AsyncIterator[tuple[Database, ...]]:
    """``count`` :class:`Database` objects on one new database, as separate processes
    would each have: their own engines and connection pools."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / 'invitebot.db'}"
        opened = [Database(url, fast_path=FAST_PATH) for _ in range(count)]
        async with _opened(opened, migrated) as databases:
            yield databases
        return
    assert backend == "postgresql", backend
    async with postgres_schema() as schema:
        opened = [postgres_database(schema) for _ in range(count)]
        async with _opened(opened, migrated) as databases:
            yield databases


@asynccontextmanager
async def _opened(databases: list[Database], migrated: bool) -> AsyncIterator[tuple[Database, ...]]:
    try:
        if migrated:
            await databases[0].upgrade()
        yield tuple(databases)
    finally:
        for database in databases:
            await database.dispose()


def postgres_database(schema: str, *, fast_path: bool = FAST_PATH) -> Database:
    """A :class:`Database` on the PostgreSQL test database that sees only ``schema``."""
    assert POSTGRES_URL is not None
    return Database(
        POSTGRES_URL,
        connect_args={"server_settings": {"search_path": schema}},
        fast_path=fast_path,
    )
