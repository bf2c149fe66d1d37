"""The embedded-default secret key: made once, kept beside the SQLite file, same for all."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy.pool import QueuePool

from handlers.bootstrap import batch_size_for, make_database
from handlers.settings import Settings


def test_the_key_file_is_made_once_private_and_shared(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/data/invitebot.db"
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: Settings(database_url=url).secret_key_bytes, range(16)))
    assert len(keys) == 1 and len(next(iter(keys))) >= 32
    key_file = tmp_path / "data" / "invitebot.db.secret"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in key_file.parent.iterdir() if p.name != "invitebot.db.secret"] == []


def test_another_database_needs_a_configured_key() -> None:
    settings = Settings(database_url="postgresql+asyncpg://db.example/hoa", secret_key=None)
    with pytest.raises(RuntimeError, match="INVITEBOT_SECRET_KEY must be set"):
        settings.secret_key_bytes  # noqa: B018


def test_a_slow_sms_rate_takes_small_batches() -> None:
    lease = timedelta(minutes=2)
    assert batch_size_for(Settings(twilio_messages_per_second=1), lease=lease) == 20
    assert batch_size_for(Settings(twilio_messages_per_second=0.1), lease=lease) == 6
    assert batch_size_for(Settings(twilio_messages_per_second=0.001), lease=lease) == 1


@pytest.mark.parametrize("secret", ["has space", "semi;colon", "x" * 257, "ünïcode"])
def test_a_telegram_webhook_secret_telegram_would_refuse_is_refused_at_start(secret: str) -> None:
    with pytest.raises(ValidationError, match="1 to 256 characters"):
        Settings(telegram_webhook_secret=secret)
    assert Settings(telegram_webhook_secret="Ok_secret-123").telegram_webhook_secret


def test_an_empty_variable_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVITEBOT_TELEGRAM_WEBHOOK_SECRET", "")
    monkeypatch.setenv("INVITEBOT_TELEGRAM_BOT_TOKEN", "")
    settings = Settings()
    assert settings.telegram_webhook_secret is None and settings.telegram_bot_token is None


async def test_the_database_pool_is_sized_by_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVITEBOT_DATABASE_URL", "postgresql+asyncpg://bot@db.invalid/hoa")
    monkeypatch.setenv("INVITEBOT_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("INVITEBOT_DATABASE_POOL_SIZE", "3")
    monkeypatch.setenv("INVITEBOT_DATABASE_MAX_OVERFLOW", "0")
    database = make_database(Settings())
    try:
        pool = database.engine.sync_engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.size() == 3
    finally:
        await database.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "hoa.example.org",
        "ftp://hoa.example.org",
        "https://",
        "https://hoa.example.org/?next=1",
        "https://hoa.example.org/#top",
        "https://user:pw@hoa.example.org",
        "javascript:alert(1)",
    ],
)
def test_a_public_url_links_cannot_be_built_on_is_refused_at_start(url: str) -> None:
    with pytest.raises(ValidationError, match="public_base_url"):
        Settings(public_base_url=url)


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://hoa.example.org/", "https://hoa.example.org"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        (" https://hoa.example.org/invitebot/ ", "https://hoa.example.org/invitebot"),
    ],
)
def test_a_public_url_is_kept_without_its_trailing_slash(url: str, kept: str) -> None:
    assert Settings(public_base_url=url).public_base_url == kept
