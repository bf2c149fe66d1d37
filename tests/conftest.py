"""Fixtures every test folder shares.

``uow_factory`` runs each flow test against the in-memory fakes and against real SQL storage:
a SQLite file, and PostgreSQL too when ``INVITEBOT_TEST_DATABASE_URL`` names one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import MemoryUnitOfWorkFactory
from tests.property import profiles
from tests.storage.databases import SQL_BACKENDS, fresh_database

# Every hypothesis test in the suite (the property tests and the few in tests/unit) runs under
# one profile: ``ci`` (derandomized) unless INVITEBOT_HYPOTHESIS_PROFILE says otherwise.
profiles.load()

pytest_plugins = ["tests.handlers.smtp_server"]

BACKENDS = ["memory", *SQL_BACKENDS]


@pytest.fixture(params=BACKENDS)
async def uow_factory(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "memory":
        yield MemoryUnitOfWorkFactory()
        return
    async with fresh_database(request.param, tmp_path) as database:
        yield database.uow
