"""``invitebot admin`` through Typer's runner on a real database, for tests of the board's
commands: SQLite through the composition root, as the installed command reaches it, and
PostgreSQL through the :class:`handlers.cli_admin.AdminStorage` seam, on a schema of its own.
The clock is a :class:`tests.fakes.FakeClock`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner, Result

from bot.ports import UnitOfWorkFactory
from handlers.cli_admin import AdminStorage, admin_app, open_configured_storage
from handlers.settings import Settings
from tests.fakes import FakeClock
from tests.storage.databases import POSTGRES_URL, postgres_database

SECRET = "cli-test-secret-0123456789abcdefghij"  # 32+ bytes, as the settings require
_T = TypeVar("_T")


@dataclass
class Board:
    """Runs ``invitebot admin ...`` against one database, and writes to it directly."""

    storage: AdminStorage

    def __call__(self, *args: str | Path) -> Result:
        result = CliRunner().invoke(admin_app, [str(a) for a in args], obj=self.storage)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert "Traceback" not in result.output
        return result

    def seed(self, write: Callable[[UnitOfWorkFactory], Awaitable[_T]]) -> _T:
        async def main() -> _T:
            async with self.storage.open(Settings()) as uow_factory:
                return await write(uow_factory)

        return asyncio.run(main())


def open_board(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Board]:
    """A :class:`Board` on a new database of ``backend`` ("sqlite" or "postgresql"), for a
    fixture to yield from; the working directory is ``tmp_path`` (no stray .env)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INVITEBOT_SECRET_KEY", SECRET)
    monkeypatch.setenv("COLUMNS", "200")  # rich tables wide enough that nothing wraps
    monkeypatch.delenv("INVITEBOT_LOG_LEVEL", raising=False)
    if backend == "sqlite":
        database = tmp_path / "data" / "invitebot.db"
        monkeypatch.setenv("INVITEBOT_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
        yield Board(AdminStorage(open=open_configured_storage, clock=FakeClock()))
        return
    with postgres_schema() as schema:

        @asynccontextmanager
        async def opener(settings: Settings) -> AsyncIterator[UnitOfWorkFactory]:
            # A database per command: each runs its own event loop, as each process would.
            database = postgres_database(schema)
            try:
                yield database.uow
            finally:
                await database.dispose()

        yield Board(AdminStorage(open=opener, clock=FakeClock()))


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A new, migrated PostgreSQL schema, dropped on the way out (made and dropped in event
    loops of their own: each command under test runs its own, as each process would)."""
    assert POSTGRES_URL is not None
    url, name = POSTGRES_URL, f"test_{uuid.uuid4().hex}"

    async def execute(statement: str) -> None:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    async def create() -> None:
        await execute(f'CREATE SCHEMA "{name}"')
        database = postgres_database(name)
        try:
            await database.upgrade()
        finally:
            await database.dispose()

    asyncio.run(create())
    try:
        yield name
    finally:
        asyncio.run(execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))


def one_error_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]
