"""The board's changes to a household (issue 15) on every backend: deactivate (open
invitations cancelled at once, links and SMS replies dead, queued messages not sent, no
inviting, the access code stopped, the head told), activate (with or without a new code),
and the board's remove of a member."""

from __future__ import annotations

import pytest

from bot import admin, board
from bot.domain import Channel, EventActor, HouseholdEventKind, HouseholdStatus, Limits
from bot.invitation_page import invitation_page
from bot.ports import UnitOfWorkFactory
from bot.sms_inbound import InboundSms, handle_inbound_sms
from tests.unit.conftest import SECRET, World
from tests.unit.test_household_events import history, invite
from tests.unit.test_members import ana_and_maria, household_of, members, notices_to

MARIA = "+12025550199"


@pytest.fixture
def world(uow_factory: UnitOfWorkFactory) -> World:
    return World(uow_factory=uow_factory, limits=Limits(sms_replies_per_sender_per_hour=1000))


async def deactivate(world: World) -> board.Deactivation:
    return await board.deactivate_household(
        world.uow_factory, community_name="oak ridge hoa", address="12 oak lane", clock=world.clock
    )


async def activate(world: World, *, new_code: bool = False) -> board.Activation:
    return await board.activate_household(
        world.uow_factory,
        community_name="Oak Ridge HOA",
        address="12 Oak Lane",
        clock=world.clock,
        secret_key=SECRET,
        new_code=new_code,
    )


async def test_deactivating_cancels_every_open_invitation_and_stops_the_head(
    world: World,
) -> None:
    ana = await world.head()
    sms_token = await invite(world, ana, f"sms Maria Ruiz {MARIA}")
    await ana.say("/invite email Tom Ruiz tom@example.org")
    await ana.press("Send Invite")  # queued, not delivered yet
    done = await deactivate(world)
    assert done.cancelled == 2
    household = await household_of(world)
    assert household.status is HouseholdStatus.INACTIVE

    # Links and SMS replies stop working; the queued email is never sent.
    world.sender.sent.clear()
    await world.deliver()
    assert not [m for m in world.sender.sent if m.channel is not Channel.CHAT]
    async with world.uow_factory() as uow:
        assert await invitation_page(uow, world.ctx, sms_token) is None
        reply = await handle_inbound_sms(
            uow, world.ctx, InboundSms(sender=MARIA, body="JOIN", message_id="SM1")
        )
        await uow.commit()
    assert reply is not None and "There is no open invitation" in reply
    maria = world.person("maria", "Maria")
    await maria.say(f"/join https://hoa.example/i/{sms_token}")
    assert "isn't valid" in maria.text

    # The head is told, and can't invite: the refusal names the HOA's contact.
    assert any("deactivated your household at 12 Oak Lane" in n for n in notices_to(world, "ana"))
    await ana.say("/invite")
    assert "deactivated the household at 12 Oak Lane" in ana.text
    assert "board@oakridge.example" in ana.text
    await ana.say("/invite sms Sam Lee +1 202 555 0142")
    assert "deactivated" in ana.text
    kinds = [e.kind for e in await history(world)]
    assert kinds[-3:] == [
        HouseholdEventKind.CANCELLED,
        HouseholdEventKind.CANCELLED,
        HouseholdEventKind.DEACTIVATED,
    ]
    assert all(e.actor is EventActor.BOARD for e in (await history(world))[-3:])
    with pytest.raises(board.AlreadyInactive):
        await deactivate(world)


async def test_an_inactive_households_access_code_admits_no_one_until_activated(
    world: World,
) -> None:
    code = await world.household()
    await deactivate(world)
    ana = world.person("ana", "Ana")
    await ana.say(f"/join {code}")
    assert "deactivated by the HOA board" in ana.text
    assert (await household_of(world)).head_member_id is None
    await activate(world)
    await ana.say(f"/join {code}")
    assert "You are now the head" in ana.text


async def test_activating_again_lets_the_head_invite_and_a_new_code_replaces_the_old(
    world: World,
) -> None:
    code = await world.household()
    await deactivate(world)
    done = await activate(world, new_code=True)
    assert done.issued is not None and done.issued.code != code
    assert (await household_of(world)).status is HouseholdStatus.NOT_ACTIVATED
    ana = world.person("ana", "Ana")
    await ana.say(f"/join {code}")
    assert "You are now the head" not in ana.text
    await ana.say(f"/join {done.issued.code}")
    assert "You are now the head" in ana.text
    await ana.say("/invite sms Maria Ruiz +1 202 555 0199")
    assert "Send Invite" in ana.buttons()
    with pytest.raises(board.AlreadyActive):
        await activate(world)
    kinds = [e.kind for e in await history(world)]
    assert HouseholdEventKind.ACTIVATED in kinds and HouseholdEventKind.ACCESS_CODE_RESET in kinds


async def test_the_board_removes_a_member_and_both_are_told(world: World) -> None:
    ana, maria, _ = await ana_and_maria(world)
    done = await board.remove_member_by_board(
        world.uow_factory,
        community_name="Oak Ridge HOA",
        address="12 Oak Lane",
        name="  MARÍA   ruiz ",
        clock=world.clock,
    )
    assert done.member.name == "Maria Ruiz"
    assert (await members(world))["Maria Ruiz"].left_at is not None
    await world.deliver()
    assert any("The HOA board removed you" in n for n in notices_to(world, "maria"))
    assert any("The HOA board removed Maria Ruiz" in n for n in notices_to(world, "ana"))
    await maria.say("/household")
    assert "not part of a household" in maria.text
    await ana.say("/household history")
    assert "The HOA board removed Maria Ruiz." in ana.text
    [event] = [e for e in await history(world) if e.kind is HouseholdEventKind.REMOVED]
    assert event.actor is EventActor.BOARD and event.actor_member_id is None


async def test_the_board_cannot_remove_the_head_or_someone_who_is_not_there(
    world: World,
) -> None:
    await ana_and_maria(world)
    with pytest.raises(admin.AdminError, match=r"is the head of “12 Oak Lane”.*reset-code"):
        await board.remove_member_by_board(
            world.uow_factory,
            community_name="Oak Ridge HOA",
            address="12 Oak Lane",
            name="Ana Lopez",
            clock=world.clock,
        )
    with pytest.raises(board.UnknownMember, match="Nobody named “Zoe”"):
        await board.remove_member_by_board(
            world.uow_factory,
            community_name="Oak Ridge HOA",
            address="12 Oak Lane",
            name="Zoe",
            clock=world.clock,
        )
    with pytest.raises(admin.UnknownHousehold):
        await board.remove_member_by_board(
            world.uow_factory,
            community_name="Oak Ridge HOA",
            address="99 Nowhere",
            name="Maria Ruiz",
            clock=world.clock,
        )
    assert all(m.left_at is None for m in (await members(world)).values())
