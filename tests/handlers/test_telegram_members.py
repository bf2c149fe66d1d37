"""Household changes on Telegram (issue 14), through the real adapter and its webhook against
the fake Bot API: the head's Remove, Make head and Rename on /household, a member's Leave
household, the hand-over's Accept and Decline (a chat notification with inline buttons,
delivered from the outbox by :class:`TelegramChatSender`), the history, and presses nobody
but the head may make. Each test checks what Telegram was asked to show and what the
database holds afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from bot import messages as msg
from bot.delivery import DeliveryError, Dispatcher, PermanentDeliveryError, RetryPolicy
from bot.domain import (
    Channel,
    Household,
    InvitationStatus,
    Member,
    OutboxMessage,
    Role,
    Route,
)
from bot.handover import request_buttons
from bot.language import ENGLISH
from bot.replies import NOTICE_BUTTONS, Button, notice_data
from handlers.telegram.bot import make_bot
from handlers.telegram.render import pack_payload, unpack_payload
from handlers.telegram.sender import TelegramChatSender
from tests.chat import deliver_all, recording_routes
from tests.handlers import test_telegram
from tests.handlers.fake_telegram import Call, FakeTelegram
from tests.handlers.test_telegram import _TOKEN, ANA, MARIA, SAM, Site, labels

fake = test_telegram.fake  # the fixtures of the webhook tests
site = test_telegram.site

ADDRESS = "12 Oak Lane"


# --- the scene -------------------------------------------------------------------------------


@pytest.fixture
async def chats(site: Site) -> AsyncIterator[Dispatcher]:
    """The outbox dispatcher: chat notices for Telegram go out through the real
    :class:`TelegramChatSender` to the fake Bot API, invitations to the recording sender."""
    sender = TelegramChatSender(make_bot(site.fake.token, api_base=site.fake.url))
    dispatcher = Dispatcher(
        uow_factory=site.database.uow,
        ctx=site.world.ctx,
        senders={**recording_routes(site.world.sender), Route(Channel.CHAT, "telegram"): sender},
        retry=RetryPolicy(max_attempts=3),
    )
    try:
        yield dispatcher
    finally:
        await sender.close()


@dataclass(frozen=True)
class Home:
    household_id: str
    ana: str
    """Ana's member id: she claimed the household with /join CODE."""
    maria: str
    """Maria's member id: she joined with the deep link /start <token>."""
    token: str
    """The token of the invitation Maria accepted."""


async def home_of_two(site: Site, chats: Dispatcher) -> Home:
    """Ana claims 12 Oak Lane with /join CODE and invites Maria by email; Maria opens the
    Telegram deep link of her invitation; Ana is told on Telegram."""
    code = await site.world.household()
    await site.say(ANA, f"/join {code}")
    assert "You are now the head of the household at 12 Oak Lane" in site.last_text(ANA)
    await site.say(ANA, "/invite email Maria Ruiz maria@example.com")
    await site.press(ANA, "Send Invite")
    await deliver_all(chats)
    found = _TOKEN.search(site.world.sender.sent[-1].body)
    assert found is not None
    await site.say(MARIA, f"/start {found.group(1)}")
    assert site.last_text(MARIA).startswith("🎉 Welcome, Maria Ruiz!")
    await deliver_all(chats)
    assert site.last_text(ANA) == msg.NOTIFY_ACCEPTED.format(name="Maria Ruiz")
    async with site.database.uow() as uow:
        [household] = await uow.households.list()
        ana, maria = await uow.members.list_for_household(household.id)
    assert (ana.name, ana.role, maria.name, maria.role) == (
        "Ana Lopez",
        Role.HEAD,
        "Maria Ruiz",
        Role.MEMBER,
    )
    return Home(household_id=household.id, ana=ana.id, maria=maria.id, token=found.group(1))


async def household_row(site: Site) -> Household:
    async with site.database.uow() as uow:
        [household] = await uow.households.list()
    return household


async def member(site: Site, member_id: str) -> Member:
    async with site.database.uow() as uow:
        found = await uow.members.get(member_id)
    assert found is not None
    return found


async def current_members(site: Site) -> dict[str, Role]:
    async with site.database.uow() as uow:
        [household] = await uow.households.list()
        return {m.name: m.role for m in await uow.members.list_for_household(household.id)}


