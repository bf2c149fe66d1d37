"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

import storage
from storage import Database
from storage.database import alembic_config
from storage.tables import metadata

ALEMBIC_INI = Path(storage.__file__).with_name("alembic.ini")

SKIPPED_EXPRESSION_INDEX = r".*(skipping|Skipped) .*expression-based index"


def differences(connection: Connection) -> list[Any]:
    """What autogenerate would put in a new migration, with the options ``env.py`` uses."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    with warnings.catch_warnings():
        # SQLite cannot reflect expression indexes, so autogenerate says it skips them there;
        # test_expression_indexes_exist checks them instead.
        warnings.filterwarnings("ignore", message=SKIPPED_EXPRESSION_INDEX)
        return compare_metadata(context, metadata)


def index_names(connection: Connection) -> set[str]:
    if connection.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'index'"
    else:
        query = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    return {name for (name,) in connection.execute(text(query))}


async def test_a_new_database_has_no_revision_until_upgraded(empty_database: Database) -> None:
    assert await empty_database.current_revision() is None
    await empty_database.upgrade()
    assert await empty_database.current_revision() == Database.head_revision() == "0001"
    await empty_database.upgrade()  # already there: nothing to do
    assert await empty_database.current_revision() == "0001"


async def test_the_migrated_schema_matches_the_models(database: Database) -> None:
    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_expression_indexes_exist(database: Database) -> None:
    expected = {index.name for table in metadata.tables.values() for index in table.indexes}
    assert {"uq_communities_lower_name", "ix_households_community_id_lower_address"} <= expected
    async with database.engine.connect() as connection:
        assert expected <= await connection.run_sync(index_names)


@pytest.mark.filterwarnings(f"ignore:{SKIPPED_EXPRESSION_INDEX}")  # SQLite's batch mode
async def test_downgrade_removes_everything_and_upgrade_rebuilds_it(database: Database) -> None:
    async with database.engine.connect() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), "base"))
    assert await database.current_revision() is None
    async with database.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    assert set(tables) <= {"alembic_version"}
    await database.upgrade()
    async with database.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


def test_the_alembic_command_line_migrates_a_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    environment = {**os.environ, "INVITEBOT_DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "upgrade", "head"],
        check=True,
        capture_output=True,
        env=environment,
        cwd=tmp_path,
    )
    shown = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "-x", f"url={url}", "current"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert "0001 (head)" in shown.stdout


def test_the_migrations_render_as_postgresql_sql_offline(tmp_path: Path) -> None:
    """``alembic upgrade --sql`` writes the script a DBA can review; no database needed."""
    rendered = subprocess.run(
        [
            sys.executable,
            "-m",
            "alembic",
            "-c",
            str(ALEMBIC_INI),
            "-x",
            "url=postgresql+asyncpg://reviewer@nowhere.invalid/invitebot",
            "upgrade",
            "head",
            "--sql",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout
    assert "CREATE TABLE communities" in rendered
    assert "CREATE UNIQUE INDEX uq_communities_lower_name ON communities (lower(name))" in rendered
    assert "ALTER TABLE households ADD CONSTRAINT fk_households_head_member_id_members" in rendered
    assert rendered.rstrip().endswith("COMMIT;")
