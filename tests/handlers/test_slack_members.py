"""Household changes in Slack (issue 14), through the real endpoint ``POST /slack/events``
and the loopback fake of the Web API: the head's member buttons on the home tab and in the
DM (Remove in Slack's own confirm dialog, Make head, Rename, History), a member's Leave,
the hand-over request with its Accept and Decline, and presses of the head's payloads by
anyone else. The outbox is delivered through the real :class:`SlackChatSender`, so a chat
notification (and its buttons) is what the fake Web API received; each test also checks the
database afterwards, on every SQL backend."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bot import messages as msg
from bot.delivery import Dispatcher, RetryPolicy
from bot.domain import (
    Channel,
    ChannelIdentity,
    Household,
    HouseholdEvent,
    InvitationStatus,
    Member,
    Role,
    Route,
)
from bot.language import ENGLISH
from bot.replies import Reply
from handlers.slack import render
from handlers.slack.bot import SlackAdapter
from handlers.slack.client import make_client
from handlers.slack.sender import SlackChatSender
from handlers.slack.webhook import SlackEvents
from tests.handlers.fake_slack import Call, FakeSlack, dm_of
from tests.handlers.slack_workspace import (
    SIGNING_SECRET,
    buttons,
    labels,
    labels_of_view,
    view_text,
)
from tests.handlers.test_slack import ANA, MARIA, SAM, Site, head
from tests.storage.databases import SQL_BACKENDS, fresh_database
from tests.unit.conftest import World

ADDRESS = "12 Oak Lane"
COMMUNITY = "Oak Ridge HOA"
_LINK = re.compile(r"https://hoa\.example/i/[A-Za-z0-9_-]{43}")


def slack_text(text: str) -> str:
    """An engine sentence as the Slack adapter posts it (commands as typed, escaped)."""
    return render.escape(render.slack_commands(text))


@dataclass
class MemberSite(Site):
    """The Slack site, with an outbox dispatcher whose chat messages go through the real
    Slack sender (invitations by email and text are recorded by ``world.sender``)."""

    dispatcher: Dispatcher
    delivered: list[Call] = field(default_factory=list)
    """The chat.postMessage calls the outbox made (the Slack sender's), oldest first."""

    async def deliver(self) -> None:
        """Send everything due, then wait for the home tabs the sender refreshes."""
        await self.adapter.drain()
        before = len(self.fake.calls)
        while await self.dispatcher.run_once():
            pass
        await self.adapter.drain()
        self.delivered += [c for c in self.fake.calls[before:] if c.method == "chat.postMessage"]

    async def household(self) -> Household:
        async with self.database.uow() as uow:
            [household] = [h for h in await uow.households.list() if h.address == ADDRESS]
            return household

    async def members(self) -> list[Member]:
        """The current members, head first."""
        household = await self.household()
        async with self.database.uow() as uow:
            return list(await uow.members.list_for_household(household.id))

    async def member(self, member_id: str) -> Member:
        async with self.database.uow() as uow:
            member = await uow.members.get(member_id)
        assert member is not None
        return member

    async def accounts(self, member_id: str) -> list[ChannelIdentity]:
        async with self.database.uow() as uow:
            return list(await uow.identities.list_for_member(member_id))

    async def events(self) -> list[HouseholdEvent]:
        household = await self.household()
        async with self.database.uow() as uow:
            return list(await uow.events.list_for_household(household.id, limit=100))

    async def state_of(self, user: str) -> str:
        async with self.database.uow() as uow:
            conversation = await uow.conversations.get(platform="slack", user_id=user)
        return conversation.state if conversation is not None else "idle"

    async def snapshot(self) -> tuple[object, ...]:
        """Everything a member change could touch, to compare before and after."""
        household = await self.household()
        async with self.database.uow() as uow:
            members = await uow.members.list_for_household(household.id)
            everyone = [await uow.members.get(m.id) for m in members]
            accounts = {
                m.id: sorted(i.external_id for i in await uow.identities.list_for_member(m.id))
                for m in members
            }
            invitations = await uow.invitations.list_for_household(household.id)
        return (
            household.head_member_id,
            household.head_request_member_id,
            household.head_request_at,
            [(m.id, m.name, m.role, m.left_at) for m in everyone if m is not None],
            accounts,
            sorted((i.id, i.status, i.nonce) for i in invitations),
            len(await self.events()),
        )

    def element(self, user: str, value: str) -> tuple[dict[str, Any], str]:
        """The newest button in the user's DM whose value is ``value``, and its message."""
        for call in reversed(self.shown(user)):
            for element in buttons(call.params.get("blocks") or []):
                if element["value"] == value:
                    assert call.ts is not None
                    return element, call.ts
        raise AssertionError(f"no button with value {value!r} shown to {user}")

    async def press_value(self, user: str, value: str) -> None:
        """Press the button the DM shows with this value (on its own message)."""
        element, ts = self.element(user, value)
        await self.press(user, value=value, action_id=element["action_id"], ts=ts)

    def notifications(self, user: str) -> list[Call]:
        """The chat.postMessage calls the outbox made to the user's DM (the sender's)."""
        return [c for c in self.delivered if c.params.get("channel") == dm_of(user)]


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


@pytest.fixture(params=SQL_BACKENDS)
async def site(
    request: pytest.FixtureRequest, tmp_path: Path, fake: FakeSlack
) -> AsyncIterator[MemberSite]:
    async with fresh_database(request.param, tmp_path) as database:
        world = World(uow_factory=database.uow)
        adapter = SlackAdapter(
            world.engine,
            make_client(fake.token, api_base=fake.url),
            signing_secret=SIGNING_SECRET,
        )
        chat = SlackChatSender.refreshing_homes(adapter)
        dispatcher = Dispatcher(
            uow_factory=database.uow,
            ctx=world.ctx,
            senders={
                Route(Channel.EMAIL): world.sender,
                Route(Channel.SMS): world.sender,
                Route(Channel.CHAT, "slack"): chat,
            },
            retry=RetryPolicy(max_attempts=3),
        )
        events = SlackEvents(adapter)
        app = Starlette(routes=events.routes)
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="https://invites.example.org"
            ) as client:
                yield MemberSite(
                    client=client,
                    world=world,
                    database=database,
                    fake=fake,
                    adapter=adapter,
                    dispatcher=dispatcher,
                )
        finally:
            await chat.close()
            await events.close()


