"""Households change (issue 14) through the engine, on every backend: the head removes,
renames and hands over the head role; a member leaves; the history; and what a stranger, a
plain member and a removed member's old buttons and links can do (nothing)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from bot.domain import HEAD_REQUEST_TTL, Channel, HouseholdEventKind, Limits, Member, Role
from bot.invitation_page import account_link_token, invitation_page
from bot.invitations import accept_invitation
from bot.ports import UnitOfWorkFactory
from bot.replies import notice_reply
from bot.rules import Refused
from bot.sms_inbound import InboundSms, handle_inbound_sms
from tests.chat import Person
from tests.unit.conftest import World
from tests.unit.test_household_events import history, invite

MARIA_PHONE = "+12025550199"
_sids = itertools.count(1)


@pytest.fixture
def world(uow_factory: UnitOfWorkFactory) -> World:
    return World(uow_factory=uow_factory, limits=Limits(sms_replies_per_sender_per_hour=1000))


async def members(world: World) -> dict[str, Member]:
    """Every member row (current or not), by name."""
    async with world.uow_factory() as uow:
        household = (await uow.households.list())[0]
        current = {m.id for m in await uow.members.list_for_household(household.id)}
        found = {}
        for invitation in await uow.invitations.list_for_household(household.id):
            if invitation.member_id:
                member = await uow.members.get(invitation.member_id)
                assert member is not None
                found[member.name] = member
        for member_id in current:
            member = await uow.members.get(member_id)
            assert member is not None
            found[member.name] = member
        return found


async def household_of(world: World):
    async with world.uow_factory() as uow:
        return (await uow.households.list())[0]


async def ana_and_maria(world: World) -> tuple[Person, Person, str]:
    """Ana heads 12 Oak Lane; Maria joined in chat with the link Ana sent her by text."""
    ana = await world.head()
    token = await invite(world, ana, f"sms Maria Ruiz {MARIA_PHONE}")
    maria = world.person("maria", "Maria")
    await maria.say(f"/join https://hoa.example/i/{token}")
    assert "Welcome" in maria.text or "joined" in maria.text, maria.text
    return ana, maria, token


def notices_to(world: World, chat_id: str) -> list[str]:
    return [
        m.body for m in world.sender.sent if m.channel is Channel.CHAT and m.destination == chat_id
    ]


async def test_the_heads_household_shows_each_member_with_their_buttons(world: World) -> None:
    ana, _maria, _ = await ana_and_maria(world)
    await ana.say("/household")
    cards = {r.text: [b.label for b in r.buttons] for r in ana.last}
    assert cards["Household Members"] == ["History"]
    assert cards["• Ana Lopez (head)"] == ["Rename"]
    assert cards["• Maria Ruiz · +1 ••• ••• 0199"] == ["Rename", "Make head", "Remove"]
    remove = next(b for r in ana.last for b in r.buttons if b.label == "Remove")
    assert remove.confirm is not None and remove.confirm.payload.startswith("member:remove_yes:")
    assert "Remove Maria Ruiz from 12 Oak Lane?" in remove.confirm.text


async def test_make_head_is_offered_only_for_a_member_the_bot_can_reach(world: World) -> None:
    ana = await world.head()
    await invite(world, ana, f"sms Maria Ruiz {MARIA_PHONE}")
    async with world.uow_factory() as uow:  # Maria answers JOIN by text: no chat account
        await handle_inbound_sms(
            uow, world.ctx, InboundSms(sender=MARIA_PHONE, body="JOIN", message_id="SM1")
        )
        await uow.commit()
    await ana.say("/household")
    maria_card = next(r for r in ana.last if "Maria Ruiz" in r.text and r.buttons)
    assert [b.label for b in maria_card.buttons] == ["Rename", "Remove"]
    maria = (await members(world))["Maria Ruiz"]
    await ana.press_payload(f"member:make_head:{maria.id}")
    assert "has no chat account" in ana.text
    assert (await household_of(world)).head_request_member_id is None


async def test_remove_asks_then_takes_the_member_out_and_tells_them(world: World) -> None:
    ana, maria, token = await ana_and_maria(world)
    await ana.say("/household")
    await ana.press("Remove")
    assert "Remove Maria Ruiz from 12 Oak Lane?" in ana.text
    assert ana.buttons() == ["Yes, remove", "Keep"]
    await ana.press("Keep")
    assert "Maria Ruiz stays a member" in ana.text
    assert (
        "Maria Ruiz" in (await members(world))
        and (await members(world))["Maria Ruiz"].left_at is None
    )

    await ana.say("/household")
    await ana.press("Remove")
    await ana.press("Yes, remove")
    assert "Maria Ruiz is no longer a member of 12 Oak Lane" in ana.text
    assert ana.last[0].replace_previous
    gone = (await members(world))["Maria Ruiz"]
    assert gone.left_at == world.clock.now()
    await world.deliver()
    assert any(
        "Ana Lopez removed you from the household at 12 Oak Lane" in n
        for n in notices_to(world, "maria")
    )

    # Her chat account no longer acts for the household...
    await maria.say("/household")
    assert "You are not part of a household" in maria.text
    # ... and every way in through her old invitation says it is no longer valid.
    await maria.say(f"/join https://hoa.example/i/{token}")
    assert "isn't valid" in maria.text
    async with world.uow_factory() as uow:
        assert await invitation_page(uow, world.ctx, token) is None
        sms = await handle_inbound_sms(
            uow, world.ctx, InboundSms(sender=MARIA_PHONE, body="JOIN", message_id="SM9")
        )
        assert sms is not None and "There is no open invitation for this number" in sms
        with pytest.raises(Refused, match="isn't valid"):
            await accept_invitation(uow, world.ctx, token=token, actor=None)
    await ana.say("/household")
    assert "• Maria Ruiz" not in ana.text  # (her accepted invitation stays under Earlier)

    # The head can invite her again, and she can join again.
    token = await invite(world, ana, f"sms Maria Ruiz {MARIA_PHONE}")
    await maria.say(f"/join https://hoa.example/i/{token}")
    await ana.say("/household")
    assert "• Maria Ruiz" in ana.text


async def test_a_removed_members_account_link_no_longer_links(world: World) -> None:
    ana, _maria, _ = await ana_and_maria(world)
    member = (await members(world))["Maria Ruiz"]
    link = account_link_token(world.ctx, member.id)
    await ana.press_payload(f"member:remove_yes:{member.id}")
    other = world.person("maria-tg", "Maria", platform="telegram")
    await other.say(f"/start {link}")
    await other.say("/household")
    assert "You are not part of a household" in other.text


async def test_the_head_cannot_remove_themselves_or_leave(world: World) -> None:
    ana, _, _ = await ana_and_maria(world)
    head = (await members(world))["Ana Lopez"]
    for payload in [f"member:remove:{head.id}", f"member:remove_yes:{head.id}", "household:leave"]:
        await ana.press_payload(payload)
        assert "You are the head of 12 Oak Lane, so you can't leave" in ana.text, payload
    await ana.say("/household leave")
    assert "hand the head role" in ana.text.lower()
    assert (await members(world))["Ana Lopez"].left_at is None


async def test_a_member_leaves_after_confirming_and_the_head_is_told(world: World) -> None:
    _ana, maria, _ = await ana_and_maria(world)
    await maria.say("/household")
    assert "Ana Lopez is the head of this household" in maria.text
    assert maria.buttons() == ["Leave household"]
    await maria.press("Leave household")
    assert "Leave the household at 12 Oak Lane?" in maria.text
    await maria.press("Stay")
    assert (await members(world))["Maria Ruiz"].left_at is None
    await maria.say("/household leave")
    await maria.press("Yes, leave")
    assert "You have left the household at 12 Oak Lane" in maria.text
    assert (await members(world))["Maria Ruiz"].left_at is not None
    await world.deliver()
    assert any("Maria Ruiz has left your household" in n for n in notices_to(world, "ana"))
    await maria.press_payload("household:leave_yes")  # an old button: she is in no household
    assert "You are not part of a household" in maria.text
    kinds = [e.kind for e in await history(world)]
    assert kinds.count(HouseholdEventKind.LEFT) == 1


async def test_hand_over_accepted_swaps_the_roles_and_tells_both(world: World) -> None:
    ana, maria, _ = await ana_and_maria(world)
    await ana.say("/household")
    await ana.press("Make head")
    assert "Asked Maria Ruiz to become head of 12 Oak Lane" in ana.text
    await world.deliver()
    request = next(m for m in world.sender.sent if m.destination == "maria" and m.data)
    shown = notice_reply(request.body, request.data)
    assert "Ana Lopez asks you to become head of household at 12 Oak Lane" in shown.text
    assert [b.label for b in shown.buttons] == ["Accept", "Decline"]
    # The head's page shows the open request; Maria's shows it again with its buttons.
    await ana.say("/household")
    assert "Waiting for Maria Ruiz to accept the head role" in ana.text
    assert "Make head" not in ana.buttons()
    await maria.say("/household")
    assert "Accept" in maria.buttons()

    await maria.press_payload(shown.buttons[0].payload)
    assert "You are now the head of household at 12 Oak Lane" in maria.text
    found = await members(world)
    assert found["Maria Ruiz"].role is Role.HEAD and found["Ana Lopez"].role is Role.MEMBER
    household = await household_of(world)
    assert household.head_member_id == found["Maria Ruiz"].id
    assert household.head_request_member_id is None
    await world.deliver()
    assert any("Maria Ruiz accepted" in n for n in notices_to(world, "ana"))

    # Roles really moved: Ana may now leave, Maria invites and sees the history.
    await ana.say("/invite")
    assert "Only the head" in ana.text
    await maria.say("/household history")
    assert "Ana Lopez handed the head role to Maria Ruiz" in maria.text
    await maria.press_payload(shown.buttons[0].payload)  # pressed again: nothing is open
    assert "no longer open" in maria.text
    await ana.say("/household leave")
    await ana.press("Yes, leave")
    assert "You have left" in ana.text


async def test_hand_over_declined_keeps_the_head(world: World) -> None:
    ana, maria, _ = await ana_and_maria(world)
    household = await household_of(world)
    maria_id = (await members(world))["Maria Ruiz"].id
    await ana.press_payload(f"member:make_head:{maria_id}")
    await maria.press_payload(f"head:decline:{household.id}")
    assert "You declined to become head of 12 Oak Lane" in maria.text
    assert (await members(world))["Ana Lopez"].role is Role.HEAD
    await world.deliver()
    assert any("Maria Ruiz declined to become head" in n for n in notices_to(world, "ana"))
    await maria.press_payload(f"head:accept:{household.id}")
    assert "no longer open" in maria.text
    assert (await members(world))["Maria Ruiz"].role is Role.MEMBER


async def test_a_head_request_can_be_cancelled_and_lapses_after_seven_days(world: World) -> None:
    ana, maria, _ = await ana_and_maria(world)
    household = await household_of(world)
    maria_id = (await members(world))["Maria Ruiz"].id
    await ana.press_payload(f"member:make_head:{maria_id}")
    await ana.press_payload(f"member:make_head:{maria_id}")
    assert "already asked Maria Ruiz" in ana.text
    await ana.say("/household")
    await ana.press("Cancel request")
    assert "Cancelled your request to Maria Ruiz" in ana.text
    await maria.press_payload(f"head:accept:{household.id}")
    assert "no longer open" in maria.text

    await ana.press_payload(f"member:make_head:{maria_id}")
    world.clock.advance(seconds=(HEAD_REQUEST_TTL + timedelta(minutes=1)).total_seconds())
    await world.deliver()  # the dispatcher's sweep
    assert (await household_of(world)).head_request_member_id is None
    assert any("lapsed without an answer" in n for n in notices_to(world, "ana"))
    await maria.press_payload(f"head:accept:{household.id}")
    assert "no longer open" in maria.text
    assert (await members(world))["Ana Lopez"].role is Role.HEAD
    reasons = [
        e.details.get("reason")
        for e in await history(world)
        if e.kind is HouseholdEventKind.HEAD_REQUEST_LAPSED
    ]
    assert reasons == ["cancelled", "time"]  # oldest first


async def test_removing_the_asked_member_voids_the_request(world: World) -> None:
    ana, maria, _ = await ana_and_maria(world)
    household = await household_of(world)
    maria_id = (await members(world))["Maria Ruiz"].id
    await ana.press_payload(f"member:make_head:{maria_id}")
    await ana.press_payload(f"member:remove_yes:{maria_id}")
    assert (await household_of(world)).head_request_member_id is None
    await ana.say("/household history")
    assert "The request to Maria Ruiz to become head ended when they were removed." in ana.text
    await maria.press_payload(f"head:accept:{household.id}")
    assert "You are not part of a household" in maria.text
    assert (await members(world))["Ana Lopez"].role is Role.HEAD


async def test_rename_asks_for_the_name_and_validates_it(world: World) -> None:
    ana, _, _ = await ana_and_maria(world)
    await ana.say("/household")
    await ana.press("Rename", on="Maria Ruiz")
    assert "What is Maria Ruiz's full name?" in ana.text
    await ana.say("12345")
    assert "A name needs at least one letter" in ana.text
    assert "Maria Ruiz" in await members(world)
    await ana.say("Maria Ruiz")
    assert "already Maria Ruiz's name" in ana.text
    await ana.say("  María   Ruiz-Gómez ")
    assert "Renamed Maria Ruiz to María Ruiz-Gómez" in ana.text
    assert "María Ruiz-Gómez" in await members(world)
    await ana.say("/household")
    assert "• María Ruiz-Gómez" in ana.text
    event = (await history(world))[-1]  # oldest first
    assert event.kind is HouseholdEventKind.RENAMED
    assert event.details == {"previous_name": "Maria Ruiz"}


async def test_history_lists_the_last_twenty_events_newest_first(world: World) -> None:
    ana, maria, _ = await ana_and_maria(world)
    maria_id = (await members(world))["Maria Ruiz"].id
    await ana.press_payload(f"member:remove_yes:{maria_id}")
    await ana.say("/household history")
    lines = ana.last[0].text.splitlines()
    assert ana.last[0].title == "🕘 History of 12 Oak Lane"
    assert "Ana Lopez removed Maria Ruiz." in lines[0]
    assert "Maria Ruiz accepted the invitation in the console." in lines[1]
    assert "Ana Lopez invited Maria Ruiz by text message (+1 ••• ••• 0199)." in ana.last[0].text
    assert lines[-1].endswith("Ana Lopez claimed the household as head.")
    ana_id = (await members(world))["Ana Lopez"].id
    for n in range(25):
        await ana.press_payload(f"member:rename:{ana_id}")
        await ana.say(f"Ana Lopez {'Vega' if n % 2 else 'Diaz'}")
    await ana.say("/household")
    assert "History" in ana.buttons()
    await ana.press_payload("household:history")
    lines = ana.last[0].text.splitlines()
    assert len(lines) == 21 and lines[-1] == "Showing the last 20 events."
    # Members don't see the history: it names every invitation's contact.
    await maria.say("/household history")
    assert "not part of a household" in maria.text


async def test_a_stranger_and_a_plain_member_pressing_the_heads_buttons_change_nothing(
    world: World,
) -> None:
    _ana, maria, _ = await ana_and_maria(world)
    household = await household_of(world)
    ids = {name: m.id for name, m in (await members(world)).items()}
    sam = world.person("sam", "Sam")
    before = await members(world)
    events_before = len(await history(world))
    for person in (sam, maria):
        for payload in [
            f"member:remove_yes:{ids['Maria Ruiz']}",
            f"member:remove_yes:{ids['Ana Lopez']}",
            f"member:make_head:{ids['Maria Ruiz']}",
            f"member:rename:{ids['Ana Lopez']}",
            f"member:cancel_request:{ids['Maria Ruiz']}",
            f"head:accept:{household.id}",
            "household:history",
        ]:
            await person.press_payload(payload)
            assert person.last and not person.last[0].buttons, payload
            assert (
                "Only the head" in person.text
                or "not part of a household" in person.text
                or "no longer open" in person.text
            ), (payload, person.text)
    await sam.say("/household leave")
    assert "not part of a household" in sam.text
    assert await members(world) == before
    assert len(await history(world)) == events_before
    assert (await household_of(world)).head_request_member_id is None


async def test_a_head_cannot_act_on_another_households_member(world: World) -> None:
    _ana, _, _ = await ana_and_maria(world)
    bob = await world.head("bob", address="3 Elm Road")
    maria_id = (await members(world))["Maria Ruiz"].id
    for payload in [
        f"member:remove_yes:{maria_id}",
        f"member:make_head:{maria_id}",
        f"member:rename:{maria_id}",
    ]:
        await bob.press_payload(payload)
        assert "not a member of your household" in bob.text, payload
    assert (await members(world))["Maria Ruiz"].left_at is None


@pytest.mark.parametrize(
    "payload",
    ["member:remove_yes:xyz", "member:explode:" + "0" * 32, "head:accept:", "household:nope"],
)
async def test_malformed_member_payloads_are_refused(world: World, payload: str) -> None:
    ana, _, _ = await ana_and_maria(world)
    await ana.press_payload(payload)
    assert "button" in ana.text.lower()


async def test_after_a_hand_over_the_new_head_hears_about_the_old_heads_invitations(
    world: World,
) -> None:
    ana, maria, _ = await ana_and_maria(world)
    household = await household_of(world)
    token = await invite(world, ana, "email Tom Ruiz tom@example.org")
    maria_id = (await members(world))["Maria Ruiz"].id
    await ana.press_payload(f"member:make_head:{maria_id}")
    await maria.press_payload(f"head:accept:{household.id}")
    await world.deliver()
    world.sender.sent.clear()
    tom = world.person("tom", "Tom")
    await tom.say(f"/join https://hoa.example/i/{token}")
    await world.deliver()
    assert any("Tom Ruiz accepted" in n for n in notices_to(world, "maria"))
    assert not any("Tom Ruiz" in n for n in notices_to(world, "ana"))
    # And the new head manages the invitation cards Ana left.
    await maria.say("/household")
    assert "History" in maria.buttons()


async def test_a_new_access_code_from_the_board_hands_the_household_over(world: World) -> None:
    """A head who cannot hand over (here: alone) is told to ask the board for a new code;
    whoever types it becomes head, and the head before stays a member, told, free to leave."""
    from bot import admin
    from tests.unit.conftest import SECRET

    ana = await world.head()
    await ana.say("/household leave")
    assert "ask the Oak Ridge HOA board for a new access code" in ana.text
    issued = await admin.reset_access_code(
        world.uow_factory,
        community_name="Oak Ridge HOA",
        address="12 Oak Lane",
        secret_key=SECRET,
        clock=world.clock,
    )
    bob = world.person("bob", "Bob Stone")
    await bob.say(f"/join {issued.code}")
    assert "You are now the head" in bob.text, bob.text
    found = await members(world)
    assert found["Bob Stone"].role is Role.HEAD and found["Ana Lopez"].role is Role.MEMBER
    await world.deliver()
    assert any("Bob Stone is now the head of 12 Oak Lane" in n for n in notices_to(world, "ana"))
    # The code is spent: nobody else gets in with it.
    sam = world.person("sam", "Sam")
    await sam.say(f"/join {issued.code}")
    assert "You are now the head" not in sam.text
    await bob.say("/household history")
    assert (
        "Bob Stone claimed the household as head with a new access code from the board "
        "(Ana Lopez was head before)." in bob.text
    )
    await ana.say("/household leave")
    await ana.press("Yes, leave")
    assert "You have left the household at 12 Oak Lane" in ana.text


async def test_a_member_who_types_the_boards_new_code_becomes_head(world: World) -> None:
    from bot import admin
    from tests.unit.conftest import SECRET

    ana, maria, _ = await ana_and_maria(world)
    household = await household_of(world)
    maria_id = (await members(world))["Maria Ruiz"].id
    await ana.press_payload(f"member:make_head:{maria_id}")  # an open request, voided below
    issued = await admin.reset_access_code(
        world.uow_factory,
        community_name="Oak Ridge HOA",
        address="12 Oak Lane",
        secret_key=SECRET,
        clock=world.clock,
    )
    await ana.say(f"/join {issued.code}")  # the head herself: the code is spent, no change
    assert (await members(world))["Ana Lopez"].role is Role.HEAD
    issued = await admin.reset_access_code(
        world.uow_factory,
        community_name="Oak Ridge HOA",
        address="12 Oak Lane",
        secret_key=SECRET,
        clock=world.clock,
    )
    await maria.say(f"/join {issued.code}")
    found = await members(world)
    assert found["Maria Ruiz"].role is Role.HEAD and found["Ana Lopez"].role is Role.MEMBER
    after = await household_of(world)
    assert after.head_member_id == maria_id and after.head_request_member_id is None
    assert len(found) == 2  # nobody new: Maria's own member row took the role
    await maria.press_payload(f"head:accept:{household.id}")
    assert "no longer open" in maria.text
