"""The community's residents' Telegram group, gated by household membership (issue 16):
join requests answered through the real adapter and webhook, and the outbox's ``group``
messages carried out by :class:`TelegramGroupSender` against the fake Bot API, whose groups
keep who is in them, who asked, and what the bot may do there."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from bot import messages as msg
from bot.delivery import Dispatcher, RetryPolicy
from bot.domain import Channel, OutboxStatus, Route
from handlers.telegram.bot import make_bot
from handlers.telegram.group import TelegramGroupSender
from handlers.telegram.sender import TelegramChatSender
from tests.chat import deliver_all, recording_routes
from tests.handlers import test_telegram
from tests.handlers.fake_telegram_groups import FakeGroup
from tests.handlers.test_telegram import ANA, MARIA, SAM, Site
from tests.handlers.test_telegram_members import home_of_two

fake = test_telegram.fake  # the fixtures of the webhook tests
site = test_telegram.site

GROUP_ID = -1001234567890
_updates = itertools.count(900_000)


@pytest.fixture
async def outbox(site: Site) -> AsyncIterator[Dispatcher]:
    """The dispatcher: chat notices and group changes to the fake Bot API through the real
    senders, invitations to the recording sender."""
    chat = TelegramChatSender(make_bot(site.fake.token, api_base=site.fake.url))
    group = TelegramGroupSender(make_bot(site.fake.token, api_base=site.fake.url))
    dispatcher = Dispatcher(
        uow_factory=site.database.uow,
        ctx=site.world.ctx,
        senders={
            **recording_routes(site.world.sender),
            Route(Channel.CHAT, "telegram"): chat,
            Route(Channel.GROUP, "telegram"): group,
        },
        retry=RetryPolicy(max_attempts=3),
    )
    try:
        yield dispatcher
    finally:
        await chat.close()
        await group.close()


async def with_group(site: Site, *, rights: set[str] | None = None) -> FakeGroup:
    """The residents' group of Oak Ridge HOA (the community of every household here)."""
    group = site.fake.add_group(FakeGroup(GROUP_ID, username="oakridge_residents"))
    if rights is not None:
        group.rights = rights
    async with site.database.uow() as uow:
        [community] = await uow.communities.list()
        community.telegram_group = str(GROUP_ID)
        await uow.communities.update(community)
        await uow.commit()
    return group


async def ask_to_join(site: Site, group: FakeGroup, user_id: int) -> None:
    update = site.fake.join_request(group, user_id, update_id=next(_updates))
    response = await site.post(update)
    assert response.status_code == 200


def group_calls(site: Site, method: str) -> list[dict[str, object]]:
    return [call.params for call in site.fake.calls_of(method)]


async def test_a_member_is_let_in_and_a_stranger_is_told_how_to_get_in(
    site: Site, outbox: Dispatcher
) -> None:
    await home_of_two(site, outbox)
    group = await with_group(site)
    await ask_to_join(site, group, MARIA)
    await ask_to_join(site, group, SAM)
    await deliver_all(outbox)

    assert group.members == {MARIA}
    assert group.requests == set()
    assert [p["user_id"] for p in group_calls(site, "approveChatJoinRequest")] == [str(MARIA)]
    assert [p["user_id"] for p in group_calls(site, "declineChatJoinRequest")] == [str(SAM)]
    told = site.last_text(SAM)
    assert told == msg.GROUP_REQUEST_DECLINED.format(
        community="Oak Ridge HOA", hoa="board@oakridge.example"
    )
    assert not any("declined" in str(c.params["text"]) for c in site.shown(MARIA))


async def test_the_head_is_let_in_too(site: Site, outbox: Dispatcher) -> None:
    await home_of_two(site, outbox)
    group = await with_group(site)
    await ask_to_join(site, group, ANA)
    await deliver_all(outbox)
    assert group.members == {ANA}


async def test_a_group_no_community_names_is_left_alone(site: Site, outbox: Dispatcher) -> None:
    await home_of_two(site, outbox)
    other = site.fake.add_group(FakeGroup(-100999, title="Book club"))
    await ask_to_join(site, other, MARIA)
    await deliver_all(outbox)
    assert other.requests == {MARIA}  # for the book club's own admins to answer
    assert group_calls(site, "approveChatJoinRequest") == []
    assert group_calls(site, "declineChatJoinRequest") == []


async def test_leaving_takes_the_member_out_without_a_ban(site: Site, outbox: Dispatcher) -> None:
    await home_of_two(site, outbox)
    group = await with_group(site)
    await ask_to_join(site, group, MARIA)
    await deliver_all(outbox)
    assert group.members == {MARIA}

    await site.say(MARIA, "/household leave")
    await site.press(MARIA, "Yes, leave")
    await deliver_all(outbox)
    assert group.members == set() and group.banned == set()
    [unban] = group_calls(site, "unbanChatMember")
    assert unban["only_if_banned"] in (True, "true")
    assert msg.GROUP_REMOVED_LEFT.format(address="12 Oak Lane", community="Oak Ridge HOA") in [
        str(c.params["text"]) for c in site.shown(MARIA)
    ]