@dataclass(frozen=True)
class Ids:
    household: str
    ana: str
    maria: str
    link: str
    """The invitation link Maria joined with."""


async def invite(site: MemberSite, name: str, email: str) -> str:
    """Ana invites someone by email; the link the email carried."""
    await site.command(ANA, "/invite", f"email {name} {email}")
    assert site.last_text(ANA).startswith(msg.SUMMARY_TITLE), site.last_text(ANA)
    await site.press(ANA, msg.BTN_SEND)
    await site.deliver()
    found = _LINK.search(site.world.sender.sent[-1].body)
    assert found is not None
    return found.group(0)


async def with_maria(site: MemberSite) -> Ids:
    """Ana claims 12 Oak Lane and invites Maria by email; Maria pastes the link in her DM
    with the app (as Slack sends a pasted link: in angle brackets)."""
    await head(site, ANA)
    link = await invite(site, "Maria Ruiz", "maria@example.com")
    await site.say(MARIA, f"<{link}>")
    assert site.last_text(MARIA) == msg.WELCOME.format(
        name="Maria Ruiz", address=ADDRESS, community=COMMUNITY
    )
    await site.deliver()  # Ana is told, through the Slack sender
    ana, maria = await site.members()
    assert (ana.name, ana.role, maria.name, maria.role) == (
        "Ana Lopez",
        Role.HEAD,
        "Maria Ruiz",
        Role.MEMBER,
    )
    return Ids(household=(await site.household()).id, ana=ana.id, maria=maria.id, link=link)


def view_buttons(call: Call) -> dict[str, dict[str, Any]]:
    """The buttons of a published or opened view, by value."""
    return {e["value"]: e for e in buttons(call.params["view"]["blocks"])}


# --- the head's buttons ----------------------------------------------------------------------


