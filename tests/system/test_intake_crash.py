"""Nothing a person types is lost (the durable intake, ``handlers/intake.py``): a real
``invitebot serve`` answers a burst of Telegram updates and Slack requests, is SIGKILLed with
most of them still to handle, and the next serve process handles every one exactly once, in
order per person, each with its reply at the fake Bot API and Web API. And the narrowest
window: killed after a step committed and before its reply left.

The lease is two seconds here (``INVITEBOT_INTAKE_LEASE_SECONDS``), so the new process takes
the dead one's updates over quickly; the Bot API answers slowly in the burst, so the backlog is
real when the kill comes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import text

from bot import messages as msg
from tests.fakes import FakeClock
from tests.handlers.fake_slack import APP_ID, BOT_USER_ID, TEAM_ID, FakeSlack, dm_of
from tests.handlers.fake_telegram import FakeTelegram
from tests.handlers.fake_twilio import FakeTwilio
from tests.handlers.slack_workspace import SIGNING_SECRET, signed_headers
from tests.system.cluster import Cluster, Process, SystemDatabase, until
from tests.system.traffic import NAMES, Load, message
from tests.unit.conftest import World

PEOPLE = 40
"""On Telegram; as many again on Slack."""
FIRST = 60_000
LEASE_SECONDS = "2"
_ids = itertools.count(1)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


def slack_env(slack: FakeSlack) -> dict[str, str]:
    return {
        "INVITEBOT_SLACK_BOT_TOKEN": slack.token,
        "INVITEBOT_SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "INVITEBOT_SLACK_API_BASE": slack.url,
        "INVITEBOT_INTAKE_LEASE_SECONDS": LEASE_SECONDS,
    }


def slack_user(i: int) -> str:
    return f"U0P{i:04d}"


def slack_command(user: str, command: str, text: str) -> tuple[str, str]:
    """A slash command typed in the person's DM with the app, as Slack posts it."""
    body = urlencode(
        {
            "team_id": TEAM_ID,
            "channel_id": dm_of(user),
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "response_url": "https://hooks.slack.invalid/commands/1/2/3",
            "trigger_id": f"{next(_ids)}.1111.{'a' * 32}",
        }
    )
    return body, "application/x-www-form-urlencoded"


def slack_message(user: str, typed: str) -> tuple[str, str]:
    """A direct message to the app, as the Events API delivers it (``message.im``)."""
    ts = f"{int(time.time())}.{next(_ids):06d}"
    event = {
        "type": "message",
        "channel": dm_of(user),
        "channel_type": "im",
        "user": user,
        "text": typed,
        "ts": ts,
        "event_ts": ts,
    }
    body = {
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{next(_ids):010d}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
    }
    return json.dumps(body), "application/json"


def slack_script(i: int, code: str) -> list[tuple[str, str]]:
    """The same five steps in Slack: the claim is a slash command, the rest DMs."""
    user = slack_user(i)
    return [
        slack_command(user, "/household", f"join {code}"),
        slack_command(user, "/invite", ""),
        *(slack_message(user, line) for line in script(i, code)[2:]),
    ]


async def post_to_slack(
    client: httpx.AsyncClient, server: Process, request: tuple[str, str]
) -> int:
    body, content_type = request
    response = await client.post(
        f"{server.url}/slack/events",
        content=body,
        headers=signed_headers(body, content_type=content_type),
    )
    return response.status_code


def slack_delivered(slack: FakeSlack, user: str) -> list[str]:
    """The texts the person's DM shows, oldest first (a refused call has no ts)."""
    return [
        str(call.params["text"])
        for call in slack.calls_of("chat.postMessage", "chat.update")
        if call.params.get("channel") == dm_of(user) and call.ts is not None
    ]


def script(i: int, code: str) -> list[str]:
    """What head ``i`` types, one message after another: five steps whose replies show
    whether any was taken twice or out of turn ("Email" taken twice would become the
    member's name)."""
    return [f"/start {code}", "/invite", "Email", f"Guest {NAMES[i]}", "/cancel"]


def expected(i: int, text: str, step: int, *, address: int) -> bool:
    return [
        lambda: "You are now the head" in text and f"{address} Elm Street" in text,
        lambda: text == msg.ASK_METHOD,
        lambda: text == msg.ASK_NAME,
        lambda: f"Guest {NAMES[i]}" in text and msg.ASK_NAME not in text,
        lambda: text == msg.FLOW_CANCELLED,
    ][step]()