async def test_removal_by_the_head_and_deactivation_take_people_out(
    site: Site, outbox: Dispatcher
) -> None:
    from bot import board

    home = await home_of_two(site, outbox)
    group = await with_group(site)
    for person in (ANA, MARIA):
        await ask_to_join(site, group, person)
    await deliver_all(outbox)
    assert group.members == {ANA, MARIA}

    await site.say(ANA, "/household")
    await site.press(ANA, "Remove")
    await site.press(ANA, "Yes, remove")
    await deliver_all(outbox)
    assert group.members == {ANA}
    assert msg.GROUP_REMOVED_REMOVED.format(address="12 Oak Lane", community="Oak Ridge HOA") in [
        str(c.params["text"]) for c in site.shown(MARIA)
    ]

    await board.deactivate_household(
        site.database.uow,
        community_name="Oak Ridge HOA",
        address="12 Oak Lane",
        clock=site.world.clock,
    )
    await deliver_all(outbox)
    assert group.members == set() and group.banned == set()
    # While inactive, Ana's request is declined; the household's members are told why.
    await ask_to_join(site, group, ANA)
    await deliver_all(outbox)
    assert group.members == set()
    assert home.household_id  # (the household stays, inactive)


async def test_leave_and_join_again_ends_in_the_group(site: Site, outbox: Dispatcher) -> None:
    """Nothing is delivered until the end: the removal and the later approval of one person
    go out in the order they were decided."""
    await home_of_two(site, outbox)
    group = await with_group(site)
    await ask_to_join(site, group, MARIA)
    await deliver_all(outbox)
    await site.say(MARIA, "/household leave")
    await site.press(MARIA, "Yes, leave")
    await site.say(ANA, "/invite email Maria Ruiz maria@example.com")
    await site.press(ANA, "Send Invite")
    async with site.database.uow() as uow:  # her new link, as the email will carry it
        [household] = await uow.households.list()
        invitations = await uow.invitations.list_for_household(household.id)
    again = next(i for i in invitations if i.status.value == "pending")
    token = site.world.ctx.tokens.make(again.id, again.nonce)
    await site.say(MARIA, f"/start {token}")
    assert "Welcome" in site.last_text(MARIA), site.last_text(MARIA)
    await ask_to_join(site, group, MARIA)
    await deliver_all(outbox)
    methods = [
        c.method
        for c in site.fake.calls
        if c.method in ("banChatMember", "unbanChatMember", "approveChatJoinRequest")
    ]
    assert methods == [
        "approveChatJoinRequest",
        "banChatMember",
        "unbanChatMember",
        "approveChatJoinRequest",
    ]
    assert group.members == {MARIA}