async def test_the_heads_home_tab_shows_the_member_with_remove_make_head_rename_and_history(
    site: MemberSite,
) -> None:
    ids = await with_maria(site)
    # The acceptance notice went through the Slack sender: no buttons, as before.
    [accepted] = site.notifications(ANA)
    body = msg.NOTIFY_ACCEPTED.format(name="Maria Ruiz")
    as_before = render.message(Reply(body))
    assert {k: accepted.params[k] for k in as_before} == as_before
    assert labels(accepted) == []

    await site.open_home(ANA)
    home = site.home(ANA)
    assert labels_of_view(home) == [
        msg.SLACK_BTN_INVITE,
        msg.BTN_HISTORY,
        msg.BTN_RENAME,  # Ana's own card: only Rename
        msg.BTN_RENAME,
        msg.BTN_MAKE_HEAD,
        msg.BTN_REMOVE,
    ]
    text = view_text(home)
    assert "• Ana Lopez (head)" in text and "• Maria Ruiz" in text
    by_value = view_buttons(home)
    assert by_value["household:history"]["text"]["text"] == msg.BTN_HISTORY
    assert by_value[f"member:rename:{ids.ana}"]["text"]["text"] == msg.BTN_RENAME
    assert by_value[f"member:rename:{ids.maria}"]["text"]["text"] == msg.BTN_RENAME
    assert by_value[f"member:make_head:{ids.maria}"]["text"]["text"] == msg.BTN_MAKE_HEAD
    # Remove asks in Slack's own dialog, whose Yes sends the confirmed payload at once.
    remove = by_value[f"member:remove_yes:{ids.maria}"]
    assert remove["text"]["text"] == msg.BTN_REMOVE and remove["style"] == "danger"
    assert remove["confirm"] == {
        "title": {"type": "plain_text", "text": msg.CONFIRM_REMOVE_TITLE, "emoji": True},
        "text": {
            "type": "plain_text",
            "text": msg.CONFIRM_REMOVE.format(name="Maria Ruiz", address=ADDRESS),
            "emoji": True,
        },
        "confirm": {"type": "plain_text", "text": msg.BTN_CONFIRM_REMOVE, "emoji": True},
        "deny": {"type": "plain_text", "text": msg.BTN_KEEP_MEMBER, "emoji": True},
        "style": "danger",
    }
    assert f"member:remove:{ids.maria}" not in by_value
    assert not any(v.endswith(ids.ana) and "rename" not in v for v in by_value)

    # Maria's home tab: the household without the head's buttons, and Leave.
    await site.open_home(MARIA)
    assert labels_of_view(site.home(MARIA)) == [msg.BTN_LEAVE]
    assert view_buttons(site.home(MARIA))["household:leave"]["style"] == "danger"
    # The database: both in, each with their Slack account.
    assert [(m.id, m.is_current) for m in await site.members()] == [
        (ids.ana, True),
        (ids.maria, True),
    ]
    assert [(a.external_id, a.chat_id) for a in await site.accounts(ids.maria)] == [
        (MARIA, dm_of(MARIA))
    ]


