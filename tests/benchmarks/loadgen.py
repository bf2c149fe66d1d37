"""The load generator, a process of its own: ``python -m tests.benchmarks.loadgen`` reads one
JSON spec a line on stdin and answers each with a line of JSON results.

Every request is built (and signed) before the clock starts, then written on persistent
HTTP/1.1 connections with a minimal client on asyncio streams: a general-purpose client
(httpx, aiohttp) costs more CPU per request than the bare endpoint does, and on a small
machine the generator would then measure itself.

Two ways to load:

- ``closed``: ``concurrency`` connections, each sending its next request as soon as the
  last is answered, for at most ``seconds``: the most the server does (requests/s), and the
  latency at that load (mostly queueing).
- ``open``: requests at a fixed ``rate``, whatever the server does; each latency counts from
  when its request was due, so a server that falls behind is charged for the wait (no
  coordinated omission).

Requests (``kind``): ``bare`` (a signed SMS form posted to the constant endpoint), ``sms``
(``JOIN`` from the invited number of each target household: the whole accept path),
``telegram`` (the head of each target household answering ``/invite``'s name question in
its private chat) and ``slack`` (the same answer as a direct message to the app: an Events
API ``event_callback`` carrying a ``message`` event in the head's DM, ``channel_type: im``,
with a distinct ``event_id``, signed with ``X-Slack-Signature`` and
``X-Slack-Request-Timestamp`` as Slack signs it). For ``telegram`` and ``slack`` the results
also list, for each request sent, the chat its reply goes to and when it was sent.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

from tests.handlers.fake_slack import APP_ID, BOT_USER_ID, TEAM_ID

from .seed import slack_channel, slack_user, target_phone, telegram_user

TWILIO_PATH = "/twilio/sms"
TELEGRAM_PATH = "/telegram/webhook"
SLACK_PATH = "/slack/events"
BARE_PATH = "/bench/bare"
BUSINESS_NUMBER = "+12025550100"
ACCOUNT_SID = "AC" + "0" * 32


def twilio_params(phone: str, body: str, sid: str) -> dict[str, str]:
    """What Twilio posts for an inbound text (all of its parameters, which are all signed)."""
    return {
        "ToCountry": "US",
        "ToState": "DC",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "WASHINGTON",
        "FromZip": "20001",
        "SmsSid": sid,
        "FromState": "DC",
        "SmsStatus": "received",
        "FromCity": "WASHINGTON",
        "Body": body,
        "FromCountry": "US",
        "To": BUSINESS_NUMBER,
        "ToZip": "20001",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": phone,
        "ApiVersion": "2010-04-01",
    }


def _http(host: str, path: str, body: bytes, content_type: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
        "",
        "",
    ]
    return "\r\n".join(lines).encode() + body


def slack_message(h: int, *, event_id: str, now: int, n: int) -> dict[str, Any]:
    """What the Events API posts when household ``h``'s head writes "Maria Ruiz" in their
    direct message with the app (``message.im``), for the test fake's workspace and app."""
    ts = f"{now}.{n % 1_000_000:06d}"
    return {
        "token": "deprecated-verification-token",
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": {
            "type": "message",
            "channel": slack_channel(h),
            "channel_type": "im",
            "user": slack_user(h),
            "text": "Maria Ruiz",
            "ts": ts,
            "event_ts": ts,
            "client_msg_id": str(uuid.uuid4()),
        },
        "type": "event_callback",
        "event_id": event_id,
        "event_time": now,
        "authorizations": [
            {
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }


def build_requests(spec: dict[str, Any]) -> tuple[list[bytes], list[int | str]]:
    """The raw requests, and for Telegram and Slack the chat each one's reply goes to."""
    host = f"127.0.0.1:{spec['port']}"
    start, count = spec["targets"]
    kind = spec["kind"]
    requests: list[bytes] = []
    chats: list[int | str] = []
    if kind in ("sms", "bare"):
        validator = RequestValidator(spec["twilio_auth_token"])
        url = spec["public_base_url"] + TWILIO_PATH
        path = TWILIO_PATH if kind == "sms" else BARE_PATH
        for h in range(start, start + count):
            params = twilio_params(
                target_phone(h), spec.get("body", "JOIN"), "SM" + uuid.uuid4().hex
            )
            signature = validator.compute_signature(url, params)
            requests.append(
                _http(
                    host,
                    path,
                    urlencode(params).encode(),
                    "application/x-www-form-urlencoded",
                    {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"},
                )
            )
    elif kind == "telegram":
        first_update = spec["first_update_id"]
        now = int(time.time())
        for n, h in enumerate(range(start, start + count)):
            user = telegram_user(h)
            update = {
                "update_id": first_update + n,
                "message": {
                    "message_id": 10 + n,
                    "date": now,
                    "chat": {"id": user, "type": "private", "first_name": "Head"},
                    "from": {"id": user, "is_bot": False, "first_name": "Head", "last_name": "H"},
                    "text": "Maria Ruiz",
                },
            }
            requests.append(
                _http(
                    host,
                    TELEGRAM_PATH,
                    json.dumps(update, separators=(",", ":")).encode(),
                    "application/json",
                    {"X-Telegram-Bot-Api-Secret-Token": spec["telegram_secret"]},
                )
            )
            chats.append(user)
    elif kind == "slack":
        first_event = spec["first_update_id"]
        verifier = SignatureVerifier(spec["slack_signing_secret"])
        now = int(time.time())
        stamp = str(now)  # the app takes it for five minutes: a spec must be sent within them
        for n, h in enumerate(range(start, start + count)):
            event_id = f"Ev0BENCH{first_event + n:012d}"  # Slack's retries are keyed on it
            body = json.dumps(
                slack_message(h, event_id=event_id, now=now, n=n), separators=(",", ":")
            )
            signature = verifier.generate_signature(timestamp=stamp, body=body)
            assert signature is not None
            requests.append(
                _http(
                    host,
                    SLACK_PATH,
                    body.encode(),
                    "application/json",
                    {
                        "X-Slack-Request-Timestamp": stamp,
                        "X-Slack-Signature": signature,
                        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
                    },
                )
            )
            chats.append(slack_channel(h))
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return requests, chats


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> tuple[int, bool]:
        """Send one request, read its response; returns the status and whether the
        connection may be used again."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at >= 0:
            end = lower.index(b"\r\n", at + 2)
            length = int(lower[at + 17 : end])
            if length:
                await self.reader.readexactly(length)
        elif b"transfer-encoding: chunked" in lower:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        return status, b"connection: close" not in lower

    def close(self) -> None:
        self.writer.close()


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    sent_at: list[float] = field(default_factory=list)
    first_start: float = 0.0
    last_end: float = 0.0


async def closed_loop(
    port: int, requests: list[bytes], concurrency: int, seconds: float
) -> Results:
    results = Results(sent_at=[0.0] * len(requests))
    queue = deque(range(len(requests)))
    started = time.monotonic()
    deadline = started + seconds
    results.first_start = started

    async def worker() -> None:
        connection: Connection | None = None
        while queue and time.monotonic() < deadline:
            i = queue.popleft()
            try:
                if connection is None:
                    connection = await Connection.open(port)
                began = time.monotonic()
                results.sent_at[i] = began
                status, reusable = await connection.exchange(requests[i])
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                results.failures[type(error).__name__] += 1
                if connection is not None:
                    connection.close()
                connection = None
                continue
            ended = time.monotonic()
            results.latencies.append(ended - began)
            results.statuses[status] += 1
            results.last_end = max(results.last_end, ended)
            if not reusable:
                connection.close()
                connection = None
        if connection is not None:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


async def open_loop(port: int, requests: list[bytes], rate: float, max_connections: int) -> Results:
    results = Results(sent_at=[0.0] * len(requests))
    idle: deque[Connection] = deque()
    opened = 0
    freed = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()

    async def one(i: int, due: float, connection: Connection | None) -> None:
        nonlocal opened
        try:
            if connection is None:
                connection = await Connection.open(port)
            results.sent_at[i] = due  # a reply's latency too counts from when it was due
            status, reusable = await connection.exchange(requests[i])
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            results.failures[type(error).__name__] += 1
            if connection is not None:
                connection.close()
            opened -= 1
            freed.set()
            return
        ended = time.monotonic()
        results.latencies.append(ended - due)
        results.statuses[status] += 1
        results.last_end = max(results.last_end, ended)
        if reusable:
            idle.append(connection)
        else:
            connection.close()
            opened -= 1
        freed.set()

    started = time.monotonic() + 0.05
    results.first_start = started
    for i in range(len(requests)):
        due = started + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        while not idle and opened >= max_connections:
            freed.clear()
            await freed.wait()
        connection = idle.popleft() if idle else None
        if connection is None:
            opened += 1
        task = asyncio.create_task(one(i, due, connection))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    while tasks:
        await asyncio.gather(*list(tasks))
    for connection in idle:
        connection.close()
    return results


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summarise(results: Results, chats: list[int | str]) -> dict[str, Any]:
    done = len(results.latencies)
    elapsed = max(results.last_end - results.first_start, 1e-9)
    return {
        "requests": done,
        "elapsed": elapsed,
        "rps": done / elapsed,
        "p50": percentile(results.latencies, 0.50),
        "p99": percentile(results.latencies, 0.99),
        "max": max(results.latencies, default=float("nan")),
        "statuses": {str(k): v for k, v in results.statuses.items()},
        "failures": dict(results.failures),
        "sent": [[chat, t] for chat, t in zip(chats, results.sent_at, strict=False) if t]
        if chats
        else [],
    }


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    requests, chats = build_requests(spec)
    cpu = time.process_time()
    if spec["mode"] == "closed":
        results = await closed_loop(
            spec["port"], requests, spec.get("concurrency", 32), spec.get("seconds", 10.0)
        )
    else:
        results = await open_loop(
            spec["port"], requests, spec["rate"], spec.get("max_connections", 256)
        )
    summary = summarise(results, chats)
    summary["generator_cpu"] = (time.process_time() - cpu) / summary["elapsed"]
    if spec.get("latencies"):  # each request's, for figures pooled over several runs
        summary["latencies"] = results.latencies
    return summary


def main() -> None:
    """One spec per line on stdin, one line of results on stdout for each (a process that
    stays up between measurements: no start-up between them)."""
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(asyncio.run(run(json.loads(line)))), flush=True)


if __name__ == "__main__":
    main()
