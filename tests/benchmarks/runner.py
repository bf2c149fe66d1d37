"""The benchmark: real servers on loopback, a load generator in another process, figures.

``.venv/bin/python -m tests.benchmarks`` (see ``--help`` and ``docs/performance.md``).

For each database it seeds households with pending SMS invitations and heads in the middle
of ``/invite`` on Telegram and on Slack, starts the server (``tests/benchmarks/server.py``:
``invitebot serve``'s app on its own stack, uvloop and httptools behind the guarded protocol,
outbox dispatch off, plus a constant endpoint) and beside it the raw bare app (a plain
Starlette app, no middleware, on the same uvicorn stack with as many processes), and
measures, each in the same run:

- ``raw bare endpoint``: the raw app's one route, the ceiling of the server stack;
- ``bare endpoint``: the app's constant endpoint (a signed SMS form posted to
  ``/bench/bare``), everything a webhook goes through but invitebot's own work;
- ``sms JOIN``: ``POST /twilio/sms``, a correctly signed ``JOIN`` from a distinct invited
  number each time: verify, de-duplicate, accept, notify the head, commit, TwiML;
- ``telegram``: ``POST /telegram/webhook``, a head answering ``/invite``'s name question
  (each update a distinct conversation): the webhook answers once the update is recorded and
  handles it in the background, so two rows: the webhook's answer, and the reply reaching
  the (fake) Bot API, which is the figure that counts;
- ``slack``: ``POST /slack/events``, the same answer as a direct message to the app (a
  signed Events API ``message`` event in the head's DM, a distinct ``event_id`` each time):
  stored and acknowledged, then handled in the background, so again two rows: the answer,
  and the reply (``chat.postMessage`` to that DM) reaching the (fake) Slack Web API.

Every row but the two bare ones is also given as a ratio to both bare endpoints, first at
the most the server does (closed loop), then at a fixed offered rate (open loop, 500/s by
default). ``--growth`` compares latencies with 1,000 and with 1,000,000 invitations (100,000
households) in the database (both seeded first, measured in rounds that alternate which goes
first); ``--memory`` compares the resident memory of a server process before and after
100,000 conversations in progress were each taken one step further, for Telegram and then
for Slack, each in a fresh server process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from tests.handlers.fake_slack import TOKEN as SLACK_TOKEN
from tests.handlers.fake_slack import FakeSlack
from tests.handlers.fake_slack import _params as slack_params
from tests.handlers.fake_telegram import TOKEN, FakeTelegram, _params

from . import seed
from .loadgen import percentile

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/invitebot_bench"
PUBLIC_BASE_URL = "https://bench.invitebot.example"
TWILIO_AUTH_TOKEN = "bench-twilio-auth-token-0123456789abcdef"
TELEGRAM_SECRET = "bench-telegram-webhook-secret"
SLACK_SIGNING_SECRET = "bench-slack-signing-secret-0123456789abcdef"
CHAT_KINDS = ("telegram", "slack")
"""The paths answered in the background: each has an ``(answer)`` and a ``(reply sent)`` row."""


class TimedFakeTelegram(FakeTelegram):
    """The fake Bot API of the handler tests, also noting when each chat got a message."""

    def __init__(self) -> None:
        super().__init__()
        self.replied_at: dict[int, float] = {}

    async def _method(self, request: web.Request) -> web.Response:
        response = await super()._method(request)
        if request.match_info["method"] == "sendMessage":
            params = await _params(request)  # the body is cached: read again for the chat
            self.replied_at.setdefault(int(params.get("chat_id", 0)), time.monotonic())
        return response


@dataclass
class TimedFakeSlack(FakeSlack):
    """The fake Slack Web API of the handler tests (its workspace, app and bot are the ones
    the benchmark's events name), also noting when each channel first got a message
    (``chat.postMessage``, on its arrival, when the fake took it)."""

    replied_at: dict[str, float] = field(default_factory=dict, init=False)

    async def _method(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        response = await super()._method(request)
        if request.match_info["method"] == "chat.postMessage" and response.status == 200:
            params = await slack_params(request)  # the body is cached: read again for the channel
            self.replied_at.setdefault(str(params.get("channel", "")), arrived)
        return response


class TimedFake(Protocol):
    replied_at: dict[Any, float]

    def clear(self) -> None: ...


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from ``/proc/<pid>/status`` (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


@dataclass
class Server:
    """The server under test: ``workers`` processes on one port (``SO_REUSEPORT``)."""

    env: dict[str, str]
    workers: int
    log_path: Path
    raw: bool = False
    """The raw bare app (``server.py --raw``) instead of invitebot's."""
    port: int = 0
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> Server:
        self.port = free_port()
        self.log_path.write_bytes(b"")
        log = self.log_path.open("ab")
        for _ in range(self.workers):
            self.processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "tests.benchmarks.server",
                        "--port",
                        str(self.port),
                        *(["--raw"] if self.raw else []),
                    ],
                    env=self.env,
                    cwd=self.log_path.parent,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        log.close()
        deadline = time.monotonic() + 120
        while True:
            if any(p.poll() is not None for p in self.processes):
                self.stop()
                raise RuntimeError(f"the server exited; see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start; see {self.log_path}")
            started = self.log_path.read_text(errors="replace").count(
                "Application startup complete"
            )
            if started >= self.workers and self._healthy():
                return self
            time.sleep(0.2)

    def _healthy(self) -> bool:
        if self.raw:  # no /healthz: its one route answers once startup is complete
            return True
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    @property
    def worker_pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.processes = []


