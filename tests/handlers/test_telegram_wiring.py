"""The Telegram pieces as the app wires them: the webhook mounted when configured, and heads'
notifications sent to their Telegram chat through the outbox."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiogram.methods import Response
from aiogram.types import Message
from typer.testing import CliRunner, Result

from bot.domain import Channel, OutboxMessage, OutboxStatus
from handlers.app import create_app
from handlers.bootstrap import build_dispatcher, close_senders, invitee_senders
from handlers.cli import app as cli_app
from handlers.settings import Settings
from handlers.telegram.bot import make_bot
from handlers.telegram.sender import TelegramChatSender
from tests.handlers.fake_telegram import FakeTelegram
from tests.storage.databases import fresh_database
from tests.unit.conftest import SECRET, World


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as running:
        yield running


def settings_for(fake: FakeTelegram, tmp_path: Path, **extra: str) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db",
        secret_key=SECRET.decode(),
        telegram_bot_token=fake.token,
        telegram_api_base=fake.url,
        **extra,
    )


async def test_the_webhook_is_served_only_with_a_secret(fake: FakeTelegram, tmp_path: Path) -> None:
    async with fresh_database("sqlite", tmp_path) as database:
        for extra, expected in [({}, 404), ({"telegram_webhook_secret": "s" * 32}, 401)]:
            app = create_app(
                settings_for(fake, tmp_path, **extra), dispatch=False, database=database
            )
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                response = await client.post("/telegram/webhook", json={"update_id": 1})
            assert response.status_code == expected
    assert fake.calls == []


async def test_a_heads_notification_reaches_their_telegram_chat(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    settings = settings_for(fake, tmp_path)
    senders = invitee_senders(settings)
    assert any(isinstance(s, TelegramChatSender) for s in senders.values())
    async with fresh_database("sqlite", tmp_path) as database:
        world = World(uow_factory=database.uow)
        now = world.clock.now()
        note = OutboxMessage(
            channel=Channel.CHAT,
            platform="telegram",
            destination="4242",
            body="🎉 Maria Ruiz accepted your invitation.",
            created_at=now,
            next_attempt_at=now,
        )
        async with database.uow() as uow:
            await uow.outbox.add(note)
            await uow.commit()
        dispatcher = build_dispatcher(settings, database, senders, clock=world.clock)
        try:
            assert await dispatcher.run_once() == 1
        finally:
            await close_senders(senders)
        async with database.uow() as uow:
            sent = await uow.outbox.get(note.id)
    [call] = fake.calls_of("sendMessage")
    assert str(call.params["chat_id"]) == "4242" and "Maria Ruiz accepted" in call.params["text"]
    assert sent is not None and sent.status is OutboxStatus.SENT and sent.provider_id


# --- invitebot telegram ----------------------------------------------------------------------


def run_cli(fake: FakeTelegram, tmp_path: Path, *args: str, **env: str) -> Result:
    environment = {
        "INVITEBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/invitebot.db",
        "INVITEBOT_SECRET_KEY": SECRET.decode(),
        "INVITEBOT_PUBLIC_BASE_URL": "https://invites.oakridge.example",
        "INVITEBOT_TELEGRAM_BOT_TOKEN": fake.token,
        "INVITEBOT_TELEGRAM_API_BASE": fake.url,
        "INVITEBOT_TELEGRAM_WEBHOOK_SECRET": "webhook-secret-0123456789",
    } | env
    return CliRunner().invoke(cli_app, ["telegram", *args], env=environment)


def test_set_webhook_registers_the_endpoint_and_the_menu(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    result = run_cli(fake, tmp_path, "set-webhook")
    assert result.exit_code == 0, result.output
    assert "https://invites.oakridge.example/telegram/webhook" in result.output
    assert fake.webhook["url"] == "https://invites.oakridge.example/telegram/webhook"
    assert fake.webhook["secret_token"] == "webhook-secret-0123456789"
    assert fake.webhook["allowed_updates"] == ["message", "callback_query", "chat_join_request"]
    assert fake.webhook["drop_pending_updates"] == "false"
    menu, spanish = fake.calls_of("setMyCommands")
    assert "invite" in [c["command"] for c in menu.params["commands"]]
    assert spanish.params["language_code"] == "es"

    shown = run_cli(fake, tmp_path, "info")
    assert shown.exit_code == 0, shown.output
    assert "@oakridge_bot" in shown.output
    assert "https://invites.oakridge.example/telegram/webhook" in shown.output

    removed = run_cli(fake, tmp_path, "delete-webhook")
    assert removed.exit_code == 0 and fake.webhook == {}
    assert "(none: long polling)" in run_cli(fake, tmp_path, "info").output


@pytest.mark.parametrize(
    ("env", "expected", "code"),
    [
        # A setting missing: a startup error, exit code 2 as every command's.
        ({"INVITEBOT_TELEGRAM_WEBHOOK_SECRET": ""}, "INVITEBOT_TELEGRAM_WEBHOOK_SECRET", 2),
        ({"INVITEBOT_TELEGRAM_BOT_TOKEN": ""}, "INVITEBOT_TELEGRAM_BOT_TOKEN", 2),
        ({"INVITEBOT_PUBLIC_BASE_URL": "http://localhost:8000"}, "only delivers to https://", 1),
    ],
)
def test_set_webhook_explains_what_is_missing(
    fake: FakeTelegram, tmp_path: Path, env: dict[str, str], expected: str, code: int
) -> None:
    result = run_cli(fake, tmp_path, "set-webhook", **env)
    assert result.exit_code == code
    assert expected in " ".join(result.output.split())
    assert fake.webhook == {} and fake.calls_of("setMyCommands") == []


def test_set_webhook_reports_telegrams_refusal(fake: FakeTelegram, tmp_path: Path) -> None:
    fake.fail_next("setWebhook", "Bad Request: bad webhook: Failed to resolve host")
    result = run_cli(fake, tmp_path, "set-webhook")
    assert result.exit_code == 1
    assert "Telegram refused: Bad Request: bad webhook" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_the_model_aiogram_reads_each_sent_message_with_outlives_a_garbage_collection() -> None:
    """aiogram builds ``Response[Message]`` inside its call, where pydantic keeps it by weak
    reference only: without the bot holding it, a collection takes it and the next message
    sent builds it again (milliseconds of CPU each time)."""

    def as_aiogram_builds_it() -> weakref.ref[type]:
        return weakref.ref(Response[Message])

    make_bot("123:abc", api_base="http://127.0.0.1:9")
    built = as_aiogram_builds_it()
    gc.collect()
    assert built() is not None
    assert built() is Response[Message]
