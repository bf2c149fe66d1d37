"""Slack requests survive the process that acknowledged them (:mod:`handlers.slack.intake`):
stored before the ack, forgotten once handled, taken over when the process died, and replies
Slack could not take sent later without taking the step again. The "other process" is a
second adapter on the same database and clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot import messages as msg
from bot.domain import InboundUpdate
from handlers.intake import DEFAULT_LEASE
from handlers.slack.bot import SlackAdapter
from handlers.slack.client import make_client
from handlers.slack.intake import sender_of, worth_retrying
from handlers.slack.payload import receipt_key
from tests.handlers import test_slack
from tests.handlers.fake_slack import dm_of
from tests.handlers.test_slack import ANA, Site, head

fake = test_slack.fake
site = test_slack.site


@pytest.fixture
async def other(site: Site) -> AsyncIterator[SlackAdapter]:
    """Another serve process on the same database: its own Web API client and intake."""
    adapter = SlackAdapter(
        site.world.engine,
        make_client(site.fake.token, api_base=site.fake.url),
        signing_secret=test_slack.SIGNING_SECRET,
    )
    try:
        yield adapter
    finally:
        await adapter.close()


async def left(site: Site) -> list[InboundUpdate]:
    async with site.database.uow() as uow:
        found = [await uow.updates.get(n) for n in range(1, 60)]
    return [u for u in found if u is not None]


def texts(site: Site, user: str) -> list[str]:
    """What the DM shows: the messages the Web API took (a refused call has no ts)."""
    return [str(c.params["text"]) for c in site.shown(user) if c.ts is not None]


async def taken_in(adapter: SlackAdapter, body: dict[str, Any]) -> InboundUpdate:
    """What the middleware does before it acknowledges: the request stored, not yet run."""
    key = receipt_key(body)
    assert key is not None
    stored = await adapter.intake.durable.accept(
        external_id=key, sender=sender_of(body, key), payload=json.dumps(body)
    )
    assert stored is not None
    return stored


def dm(site: Site, user: str, text: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(site.event_body(message_event(user, text)))
    return body


def message_event(user: str, text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": dm_of(user),
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": "1700000000.000100",
    }


def command(site: Site, user: str, name: str, text: str = "") -> dict[str, Any]:
    return dict(parse_qsl(site.command_body(user, name, text)))


async def test_a_request_is_forgotten_once_handled_and_a_repeat_only_acknowledged(
    site: Site,
) -> None:
    await head(site)
    body = site.event_body(message_event(ANA, "/help"), event_id="Ev0HELP")
    await site.post(body, content_type="application/json")
    assert len(texts(site, ANA)) == 2 and await left(site) == []
    response = await site.post(body, content_type="application/json")  # Slack's retry
    assert response.status_code == 200 and len(texts(site, ANA)) == 2


async def test_requests_acknowledged_but_never_run_are_taken_over_in_order(
    site: Site, other: SlackAdapter
) -> None:
    """The process acknowledged Ana's slash command and her answer, and died: another takes
    both over once the lease ends, and runs them in order, once."""
    await head(site)
    await taken_in(site.adapter, command(site, ANA, "/invite"))
    await taken_in(site.adapter, dm(site, ANA, "Email"))
    assert await other.intake.durable.take_over() == 0
    site.world.clock.advance(seconds=DEFAULT_LEASE.total_seconds())
    assert await other.intake.durable.take_over() == 2
    await other.drain()
    assert texts(site, ANA)[-2:] == [msg.ASK_METHOD, msg.ASK_NAME]
    assert await left(site) == []


async def test_replies_slack_could_not_take_are_sent_later_and_the_step_not_taken_again(
    site: Site, other: SlackAdapter
) -> None:
    await head(site)
    await site.command(ANA, "/invite")
    site.fake.fail_next("chat.postMessage", "internal_error", status=500)
    await site.post(site.event_body(message_event(ANA, "Email")), content_type="application/json")
    assert texts(site, ANA)[-1] == msg.ASK_METHOD
    [kept] = await left(site)
    assert kept.replies is not None and msg.ASK_NAME in kept.replies
    site.world.clock.advance(seconds=DEFAULT_LEASE.total_seconds())
    assert await other.intake.durable.take_over() == 1
    await other.drain()
    assert texts(site, ANA)[-1] == msg.ASK_NAME and await left(site) == []
    await site.say(ANA, "Maria Ruiz")  # "Email" was the method, once
    assert "Maria Ruiz" in texts(site, ANA)[-1]


async def test_a_refusal_that_would_only_repeat_is_not_retried(site: Site) -> None:
    """Slack refusing a message for good (``ok: false`` with 200) is not worth another try:
    the person is told, and the request is done with."""
    await head(site)
    site.fake.fail_next("chat.postMessage", "channel_not_found")
    await site.say(ANA, "/help")
    assert await left(site) == []


def test_only_slack_out_of_reach_is_worth_retrying() -> None:
    def refused(status: int) -> SlackApiError:
        response = AsyncSlackResponse(
            client=None,  # type: ignore[arg-type]
            http_verb="POST",
            api_url="https://slack.example/api/chat.postMessage",
            req_args={},
            data={"ok": False, "error": "x"},
            headers={},
            status_code=status,
        )
        return SlackApiError("refused", response)

    assert worth_retrying(refused(500)) and worth_retrying(refused(503))
    assert worth_retrying(refused(429))
    assert not worth_retrying(refused(200)) and not worth_retrying(refused(404))
    assert worth_retrying(ConnectionResetError()) and worth_retrying(TimeoutError())
    assert not worth_retrying(ValueError("a bug"))


def test_whose_request_it_is() -> None:
    """A person's requests that may step their conversation share their queue; any other
    gets one of its own, and no request is ever in a queue shared by everyone."""
    assert sender_of({"user": {"id": "U0ANA"}, "type": "block_actions"}, "k") == "U0ANA"
    assert sender_of({"user_id": "U0ANA", "command": "/invite"}, "k") == "U0ANA"
    message = {"type": "event_callback", "event": {"type": "message", "user": "U0ANA"}}
    assert sender_of(message, "k") == "U0ANA"
    home = {"type": "event_callback", "event": {"type": "app_home_opened", "user": "U0ANA"}}
    assert sender_of(home, "event:Ev1") == "once:event:Ev1"
    edited = {"type": "event_callback", "event": {"type": "message", "user": ["U0ANA"]}}
    assert sender_of(edited, "event:Ev2") == "once:event:Ev2"


async def test_a_lease_is_renewed_while_the_process_lives(site: Site, other: SlackAdapter) -> None:
    await head(site)
    stored = await taken_in(site.adapter, dm(site, ANA, "/help"))
    for _ in range(4):
        site.world.clock.advance(seconds=DEFAULT_LEASE.total_seconds() / 2)
        await site.adapter.intake.durable.renew()
        assert await other.intake.durable.take_over() == 0
    await site.adapter.intake.durable.handle(stored)
    assert await left(site) == [] and len(texts(site, ANA)) == 2


async def test_a_request_taken_over_while_slack_refuses_auth_test_is_taken_again(
    site: Site, other: SlackAdapter
) -> None:
    """A new process has not called auth.test yet; Slack answering it 500 stops the request
    before any listener runs. It is not done with: it is taken again, and answered."""
    await head(site)
    before = len(texts(site, ANA))
    await taken_in(site.adapter, dm(site, ANA, "/help"))
    site.world.clock.advance(seconds=DEFAULT_LEASE.total_seconds())
    site.fake.fail_next("auth.test", "internal_error", status=500)
    assert await other.intake.durable.take_over() == 1
    await other.drain()
    assert len(await left(site)) == 1 and len(texts(site, ANA)) == before
    site.world.clock.advance(seconds=2 * DEFAULT_LEASE.total_seconds())  # its second attempt
    assert await other.intake.durable.take_over() == 1
    await other.drain()
    assert await left(site) == [] and len(texts(site, ANA)) == before + 1


async def test_a_command_typed_in_a_channel_says_continue_in_the_dm_once(site: Site) -> None:
    """Taken again while it waited its turn, a command would repeat its ephemeral answer
    if it gave it before its step."""
    await head(site)
    earlier = await taken_in(site.adapter, dm(site, ANA, "/help"))
    body = command(site, ANA, "/invite")
    body["channel_id"] = "C0NEIGHBOURS"
    later = await taken_in(site.adapter, body)
    waiting = asyncio.create_task(site.adapter.intake.durable.handle(later))
    await asyncio.sleep(0.3)  # early: taken again and again meanwhile
    await site.adapter.intake.durable.handle(earlier)
    await asyncio.wait_for(waiting, timeout=10)
    ephemeral = [c for c in site.fake.calls if c.method == "response_url"]
    assert len(ephemeral) == 1 and texts(site, ANA)[-1] == msg.ASK_METHOD
