"""/household: the members, the invitation cards and their buttons; accepting, declining and
expiring; who may press what."""

from __future__ import annotations

import re

from bot.domain import InvitationStatus
from tests.chat import Person
from tests.unit.conftest import World

LINK = re.compile(r"https://hoa\.example/i/([A-Za-z0-9_-]{43})")


async def invite(world: World, head: Person, one_shot: str) -> str:
    """Send an invitation; return the link the invitee received."""
    await head.say(f"/invite {one_shot}")
    await head.press("Send Invite")
    await world.deliver()
    found = LINK.search(world.sender.sent[-1].body)
    assert found, world.sender.sent[-1].body
    return found.group(0)


async def statuses(world: World) -> list[InvitationStatus]:
    async with world.uow_factory() as uow:
        households = await uow.households.list()
        found = []
        for household in households:
            found += [i.status for i in await uow.invitations.list_for_household(household.id)]
        return found


async def test_household_shows_members_and_a_card_per_invitation(world: World) -> None:
    ana = await world.head()
    await ana.say("/household")
    assert "12 Oak Lane · Oak Ridge HOA" in ana.text
    assert "Ana Lopez (head)" in ana.text
    assert "No invitations yet" in ana.text

    await invite(world, ana, "sms Maria Ruiz +1 202 555 0199")
    await invite(world, ana, "email Tom Ruiz tom@example.org")
    await ana.say("/household")
    cards = [r for r in ana.last if any(b.payload.startswith("card:") for b in r.buttons)]
    assert len(cards) == 2
    maria = cards[0]
    assert "Maria Ruiz · SMS Text · +1 ••• ••• 0199" in maria.text
    assert "Status: pending (sent)" in maria.text
    assert "Sent Nov 24, 2026, 12:00 PM UTC · Expires Dec 1, 2026, 12:00 PM UTC" in maria.text
    assert [b.label for b in maria.buttons] == ["Copy Invite Link", "Resend", "Cancel Invite"]
    assert "t•••@example.org" in cards[1].text
    assert "+12025550199" not in ana.text  # contacts are masked on cards


async def test_copy_invite_link_shows_the_same_working_link(world: World) -> None:
    ana = await world.head()
    link = await invite(world, ana, "sms Maria Ruiz +1 202 555 0199")
    await ana.say("/household")
    await ana.press("Copy Invite Link")
    assert ana.last[0].link == link
    assert ana.last[1].link == f"{link}/qr.png" and "QR code" in ana.last[1].text
    assert "Share it any way you like" in ana.text
    maria = world.person("maria")
    await maria.say(f"/join {ana.last[0].link}")
    assert "Welcome, Maria Ruiz" in maria.text


async def test_accepting_makes_a_member_and_tells_the_head(world: World) -> None:
    ana = await world.head()
    link = await invite(world, ana, "sms Maria Ruiz +1 202 555 0199")
    maria = world.person("maria", "Maria")
    await maria.say(f"/join {link}")
    assert (
        "Welcome, Maria Ruiz! You are now a member of the household at 12 Oak Lane "
        "in Oak Ridge HOA." in maria.text
    )
    await world.deliver()
    note = world.sender.sent[-1]
    assert note.channel == "chat" and note.platform == "console" and note.destination == "ana"
    assert "Maria Ruiz accepted your invitation" in note.body
    await ana.say("/household")
    assert "Maria Ruiz · +1 ••• ••• 0199" in ana.text
    assert "accepted" in ana.text
    await maria.say("/household")
    assert "Ana Lopez (head)" in maria.text and "Maria Ruiz" in maria.text
    # Members see no invitation buttons and no head's buttons: only Leave household.
    assert [b.label for r in maria.last for b in r.buttons] == ["Leave household"]
    assert await statuses(world) == [InvitationStatus.ACCEPTED]


async def test_a_used_link_never_admits_anyone_again(world: World) -> None:
    ana = await world.head()
    link = await invite(world, ana, "sms Maria Ruiz +1 202 555 0199")
    await world.person("maria").say(f"/join {link}")
    eve = world.person("eve")
    await eve.say(f"/join {link}")
    assert "This invite link isn't valid" in eve.text


async def test_bare_token_and_telegram_style_links_work_too(world: World) -> None:
    ana = await world.head()
    link = await invite(world, ana, "sms Maria Ruiz +1 202 555 0199")
    token = link.rsplit("/", 1)[1]
    maria = world.person("maria")
    await maria.say(f"/start {token}")
    assert "Welcome" in maria.text
    link2 = await invite(world, ana, "sms Tom Ruiz +1 202 555 0100")
    tom = world.person("tom")
    await tom.say(f"https://t.me/oakbot?start={link2.rsplit('/', 1)[1]}")
    assert "Welcome, Tom Ruiz" in tom.text


async def test_unknown_expired_cancelled_and_forged_tokens_get_one_answer(world: World) -> None:
    ana = await world.head()
    expired = await invite(world, ana, "sms Maria Ruiz +1 202 555 0199")
    cancelled = await invite(world, ana, "email Tom Ruiz tom@example.org")
    await ana.say("/household")
    await ana.press_payload(ana.last[2].buttons[2].payload)  # Cancel Invite on Tom's card
    await ana.press("Yes, cancel it")
    token = expired.rsplit("/", 1)[1]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    world.clock.advance(days=8)
    eve = world.person("eve")
    answers = set()
    for attempt in [expired, cancelled, forged, "A" * 43, "https://hoa.example/i/" + "x" * 43]:
        await eve.say(f"/join {attempt}")
        answers.add(eve.text)
    assert answers == {
        "This invite link isn't valid. It may have expired, been cancelled or been used already. "
        "Please ask the person who invited you to send a new one."
    }


