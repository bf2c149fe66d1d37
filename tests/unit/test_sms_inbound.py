"""Invitees answering by text message: every keyword, opt-out then START, duplicates,
numbered choices, WRONG, and delivery reports arriving out of order."""

from __future__ import annotations

import itertools

import pytest

from bot import messages as msg
from bot.delivery import apply_delivery_report
from bot.domain import Channel, DeliveryStatus, InvitationStatus, Limits, OutboxStatus
from bot.language import Words
from bot.ports import UnitOfWorkFactory
from bot.sms import is_gsm7, segment_info
from bot.sms_inbound import (
    KEYWORDS,
    InboundSms,
    handle_inbound_sms,
    language_of_word,
    parse_keyword,
)
from tests.chat import Person
from tests.unit.conftest import World

MARIA = "+12025550199"
_sids = itertools.count(1)


@pytest.fixture
def world(uow_factory: UnitOfWorkFactory) -> World:
    """These transcripts text one number many times an hour: the cap on automatic replies
    (tests/security/test_sms_autoreply.py) is raised out of their way."""
    return World(uow_factory=uow_factory, limits=Limits(sms_replies_per_sender_per_hour=1000))


async def text(
    world: World, body: str, *, sender: str = MARIA, sid: str | None = None
) -> str | None:
    async with world.uow_factory() as uow:
        reply = await handle_inbound_sms(
            uow,
            world.ctx,
            InboundSms(sender=sender, body=body, message_id=sid or f"SM{next(_sids)}"),
        )
        await uow.commit()
    return reply


async def invite_maria(world: World, head: Person, name: str = "Maria Ruiz") -> None:
    await head.say(f"/invite sms {name} {MARIA}")
    await head.press("Send Invite")
    assert "Invitation sent" in head.text, head.text
    await world.deliver()


async def statuses(world: World) -> list[InvitationStatus]:
    async with world.uow_factory() as uow:
        return [i.status for i in await uow.invitations.list_pending_for_contact(MARIA)] + [
            i.status
            for h in await uow.households.list()
            for i in await uow.invitations.list_for_household(h.id)
            if i.status is not InvitationStatus.PENDING
        ]


@pytest.mark.parametrize(
    ("body", "word", "choice"),
    [
        ("JOIN", "JOIN", None),
        (" join ", "JOIN", None),
        ("Join!", "JOIN", None),
        ("j o i n", None, None),
        ("yes.", "YES", None),
        ("JOIN 2", "JOIN", 2),
        ("join2", "JOIN", 2),
        ("Join #3", "JOIN", 3),
        ("decline", "DECLINE", None),
        ("I want to join", None, None),
        ("", None, None),
        ("🙂", None, None),
    ],
)
def test_keywords_are_read_forgivingly(body: str, word: str | None, choice: int | None) -> None:
    keyword = parse_keyword(body)
    if word is None:
        assert keyword is None or keyword.word not in {"JOIN"}
    else:
        assert keyword is not None and (keyword.word, keyword.choice) == (word, choice)


async def test_join_accepts_links_the_phone_and_tells_the_head(world: World) -> None:
    ana = await world.head()
    await invite_maria(world, ana)
    reply = await text(world, "Join.")
    assert (
        reply == "Welcome, Maria Ruiz! You are now a member of the household at 12 Oak Lane "
        "(Oak Ridge HOA)."
    )
    await world.deliver()
    note = world.sender.sent[-1]
    assert (note.channel, note.platform, note.destination) == (Channel.CHAT, "console", "ana")
    assert "Maria Ruiz accepted your invitation" in note.body
    async with world.uow_factory() as uow:
        identity = await uow.identities.get(platform="sms", external_id=MARIA)
        assert identity is not None
        member = await uow.members.get(identity.member_id)
        assert member is not None and member.phone == MARIA and member.name == "Maria Ruiz"
    assert await text(world, "JOIN") == (
        "This number already belongs to a member of the household at 12 Oak Lane."
    )
    assert "Oak Ridge HOA" in (await text(world, "HELP") or "")
    assert await text(world, "DECLINE", sender="+12025550100") == (
        "There is no open invitation for this number. It may have expired or been cancelled; "
        "ask the person who invited you to send a new one."
    )


@pytest.mark.parametrize("word", ["ACCEPT", "yes", "JOIN"])
async def test_every_accept_word(world: World, word: str) -> None:
    ana = await world.head()
    await invite_maria(world, ana)
    assert "Welcome" in (await text(world, word) or "")
    assert await statuses(world) == [InvitationStatus.ACCEPTED]


@pytest.mark.parametrize("word", ["DECLINE", "no"])
async def test_decline_words(world: World, word: str) -> None:
    ana = await world.head()
    await invite_maria(world, ana)
    assert "you declined the invitation to 12 Oak Lane" in (await text(world, word) or "")
    await world.deliver()
    assert "Maria Ruiz declined your invitation." in world.sender.sent[-1].body
    assert await statuses(world) == [InvitationStatus.DECLINED]


