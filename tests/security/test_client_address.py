"""Issue 13, point 5, as served: whom the invitation page's throttle counts a request against.
``X-Forwarded-For`` is believed only from a proxy named in ``INVITEBOT_TRUSTED_PROXIES``:
through ``create_app`` (the setting reaches the page) and through ``invitebot serve`` (uvicorn
does not rewrite the client's address from the header on its own)."""

from __future__ import annotations

from pathlib import Path

import httpx

from handlers.app import create_app
from handlers.settings import Settings
from tests.security.live_server import running_server, serve_env
from tests.storage.databases import fresh_database
from tests.unit.conftest import SECRET

PUBLIC = "https://hoa.example"
UNKNOWN = f"/i/{'C' * 43}"  # a token that verifies nowhere: 404, but counted all the same


async def statuses(tmp_path: Path, peer: str, *, trusted: str = "") -> list[int]:
    """31 requests from ``peer``, each forwarded for a different client."""
    async with fresh_database("sqlite", tmp_path) as database:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db",
            secret_key=SECRET.decode(),
            public_base_url=PUBLIC,
            trusted_proxies=trusted,
        )
        app = create_app(settings, dispatch=False, database=database)
        transport = httpx.ASGITransport(app=app, client=(peer, 51000))
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
            return [
                (
                    await client.get(UNKNOWN, headers={"X-Forwarded-For": f"198.51.100.{n}"})
                ).status_code
                for n in range(31)
            ]


async def test_behind_a_trusted_proxy_each_visitor_has_their_own_budget(tmp_path: Path) -> None:
    assert await statuses(tmp_path, "10.0.0.5", trusted="10.0.0.0/8") == [404] * 31


async def test_from_anyone_else_the_header_is_ignored(tmp_path: Path) -> None:
    assert await statuses(tmp_path, "203.0.113.7") == [404] * 30 + [429]


def test_the_server_does_not_believe_the_header_from_loopback(tmp_path: Path) -> None:
    """uvicorn's own proxy handling trusts loopback by default; ours trusts nobody unless
    told: a local client naming a new address each time is still one client."""
    env = serve_env(f"sqlite+aiosqlite:///{tmp_path}/invitebot.db")
    with running_server(tmp_path, env) as server:
        answers = [
            server.get(UNKNOWN, headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
            for n in range(31)
        ]
    assert answers == [404] * 30 + [429]
