"""``POST /telegram/webhook`` on SQLite with aiogram talking to the loopback fake Bot API: any
message text (at any point of a conversation, in private or in a group), any sender name and
any ``callback_data``. Always 200, nothing logged as failed (the adapter logs, and answers
"something went wrong", when the engine raises), every message sent non-empty, every button
press answered, everything stored valid."""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from starlette.applications import Starlette

from bot import engine as states
from handlers.telegram.bot import TelegramAdapter, make_bot
from handlers.telegram.render import pack_payload
from handlers.telegram.updates import UpdateIntake
from handlers.telegram.webhook import MAX_UPDATE_BYTES, TelegramWebhook
from storage import Database
from tests.chat import Person
from tests.handlers.fake_telegram import FakeTelegram
from tests.property.flows import GENEROUS, fresh_email, state_of
from tests.property.invariants import assert_all_stored_valid, assert_no_failure_logged
from tests.property.profiles import examples
from tests.property.strategies import CARD_ACTIONS, FLOW_ACTIONS, payloads, strings, texts
from tests.storage.databases import fresh_database
from tests.unit.conftest import World

SECRET_TOKEN = "telegram-webhook-secret-0123456789"
ANA = 1001
GROUP = -100200300
_ids = itertools.count(900_000)

names = st.one_of(st.sampled_from(["Ana", "Maria", "李", ""]), texts(surrogates=False, long=False))


def user(user_id: int, first: str = "Ana", last: str | None = "Lopez") -> dict[str, Any]:
    found: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first}
    if last is not None:
        found["last_name"] = last
    return found


def chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Ana"}
    return {"id": chat_id, "type": "group", "title": "Oak Ridge neighbours"}


def message_update(sender: dict[str, Any], text: str, chat_id: int) -> dict[str, Any]:
    return {
        "update_id": next(_ids),
        "message": {
            "message_id": next(_ids),
            "date": int(time.time()),
            "chat": chat(chat_id),
            "from": sender,
            "text": text,
        },
    }


def button_update(sender: dict[str, Any], data: str, chat_id: int) -> dict[str, Any]:
    return {
        "update_id": next(_ids),
        "callback_query": {
            "id": f"cq-{next(_ids)}",
            "from": sender,
            "chat_instance": "ci-1",
            "data": data,
            "message": {
                "message_id": 7,
                "date": int(time.time()),
                "chat": chat(chat_id),
                "from": {"id": 1, "is_bot": True, "first_name": "Oak Ridge"},
                "text": "…",
            },
        },
    }


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as running:
        yield running


@dataclass
class Site:
    client: httpx.AsyncClient
    world: World
    database: Database
    fake: FakeTelegram
    hook: TelegramWebhook
    ana: Person

    async def post(self, update: dict[str, Any]) -> httpx.Response:
        response = await self.client.post(
            "/telegram/webhook",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET_TOKEN},
        )
        await self.hook.drain()
        return response

    async def reach(self, state: str) -> None:
        """Put Ana's Telegram conversation in ``state`` (through the engine directly)."""
        await self.ana.say("/cancel")
        if state == states.JOIN:
            await self.ana.say("/join")
        elif state != states.IDLE:
            await self.ana.say("/invite email")
            if state != states.NAME:
                await self.ana.say("Zoe Adams")
                if state == states.SUMMARY:
                    await self.ana.say(fresh_email())
        assert await state_of(self.world, self.ana) == state, self.ana.text

    def sent(self) -> list[dict[str, Any]]:
        return [c.params for c in self.fake.calls if c.method in ("sendMessage", "editMessageText")]


@pytest.fixture
async def site(tmp_path: Path, fake: FakeTelegram) -> AsyncIterator[Site]:
    async with fresh_database("sqlite", tmp_path) as database:
        world = World(uow_factory=database.uow, limits=GENEROUS)
        adapter = TelegramAdapter(world.engine, make_bot(fake.token, api_base=fake.url))
        intake = UpdateIntake(adapter=adapter, uow_factory=database.uow, clock=world.clock)
        hook = TelegramWebhook(intake=intake, secret=SECRET_TOKEN, background=False)
        app = Starlette(routes=hook.routes)
        ana = world.person(str(ANA), "Ana Lopez", platform="telegram")
        await ana.say(f"/join {await world.household()}")
        assert "You are now the head" in ana.text, ana.text
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://10.0.0.5:8000"
            ) as client:
                yield Site(client, world, database, fake, hook, ana)
        finally:
            await hook.drain()
            await adapter.close()


def assert_sent_well(site: Site) -> list[dict[str, Any]]:
    sent = site.sent()
    for params in sent:
        assert str(params["text"]).strip(), params
        assert len(str(params["text"])) <= 4096
    return sent


@pytest.mark.parametrize("state", [states.IDLE, states.NAME, states.CONTACT, states.SUMMARY])
@examples(25)
@given(
    text=texts(surrogates=False), first=names, last=st.one_of(st.none(), names), group=st.booleans()
)
@example(text="/start", first="", last=None, group=False)
@example(text="/invite@oakridge_bot", first="\u202e", last="\x00", group=True)
@example(text="Send Invite", first="Ana", last=None, group=False)
async def test_any_message_is_answered_and_stores_only_valid_rows(
    site: Site,
    caplog: pytest.LogCaptureFixture,
    state: str,
    text: str,
    first: str,
    last: str | None,
    group: bool,
) -> None:
    caplog.set_level(logging.INFO)
    await site.reach(state)
    site.fake.clear()
    sender = user(ANA, first, last)
    update = message_update(sender, text, GROUP if group else ANA)
    response = await site.post(update)
    if len(response.request.content) > MAX_UPDATE_BYTES:
        assert response.status_code == 200  # from Telegram, so never a status it would retry
        return
    assert response.status_code == 200, response.text
    sent = assert_sent_well(site)
    if not group:
        assert sent, "a private message got no answer"
    assert_no_failure_logged(caplog)
    await assert_all_stored_valid(site.database.uow, [("telegram", str(ANA))])