async def test_the_same_message_twice_has_one_effect(world: World) -> None:
    ana = await world.head()
    await invite_maria(world, ana)
    first = await text(world, "JOIN", sid="SMdup")
    again = await text(world, "JOIN", sid="SMdup")
    assert first and "Welcome" in first
    assert again is None
    await world.deliver()
    notes = [m for m in world.sender.sent if m.channel is Channel.CHAT]
    assert len(notes) == 1


async def test_several_invitations_get_a_numbered_choice(world: World) -> None:
    ana = await world.head()
    bob = await world.head("bob", address="14 Oak Lane")
    await invite_maria(world, ana)
    await invite_maria(world, bob)
    reply = await text(world, "JOIN") or ""
    assert reply.startswith("You have 2 invitations:")
    assert (
        "1) Ana Lopez, 12 Oak Lane (Oak Ridge HOA)" in reply
        and "2) Ana Lopez, 14 Oak Lane" in reply
    )
    assert "Reply JOIN 1, JOIN 2" in reply
    assert await text(world, "JOIN 3") == "Please reply JOIN with a number from 1 to 2."
    assert "14 Oak Lane" in (await text(world, "join 2") or "")
    async with world.uow_factory() as uow:
        [pending] = await uow.invitations.list_pending_for_contact(MARIA)
        household = await uow.households.get(pending.household_id)
        assert household is not None and household.address == "12 Oak Lane"


async def test_wrong_declines_tells_the_head_and_blocks_the_number(world: World) -> None:
    ana = await world.head()
    await invite_maria(world, ana)
    assert "won't text this number" in (await text(world, "wrong") or "")
    await world.deliver()
    assert "says it is the wrong number" in world.sender.sent[-1].body
    await ana.say(f"/invite sms Maria Ruiz {MARIA}")
    assert "told us it is the wrong number" in ana.text
    assert "mobile phone number" in ana.text  # asked again for another number
    assert await statuses(world) == [InvitationStatus.DECLINED]


async def test_stop_opts_out_until_start(world: World) -> None:
    ana = await world.head()
    await invite_maria(world, ana)
    assert await text(world, "STOP") == ""  # the carrier confirms an opt-out itself
    await ana.say("/household")
    await ana.press("Resend")
    assert "opted out of text messages" in ana.text
    await ana.say("/invite sms Tom +12025550100")
    await ana.press("Send Invite")
    assert await text(world, "START") == ""
    await ana.say("/household")
    await ana.press("Resend", on="Maria Ruiz")
    assert "Sent the invitation to Maria Ruiz again" in ana.text


async def test_a_number_that_opts_out_after_queueing_is_not_texted(world: World) -> None:
    ana = await world.head()
    await ana.say(f"/invite sms Maria Ruiz {MARIA}")
    await ana.press("Send Invite")
    assert await text(world, "unsubscribe") == ""
    await world.deliver()
    sms = [m for m in world.sender.sent if m.channel is Channel.SMS]
    assert sms == []
    await ana.say("/household")
    assert "could not be delivered" in ana.text
    note = world.sender.sent[-1]
    assert "opted out of text messages" in note.body


async def test_help_and_anything_else(world: World) -> None:
    ana = await world.head()
    await invite_maria(world, ana)
    help_text = await text(world, "help") or ""
    assert "Oak Ridge HOA" in help_text and "board@oakridge.example" in help_text
    assert "JOIN" in help_text and "STOP" in help_text
    for body in ["hello?", "what is this", "", "🙂" * 2000, "JOIN JOIN", "\x00"]:
        assert await text(world, body) == (
            "Reply JOIN to accept your household invitation, DECLINE to decline, or HELP for help."
        )
    assert await statuses(world) == [InvitationStatus.PENDING]


async def test_a_member_number_cannot_join_twice(world: World) -> None:
    ana = await world.head()
    bob = await world.head("bob", address="14 Oak Lane")
    await invite_maria(world, ana)
    await text(world, "JOIN")
    await invite_maria(world, bob)
    assert "already belongs to a member of the household at 12 Oak Lane" in (
        await text(world, "JOIN") or ""
    )


async def sms_outbox(world: World):
    async with world.uow_factory() as uow:
        [invitation] = await uow.invitations.list_pending_for_contact(MARIA)
        rows = await uow.outbox.list_for_invitation(invitation.id)
        return invitation, [r for r in rows if r.channel is Channel.SMS]


async def report(world: World, sid: str, status: str, code: str = "") -> bool:
    async with world.uow_factory() as uow:
        changed = await apply_delivery_report(
            uow, world.ctx, provider_id=sid, status=status, error_code=code
        )
        await uow.commit()
    return changed


async def test_delivery_reports_move_forward_only(world: World) -> None:
    ana = await world.head()
    await invite_maria(world, ana)
    invitation, [row] = await sms_outbox(world)
    assert row.status is OutboxStatus.SENT and invitation.provider_message_id == row.provider_id
    sid = row.provider_id
    assert await report(world, sid, "delivered")
    assert not await report(world, sid, "sent")  # late and out of order
    assert not await report(world, sid, "queued")
    assert not await report(world, sid, "failed", "30003")
    assert not await report(world, "SMunknown", "delivered")
    assert not await report(world, sid, "exploded")
    invitation, _ = await sms_outbox(world)
    assert invitation.delivery_status is DeliveryStatus.DELIVERED
    await ana.say("/household")
    assert "pending (delivered)" in ana.text


