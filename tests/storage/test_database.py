"""The :class:`Database` object: engine set-up, health check, in-memory use."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain import Community
from storage import Database, SqlUnitOfWork


async def test_ping_answers_for_a_working_database(database: Database) -> None:
    assert await database.ping() is True


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://nobody@127.0.0.1:1/nothing",
        "sqlite+aiosqlite:///{tmp}/no/such/directory/x.db",
    ],
    ids=["postgresql-refused", "sqlite-unopenable"],
)
async def test_ping_says_false_instead_of_raising(url: str, tmp_path: Path) -> None:
    database = Database(url.format(tmp=tmp_path))
    try:
        assert await database.ping() is False
    finally:
        await database.dispose()


async def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        await database.upgrade()  # the migration's own connection must come back as set up
        async with database.engine.connect() as connection:
            settings = {
                pragma: (await connection.exec_driver_sql(f"PRAGMA {pragma}")).scalar()
                for pragma in ("journal_mode", "foreign_keys", "busy_timeout")
            }
    finally:
        await database.dispose()
    assert settings == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000}


async def test_an_in_memory_database_works_for_quick_tests() -> None:
    database = Database("sqlite+aiosqlite://")
    try:
        await database.upgrade()
        assert await database.current_revision() == Database.head_revision()
        community = Community(name="Oak Ridge HOA")
        async with database.uow() as uow:
            assert isinstance(uow, SqlUnitOfWork)
            await uow.communities.add(community)
            await uow.commit()
        async with database.uow() as uow:
            assert await uow.communities.list() == [community]
    finally:
        await database.dispose()


def test_the_repr_hides_the_password() -> None:
    database = Database("postgresql+asyncpg://invitebot:s3cret@db.example/invitebot")
    assert "s3cret" not in repr(database)
    assert "invitebot:***@db.example" in repr(database)
