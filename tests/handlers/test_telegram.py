"""The Telegram adapter through its real webhook endpoint, with aiogram talking to a loopback
fake of the Bot API: updates in as JSON, Bot API calls out, on every SQL backend."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiogram.types import Update
from starlette.applications import Starlette

from bot import messages as msg
from bot.domain import InvitationStatus
from bot.engine import Engine
from bot.invitation_page import Outcome, account_link_token, answer_on_page
from bot.language import Words
from bot.replies import Button, Event, Reply, Style
from bot.sms_inbound import InboundSms, handle_inbound_sms
from handlers.settings import Settings
from handlers.telegram.bot import (
    CONTINUE_IN_PRIVATE,
    TelegramAdapter,
    bot_from_settings,
    make_bot,
)
from handlers.telegram.render import (
    MAX_CALLBACK_DATA,
    keyboard,
    message_text,
    pack_payload,
    unpack_payload,
)
from handlers.telegram.updates import UpdateIntake
from handlers.telegram.webhook import TelegramWebhook
from storage import Database
from tests.handlers.fake_telegram import BOT_USERNAME, Call, FakeTelegram
from tests.storage.databases import SQL_BACKENDS, fresh_database, fresh_databases
from tests.unit.conftest import SECRET, World

SECRET_TOKEN = "telegram-webhook-secret-0123456789"
ANA, MARIA = 1001, 2002
GROUP = -100200300
_update_ids = itertools.count(500_000)
_message_ids = itertools.count(1)
_TOKEN = re.compile(r"/i/([A-Za-z0-9_-]{43})")


def user(user_id: int) -> dict[str, Any]:
    first, last = {ANA: ("Ana", "Lopez"), MARIA: ("Maria", "Ruiz")}.get(user_id, ("Sam", "Lee"))
    return {"id": user_id, "is_bot": False, "first_name": first, "last_name": last}


def chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": user(chat_id)["first_name"]}
    return {"id": chat_id, "type": "group", "title": "Oak Ridge neighbours"}


def message_update(
    user_id: int, text: str, chat_id: int | None = None, update_id: int | None = None
) -> dict[str, Any]:
    """An update carrying a text message from ``user_id``, as Telegram sends it."""
    return {
        "update_id": update_id or next(_update_ids),
        "message": {
            "message_id": next(_message_ids),
            "date": int(time.time()),
            "chat": chat(chat_id or user_id),
            "from": user(user_id),
            "text": text,
        },
    }


def button_update(user_id: int, data: str, *, message_id: int, query_id: str) -> dict[str, Any]:
    """An update for a press of an inline button (``data``) on our message ``message_id``."""
    return {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": query_id,
            "from": user(user_id),
            "chat_instance": "ci-1",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": chat(user_id),
                "from": {"id": 1, "is_bot": True, "first_name": "Oak Ridge"},
                "text": "…",
            },
        },
    }


def find_button(calls: list[Call], label: str) -> tuple[str, int]:
    """The callback data of the newest button with this label among ``calls``, and the id
    of the message it is on."""
    for call in reversed(calls):
        markup = call.params.get("reply_markup") or {}
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if button["text"] == label and "callback_data" in button:
                    assert call.message_id is not None
                    return button["callback_data"], call.message_id
    raise AssertionError(f"no button {label!r} among the messages")


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
    adapter: TelegramAdapter
    hook: TelegramWebhook
    presses: int = field(default=0)

    async def post(
        self, update: dict[str, Any], *, secret: str | None = SECRET_TOKEN
    ) -> httpx.Response:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        response = await self.client.post("/telegram/webhook", json=update, headers=headers)
        await self.hook.drain()
        return response

    async def say(
        self, user_id: int, text: str, *, chat_id: int | None = None, update_id: int | None = None
    ) -> httpx.Response:
        response = await self.post(message_update(user_id, text, chat_id, update_id))
        assert response.status_code == 200
        return response

    def button(self, user_id: int, label: str) -> tuple[str, int]:
        """The callback data of the newest button with this label in the chat, and the id
        of the message it is on."""
        return find_button(self.shown(user_id), label)

    async def press(
        self,
        user_id: int,
        label: str = "",
        *,
        data: str | None = None,
        message_id: int | None = None,
        update_id: int | None = None,
    ) -> httpx.Response:
        if data is None:
            data, message_id = self.button(user_id, label)
        self.presses += 1
        update = button_update(
            user_id, data, message_id=message_id or 1, query_id=f"cq-{self.presses}"
        )
        if update_id is not None:
            update["update_id"] = update_id
        response = await self.post(update)
        assert response.status_code == 200
        return response

    def shown(self, chat_id: int) -> list[Call]:
        """Messages sent or edited in a chat, oldest first."""
        return [
            call
            for call in self.fake.calls
            if call.method in ("sendMessage", "editMessageText")
            and str(call.params.get("chat_id")) == str(chat_id)
        ]

    def last_text(self, chat_id: int) -> str:
        return str(self.shown(chat_id)[-1].params["text"])

    async def invitations(self):
        async with self.database.uow() as uow:
            households = await uow.households.list()
            return [i for h in households for i in await uow.invitations.list_for_household(h.id)]


@pytest.fixture(params=SQL_BACKENDS)
async def site(
    request: pytest.FixtureRequest, tmp_path: Path, fake: FakeTelegram
) -> AsyncIterator[Site]:
    async with fresh_database(request.param, tmp_path) as database:
        world = World(uow_factory=database.uow)
        adapter = TelegramAdapter(world.engine, make_bot(fake.token, api_base=fake.url))
        intake = UpdateIntake(adapter=adapter, uow_factory=database.uow, clock=world.clock)
        hook = TelegramWebhook(intake=intake, secret=SECRET_TOKEN)
        app = Starlette(routes=hook.routes)
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://10.0.0.5:8000"
            ) as client:
                yield Site(
                    client=client,
                    world=world,
                    database=database,
                    fake=fake,
                    adapter=adapter,
                    hook=hook,
                )
        finally:
            await hook.drain()
            await adapter.close()


async def head(site: Site) -> None:
    code = await site.world.household()
    await site.say(ANA, f"/start {code}")
    assert "You are now the head of the household at 12 Oak Lane" in site.last_text(ANA)


def labels(call: Call) -> list[list[str]]:
    return [[b["text"] for b in row] for row in call.params["reply_markup"]["inline_keyboard"]]


# --- the flows -------------------------------------------------------------------------------


async def test_start_with_an_access_code_claims_the_household(site: Site) -> None:
    await head(site)
    [claimed] = site.shown(ANA)
    assert "parse_mode" not in claimed.params
    async with site.database.uow() as uow:
        [household] = await uow.households.list()
        members = await uow.members.list_for_household(household.id)
    assert [m.name for m in members] == ["Ana Lopez"]


async def test_the_whole_invite_flow_with_buttons(site: Site) -> None:
    await head(site)
    await site.say(ANA, "/invite")
    ask = site.shown(ANA)[-1]
    assert ask.params["text"] == msg.ASK_METHOD
    assert labels(ask) == [["Email", "SMS Text", "Cancel"]]

    await site.press(ANA, "SMS Text")
    assert site.last_text(ANA) == msg.ASK_NAME
    await site.say(ANA, "Maria Ruiz")
    assert "Maria Ruiz" in site.last_text(ANA)
    await site.say(ANA, "+1 202 555 0199")
    summary = site.shown(ANA)[-1]
    assert summary.params["text"].startswith(msg.SUMMARY_TITLE)
    assert labels(summary) == [["Send Invite", "Edit", "Cancel"]]
    primary = summary.params["reply_markup"]["inline_keyboard"][0][0]
    assert primary["style"] == "primary"

    await site.press(ANA, "Send Invite")
    sent = site.shown(ANA)[-1]
    # replace_previous: the summary card itself becomes the confirmation.
    assert sent.method == "editMessageText"
    assert sent.message_id == summary.message_id
    assert "Maria Ruiz" in sent.params["text"]
    assert labels(sent) == [["OK"]]
    await site.press(ANA, "OK")
    assert site.shown(ANA)[-1].method == "editMessageText"

    # Every press was answered, so no button kept spinning.
    answered = [c.params["callback_query_id"] for c in site.fake.calls_of("answerCallbackQuery")]
    assert answered == ["cq-1", "cq-2", "cq-3"]
    [invitation] = await site.invitations()
    assert invitation.status is InvitationStatus.PENDING
    await site.world.deliver()
    assert _TOKEN.search(site.world.sender.sent[-1].body)


async def test_household_cards_and_cancel(site: Site) -> None:
    await head(site)
    await site.say(ANA, "/invite email Maria Ruiz maria@example.com")
    await site.press(ANA, "Send Invite")
    await site.say(ANA, "/household")
    card = site.shown(ANA)[-1]
    assert labels(card) == [["Copy Invite Link"], ["Resend"], ["Cancel Invite"]]
    await site.press(ANA, "Copy Invite Link")
    copies = site.shown(ANA)[-2:]
    assert all(c.method == "sendMessage" for c in copies)
    link = _TOKEN.search(copies[0].params["text"])
    assert link is not None
    copy_button = copies[0].params["reply_markup"]["inline_keyboard"][-1][0]
    assert copy_button["copy_text"]["text"].endswith(link.group(0))
    assert copies[0].params["link_preview_options"]["is_disabled"] is True

    await site.press(ANA, "Cancel Invite")
    await site.press(ANA, "Yes, cancel it")
    done = site.shown(ANA)[-1]
    assert done.method == "editMessageText"
    assert done.params["text"] == msg.CANCELLED.format(name="Maria Ruiz")
    [invitation] = await site.invitations()
    assert invitation.status is InvitationStatus.CANCELLED


async def test_a_one_shot_invite_then_start_with_the_token_accepts(site: Site) -> None:
    await head(site)
    await site.say(ANA, "/invite email Maria Ruiz maria@example.com")
    assert site.last_text(ANA).startswith(msg.SUMMARY_TITLE)
    await site.press(ANA, "Send Invite")
    await site.world.deliver()
    found = _TOKEN.search(site.world.sender.sent[-1].body)
    assert found is not None

    await site.say(MARIA, f"/start {found.group(1)}")
    assert site.last_text(MARIA).startswith("🎉 Welcome, Maria Ruiz!")
    [invitation] = await site.invitations()
    assert invitation.status is InvitationStatus.ACCEPTED
    async with site.database.uow() as uow:
        identity = await uow.identities.get(platform="telegram", external_id=str(MARIA))
    assert identity is not None


# --- what must not work ----------------------------------------------------------------------


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET_TOKEN + "x"])
async def test_a_missing_or_forged_secret_gets_401_and_runs_nothing(
    site: Site, secret: str | None
) -> None:
    code = await site.world.household()
    update = message_update(ANA, f"/start {code}")
    response = await site.post(update, secret=secret)
    assert response.status_code == 401
    assert site.fake.calls == []
    # Nothing was recorded either: the real delivery of the same update still works.
    assert (await site.post(update)).status_code == 200
    assert "You are now the head" in site.last_text(ANA)


@pytest.mark.parametrize("body", [b"{not json", b'{"update_id": "x"}', b"[]"])
async def test_an_update_that_cannot_be_read_is_taken_and_ignored(site: Site, body: bytes) -> None:
    """It came with the secret, so it is Telegram's: anything but 200 would only bring it
    back again and again."""
    response = await site.client.post(
        "/telegram/webhook",
        content=body,
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET_TOKEN},
    )
    await site.hook.drain()
    assert response.status_code == 200
    assert site.fake.calls == []


@pytest.mark.parametrize(
    "data",
    [
        "card:cancel:" + "0" * 32,  # an engine payload without our packing
        "b|card:cancel_yes:" + "0" * 32,  # packed, but no such invitation
        "b|flow:delete_everything",
        "zz|garbage",
        "",
    ],
)
async def test_tampered_callback_data_gets_a_friendly_reply_and_changes_nothing(
    site: Site, data: str
) -> None:
    await head(site)
    await site.say(ANA, "/invite email Maria Ruiz maria@example.com")
    await site.press(ANA, "Send Invite")
    _, message_id = site.button(ANA, "OK")
    before = len(site.shown(ANA))
    await site.press(ANA, data=data, message_id=message_id)
    assert len(site.shown(ANA)) == before + 1
    reply = site.shown(ANA)[-1]
    assert reply.method == "sendMessage"
    assert reply.params["text"]
    assert len(site.fake.calls_of("answerCallbackQuery")) == 2
    [invitation] = await site.invitations()
    assert invitation.status is InvitationStatus.PENDING


async def test_the_same_update_twice_has_one_effect(site: Site) -> None:
    await head(site)
    await site.say(ANA, "/invite email Maria Ruiz maria@example.com")
    data, message_id = site.button(ANA, "Send Invite")
    before = len(site.fake.effects)
    await site.press(ANA, data=data, message_id=message_id, update_id=777)
    await site.press(ANA, data=data, message_id=message_id, update_id=777)
    assert len(site.fake.effects) == before + 2  # one edit, one answered query
    assert len(await site.invitations()) == 1
    await site.world.deliver()
    assert len(site.world.sender.sent) == 1


async def test_a_group_command_is_sent_to_a_private_chat(site: Site) -> None:
    code = await site.world.household()
    await site.say(ANA, f"/start@{BOT_USERNAME} {code}", chat_id=GROUP)
    [answer] = site.shown(GROUP)
    # The code was posted where the neighbours read it: taken down, and the head warned.
    assert answer.params["text"] == msg.TELEGRAM_SECRET_IN_GROUP
    [deleted] = site.fake.calls_of("deleteMessage")
    assert str(deleted.params["chat_id"]) == str(GROUP)
    [[button]] = answer.params["reply_markup"]["inline_keyboard"]
    assert button["url"] == f"https://t.me/{BOT_USERNAME}"
    assert answer.params["reply_parameters"]["allow_sending_without_reply"] is True
    await site.say(ANA, "/invite", chat_id=GROUP)
    assert site.shown(GROUP)[-1].params["text"] == CONTINUE_IN_PRIVATE
    assert len(site.shown(GROUP)) == 2
    # The button carries the command on: the private chat opens with /start invite.
    [[button]] = site.shown(GROUP)[-1].params["reply_markup"]["inline_keyboard"]
    assert button["url"] == f"https://t.me/{BOT_USERNAME}?start=invite"
    # Chatter, and commands for another bot, get nothing.
    await site.say(ANA, "hello neighbours", chat_id=GROUP)
    await site.say(ANA, "/start@some_other_bot", chat_id=GROUP)
    await site.say(ANA, "/weather", chat_id=GROUP)
    assert len(site.shown(GROUP)) == 2
    assert site.shown(ANA) == []
    # The flow never ran: the household is still unclaimed.
    async with site.database.uow() as uow:
        [household] = await uow.households.list()
        assert await uow.members.list_for_household(household.id) == []


async def test_set_commands_publishes_the_menu(site: Site) -> None:
    await site.adapter.set_commands()
    english, spanish = site.fake.calls_of("setMyCommands")
    for call in (english, spanish):
        assert [c["command"] for c in call.params["commands"]] == [
            "start",
            "invite",
            "household",
            "join",
            "help",
            "cancel",
            "language",
        ]
        assert call.params["scope"] == {"type": "all_private_chats"}
    # English for everyone; Spanish for the people whose Telegram is set to Spanish.
    assert "language_code" not in english.params
    assert english.params["commands"][1]["description"] == "Invite someone to your household"
    assert spanish.params["language_code"] == "es"
    assert spanish.params["commands"][1]["description"] == Words("es")(
        "Invite someone to your household"
    )
    assert spanish.params["commands"][1]["description"] != "Invite someone to your household"


async def test_a_card_that_can_no_longer_be_edited_is_sent_anew(site: Site) -> None:
    await head(site)
    await site.say(ANA, "/invite email Maria Ruiz maria@example.com")
    site.fake.fail_next("editMessageText", "Bad Request: message to edit not found")
    await site.press(ANA, "Send Invite")
    assert [c.method for c in site.shown(ANA)[-2:]] == ["editMessageText", "sendMessage"]
    assert "Maria Ruiz" in site.last_text(ANA)
    assert len(site.fake.calls_of("answerCallbackQuery")) == 1


async def test_telegram_has_its_answer_before_the_update_is_handled(site: Site) -> None:
    """So a slow Bot API call never makes Telegram time out and deliver the update again."""
    code = await site.world.household()
    response = await site.client.post(
        "/telegram/webhook",
        json=message_update(ANA, f"/start {code}"),
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET_TOKEN},
    )
    assert response.status_code == 200
    assert site.hook.intake.busy and site.shown(ANA) == []  # answered, not yet handled
    await site.hook.drain()
    assert "You are now the head" in site.last_text(ANA)


async def test_flood_control_is_waited_out_so_a_long_list_arrives_whole(site: Site) -> None:
    await head(site)
    await site.say(ANA, "/invite email Maria Ruiz maria@example.com")
    await site.press(ANA, "Send Invite")
    before = len(site.shown(ANA))
    site.fake.fail_next("sendMessage", "Too Many Requests: retry after 1", 429, retry_after=1)
    await site.say(ANA, "/household")
    texts = [str(c.params["text"]) for c in site.shown(ANA)[before:]]
    # The first send was refused (429) and sent again after the wait; the cards followed
    # (the head's own member card, then the invitation).
    assert texts[0] == texts[1] and texts[0].startswith("🏠 12 Oak Lane")
    assert texts[2] == "• Ana Lopez (head)"
    assert "Maria Ruiz" in texts[3]


async def test_a_shared_contact_answers_the_phone_question(site: Site) -> None:
    await head(site)
    await site.say(ANA, "/invite sms Maria Ruiz")
    update = message_update(ANA, "")
    del update["message"]["text"]
    update["message"]["contact"] = {"phone_number": "+12025550199", "first_name": "Maria"}
    await site.post(update)
    assert site.last_text(ANA).startswith(msg.SUMMARY_TITLE)
    assert "+1 202 555 0199" in site.last_text(ANA)


# --- rendering -------------------------------------------------------------------------------


def test_every_engine_payload_fits_in_callback_data() -> None:
    longest = "card:resend_same:" + "f" * 32
    for payload in [longest, "flow:resend_existing", "flow:edit:contact"]:
        packed = pack_payload(payload)
        assert len(packed.encode()) <= MAX_CALLBACK_DATA
        assert unpack_payload(packed) == payload
    with pytest.raises(ValueError):
        pack_payload("x" * 70)
    assert unpack_payload("b|" + "x" * 70) is None


def test_replies_render_as_plain_text_and_rows() -> None:
    reply = Reply(
        "Hi <b>*there*</b>",
        title="Title",
        buttons=(
            Button("A", "flow:a"),
            Button("B", "flow:b", Style.DANGER),
            Button("C", "flow:c"),
            Button("D", "flow:d"),
            Button("A much longer label", "flow:e"),
        ),
        link="https://hoa.example/i/x",
    )
    assert message_text(reply) == "Title\n\nHi <b>*there*</b>\n\nhttps://hoa.example/i/x"
    markup = keyboard(reply)
    assert markup is not None
    rows = [[b.text for b in row] for row in markup.inline_keyboard]
    assert rows == [["A", "B", "C"], ["D"], ["A much longer label"], ["📋 Copy link"]]
    assert markup.inline_keyboard[0][1].style == "danger"
    assert keyboard(Reply("plain")) is None


async def test_the_bot_from_settings_talks_to_the_configured_api_server(
    fake: FakeTelegram,
) -> None:
    assert bot_from_settings(Settings(secret_key=SECRET.decode())) is None
    bot = bot_from_settings(
        Settings(
            secret_key=SECRET.decode(), telegram_bot_token=fake.token, telegram_api_base=fake.url
        )
    )
    assert bot is not None
    try:
        assert (await bot.me()).username == BOT_USERNAME
    finally:
        await bot.session.close()
    assert [c.method for c in fake.calls] == ["getMe"]


# --- /start and its deep links ---------------------------------------------------------------

SAM = 3003


async def test_a_bare_start_welcomes_a_newcomer_and_helps_a_member(site: Site) -> None:
    await site.say(SAM, "/start")
    assert site.last_text(SAM) == msg.WELCOME_START
    await head(site)
    await site.say(ANA, "/start")
    assert site.last_text(ANA).startswith("I help the head of a household")


async def test_start_with_a_command_runs_it(site: Site) -> None:
    """The group chat's "open a private chat" button opens ``?start=invite``."""
    await head(site)
    await site.say(ANA, "/start invite")
    assert site.last_text(ANA) == msg.ASK_METHOD
    await site.say(ANA, "/start household")
    household, own_card, invitations = site.shown(ANA)[-3:]
    assert household.params["text"].startswith("🏠 12 Oak Lane")
    assert own_card.params["text"] == "• Ana Lopez (head)"
    assert invitations.params["text"] == msg.NO_INVITATIONS


