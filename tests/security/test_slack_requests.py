"""``POST /slack/events`` never answers 500 (issue 13, points 7 and 8).

A request whose timestamp or signature header is malformed is unauthenticated: 401, before
its body is even parsed (slack-bolt parsed first and read the timestamp with ``int()``, so
``abc``, bad UTF-8 or bad JSON from anyone was a 500 with a traceback). A signed body that is
not what Slack sends (bad UTF-8 or JSON, too deep, the wrong shape) gets 400 with
``X-Slack-No-Retry`` and a WARNING; NUL and lone surrogates in any field never reach the
database, and ids that are not Slack's shape run nothing. Real signed requests through the
real endpoint, slack-bolt against the loopback fake of Slack, on every SQL backend.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bot import messages as msg
from handlers.slack.bot import SlackAdapter
from handlers.slack.client import make_client
from handlers.slack.webhook import SlackEvents
from tests.handlers.fake_slack import FakeSlack, dm_of
from tests.handlers.slack_workspace import SIGNING_SECRET, Workspace, signed_headers
from tests.property.invariants import assert_no_failure_logged
from tests.storage.databases import SQL_BACKENDS, fresh_database
from tests.unit.conftest import World

ANA = "U0ANA"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
SPOKEN = ("chat.postMessage", "chat.update", "views.publish", "views.open")
"""The Web API calls that show someone something."""


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


@pytest.fixture(params=SQL_BACKENDS)
async def site(
    request: pytest.FixtureRequest, tmp_path: Path, fake: FakeSlack
) -> AsyncIterator[Workspace]:
    async with fresh_database(request.param, tmp_path) as database:
        world = World(uow_factory=database.uow)
        client = make_client(fake.token, api_base=fake.url)
        adapter = SlackAdapter(world.engine, client, signing_secret=SIGNING_SECRET)
        events = SlackEvents(adapter)
        # A 500 is answered, not raised into the test: the answer is what Slack would see.
        app = Starlette(routes=events.routes)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="https://invites.example.org"
            ) as http:
                yield Workspace(client=http, fake=fake, adapter=adapter)
        finally:
            await events.close()


def signed_bytes(body: bytes, content_type: str) -> dict[str, str]:
    """Slack's headers for a body of any bytes: Slack signs the bytes it sends (slack_sdk's
    helper would decode them as UTF-8 first, which is the point of some of these bodies)."""
    stamp = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
    }


async def post(site: Workspace, body: bytes, headers: dict[str, Any]) -> httpx.Response:
    response = await site.client.post("/slack/events", content=body, headers=headers)
    await site.adapter.drain()
    return response


def warnings_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# --- point 7: unauthenticated, whatever the headers -----------------------------------------


@pytest.mark.parametrize(
    "header, value",
    [
        ("X-Slack-Request-Timestamp", "abc"),  # the case
        ("X-Slack-Request-Timestamp", "9" * 5000),  # int() refuses over 4,300 digits
        ("X-Slack-Request-Timestamp", ""),
        ("X-Slack-Request-Timestamp", "1e9"),
        ("X-Slack-Request-Timestamp", "١٧٠٠٠٠٠٠٠٠"),  # sent as UTF-8, read as Latin-1
        ("X-Slack-Signature", "v0=é"),  # hmac.compare_digest refuses non-ASCII str
        ("X-Slack-Signature", ""),
    ],
)
async def test_a_malformed_timestamp_or_signature_is_401(
    site: Workspace, caplog: pytest.LogCaptureFixture, header: str, value: str
) -> None:
    body = site.command_body(ANA, "/household")
    headers: dict[str, Any] = signed_headers(body, content_type=FORM)
    headers[header] = value.encode()  # bytes: any octets, as a client may send them
    response = await post(site, body.encode(), headers)
    assert response.status_code == 401
    assert_no_failure_logged(caplog)
    assert site.fake.calls_of(*SPOKEN) == []


@pytest.mark.parametrize(
    "body, content_type",
    [(b"\xff\xfe{", JSON), (b'{"type": ', JSON), (b"[" * 50_000, JSON), (b"payload=%7B", FORM)],
)
async def test_an_unreadable_body_with_a_wrong_signature_is_401_not_parsed(
    site: Workspace, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str
) -> None:
    headers = signed_bytes(body, content_type) | {"X-Slack-Signature": "v0=" + "0" * 64}
    assert (await post(site, body, headers)).status_code == 401
    assert_no_failure_logged(caplog)


# --- point 8: signed, yet not what Slack sends ----------------------------------------------


def _payload(payload: dict[str, Any]) -> bytes:
    return b"payload=" + json.dumps(payload).encode()


UNREADABLE: dict[str, tuple[bytes, str]] = {
    "invalid UTF-8": (b'{"type": "event_callback", "x": "\xff"}', JSON),
    "invalid JSON": (b'{"type": "event_callback",', JSON),
    "a JSON list": (b"[1, 2]", JSON),
    "a JSON string": (b'"event_callback"', JSON),
    "nested 50,000 deep": (b'{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", JSON),
    "nested 500 deep": (b'{"type": "x", "a": ' + b"[" * 500 + b"]" * 500 + b"}", JSON),
    "a number past 64 bits": (b'{"event_time": 1' + b"0" * 30 + b"}", JSON),
    "invalid JSON in payload": (b"payload=%7B%22type%22", FORM),
    "a list as payload": (b"payload=%5B%5D", FORM),
    "invalid UTF-8 in a form": (b"command=%2Finvite&user_id=\xff", FORM),
    "event is a string": (b'{"type": "event_callback", "event": "type"}', JSON),
    "actions of numbers": (_payload({"type": "block_actions", "actions": [1]}), FORM),
}


@pytest.mark.parametrize("case", list(UNREADABLE))
async def test_a_signed_unreadable_body_gets_400_and_no_retry(
    site: Workspace, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    body, content_type = UNREADABLE[case]
    response = await post(site, body, signed_bytes(body, content_type))
    assert response.status_code == 400, response.text
    assert response.headers["x-slack-no-retry"] == "1"
    assert warnings_in(caplog), "nobody was told"
    assert_no_failure_logged(caplog)
    assert site.fake.calls_of(*SPOKEN) == []


async def test_nul_in_a_trigger_id_is_stored_cleaned_and_the_press_answered(
    site: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    """The issue's case: the receipt key carried the NUL into PostgreSQL, which refused it."""
    await site.press(ANA, value="flow:cancel", trigger_id="1.2.\x00abc")
    assert site.last_text(ANA)
    assert_no_failure_logged(caplog)
    # The same press again is a repeat, recognised by its cleaned key.
    site.fake.clear()
    await site.press(ANA, value="flow:cancel", trigger_id="1.2.\x00abc")
    assert site.fake.calls_of(*SPOKEN) == []


