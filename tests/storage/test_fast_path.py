"""The PostgreSQL fast path and its switch (``INVITEBOT_DATABASE_FAST_PATH``).

On, a unit of work runs its statements straight on asyncpg (:class:`AsyncpgConnection`),
past SQLAlchemy's events, and logs each one to ``invitebot.sql`` at ``DEBUG`` instead; off,
SQLAlchemy executes them (:class:`SqlAlchemyConnection`) and its events see every one. The
rest of ``tests/storage`` holds both to the same behaviour (CI runs it both ways).
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import event

from bot.domain import ChannelIdentity, Member, Role
from handlers.bootstrap import make_database
from handlers.settings import Settings
from storage import Database
from storage.executors import SQL_LOG, AsyncpgConnection, SqlAlchemyConnection
from tests.storage.databases import (
    FAST_PATH,
    FAST_PATH_ENV,
    postgres_database,
    postgres_schema,
)
from tests.storage.test_sql import seeded

needs_postgres = pytest.mark.postgres  # skipped without INVITEBOT_TEST_DATABASE_URL

PHONE = "+12025550199"
EMAIL = "maria.ruiz@example.org"


@asynccontextmanager
async def postgres(*, fast_path: bool) -> AsyncIterator[Database]:
    """A fresh, migrated PostgreSQL database taking the path named, whatever the suite's."""
    async with postgres_schema() as schema:
        database = postgres_database(schema, fast_path=fast_path)
        try:
            await database.upgrade()
            yield database
        finally:
            await database.dispose()


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, True), ("", True), ("1", True), ("true", True), ("0", False), ("off", False)],
)
def test_the_setting_chooses_the_path_and_the_tests_read_it_alike(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool
) -> None:
    if value is None:
        monkeypatch.delenv("INVITEBOT_DATABASE_FAST_PATH", raising=False)
    else:
        monkeypatch.setenv("INVITEBOT_DATABASE_FAST_PATH", value)
    settings = Settings(_env_file=None, database_url="postgresql+asyncpg://u@127.0.0.1:1/none")
    assert settings.database_fast_path is expected
    assert make_database(settings).fast_path is expected


def test_the_suite_s_databases_follow_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """``INVITEBOT_DATABASE_FAST_PATH=0 pytest`` runs every test database on SQLAlchemy, and
    the processes tests start with an environment of their own too (``FAST_PATH_ENV``)."""
    assert FAST_PATH is Settings(_env_file=None).database_fast_path
    monkeypatch.delenv("INVITEBOT_DATABASE_FAST_PATH", raising=False)
    for name, value in FAST_PATH_ENV.items():
        monkeypatch.setenv(name, value)
    assert Settings(_env_file=None).database_fast_path is FAST_PATH


@needs_postgres
@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "sqlalchemy"])
async def test_the_switch_decides_who_executes_the_statements(fast_path: bool) -> None:
    async with postgres(fast_path=fast_path) as database:
        seen: list[str] = []

        def before_cursor_execute(_connection: Any, _cursor: Any, sql: str, *_: Any) -> None:
            seen.append(sql)

        engine = database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", before_cursor_execute)
        try:
            async with database.uow() as uow:
                assert await uow.communities.list() == []
                connection = uow._connection
                await uow.commit()
        finally:
            event.remove(engine, "before_cursor_execute", before_cursor_execute)
    expected = AsyncpgConnection if fast_path else SqlAlchemyConnection
    assert type(connection) is expected
    if fast_path:
        assert seen == []  # past SQLAlchemy's execution: its events never hear of it
    else:
        assert any(sql.startswith("SELECT") and "communities" in sql for sql in seen), seen