async def test_open_in_telegram_from_the_welcome_page_links_the_account(site: Site) -> None:
    await head(site)
    await site.say(ANA, "/invite email Maria Ruiz maria@example.com")
    await site.press(ANA, "Send Invite")
    await site.world.deliver()
    found = _TOKEN.search(site.world.sender.sent[-1].body)
    assert found is not None
    async with site.database.uow() as uow:
        answer = await answer_on_page(
            uow, site.world.ctx, token=found.group(1), accept=True, browser="b" * 16
        )
        await uow.commit()
    assert answer.outcome is Outcome.DONE
    async with site.database.uow() as uow:
        [household] = await uow.households.list()
        [maria] = [m for m in await uow.members.list_for_household(household.id) if not m.is_head]
    link = account_link_token(site.world.ctx, maria.id)

    await site.say(MARIA, f"/start {link}")
    assert site.last_text(MARIA) == msg.ACCOUNT_LINKED.format(
        name="Maria Ruiz", address="12 Oak Lane"
    )
    await site.say(MARIA, "/household")
    assert "Maria Ruiz" in site.last_text(MARIA)
    # A leaked link links nobody else, and says so.
    await site.say(SAM, f"/start {link}")
    assert site.last_text(SAM) == msg.ACCOUNT_LINK_USED
    async with site.database.uow() as uow:
        assert await uow.identities.get(platform="telegram", external_id=str(SAM)) is None
        linked = await uow.identities.get(platform="telegram", external_id=str(MARIA))
    assert linked is not None and linked.member_id == maria.id