@st.composite
def callback_data(draw: st.DrawFn, ids: list[str]) -> str:
    """What arrives in ``callback_data``: our packing of any payload (when it fits), or any
    text at all (a forged update, an old client)."""
    payload = draw(payloads(ids, surrogates=False))
    packed = draw(st.booleans())
    if packed:
        try:
            return pack_payload(payload)
        except ValueError:
            pass
    return payload


@examples(50)
@given(data=st.data(), group=st.booleans(), first=names)
@example(data=None, group=False, first="Ana")
async def test_any_callback_data_is_answered_and_changes_only_what_it_may(
    site: Site,
    caplog: pytest.LogCaptureFixture,
    data: st.DataObject | None,
    group: bool,
    first: str,
) -> None:
    caplog.set_level(logging.INFO)
    await site.reach(states.SUMMARY)
    async with site.database.uow() as uow:
        [household] = await uow.households.list()
        ids = [i.id for i in await uow.invitations.list_for_household(household.id)]
    if data is None:
        value = pack_payload("flow:send")
        user_id = ANA
    else:
        value = data.draw(
            st.one_of(
                callback_data(ids),
                st.sampled_from([f"b|card:{a}:{'0' * 32}" for a in CARD_ACTIONS]),
                st.sampled_from([f"b|flow:{a}" for a in FLOW_ACTIONS] + ["b|", "b", "|", "b||"]),
                strings(surrogates=False, max_size=80),
            ),
            label="callback_data",
        )
        user_id = data.draw(st.sampled_from([ANA, 2002]), label="user")
    before = await assert_all_stored_valid(site.database.uow)
    site.fake.clear()
    update = button_update(user(user_id, first), value, GROUP if group else user_id)
    response = await site.post(update)
    assert response.status_code == 200, response.text
    answered = site.fake.calls_of("answerCallbackQuery")
    assert [c.params["callback_query_id"] for c in answered] == [update["callback_query"]["id"]], (
        "the button kept spinning"
    )
    sent = assert_sent_well(site)
    if not group:
        assert sent, "a press in private got no answer"
    assert_no_failure_logged(caplog)
    after = await assert_all_stored_valid(site.database.uow, [("telegram", str(ANA))])
    if user_id != ANA or group:
        # Someone else's press (or one in a group) never changes Ana's invitations.
        assert after.invitations == before.invitations


_claimants = itertools.count(5000)


@examples(30)
@given(first=names, last=st.one_of(st.none(), names))
@example(first="\u202e\u0000", last=None)
@example(first="ﷺ" * 10, last="ﷺ" * 10)
async def test_claiming_with_any_telegram_name_stores_a_valid_name(
    site: Site, caplog: pytest.LogCaptureFixture, first: str, last: str | None
) -> None:
    caplog.set_level(logging.INFO)
    n = next(_claimants)
    code = await site.world.household(address=f"{n} Any Street")
    site.fake.clear()
    response = await site.post(message_update(user(n, first, last), f"/start {code}", n))
    assert response.status_code == 200
    [sent] = assert_sent_well(site)
    assert "You are now the head" in sent["text"], sent["text"]
    assert_no_failure_logged(caplog)
    await assert_all_stored_valid(site.database.uow)


def _nested(depth: int) -> bytes:
    return b'{"update_id": 1, "x": ' + b"[" * depth + b"]" * depth + b"}"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | strings(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(strings(max_size=8), inner),
    max_leaves=12,
)
raw_bodies = st.one_of(
    st.binary(max_size=200),
    st.integers(1, 60_000).map(_nested),
    json_values.map(lambda value: json.dumps(value).encode()),
    # A message whose text holds NUL and lone surrogates, escaped as JSON allows.
    texts().map(lambda text: json.dumps(message_update(user(ANA, "Ana"), text, ANA)).encode()),
    st.builds(
        lambda text, cut: json.dumps(message_update(user(ANA, "Ana"), text, ANA)).encode()[:cut],
        texts(surrogates=False, long=False),
        st.integers(0, 400),
    ),
)


@examples(40)
@given(body=raw_bodies)
@example(body=_nested(50_000))
@example(body=json.dumps(message_update(user(ANA, "Ana"), "/help\x00\ud800", ANA)).encode())
@example(body=b'{"update_id": ' + b"9" * 400 + b"}")
async def test_any_body_with_the_secret_is_200_and_stores_only_valid_rows(
    site: Site, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    """Whatever comes with the right secret token (deep nesting, bad UTF-8, any JSON, NUL and
    lone surrogates, a cut-off update): 200, so Telegram stops sending it; never a failure."""
    caplog.set_level(logging.INFO)
    response = await site.client.post(
        "/telegram/webhook", content=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET_TOKEN}
    )
    await site.hook.drain()
    assert response.status_code == 200, response.text
    assert_sent_well(site)
    assert_no_failure_logged(caplog)
    await assert_all_stored_valid(site.database.uow, [("telegram", str(ANA))])