async def telegram_member(site: Site, user_id: int) -> str | None:
    """The member id a Telegram account is linked to, if any."""
    async with site.database.uow() as uow:
        identity = await uow.identities.get(platform="telegram", external_id=str(user_id))
    return identity.member_id if identity is not None else None


async def history(site: Site, household_id: str) -> list[str]:
    async with site.database.uow() as uow:
        events = await uow.events.list_for_household(household_id, limit=100)
    return [event.kind.value for event in events]


async def snapshot(site: Site, home: Home) -> Any:
    """Everything a press on a member's buttons could change."""
    household = await household_row(site)
    people = [await member(site, home.ana), await member(site, home.maria)]
    return (
        household.head_member_id,
        household.head_request_member_id,
        household.head_request_at,
        [(m.name, m.role, m.left_at) for m in people],
        await telegram_member(site, ANA),
        await telegram_member(site, MARIA),
        await history(site, home.household_id),
    )


def card_of(site: Site, chat_id: int, name: str) -> Call:
    """The newest member card naming ``name`` in a chat."""
    for call in reversed(site.shown(chat_id)):
        if str(call.params["text"]).startswith(f"• {name}"):
            return call
    raise AssertionError(f"no member card for {name!r}")


def press_on(call: Call, label: str) -> tuple[str, int]:
    """The callback data of the button ``label`` on one message, and the message's id."""
    for row in call.params["reply_markup"]["inline_keyboard"]:
        for button in row:
            if button["text"] == label:
                assert call.message_id is not None
                return button["callback_data"], call.message_id
    raise AssertionError(f"no button {label!r} on {call.params['text']!r}")


# --- /household ------------------------------------------------------------------------------


async def test_the_heads_household_shows_the_members_buttons(site: Site, chats: Dispatcher) -> None:
    await home_of_two(site, chats)
    before = len(site.shown(ANA))
    await site.say(ANA, "/household")
    title, ana_card, maria_card, *_ = site.shown(ANA)[before:]
    assert title.params["text"].startswith(f"🏠 {ADDRESS}")
    assert msg.MEMBERS_TITLE in title.params["text"]
    assert labels(title) == [["History"]]
    assert ana_card.params["text"] == "• Ana Lopez (head)"
    assert labels(ana_card) == [["Rename"]]  # the head is neither removed nor made head
    assert maria_card.params["text"].startswith("• Maria Ruiz · ")
    assert "maria@example.com" not in maria_card.params["text"]  # the contact is masked
    assert labels(maria_card) == [["Rename", "Make head", "Remove"]]
    remove = maria_card.params["reply_markup"]["inline_keyboard"][0][2]
    assert remove["style"] == "danger"


async def test_a_members_household_shows_the_leave_button(site: Site, chats: Dispatcher) -> None:
    await home_of_two(site, chats)
    await site.say(MARIA, "/household")
    [view] = [c for c in site.shown(MARIA) if str(c.params["text"]).startswith(f"🏠 {ADDRESS}")]
    assert "• Ana Lopez (head)" in view.params["text"]
    assert msg.MEMBER_VIEW_NOTE.format(head="Ana Lopez") in view.params["text"]
    assert labels(view) == [["Leave household"]]
    # Nothing of the head's: no member cards, no invitation cards.
    assert not [c for c in site.shown(MARIA) if str(c.params["text"]).startswith("• ")]


# --- Remove ----------------------------------------------------------------------------------