class Failing:
    """A unit-of-work factory that fails with ``error``: the database cannot be reached
    (``ConnectionRefusedError``), or a bug."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __call__(self) -> Any:
        raise self.error


async def test_when_the_engine_has_a_bug_the_person_is_told(site: Site) -> None:
    broken = TelegramAdapter(
        Engine(uow_factory=Failing(RuntimeError("a bug")), ctx=site.world.ctx), site.adapter.bot
    )
    intake = UpdateIntake(adapter=broken, uow_factory=site.database.uow, clock=site.world.clock)
    update = Update.model_validate(message_update(ANA, "/invite"), context={"bot": broken.bot})
    stored = await intake.accept(update)
    assert stored is not None
    await intake.handle(stored)
    assert site.last_text(ANA) == msg.SOMETHING_WENT_WRONG


async def test_when_the_database_is_away_the_update_is_taken_again_not_apologised_for(
    site: Site,
) -> None:
    """Nothing changed, and it will work in a moment: the update is put off (not forgotten),
    and the person gets the real answer when it is taken again."""
    away = TelegramAdapter(
        Engine(uow_factory=Failing(ConnectionRefusedError("down")), ctx=site.world.ctx),
        site.adapter.bot,
    )
    intake = UpdateIntake(adapter=away, uow_factory=site.database.uow, clock=site.world.clock)
    update = Update.model_validate(message_update(ANA, "/help"), context={"bot": away.bot})
    stored = await intake.accept(update)
    assert stored is not None
    await intake.handle(stored)
    assert site.shown(ANA) == []
    site.world.clock.advance(seconds=intake.durable.lease.total_seconds())
    assert await site.hook.intake.durable.take_over() == 1  # a process whose database is back
    await site.hook.intake.drain()
    assert len(site.shown(ANA)) == 1 and site.last_text(ANA) != msg.SOMETHING_WENT_WRONG


async def test_resend_sends_again_and_edits_nothing_else(site: Site) -> None:
    await head(site)
    await site.say(ANA, "/invite email Maria Ruiz maria@example.com")
    await site.press(ANA, "Send Invite")
    await site.world.deliver()
    await site.say(ANA, "/household")
    await site.press(ANA, "Resend")
    assert site.last_text(ANA).startswith("Sent the invitation to Maria Ruiz again.")
    await site.world.deliver()
    assert len(site.world.sender.sent) == 2
    first, second = (_TOKEN.search(m.body) for m in site.world.sender.sent)
    assert first and second and first.group(1) == second.group(1)  # the same link


async def test_a_member_who_is_not_the_head_cannot_press_the_heads_buttons(site: Site) -> None:
    await head(site)
    await site.say(ANA, "/invite email Maria Ruiz maria@example.com")
    await site.press(ANA, "Send Invite")
    await site.say(ANA, "/invite email Sam Lee sam@example.com")
    await site.press(ANA, "Send Invite")
    await site.world.deliver()
    maria_link = next(
        found.group(1)
        for m in site.world.sender.sent
        if m.destination == "maria@example.com" and (found := _TOKEN.search(m.body))
    )
    await site.say(MARIA, f"/join {maria_link}")
    assert site.last_text(MARIA).startswith("🎉 Welcome, Maria Ruiz!")
    await site.say(ANA, "/household")
    for label in ("Cancel Invite", "Resend", "Copy Invite Link"):
        data, message_id = site.button(ANA, label)  # the card of Sam's invitation
        await site.press(MARIA, data=data, message_id=message_id)
        assert site.last_text(MARIA) == msg.ONLY_HEAD
    data, message_id = site.button(ANA, "Cancel Invite")
    await site.press(MARIA, data=data.replace("cancel", "cancel_yes"), message_id=message_id)
    assert site.last_text(MARIA) == msg.ONLY_HEAD
    statuses = {i.invitee_name: i.status for i in await site.invitations()}
    assert statuses == {
        "Maria Ruiz": InvitationStatus.ACCEPTED,
        "Sam Lee": InvitationStatus.PENDING,
    }
    await site.world.deliver()
    assert [m.destination for m in site.world.sender.sent].count("sam@example.com") == 1


async def test_quick_messages_of_one_person_are_taken_in_order(site: Site) -> None:
    """Telegram sends the next update as soon as it has our 200, which comes before the
    update is handled: a name and an email typed in quick succession must still be the
    name and the email."""
    await head(site)
    await site.say(ANA, "/invite email")
    for text in ("Maria Ruiz", "maria@example.com"):
        response = await site.client.post(
            "/telegram/webhook",
            json=message_update(ANA, text),
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET_TOKEN},
        )
        assert response.status_code == 200
    await site.hook.drain()
    assert site.last_text(ANA).startswith(msg.SUMMARY_TITLE)
    assert "maria@example.com" in site.last_text(ANA) and "Maria Ruiz" in site.last_text(ANA)


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_two_processes_taking_one_persons_steps_at_once_lose_neither(
    backend: str, tmp_path: Path, fake: FakeTelegram
) -> None:
    """Two servers, each with its own connection pool, take the same person's next two
    steps at the same moment: the conversation row is locked, so one waits for the other
    and neither step is lost."""
    async with fresh_databases(backend, tmp_path, count=2) as (first, second):
        world = World(uow_factory=first.uow)
        code = await world.household()
        ana = world.person(str(ANA), "Ana", platform="telegram")
        await ana.say(f"/join {code}")
        await ana.say("/invite email Maria Ruiz maria@example.com")
        engines = [
            Engine(uow_factory=first.uow, ctx=world.ctx),
            Engine(uow_factory=second.uow, ctx=world.ctx),
        ]
        # Send Invite pressed twice at once (a double tap), each press taken by another process.
        replies = await asyncio.gather(
            engines[0].handle(ana.actor, Event.press("flow:send")),
            engines[1].handle(ana.actor, Event.press("flow:send")),
        )
        async with first.uow() as uow:
            [household] = await uow.households.list()
            invitations = await uow.invitations.list_for_household(household.id)
            conversation = await uow.conversations.get(platform="telegram", user_id=str(ANA))
    assert len(invitations) == 1
    texts = sorted(r[0].text for r in replies)
    assert texts[0] == msg.STALE_BUTTON and texts[1].startswith("✅ Invitation sent")
    assert conversation is not None and conversation.state == "idle"


# --- in Spanish: a head whose Telegram is set to Spanish (language_code: es) ------------

ES = Words("es")
PHONE = "+12025550199"
_ids = itertools.count(900_000)


def spanish_message(user_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": next(_ids),
        "message": {
            "message_id": next(_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "Ana"},
            "from": {
                "id": user_id,
                "is_bot": False,
                "first_name": "Ana",
                "last_name": "López",
                "language_code": "es",
            },
            "text": text,
        },
    }


def spanish_press(user_id: int, data: str, message_id: int) -> dict[str, Any]:
    return {
        "update_id": next(_ids),
        "callback_query": {
            "id": f"cq-es-{next(_ids)}",
            "from": {"id": user_id, "is_bot": False, "first_name": "Ana", "language_code": "es"},
            "chat_instance": "ci-es",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": user_id, "type": "private", "first_name": "Ana"},
                "from": {"id": 1, "is_bot": True, "first_name": "Oak Ridge"},
                "text": "…",
            },
        },
    }


async def say(site: Site, text: str) -> None:
    response = await site.post(spanish_message(ANA, text))
    assert response.status_code == 200


async def press(site: Site, label: str) -> None:
    data, message_id = site.button(ANA, label)
    response = await site.post(spanish_press(ANA, data, message_id))
    assert response.status_code == 200


async def test_a_spanish_head_invites_end_to_end_in_spanish(site: Site) -> None:
    code = await site.world.household()
    await say(site, f"/start {code}")
    assert site.last_text(ANA) == ES(msg.CLAIMED, address="12 Oak Lane", community="Oak Ridge HOA")

    await say(site, "/invite")
    ask = site.shown(ANA)[-1]
    assert ask.params["text"] == ES(msg.ASK_METHOD) != msg.ASK_METHOD
    assert labels(ask) == [[ES(msg.BTN_EMAIL)], [ES(msg.BTN_SMS), ES(msg.BTN_CANCEL)]] or labels(
        ask
    ) == [[ES(msg.BTN_EMAIL), ES(msg.BTN_SMS), ES(msg.BTN_CANCEL)]]
    await press(site, ES(msg.BTN_SMS))
    assert site.last_text(ANA) == ES(msg.ASK_NAME)
    await say(site, "María Ruiz")
    await say(site, "202 555 0199")
    summary = site.shown(ANA)[-1].params["text"]
    assert summary.startswith(ES(msg.SUMMARY_TITLE)) and "Español" in summary
    await press(site, ES(msg.BTN_SEND))
    [invitation] = await site.invitations()
    sent = site.last_text(ANA)
    assert sent == ES(
        msg.SENT, name="María Ruiz", method=msg.BTN_SMS, expires=invitation.expires_at
    )
    assert invitation.language == "es"

    await site.world.deliver()
    [sms] = [m.body for m in site.world.sender.sent if m.destination == PHONE]
    assert "UNIRME" in sms and "Hola Maria Ruiz" in sms

    async with site.database.uow() as uow:
        reply = await handle_inbound_sms(
            uow, site.world.ctx, InboundSms(sender=PHONE, body="UNIRME", message_id="SMes1")
        )
        await uow.commit()
    assert reply is not None and "Maria Ruiz" in reply and "María" not in reply  # GSM-7 spelling
    [invitation] = await site.invitations()
    assert invitation.status is InvitationStatus.ACCEPTED
    await site.world.deliver()
    told = [m.body for m in site.world.sender.sent if m.destination == str(ANA)]
    assert ES(msg.NOTIFY_ACCEPTED, name="María Ruiz") in told


async def test_the_card_buttons_and_the_copy_button_are_spanish(site: Site) -> None:
    code = await site.world.household()
    await say(site, f"/start {code}")
    await say(site, "/invite email María Ruiz maria@example.com")
    await press(site, ES(msg.BTN_SEND))
    await say(site, "/household")
    card = site.shown(ANA)[-1]
    assert labels(card) == [[ES(msg.BTN_COPY)], [ES(msg.BTN_RESEND)], [ES(msg.BTN_CANCEL_INVITE)]]
    await press(site, ES(msg.BTN_COPY))
    copy = site.shown(ANA)[-2]
    assert copy.params["reply_markup"]["inline_keyboard"][-1][0]["text"] == ES(msg.COPY_LINK_BUTTON)
