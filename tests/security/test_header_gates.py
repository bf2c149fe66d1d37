"""Issue 13, point 2, the rest of it: Telegram's and Slack's routes take up to a megabyte of
JSON, so a request is first checked on its headers alone (Telegram's secret token; Slack's
timestamp and the shape of its signature) and refused 401 without a byte of its body read.
A signed Telegram update over its own limit is 200 and a WARNING, so Telegram stops sending it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from handlers.app import create_app
from handlers.settings import Settings
from tests.storage.databases import fresh_database
from tests.unit.conftest import SECRET

TELEGRAM_SECRET = "telegram-webhook-secret-0123456789"
DEAD = "http://127.0.0.1:9"  # nothing here calls the platforms


class Body:
    """A chunked request body that counts how much of it was read."""

    def __init__(self, chunks: int = 16, size: int = 64 * 1024) -> None:
        self.chunks, self.size, self.read = chunks, size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.read += self.size
            yield b"[" * self.size


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with fresh_database("sqlite", tmp_path) as database:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db",
            secret_key=SECRET.decode(),
            public_base_url="https://hoa.example",
            telegram_bot_token="123456:gate-test-token",
            telegram_webhook_secret=TELEGRAM_SECRET,
            telegram_api_base=DEAD,
            slack_bot_token="xoxb-gate-test",
            slack_signing_secret="s" * 32,
            slack_api_base=DEAD + "/api/",
        )
        app = create_app(settings, dispatch=False, database=database)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.5") as client:
            yield client


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/telegram/webhook", {}),
        ("/telegram/webhook", {"X-Telegram-Bot-Api-Secret-Token": "wrong"}),
        ("/slack/events", {}),
        (
            "/slack/events",
            {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=" + "0" * 64},
        ),
        (
            "/slack/events",
            {
                "X-Slack-Request-Timestamp": str(int(time.time()) - 3600),
                "X-Slack-Signature": "v0=" + "0" * 64,
            },
        ),
        (
            "/slack/events",
            {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "x"},
        ),
    ],
)
async def test_a_stranger_is_refused_before_the_body_is_read(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    body = Body()
    response = await client.post(path, content=body, headers=headers)
    assert response.status_code == 401
    assert body.read <= body.size  # at most the chunk the client had already sent


async def test_a_signed_telegram_update_too_large_to_be_one_is_200(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = b'{"update_id": 1, "x": "' + b"a" * 300_000 + b'"}'
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    response = await client.post("/telegram/webhook", content=body, headers=headers)
    assert response.status_code == 200
    assert any("too large" in r.getMessage() for r in caplog.records)