def delivered(telegram: FakeTelegram, chat_id: int) -> list[str]:
    """The texts the chat shows, oldest first (a call the Bot API did not take has no id)."""
    return [
        str(call.params["text"])
        for call in telegram.calls
        if call.method in ("sendMessage", "editMessageText")
        and str(call.params.get("chat_id")) == str(chat_id)
        and call.message_id is not None
    ]


def without_repeats(texts: list[str]) -> list[str]:
    """A reply sent again (the process died after sending it, before forgetting the update)
    shows twice in a row; a step taken twice would show something else."""
    return [t for n, t in enumerate(texts) if n == 0 or texts[n - 1] != t]


async def nothing_left(db: SystemDatabase) -> bool:
    return await left_to_handle(db) == 0


async def left_to_handle(db: SystemDatabase) -> int:
    async with db.database.engine.connect() as connection:
        result = await connection.execute(text("SELECT count(*) FROM inbound_updates"))
        return int(result.scalar_one())


async def test_a_burst_answered_then_sigkill_loses_no_update_and_takes_none_twice(
    db: SystemDatabase,
    cluster: Cluster,
    twilio: FakeTwilio,
    telegram: FakeTelegram,
    slack: FakeSlack,
) -> None:
    world = World(uow_factory=db.database.uow, clock=FakeClock(datetime.now(UTC)))
    codes = [await world.household(address=f"{i} Elm Street") for i in range(2 * PEOPLE)]
    cluster.env.update(slack_env(slack))
    # Slow APIs: the backlog grows behind the answers.
    telegram.reply_delay = slack.reply_delay = 0.2
    server = await cluster.serve()
    async with httpx.AsyncClient(timeout=60) as client:
        load = Load(client, [server], telegram)
        slack_statuses: list[int] = []

        async def types_in_telegram(i: int) -> None:
            for line in script(i, codes[i]):
                await load.update(server, message(FIRST + i, line))  # 200 each, in turn

        async def types_in_slack(i: int) -> None:
            for request in slack_script(i, codes[PEOPLE + i]):
                slack_statuses.append(await post_to_slack(client, server, request))

        await asyncio.gather(
            *(types_in_telegram(i) for i in range(PEOPLE)),
            *(types_in_slack(i) for i in range(PEOPLE)),
        )
    cluster.kill(server)  # every update answered 200; most not yet handled
    assert load.statuses == {200: PEOPLE * 5}
    assert slack_statuses == [200] * PEOPLE * 5
    backlog = await left_to_handle(db)
    assert backlog > 0, "the server kept up: the kill tested nothing"
    print(f"{backlog} of {2 * PEOPLE * 5} updates left to handle at the kill")

    telegram.reply_delay = slack.reply_delay = 0
    await cluster.serve()

    def shown(i: int) -> list[list[str]]:
        return [delivered(telegram, FIRST + i), slack_delivered(slack, slack_user(i))]

    async def all_answered() -> bool:
        complete = all(len(without_repeats(chat)) >= 5 for i in range(PEOPLE) for chat in shown(i))
        return complete and await left_to_handle(db) == 0

    await until(all_answered, within=120, what="every update handled after the restart")
    repeats = 0
    for i in range(PEOPLE):
        for chat, offset in zip(shown(i), (0, PEOPLE), strict=True):
            steps = without_repeats(chat)
            repeats += len(chat) - len(steps)
            # One update of a person at a time is between its send and being forgotten.
            assert len(steps) == 5 and len(chat) - len(steps) <= 1, chat
            assert all(expected(i, t, n, address=i + offset) for n, t in enumerate(steps)), chat
    print(f"replies sent twice (sent, then the process died before forgetting them): {repeats}")
    async with db.database.uow() as uow:
        for household in await uow.households.list():
            assert [i.status for i in await uow.invitations.list_for_household(household.id)] == []


