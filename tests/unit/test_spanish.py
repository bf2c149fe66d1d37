"""Spanish beside English, through the core: a head whose app speaks Spanish invites in
Spanish, the invitee gets a Spanish text and answers UNIRME, ``/language`` switches, the head
picks the invitation's language in Edit, and times read in the community's zone.

Expected sentences come from the catalog (``Words("es")``), so a better translation never
breaks these tests; each also checks that the Spanish is not the English."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot import messages as msg
from bot.domain import InvitationStatus
from bot.engine import Engine
from bot.language import Words, language_name, zone_named
from bot.ports import UnitOfWorkFactory
from bot.sms import is_gsm7, segment_info
from bot.sms_inbound import InboundSms, handle_inbound_sms
from tests.fakes import FakeClock
from tests.unit.conftest import World

ES = Words("es")
EN = Words("en")
MARIA = "+12025550199"


async def text(world: World, body: str, sid: str) -> str | None:
    async with world.uow_factory() as uow:
        reply = await handle_inbound_sms(
            uow, world.ctx, InboundSms(sender=MARIA, body=body, message_id=sid)
        )
        await uow.commit()
    return reply


async def the_invitation(world: World):
    async with world.uow_factory() as uow:
        [invitation] = await uow.invitations.list_pending_for_contact(MARIA)
        return invitation


def sent_to(world: World, destination: str) -> list[str]:
    return [m.body for m in world.sender.sent if m.destination == destination]


async def test_a_head_whose_app_speaks_spanish_invites_in_spanish(world: World) -> None:
    ana = await world.head(language="es")
    assert ES(msg.CLAIMED, address="12 Oak Lane", community="Oak Ridge HOA") in ana.text

    await ana.say("/invite")
    assert ES(msg.ASK_METHOD) in ana.text and ES(msg.ASK_METHOD) != msg.ASK_METHOD
    assert ana.buttons() == [ES(msg.BTN_EMAIL), ES(msg.BTN_SMS), ES(msg.BTN_CANCEL)]
    await ana.press(ES(msg.BTN_SMS))
    assert ES(msg.ASK_NAME) in ana.text
    await ana.say("María Núñez")
    assert "María Núñez" in ana.text and ES(msg.ASK_NAME) not in ana.text
    await ana.say("202 555 0199")
    assert ES(msg.SUMMARY_TITLE) in ana.text
    assert "Español" in ana.text  # the invitation's language: the head's own
    await ana.press(ES(msg.BTN_SEND))
    invitation = await the_invitation(world)
    assert invitation.language == "es"
    assert ES(msg.SENT, name="María Núñez", method=msg.BTN_SMS, expires=invitation.expires_at) in (
        ana.text
    )
    assert "1 dic 2026" in ana.text  # a week after 24 Nov 2026, in Spanish, in UTC

    await world.deliver()
    [sms] = sent_to(world, MARIA)
    assert "UNIRME" in sms and "JOIN" not in sms
    assert sms.startswith("Hola Maria Nuñez")  # GSM-7 spelling: í goes, ñ stays
    assert is_gsm7(sms) and segment_info(sms).segments <= 2

    reply = await text(world, "Unirme", "SM1")
    assert reply is not None and reply.startswith(ES(msg.SMS_WELCOME_SHORT, name="").rstrip("!"))
    assert (await statuses(world)) == [InvitationStatus.ACCEPTED]
    await world.deliver()
    told = sent_to(world, "ana")
    assert ES(msg.NOTIFY_ACCEPTED, name="María Núñez") in told


async def statuses(world: World) -> list[InvitationStatus]:
    async with world.uow_factory() as uow:
        return [
            i.status
            for h in await uow.households.list()
            for i in await uow.invitations.list_for_household(h.id)
        ]


async def test_the_member_keeps_the_invitations_language(world: World) -> None:
    ana = await world.head()  # an app that says nothing: English
    await ana.say(f"/invite sms Maria Ruiz {MARIA}")
    await ana.press(EN(msg.BTN_EDIT))
    await ana.press(EN(msg.BTN_EDIT_LANGUAGE))
    assert EN(msg.ASK_INVITATION_LANGUAGE, name="Maria Ruiz") in ana.text
    assert ana.buttons() == ["English", "Español", EN(msg.BTN_CANCEL)]
    await ana.press("Español")
    assert "Language: Español" in ana.text  # the summary, for the English-reading head
    await ana.press(EN(msg.BTN_SEND))
    assert "Invitation sent to Maria Ruiz" in ana.text
    await world.deliver()
    [sms] = sent_to(world, MARIA)
    assert "UNIRME" in sms

    # "NO" is both languages' word: the answer is in the invitation's language.
    reply = await text(world, "no", "SM2")
    assert (
        reply
        == ES(msg.SMS_DECLINED, address="12 Oak Lane")
        != EN(msg.SMS_DECLINED, address="12 Oak Lane")
    )
    await world.deliver()
    # The head reads English whatever the invitee's language.
    assert EN(msg.NOTIFY_DECLINED, name="Maria Ruiz") in sent_to(world, "ana")


async def test_a_member_who_joined_in_spanish_is_told_in_spanish(world: World) -> None:
    ana = await world.head()
    await ana.say(f"/invite sms Maria Ruiz {MARIA}")
    await ana.press(EN(msg.BTN_EDIT))
    await ana.press(EN(msg.BTN_EDIT_LANGUAGE))
    await ana.press("Español")
    await ana.press(EN(msg.BTN_SEND))
    await world.deliver()
    await text(world, "SÍ", "SM3")  # accents and case do not matter
    async with world.uow_factory() as uow:
        [household] = await uow.households.list()
        members = await uow.members.list_for_household(household.id)
    maria = next(m for m in members if m.name == "Maria Ruiz")
    assert maria.language == "es"


async def test_language_command_switches_and_follows_the_app_again(world: World) -> None:
    ana = await world.head(language="es-MX")
    await ana.say("/language")
    assert ES(msg.LANGUAGE_NOW, language="Español") in ana.text
    assert ana.buttons() == ["English", "Español", ES(msg.BTN_LANGUAGE_AUTO)]
    await ana.press("English")
    assert EN(msg.LANGUAGE_SET, language="English") in ana.text
    await ana.say("/help")
    assert EN(msg.HELP, hoa="Oak Ridge HOA at board@oakridge.example") in ana.text

    await ana.say("/language auto")
    assert ES(msg.LANGUAGE_AUTO, language="Español") in ana.text
    await ana.say("/help")
    assert (
        ES(
            msg.HELP,
            hoa=ES(msg.HOA_AT, community="Oak Ridge HOA", contact="board@oakridge.example"),
        )
        in ana.text
    )

    await ana.say("/language inglés")
    assert EN(msg.LANGUAGE_SET, language="English") in ana.text
    await ana.say("/language klingon")
    assert EN(msg.LANGUAGE_UNKNOWN, language="klingon") in ana.text
    assert ana.buttons()[:2] == ["English", "Español"]


async def test_the_chosen_language_is_what_notifications_use(world: World) -> None:
    ana = await world.head()
    await ana.say("/language es")
    await ana.say(f"/invite sms Maria Ruiz {MARIA}")
    await ana.press(ES(msg.BTN_SEND))
    await world.deliver()
    await text(world, "RECHAZAR", "SM4")
    await world.deliver()
    assert ES(msg.NOTIFY_DECLINED, name="Maria Ruiz") in sent_to(world, "ana")


async def test_a_language_button_from_elsewhere_changes_nothing(world: World) -> None:
    ana = await world.head()
    await ana.press_payload("language:xx")
    assert EN(msg.INVALID_BUTTON) in ana.text
    await ana.press_payload("flow:language:es")  # not asked: stale
    assert EN(msg.STALE_BUTTON) in ana.text


@pytest.fixture
def autumn(uow_factory: UnitOfWorkFactory) -> World:
    """28 October 2026, 6 pm in Los Angeles: summer time, and a week before it ends."""
    return World(uow_factory=uow_factory, clock=FakeClock(datetime(2026, 10, 29, 1, 0, tzinfo=UTC)))


async def test_pacific_time_on_both_sides_of_the_end_of_summer_time(autumn: World) -> None:
    ana = await autumn.head(timezone="America/Los_Angeles")
    await ana.say(f"/invite sms Maria Ruiz {MARIA}")
    await ana.press("Send Invite")
    # Sent in PDT, expiring a week later in PST (summer time ended on 1 November).
    assert "It expires Nov 4, 2026, 5:00 PM PST." in ana.text
    await ana.say("/household")
    assert "Sent Oct 28, 2026, 6:00 PM PDT · Expires Nov 4, 2026, 5:00 PM PST" in ana.text
    await ana.say("/language es")
    await ana.say("/household")
    assert "28 oct 2026, 18:00 PDT" in ana.text and "4 nov 2026, 17:00 PST" in ana.text


async def test_and_on_both_sides_of_its_start(uow_factory: UnitOfWorkFactory) -> None:
    spring = World(
        uow_factory=uow_factory, clock=FakeClock(datetime(2026, 3, 2, 20, 0, tzinfo=UTC))
    )
    ana = await spring.head(timezone="America/Los_Angeles")
    await ana.say(f"/invite sms Maria Ruiz {MARIA}")
    await ana.press("Send Invite")
    # Sent at noon PST on 2 March; a week later summer time has begun (8 March).
    assert "It expires Mar 9, 2026, 1:00 PM PDT." in ana.text
    await spring.deliver()
    [sms] = sent_to(spring, MARIA)
    assert "Mar 9, 2026, 1:00 PM PDT" in sms


async def test_a_community_without_a_zone_reads_the_servers_default(
    uow_factory: UnitOfWorkFactory,
) -> None:
    world = World(uow_factory=uow_factory)
    world.ctx = replace(world.ctx, default_timezone="America/New_York")
    world.engine = Engine(uow_factory=uow_factory, ctx=world.ctx)
    ana = await world.head()
    await ana.say(f"/invite sms Maria Ruiz {MARIA}")
    await ana.press("Send Invite")
    assert "It expires Dec 1, 2026, 7:00 AM EST." in ana.text


def test_language_names_are_their_own() -> None:
    assert language_name("en") == "English"
    assert language_name("es") == "Español"
    assert zone_named("America/Los_Angeles").utcoffset(datetime(2026, 7, 1)) is not None


async def test_a_members_language_follows_what_they_say_and_auto_clears_it(world: World) -> None:
    ana = await world.head(language="es")
    assert await language_of_member(world) == "es"  # the app's, written after her first step
    await ana.say("/language en")
    assert await language_of_member(world) == "en"
    quiet = world.person("ana", "Ana")  # the same account, now from an app that says nothing
    await quiet.say("/language auto")
    assert await language_of_member(world) == ""  # nothing chosen, nothing said: the default
    await quiet.say("/help")
    assert EN(msg.HELP, hoa="Oak Ridge HOA at board@oakridge.example") in quiet.text


async def test_a_refused_step_does_not_write_the_language(world: World) -> None:
    ana = await world.head()
    spanish = world.person("ana", "Ana", language="es")
    await spanish.press_payload("card:cancel:" + "0" * 32)  # not her invitation: refused
    assert ES(msg.NOT_YOUR_INVITATION) in spanish.text
    assert await language_of_member(world) == ""
    await spanish.say("/help")
    assert await language_of_member(world) == "es"
    assert ana.actor.language == ""


async def language_of_member(world: World) -> str:
    async with world.uow_factory() as uow:
        identity = await uow.identities.get(platform="console", external_id="ana")
        assert identity is not None
        member = await uow.members.get(identity.member_id)
        assert member is not None
        return member.language


def test_the_default_hoa_contact_reads_in_each_language() -> None:
    from bot.context import CoreContext
    from handlers.bootstrap import hoa_contact
    from handlers.settings import Settings

    default = CoreContext(clock=FakeClock(), secret_key=b"k" * 32).hoa_contact
    assert EN(msg.BAD_ACCESS_CODE, hoa=default).endswith("ask your HOA board for a new one.")
    assert "your HOA board" not in ES(msg.BAD_ACCESS_CODE, hoa=default)
    assert hoa_contact(Settings()) == msg.YOUR_HOA_BOARD
    assert hoa_contact(Settings(hoa_contact="board@oakridge.example")) == "board@oakridge.example"
