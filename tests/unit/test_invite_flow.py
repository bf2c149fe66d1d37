"""The /invite conversation as chat transcripts: every step and every refusal."""

from __future__ import annotations

from bot.domain import Channel, InvitationStatus, Method
from bot.invitations import LINK_SLOT
from tests.unit.conftest import World


async def invitations(world: World, head_user: str = "ana"):
    async with world.uow_factory() as uow:
        identity = await uow.identities.get(platform="console", external_id=head_user)
        assert identity is not None
        member = await uow.members.get(identity.member_id)
        assert member is not None
        return list(await uow.invitations.list_for_household(member.household_id))


async def outbox(world: World):
    async with world.uow_factory() as uow:
        found = []
        for invitation in await uow.invitations.list_for_household(await _household_id(uow)):
            found.extend(await uow.outbox.list_for_invitation(invitation.id))
        return found


async def _household_id(uow) -> str:
    identity = await uow.identities.get(platform="console", external_id="ana")
    member = await uow.members.get(identity.member_id)
    return member.household_id


async def test_invite_by_sms_step_by_step(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite")
    assert "How should we send the invitation?" in ana.text
    assert ana.buttons() == ["Email", "SMS Text", "Cancel"]

    await ana.press("SMS Text")
    assert "full name" in ana.text

    await ana.say("  Maria   Ruiz ")
    assert "What is Maria Ruiz's mobile phone number?" in ana.text

    await ana.say("(202) 555-0199")
    assert "Ready to send this invitation?" in ana.text
    assert "Maria Ruiz" in ana.text and "SMS Text" in ana.text and "+1 202 555 0199" in ana.text
    assert ana.buttons() == ["Send Invite", "Edit", "Cancel"]
    assert await invitations(world) == []  # nothing is recorded before Send Invite

    await ana.press("Send Invite")
    assert "Invitation sent to Maria Ruiz by SMS Text" in ana.text
    assert ana.buttons() == ["OK"]
    assert ana.last[0].replace_previous

    [invitation] = await invitations(world)
    assert invitation.method is Method.SMS
    assert invitation.invitee_name == "Maria Ruiz"
    assert invitation.contact == "+12025550199"
    assert invitation.status is InvitationStatus.PENDING
    assert invitation.expires_at - invitation.created_at == world.limits.invite_ttl

    [queued] = await outbox(world)
    assert queued.channel is Channel.SMS and queued.destination == "+12025550199"
    assert "Reply JOIN to accept, DECLINE to decline." in queued.body
    # The stored row holds a slot, not the link: a database dump admits no one.
    assert "https://hoa.example/i/" not in queued.body and LINK_SLOT in queued.body
    assert (
        "Ana Lopez" in queued.body
        and "12 Oak Lane" in queued.body
        and "Oak Ridge HOA" in queued.body
    )

    await world.deliver()
    assert [m.destination for m in world.sender.sent] == ["+12025550199"]
    assert "https://hoa.example/i/" in world.sender.sent[0].body
    assert LINK_SLOT not in world.sender.sent[0].body
    [invitation] = await invitations(world)
    assert invitation.delivery_status == "sent" and invitation.sent_at == world.clock.now()

    await ana.press("OK")
    assert ana.buttons() == [] and ana.last[0].replace_previous
    assert "Maria Ruiz" in ana.text


async def test_invite_by_email_typing_the_button_label(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite")
    await ana.say("email")
    await ana.say("Jean-Luc Picard")
    assert "email address" in ana.text
    await ana.say("Jean.Luc@Example.ORG")
    assert "jean.luc@example.org" in ana.text.lower()
    await ana.say("send invite")
    [invitation] = await invitations(world)
    assert invitation.method is Method.EMAIL and invitation.contact.endswith("@example.org")
    [queued] = await outbox(world)
    assert queued.channel is Channel.EMAIL and "Ana Lopez invited you" in queued.subject


async def test_a_word_that_is_no_option_reasks(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite")
    await ana.say("carrier pigeon")
    assert "Please choose one of the options: Email, SMS Text, Cancel." in ana.text
    assert ana.buttons() == ["Email", "SMS Text", "Cancel"]


async def test_one_shot_sms_goes_straight_to_the_summary(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite sms Maria Ruiz +1 202 555 0199")
    assert "Ready to send this invitation?" in ana.text
    assert "Maria Ruiz" in ana.text
    await ana.press("Send Invite")
    [invitation] = await invitations(world)
    assert invitation.contact == "+12025550199" and invitation.invitee_name == "Maria Ruiz"


async def test_one_shot_email_and_method_guessed_from_the_contact(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite email Maria Ruiz maria@example.org")
    assert "Ready to send" in ana.text and "maria@example.org" in ana.text
    await ana.say("/invite Tom Ruiz tom@example.org")
    assert "Ready to send" in ana.text and "Email" in ana.text and "Tom Ruiz" in ana.text


async def test_one_shot_with_parts_missing_asks_for_the_rest(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite sms")
    assert "full name" in ana.text
    await ana.say("/invite sms Maria Ruiz")
    assert "mobile phone number" in ana.text
    await ana.say("/invite sms Maria Ruiz 12")
    assert "too short" in ana.text and "mobile phone number" in ana.text


async def test_refused_answers_reask_and_store_nothing(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite")
    await ana.press("SMS Text")
    await ana.say("\u0000\u0007")
    assert "full name" in ana.text  # asked again
    await ana.say("x" * 500)
    assert "full name" in ana.text
    await ana.say("Maria Ruiz")
    for bad in ["555", "+1 800 555 0199", "maria@example.org", "not a number", "+" + "9" * 5000]:
        await ana.say(bad)
        assert "mobile phone number" in ana.text, bad
        assert "Ready to send" not in ana.text
    assert await invitations(world) == []
    await ana.say("+1 202 555 0199")
    assert "Ready to send" in ana.text


async def test_bad_email_is_refused_with_an_example(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite email Maria Ruiz")
    for bad in [
        "maria",
        "maria@",
        "maria@@example.org",
        "maria@exa mple.org",
        "a" * 400 + "@x.org",
    ]:
        await ana.say(bad)
        assert "email address" in ana.text and "maria@example.org" in ana.text, (bad, ana.text)
    assert await invitations(world) == []


async def test_edit_from_the_summary(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite sms Maria Ruiz +1 202 555 0199")
    await ana.press("Edit")
    assert ana.buttons() == ["How to send", "Name", "Contact", "Language", "Back"]
    await ana.press("Name")
    await ana.say("María Ruiz-Gómez")
    assert "Ready to send" in ana.text and "María Ruiz-Gómez" in ana.text

    # Switching the method asks for a contact of the new kind.
    await ana.press("Edit")
    await ana.press("How to send")
    await ana.press("Email")
    assert "email address" in ana.text
    await ana.say("maria@example.org")
    assert "Ready to send" in ana.text and "Email" in ana.text

    await ana.press("Edit")
    await ana.press("Contact")
    await ana.say("m.ruiz@example.org")
    assert "m.ruiz@example.org" in ana.text
    await ana.press("Edit")
    await ana.press("Back")
    assert "Ready to send" in ana.text
    await ana.press("Send Invite")
    [invitation] = await invitations(world)
    assert (invitation.invitee_name, invitation.contact) == (
        "María Ruiz-Gómez",
        "m.ruiz@example.org",
    )


async def test_cancel_leaves_any_step_and_sends_nothing(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite")
    await ana.press("Email")
    await ana.say("/cancel")
    assert "Nothing was sent" in ana.text
    await ana.say("/cancel")
    assert "nothing to cancel" in ana.text
    await ana.say("/invite sms Maria Ruiz +1 202 555 0199")
    await ana.press("Cancel")
    assert "Nothing was sent" in ana.text
    assert await invitations(world) == []


async def test_old_buttons_do_nothing_after_the_flow_ended(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite sms Maria Ruiz +1 202 555 0199")
    send = ana.payload_of("Send Invite")
    await ana.press("Send Invite")
    await ana.press_payload(send)  # a double click, or a replayed press
    assert "conversation that has ended" in ana.text
    assert len(await invitations(world)) == 1


async def test_tampered_payloads_get_a_friendly_answer(world: World) -> None:
    ana = await world.head()
    for payload in [
        "",
        "flow:",
        "flow:method:fax",
        "card:cancel:xyz",
        "card:cancel:" + "0" * 32,
        "card:explode:" + "a" * 32,
        "💣" * 100,
        "flow:send" + "x" * 10000,
    ]:
        replies = await ana.press_payload(payload)
        assert len(replies) == 1 and replies[0].buttons == ()
        assert "isn't valid" in ana.text or "not one of your household's" in ana.text, payload


async def test_second_pending_invitation_to_the_same_contact_offers_resend(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite sms Maria Ruiz +1 202 555 0199")
    await ana.press("Send Invite")
    await ana.say("/invite sms Maria R +12025550199")
    assert "already has a pending invitation" in ana.text
    assert ana.buttons() == ["Send it again", "Cancel"]
    await ana.press("Send it again")
    assert "Sent the invitation to Maria Ruiz again" in ana.text
    assert len(await invitations(world)) == 1
    assert len(await outbox(world)) == 2


async def test_a_contact_who_is_already_a_member_is_told_so(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite email Maria Ruiz maria@example.org")
    await ana.press("Send Invite")
    await world.deliver()
    link = world.sender.to("maria@example.org")[0].body
    maria = world.person("maria")
    await maria.say(f"/join {link}")
    assert "Welcome, Maria Ruiz" in maria.text
    await ana.say("/invite email Maria Again MARIA@example.org")
    assert "Maria Ruiz is already a member of your household" in ana.text
    await ana.say("/invite email Me Myself nobody@example.org")
    assert "Ready to send" in ana.text


async def test_only_a_head_may_invite(world: World) -> None:
    stranger = world.person("zed")
    await stranger.say("/invite sms Maria Ruiz +1 202 555 0199")
    assert "not part of a household" in stranger.text

    ana = await world.head()
    await ana.say("/invite email Maria Ruiz maria@example.org")
    await ana.press("Send Invite")
    await world.deliver()
    maria = world.person("maria")
    await maria.say(f"/join {world.sender.to('maria@example.org')[0].body}")
    await maria.say("/invite sms Tom +1 202 555 0100")
    assert "Only the head of a household can do that" in maria.text
    assert len(await invitations(world)) == 1


async def test_quota_per_head_per_hour_and_day(world: World) -> None:
    world.limits = type(world.limits)(invites_per_hour=2, invites_per_day=3)
    world.__post_init__()
    ana = await world.head()
    for n in range(2):
        await ana.say(f"/invite email Friend {n} friend{n}@example.org")
        await ana.press("Send Invite")
    await ana.say("/invite")
    assert "2 invitations in the last hour" in ana.text
    world.clock.advance(hours=1, minutes=1)
    await ana.say("/invite email Friend Three friend3@example.org")
    await ana.press("Send Invite")
    await ana.say("/invite")
    assert "3 invitations in the last day" in ana.text
    world.clock.advance(days=1)
    await ana.say("/invite")
    assert "How should we send" in ana.text


async def test_destination_cap_across_households(world: World) -> None:
    world.limits = type(world.limits)(messages_per_destination_per_day=2)
    world.__post_init__()
    ana = await world.head()
    bob = await world.head("bob", address="14 Oak Lane")
    await ana.say("/invite sms Maria Ruiz +1 202 555 0199")
    await ana.press("Send Invite")
    await bob.say("/invite sms Maria Ruiz +1 202 555 0199")
    await bob.press("Send Invite")
    carol = await world.head("carol", address="16 Oak Lane")
    await carol.say("/invite sms Maria Ruiz +1 202 555 0199")
    await carol.press("Send Invite")
    # Neutral wording: nothing about what other households sent.
    assert "we send at most 2 a day to one person" in carol.text
    assert "Copy Invite Link" in carol.text