async def test_remove_asks_then_removes_and_the_member_is_told(
    site: Site, chats: Dispatcher
) -> None:
    home = await home_of_two(site, chats)
    await site.say(ANA, "/household")
    await site.press(ANA, "Remove")
    question = site.shown(ANA)[-1]
    assert question.method == "sendMessage"
    assert question.params["text"] == msg.CONFIRM_REMOVE.format(name="Maria Ruiz", address=ADDRESS)
    assert labels(question) == [["Yes, remove", "Keep"]]
    assert (await member(site, home.maria)).is_current  # asking changed nothing

    await site.press(ANA, "Yes, remove")
    done = site.shown(ANA)[-1]
    # replace_previous: the question itself becomes the answer, its buttons gone.
    assert done.method == "editMessageText"
    assert done.message_id == question.message_id
    assert done.params["text"] == msg.REMOVED.format(name="Maria Ruiz", address=ADDRESS)
    assert "reply_markup" not in done.params

    removed = await member(site, home.maria)
    assert removed.left_at is not None and removed.role is Role.MEMBER
    assert await current_members(site) == {"Ana Lopez": Role.HEAD}
    assert await telegram_member(site, MARIA) is None  # her account no longer acts for it
    assert (await history(site, home.household_id))[0] == "removed"

    # Maria is told, on Telegram, by the outbox.
    await deliver_all(chats)
    told = site.shown(MARIA)[-1]
    assert told.method == "sendMessage"
    assert told.params["text"] == msg.NOTIFY_REMOVED.format(
        head="Ana Lopez", address=ADDRESS, community="Oak Ridge HOA"
    )
    assert "reply_markup" not in told.params  # a notice without buttons, as before

    # She is in no household now, and her old deep link admits nobody.
    await site.say(MARIA, "/household")
    assert site.last_text(MARIA) == msg.NOT_IN_HOUSEHOLD
    await site.say(MARIA, f"/start {home.token}")
    assert site.last_text(MARIA) == msg.INVITE_NOT_VALID
    assert await telegram_member(site, MARIA) is None

    # Ana can invite her again.
    await site.say(ANA, "/invite email Maria Ruiz maria@example.com")
    summary = site.shown(ANA)[-1]
    assert summary.params["text"].startswith(msg.SUMMARY_TITLE)
    assert labels(summary) == [["Send Invite", "Edit", "Cancel"]]
    await site.press(ANA, "Send Invite")
    await deliver_all(chats)
    found = _TOKEN.search(site.world.sender.sent[-1].body)
    assert found is not None and found.group(1) != home.token
    await site.say(MARIA, f"/start {found.group(1)}")
    assert site.last_text(MARIA).startswith("🎉 Welcome, Maria Ruiz!")
    assert await current_members(site) == {"Ana Lopez": Role.HEAD, "Maria Ruiz": Role.MEMBER}
    rejoined = await telegram_member(site, MARIA)
    assert rejoined is not None and rejoined != home.maria  # a new membership
    statuses = sorted(i.status for i in await site.invitations())
    assert statuses == [InvitationStatus.ACCEPTED, InvitationStatus.ACCEPTED]


async def test_keep_leaves_the_member_in_place(site: Site, chats: Dispatcher) -> None:
    home = await home_of_two(site, chats)
    await site.say(ANA, "/household")
    await site.press(ANA, "Remove")
    question = site.shown(ANA)[-1]
    await site.press(ANA, "Keep")
    kept = site.shown(ANA)[-1]
    assert kept.method == "editMessageText" and kept.message_id == question.message_id
    assert kept.params["text"] == msg.KEPT_MEMBER.format(name="Maria Ruiz", address=ADDRESS)
    assert (await member(site, home.maria)).is_current
    assert await telegram_member(site, MARIA) == home.maria


# --- Leave household -------------------------------------------------------------------------


async def test_a_member_leaves_and_the_head_is_told(site: Site, chats: Dispatcher) -> None:
    home = await home_of_two(site, chats)
    await site.say(MARIA, "/household")
    await site.press(MARIA, "Leave household")
    question = site.shown(MARIA)[-1]
    assert question.params["text"] == msg.CONFIRM_LEAVE.format(address=ADDRESS, head="Ana Lopez")
    assert labels(question) == [["Yes, leave", "Stay"]]
    assert (await member(site, home.maria)).is_current

    await site.press(MARIA, "Yes, leave")
    done = site.shown(MARIA)[-1]
    assert done.method == "editMessageText" and done.message_id == question.message_id
    assert done.params["text"] == msg.LEFT.format(address=ADDRESS)
    assert (await member(site, home.maria)).left_at is not None
    assert await current_members(site) == {"Ana Lopez": Role.HEAD}
    assert await telegram_member(site, MARIA) is None
    assert (await history(site, home.household_id))[0] == "left"

    before = len(site.shown(ANA))
    await deliver_all(chats)
    [told] = site.shown(ANA)[before:]
    assert told.method == "sendMessage"
    assert told.params["text"] == msg.NOTIFY_LEFT.format(name="Maria Ruiz", address=ADDRESS)
    await site.say(MARIA, "/household")
    assert site.last_text(MARIA) == msg.NOT_IN_HOUSEHOLD