@dataclass
class Row:
    path: str
    database: str
    workers: int
    load: str
    rps: float
    p50: float
    p99: float
    requests: int
    errors: int = 0
    bare: Row | None = None
    raw: Row | None = None
    """The two baselines measured in the same run at the same load: the app's own bare
    endpoint, and the raw bare app (the true ceiling of the server stack)."""

    @property
    def rps_ratio(self) -> float:
        return _ratio(self.rps, self.bare.rps if self.bare else 0)

    @property
    def p99_ratio(self) -> float:
        return _ratio(self.p99, self.bare.p99 if self.bare else 0)

    @property
    def rps_ratio_raw(self) -> float:
        return _ratio(self.rps, self.raw.rps if self.raw else 0)

    @property
    def p99_ratio_raw(self) -> float:
        return _ratio(self.p99, self.raw.p99 if self.raw else 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "database": self.database,
            "workers": self.workers,
            "load": self.load,
            "rps": self.rps,
            "p50_ms": self.p50 * 1000,
            "p99_ms": self.p99 * 1000,
            "requests": self.requests,
            "errors": self.errors,
            "rps_ratio_to_bare": self.rps_ratio,
            "p99_ratio_to_bare": self.p99_ratio,
            "rps_ratio_to_raw_bare": self.rps_ratio_raw,
            "p99_ratio_to_raw_bare": self.p99_ratio_raw,
        }


def _ratio(value: float, base: float) -> float:
    return value / base if base else float("nan")


