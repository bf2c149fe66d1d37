"""A database upgraded by a newer invitebot, then the code rolled back: every command says so
in one line (exit code 2) instead of "not up to date" or Alembic's "Can't locate revision"."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from storage.database import Database, SchemaAhead, known_revisions
from tests.handlers.test_cli_startup import (
    COMMANDS,
    SECRET,
    clean_env,
    invitebot,
    needs_postgres,
    never_migrated,  # noqa: F401  (a fixture)
    one_line_exit_2,
)

AHEAD = (
    "Error: The database's schema is at revision 0099, which this version of invitebot does "
    "not know: it was upgraded by a newer version. Run that version, or restore the backup "
    "taken before its upgrade."
)
EVERY = ("serve", "worker", "chat", "admin", "admin-add", "sms-reply", "db upgrade")


def test_every_command_on_a_sqlite_database_from_a_newer_version_says_so(tmp_path: Path) -> None:
    env = clean_env(INVITEBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/hoa.db")
    assert invitebot(env, "db", "upgrade", cwd=tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "hoa.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099'")
    for command in EVERY:
        assert one_line_exit_2(invitebot(env, *COMMANDS[command], cwd=tmp_path)) == AHEAD
    with sqlite3.connect(tmp_path / "hoa.db") as connection:  # nothing was changed
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("0099",)
        ]


@needs_postgres
def test_every_command_on_a_postgresql_database_from_a_newer_version_says_so(
    tmp_path: Path,
    never_migrated: str,  # noqa: F811
) -> None:
    env = clean_env(INVITEBOT_DATABASE_URL=never_migrated, INVITEBOT_SECRET_KEY=SECRET)
    assert invitebot(env, "db", "upgrade", cwd=tmp_path).returncode == 0
    plain = never_migrated.replace("postgresql+asyncpg://", "postgresql://")

    async def set_revision() -> None:
        connection = await asyncpg.connect(plain)
        try:
            await connection.execute("UPDATE alembic_version SET version_num = '0099'")
        finally:
            await connection.close()

    asyncio.run(set_revision())
    for command in EVERY:
        assert one_line_exit_2(invitebot(env, *COMMANDS[command], cwd=tmp_path)) == AHEAD


async def test_upgrade_refuses_a_schema_it_does_not_know(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/hoa.db")
    try:
        await database.upgrade()
        assert await database.unknown_revisions() == frozenset()
        assert "0008" in known_revisions() and "0001" in known_revisions()
        async with database.engine.begin() as connection:
            await connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
        assert await database.unknown_revisions() == frozenset({"0099"})
        with pytest.raises(SchemaAhead, match="revision 0099"):
            await database.upgrade()
    finally:
        await database.dispose()


async def test_the_app_s_own_line_for_an_unusable_database_hides_every_secret() -> None:
    """What serve's startup logs (not only what the CLI prints) never shows the password,
    whether in the URL's user part or as a query parameter."""
    from handlers.bootstrap import DatabaseUnreachable, check_reachable, make_database
    from handlers.settings import Settings

    for url in (
        "postgresql+asyncpg://ana:Sup3rSecretPw@127.0.0.1:1/hoa",
        "postgresql+asyncpg://ana@127.0.0.1:1/hoa?password=Sup3rSecretPw",
    ):
        settings = Settings(_env_file=None, database_url=url, secret_key="k" * 40)
        database = make_database(settings)
        try:
            with pytest.raises(DatabaseUnreachable) as refused:
                await check_reachable(settings, database)
        finally:
            await database.dispose()
        assert "Sup3rSecretPw" not in str(refused.value)
        assert "127.0.0.1:1/hoa" in str(refused.value)
