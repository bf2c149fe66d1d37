"""``GET /metrics``: requests by route template (never a token), the service's state read from
the database, the optional bearer token, and a database that does not answer."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.domain import Limits
from handlers.app import create_app
from handlers.settings import Settings
from storage import Database
from tests.storage.databases import SQL_BACKENDS, fresh_database
from tests.unit.conftest import SECRET, World

_TOKEN = re.compile(r"/i/([A-Za-z0-9_-]{43})")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def settings_for(tmp_path: Path, **extra: object) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db",
        secret_key=SECRET.decode(),
        public_base_url="https://hoa.example",
        **extra,
    )


@pytest.fixture(params=SQL_BACKENDS)
async def world_and_db(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[World, Database]]:
    async with fresh_database(request.param, tmp_path) as database:
        yield World(uow_factory=database.uow, limits=Limits(invites_per_hour=50)), database


async def test_the_scrape_counts_state_and_requests(
    world_and_db: tuple[World, Database], tmp_path: Path
) -> None:
    world, database = world_and_db
    ana = await world.head()
    for name, email in [("Maria Ruiz", "maria@example.org"), ("Sam Lee", "sam@example.org")]:
        await ana.say(f"/invite email {name} {email}")
        await ana.press("Send Invite")
    await ana.say("/invite email Kim Park kim@example.org")
    await ana.press("Send Invite")
    await ana.say("/household")
    await ana.press("Cancel Invite", on="Kim Park")
    await ana.press("Yes, cancel it")
    app = create_app(settings_for(tmp_path), dispatch=False, database=database, clock=world.clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://hoa.example") as client:
        await world.deliver()
        [link] = {
            m.group(1) for s in world.sender.to("maria@example.org") if (m := _TOKEN.search(s.body))
        }
        assert (await client.get(f"/i/{link}")).status_code == 200
        assert (await client.get("/i/" + "x" * 43)).status_code == 404
        assert (await client.get("/no/such/page")).status_code == 404
        world.clock.advance(days=8)  # every pending invitation is past its time now
        scrape = await client.get("/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    assert link not in scrape.text and "x" * 43 not in scrape.text
    found = samples(scrape.text)
    assert found[("invitebot_invitations", (("state", "expired"),))] == 2
    assert found[("invitebot_invitations", (("state", "pending"),))] == 0
    assert found[("invitebot_invitations", (("state", "cancelled"),))] == 1
    assert found[("invitebot_outbox_messages", (("status", "sent"),))] == 2
    # Kim's message was never sent: the invitation was cancelled before its turn came.
    assert found[("invitebot_outbox_messages", (("status", "failed"),))] == 1
    assert found[("invitebot_outbox_due", ())] == 0
    assert found[("invitebot_database_up", ())] == 1
    page = (("method", "GET"), ("route", "/i/{token}"))
    assert found[("invitebot_http_requests_total", (*page[:1], *page[1:], ("status", "200")))] == 1
    assert found[("invitebot_http_requests_total", (*page, ("status", "404")))] == 1
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert found[("invitebot_http_requests_total", unmatched)] == 1
    assert found[("invitebot_http_request_duration_seconds_count", (("route", "/i/{token}"),))] == 2


async def test_a_metrics_token_is_required_when_set(tmp_path: Path) -> None:
    async with fresh_database("sqlite", tmp_path) as database:
        app = create_app(
            settings_for(tmp_path, metrics_token="scrape-me"), dispatch=False, database=database
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            assert (await client.get("/metrics")).status_code == 401
            wrong = {"Authorization": "Bearer nope"}
            assert (await client.get("/metrics", headers=wrong)).status_code == 401
            right = {"Authorization": "Bearer scrape-me"}
            assert (await client.get("/metrics", headers=right)).status_code == 200


async def test_a_database_that_does_not_answer_is_reported_not_raised(tmp_path: Path) -> None:
    unreachable = Database("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    try:
        app = create_app(settings_for(tmp_path), dispatch=False, database=unreachable)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            scrape = await client.get("/metrics")
    finally:
        await unreachable.dispose()
    assert scrape.status_code == 200
    assert samples(scrape.text)[("invitebot_database_up", ())] == 0
