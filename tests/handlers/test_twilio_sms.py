"""The Twilio SMS sender: the real twilio-python client over HTTP against a fake Twilio on
loopback. What reaches Twilio, the SID coming back, which errors retry and which are final
(with the reason the head reads), timeouts, and the send rate."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest
from pydantic import SecretStr

from bot.delivery import DeliveryError, PermanentDeliveryError
from bot.domain import Channel, OutboxMessage
from handlers.settings import Settings
from handlers.twilio_sms import (
    RebasingAsyncHttpClient,
    TokenBucket,
    TwilioSender,
    twilio_sender_from_settings,
)
from tests.handlers.fake_twilio import (
    FakeTwilio,
    Hang,
    RecordedRequest,
    ServerError,
    TwilioError,
)

FROM = "+15005550006"
SERVICE = "MG" + "abcdef0123456789" * 2
TO = "+12025550199"
CALLBACK = "https://hoa.example/twilio/status"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as running:
        yield running


def make_sender(fake: FakeTwilio, **overrides: object) -> TwilioSender:
    options: dict[str, object] = {
        "account_sid": fake.account_sid,
        "auth_token": fake.auth_token,
        "from_number": FROM,
        "status_callback": CALLBACK,
        "api_base": fake.url,
        "rate_per_second": 1000.0,
        "timeout": 5.0,
    }
    options.update(overrides)
    return TwilioSender(**options)  # type: ignore[arg-type]


@pytest.fixture
async def sender(fake: FakeTwilio) -> AsyncIterator[TwilioSender]:
    async with make_sender(fake) as running:
        yield running


def sms(body: str = "Hi Maria, Ana Lopez invited you.", to: str = TO) -> OutboxMessage:
    now = datetime.now(UTC)
    return OutboxMessage(
        channel=Channel.SMS, destination=to, body=body, created_at=now, next_attempt_at=now
    )


def only_request(fake: FakeTwilio) -> RecordedRequest:
    [request] = fake.requests
    return request


async def test_a_send_posts_to_from_body_and_callback_and_returns_the_sid(
    fake: FakeTwilio, sender: TwilioSender
) -> None:
    sid = await sender.send(sms("Hi Maria ✓"))

    request = only_request(fake)
    assert request.path == f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    assert request.auth == (fake.account_sid, fake.auth_token)
    assert request.form == {
        "To": TO,
        "From": FROM,
        "Body": "Hi Maria ✓",
        "StatusCallback": CALLBACK,
    }
    assert sid == request.sid
    assert sid.startswith("SM") and len(sid) == 34
    assert fake.messages == [request]


async def test_a_messaging_service_sends_instead_of_a_from_number(fake: FakeTwilio) -> None:
    async with make_sender(
        fake, from_number=None, messaging_service_sid=SERVICE, status_callback=None
    ) as sender:
        sid = await sender.send(sms())

    assert sid.startswith("SM")
    assert only_request(fake).form == {
        "To": TO,
        "MessagingServiceSid": SERVICE,
        "Body": "Hi Maria, Ana Lopez invited you.",
    }


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (21610, "the number has opted out of texts"),
        (21211, "the phone number is not valid"),
        (21614, "the number is not a mobile number"),
        (21999, "the SMS service refused it (error 21999)"),
    ],
)
async def test_refused_numbers_fail_for_good_with_a_reason_the_head_can_read(
    fake: FakeTwilio, sender: TwilioSender, code: int, reason: str
) -> None:
    fake.respond_next(TwilioError(code))

    with pytest.raises(PermanentDeliveryError) as failure:
        await sender.send(sms())

    assert str(failure.value) == reason
    assert len(fake.requests) == 1


async def test_a_refusal_is_logged_with_twilio_words_but_not_the_whole_number(
    fake: FakeTwilio, sender: TwilioSender, caplog: pytest.LogCaptureFixture
) -> None:
    fake.respond_next(TwilioError(21211, message=f"Invalid 'To' Phone Number: {TO}"))

    with caplog.at_level(logging.WARNING, logger="handlers.twilio_sms"):
        with pytest.raises(PermanentDeliveryError):
            await sender.send(sms())

    assert "error 21211 (Unable to create record: Invalid 'To' Phone Number: +1 ••• ••• 0199)" in (
        caplog.text
    )
    assert TO not in caplog.text


async def test_bad_credentials_fail_for_good(fake: FakeTwilio) -> None:
    async with make_sender(fake, auth_token="not-the-token") as sender:
        with pytest.raises(PermanentDeliveryError, match="refused our credentials"):
            await sender.send(sms())

    request = only_request(fake)
    assert request.auth == (fake.account_sid, "not-the-token")
    assert request.behaviour == TwilioError(20003, status=401)
    assert fake.messages == []


@pytest.mark.parametrize(
    "behaviour", [ServerError(500), ServerError(503), TwilioError(20429, status=429)]
)
async def test_server_errors_and_rate_limits_are_worth_retrying(
    fake: FakeTwilio, sender: TwilioSender, behaviour: ServerError | TwilioError
) -> None:
    fake.respond_next(behaviour)

    with pytest.raises(DeliveryError) as failure:
        await sender.send(sms())
    assert not isinstance(failure.value, PermanentDeliveryError)

    # The retry the dispatcher makes later goes through.
    assert (await sender.send(sms())).startswith("SM")
    assert len(fake.requests) == 2 and len(fake.messages) == 1


async def test_a_hanging_twilio_is_a_retryable_failure_after_the_timeout(
    fake: FakeTwilio,
) -> None:
    fake.respond_next(Hang(seconds=30))

    async with make_sender(fake, timeout=0.5) as sender:
        started = time.monotonic()
        with pytest.raises(DeliveryError, match=r"did not answer within 0\.5 s") as failure:
            await sender.send(sms())
        waited = time.monotonic() - started

    assert not isinstance(failure.value, PermanentDeliveryError)
    assert 0.4 <= waited < 2.0
    assert len(fake.requests) == 1  # it did reach Twilio


async def test_an_unreachable_twilio_is_a_retryable_failure() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = TwilioSender(
        account_sid="AC" + "0" * 32,
        auth_token="token",
        from_number=FROM,
        api_base=f"http://127.0.0.1:{port}",
        timeout=2.0,
    )
    async with sender:
        with pytest.raises(DeliveryError, match="could not reach Twilio") as failure:
            await sender.send(sms())
    assert not isinstance(failure.value, PermanentDeliveryError)


async def test_a_burst_queues_at_the_rate_instead_of_failing(fake: FakeTwilio) -> None:
    async with make_sender(fake, rate_per_second=5.0) as sender:
        sids = await asyncio.gather(*(sender.send(sms(f"message {n}")) for n in range(10)))

    assert sorted(sids) == sorted(request.sid or "" for request in fake.messages)
    assert len(set(sids)) == 10
    times = sorted(request.received_at for request in fake.requests)
    assert len(times) == 10
    gaps = [later - earlier for earlier, later in pairwise(times)]
    assert times[-1] - times[0] >= 1.75  # nine gaps of 0.2 s
    assert min(gaps) >= 0.15
    assert sorted(r.form["Body"] for r in fake.messages) == sorted(
        f"message {n}" for n in range(10)
    )


async def test_the_rate_limit_spans_sequential_sends_too() -> None:
    now = [100.0]
    bucket = TokenBucket(2.0, clock=lambda: now[0])

    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.5, 1.0]
    now[0] += 5.0  # idle time does not bank a burst
    assert [bucket.reserve() for _ in range(2)] == [0.0, 0.5]


async def test_a_sender_can_be_closed_and_used_again(fake: FakeTwilio) -> None:
    sender = make_sender(fake)
    await sender.close()  # nothing opened yet
    await sender.send(sms())
    await sender.close()
    await sender.send(sms())
    await sender.close()
    assert len(fake.messages) == 2


async def test_only_twilio_urls_are_moved_to_the_api_base() -> None:
    client = RebasingAsyncHttpClient(api_base="http://127.0.0.1:9/prefix/", timeout=1.0)
    try:
        assert (
            client.rebase("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json")
            == "http://127.0.0.1:9/prefix/2010-04-01/Accounts/AC1/Messages.json"
        )
        assert (
            client.rebase("https://api.us1.twilio.com/x?y=1") == "http://127.0.0.1:9/prefix/x?y=1"
        )
        assert client.rebase("https://example.com/x") == "https://example.com/x"
    finally:
        await client.close()


def test_a_sender_needs_credentials_and_a_sender_id() -> None:
    with pytest.raises(ValueError, match="from number or messaging service"):
        TwilioSender(account_sid="AC1", auth_token="t")
    with pytest.raises(ValueError, match="account SID and auth token"):
        TwilioSender(account_sid="", auth_token="t", from_number=FROM)
    with pytest.raises(ValueError, match="api_base"):
        TwilioSender(account_sid="AC1", auth_token="t", from_number=FROM, api_base="127.0.0.1")
    with pytest.raises(ValueError, match="rate"):
        TwilioSender(account_sid="AC1", auth_token="t", from_number=FROM, rate_per_second=0)
    secret = TwilioSender(account_sid="AC1", auth_token="s3cr3t-token", from_number=FROM)
    assert "s3cr3t" not in repr(secret)


@pytest.fixture(autouse=True)
def no_invitebot_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings here come from the test's values only, not from the shell running it."""
    for name in list(os.environ):
        if name.startswith("INVITEBOT_"):
            monkeypatch.delenv(name)


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_settings_without_twilio_credentials_give_no_sender() -> None:
    assert twilio_sender_from_settings(settings()) is None
    assert (
        twilio_sender_from_settings(
            settings(twilio_account_sid="AC1", twilio_auth_token=SecretStr("t"))
        )
        is None
    )
    assert (
        twilio_sender_from_settings(settings(twilio_account_sid="AC1", twilio_from_number=FROM))
        is None
    )


