"""Long polling (``serve --telegram-polling``): the real aiogram client long-polls the fake Bot
API's ``getUpdates``; updates are handled in order and once, errors back off and recover, and
``stop`` ends a poll that is waiting. Then the app's own wiring: polling started by the
lifespan, the command menu published at start-up."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiogram.types import Update

from bot import messages as msg
from handlers.app import create_app
from handlers.settings import Settings
from handlers.telegram.bot import TelegramAdapter, make_bot
from handlers.telegram.polling import TelegramPolling
from handlers.telegram.updates import UpdateIntake
from storage import Database
from tests.handlers.fake_telegram import FakeTelegram
from tests.handlers.test_telegram import ANA, message_update
from tests.storage.databases import SQL_BACKENDS, fresh_database
from tests.unit.conftest import SECRET, World


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as running:
        yield running


@dataclass
class Polled:
    fake: FakeTelegram
    world: World
    database: Database
    intake: UpdateIntake

    def poller(self, **options: float) -> TelegramPolling:
        return TelegramPolling(self.intake, long_poll=1, first_backoff=0.01, **options)

    def texts(self, chat_id: int) -> list[str]:
        return [
            str(call.params["text"])
            for call in self.fake.calls_of("sendMessage")
            if str(call.params.get("chat_id")) == str(chat_id)
        ]


@pytest.fixture(params=SQL_BACKENDS)
async def polled(
    request: pytest.FixtureRequest, tmp_path: Path, fake: FakeTelegram
) -> AsyncIterator[Polled]:
    async with fresh_database(request.param, tmp_path) as database:
        world = World(uow_factory=database.uow)
        adapter = TelegramAdapter(world.engine, make_bot(fake.token, api_base=fake.url))
        intake = UpdateIntake(adapter=adapter, uow_factory=database.uow, clock=world.clock)
        try:
            yield Polled(fake=fake, world=world, database=database, intake=intake)
        finally:
            await adapter.close()


async def until(condition: Callable[[], bool], *, within: float = 20.0) -> None:
    """Wait for ``condition`` (the poller runs in the background); fail after ``within`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


@asynccontextmanager
async def running(poller: TelegramPolling) -> AsyncIterator[asyncio.Event]:
    """Run the poller in the background; stop it (and wait for it) on the way out."""
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def test_polling_removes_the_webhook_then_handles_updates_in_order(polled: Polled) -> None:
    code = await polled.world.household()
    polled.fake.webhook = {"url": "https://old.example/telegram/webhook"}
    polled.fake.push_update(message_update(ANA, f"/join {code}"))
    polled.fake.push_update(message_update(ANA, "/invite"))
    async with running(polled.poller()):
        await until(lambda: len(polled.texts(ANA)) == 2)
        await until(lambda: not polled.fake.pending_updates)  # confirmed by the next offset
    claimed, asked = polled.texts(ANA)
    assert "You are now the head" in claimed and asked == msg.ASK_METHOD
    methods = [call.method for call in polled.fake.calls]
    assert methods.index("deleteWebhook") < methods.index("getUpdates")
    assert polled.fake.webhook == {}
    first = polled.fake.calls_of("getUpdates")[0].params
    assert first["allowed_updates"] == ["message", "callback_query", "chat_join_request"]


async def test_an_update_handled_before_has_no_second_effect(polled: Polled) -> None:
    """Telegram hands out an update again when it was never confirmed: the poller died
    after handling it, or it came by webhook just before the switch to polling."""
    code = await polled.world.household()
    update = message_update(ANA, f"/join {code}")
    earlier = Update.model_validate(update, context={"bot": polled.intake.adapter.bot})
    stored = await polled.intake.accept(earlier)
    assert stored is not None
    await polled.intake.handle(stored)
    assert len(polled.texts(ANA)) == 1
    polled.fake.push_update(update)
    poller = polled.poller()
    async with running(poller):
        await until(lambda: poller.offset == update["update_id"] + 1)  # taken, and skipped
    assert len(polled.texts(ANA)) == 1
    assert [c.method for c in polled.fake.effects] == ["sendMessage", "deleteWebhook"]


async def test_polling_backs_off_on_errors_and_recovers(polled: Polled) -> None:
    polled.fake.fail_next("getUpdates", "Conflict: terminated by other getUpdates request", 409)
    polled.fake.fail_next("getUpdates", "Internal Server Error", 500)
    polled.fake.fail_next("deleteWebhook", "Internal Server Error", 500)
    polled.fake.push_update(message_update(ANA, "/help"))
    async with running(polled.poller()):
        await until(lambda: len(polled.texts(ANA)) == 1)
    assert polled.texts(ANA)[0].startswith("I help the head of a household")
    assert len(polled.fake.calls_of("deleteWebhook")) == 2
    assert len(polled.fake.calls_of("getUpdates")) >= 3


async def test_stop_ends_a_poll_that_is_waiting(polled: Polled) -> None:
    poller = TelegramPolling(polled.intake, long_poll=25)
    async with running(poller):
        await until(lambda: bool(polled.fake.calls_of("getUpdates")))
    # running() waited for the poller: it ended without waiting out the 25-second poll.
    assert polled.fake.effects == polled.fake.calls_of("deleteWebhook")


# --- the app runs it ---------------------------------------------------------------------------


def app_settings(fake: FakeTelegram, tmp_path: Path, **extra: object) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db",
        secret_key=SECRET.decode(),
        telegram_bot_token=fake.token,
        telegram_api_base=fake.url,
        **extra,
    )


async def test_serve_with_polling_publishes_the_menu_and_answers(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    async with fresh_database("sqlite", tmp_path) as database:
        app = create_app(
            app_settings(fake, tmp_path), dispatch=False, telegram_polling=True, database=database
        )
        # No webhook route in polling mode.
        assert "/telegram/webhook" not in {getattr(r, "path", "") for r in app.routes}
        async with app.router.lifespan_context(app):
            fake.push_update(message_update(ANA, "/start"))
            await until(lambda: bool(fake.calls_of("sendMessage")))
        menus = fake.calls_of("setMyCommands")  # English for everyone, then Spanish
        assert [m.params.get("language_code") for m in menus] == [None, "es"]
        assert all(m.params["scope"] == {"type": "all_private_chats"} for m in menus)
        [welcome] = fake.calls_of("sendMessage")
        assert welcome.params["text"] == msg.WELCOME_START


async def test_a_token_without_a_secret_or_polling_serves_no_telegram(
    fake: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with fresh_database("sqlite", tmp_path) as database:
        app = create_app(app_settings(fake, tmp_path), dispatch=False, database=database)
        async with app.router.lifespan_context(app):
            pass
    assert "/telegram/webhook" not in {getattr(r, "path", "") for r in app.routes}
    assert "no Telegram updates are received" in caplog.text
    assert fake.calls == []


async def test_a_menu_that_cannot_be_published_does_not_stop_the_server(
    fake: FakeTelegram, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next("setMyCommands", "Internal Server Error", 500)
    settings = app_settings(fake, tmp_path, telegram_webhook_secret="s" * 32)
    async with fresh_database("sqlite", tmp_path) as database:
        app = create_app(settings, dispatch=False, database=database)
        async with app.router.lifespan_context(app):
            assert "/telegram/webhook" in {getattr(r, "path", "") for r in app.routes}
            await until(lambda: "could not publish the Telegram command menu" in caplog.text)


async def test_a_telegram_that_does_not_answer_does_not_hold_up_the_start(
    tmp_path: Path,
) -> None:
    """A Bot API that takes connections and never answers: the app starts anyway, and
    publishes the menu in the background (until its own timeout)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db",
            secret_key=SECRET.decode(),
            telegram_bot_token="123456789:AAFakeTelegramTokenForTests_0123456789",
            telegram_api_base=f"http://127.0.0.1:{silent.getsockname()[1]}",
            telegram_webhook_secret="s" * 32,
        )
        async with fresh_database("sqlite", tmp_path) as database:
            app = create_app(settings, dispatch=False, database=database)
            async with app.router.lifespan_context(app):
                menu = app.state.telegram._menu
                assert menu is not None and not menu.done()  # started, still waiting
            assert menu.done()  # and given up at shutdown
    finally:
        silent.close()