async def test_an_undelivered_report_tells_the_head(world: World) -> None:
    ana = await world.head()
    await invite_maria(world, ana)
    _, [row] = await sms_outbox(world)
    assert await report(world, row.provider_id, "undelivered", "30006")
    await world.deliver()
    note = world.sender.sent[-1]
    assert "could not deliver the invitation to Maria Ruiz" in note.body and "30006" in note.body


async def test_reports_about_an_earlier_send_change_nothing(world: World) -> None:
    ana = await world.head()
    await invite_maria(world, ana)
    _, [first] = await sms_outbox(world)
    await ana.say("/household")
    await ana.press("Resend")
    await world.deliver()
    assert not await report(world, first.provider_id, "failed", "30003")
    invitation, rows = await sms_outbox(world)
    assert invitation.delivery_status is DeliveryStatus.SENT
    assert invitation.provider_message_id == rows[-1].provider_id


async def test_a_member_whose_number_opted_out_is_still_told_they_are_a_member(
    world: World,
) -> None:
    ana = await world.head()
    await invite_maria(world, ana)
    await text(world, "JOIN")
    await text(world, "STOP")
    await ana.say(f"/invite sms Maria Ruiz {MARIA}")
    assert "Maria Ruiz is already a member of your household" in ana.text
    assert "opted out" not in ana.text


# --- in Spanish -----------------------------------------------------------------------------


def test_no_keyword_means_one_thing_in_one_language_and_another_in_the_other() -> None:
    kinds = ("accept", "decline", "wrong", "opt_out", "opt_in", "help")
    meaning: dict[str, set[str]] = {}
    for keywords in KEYWORDS.values():
        for kind in kinds:
            for word in getattr(keywords, kind):
                meaning.setdefault(word, set()).add(kind)
    # YES is both an acceptance and Twilio's opt-in: one language's double meaning, on purpose.
    assert {word: kinds for word, kinds in meaning.items() if len(kinds) > 1} == {
        "YES": {"accept", "opt_in"}
    }
    # A word of both languages is NO, and it declines in both.
    shared = set.intersection(*(set(k.all()) for k in KEYWORDS.values()))
    assert shared == {"NO"}
    assert language_of_word("UNIRME") == "es" and language_of_word("JOIN") == "en"
    assert language_of_word("NO") is None and language_of_word("HELLO") is None


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ("sí", "SI"),
        ("¡Sí!", "SI"),
        ("  unirme. ", "UNIRME"),
        ("¿Ayuda?", "AYUDA"),
        ("Únirme", "UNIRME"),
    ],
)
def test_spanish_keywords_are_read_without_accents_or_marks(body: str, word: str) -> None:
    keyword = parse_keyword(body)
    assert keyword is not None and keyword.word == word


def test_fullwidth_letters_are_read_but_look_alikes_are_not() -> None:
    fullwidth = parse_keyword("ＪＯＩＮ　２")
    assert fullwidth is not None and (fullwidth.word, fullwidth.choice) == ("JOIN", 2)
    for body in ("№ 2", "ⓝⓞ", "ℕ𝕠", "JOIN²"):
        assert parse_keyword(body) is None, body


async def test_parar_opts_out_like_stop(world: World) -> None:
    ana = await world.head()
    await invite_maria(world, ana)
    assert await text(world, "Parar") == ""
    await ana.say("/household")
    await ana.press("Resend")
    assert "opted out of text messages" in ana.text
    assert await statuses(world) == [InvitationStatus.PENDING]


async def test_help_names_both_languages_keywords(world: World) -> None:
    ana = await world.head()
    await invite_maria(world, ana)
    english = await text(world, "HELP") or ""
    assert "JOIN" in english and "UNIRME" in english and "RECHAZAR" in english
    spanish = await text(world, "ayuda") or ""
    assert spanish == Words("es")(
        msg.SMS_HELP, community="Oak Ridge HOA", hoa="board@oakridge.example"
    )
    assert "UNIRME" in spanish and "JOIN" in spanish and spanish != english
    assert is_gsm7(spanish) and segment_info(spanish).segments <= 2


async def test_unirme_joins_an_english_invitation_and_answers_in_spanish(world: World) -> None:
    ana = await world.head()
    await invite_maria(world, ana)
    reply = await text(world, "UNIRME") or ""
    assert reply == Words("es")(
        msg.SMS_WELCOME, name="Maria Ruiz", address="12 Oak Lane", community="Oak Ridge HOA"
    )
    assert await statuses(world) == [InvitationStatus.ACCEPTED]
    # The head, who reads English, is told in English.
    await world.deliver()
    assert "Maria Ruiz accepted your invitation" in world.sender.sent[-1].body