async def test_removing_a_member_with_the_confirmed_press(site: MemberSite) -> None:
    ids = await with_maria(site)
    await site.open_home(ANA)
    [invitation] = await site.invitations()
    # Ana said Yes in Slack's dialog: the press carries member:remove_yes:<id>.
    await site.press_on_view(ANA, msg.BTN_REMOVE, view=site.home(ANA))
    [modal] = site.fake.calls_of("views.open")
    assert render.escape(msg.REMOVED.format(name="Maria Ruiz", address=ADDRESS)) in view_text(modal)

    # Maria is out: her row stays, left; her Slack account no longer acts for the household;
    # the link she joined with is void.
    assert [m.id for m in await site.members()] == [ids.ana]
    removed = await site.member(ids.maria)
    assert removed.left_at is not None and removed.role is Role.MEMBER
    assert await site.accounts(ids.maria) == []
    [after] = await site.invitations()
    assert after.status is InvitationStatus.ACCEPTED and after.nonce != invitation.nonce
    [event, *_] = await site.events()
    assert (event.kind.value, event.subject_member_id, event.actor_member_id, event.via) == (
        "removed",
        ids.maria,
        ids.ana,
        "slack",
    )

    # Ana's home tab was published again, without Maria's card and buttons.
    home = site.home(ANA)
    assert labels_of_view(home) == [msg.SLACK_BTN_INVITE, msg.BTN_HISTORY, msg.BTN_RENAME]
    assert "• Maria Ruiz" not in view_text(home) and "• Ana Lopez (head)" in view_text(home)

    # Maria is told in her DM.
    await site.deliver()
    [told] = site.notifications(MARIA)
    assert told.params["text"] == render.escape(
        msg.NOTIFY_REMOVED.format(head="Ana Lopez", address=ADDRESS, community=COMMUNITY)
    )
    assert labels(told) == []
    # And her home tab is published again: no household, only how to join one.
    assert "/household join ACCESS-CODE" in view_text(site.home(MARIA))
    assert "Maria Ruiz" not in view_text(site.home(MARIA))

    # Her old link, pasted again, is not valid; she is in no household.
    await site.say(MARIA, f"<{ids.link}>")
    assert site.last_text(MARIA) == render.escape(msg.INVITE_NOT_VALID)
    await site.command(MARIA, "/household")
    assert site.last_text(MARIA) == slack_text(msg.NOT_IN_HOUSEHOLD)
    assert [m.id for m in await site.members()] == [ids.ana]

    # Ana can invite her again, and she joins again as a new member.
    link = await invite(site, "Maria Ruiz", "maria@example.com")
    assert link != ids.link
    invitations = await site.invitations()
    assert sorted(i.status.value for i in invitations) == ["accepted", "pending"]
    await site.say(MARIA, f"<{link}>")
    assert site.last_text(MARIA).startswith("🎉 Welcome, Maria Ruiz!")
    ana, again = await site.members()
    assert ana.id == ids.ana and again.id != ids.maria and again.is_current
    assert [a.external_id for a in await site.accounts(again.id)] == [MARIA]


async def test_a_member_leaves_and_the_head_is_told(site: MemberSite) -> None:
    ids = await with_maria(site)
    await site.command(MARIA, "/household")
    card = site.shown(MARIA)[-1]
    assert labels(card) == [msg.BTN_LEAVE]
    assert msg.MEMBER_VIEW_NOTE.format(head="Ana Lopez") in card.params["text"]

    # Leave asks first; Stay changes nothing.
    await site.press(MARIA, msg.BTN_LEAVE)
    question = site.shown(MARIA)[-1]
    assert question.params["text"] == msg.CONFIRM_LEAVE.format(address=ADDRESS, head="Ana Lopez")
    assert labels(question) == [msg.BTN_CONFIRM_LEAVE, msg.BTN_STAY]
    await site.press(MARIA, msg.BTN_STAY)
    assert site.shown(MARIA)[-1].method == "chat.update"
    assert site.last_text(MARIA) == msg.STAYED.format(address=ADDRESS)
    assert [m.id for m in await site.members()] == [ids.ana, ids.maria]

    # /household leave asks the same question.
    await site.command(MARIA, "/household", "leave")
    question = site.shown(MARIA)[-1]
    assert question.params["text"] == msg.CONFIRM_LEAVE.format(address=ADDRESS, head="Ana Lopez")
    assert labels(question) == [msg.BTN_CONFIRM_LEAVE, msg.BTN_STAY]
    await site.press(MARIA, msg.BTN_CONFIRM_LEAVE)
    left = site.shown(MARIA)[-1]
    assert left.method == "chat.update" and left.ts == question.ts
    assert left.params["text"] == msg.LEFT.format(address=ADDRESS)

    assert [m.id for m in await site.members()] == [ids.ana]
    assert (await site.member(ids.maria)).left_at is not None
    assert await site.accounts(ids.maria) == []
    [event, *_] = await site.events()
    assert (event.kind.value, event.subject_member_id) == ("left", ids.maria)
    # Her home tab (published after her press) says she is in no household.
    assert slack_text(msg.NOT_IN_HOUSEHOLD) in view_text(site.home(MARIA))

    await site.deliver()
    told = site.notifications(ANA)[-1]
    assert told.params["text"] == msg.NOTIFY_LEFT.format(name="Maria Ruiz", address=ADDRESS)
    assert labels(told) == []


# --- handing over the head role --------------------------------------------------------------