async def test_killed_between_a_steps_commit_and_its_reply_the_reply_still_comes(
    db: SystemDatabase, cluster: Cluster, twilio: FakeTwilio, telegram: FakeTelegram
) -> None:
    world = World(uow_factory=db.database.uow, clock=FakeClock(datetime.now(UTC)))
    code = await world.household(address="0 Elm Street")
    ana = FIRST
    cluster.env["INVITEBOT_INTAKE_LEASE_SECONDS"] = LEASE_SECONDS
    server = await cluster.serve()
    async with httpx.AsyncClient(timeout=60) as client:
        load = Load(client, [server], telegram)
        await load.step(server, ana, message(ana, f"/start {code}"))
        await load.step(server, ana, message(ana, "/invite"))
        telegram.hung_chats.add(str(ana))  # sendMessage to Ana never answers
        await load.update(server, message(ana, "Email"))
        # The step committed (its reply is being sent) and the reply is stored with it.
        await until(lambda: telegram.hung, what="the reply on its way")
        async with db.database.engine.connect() as connection:
            stored = await connection.execute(text("SELECT replies FROM inbound_updates"))
            [replies] = stored.scalars().all()
        assert msg.ASK_NAME in replies
        cluster.kill(server)
        telegram.hung_chats.clear()

        restarted = await cluster.serve()
        await until(
            lambda: delivered(telegram, ana)[-1:] == [msg.ASK_NAME], what="the lost question"
        )
        # Forgotten once its work is done (in Slack, the home tab is published after it).
        await until(lambda: nothing_left(db), what="the update forgotten")
        # "Email" was the method, once: the next answer is the member's name.
        await load.step(restarted, ana, message(ana, "Maria Ruiz"))
    shown = delivered(telegram, ana)
    assert "Maria Ruiz" in shown[-1] and shown.count(msg.ASK_NAME) == 1, shown


async def test_in_slack_too_killed_between_a_steps_commit_and_its_reply_the_reply_still_comes(
    db: SystemDatabase, cluster: Cluster, twilio: FakeTwilio, slack: FakeSlack
) -> None:
    world = World(uow_factory=db.database.uow, clock=FakeClock(datetime.now(UTC)))
    code = await world.household(address="0 Elm Street")
    ana = slack_user(0)
    cluster.env.update(slack_env(slack))
    server = await cluster.serve()
    async with httpx.AsyncClient(timeout=60) as client:

        async def step(server: Process, request: tuple[str, str]) -> None:
            before = len(slack_delivered(slack, ana))
            assert await post_to_slack(client, server, request) == 200
            await until(lambda: len(slack_delivered(slack, ana)) > before, what="an answer")

        await step(server, slack_command(ana, "/household", f"join {code}"))
        await step(server, slack_command(ana, "/invite", ""))
        slack.hung_channels.add(dm_of(ana))  # chat.postMessage to Ana's DM never answers
        assert await post_to_slack(client, server, slack_message(ana, "Email")) == 200
        await until(lambda: slack.hung, what="the reply on its way")
        async with db.database.engine.connect() as connection:
            stored = await connection.execute(text("SELECT replies FROM inbound_updates"))
            [replies] = stored.scalars().all()
        assert msg.ASK_NAME in replies
        cluster.kill(server)
        slack.hung_channels.clear()

        restarted = await cluster.serve()
        await until(
            lambda: slack_delivered(slack, ana)[-1:] == [msg.ASK_NAME], what="the lost question"
        )
        # Forgotten once its work is done (in Slack, the home tab is published after it).
        await until(lambda: nothing_left(db), what="the update forgotten")
        await step(restarted, slack_message(ana, "Maria Ruiz"))
    shown = slack_delivered(slack, ana)
    assert "Maria Ruiz" in shown[-1] and shown.count(msg.ASK_NAME) == 1, shown


async def test_a_graceful_stop_handles_everything_it_answered_before_it_exits(
    db: SystemDatabase, cluster: Cluster, twilio: FakeTwilio, telegram: FakeTelegram
) -> None:
    """SIGTERM (a deploy) right after a burst was answered: the process finishes the backlog
    before it exits, so nothing is left for the next one."""
    people = PEOPLE // 2
    world = World(uow_factory=db.database.uow, clock=FakeClock(datetime.now(UTC)))
    codes = [await world.household(address=f"{i} Elm Street") for i in range(people)]
    telegram.reply_delay = 0.1
    server = await cluster.serve()
    async with httpx.AsyncClient(timeout=60) as client:
        load = Load(client, [server], telegram)

        async def types(i: int) -> None:
            for line in script(i, codes[i]):
                await load.update(server, message(FIRST + i, line))

        await asyncio.gather(*(types(i) for i in range(people)))
    assert await left_to_handle(db) > 0, "the server kept up: the stop tested nothing"
    server.popen.terminate()
    await asyncio.to_thread(server.popen.wait, 60)
    # uvicorn re-raises the signal once shut down: what systemd counts as a clean stop.
    assert server.popen.returncode in (0, -signal.SIGTERM), server.output()[-3000:]
    assert "Application shutdown complete" in server.output()
    assert await left_to_handle(db) == 0
    for i in range(people):
        steps = without_repeats(delivered(telegram, FIRST + i))
        assert len(steps) == 5 and all(expected(i, t, n, address=i) for n, t in enumerate(steps))