async def test_the_head_cannot_leave(site: Site, chats: Dispatcher) -> None:
    home = await home_of_two(site, chats)
    before = await snapshot(site, home)
    await site.say(ANA, "/household leave")
    assert site.last_text(ANA).startswith(f"You are the head of {ADDRESS}, so you can't leave")
    await site.press(ANA, data=pack_payload("household:leave_yes"), message_id=1)
    assert site.last_text(ANA).startswith(f"You are the head of {ADDRESS}, so you can't leave")
    assert await snapshot(site, home) == before


# --- Make head -------------------------------------------------------------------------------


async def ask_maria_to_be_head(site: Site, chats: Dispatcher, home: Home) -> Call:
    """Ana presses Make head on Maria's card; Maria gets the request with its buttons."""
    await site.say(ANA, "/household")
    card = card_of(site, ANA, "Maria Ruiz")
    data, message_id = press_on(card, "Make head")
    assert unpack_payload(data) == f"member:make_head:{home.maria}"
    await site.press(ANA, data=data, message_id=message_id)
    asked = site.shown(ANA)[-1]
    assert asked.method == "editMessageText" and asked.message_id == card.message_id
    assert asked.params["text"].startswith(f"Asked Maria Ruiz to become head of {ADDRESS}.")
    household = await household_row(site)
    assert household.head_request_member_id == home.maria
    assert household.head_member_id == home.ana  # Ana stays head until Maria accepts

    before = len(site.shown(MARIA))
    await deliver_all(chats)
    [request] = site.shown(MARIA)[before:]
    assert request.method == "sendMessage"
    assert request.params["text"].startswith(
        f"Ana Lopez asks you to become head of household at {ADDRESS} (Oak Ridge HOA)."
    )
    assert labels(request) == [["Accept", "Decline"]]
    accept, decline = request.params["reply_markup"]["inline_keyboard"][0]
    assert unpack_payload(accept["callback_data"]) == f"head:accept:{home.household_id}"
    assert unpack_payload(decline["callback_data"]) == f"head:decline:{home.household_id}"
    assert accept["style"] == "primary"
    assert request.params["link_preview_options"]["is_disabled"] is True
    return request


async def test_make_head_then_accept_swaps_the_roles(site: Site, chats: Dispatcher) -> None:
    home = await home_of_two(site, chats)
    request = await ask_maria_to_be_head(site, chats, home)
    # While the request is open the head's card offers to cancel it, not to ask again.
    await site.say(ANA, "/household")
    maria_card = card_of(site, ANA, "Maria Ruiz")
    assert labels(maria_card) == [["Rename", "Remove"]]
    [waiting] = [c for c in site.shown(ANA) if c.message_id == maria_card.message_id + 1]
    assert waiting.params["text"].startswith("Waiting for Maria Ruiz to accept the head role")
    assert labels(waiting) == [["Cancel request"]]

    answered = len(site.fake.calls_of("answerCallbackQuery"))
    await site.press(MARIA, "Accept")
    assert len(site.fake.calls_of("answerCallbackQuery")) == answered + 1
    done = site.shown(MARIA)[-1]
    assert done.method == "editMessageText" and done.message_id == request.message_id
    assert done.params["text"] == msg.HEAD_ACCEPTED.format(address=ADDRESS, head="Ana Lopez")

    household = await household_row(site)
    assert household.head_member_id == home.maria
    assert household.head_request_member_id is None
    assert (await member(site, home.maria)).role is Role.HEAD
    assert (await member(site, home.ana)).role is Role.MEMBER
    assert await current_members(site) == {"Maria Ruiz": Role.HEAD, "Ana Lopez": Role.MEMBER}
    assert (await history(site, home.household_id))[:2] == ["head_handed_over", "head_requested"]

    before = len(site.shown(ANA))
    await deliver_all(chats)
    [told] = site.shown(ANA)[before:]
    assert told.params["text"] == msg.NOTIFY_HEAD_ACCEPTED.format(
        name="Maria Ruiz", address=ADDRESS
    )

    # /household agrees: Maria has the head's cards, Ana the member's view.
    before = len(site.shown(MARIA))
    await site.say(MARIA, "/household")
    texts = [str(c.params["text"]) for c in site.shown(MARIA)[before:]]
    assert "• Maria Ruiz (head) · m•••@example.com" in texts
    assert labels(card_of(site, MARIA, "Ana Lopez")) == [["Rename", "Make head", "Remove"]]
    await site.say(ANA, "/household")
    assert msg.MEMBER_VIEW_NOTE.format(head="Maria Ruiz") in site.last_text(ANA)
    assert labels(site.shown(ANA)[-1]) == [["Leave household"]]
    # Ana's old buttons no longer work for her.
    data, message_id = press_on(card_of(site, ANA, "Maria Ruiz"), "Remove")
    await site.press(ANA, data=data.replace("remove", "remove_yes"), message_id=message_id)
    assert site.last_text(ANA) == msg.ONLY_HEAD
    assert (await member(site, home.maria)).is_current
    # The request was answered: pressing Accept again changes nothing.
    await site.press(MARIA, data=accept_data(request), message_id=request.message_id)
    assert site.last_text(MARIA) == msg.HEAD_REQUEST_NOT_OPEN
    assert (await household_row(site)).head_member_id == home.maria