async def ask_maria_to_take_over(site: MemberSite, ids: Ids) -> Call:
    """Ana presses Make head on Maria's card in her DM; the request reaches Maria's DM."""
    await site.command(ANA, "/household")
    await site.press_value(ANA, f"member:make_head:{ids.maria}")
    asked = site.shown(ANA)[-1]
    assert asked.method == "chat.update"
    assert asked.params["text"].startswith(
        f"Asked Maria Ruiz to become head of {ADDRESS}. The request lapses "
    )
    household = await site.household()
    assert household.head_request_member_id == ids.maria
    assert household.head_member_id == ids.ana

    await site.deliver()
    [request] = site.notifications(MARIA)
    assert request.params["text"].startswith(
        f"Ana Lopez asks you to become head of household at {ADDRESS} ({COMMUNITY})."
    )
    [actions] = [b for b in request.params["blocks"] if b["type"] == "actions"]
    accept, decline = actions["elements"]
    assert (accept["text"]["text"], accept["value"], accept["style"]) == (
        msg.BTN_ACCEPT_HEAD,
        f"head:accept:{ids.household}",
        "primary",
    )
    assert (decline["text"]["text"], decline["value"]) == (
        msg.BTN_DECLINE_HEAD,
        f"head:decline:{ids.household}",
    )
    assert "style" not in decline and "confirm" not in accept and "confirm" not in decline
    assert accept["action_id"] != decline["action_id"]
    return request


async def test_make_head_then_the_member_accepts(site: MemberSite) -> None:
    ids = await with_maria(site)
    request = await ask_maria_to_take_over(site, ids)

    await site.press(MARIA, msg.BTN_ACCEPT_HEAD)
    answered = site.shown(MARIA)[-1]
    assert answered.method == "chat.update" and answered.ts == request.ts
    assert answered.params["text"] == msg.HEAD_ACCEPTED.format(address=ADDRESS, head="Ana Lopez")

    household = await site.household()
    assert household.head_member_id == ids.maria
    assert household.head_request_member_id is None and household.head_request_at is None
    assert (await site.member(ids.maria)).role is Role.HEAD
    assert (await site.member(ids.ana)).role is Role.MEMBER
    [event, *_] = await site.events()
    assert (event.kind.value, event.subject_member_id, event.actor_member_id) == (
        "head_handed_over",
        ids.maria,
        ids.ana,
    )

    # /household: Maria now has the head's buttons, Ana a member's view.
    before = len(site.shown(MARIA))
    await site.command(MARIA, "/household")
    cards = site.shown(MARIA)[before:]
    values = {e["value"] for c in cards for e in buttons(c.params["blocks"])}
    assert {f"member:make_head:{ids.ana}", f"member:remove_yes:{ids.ana}"} <= values
    assert "• Maria Ruiz (head)" in " ".join(c.params["text"] for c in cards)
    await site.command(ANA, "/household")
    mine = site.shown(ANA)[-1]
    assert labels(mine) == [msg.BTN_LEAVE]
    assert msg.MEMBER_VIEW_NOTE.format(head="Maria Ruiz") in mine.params["text"]
    # Maria's home tab (after her press) is a head's.
    assert msg.SLACK_BTN_INVITE in labels_of_view(site.home(MARIA))

    await site.deliver()
    told = site.notifications(ANA)[-1]
    assert told.params["text"] == msg.NOTIFY_HEAD_ACCEPTED.format(
        name="Maria Ruiz", address=ADDRESS
    )
    # Ana's old head buttons no longer work.
    before = await site.snapshot()
    await site.press(ANA, value=f"member:remove_yes:{ids.maria}")
    assert site.last_text(ANA) == slack_text(msg.ONLY_HEAD)
    assert await site.snapshot() == before