async def test_cancel_asks_then_voids_the_link(world: World) -> None:
    ana = await world.head()
    link = await invite(world, ana, "sms Maria Ruiz +1 202 555 0199")
    await ana.say("/household")
    await ana.press("Cancel Invite")
    assert "Cancel the invitation to Maria Ruiz?" in ana.text
    assert ana.buttons() == ["Yes, cancel it", "Keep it"]
    await ana.press("Keep it")
    assert "stays as it is" in ana.text
    assert await statuses(world) == [InvitationStatus.PENDING]

    await ana.say("/household")
    await ana.press("Cancel Invite")
    await ana.press("Yes, cancel it")
    assert "Invitation to Maria Ruiz cancelled" in ana.text
    assert await statuses(world) == [InvitationStatus.CANCELLED]
    maria = world.person("maria")
    await maria.say(f"/join {link}")
    assert "isn't valid" in maria.text
    await ana.say("/household")
    assert not [b for r in ana.last for b in r.buttons if b.payload.startswith("card:")]
    assert "cancelled" in ana.text


async def test_resend_sends_the_same_link_again(world: World) -> None:
    ana = await world.head()
    link = await invite(world, ana, "sms Maria Ruiz +1 202 555 0199")
    await ana.say("/household")
    await ana.press("Resend")
    assert "Sent the invitation to Maria Ruiz again" in ana.text
    await world.deliver()
    assert len(world.sender.to("+12025550199")) == 2
    assert link in world.sender.to("+12025550199")[1].body


async def test_expired_invitations_show_as_expired_and_resend_with_a_new_link(world: World) -> None:
    ana = await world.head()
    old_link = await invite(world, ana, "sms Maria Ruiz +1 202 555 0199")
    world.clock.advance(days=7, seconds=1)
    await ana.say("/household")
    assert "Status: expired" in ana.text and "Expired Dec 1, 2026" in ana.text
    await ana.press("Copy Invite Link")
    assert "has expired" in ana.text and ana.last[0].link is None
    await world.deliver()  # the sweep marks it expired and tells the head
    assert "expired without an answer" in world.sender.sent[-1].body
    assert await statuses(world) == [InvitationStatus.EXPIRED]

    await ana.say("/household")
    await ana.press("Resend")
    assert ana.buttons() == ["Same link", "New link"]
    await ana.press("New link")
    assert "earlier links no longer work" in ana.text and "Dec 8, 2026" in ana.text
    assert await statuses(world) == [InvitationStatus.PENDING]
    await world.deliver()
    new_link = LINK.search(world.sender.to("+12025550199")[-1].body).group(0)
    assert new_link != old_link
    maria = world.person("maria")
    await maria.say(f"/join {old_link}")
    assert "isn't valid" in maria.text
    await maria.say(f"/join {new_link}")
    assert "Welcome" in maria.text


async def test_expired_resend_with_the_same_link_revives_it(world: World) -> None:
    ana = await world.head()
    link = await invite(world, ana, "email Tom Ruiz tom@example.org")
    world.clock.advance(days=8)
    await ana.say("/household")
    await ana.press("Resend")
    await ana.press("Same link")
    assert "It now expires Dec 9, 2026" in ana.text
    tom = world.person("tom")
    await tom.say(f"/join {link}")
    assert "Welcome" in tom.text


async def test_decline(world: World) -> None:
    ana = await world.head()
    link = await invite(world, ana, "sms Maria Ruiz +1 202 555 0199")
    maria = world.person("maria")
    await maria.say(f"/decline {link}")
    assert "You declined the invitation to 12 Oak Lane" in maria.text
    await world.deliver()
    assert "Maria Ruiz declined your invitation." in world.sender.sent[-1].body
    await maria.say(f"/join {link}")
    assert "isn't valid" in maria.text
    assert await statuses(world) == [InvitationStatus.DECLINED]


async def test_members_and_strangers_cannot_press_a_heads_buttons(world: World) -> None:
    ana = await world.head()
    link = await invite(world, ana, "sms Maria Ruiz +1 202 555 0199")
    await invite(world, ana, "email Tom Ruiz tom@example.org")
    await ana.say("/household")
    tom_card = ana.last[2]
    payloads = (
        [b.payload for b in tom_card.buttons]
        + [p.replace("card:cancel:", "card:cancel_yes:") for p in [tom_card.buttons[2].payload]]
        + [tom_card.buttons[1].payload.replace("resend", "resend_new")]
    )

    maria = world.person("maria")
    await maria.say(f"/join {link}")
    bob = await world.head("bob", address="14 Oak Lane")  # head of another household
    zed = world.person("zed")
    for person, expected in [
        (maria, "Only the head"),
        (bob, "not one of your household's"),
        (zed, "not part of a household"),
    ]:
        for payload in payloads:
            await person.press_payload(payload)
            assert expected in person.text, (person.actor.user_id, payload, person.text)
            assert person.last[0].link is None
    assert sorted(await statuses(world)) == sorted(
        [InvitationStatus.ACCEPTED, InvitationStatus.PENDING]
    )
    await world.deliver()
    assert len(world.sender.to("tom@example.org")) == 1  # no resend happened


async def test_someone_in_a_household_cannot_accept_another(world: World) -> None:
    ana = await world.head()
    bob = await world.head("bob", address="14 Oak Lane")
    link = await invite(world, ana, "sms Maria Ruiz +1 202 555 0199")
    await bob.say(f"/join {link}")
    assert "already a member of the household at 14 Oak Lane" in bob.text
    assert await statuses(world) == [InvitationStatus.PENDING]