def accept_data(request: Call) -> str:
    return request.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]


async def test_make_head_then_decline_keeps_the_head(site: Site, chats: Dispatcher) -> None:
    home = await home_of_two(site, chats)
    request = await ask_maria_to_be_head(site, chats, home)
    await site.press(MARIA, "Decline")
    done = site.shown(MARIA)[-1]
    assert done.method == "editMessageText" and done.message_id == request.message_id
    assert done.params["text"] == msg.HEAD_DECLINED.format(address=ADDRESS, head="Ana Lopez")

    household = await household_row(site)
    assert household.head_member_id == home.ana
    assert household.head_request_member_id is None and household.head_request_at is None
    assert await current_members(site) == {"Ana Lopez": Role.HEAD, "Maria Ruiz": Role.MEMBER}
    assert (await history(site, home.household_id))[0] == "head_request_declined"

    before = len(site.shown(ANA))
    await deliver_all(chats)
    [told] = site.shown(ANA)[before:]
    assert told.method == "sendMessage"
    assert told.params["text"] == msg.NOTIFY_HEAD_DECLINED.format(
        name="Maria Ruiz", address=ADDRESS
    )
    # No request is open: Make head is offered again, and Accept does nothing now.
    await site.say(ANA, "/household")
    assert labels(card_of(site, ANA, "Maria Ruiz")) == [["Rename", "Make head", "Remove"]]
    await site.press(MARIA, data=accept_data(request), message_id=request.message_id)
    assert site.last_text(MARIA) == msg.HEAD_REQUEST_NOT_OPEN
    assert (await household_row(site)).head_member_id == home.ana


# --- Rename ----------------------------------------------------------------------------------


async def test_rename_asks_for_the_name_and_refuses_a_bad_one(
    site: Site, chats: Dispatcher
) -> None:
    home = await home_of_two(site, chats)
    await site.say(ANA, "/household")
    data, message_id = press_on(card_of(site, ANA, "Maria Ruiz"), "Rename")
    await site.press(ANA, data=data, message_id=message_id)
    ask = site.shown(ANA)[-1]
    assert ask.params["text"] == msg.ASK_NEW_NAME.format(name="Maria Ruiz")
    assert labels(ask) == [["Cancel"]]

    before = len(site.shown(ANA))
    await site.say(ANA, "12345")
    refusal, again = site.shown(ANA)[before:]
    assert refusal.params["text"].startswith("A name needs at least one letter.")
    assert again.params["text"] == msg.ASK_NEW_NAME.format(name="Maria Ruiz")
    assert (await member(site, home.maria)).name == "Maria Ruiz"
    assert "renamed" not in await history(site, home.household_id)

    await site.say(ANA, "  Maria   Ruiz-Diaz ")
    assert site.last_text(ANA) == msg.RENAMED.format(old="Maria Ruiz", new="Maria Ruiz-Diaz")
    assert (await member(site, home.maria)).name == "Maria Ruiz-Diaz"
    assert (await history(site, home.household_id))[0] == "renamed"
    await site.say(ANA, "/household")
    assert card_of(site, ANA, "Maria Ruiz-Diaz").params["text"].startswith("• Maria Ruiz-Diaz · ")
    # The flow ended: more text is not taken as a name.
    await site.say(ANA, "Mallory")
    assert site.last_text(ANA) == msg.NOT_UNDERSTOOD
    assert (await member(site, home.maria)).name == "Maria Ruiz-Diaz"


