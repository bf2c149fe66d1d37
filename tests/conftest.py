"""Fixtures every test folder shares.

``uow_factory`` runs each flow test against the in-memory fakes and against real SQL storage:
a SQLite file, and PostgreSQL too when ``INVITEBOT_TEST_DATABASE_URL`` names one.

A test that needs PostgreSQL and is not parametrized over the backends carries the
``postgres`` mark: it is skipped without ``INVITEBOT_TEST_DATABASE_URL``.
``INVITEBOT_TEST_POSTGRES_ONLY=1`` keeps only the tests that touch PostgreSQL (a
``postgresql`` parameter or the mark) and deselects the rest: CI runs the whole suite on
SQLite first, and then the PostgreSQL cases twice (fast path on and off) without running
everything else, which does not depend on the database, two more times.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from tests.fakes import MemoryUnitOfWorkFactory
from tests.property import profiles
from tests.storage.databases import POSTGRES_URL, SQL_BACKENDS, fresh_database

# Every hypothesis test in the suite (the property tests and the few in tests/unit) runs under
# one profile: ``ci`` (derandomized) unless INVITEBOT_HYPOTHESIS_PROFILE says otherwise.
profiles.load()

pytest_plugins = ["tests.handlers.smtp_server"]

BACKENDS = ["memory", *SQL_BACKENDS]

POSTGRES_ONLY = TypeAdapter(bool).validate_python(
    os.environ.get("INVITEBOT_TEST_POSTGRES_ONLY") or False
)


def on_postgres(item: pytest.Item) -> bool:
    """Whether the test touches PostgreSQL: the ``postgres`` mark, or a parameter
    ``"postgresql"`` (the backends' fixtures and ``parametrize`` over ``SQL_BACKENDS``)."""
    if item.get_closest_marker("postgres") is not None:
        return True
    callspec = getattr(item, "callspec", None)
    params = callspec.params.values() if callspec is not None else ()
    return any(isinstance(value, str) and value == "postgresql" for value in params)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if POSTGRES_URL is None:
        if POSTGRES_ONLY:
            raise pytest.UsageError(
                "INVITEBOT_TEST_POSTGRES_ONLY needs INVITEBOT_TEST_DATABASE_URL: no test would run"
            )
        skip = pytest.mark.skip(reason="INVITEBOT_TEST_DATABASE_URL names no PostgreSQL database")
        for item in items:
            if item.get_closest_marker("postgres") is not None:
                item.add_marker(skip)
        return
    if POSTGRES_ONLY:
        kept = [item for item in items if on_postgres(item)]
        dropped = [item for item in items if not on_postgres(item)]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept


@pytest.fixture(params=BACKENDS)
async def uow_factory(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "memory":
        yield MemoryUnitOfWorkFactory()
        return
    async with fresh_database(request.param, tmp_path) as database:
        yield database.uow
