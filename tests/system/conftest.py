"""Fixtures of the system tests: fake providers, a database of the test's own, a cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.handlers.fake_telegram import FakeTelegram
from tests.handlers.fake_twilio import FakeTwilio
from tests.storage.databases import SQL_BACKENDS
from tests.system.cluster import Cluster, SystemDatabase, system_database
from tests.system.traffic import cluster_env


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as running:
        yield running


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as running:
        yield running


@pytest.fixture(params=SQL_BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SystemDatabase]:
    async with system_database(request.param, tmp_path) as database:
        yield database


@pytest.fixture
async def cluster(
    db: SystemDatabase, twilio: FakeTwilio, telegram: FakeTelegram, tmp_path: Path
) -> AsyncIterator[Cluster]:
    running = Cluster(directory=tmp_path, env=cluster_env(db, twilio, telegram))
    try:
        yield running
    except BaseException:
        print(running.logs())
        raise
    finally:
        running.close()
