"""The Slack pieces as the app wires them: ``POST /slack/events`` only when configured, heads'
notifications sent as DMs through the outbox (Slack's errors sorted into retry and final),
and Socket Mode over a WebSocket to the fake."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import aiohttp
import httpx
import pytest
from starlette.applications import Starlette

from bot.delivery import DeliveryError, Dispatcher, PermanentDeliveryError
from bot.domain import Channel, OutboxMessage, OutboxStatus, Route
from handlers.app import create_app
from handlers.bootstrap import close_senders, invitee_senders
from handlers.settings import Settings
from handlers.slack.bot import SlackAdapter
from handlers.slack.client import make_client
from handlers.slack.sender import SlackChatSender
from handlers.slack.socket_mode import SocketModeRefused, serve_socket_mode
from handlers.slack.webhook import SlackEvents
from handlers.slack.wiring import run_socket_mode, slack_chat_sender, slack_edge, slack_events
from tests.fakes import FakeClock, MemoryUnitOfWorkFactory
from tests.handlers.fake_slack import APP_ID, TEAM_ID, FakeSlack, dm_of
from tests.handlers.slack_workspace import SIGNING_SECRET, Workspace
from tests.storage.databases import fresh_database
from tests.unit.conftest import SECRET, World

ANA = "U0ANA"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


def settings_for(fake: FakeSlack, tmp_path: Path, **extra: str) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db",
        secret_key=SECRET.decode(),
        slack_api_base=fake.url,
        **extra,
    )


async def test_the_endpoint_needs_a_bot_token_and_a_signing_secret(
    fake: FakeSlack, tmp_path: Path
) -> None:
    async with fresh_database("sqlite", tmp_path) as database:
        ctx = World(uow_factory=database.uow).ctx
        for extra in [{}, {"slack_bot_token": fake.token}, {"slack_signing_secret": "s" * 32}]:
            settings = settings_for(fake, tmp_path, **extra)
            assert slack_events(settings, database=database, ctx=ctx) is None
        settings = settings_for(
            fake, tmp_path, slack_bot_token=fake.token, slack_signing_secret=SIGNING_SECRET
        )
        events = slack_events(settings, database=database, ctx=ctx)
        assert events is not None
        app = Starlette(routes=events.routes)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            unsigned = await client.post("/slack/events", json={"type": "event_callback"})
            assert unsigned.status_code == 401
            huge = await client.post("/slack/events", content=b"x" * (1024 * 1024 + 1))
            assert huge.status_code == 413
        await events.close()
    assert fake.calls == []


def test_an_endpoint_without_a_signing_secret_is_refused(fake: FakeSlack) -> None:
    world = World(uow_factory=MemoryUnitOfWorkFactory())
    adapter = SlackAdapter(world.engine, make_client(fake.token), signing_secret=None)
    with pytest.raises(ValueError):
        SlackEvents(adapter)


def note(destination: str, now: datetime) -> OutboxMessage:
    return OutboxMessage(
        channel=Channel.CHAT,
        platform="slack",
        destination=destination,
        body="🎉 Maria Ruiz accepted your invitation. <!channel>",
        created_at=now,
        next_attempt_at=now,
    )


async def send_one(
    fake: FakeSlack, tmp_path: Path, destination: str, *, error: str | None = None
) -> OutboxMessage:
    sender = slack_chat_sender(settings_for(fake, tmp_path, slack_bot_token=fake.token))
    assert isinstance(sender, SlackChatSender)
    if error is not None:
        fake.fail_next("chat.postMessage", error)
    async with fresh_database("sqlite", tmp_path) as database:
        world = World(uow_factory=database.uow)
        message = note(destination, world.clock.now())
        async with database.uow() as uow:
            await uow.outbox.add(message)
            await uow.commit()
        dispatcher = Dispatcher(
            uow_factory=database.uow,
            ctx=world.ctx,
            senders={Route(Channel.CHAT, "slack"): sender},
        )
        assert await dispatcher.run_once() == 1
        await sender.close()
        async with database.uow() as uow:
            stored = await uow.outbox.get(message.id)
    assert stored is not None
    return stored


async def test_a_heads_notification_reaches_their_dm(fake: FakeSlack, tmp_path: Path) -> None:
    assert slack_chat_sender(settings_for(fake, tmp_path)) is None
    sent = await send_one(fake, tmp_path, dm_of(ANA))
    [call] = fake.calls_of("chat.postMessage")
    assert call.params["channel"] == dm_of(ANA)
    assert call.params["text"] == "🎉 Maria Ruiz accepted your invitation. &lt;!channel&gt;"
    assert call.params["unfurl_links"] is False
    assert sent.status is OutboxStatus.SENT and sent.provider_id == call.ts


@pytest.mark.parametrize("error", ["channel_not_found", "is_archived", "user_disabled"])
async def test_a_dm_that_is_gone_fails_for_good(
    fake: FakeSlack, tmp_path: Path, error: str
) -> None:
    sent = await send_one(fake, tmp_path, dm_of(ANA), error=error)
    assert sent.status is OutboxStatus.FAILED and error in sent.last_error


@pytest.mark.parametrize("error", ["ratelimited", "invalid_auth", "internal_error"])
async def test_rate_limits_token_trouble_and_slacks_errors_are_retried(
    fake: FakeSlack, tmp_path: Path, error: str
) -> None:
    sent = await send_one(fake, tmp_path, dm_of(ANA), error=error)
    assert sent.status is OutboxStatus.PENDING and sent.attempts == 1
    assert error in sent.last_error


async def test_a_destination_that_is_no_slack_conversation_fails_for_good(
    fake: FakeSlack, tmp_path: Path
) -> None:
    sent = await send_one(fake, tmp_path, "not a channel")
    assert sent.status is OutboxStatus.FAILED
    assert fake.calls == []


async def test_a_slack_that_cannot_be_reached_is_retried(tmp_path: Path) -> None:
    with FakeSlack() as gone:
        url = gone.url
    sender = SlackChatSender(make_client("xoxb-unreachable", api_base=url))
    with pytest.raises(DeliveryError) as raised:
        await sender.send(note(dm_of(ANA), FakeClock().now()))
    assert not isinstance(raised.value, PermanentDeliveryError)


# --- Socket Mode -----------------------------------------------------------------------------


def slash_command(text: str, *, trigger_id: str, envelope_id: str) -> dict[str, object]:
    return {
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": {
            "team_id": TEAM_ID,
            "channel_id": dm_of(ANA),
            "user_id": ANA,
            "user_name": "ana.lopez",
            "command": "/household",
            "text": text,
            "api_app_id": APP_ID,
            "trigger_id": trigger_id,
            "response_url": "",
        },
    }


async def test_socket_mode_handles_commands_once(fake: FakeSlack, tmp_path: Path) -> None:
    async with fresh_database("sqlite", tmp_path) as database:
        world = World(uow_factory=database.uow)
        adapter = SlackAdapter(
            world.engine, make_client(fake.token, api_base=fake.url), signing_secret=None
        )
        code = await world.household()
        stop = asyncio.Event()
        serving = asyncio.create_task(
            serve_socket_mode(adapter, app_token=fake.app_token, stop=stop)
        )
        try:
            await asyncio.to_thread(fake.wait_for_connections, 1)
            first = slash_command(f"join {code}", trigger_id="9.9.socket", envelope_id="env-1")
            fake.socket_send(first)
            # Slack redelivers an envelope it got no ack for in time: the same trigger again.
            fake.socket_send({**first, "envelope_id": "env-2", "retry_attempt": 1})
            acks = await asyncio.to_thread(fake.wait_for_acks, 2)
            assert {ack["envelope_id"] for ack in acks} == {"env-1", "env-2"}
            await adapter.drain()
        finally:
            stop.set()
            await serving
    claims = [
        c for c in fake.calls_of("chat.postMessage") if "You are now the head" in c.params["text"]
    ]
    assert len(claims) == 1 and claims[0].params["channel"] == dm_of(ANA)
    [opened] = fake.calls_of("apps.connections.open")
    assert opened.token == fake.app_token


def wait_for_call(fake: FakeSlack, method: str) -> None:
    for _ in range(500):
        if fake.calls_of(method):
            return
        time.sleep(0.01)
    raise AssertionError(f"{method} was not called")


def socket_adapter(world: World, fake: FakeSlack) -> SlackAdapter:
    return SlackAdapter(
        world.engine, make_client(fake.token, api_base=fake.url), signing_secret=None
    )


@pytest.mark.parametrize("error", ["internal_error", "ratelimited", "service_unavailable"])
async def test_socket_mode_retries_slacks_own_errors_until_it_connects(
    fake: FakeSlack, error: str
) -> None:
    world = World(uow_factory=MemoryUnitOfWorkFactory())
    fake.fail_next("apps.connections.open", error)
    fake.fail_next("apps.connections.open", error)
    stop = asyncio.Event()
    serving = asyncio.create_task(
        serve_socket_mode(
            socket_adapter(world, fake), app_token=fake.app_token, stop=stop, first_backoff=0.01
        )
    )
    try:
        await asyncio.to_thread(fake.wait_for_connections, 1)
        assert not serving.done()
    finally:
        stop.set()
        await serving
    assert len(fake.calls_of("apps.connections.open")) == 3


async def test_socket_mode_retries_the_network(fake: FakeSlack) -> None:
    world = World(uow_factory=MemoryUnitOfWorkFactory())
    adapter = socket_adapter(world, fake)
    real = adapter.client.apps_connections_open
    attempts: list[str] = []

    async def unreachable_once(**kwargs: object) -> object:
        attempts.append("open")
        if len(attempts) == 1:
            raise aiohttp.ClientConnectionError("Cannot connect to host slack.com:443")
        return await real(**kwargs)

    adapter.client.apps_connections_open = unreachable_once  # type: ignore[method-assign]
    stop = asyncio.Event()
    serving = asyncio.create_task(
        serve_socket_mode(adapter, app_token=fake.app_token, stop=stop, first_backoff=0.01)
    )
    try:
        await asyncio.to_thread(fake.wait_for_connections, 1)
    finally:
        stop.set()
        await serving
    assert attempts == ["open", "open"]


async def test_a_websocket_that_will_not_open_is_tried_again_with_a_fresh_url(
    fake: FakeSlack,
) -> None:
    world = World(uow_factory=MemoryUnitOfWorkFactory())
    fake.fail_next("socket", "no")
    stop = asyncio.Event()
    serving = asyncio.create_task(
        serve_socket_mode(
            socket_adapter(world, fake),
            app_token=fake.app_token,
            stop=stop,
            first_backoff=0.01,
            connect_timeout=0.5,
        )
    )
    try:
        await asyncio.to_thread(fake.wait_for_connections, 1)
    finally:
        stop.set()
        await serving
    assert len(fake.calls_of("apps.connections.open")) == 2


@pytest.mark.parametrize("error", ["invalid_auth", "token_revoked", "not_allowed_token_type"])
async def test_socket_mode_gives_up_only_on_a_refused_token(fake: FakeSlack, error: str) -> None:
    world = World(uow_factory=MemoryUnitOfWorkFactory())
    fake.fail_next("apps.connections.open", error)
    with pytest.raises(SocketModeRefused, match=error):
        await serve_socket_mode(
            socket_adapter(world, fake),
            app_token=fake.app_token,
            stop=asyncio.Event(),
            first_backoff=0.01,
        )
    assert len(fake.calls_of("apps.connections.open")) == 1


async def test_stop_ends_the_retries_at_once(fake: FakeSlack) -> None:
    world = World(uow_factory=MemoryUnitOfWorkFactory())
    for _ in range(100):
        fake.fail_next("apps.connections.open", "internal_error")
    stop = asyncio.Event()
    serving = asyncio.create_task(
        serve_socket_mode(
            socket_adapter(world, fake), app_token=fake.app_token, stop=stop, first_backoff=30
        )
    )
    await asyncio.to_thread(wait_for_call, fake, "apps.connections.open")
    stop.set()
    await asyncio.wait_for(serving, timeout=5)
    assert len(fake.calls_of("apps.connections.open")) == 1


async def test_the_edge_keeps_trying_after_a_transient_error(
    fake: FakeSlack, tmp_path: Path
) -> None:
    """The app's Socket Mode task does not end on Slack's own error: it connects after."""
    fake.fail_next("apps.connections.open", "internal_error")
    settings = settings_for(
        fake, tmp_path, slack_bot_token=fake.token, slack_app_token=fake.app_token
    )
    async with fresh_database("sqlite", tmp_path) as database:
        edge = slack_edge(settings, database=database, ctx=World(uow_factory=database.uow).ctx)
        assert edge is not None
        stop = asyncio.Event()
        running = edge.start(stop)
        assert running is not None
        await asyncio.to_thread(fake.wait_for_connections, 1)
        for _ in range(500):  # the client finishes connecting just after the fake sees it
            if edge.socket_connected:
                break
            await asyncio.sleep(0.01)
        assert not running.done() and edge.socket_connected
        stop.set()
        await edge.close()
        assert not edge.socket_connected
    assert len(fake.calls_of("apps.connections.open")) == 2


async def test_run_socket_mode_connects_with_the_settings_and_stops(
    fake: FakeSlack, tmp_path: Path
) -> None:
    settings = settings_for(
        fake, tmp_path, slack_bot_token=fake.token, slack_app_token=fake.app_token
    )
    async with fresh_database("sqlite", tmp_path) as database:
        ctx = World(uow_factory=database.uow).ctx
        stop = asyncio.Event()
        serving = asyncio.create_task(
            run_socket_mode(settings, database=database, ctx=ctx, stop=stop)
        )
        await asyncio.to_thread(fake.wait_for_connections, 1)
        stop.set()
        await serving
        with pytest.raises(ValueError):
            await run_socket_mode(
                settings_for(fake, tmp_path, slack_bot_token=fake.token),
                database=database,
                ctx=ctx,
                stop=stop,
            )
    assert [c.method for c in fake.calls] == ["apps.connections.open"]


async def test_the_edge_is_socket_mode_with_an_app_token_else_the_endpoint(
    fake: FakeSlack, tmp_path: Path
) -> None:
    async with fresh_database("sqlite", tmp_path) as database:
        ctx = World(uow_factory=database.uow).ctx
        bot = {"slack_bot_token": fake.token}
        assert slack_edge(settings_for(fake, tmp_path), database=database, ctx=ctx) is None
        assert slack_edge(settings_for(fake, tmp_path, **bot), database=database, ctx=ctx) is None

        http = slack_edge(
            settings_for(fake, tmp_path, **bot, slack_signing_secret=SIGNING_SECRET),
            database=database,
            ctx=ctx,
        )
        assert http is not None and [r.path for r in http.routes] == ["/slack/events"]
        stop = asyncio.Event()
        assert http.start(stop) is None
        await http.close()

        socket = slack_edge(
            settings_for(fake, tmp_path, **bot, slack_app_token=fake.app_token),
            database=database,
            ctx=ctx,
        )
        assert socket is not None and socket.routes == []
        assert socket.start(stop) is not None
        await asyncio.to_thread(fake.wait_for_connections, 1)
        assert isinstance(socket.chat_sender(), SlackChatSender)
        stop.set()
        await socket.close()

        # A refused app token is logged; the app goes on, and shuts down cleanly.
        refused = slack_edge(
            settings_for(fake, tmp_path, **bot, slack_app_token="xapp-1-refused"),
            database=database,
            ctx=ctx,
        )
        assert refused is not None
        running = refused.start(asyncio.Event())
        assert running is not None
        await running
        await refused.close()
    opened = fake.calls_of("apps.connections.open")
    assert [c.token for c in opened] == [fake.app_token, "xapp-1-refused"]


def test_the_manifest_matches_the_code() -> None:
    from handlers.slack.bot import COMMANDS, EVENTS

    manifest = load_manifest()
    features = manifest["features"]
    commands = {c["command"]: c for c in features["slash_commands"]}
    assert set(commands) == set(COMMANDS)
    url = "https://invites.example.org/slack/events"
    assert all(c["url"] == url for c in commands.values())
    settings = manifest["settings"]
    assert settings["event_subscriptions"]["request_url"] == url
    assert set(settings["event_subscriptions"]["bot_events"]) == set(EVENTS)
    assert settings["interactivity"] == {"is_enabled": True, "request_url": url}
    assert settings["socket_mode_enabled"] is False
    home = features["app_home"]
    assert home["home_tab_enabled"] is True and home["messages_tab_enabled"] is True
    assert home["messages_tab_read_only_enabled"] is False
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "commands", "im:history", "im:write"} <= scopes
    assert "users:read" in scopes  # users.info with include_locale: the person's language
    # the residents' channel: read it, add and remove people (public and private channels)
    assert {"channels:read", "groups:read", "channels:manage", "groups:write"} <= scopes
    assert features["bot_user"]["always_online"] is True


def load_manifest() -> dict:
    path = Path(__file__).parents[2] / "slack" / "manifest.yml"
    return parse_simple_yaml(path.read_text(encoding="utf-8"))


def parse_simple_yaml(text: str) -> dict:
    """The YAML subset the manifest is written in (PyYAML is not a dependency): nested
    mappings by indentation, lists of scalars or of mappings, scalars quoted or plain,
    ``true``/``false``, comments."""
    lines = []
    for raw in text.splitlines():
        stripped = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if stripped.strip() and stripped.strip() != "---":
            lines.append((len(stripped) - len(stripped.lstrip()), stripped.strip()))

    def scalar(value: str) -> object:
        if value in ("true", "false"):
            return value == "true"
        if value[:1] in "\"'":
            return json.loads(value) if value[0] == '"' else value[1:-1]
        return value

    def block(index: int, indent: int) -> tuple[object, int]:
        if lines[index][1].startswith("- "):
            items: list[object] = []
            while index < len(lines) and lines[index][0] == indent and lines[index][1][:2] == "- ":
                body = lines[index][1][2:]
                if re.match(r"^[\w.-]+:(\s|$)", body):  # "- key: value" starts a mapping
                    lines[index] = (indent + 2, body)
                    item, index = mapping(index, indent + 2)
                    items.append(item)
                else:
                    items.append(scalar(body))
                    index += 1
            return items, index
        return mapping(index, indent)

    def mapping(index: int, indent: int) -> tuple[dict, int]:
        result: dict[str, object] = {}
        while index < len(lines) and lines[index][0] == indent:
            key, _, value = lines[index][1].partition(": ")
            key = key.removesuffix(":")
            value = value.strip()
            index += 1
            if value:
                result[key] = scalar(value)
            elif index < len(lines) and lines[index][0] >= indent:
                result[key], index = block(index, lines[index][0])
            else:
                result[key] = None
        return result, index

    parsed, _ = mapping(0, 0)
    return parsed


def test_the_yaml_reader_reads_what_the_manifest_uses() -> None:
    parsed = parse_simple_yaml(
        "a:\n  b: 'x y'\n  c:\n    - one\n    - chat:write\n  d:\n    - e: 1\n      f: \"g\"\n"
        "  t: true # comment\n  u: https://x.example/y\n"
    )
    assert parsed == {
        "a": {
            "b": "x y",
            "c": ["one", "chat:write"],
            "d": [{"e": "1", "f": "g"}],
            "t": True,
            "u": "https://x.example/y",
        }
    }


async def test_the_app_serves_slack_and_sends_heads_their_news(
    fake: FakeSlack, tmp_path: Path
) -> None:
    """``create_app`` with Slack configured: ``POST /slack/events`` answers a signed slash
    command, and the app's outbox senders include the DMs to heads."""
    settings = settings_for(
        fake, tmp_path, slack_bot_token=fake.token, slack_signing_secret=SIGNING_SECRET
    )
    senders = invitee_senders(settings)
    assert isinstance(senders[Route(Channel.CHAT, "slack")], SlackChatSender)
    await close_senders(senders)
    async with fresh_database("sqlite", tmp_path) as database:
        world = World(uow_factory=database.uow)
        code = await world.household()
        app = create_app(settings, dispatch=False, database=database, clock=world.clock)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                workspace = Workspace(client=client, fake=fake, adapter=app.state.slack.adapter)
                await workspace.command(ANA, "/household", f"join {code}")
                await workspace.command(ANA, "/household", "")
        [claimed] = [
            c
            for c in fake.calls_of("chat.postMessage")
            if "You are now the head" in json.dumps(c.params)
        ]
        assert claimed.params["channel"] == dm_of(ANA)
        # The Web API calls share kept-alive connections (slack_sdk alone opens one a call).
        calls = fake.calls
        assert len(calls) >= 4
        assert len({c.connection for c in calls}) < len(calls) / 2


async def test_healthz_reports_the_socket_mode_connection(fake: FakeSlack, tmp_path: Path) -> None:
    settings = settings_for(
        fake, tmp_path, slack_bot_token=fake.token, slack_app_token=fake.app_token
    )
    async with fresh_database("sqlite", tmp_path) as database:
        app = create_app(settings, dispatch=False, database=database)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                await asyncio.to_thread(fake.wait_for_connections, 1)
                for _ in range(200):  # the flag is set just after the WebSocket opens
                    health = (await client.get("/healthz")).json()
                    if health["slack_socket_mode"]:
                        break
                    await asyncio.sleep(0.02)
    assert health == {"status": "ok", "database": True, "slack_socket_mode": True}