async def test_a_rename_of_a_member_who_left_meanwhile_ends_the_question(
    site: Site, chats: Dispatcher
) -> None:
    home = await home_of_two(site, chats)
    await site.say(ANA, "/household")
    data, message_id = press_on(card_of(site, ANA, "Maria Ruiz"), "Rename")
    await site.press(ANA, data=data, message_id=message_id)
    await site.say(MARIA, "/household leave")
    await site.press(MARIA, "Yes, leave")
    await site.say(ANA, "Maria R")
    assert site.last_text(ANA) == msg.NOT_A_MEMBER_NOW.format(name="Maria Ruiz")
    assert (await member(site, home.maria)).name == "Maria Ruiz"
    # The question is over: what Ana types next is not taken as Maria's name again.
    await site.say(ANA, "hello")
    assert site.last_text(ANA) == msg.NOT_UNDERSTOOD


# --- history ---------------------------------------------------------------------------------


async def test_history_lists_the_events_newest_first(site: Site, chats: Dispatcher) -> None:
    home = await home_of_two(site, chats)
    await site.say(ANA, "/household")
    await site.press(ANA, "Remove")
    await site.press(ANA, "Yes, remove")

    await site.say(ANA, "/household history")
    shown = site.shown(ANA)[-1]
    assert shown.params["text"].startswith(msg.HISTORY_TITLE.format(address=ADDRESS))
    lines = str(shown.params["text"]).split("\n\n", 1)[1].splitlines()
    assert [line.split(" · ", 1)[1] for line in lines] == [
        "Ana Lopez removed Maria Ruiz.",
        "Maria Ruiz accepted the invitation on Telegram.",
        "Ana Lopez invited Maria Ruiz by email (m•••@example.com).",  # masked
        "Ana Lopez claimed the household as head.",
    ]
    assert await history(site, home.household_id) == ["removed", "accepted", "invited", "claimed"]

    # The History button on /household shows the same.
    await site.say(ANA, "/household")
    await site.press(ANA, "History")
    assert site.last_text(ANA) == shown.params["text"]
    # Only the head sees it.
    await site.say(SAM, "/household history")
    assert site.last_text(SAM) == msg.NOT_IN_HOUSEHOLD


# --- presses nobody but the head may make ----------------------------------------------------


@pytest.mark.parametrize("action", ["remove_yes", "make_head", "rename", "remove", "keep"])
async def test_a_stranger_pressing_the_heads_member_buttons_changes_nothing(
    site: Site, chats: Dispatcher, action: str
) -> None:
    home = await home_of_two(site, chats)
    before, sent = await snapshot(site, home), len(site.world.sender.sent)
    ana_sees = len(site.shown(ANA))
    await site.press(SAM, data=pack_payload(f"member:{action}:{home.maria}"), message_id=1)
    refusal = site.shown(SAM)[-1]
    assert refusal.method == "sendMessage"
    assert refusal.params["text"] == msg.NOT_IN_HOUSEHOLD
    assert "Maria" not in refusal.params["text"]
    # Not in the rename flow either: what SAM types next is not a name.
    await site.say(SAM, "Mallory")
    assert site.last_text(SAM) == msg.NOT_UNDERSTOOD
    await deliver_all(chats)
    assert await snapshot(site, home) == before
    assert len(site.shown(ANA)) == ana_sees  # nobody was told anything
    assert len(site.world.sender.sent) == sent
    assert await telegram_member(site, SAM) is None


