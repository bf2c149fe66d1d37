"""``invitebot serve`` as a real process: it migrates a fresh SQLite database by itself and
answers /healthz; ``invitebot worker`` and ``db upgrade`` run too."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from handlers.app import create_app
from handlers.settings import Settings
from storage.database import Database

INVITEBOT = Path(sys.executable).parent / "invitebot"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INVITEBOT_")}
    return clean | {"INVITEBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/fresh/invitebot.db"}


def test_serve_migrates_a_fresh_database_and_reports_health(
    env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    server = subprocess.Popen(
        [str(INVITEBOT), "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "database": True}
        assert (tmp_path / "fresh" / "invitebot.db").exists()
        token = "Secret" + "x" * 37
        assert httpx.get(f"http://127.0.0.1:{port}/i/{token}", timeout=5).status_code == 404
    finally:
        server.terminate()
        server.wait(timeout=15)
    log = server.stdout.read() if server.stdout else ""
    assert "GET /i/<token> HTTP/1.1" in log and "/healthz" in log  # the access log is kept
    assert token not in log  # but an invite link is a secret
    # One JSON object a line, uvicorn's own records included.
    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert {"uvicorn.error", "uvicorn.access"} <= {r["logger"] for r in records}
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)


async def test_healthz_says_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/app.db", secret_key="k" * 32)
    # Nothing listens on port 1: the app, given a database it cannot reach.
    unreachable = Database("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    healthy = Database(settings.database_url)
    try:
        for database, expected in [(healthy, 200), (unreachable, 503)]:
            app = create_app(settings, dispatch=False, database=database)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                response = await client.get("/healthz")
            assert response.status_code == expected
    finally:
        await unreachable.dispose()
        await healthy.dispose()
    assert response.json() == {"status": "degraded", "database": False}


def test_db_upgrade_then_worker_starts_and_stops(env: dict[str, str], tmp_path: Path) -> None:
    upgraded = subprocess.run(
        [str(INVITEBOT), "db", "upgrade"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert "Database is at revision" in upgraded.stdout
    worker = subprocess.Popen(
        [str(INVITEBOT), "worker"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert worker.stdout is not None
    started = ""
    for line in worker.stdout:  # wait until it is running (and handles signals)
        started += line
        if "worker started" in line:
            break
    worker.terminate()
    output, _ = worker.communicate(timeout=15)
    assert worker.returncode == 0, started + output
    assert "worker started" in started