async def test_make_head_then_the_member_declines(site: MemberSite) -> None:
    ids = await with_maria(site)
    request = await ask_maria_to_take_over(site, ids)
    # While it is open, Ana's home tab offers Cancel request instead of Make head.
    await site.open_home(ANA)
    shown = labels_of_view(site.home(ANA))
    assert msg.BTN_CANCEL_HEAD_REQUEST in shown and msg.BTN_MAKE_HEAD not in shown

    await site.press(MARIA, msg.BTN_DECLINE_HEAD)
    answered = site.shown(MARIA)[-1]
    assert answered.method == "chat.update" and answered.ts == request.ts
    assert answered.params["text"] == msg.HEAD_DECLINED.format(address=ADDRESS, head="Ana Lopez")

    household = await site.household()
    assert household.head_member_id == ids.ana
    assert household.head_request_member_id is None and household.head_request_at is None
    assert (await site.member(ids.ana)).role is Role.HEAD
    assert (await site.member(ids.maria)).role is Role.MEMBER
    [event, *_] = await site.events()
    assert (event.kind.value, event.subject_member_id) == ("head_request_declined", ids.maria)

    await site.deliver()
    told = site.notifications(ANA)[-1]
    assert told.params["text"] == msg.NOTIFY_HEAD_DECLINED.format(
        name="Maria Ruiz", address=ADDRESS
    )
    # Accept on the same (now answered) request changes nothing.
    before = await site.snapshot()
    await site.press(MARIA, value=f"head:accept:{ids.household}")
    assert site.last_text(MARIA) == msg.HEAD_REQUEST_NOT_OPEN
    assert await site.snapshot() == before


# --- rename ----------------------------------------------------------------------------------


async def test_rename_a_member_by_typing_the_new_name(site: MemberSite) -> None:
    ids = await with_maria(site)
    await site.command(ANA, "/household")
    await site.press_value(ANA, f"member:rename:{ids.maria}")
    ask = site.shown(ANA)[-1]
    assert ask.params["text"] == render.escape(msg.ASK_NEW_NAME.format(name="Maria Ruiz"))
    assert labels(ask) == [msg.BTN_CANCEL]

    # A name without a letter is refused, and the question asked again.
    events = len(await site.events())
    await site.say(ANA, "12345")
    refused, again = site.shown(ANA)[-2:]
    assert refused.params["text"].startswith("A name needs at least one letter.")
    assert again.params["text"] == ask.params["text"]
    assert (await site.member(ids.maria)).name == "Maria Ruiz"
    assert len(await site.events()) == events
    assert await site.state_of(ANA) == "members.rename"

    await site.say(ANA, "Maria Ruiz-Lopez")
    assert site.last_text(ANA) == msg.RENAMED.format(old="Maria Ruiz", new="Maria Ruiz-Lopez")
    assert (await site.member(ids.maria)).name == "Maria Ruiz-Lopez"
    assert await site.state_of(ANA) == "idle"
    [event, *_] = await site.events()
    assert (event.kind.value, event.details.get("previous_name")) == ("renamed", "Maria Ruiz")

    # The list shows the new name: in the DM and on the home tab.
    before = len(site.shown(ANA))
    await site.command(ANA, "/household")
    cards = " ".join(c.params["text"] for c in site.shown(ANA)[before:])
    assert "• Maria Ruiz-Lopez" in cards and "• Maria Ruiz ·" not in cards
    assert "• Maria Ruiz-Lopez" in view_text(site.home(ANA))


# --- history ---------------------------------------------------------------------------------


async def household_with_a_past(site: MemberSite) -> tuple[Ids, list[str]]:
    """Ana claims, invites Maria (who joins), renames her, asks her to take over (declined),
    and removes her, a minute apart; the history's sentences, newest first."""
    ids = await with_maria(site)
    site.world.clock.advance(minutes=1)
    await site.command(ANA, "/household")
    await site.press_value(ANA, f"member:rename:{ids.maria}")
    await site.say(ANA, "Maria Ruiz-Lopez")
    site.world.clock.advance(minutes=1)
    await site.command(ANA, "/household")
    await site.press_value(ANA, f"member:make_head:{ids.maria}")
    await site.deliver()
    site.world.clock.advance(minutes=1)
    await site.press(MARIA, msg.BTN_DECLINE_HEAD)
    site.world.clock.advance(minutes=1)
    await site.press(ANA, value=f"member:remove_yes:{ids.maria}")
    assert site.last_text(ANA) == msg.REMOVED.format(name="Maria Ruiz-Lopez", address=ADDRESS)
    return ids, [
        "Ana Lopez removed Maria Ruiz-Lopez.",
        "Maria Ruiz-Lopez declined to become head.",
        "Ana Lopez asked Maria Ruiz-Lopez to become head.",
        "Ana Lopez renamed Maria Ruiz to Maria Ruiz-Lopez.",
        "Maria Ruiz accepted the invitation on Slack.",
        "Ana Lopez invited Maria Ruiz by email (m•••@example.com).",
        "Ana Lopez claimed the household as head.",
    ]