@pytest.mark.parametrize(
    ("action", "whom"),
    [
        ("remove_yes", "ana"),  # the head
        ("make_head", "maria"),  # herself
        ("rename", "ana"),
        ("rename", "maria"),
        ("cancel_request", "maria"),
    ],
)
async def test_a_plain_member_pressing_the_heads_member_buttons_changes_nothing(
    site: Site, chats: Dispatcher, action: str, whom: str
) -> None:
    home = await home_of_two(site, chats)
    target = home.ana if whom == "ana" else home.maria
    before, maria_sees = await snapshot(site, home), len(site.shown(MARIA))
    ana_sees = len(site.shown(ANA))
    await site.press(MARIA, data=pack_payload(f"member:{action}:{target}"), message_id=1)
    [refusal] = site.shown(MARIA)[maria_sees:]
    assert refusal.method == "sendMessage"
    assert refusal.params["text"] == msg.ONLY_HEAD
    await site.say(MARIA, "Mallory Ruiz")
    assert site.last_text(MARIA) == msg.NOT_UNDERSTOOD
    await deliver_all(chats)
    assert await snapshot(site, home) == before
    assert len(site.shown(ANA)) == ana_sees  # nobody was told anything
    assert await current_members(site) == {"Ana Lopez": Role.HEAD, "Maria Ruiz": Role.MEMBER}


async def test_a_stranger_cannot_answer_a_head_request(site: Site, chats: Dispatcher) -> None:
    home = await home_of_two(site, chats)
    request = await ask_maria_to_be_head(site, chats, home)
    before = await snapshot(site, home)
    for user_id in (SAM, ANA):
        await site.press(user_id, data=accept_data(request), message_id=request.message_id)
    assert site.last_text(SAM) == msg.NOT_IN_HOUSEHOLD
    assert site.last_text(ANA) == msg.HEAD_REQUEST_NOT_OPEN
    assert await snapshot(site, home) == before
    assert (await household_row(site)).head_member_id == home.ana


def test_payloads_of_the_member_buttons_fit_in_callback_data() -> None:
    member_id = "f" * 32
    for payload in [
        f"member:cancel_request:{member_id}",
        f"member:remove_yes:{member_id}",
        f"head:decline:{member_id}",
        "household:leave_yes",
    ]:
        assert unpack_payload(pack_payload(payload)) == payload


# --- the chat sender on its own --------------------------------------------------------------


def notice(data: dict[str, str]) -> OutboxMessage:
    now = datetime.now(UTC)
    return OutboxMessage(
        channel=Channel.CHAT,
        platform="telegram",
        destination=str(MARIA),
        body="Ana Lopez asks you to become head.",
        data=data,
        created_at=now,
        next_attempt_at=now,
    )


async def test_the_chat_sender_renders_a_notices_buttons_and_nothing_else(
    fake: FakeTelegram,
) -> None:
    sender = TelegramChatSender(make_bot(fake.token, api_base=fake.url))
    household_id = "a" * 32
    try:
        await sender.send(notice(notice_data(request_buttons(ENGLISH, household_id))))
        # A line that is not a button is left out; no buttons at all: plain text, as before.
        await sender.send(notice({NOTICE_BUTTONS: "not a button\nOops||"}))
        await sender.send(notice({}))
        with_buttons, garbled, plain = fake.calls_of("sendMessage")
        assert labels(with_buttons) == [["Accept", "Decline"]]
        [[accept, decline]] = with_buttons.params["reply_markup"]["inline_keyboard"]
        assert unpack_payload(accept["callback_data"]) == f"head:accept:{household_id}"
        assert unpack_payload(decline["callback_data"]) == f"head:decline:{household_id}"
        for call in (garbled, plain):
            assert "reply_markup" not in call.params
            assert call.params["text"] == "Ana Lopez asks you to become head."
            assert call.params["link_preview_options"]["is_disabled"] is True

        # A payload too long for callback_data can never be sent: permanent, nothing sent.
        too_long = notice_data((Button("Accept", "head:accept:" + "f" * 64),))
        with pytest.raises(PermanentDeliveryError):
            await sender.send(notice(too_long))
        # Telegram's refusals map as they always did, buttons or not.
        fake.fail_next("sendMessage", "Forbidden: bot was blocked by the user", 403)
        with pytest.raises(PermanentDeliveryError):
            await sender.send(notice(notice_data(request_buttons(ENGLISH, household_id))))
        fake.fail_next("sendMessage", "Internal Server Error", 500)
        with pytest.raises(DeliveryError) as failed:
            await sender.send(notice(notice_data(request_buttons(ENGLISH, household_id))))
        assert not isinstance(failed.value, PermanentDeliveryError)
    finally:
        await sender.close()
    assert len(fake.calls_of("sendMessage")) == 5