def test_settings_with_twilio_credentials_give_a_sender_reporting_to_the_public_url() -> None:
    sender = twilio_sender_from_settings(
        settings(
            twilio_account_sid="AC1",
            twilio_auth_token=SecretStr("t"),
            twilio_messaging_service_sid=SERVICE,
            twilio_api_base="http://127.0.0.1:9",
            public_base_url="https://hoa.example/",
        )
    )
    assert sender is not None
    assert sender.messaging_service_sid == SERVICE and sender.from_number is None
    assert sender.status_callback == "https://hoa.example/twilio/status"
    assert sender.api_base == "http://127.0.0.1:9"
    assert sender.bucket.rate == getattr(settings(), "twilio_messages_per_second", 1.0)


async def test_the_sender_from_settings_sends_through_the_fake(fake: FakeTwilio) -> None:
    sender = twilio_sender_from_settings(
        settings(
            twilio_account_sid=fake.account_sid,
            twilio_auth_token=SecretStr(fake.auth_token),
            twilio_from_number=FROM,
            twilio_api_base=fake.url,
            public_base_url="https://hoa.example",
        )
    )
    assert sender is not None
    async with sender:
        sid = await sender.send(sms())
    assert only_request(fake).form["StatusCallback"] == CALLBACK
    assert sid == fake.messages[0].sid
