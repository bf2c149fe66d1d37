"""The community's residents' Slack channel, gated by household membership (issue 16): a
member who joins in Slack is added with ``conversations.invite``, one who leaves or is removed,
or whose household is deactivated, is taken out with ``conversations.kick``, through the
real endpoint, the outbox and :class:`SlackGroupSender` against the fake Web API's channels;
and ``invitebot admin community set --slack-channel`` checks the app's scopes and membership
at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import board
from bot import messages as msg
from bot.domain import Channel, Route
from handlers.slack.client import make_client
from handlers.slack.group import SlackGroupSender
from tests.handlers import test_slack_members
from tests.handlers.board_cli import Board, one_error_line, open_board
from tests.handlers.fake_slack import FakeSlack, dm_of
from tests.handlers.fake_slack_channels import FakeChannel
from tests.handlers.test_slack import ANA, MARIA, head
from tests.handlers.test_slack_members import ADDRESS, MemberSite, invite
from tests.storage.databases import SQL_BACKENDS

fake = test_slack_members.fake
site = test_slack_members.site

CHANNEL_ID = "C0RESIDENTS"


async def gated(site: MemberSite, *, private: bool = False) -> FakeChannel:
    """Ana heads 12 Oak Lane; its community's residents' channel is set; the outbox carries
    channel changes through the real sender."""
    await head(site, ANA)
    channel = site.fake.channels.add(FakeChannel(CHANNEL_ID, is_private=private))
    async with site.database.uow() as uow:
        [community] = await uow.communities.list()
        community.slack_channel = CHANNEL_ID
        await uow.communities.update(community)
        await uow.commit()
    client = make_client(site.fake.token, api_base=site.fake.url, wait_out_rate_limits=False)
    site.dispatcher.senders[Route(Channel.GROUP, "slack")] = SlackGroupSender(client)
    return channel


async def maria_joins(site: MemberSite) -> None:
    link = await invite(site, "Maria Ruiz", "maria@example.com")
    await site.say(MARIA, f"<{link}>")
    assert site.last_text(MARIA).startswith("🎉 Welcome, Maria Ruiz"), site.last_text(MARIA)
    await site.deliver()


async def test_joining_in_slack_adds_and_leaving_removes(site: MemberSite) -> None:
    channel = await gated(site)
    await maria_joins(site)
    assert channel.members == {MARIA}
    [added] = site.fake.calls_of("conversations.invite")
    assert (added.params["channel"], added.params["users"]) == (CHANNEL_ID, MARIA)

    await site.command(MARIA, "/household", "leave")
    await site.press(MARIA, msg.BTN_CONFIRM_LEAVE)
    await site.deliver()
    assert channel.members == set()
    told = [c.params.get("text") for c in site.delivered if c.params.get("channel") == dm_of(MARIA)]
    assert msg.GROUP_REMOVED_LEFT.format(address=ADDRESS, community="Oak Ridge HOA") in told


async def test_deactivation_removes_everyone_and_a_kick_of_someone_gone_is_done(
    site: MemberSite,
) -> None:
    channel = await gated(site)
    await maria_joins(site)
    channel.members.discard(MARIA)  # she left the channel herself meanwhile
    await board.deactivate_household(
        site.database.uow, community_name="Oak Ridge HOA", address=ADDRESS, clock=site.world.clock
    )
    await site.deliver()
    kicked = [c.params["user"] for c in site.fake.calls_of("conversations.kick")]
    assert sorted(kicked) == sorted([ANA, MARIA])
    assert channel.members == set()
    assert await _failed(site) == 0  # not_in_channel on a kick: already so


async def test_an_app_without_the_scope_waits_for_the_board(
    site: MemberSite, caplog: pytest.LogCaptureFixture
) -> None:
    channel = await gated(site, private=True)
    site.fake.channels.scopes.discard("groups:write")
    await maria_joins(site)
    assert channel.members == set()
    assert "the Slack app may not invite in channel C0RESIDENTS (missing_scope)" in caplog.text
    assert await _failed(site) == 0  # not given up: tried again every 15 minutes
    site.fake.channels.scopes.add("groups:write")  # the board reinstalls the app
    site.world.clock.advance(minutes=16)
    await site.deliver()
    assert channel.members == {MARIA}


async def _failed(site: MemberSite) -> int:
    from sqlalchemy import text

    async with site.database.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT count(*) FROM outbox WHERE channel = 'group' AND status = 'failed'")
        )
        return int(rows.scalar_one())


# --- the board's command ----------------------------------------------------------------------


@pytest.fixture(params=SQL_BACKENDS)
def board_cli(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeSlack,
) -> Iterator[Board]:
    monkeypatch.setenv("INVITEBOT_SLACK_BOT_TOKEN", fake.token)
    monkeypatch.setenv("INVITEBOT_SLACK_API_BASE", fake.url)
    for opened in open_board(request.param, tmp_path, monkeypatch):
        assert opened("community", "add", "Oak Ridge HOA").exit_code == 0
        yield opened


OAK = ["--community", "Oak Ridge HOA"]


def test_a_channel_the_app_can_manage_is_stored(board_cli: Board, fake: FakeSlack) -> None:
    fake.channels.add(FakeChannel(CHANNEL_ID, name="oak-residents"))
    result = board_cli("community", "set", *OAK, "--slack-channel", CHANNEL_ID)
    assert result.exit_code == 0, result.output
    assert "#oak-residents (C0RESIDENTS)" in result.stdout
    shown = board_cli("community", "show", *OAK)
    assert "Residents' Slack channel: C0RESIDENTS" in shown.stdout
    assert "#oak-residents: the app may add and remove people there." in shown.stdout
    cleared = board_cli("community", "set", *OAK, "--clear-slack-channel")
    assert cleared.exit_code == 0 and "has no residents' Slack channel now" in cleared.stdout


@pytest.mark.parametrize(
    ("channel", "scopes_removed", "said"),
    [
        (FakeChannel(CHANNEL_ID, app_member=False), set(), "the app is not in #residents"),
        (FakeChannel(CHANNEL_ID), {"channels:manage"}, "lacks the scope channels:manage"),
        (FakeChannel(CHANNEL_ID, is_private=True), {"groups:write"}, "scope groups:write"),
        (None, set(), "Slack cannot find the channel C0RESIDENTS (channel_not_found)"),
    ],
)
def test_a_channel_the_app_cannot_manage_is_refused(
    board_cli: Board,
    fake: FakeSlack,
    channel: FakeChannel | None,
    scopes_removed: set[str],
    said: str,
) -> None:
    if channel is not None:
        fake.channels.add(channel)
    fake.channels.scopes -= scopes_removed
    result = board_cli("community", "set", *OAK, "--slack-channel", CHANNEL_ID)
    assert result.exit_code == 1
    assert said in one_error_line(result)
    shown = board_cli("community", "show", *OAK)
    assert "Residents' Slack channel: none" in shown.stdout


async def test_leave_and_join_again_ends_in_the_channel(site: MemberSite) -> None:
    """Nothing is delivered between the steps: the kick and the later invite of one person go
    out in the order they were decided."""
    channel = await gated(site)
    await maria_joins(site)
    assert channel.members == {MARIA}
    await site.command(MARIA, "/household", "leave")
    await site.press(MARIA, msg.BTN_CONFIRM_LEAVE)
    await site.command(ANA, "/invite", "email Maria Ruiz maria@example.com")
    await site.press(ANA, msg.BTN_SEND)
    async with site.database.uow() as uow:  # her new link, as the email will carry it
        [household] = await uow.households.list()
        invitations = await uow.invitations.list_for_household(household.id)
    again = next(i for i in invitations if i.status.value == "pending")
    token = site.world.ctx.tokens.make(again.id, again.nonce)
    await site.say(MARIA, f"<https://hoa.example/i/{token}>")
    assert site.last_text(MARIA).startswith("🎉 Welcome, Maria Ruiz"), site.last_text(MARIA)
    assert site.fake.calls_of("conversations.kick") == []  # nothing delivered yet
    await site.deliver()
    calls = [
        c.method
        for c in site.fake.calls
        if c.method in ("conversations.invite", "conversations.kick")
    ]
    assert calls == ["conversations.invite", "conversations.kick", "conversations.invite"]
    assert channel.members == {MARIA}
