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
from handlers.settings import Settings, database_url_secrets, shown_database_url


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


# --- settings refused at start-up, and a database URL fit to print -----------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:pw@127.0.0.1:5432/x",
        "postgresql+psycopg://u@127.0.0.1/x",
        "postgres://u@127.0.0.1/x",
        "mysql://u@127.0.0.1/x",
        "sqlite:///./invitebot.db",
        "not a url",
        "postgresql+asyncpg://u@127.0.0.1:notaport/x",
    ],
)
def test_a_database_url_on_no_driver_we_have_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="database_url") as refused:
        Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    assert "pw@" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:///./invitebot.db",
        "sqlite+aiosqlite://",
        "postgresql+asyncpg://u:pw@db.example:5432/hoa?ssl=require",
    ],
)
def test_the_database_urls_we_run_on_are_accepted(url: str) -> None:
    assert Settings(_env_file=None, database_url=url).database_url == url  # type: ignore[call-arg]


def test_the_log_level_is_one_logging_knows_in_any_case() -> None:
    assert Settings(_env_file=None, log_level=" debug ").log_level == "DEBUG"  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="log_level"):
        Settings(_env_file=None, log_level="LOUD")  # type: ignore[call-arg]


def test_the_region_is_one_phone_numbers_know() -> None:
    assert Settings(_env_file=None, default_region="gb").default_region == "GB"  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="default_region"):
        Settings(_env_file=None, default_region="ZZ")  # type: ignore[call-arg]


@pytest.mark.parametrize("port", [0, 65536, 99999])
def test_the_smtp_port_is_a_port(port: int) -> None:
    with pytest.raises(ValidationError, match="smtp_port"):
        Settings(_env_file=None, smtp_port=port)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+asyncpg://u:pw@h/db", "postgresql+asyncpg://u:***@h/db"),
        ("postgresql+asyncpg://u@h/db?password=pw", "postgresql+asyncpg://u@h/db?password=***"),
        (
            "postgresql+asyncpg://u:pw@h/db?ssl=require&sslpassword=pw",
            "postgresql+asyncpg://u:***@h/db?ssl=require&sslpassword=***",
        ),
        ("sqlite+aiosqlite:///./invitebot.db", "sqlite+aiosqlite:///./invitebot.db"),
        ("not a url", "(the URL in INVITEBOT_DATABASE_URL)"),
    ],
)
def test_a_database_url_is_shown_without_its_secrets(url: str, shown: str) -> None:
    assert shown_database_url(url) == shown
    assert database_url_secrets(url) == (["pw"] * url.count("pw") if "pw" in url else [])
