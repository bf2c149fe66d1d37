"""``invitebot serve`` as a real process, and a client that speaks HTTP/1.1 over a bare socket.

The transport tests need the real server: what a slow or oversized request does to it (its
memory, its connections) happens below the app, where an in-process client never reaches. The
client is a bare socket because an HTTP library would not send a body a byte at a time, stop
mid-body, or keep on sending after the answer came.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.storage.databases import FAST_PATH_ENV, SQL_BACKENDS
from tests.system.cluster import system_database

INVITEBOT = Path(sys.executable).parent / "invitebot"
PUBLIC = "https://hoa.example"
TELEGRAM_SECRET = "transport-webhook-secret"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def protocols() -> list[str]:
    """uvicorn's HTTP/1.1 parsers installed here: h11 always, httptools when present."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return ["h11"]
    return ["h11", "httptools"]


@dataclass
class Server:
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def peak_rss_kib(self) -> int:
        """The process's peak resident memory so far (``VmHWM``), in KiB."""
        status = Path(f"/proc/{self.popen.pid}/status").read_text()
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        assert match, status
        return int(match.group(1))

    def connect(self, timeout: float = 30.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=30, **kwargs)  # type: ignore[arg-type]


def serve_env(database_url: str, **extra: str) -> dict[str, str]:
    """Every route that reads a body configured: Twilio, Telegram's webhook and Slack's
    events (their APIs pointed at a port where nothing listens: nothing here calls them)."""
    dead = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVITEBOT_")} | FAST_PATH_ENV
    return env | {
        "INVITEBOT_DATABASE_URL": database_url,
        "INVITEBOT_SECRET_KEY": "transport-test-secret-key-0123456789abcdef",
        "INVITEBOT_PUBLIC_BASE_URL": PUBLIC,
        "INVITEBOT_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "INVITEBOT_TWILIO_AUTH_TOKEN": "twilio-auth-token",
        "INVITEBOT_TWILIO_API_BASE": dead,
        "INVITEBOT_TELEGRAM_BOT_TOKEN": "123456:transport-test-token",
        "INVITEBOT_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
        "INVITEBOT_TELEGRAM_API_BASE": dead,
        "INVITEBOT_SLACK_BOT_TOKEN": "xoxb-transport-test",
        "INVITEBOT_SLACK_SIGNING_SECRET": "s" * 32,
        "INVITEBOT_SLACK_API_BASE": dead + "/api/",
        **extra,
    }


@contextmanager
def running_server(directory: Path, env: dict[str, str]) -> Iterator[Server]:
    """``invitebot serve --no-dispatch`` on a free loopback port, once it answers /healthz."""
    port = free_port()
    log = directory / f"serve-{port}.log"
    with log.open("wb") as handle:
        popen = subprocess.Popen(
            [str(INVITEBOT), "serve", "--port", str(port), "--no-dispatch"],
            env=env,
            cwd=directory,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    server = Server(popen=popen, port=port, log=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if server.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert popen.poll() is None, server.output()[-3000:]
            assert time.monotonic() < deadline, "server did not start:\n" + server.output()
            time.sleep(0.2)
        yield server
    except BaseException:
        print(server.output()[-4000:])
        raise
    finally:
        popen.terminate()
        try:
            popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(timeout=5)


@dataclass
class Answer:
    """What came back on a connection: the response's bytes (maybe none), and whether the
    server closed the connection."""

    data: bytes
    closed: bool

    @property
    def status(self) -> int | None:
        match = re.match(rb"HTTP/1\.1 (\d{3}) ", self.data)
        return int(match.group(1)) if match else None

    @property
    def headers(self) -> dict[str, str]:
        head = self.data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
        return {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head)}


def read_answer(sock: socket.socket, *, within: float = 30.0) -> Answer:
    """Everything the server sends until it closes the connection (or ``within`` passes)."""
    data = b""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return Answer(data, closed=True)
        if not chunk:
            return Answer(data, closed=True)
        data += chunk
    return Answer(data, closed=False)


def readable(sock: socket.socket) -> bool:
    import select

    return bool(select.select([sock], [], [], 0)[0])


def send_until_answered(sock: socket.socket, head: bytes, pieces: Iterator[bytes]) -> Answer:
    """Send ``head``, then ``pieces`` one after the other until the server answers (or hangs
    up), then read the answer: what an attacker's upload looks like from the server."""
    try:
        sock.sendall(head)
        for piece in pieces:
            if readable(sock):
                break
            sock.sendall(piece)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading: its answer is (or was) on the way
    return read_answer(sock)


def trickle(
    sock: socket.socket, first: bytes, byte: bytes, *, every: float, up_to: float
) -> tuple[Answer, float]:
    """Send ``first``, then ``byte`` every ``every`` seconds until the server answers or
    closes, for at most ``up_to`` seconds; the answer, and how long it took."""
    started = time.monotonic()
    data = b""
    sock.sendall(first)
    while time.monotonic() - started < up_to:
        sock.settimeout(every)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            chunk = None
        except ConnectionResetError:
            return Answer(data, closed=True), time.monotonic() - started
        if chunk == b"":
            return Answer(data, closed=True), time.monotonic() - started
        if chunk:
            data += chunk
            continue
        try:
            sock.sendall(byte)
        except (BrokenPipeError, ConnectionResetError):
            return Answer(data + read_answer(sock, within=5).data, True), time.monotonic() - started
    return Answer(data, closed=False), time.monotonic() - started


def request_head(method: str, path: str, *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text scrape (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture(params=SQL_BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated database for the server: SQLite, and PostgreSQL when the suite has one."""
    async with system_database(request.param, tmp_path) as database:
        yield database.url