def history_lines(call: Call | dict[str, Any]) -> list[str]:
    """The sentences of a history message (or a view's blocks), without their times."""
    blocks = call["blocks"] if isinstance(call, dict) else call.params["blocks"]
    [section] = [b for b in blocks if b["type"] == "section"]
    return [line.split(" · ", 1)[1] for line in section["text"]["text"].split("\n")]


async def test_the_history_button_lists_the_events_newest_first(site: MemberSite) -> None:
    _, expected = await household_with_a_past(site)
    assert [e.kind.value for e in await site.events()] == [
        "removed",
        "head_request_declined",
        "head_requested",
        "renamed",
        "accepted",
        "invited",
        "claimed",
    ]
    await site.open_home(ANA)
    await site.press_on_view(ANA, msg.BTN_HISTORY, view=site.home(ANA))
    modal = site.fake.calls_of("views.open")[-1]
    blocks = modal.params["view"]["blocks"]
    assert blocks[0] == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": msg.HISTORY_TITLE.format(address=ADDRESS),
            "emoji": True,
        },
    }
    assert history_lines({"blocks": blocks}) == expected
    # The newest is the removal, at the time it happened.
    newest = site.world.clock.now()
    assert blocks[1]["text"]["text"].startswith(f"{ENGLISH.when(newest)} · ")


async def test_household_history_as_a_slash_command(site: MemberSite) -> None:
    _, expected = await household_with_a_past(site)
    await site.command(ANA, "/household", "history")
    shown = site.shown(ANA)[-1]
    assert shown.params["blocks"][0]["text"]["text"] == msg.HISTORY_TITLE.format(address=ADDRESS)
    assert history_lines(shown) == expected


async def test_only_the_head_sees_the_history(site: MemberSite) -> None:
    await with_maria(site)
    await site.press(MARIA, value="household:history")
    assert site.last_text(MARIA) == slack_text(msg.ONLY_HEAD)
    await site.press(SAM, value="household:history")
    assert site.last_text(SAM) == slack_text(msg.NOT_IN_HOUSEHOLD)


# --- what must not work ----------------------------------------------------------------------


@pytest.mark.parametrize("action", ["remove_yes", "make_head", "rename"])
@pytest.mark.parametrize(
    ("who", "refusal"),
    [
        ("stranger", msg.NOT_IN_HOUSEHOLD),
        ("member", msg.ONLY_HEAD),
        ("another head", msg.NOT_YOUR_MEMBER),
    ],
    ids=["stranger", "member", "another-head"],
)
async def test_the_heads_member_buttons_pressed_by_anyone_else_change_nothing(
    site: MemberSite, action: str, who: str, refusal: str
) -> None:
    ids = await with_maria(site)
    if who == "another head":
        code = await site.world.household(address="14 Oak Lane", head_name="Sam Lee")
        await site.command(SAM, "/household", f"join {code}")
        assert "You are now the head of the household at 14 Oak Lane" in site.last_text(SAM)
    user = MARIA if who == "member" else SAM
    # The payload is exactly what Ana's home tab carries for Maria.
    await site.open_home(ANA)
    value = f"member:{action}:{ids.maria}"
    element = view_buttons(site.home(ANA))[value]
    await site.deliver()
    before = await site.snapshot()
    posted = len(site.fake.calls_of("chat.postMessage"))

    await site.press(user, value=value, action_id=element["action_id"])
    reply = site.shown(user)[-1]
    assert reply.method == "chat.postMessage"
    assert reply.params["text"] == slack_text(refusal)
    assert labels(reply) == []
    assert await site.state_of(user) == "idle"
    # Typing a name afterwards renames no one.
    await site.say(user, "Mallory")
    assert site.last_text(user) == slack_text(msg.NOT_UNDERSTOOD)

    await site.deliver()
    assert await site.snapshot() == before
    assert (await site.member(ids.maria)).name == "Maria Ruiz"
    # Only the two answers to the presser were posted: nobody was told anything.
    new = site.fake.calls_of("chat.postMessage")[posted:]
    assert [c.params["channel"] for c in new] == [dm_of(user), dm_of(user)]
