"""Structured logs with secrets masked: what the log of a running process may and may not hold."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.context import CoreContext
from bot.invitation_page import account_link_token
from bot.secrets import TokenMaker, new_access_code
from handlers.logs import MaskSecrets, json_formatter, mask_secrets
from tests.fakes import FakeClock
from tests.unit.conftest import SECRET

INVITE_TOKEN = TokenMaker(SECRET).make("0" * 31 + "1", "ab" * 8)
ACCOUNT_LINK = account_link_token(
    CoreContext(clock=FakeClock(), secret_key=SECRET, public_base_url="https://hoa.example"),
    "f" * 32,
)
ACCESS_CODE = new_access_code()


@pytest.mark.parametrize(
    ("text", "secret", "shown"),
    [
        (f"GET /i/{INVITE_TOKEN} HTTP/1.1", INVITE_TOKEN, "GET /i/<token> HTTP/1.1"),
        (f"/start {INVITE_TOKEN}", INVITE_TOKEN, "/start <token>"),
        (f"https://t.me/bot?start={ACCOUNT_LINK}", ACCOUNT_LINK, "?start=<token>"),
        (f"claimed with {ACCESS_CODE}", ACCESS_CODE, "claimed with <access-code>"),
        (f"claimed with {ACCESS_CODE.lower()}", ACCESS_CODE.lower(), "<access-code>"),
        ("SMS to +12025550199 failed", "2025550199", "SMS to +1 ••• ••• 0199 failed"),
        ("from +1 (202) 555-0199.", "555-0199", "from +1 ••• ••• 0199."),
        ("email to maria.ruiz@example.org", "maria.ruiz", "email to m•••@example.org"),
        ("bot 123456789:AAFakeTelegramTokenForTests_0123456789", "AAFake", "<telegram-bot-token>"),
        ("token xoxb-1111-2222-abcdefABCDEF", "xoxb-1111", "<slack-token>"),
    ],
)
def test_secrets_and_contacts_are_masked(text: str, secret: str, shown: str) -> None:
    masked = mask_secrets(text)
    assert secret not in masked
    assert shown in masked


@pytest.mark.parametrize(
    "text",
    [
        "outbox 3f2a9c0d4b5e6f708192a3b4c5d6e7f8 sent",  # ids are 32 hex characters
        "update 123456789 delivered again",
        "listening on 127.0.0.1:8000",
        "expires 1 Dec 2026, 12:00 UTC",
        "took 0.012 s; 42 rows",
    ],
)
def test_what_is_not_secret_is_left_alone(text: str) -> None:
    assert mask_secrets(text) == text


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    handler.addFilter(MaskSecrets())
    logger = logging.getLogger("invitebot.test-logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_record_is_one_json_line_with_its_fields(lines: io.StringIO) -> None:
    log = logging.getLogger("invitebot.test-logs")
    log.info("SMS to %s (outbox %s)", "+12025550199", "a" * 32, extra={"route": "sms"})
    [record] = records(lines)
    assert record["level"] == "INFO" and record["logger"] == "invitebot.test-logs"
    assert record["message"] == f"SMS to +1 ••• ••• 0199 (outbox {'a' * 32})"
    assert record["route"] == "sms" and "time" in record


def test_secrets_in_arguments_and_tracebacks_are_masked(lines: io.StringIO) -> None:
    log = logging.getLogger("invitebot.test-logs")
    try:
        raise ValueError(f"bad link https://hoa.example/i/{INVITE_TOKEN} for maria@example.org")
    except ValueError:
        log.exception("handling %s failed", f"/join {INVITE_TOKEN}")
    text = lines.getvalue()
    assert INVITE_TOKEN not in text and "maria@" not in text
    [record] = records(lines)
    assert record["message"] == "handling /join <token> failed"
    assert "ValueError: bad link https://hoa.example/i/<token> for m•••@example.org" in str(
        record["exc_info"]
    )
