"""Real invitebot processes against one database, for scale-out and fault tests.

A :class:`Cluster` starts ``invitebot serve`` and ``invitebot worker`` as separate processes
(the same commands an HOA runs), all with one environment: the database, the secret key, and
Twilio and Telegram pointed at fakes on loopback. Each process writes its log to a file of its
own (a pipe nobody reads would fill up and stall it); a failing test shows their tails.

:func:`system_database` makes the database: a SQLite file, or a PostgreSQL database of its own
(``CREATE DATABASE``, dropped afterwards), migrated by ``invitebot db upgrade``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import make_url

from storage import Database
from tests.storage.databases import FAST_PATH, FAST_PATH_ENV, POSTGRES_URL
from tests.unit.conftest import SECRET

INVITEBOT = Path(sys.executable).parent / "invitebot"
PUBLIC = "https://hoa.example"
"""The public base URL every process is configured with (Twilio signs against it)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class SystemDatabase:
    url: str
    """The SQLAlchemy URL the processes get."""
    database: Database
    """The same database, for the test to seed and inspect."""


def _postgres_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def system_database(
    backend: str, directory: Path, *, url_for: Callable[[str], str] | None = None
) -> AsyncIterator[SystemDatabase]:
    """A new, migrated database on ``backend``. ``url_for`` may rewrite the URL the processes
    get (e.g. to reach PostgreSQL through a proxy); the test's own connection goes direct."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{directory / 'system.db'}"
        database = Database(url, fast_path=FAST_PATH)
        try:
            await migrate(url)
            yield SystemDatabase(url=url_for(url) if url_for else url, database=database)
        finally:
            await database.dispose()
        return
    assert backend == "postgresql" and POSTGRES_URL is not None
    name = f"system_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(_postgres_dsn(POSTGRES_URL))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        database = Database(url, fast_path=FAST_PATH)
        try:
            await migrate(url)
            yield SystemDatabase(url=url_for(url) if url_for else url, database=database)
        finally:
            await database.dispose()
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def migrate(url: str) -> None:
    process = await asyncio.create_subprocess_exec(
        str(INVITEBOT),
        "db",
        "upgrade",
        env=_clean_env() | {"INVITEBOT_DATABASE_URL": url, "INVITEBOT_SECRET_KEY": SECRET.decode()},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()


def _clean_env() -> dict[str, str]:
    # Nothing of the caller's INVITEBOT_* but the suite's choice of PostgreSQL path.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INVITEBOT_")}
    return clean | FAST_PATH_ENV


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    @property
    def url(self) -> str:
        assert self.port is not None
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Cluster:
    """Processes sharing one environment; :meth:`close` stops whatever still runs."""

    directory: Path
    env: dict[str, str]
    processes: list[Process] = field(default_factory=list)

    def _start(self, name: str, *args: str, port: int | None = None) -> Process:
        log = self.directory / f"{name}.log"
        with log.open("wb") as handle:
            popen = subprocess.Popen(
                [str(INVITEBOT), *args],
                env=_clean_env() | self.env,
                cwd=self.directory,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        process = Process(name=name, popen=popen, log=log, port=port)
        self.processes.append(process)
        return process

    async def serve(self, name: str = "") -> Process:
        """Start ``invitebot serve --no-dispatch`` and wait until it answers /healthz."""
        port = free_port()
        name = name or f"serve-{len(self.processes)}"
        process = self._start(name, "serve", "--port", str(port), "--no-dispatch", port=port)
        async with httpx.AsyncClient() as client:
            await self._until_ready(process, lambda: _healthy(client, process))
        return process

    async def worker(self, name: str = "") -> Process:
        """Start ``invitebot worker`` and wait until it says it started."""
        process = self._start(name or f"worker-{len(self.processes)}", "worker")

        async def started() -> bool:
            return "worker started" in process.output()

        await self._until_ready(process, started)
        return process

    async def _until_ready(self, process: Process, ready: Callable[[], object]) -> None:
        deadline = time.monotonic() + 60
        while not await ready():  # type: ignore[misc]
            assert process.alive, f"{process.name} exited:\n{process.output()[-3000:]}"
            assert time.monotonic() < deadline, f"{process.name} did not start"
            await asyncio.sleep(0.1)

    def kill(self, process: Process) -> None:
        """SIGKILL: no clean-up, as when the machine loses power or the OOM killer strikes."""
        process.popen.send_signal(signal.SIGKILL)
        process.popen.wait(timeout=10)

    def close(self) -> None:
        for process in self.processes:
            if process.alive:
                process.popen.terminate()
        for process in self.processes:
            try:
                process.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait(timeout=5)

    def logs(self) -> str:
        """Every process's log tail, for a failing test's report."""
        return "\n".join(f"--- {p.name}\n{p.output()[-4000:]}" for p in self.processes)


async def _healthy(client: httpx.AsyncClient, process: Process) -> bool:
    try:
        response = await client.get(f"{process.url}/healthz", timeout=2)
    except httpx.TransportError:
        return False
    return response.status_code == 200


async def until(
    condition: Callable[[], object], *, within: float = 60.0, what: str = "the condition"
) -> None:
    """Wait for ``condition()`` (sync or async) to be true; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
