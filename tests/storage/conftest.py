"""Fixtures for the storage tests: SQL databases on every configured backend.

The contract tests use the shared ``uow_factory`` (``tests/conftest.py``), which adds the
in-memory fakes to the SQL backends, so the same assertions hold the twins together.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import Database
from tests.storage.databases import SQL_BACKENDS, fresh_database, fresh_databases


@pytest.fixture(params=SQL_BACKENDS)
def sql_backend(request: pytest.FixtureRequest) -> str:
    """The name of one SQL backend: "sqlite", and "postgresql" when configured."""
    return request.param


@pytest.fixture
async def database(sql_backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh database, migrated to the newest revision."""
    async with fresh_database(sql_backend, tmp_path) as database:
        yield database


@pytest.fixture
async def empty_database(sql_backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh database that was never migrated."""
    async with fresh_database(sql_backend, tmp_path, migrated=False) as database:
        yield database


@pytest.fixture
async def two_databases(sql_backend: str, tmp_path: Path) -> AsyncIterator[tuple[Database, ...]]:
    """Two :class:`Database` objects on one fresh, migrated database: two processes."""
    async with fresh_databases(sql_backend, tmp_path, count=2) as databases:
        yield databases
