"""Issue 13, point 9: the security headers are on every response, whatever answers it (a
page, a webhook refusing a forgery, the router's 404 and 405, a body over its limit, an
unexpected error's 500), and ``/metrics`` without ``INVITEBOT_METRICS_TOKEN`` answers only a
client on loopback that came straight, not through a proxy. Through the real app.
(The server's own 400, 408 and 503 are in ``test_slow_clients.py``.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.routing import Route

from handlers.app import create_app
from handlers.http_headers import HardenedStarlette
from handlers.settings import Settings
from tests.storage.databases import SQL_BACKENDS, fresh_database
from tests.unit.conftest import SECRET

EXPECTED = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}
OUTSIDE = ("203.0.113.9", 40000)
LOOPBACK = ("127.0.0.1", 40000)


def assert_hardened(response: httpx.Response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (response.request.url, name, response)


def settings_for(tmp_path: Path, **extra: object) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db",
        secret_key=SECRET.decode(),
        public_base_url="https://hoa.example",
        twilio_auth_token="twilio-auth-token-0123456789abcdef",
        twilio_account_sid="AC" + "0" * 32,
        **extra,
    )


class App:
    def __init__(self, app: object) -> None:
        self.app = app

    def client(self, address: tuple[str, int] = OUTSIDE) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=address)  # type: ignore[arg-type]
        return httpx.AsyncClient(transport=transport, base_url="http://10.0.0.5:8000")


@pytest.fixture(params=SQL_BACKENDS)
async def app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[App]:
    async with fresh_database(request.param, tmp_path) as database:
        yield App(create_app(settings_for(tmp_path), dispatch=False, database=database))


async def test_every_kind_of_answer_carries_the_security_headers(app: App) -> None:
    async with app.client() as client:
        answers = [
            (await client.get("/healthz"), 200),
            (await client.get("/nowhere"), 404),
            (await client.get("/i/" + "A" * 43), 404),
            (await client.delete("/healthz"), 405),
            (await client.put("/twilio/sms", content=b""), 405),
            (await client.post("/twilio/sms", data={"Body": "JOIN"}), 403),  # unsigned
            (await client.post("/twilio/status", content=b"x" * 70_000), 413),
            (await client.get("/metrics"), 403),  # not loopback, no token set
        ]
    for response, status in answers:
        assert response.status_code == status, (response.request.url, response.status_code)
        assert_hardened(response)


async def test_an_unexpected_errors_500_carries_them_too() -> None:
    async def broken(request: Request) -> None:
        raise RuntimeError("boom")

    hardened = HardenedStarlette(routes=[Route("/broken", broken)])
    transport = httpx.ASGITransport(app=hardened, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        response = await client.get("/broken")
    assert response.status_code == 500
    assert_hardened(response)


async def test_metrics_without_a_token_only_for_a_direct_loopback_client(app: App) -> None:
    async with app.client(OUTSIDE) as outside, app.client(LOOPBACK) as local:
        assert (await outside.get("/metrics")).status_code == 403
        assert (await local.get("/metrics")).status_code == 200
        # A reverse proxy on this machine connects from loopback for anyone at all.
        for header in ("X-Forwarded-For", "Forwarded"):
            proxied = await local.get("/metrics", headers={header: "203.0.113.9"})
            assert proxied.status_code == 403, header


async def test_metrics_with_a_token_from_anywhere_only_with_it(tmp_path: Path) -> None:
    async with fresh_database("sqlite", tmp_path) as database:
        settings = settings_for(tmp_path, metrics_token="scrape-me-0123456789")
        app = App(create_app(settings, dispatch=False, database=database))
        async with app.client(OUTSIDE) as outside, app.client(LOOPBACK) as local:
            bearer = {"Authorization": "Bearer scrape-me-0123456789"}
            assert (await outside.get("/metrics", headers=bearer)).status_code == 200
            assert (await local.get("/metrics")).status_code == 401
            assert (await outside.get("/metrics")).status_code == 401