async def test_nul_and_lone_surrogates_in_an_event_and_its_text_are_cleaned(
    site: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    event = {
        "type": "message",
        "channel": dm_of(ANA),
        "channel_type": "im",
        "user": ANA,
        "text": "/invite sms Maria\x00 Ruiz\ud800 +1 202 555 0199",
        "ts": "1700000000.000100",
    }
    await site.event(event, event_id="Ev\x00\udfff")
    assert site.last_text(ANA)
    assert_no_failure_logged(caplog)


@pytest.mark.parametrize(
    "value",
    ["card:copy:\x00" + "0" * 31, "card:cancel:\ud800" + "0" * 31, "flow:\x00send"],
)
async def test_nul_or_a_surrogate_in_a_button_value_is_an_invalid_button(
    site: Workspace, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    """The value names an invitation, looked up by id (a guard: the core already refused
    these ids before asking the database)."""
    await site.press(ANA, value=value)
    assert site.last_text(ANA) == msg.INVALID_BUTTON
    assert_no_failure_logged(caplog)


@pytest.mark.parametrize(
    "user, channel",
    [
        (["U0ANA"], dm_of(ANA)),
        ({"id": "U0ANA"}, dm_of(ANA)),
        ("U0ANA\ud800", dm_of(ANA)),
        ("U" + "0" * 400, dm_of(ANA)),  # longer than any column for ids
        (ANA, "D0ANA\x00"),
        (ANA, ["D0ANA"]),
    ],
)
async def test_ids_that_are_not_slacks_run_nothing(
    site: Workspace, caplog: pytest.LogCaptureFixture, user: Any, channel: Any
) -> None:
    event = {
        "type": "message",
        "channel": channel,
        "channel_type": "im",
        "user": user,
        "text": "/help",
        "ts": "1700000000.000200",
    }
    await site.event(event)
    assert site.fake.calls_of(*SPOKEN) == []
    assert_no_failure_logged(caplog)
