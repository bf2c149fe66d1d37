"""Which webhooks each change writes into the outbox (:mod:`bot.webhooks`), on the in-memory
fakes and each SQL database: a claim's cases, nothing for changes the other systems do not
follow, nothing at all without a publisher, and the body's shape."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import admin
from bot.domain import Channel, OutboxMessage, Route
from bot.ports import UnitOfWorkFactory
from bot.webhooks import WebhookPublisher
from storage.database import Database
from tests.fakes import MemoryUnitOfWorkFactory
from tests.storage.databases import SQL_BACKENDS, fresh_database
from tests.unit.conftest import SECRET, World
from tests.unit.test_household_events import invite

BACKENDS = ["memory", *SQL_BACKENDS]


@pytest.fixture(params=BACKENDS)
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    if request.param == "memory":
        yield World(uow_factory=MemoryUnitOfWorkFactory(on_event=WebhookPublisher()))
        return
    async with fresh_database(request.param, tmp_path) as database:
        database.on_event = WebhookPublisher()
        yield World(uow_factory=database.uow)


async def webhooks(uow_factory: UnitOfWorkFactory) -> list[OutboxMessage]:
    """Every webhook written so far, in each household's order (taken and marked sent)."""
    found: list[OutboxMessage] = []
    while True:
        async with uow_factory() as uow:
            batch = await uow.outbox.claim_due(
                now=_far(), routes=[Route(Channel.WEBHOOK)], limit=100, lease_until=_far()
            )
            for message in batch:
                message.status = message.status.SENT
                await uow.outbox.update(message)
            await uow.commit()
        if not batch:
            return found
        found.extend(batch)


def _far() -> datetime:
    return datetime(2100, 1, 1, tzinfo=UTC)


def types(messages: list[OutboxMessage]) -> list[str]:
    return [m.destination for m in messages]


async def reset_code(world: World) -> str:
    issued = await admin.reset_access_code(
        world.uow_factory,
        community_name="Oak Ridge HOA",
        address="12 Oak Lane",
        secret_key=SECRET,
        clock=world.clock,
    )
    return issued.code


async def test_a_claim_a_recode_and_a_takeover(world: World) -> None:
    ana = await world.head()
    first = await webhooks(world.uow_factory)
    assert types(first) == ["member.joined", "household.head_changed"]
    claim = json.loads(first[1].body)["data"]
    assert claim["previous_head"] is None and claim["member"]["role"] == "head"
    assert claim["actor"] == {
        "type": "member",
        "member_id": claim["member"]["id"],
        "name": "Ana Lopez",
    }

    await ana.say(f"/join {await reset_code(world)}")  # her own new code: nothing changes
    assert await webhooks(world.uow_factory) == []

    bob = world.person("bob", "Bob Stone")
    await bob.say(f"/join {await reset_code(world)}")  # someone new takes over
    takeover = await webhooks(world.uow_factory)
    assert types(takeover) == ["member.joined", "household.head_changed"]
    data = json.loads(takeover[1].body)["data"]
    assert data["member"]["name"] == "Bob Stone"
    assert data["previous_head"] == {"id": claim["member"]["id"], "name": "Ana Lopez"}
    assert data["via"] == "console"


async def test_a_member_taking_over_with_the_code_changes_the_head_only(world: World) -> None:
    ana = await world.head()
    token = await invite(world, ana, "sms Maria Ruiz +12025550199")
    maria = world.person("maria", "Maria")
    await maria.say(f"/join https://hoa.example/i/{token}")
    await webhooks(world.uow_factory)
    await maria.say(f"/join {await reset_code(world)}")
    assert types(await webhooks(world.uow_factory)) == ["household.head_changed"]


async def test_changes_the_other_systems_do_not_follow_write_no_webhook(world: World) -> None:
    ana = await world.head()
    token = await invite(world, ana, "sms Maria Ruiz +12025550199")
    maria = world.person("maria", "Maria")
    await maria.say(f"/join https://hoa.example/i/{token}")
    await webhooks(world.uow_factory)
    async with world.uow_factory() as uow:
        household = (await uow.households.list())[0]
        maria_id = next(
            m.id
            for m in await uow.members.list_for_household(household.id)
            if m.name == "Maria Ruiz"
        )
    await ana.press_payload(f"member:rename:{maria_id}")
    await ana.say("Maria Ruiz Lopez")
    await ana.press_payload(f"member:make_head:{maria_id}")  # asked, then declined
    await maria.press_payload(f"head:decline:{household.id}")
    assert "You declined to become head" in maria.text, maria.text
    await reset_code(world)
    async with world.uow_factory() as uow:
        events = await uow.events.list_for_household(household.id, limit=5)
    assert [e.kind.value for e in events][:4] == [
        "access_code_reset",
        "head_request_declined",
        "head_requested",
        "renamed",
    ]
    assert await webhooks(world.uow_factory) == []


async def test_without_a_publisher_nothing_is_written() -> None:
    world = World(uow_factory=MemoryUnitOfWorkFactory())
    await world.head()
    assert await webhooks(world.uow_factory) == []


async def test_a_webhook_is_one_line_of_json_with_the_ids_a_receiver_needs(world: World) -> None:
    await world.head()
    [joined, _] = await webhooks(world.uow_factory)
    assert "\n" not in joined.body and ": " not in joined.body
    body = json.loads(joined.body)
    assert list(body) == ["type", "timestamp", "data"]
    assert body["type"] == "member.joined"
    assert joined.data["webhook_id"] == f"{body['data']['event_id']}.member.joined"
    assert joined.subject == joined.data["webhook_id"]
    async with world.uow_factory() as uow:
        household = (await uow.households.list())[0]
    assert joined.ordering_key == household.id
    assert body["data"]["household"] == {
        "id": household.id,
        "address": "12 Oak Lane",
        "status": "active",
    }


def test_sql_databases_start_without_a_publisher(tmp_path: Path) -> None:
    assert Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}").on_event is None
