"""``invitebot admin household deactivate|activate`` and ``invitebot admin member remove``
through Typer's runner, on the in-memory store and a SQLite file (the use cases themselves
run on PostgreSQL too, in tests/unit/test_board.py)."""

from __future__ import annotations

import asyncio
import re

from bot.domain import HouseholdStatus, Member, Role
from tests.fakes import FakeClock
from tests.handlers.test_cli_admin import CODE, Admin, code_hash, one_error_line, run

__all__ = ["run"]  # the fixture, shared with test_cli_admin.py


def add_member(run: Admin, address: str, name: str) -> None:
    async def write() -> None:
        async with run._storage() as uow_factory, uow_factory() as uow:
            [household] = [h for h in await uow.households.list() if h.address == address]
            await uow.members.add(
                Member(
                    household_id=household.id,
                    name=name,
                    role=Role.MEMBER,
                    joined_at=FakeClock().now(),
                )
            )
            await uow.commit()

    asyncio.run(write())


def current_members(run: Admin, address: str) -> list[str]:
    async def read() -> list[str]:
        async with run._storage() as uow_factory, uow_factory() as uow:
            [household] = [h for h in await uow.households.list() if h.address == address]
            return [m.name for m in await uow.members.list_for_household(household.id)]

    return asyncio.run(read())


def test_deactivate_then_activate_with_a_new_code(run: Admin) -> None:
    run("community", "add", "Maple Grove")
    added = run("household", "add", "--community", "Maple Grove", "--address", "12 Oak Street")
    old = CODE.findall(added.stdout)[0]
    result = run(
        "household", "deactivate", "--community", "maple grove", "--address", "12 oak street"
    )
    assert result.exit_code == 0, result.output
    assert "Deactivated 12 Oak Street in Maple Grove: 0 open invitations cancelled" in result.stdout
    assert run.households()["12 Oak Street"].status is HouseholdStatus.INACTIVE

    again = run(
        "household", "deactivate", "--community", "Maple Grove", "--address", "12 Oak Street"
    )
    assert again.exit_code == 1
    assert one_error_line(again).startswith("Error: The household at “12 Oak Street” is already")

    result = run(
        "household", "activate", "--community", "Maple Grove", "--address", "12 Oak Street"
    )
    assert result.exit_code == 0, result.output
    assert "Activated 12 Oak Street in Maple Grove again." in result.stdout
    assert not CODE.search(result.stdout)  # no new code unless asked
    assert run.households()["12 Oak Street"].access_code_hash == code_hash(old)

    run("household", "deactivate", "--community", "Maple Grove", "--address", "12 Oak Street")
    result = run(
        "household",
        "activate",
        "--community",
        "Maple Grove",
        "--address",
        "12 Oak Street",
        "--new-code",
    )
    assert result.exit_code == 0, result.output
    new = CODE.findall(result.stdout)[0]
    assert new != old and "previous code no longer works" in result.stdout
    household = run.households()["12 Oak Street"]
    assert household.access_code_hash == code_hash(new)
    assert household.status is HouseholdStatus.NOT_ACTIVATED

    result = run(
        "household", "activate", "--community", "Maple Grove", "--address", "12 Oak Street"
    )
    assert result.exit_code == 1
    assert one_error_line(result) == "Error: The household at “12 Oak Street” is active already."


def test_deactivating_an_unknown_household_or_community_is_refused(run: Admin) -> None:
    run("community", "add", "Maple Grove")
    result = run("household", "deactivate", "--community", "Maple Grove", "--address", "1 Elm")
    assert result.exit_code == 1
    assert one_error_line(result) == "Error: There is no household at “1 Elm” in “Maple Grove”."
    result = run("household", "activate", "--community", "Nowhere", "--address", "1 Elm")
    assert result.exit_code == 1
    assert "Nowhere" in one_error_line(result)


def test_the_board_removes_a_member_by_name(run: Admin) -> None:
    run("community", "add", "Maple Grove")
    run("household", "add", "--community", "Maple Grove", "--address", "12 Oak Street")
    run.claim("12 Oak Street")  # Maria Ruiz is head
    add_member(run, "12 Oak Street", "José Núñez")
    result = run(
        "member",
        "remove",
        "--community",
        "Maple Grove",
        "--address",
        "12 Oak Street",
        "--name",
        "jose nunez",
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"Removed José Núñez from 12 Oak Street in Maple Grove", result.stdout)
    assert current_members(run, "12 Oak Street") == ["Maria Ruiz"]

    for name, error in [
        ("José Núñez", "Error: Nobody named “José Núñez” is a member of the household at"),
        ("Maria Ruiz", "Error: Maria Ruiz is the head of “12 Oak Street”."),
        ("=cmd|' /C calc'!A0", "Error: Nobody named “=cmd|' /C calc'!A0”"),
    ]:
        refused = run(
            "member",
            "remove",
            "--community",
            "Maple Grove",
            "--address",
            "12 Oak Street",
            "--name",
            name,
        )
        assert refused.exit_code == 1, refused.output
        assert one_error_line(refused).startswith(error), refused.stderr
    assert current_members(run, "12 Oak Street") == ["Maria Ruiz"]