async def test_a_bot_without_rights_waits_for_the_board_and_says_so(
    site: Site, outbox: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    await home_of_two(site, outbox)
    group = await with_group(site, rights=set())
    await ask_to_join(site, group, MARIA)
    await deliver_all(outbox)
    assert group.members == set() and group.requests == {MARIA}
    assert "the bot may not approve in the Telegram group" in caplog.text
    group.rights = {"can_invite_users", "can_restrict_members"}  # an admin gives them back
    site.world.clock.advance(minutes=5)
    await deliver_all(outbox)
    assert group.members == set()  # not before the wait for the board is over
    site.world.clock.advance(minutes=11)
    await deliver_all(outbox)
    assert group.members == {MARIA}
    assert OutboxStatus.FAILED not in await _statuses(site)


async def test_a_request_settled_meanwhile_or_flood_control(site: Site, outbox: Dispatcher) -> None:
    await home_of_two(site, outbox)
    group = await with_group(site)
    await ask_to_join(site, group, MARIA)
    group.requests.discard(MARIA)  # an admin approved her by hand first
    group.members.add(MARIA)
    await deliver_all(outbox)  # HIDE_REQUESTER_MISSING: nothing left to do, counted as done
    assert group.members == {MARIA}

    await ask_to_join(site, group, ANA)
    site.fake.fail_next(
        "approveChatJoinRequest", "Too Many Requests: retry after 2", 429, retry_after=2
    )
    await deliver_all(outbox)
    assert ANA not in group.members  # flood control: tried again later
    site.world.clock.advance(minutes=1)
    await deliver_all(outbox)
    assert group.members == {MARIA, ANA}
    assert OutboxStatus.FAILED not in await _statuses(site)


async def _statuses(site: Site) -> set[OutboxStatus]:
    from sqlalchemy import text

    async with site.database.engine.connect() as connection:
        rows = await connection.execute(text("SELECT DISTINCT status FROM outbox"))
        return {OutboxStatus(r[0]) for r in rows}


# --- the way in, on joining ------------------------------------------------------------------


def invites_to(site: Site, chat_id: int) -> list[str]:
    """The URLs of the "Join the residents' group" buttons sent to a chat."""
    urls = []
    for call in site.shown(chat_id):
        markup = call.params.get("reply_markup") or {}
        for row in markup.get("inline_keyboard", []) if isinstance(markup, dict) else []:
            urls += [b["url"] for b in row if b.get("text") == msg.BTN_JOIN_GROUP]
    return urls


async def test_joining_in_telegram_brings_a_one_person_link(site: Site, outbox: Dispatcher) -> None:
    code = await site.world.household()
    group = await with_group(site)
    await site.say(ANA, f"/join {code}")
    await deliver_all(outbox)
    assert invites_to(site, ANA) == ["https://t.me/+fakeInvite1"]
    [link] = group.links
    assert int(link["member_limit"]) == 1 and "creates_join_request" not in link
    assert str(link["chat_id"]) == str(GROUP_ID)
    assert msg.GROUP_INVITE.format(community="Oak Ridge HOA") in [
        str(c.params["text"]) for c in site.shown(ANA)
    ]


async def test_joining_by_text_then_opening_telegram_brings_the_link(
    site: Site, outbox: Dispatcher
) -> None:
    from bot.invitation_page import account_link_token

    await home_of_two(site, outbox)  # (Maria joins by her deep link: a link for her)
    group = await with_group(site)
    assert invites_to(site, MARIA) == []  # the group came after she joined
    async with site.database.uow() as uow:
        [household] = await uow.households.list()
        [maria] = [m for m in await uow.members.list_for_household(household.id) if not m.is_head]
        await uow.identities.unlink_member(maria.id)  # as one who joined on the page
        await uow.commit()
    await site.say(MARIA, f"/start {account_link_token(site.world.ctx, maria.id)}")
    await deliver_all(outbox)
    assert invites_to(site, MARIA) == ["https://t.me/+fakeInvite1"]
    assert len(group.links) == 1


async def test_no_link_where_the_community_has_no_group(site: Site, outbox: Dispatcher) -> None:
    code = await site.world.household()
    await site.say(ANA, f"/join {code}")  # no group yet
    await deliver_all(outbox)
    assert invites_to(site, ANA) == []
    assert site.fake.calls_of("createChatInviteLink") == []


async def test_joining_by_text_brings_a_telegram_link_that_leads_into_the_group(
    site: Site, outbox: Dispatcher
) -> None:
    import dataclasses
    import re

    from bot.sms_inbound import InboundSms, handle_inbound_sms

    code = await site.world.household()
    await site.say(ANA, f"/join {code}")
    group = await with_group(site)
    await site.say(ANA, "/invite sms Maria Ruiz +12025550199")
    await site.press(ANA, "Send Invite")
    await deliver_all(outbox)
    ctx = dataclasses.replace(site.world.ctx, telegram_bot_username="oakridge_bot")
    async with site.database.uow() as uow:
        reply = await handle_inbound_sms(
            uow, ctx, InboundSms(sender="+12025550199", body="JOIN", message_id="SM900")
        )
        await uow.commit()
    assert reply is not None and reply.startswith("Welcome, Maria Ruiz!")
    found = re.search(r"https://t\.me/oakridge_bot\?start=([A-Za-z0-9_=-]+)", reply)
    assert found is not None, reply
    await site.say(MARIA, f"/start {found.group(1)}")
    await deliver_all(outbox)
    assert invites_to(site, MARIA) == ["https://t.me/+fakeInvite1"]
    await ask_to_join(site, group, SAM)  # and a stranger still is not let in
    await deliver_all(outbox)
    assert SAM not in group.members


async def test_a_way_in_still_queued_is_not_sent_to_someone_who_left(
    site: Site, outbox: Dispatcher
) -> None:
    code = await site.world.household()
    await with_group(site)
    await site.say(ANA, f"/join {code}")  # Ana's one-person link is queued...
    async with site.database.uow() as uow:  # ...and the household deactivated before it goes
        [household] = await uow.households.list()
    from bot import board

    await board.deactivate_household(
        site.database.uow,
        community_name="Oak Ridge HOA",
        address=household.address,
        clock=site.world.clock,
    )
    await deliver_all(outbox)
    assert site.fake.calls_of("createChatInviteLink") == []
    assert invites_to(site, ANA) == []
    from sqlalchemy import text

    async with site.database.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT last_error FROM outbox WHERE channel = 'group' AND status = 'failed'")
        )
        reasons = [r[0] for r in rows]
    assert reasons == ["not sent: the person no longer belongs when its turn came"]