@needs_postgres
async def test_the_fast_path_logs_each_statement_and_its_time_never_its_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with postgres(fast_path=True) as database:
        s = await seeded(database)
        caplog.set_level(logging.DEBUG, logger=SQL_LOG.name)
        async with database.uow() as uow:
            member = Member(household_id=s.household.id, name="Maria Ruiz", role=Role.MEMBER)
            await uow.members.add(member)
            await uow.identities.add(ChannelIdentity("sms", PHONE, member_id=member.id))
            await uow.identities.add(ChannelIdentity("email", EMAIL, member_id=member.id))
            found = await uow.identities.get(platform="sms", external_id=PHONE)
            assert found is not None
            await uow.commit()
        logged = [r for r in caplog.records if r.name == SQL_LOG.name]
        lines = [r.getMessage() for r in logged]
        assert all(r.levelno == logging.DEBUG for r in logged)
        line = re.compile(r"\d+\.\d{3} ms ok: (BEGIN|COMMIT|WITH |SELECT |INSERT )")
        assert all(line.match(text) for text in lines), lines
        assert any(" ok: WITH " in text and "channel_identities" in text for text in lines)
        assert any(" ok: SELECT " in text and "channel_identities" in text for text in lines)
        assert all(isinstance(getattr(r, "duration_ms", None), float) for r in logged)
        for record in logged:
            shown = record.getMessage() + repr(record.args) + repr(record.__dict__)
            assert PHONE not in shown and EMAIL not in shown and "Maria" not in shown

        caplog.clear()
        caplog.set_level(logging.INFO, logger=SQL_LOG.name)
        async with database.uow() as uow:
            await uow.identities.get(platform="sms", external_id=PHONE)
        assert [r for r in caplog.records if r.name == SQL_LOG.name] == []


def test_the_servers_tests_start_take_the_suites_path() -> None:
    """The system and transport tests start ``invitebot serve`` and ``worker`` with none of the
    caller's INVITEBOT_* variables: the suite's choice of path still reaches their settings."""
    from tests.security.live_server import serve_env
    from tests.system.cluster import _clean_env

    read = "from handlers.settings import Settings; print(Settings().database_fast_path)"
    for env in (_clean_env(), serve_env("sqlite+aiosqlite://")):
        shown = subprocess.run(
            [sys.executable, "-c", read], env=env, capture_output=True, text=True, check=True
        )
        assert shown.stdout.strip() == str(FAST_PATH)


@asynccontextmanager
async def backend(name: str, tmp_path: Any) -> AsyncIterator[Database]:
    if name == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path}/hoa.db")
        try:
            await database.upgrade()
            yield database
        finally:
            await database.dispose()
        return
    async with postgres(fast_path=name == "postgresql-fast") as database:
        yield database


@pytest.mark.parametrize(
    "name",
    [
        "sqlite",
        pytest.param("postgresql-fast", marks=pytest.mark.postgres),
        pytest.param("postgresql-sqlalchemy", marks=pytest.mark.postgres),
    ],
)
async def test_a_database_error_never_carries_the_values(name: str, tmp_path: Any) -> None:
    """Errors are logged; their message must not name the people and contacts in a statement
    (``hide_parameters`` on the engine, and on the errors the fast path raises)."""
    from sqlalchemy.exc import IntegrityError

    async with backend(name, tmp_path) as database:
        s = await seeded(database)
        async with database.uow() as uow:
            member = Member(household_id=s.household.id, name="Maria Ruiz", role=Role.MEMBER)
            await uow.members.add(member)
            await uow.identities.add(ChannelIdentity("sms", PHONE, member_id=member.id))
            await uow.commit()
        with pytest.raises(IntegrityError) as refused:
            async with database.uow() as uow:
                twin = Member(household_id=s.household.id, name="Maria Ruiz", role=Role.MEMBER)
                await uow.members.add(twin)
                await uow.identities.add(ChannelIdentity("sms", PHONE, member_id=twin.id))
                await uow.commit()
        shown = str(refused.value) + repr(refused.value)
        assert "parameters hidden" in shown
        assert PHONE not in shown and "Maria" not in shown