@dataclass
class Bench:
    args: argparse.Namespace
    workdir: Path
    fake: TimedFakeTelegram
    slack: TimedFakeSlack
    rows: list[Row] = field(default_factory=list)
    growth: list[dict[str, Any]] = field(default_factory=list)
    memory: list[dict[str, Any]] = field(default_factory=list)
    _update_ids: int = 1_000_000
    _generator: subprocess.Popen[str] | None = None

    # --- plumbing ---------------------------------------------------------------------

    def env(self, url: str) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("INVITEBOT_")}
        return clean | {
            "PYTHONPATH": str(ROOT),
            "INVITEBOT_DATABASE_URL": url,
            "INVITEBOT_SECRET_KEY": "bench-secret-key-" + "k" * 32,
            "INVITEBOT_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            "INVITEBOT_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "INVITEBOT_TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
            "INVITEBOT_TWILIO_FROM_NUMBER": "+12025550100",
            "INVITEBOT_TWILIO_API_BASE": "http://127.0.0.1:9",  # never called: no dispatch
            "INVITEBOT_TELEGRAM_BOT_TOKEN": TOKEN,
            "INVITEBOT_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
            "INVITEBOT_TELEGRAM_API_BASE": self.fake.url,
            "INVITEBOT_SLACK_BOT_TOKEN": SLACK_TOKEN,
            "INVITEBOT_SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
            "INVITEBOT_SLACK_API_BASE": self.slack.url,
            "INVITEBOT_LOG_LEVEL": "INFO",
        }

    def load(self, server: Server, **spec: Any) -> dict[str, Any]:
        spec = {
            "port": server.port,
            "public_base_url": PUBLIC_BASE_URL,
            "twilio_auth_token": TWILIO_AUTH_TOKEN,
            "telegram_secret": TELEGRAM_SECRET,
            "slack_signing_secret": SLACK_SIGNING_SECRET,
            "first_update_id": self._update_ids,  # Telegram's update_id, Slack's event_id
        } | spec
        self._update_ids += spec["targets"][1] + 1
        generator = self._generator
        if generator is None or generator.poll() is not None:
            generator = self._generator = subprocess.Popen(
                [sys.executable, "-m", "tests.benchmarks.loadgen"],
                cwd=ROOT,
                env=os.environ | {"PYTHONPATH": str(ROOT)},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        assert generator.stdin is not None and generator.stdout is not None
        generator.stdin.write(json.dumps(spec) + "\n")
        generator.stdin.flush()
        line = generator.stdout.readline()
        if not line:
            raise RuntimeError("the load generator failed (its error is above)")
        return json.loads(line)

    def close(self) -> None:
        if self._generator is not None:
            assert self._generator.stdin is not None
            self._generator.stdin.close()
            self._generator.wait(timeout=30)
            self._generator = None

    def fake_of(self, kind: str) -> TimedFake:
        """The fake platform API that ``kind``'s replies go to."""
        return self.slack if kind == "slack" else self.fake

    def replies(
        self, kind: str, sent: list[list[Any]], timeout: float
    ) -> tuple[list[float], float]:
        """Wait until every chat in ``sent`` (``[chat, sent at]`` pairs) got its reply at
        ``kind``'s fake; the end-to-end latencies and the time the last one arrived."""
        fake = self.fake_of(kind)
        deadline = time.monotonic() + timeout
        chats = {chat: t for chat, t in sent}
        while time.monotonic() < deadline:
            if all(chat in fake.replied_at for chat in chats):
                break
            time.sleep(0.1)
        latencies = [fake.replied_at[c] - t for c, t in chats.items() if c in fake.replied_at]
        last = max((fake.replied_at[c] for c in chats if c in fake.replied_at), default=0)
        fake.clear()
        for chat in chats:  # a later run may take the same heads' next step
            fake.replied_at.pop(chat, None)
        return latencies, last

    # --- one measurement --------------------------------------------------------------

    def measure(
        self, server: Server, database: str, kind: str, targets: tuple[int, int], *, rate: float
    ) -> list[Row]:
        """One path, one load: ``rate`` 0 is the closed loop."""
        if rate:
            count = targets[1]
            spec: dict[str, Any] = {"mode": "open", "rate": rate, "max_connections": 256}
            load = f"{rate:g}/s offered"
        else:
            count = targets[1]
            spec = {"mode": "closed", "concurrency": self.args.concurrency}
            spec["seconds"] = self.args.seconds
            load = f"max ({self.args.concurrency} conn)"
        result = self.load(server, kind=kind, targets=[targets[0], count], **spec)
        errors = sum(v for k, v in result["statuses"].items() if not k.startswith("2"))
        errors += sum(result["failures"].values())
        name = {
            "bare": "bare endpoint",
            "sms": "sms JOIN",
            "telegram": "telegram (answer)",
            "slack": "slack (answer)",
        }[kind]
        if server.raw:
            name = "raw bare endpoint"
        row = Row(
            name,
            database,
            server.workers,
            load,
            result["rps"],
            result["p50"],
            result["p99"],
            result["requests"],
            errors,
        )
        rows = [row]
        if kind in CHAT_KINDS:
            latencies, last = self.replies(kind, result["sent"], timeout=120)
            first = min((t for _, t in result["sent"]), default=0.0)
            done = len(latencies)
            rows.append(
                Row(
                    f"{kind} (reply sent)",
                    database,
                    server.workers,
                    load,
                    done / max(last - first, 1e-9),
                    percentile(latencies, 0.5),
                    percentile(latencies, 0.99),
                    done,
                    len(result["sent"]) - done,
                )
            )
        return rows

    # --- the runs ---------------------------------------------------------------------

    def url(self, database: str, name: str) -> str:
        if database == "postgresql":
            url = seed.make_url(self.args.postgres_url)
            if name == "growth-1k":  # beside the 1M one, both seeded before measuring
                return url.set(database=f"{url.database}_1k").render_as_string(False)
            return self.args.postgres_url
        return f"sqlite+aiosqlite:///{self.workdir / name}.db"

    def workers(self, database: str) -> int:
        return (
            self.args.workers_postgresql if database == "postgresql" else self.args.workers_sqlite
        )

    def throughput(self, database: str) -> None:
        a = self.args
        warm = a.warmup
        closed_cap = a.closed_requests
        open_count = int(a.rate * a.open_seconds)
        households = warm + closed_cap + open_count
        url = self.url(database, "throughput")
        took = asyncio.run(seed.prepare(url, seed.Shape(households)))
        note(f"{database}: seeded {households:,} households in {took:.1f} s")
        server = Server(self.env(url), self.workers(database), self.workdir / f"{database}.log")
        raw_server = Server(
            self.env(url), self.workers(database), self.workdir / f"{database}-raw.log", raw=True
        )
        with running(raw_server), running(server):
            if warm:  # warm up every path (imports, statement caches, connection pools)
                self.load(raw_server, kind="bare", targets=[0, 10 * warm], mode="closed")
                self.load(server, kind="bare", targets=[0, 10 * warm], mode="closed")
                self.measure(server, database, "sms", (0, warm), rate=0)
                self.measure(server, database, "telegram", (0, warm), rate=0)
                self.measure(server, database, "slack", (0, warm), rate=0)
            for rate, start, count in (
                (0, warm, closed_cap),
                (a.rate, warm + closed_cap, open_count),
            ):
                bare_count = count if rate else a.closed_requests * 6
                raw = self.measure(raw_server, database, "bare", (0, bare_count), rate=rate)[0]
                bare = self.measure(server, database, "bare", (0, bare_count), rate=rate)[0]
                bare.raw = raw
                self.rows += [raw, bare]
                note(format_row(raw))
                note(format_row(bare))
                for kind in ("sms", *CHAT_KINDS):
                    for row in self.measure(server, database, kind, (start, count), rate=rate):
                        row.bare, row.raw = bare, raw
                        self.rows.append(row)
                        note(format_row(row))

    def growth_run(self, database: str) -> None:
        """Both sizes seeded first, each served by its own server, then measured in rounds
        that alternate which size goes first: a drift of the machine over the minutes the
        run takes (the seeding's aftermath, another process) falls on both alike, instead of
        on whichever was measured second."""
        a = self.args
        sizes = {"1k": seed.Shape(1_000, 1), "1M": seed.Shape(100_000, 10)}
        urls = {}
        for label, shape in sizes.items():
            urls[label] = url = self.url(database, f"growth-{label}")
            took = asyncio.run(seed.prepare(url, shape))
            note(
                f"{database}: seeded {shape.households:,} households, "
                f"{shape.invitations:,} invitations in {took:.1f} s"
            )
        servers = {
            label: Server(
                self.env(url), self.workers(database), self.workdir / f"{database}-{label}.log"
            )
            for label, url in urls.items()
        }
        warm, rounds = 100, max(1, a.growth_rounds)
        per_round = max(1, a.growth_requests // rounds)
        paths = {
            "sms": "sms JOIN",
            "telegram": "telegram (reply sent)",
            "slack": "slack (reply sent)",
        }
        latencies: dict[tuple[str, str], list[float]] = {}
        io: dict[tuple[str, str], dict[str, float]] = {}
        errors: dict[tuple[str, str], int] = {}
        with running(servers["1k"]), running(servers["1M"]):
            for server in servers.values():  # imports, statement caches, connection pools
                self.load(server, kind="bare", targets=[0, 300], mode="closed", concurrency=8)
                self.measure(server, database, "sms", (0, warm), rate=0)
                self.measure(server, database, "telegram", (0, warm), rate=0)
                self.measure(server, database, "slack", (0, warm), rate=0)
            for r in range(rounds):
                order = list(sizes) if r % 2 == 0 else list(sizes)[::-1]
                for label in order:
                    for kind in paths:
                        before = seed.pg_io(urls[label])
                        got, failed = self.latencies(
                            servers[label], kind, (warm + r * per_round, per_round)
                        )
                        after = seed.pg_io(urls[label])
                        latencies.setdefault((kind, label), []).extend(got)
                        errors[(kind, label)] = errors.get((kind, label), 0) + failed
                        if before is not None and after is not None:
                            totals = io.setdefault((kind, label), dict.fromkeys(after, 0.0))
                            for k in after:
                                totals[k] += after[k] - before[k]
        if database == "sqlite":
            for url in urls.values():
                Path(make_path(url)).unlink(missing_ok=True)
        for kind, path in paths.items():
            small, large = latencies[(kind, "1k")], latencies[(kind, "1M")]
            figures: dict[str, Any] = {
                "path": path,
                "database": database,
                "rate": a.growth_rate,
                "rounds": rounds,
                "requests": len(small),
            }
            for label, values in (("1k", small), ("1M", large)):
                figures[f"p50_{label}_ms"] = percentile(values, 0.5) * 1000
                figures[f"p99_{label}_ms"] = percentile(values, 0.99) * 1000
                figures[f"errors_{label}"] = errors[(kind, label)]
            figures["p50_ratio"] = figures["p50_1M_ms"] / figures["p50_1k_ms"]
            figures["p99_ratio"] = figures["p99_1M_ms"] / figures["p99_1k_ms"]
            if (kind, "1k") in io:
                figures["postgresql_per_request"] = {
                    label: {k: v / max(len(latencies[(kind, label)]), 1) for k, v in t.items()}
                    for (k_, label), t in io.items()
                    if k_ == kind
                }
                for label, per in figures["postgresql_per_request"].items():
                    note(
                        f"  {path} {label}: per request {per['wal_records']:.1f} WAL records, "
                        f"{per['wal_fpi']:.2f} full-page images, "
                        f"{per['wal_bytes'] / 1024:.1f} KB WAL, "
                        f"{per['blks_read']:.2f} blocks read, {per['blks_hit']:.1f} hit"
                    )
            self.growth.append(figures)

    def latencies(
        self, server: Server, kind: str, targets: tuple[int, int]
    ) -> tuple[list[float], int]:
        """Each answered request's latency at the growth rate (open loop; for Telegram and
        Slack, until its reply reached the platform's API), and how many failed or got no
        reply."""
        spec = {"mode": "open", "rate": self.args.growth_rate, "max_connections": 256}
        result = self.load(server, kind=kind, targets=list(targets), latencies=True, **spec)
        failed = sum(v for k, v in result["statuses"].items() if not k.startswith("2"))
        failed += sum(result["failures"].values())
        if kind in CHAT_KINDS:
            replied = self.replies(kind, result["sent"], timeout=120)[0]
            return replied, targets[1] - len(replied)
        return list(result["latencies"]), failed

    def memory_run(self, database: str) -> None:
        """One database where every head has a Telegram and a Slack conversation in progress;
        for each platform in turn a fresh server process, its resident memory idle and after
        that platform's conversations were each taken one step further."""
        a = self.args
        total = a.memory_conversations
        url = self.url(database, "memory")
        took = asyncio.run(seed.prepare(url, seed.Shape(total, 0, conversations=True)))
        note(
            f"{database}: seeded {total:,} households, each head with a Telegram and a Slack "
            f"conversation in progress, in {took:.1f} s"
        )
        steps = min(a.memory_steps or total, total)
        for kind in CHAT_KINDS:
            self.memory.append(self.memory_of(database, url, kind, total, steps))

    def memory_of(
        self, database: str, url: str, kind: str, total: int, steps: int
    ) -> dict[str, Any]:
        batch = self.args.memory_batch
        server = Server(self.env(url), 1, self.workdir / f"{database}-memory-{kind}.log")
        with running(server):
            pid = server.worker_pids[0]
            time.sleep(1.0)
            idle = rss_mb(pid)
            peak, touched = idle, 0
            warm_rss = idle
            while touched < steps:
                count = min(batch, steps - touched)
                result = self.load(
                    server,
                    kind=kind,
                    targets=[touched, count],
                    mode="closed",
                    concurrency=8,
                    seconds=600,
                )
                self.replies(kind, result["sent"], timeout=300)
                touched += count
                now_rss = rss_mb(pid)
                peak = max(peak, now_rss)
                if touched == min(batch, steps):
                    warm_rss = now_rss
                note(f"  {kind}: {touched:,} conversations stepped: RSS {now_rss:.1f} MB")
            final = rss_mb(pid)
        return {
            "database": database,
            "platform": kind,
            "conversations": total,
            "stepped": steps,
            "idle_mb": idle,
            "after_first_batch_mb": warm_rss,
            "first_batch": min(batch, steps),
            "final_mb": final,
            "peak_mb": peak,
            "growth_mb": final - idle,
        }


def make_path(url: str) -> str:
    return url.split(":///", 1)[1]


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def format_row(row: Row) -> str:
    dash = f"{'—':>8} {'—':>9}"
    ratios = " ".join(
        f"{rps:>8.1%} {p99:>8.1f}×" if base is not None else dash
        for base, rps, p99 in (
            (row.raw, row.rps_ratio_raw, row.p99_ratio_raw),
            (row.bare, row.rps_ratio, row.p99_ratio),
        )
    )
    return (
        f"{row.path:<22} {row.database:<10} {row.workers:>2} {row.load:<16} "
        f"{row.rps:>9.0f} {row.p50 * 1000:>8.1f} {row.p99 * 1000:>8.1f} "
        f"{ratios} {row.requests:>7} {row.errors:>5}"
    )


REPLY_PATHS = ("telegram (reply sent)", "slack (reply sent)")


def goals(rows: list[Row]) -> list[str]:
    """The verdicts on the goals of docs/performance.md (PostgreSQL rows only)."""
    lines = []
    for row in rows:
        if row.database != "postgresql":
            continue
        closed = row.load.startswith("max")
        if row.path == "sms JOIN" and closed:
            met = row.rps_ratio >= 0.10
            lines.append(
                f"goal: sms JOIN on PostgreSQL ({row.workers} workers) at >= 10% of the bare "
                f"endpoint's throughput: {row.rps_ratio:.1%} "
                f"({row.rps_ratio_raw:.1%} of raw bare), {'met' if met else 'NOT met'}"
            )
        elif row.path == "sms JOIN":
            met = row.p99 <= 0.050 and row.errors == 0
            lines.append(
                f"goal: sms JOIN on PostgreSQL p99 <= 50 ms at {row.load}: "
                f"{row.p99 * 1000:.1f} ms ({row.rps:.0f}/s done), {'met' if met else 'NOT met'}"
            )
        elif row.path in REPLY_PATHS and closed:
            met = row.rps >= 800 and row.errors == 0
            lines.append(
                f"goal: {row.path} on PostgreSQL ({row.workers} workers) >= 800 updates/s: "
                f"{row.rps:.0f}/s, {'met' if met else 'NOT met'}"
            )
        elif row.path in REPLY_PATHS:
            met = row.p99 <= 0.100 and row.errors == 0
            lines.append(
                f"goal: {row.path} on PostgreSQL p99 <= 100 ms at {row.load}: "
                f"{row.p99 * 1000:.1f} ms ({row.rps:.0f}/s done), {'met' if met else 'NOT met'}"
            )
    return lines


def print_tables(bench: Bench) -> None:
    if bench.rows:
        print()
        print(
            "Inbound webhooks (ratios are to the raw bare app and to the app's bare endpoint, "
            "both measured in the same run at the same load)"
        )
        print(
            f"{'path':<22} {'database':<10} {'wk':>2} {'load':<16} {'req/s':>9} "
            f"{'p50 ms':>8} {'p99 ms':>8} {'rps/raw':>8} {'p99/raw':>9} {'rps/bare':>8} "
            f"{'p99/bare':>9} {'count':>7} {'errs':>5}"
        )
        for row in bench.rows:
            print(format_row(row))
        print()
        for line in goals(bench.rows):
            print(line)
    if bench.growth:
        print()
        print(
            "Growth: the same paths with 1,000 and with 1,000,000 invitations (100,000 households),"
            " measured in alternating rounds"
        )
        print(
            f"{'path':<22} {'database':<10} {'rate':>6} {'p50 1k':>8} {'p50 1M':>8} "
            f"{'p99 1k':>8} {'p99 1M':>8} {'p50 1M/1k':>9} {'p99 1M/1k':>9} {'errors':>7}"
        )
        for g in bench.growth:
            print(
                f"{g['path']:<22} {g['database']:<10} {g['rate']:>6g} {g['p50_1k_ms']:>8.1f} "
                f"{g['p50_1M_ms']:>8.1f} {g['p99_1k_ms']:>8.1f} {g['p99_1M_ms']:>8.1f} "
                f"{g['p50_ratio']:>8.2f}× {g['p99_ratio']:>8.2f}× "
                f"{g['errors_1k'] + g['errors_1M']:>7}"
            )
        for g in bench.growth:
            met = max(g["p50_ratio"], g["p99_ratio"]) <= 1.2 and not g["errors_1k"] + g["errors_1M"]
            print(
                f"goal: {g['path']} on {g['database']} with 1M within 1.2x of 1k: "
                f"p50 {g['p50_ratio']:.2f}x, p99 {g['p99_ratio']:.2f}x, "
                f"{'met' if met else 'NOT met'}"
            )
    if bench.memory:
        print()
        print(
            "Memory: RSS of one server process (VmRSS), a fresh one per platform, stepping "
            "that platform's conversations"
        )
        for m in bench.memory:
            verdict = "met" if m["growth_mb"] <= 50 else "NOT met"
            print(
                f"{m['database']}, {m['platform']}: {m['conversations']:,} conversations in "
                f"progress; idle "
                f"{m['idle_mb']:.1f} MB, after {m['first_batch']:,} stepped "
                f"{m['after_first_batch_mb']:.1f} MB, after {m['stepped']:,} stepped "
                f"{m['final_mb']:.1f} MB (peak {m['peak_mb']:.1f}): "
                f"+{m['growth_mb']:.1f} MB over idle, goal <= 50 MB {verdict}"
            )


def postgres_reachable(url: str) -> bool:
    import asyncpg

    async def check() -> bool:
        try:
            dsn = seed._asyncpg_dsn(str(seed.make_url(url).set(database="postgres")))
            connection = await asyncpg.connect(dsn, timeout=3)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        await connection.close()
        return True

    return asyncio.run(check())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default=None)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("INVITEBOT_BENCH_DATABASE_URL", DEFAULT_POSTGRES_URL),
        help="a database of the benchmark's own: it is emptied (default %(default)s)",
    )
    parser.add_argument("--quick", action="store_true", help="a few hundred requests (smoke)")
    parser.add_argument("--growth", action="store_true", help="1k vs 1M invitations (minutes)")
    parser.add_argument("--memory", action="store_true", help="RSS with 100k conversations")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--seconds", type=float, default=8.0, help="closed-loop duration")
    parser.add_argument("--closed-requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=500.0, help="open-loop offered rate")
    parser.add_argument("--open-seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--workers-sqlite", type=int, default=1)
    parser.add_argument("--workers-postgresql", type=int, default=2)
    parser.add_argument("--growth-rate", type=float, default=100.0)
    parser.add_argument("--growth-requests", type=int, default=800)
    parser.add_argument("--growth-rounds", type=int, default=4)
    parser.add_argument("--memory-conversations", type=int, default=100_000)
    parser.add_argument("--memory-batch", type=int, default=5_000)
    parser.add_argument(
        "--memory-steps", type=int, default=0, help="how many of them to step (default: all)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args(argv)
    if args.quick:
        args.database = args.database or "sqlite"
        args.seconds, args.closed_requests, args.warmup = 1.5, 150, 0
        args.rate, args.open_seconds = 50.0, 1.0
        args.concurrency = 8
        args.growth_requests, args.memory_conversations, args.memory_batch = 100, 2_000, 1_000
    args.database = args.database or "both"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    if "postgresql" in databases and not postgres_reachable(args.postgres_url):
        if args.database == "postgresql":
            note(f"PostgreSQL at {args.postgres_url} does not answer")
            return 2
        note(f"PostgreSQL at {args.postgres_url} does not answer: SQLite only")
        databases.remove("postgresql")
    workdir = Path(tempfile.mkdtemp(prefix="invitebot-bench-"))
    note(f"work directory {workdir} (server logs); machine: {os.cpu_count()} CPUs")
    fake = TimedFakeTelegram()
    fake.start()
    slack = TimedFakeSlack()
    slack.start()
    bench = Bench(args, workdir, fake, slack)
    try:
        for database in databases:
            if not args.skip_throughput:
                bench.throughput(database)
            if args.growth:
                bench.growth_run(database)
            if args.memory:
                bench.memory_run(database)
    finally:
        bench.close()
        fake.close()
        slack.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print_tables(bench)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rows": [r.as_dict() for r in bench.rows],
                    "growth": bench.growth,
                    "memory": bench.memory,
                },
                indent=2,
            )
        )
    return 0
