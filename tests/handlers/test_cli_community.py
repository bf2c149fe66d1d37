"""``invitebot admin community set`` through Typer's runner on SQLite and PostgreSQL, with the
real aiogram client against the fake Bot API: the group is looked up and the bot's rights read
at once; a group the bot may not run is refused, saying exactly what is missing, and nothing
is stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.ports import UnitOfWorkFactory
from tests.handlers.board_cli import Board, one_error_line, open_board
from tests.handlers.fake_telegram import FakeTelegram
from tests.handlers.fake_telegram_groups import FakeGroup
from tests.storage.databases import SQL_BACKENDS

GROUP_ID = -1001234567890
OAK = ["--community", "Oak Ridge HOA"]


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as running:
        yield running


@pytest.fixture(params=SQL_BACKENDS)
def board(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeTelegram,
) -> Iterator[Board]:
    monkeypatch.setenv("INVITEBOT_TELEGRAM_BOT_TOKEN", fake.token)
    monkeypatch.setenv("INVITEBOT_TELEGRAM_API_BASE", fake.url)
    for board in open_board(request.param, tmp_path, monkeypatch):
        assert board("community", "add", "Oak Ridge HOA").exit_code == 0
        assert board("community", "add", "Elm Court").exit_code == 0
        yield board


def group_of(board: Board, name: str = "Oak Ridge HOA") -> str:
    async def read(uow_factory: UnitOfWorkFactory) -> str:
        async with uow_factory() as uow:
            community = await uow.communities.get_by_name(name)
        assert community is not None
        return community.telegram_group

    return board.seed(read)


def test_a_group_the_bot_runs_is_stored_and_a_join_request_link_made(
    board: Board, fake: FakeTelegram
) -> None:
    fake.add_group(FakeGroup(GROUP_ID, title="Oak Ridge residents", username="oakridge_res"))
    result = board("community", "set", *OAK, "--telegram-group", "@oakridge_res")
    assert result.exit_code == 0, result.output
    assert "“Oak Ridge residents” (-1001234567890)" in result.stdout
    assert "https://t.me/+fakeInvite1" in result.stdout
    assert group_of(board) == str(GROUP_ID)
    [link] = [c.params for c in fake.calls_of("createChatInviteLink")]
    assert link["creates_join_request"] in (True, "true")
    [looked_up] = fake.calls_of("getChatMember")
    assert str(looked_up.params["chat_id"]) == str(GROUP_ID)


def test_missing_rights_are_named_and_nothing_is_stored(board: Board, fake: FakeTelegram) -> None:
    fake.add_group(FakeGroup(GROUP_ID, rights={"can_invite_users"}))
    result = board("community", "set", *OAK, "--telegram-group", str(GROUP_ID))
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "may not: Ban users (to take out someone who no longer belongs)" in line
    assert "Invite users via link" not in line.split("may not:")[1].split(".")[0]
    assert group_of(board) == ""
    assert fake.calls_of("createChatInviteLink") == []


@pytest.mark.parametrize(
    ("group", "said"),
    [
        (FakeGroup(GROUP_ID, bot_admin=False), "the bot is not an administrator of"),
        (None, "Telegram cannot find the group"),
    ],
)
def test_a_group_the_bot_cannot_run_is_refused(
    board: Board, fake: FakeTelegram, group: FakeGroup | None, said: str
) -> None:
    if group is not None:
        fake.add_group(group)
    result = board("community", "set", *OAK, "--telegram-group", str(GROUP_ID))
    assert result.exit_code == 1
    assert said in one_error_line(result)
    assert group_of(board) == ""


def test_one_group_is_one_communitys_and_can_be_cleared(board: Board, fake: FakeTelegram) -> None:
    fake.add_group(FakeGroup(GROUP_ID))
    assert board("community", "set", *OAK, "--telegram-group", str(GROUP_ID)).exit_code == 0
    taken = board("community", "set", "--community", "Elm Court", "--telegram-group", str(GROUP_ID))
    assert taken.exit_code == 1
    assert "already the residents' group of “Oak Ridge HOA”" in one_error_line(taken)
    cleared = board("community", "set", *OAK, "--clear-telegram-group")
    assert cleared.exit_code == 0 and "has no residents' Telegram group now" in cleared.stdout
    assert group_of(board) == ""


def test_the_options_and_the_token_are_needed(
    board: Board, monkeypatch: pytest.MonkeyPatch
) -> None:
    neither = board("community", "set", *OAK)
    both = board("community", "set", *OAK, "--telegram-group", "@x", "--clear-telegram-group")
    assert neither.exit_code == both.exit_code == 2
    unknown = board("community", "set", "--community", "Nowhere", "--clear-telegram-group")
    assert unknown.exit_code == 1 and "Nowhere" in one_error_line(unknown)
    monkeypatch.delenv("INVITEBOT_TELEGRAM_BOT_TOKEN")
    tokenless = board("community", "set", *OAK, "--telegram-group", "@x")
    assert tokenless.exit_code == 1
    assert "INVITEBOT_TELEGRAM_BOT_TOKEN" in one_error_line(tokenless)


def test_show_tells_the_households_and_what_the_bot_may_do_now(
    board: Board, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = fake.add_group(FakeGroup(GROUP_ID, title="[bold]Oak[/] residents"))
    assert board("community", "set", *OAK, "--telegram-group", str(GROUP_ID)).exit_code == 0
    place = ["--address", "12 Oak Lane", "--head-name", "Ana Lopez"]
    assert board("household", "add", *OAK, *place).exit_code == 0
    shown = board("community", "show", *OAK)
    assert shown.exit_code == 0, shown.output
    assert "Households: 0 active, 1 not activated, 0 inactive" in shown.stdout
    assert f"Residents' Telegram group: {GROUP_ID}" in shown.stdout
    assert "“[bold]Oak[/] residents”: the bot may approve, decline and take people out" in (
        shown.stdout
    )
    group.rights = {"can_invite_users"}  # an admin took a right away
    lost = board("community", "show", *OAK)
    assert "Problem: the bot may not: Ban users" in lost.stdout
    monkeypatch.delenv("INVITEBOT_TELEGRAM_BOT_TOKEN")
    offline = board("community", "show", *OAK)
    assert "set INVITEBOT_TELEGRAM_BOT_TOKEN to check" in offline.stdout
    none = board("community", "show", "--community", "Elm Court")
    assert "Residents' Telegram group: none" in none.stdout


# --- the community's time zone ---------------------------------------------------------------


def zone_of(board: Board, name: str) -> str:
    async def read(uow_factory: UnitOfWorkFactory) -> str:
        async with uow_factory() as uow:
            community = await uow.communities.get_by_name(name)
        assert community is not None
        return community.timezone

    return board.seed(read)


def test_a_community_is_added_in_its_time_zone_and_set_to_another(board: Board) -> None:
    added = board("community", "add", "Maple Grove", "--timezone", "America/Los_Angeles")
    assert added.exit_code == 0, added.output
    assert "Time zone: America/Los_Angeles." in added.stdout
    assert zone_of(board, "Maple Grove") == "America/Los_Angeles"
    # Without one: the server's default (INVITEBOT_DEFAULT_TIMEZONE, UTC here).
    assert zone_of(board, "Oak Ridge HOA") == ""
    listed = board("community", "list")
    assert "America/Los_Angeles" in listed.stdout and "UTC (default)" in listed.stdout

    changed = board("community", "set", *OAK, "--timezone", "America/New_York")
    assert changed.exit_code == 0, changed.output
    assert "Oak Ridge HOA is in America/New_York time now" in changed.stdout
    assert zone_of(board, "Oak Ridge HOA") == "America/New_York"
    shown = board("community", "show", *OAK)
    assert "Time zone: America/New_York" in shown.stdout
    back = board("community", "set", *OAK, "--timezone", "")
    assert back.exit_code == 0 and zone_of(board, "Oak Ridge HOA") == ""
    assert "Time zone: UTC (INVITEBOT_DEFAULT_TIMEZONE)" in board("community", "show", *OAK).stdout


@pytest.mark.parametrize("zone", ["PST", "Pacific", "America/Nowhere", "../etc/passwd", "x" * 300])
def test_only_iana_names_are_taken(board: Board, zone: str) -> None:
    refused = board("community", "set", *OAK, "--timezone", zone)
    assert refused.exit_code == 1
    assert "IANA time zone" in one_error_line(refused)
    assert zone_of(board, "Oak Ridge HOA") == ""
    added = board("community", "add", "Birch Hill", "--timezone", zone)
    assert added.exit_code == 1 and "IANA time zone" in one_error_line(added)
