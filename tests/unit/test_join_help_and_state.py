"""Claiming a household, /help, unknown input, and conversation state kept in storage."""

from __future__ import annotations

from bot.engine import Engine
from tests.chat import Person
from tests.unit.conftest import World


async def test_a_head_claims_a_household_once(world: World) -> None:
    code = await world.household()
    ana = world.person("ana", "Ana")
    await ana.say(f"/join {code.lower().replace('-', ' ')}")  # case and separators don't matter
    assert "You are now the head of the household at 12 Oak Lane in Oak Ridge HOA" in ana.text
    await ana.say("/household")
    assert "Ana Lopez (head)" in ana.text  # the name the board gave

    bob = world.person("bob")
    await bob.say(f"/join {code}")
    assert "doesn't match any household, or it has been used already" in bob.text
    assert "the Oak Ridge HOA board" in bob.text
    await ana.say(f"/join {code}")
    assert "already a member" in ana.text


async def test_join_without_an_argument_asks_for_the_code(world: World) -> None:
    code = await world.household()
    ana = world.person("ana")
    await ana.say("/join")
    assert "access code" in ana.text
    await ana.say("hello")
    assert "doesn't look like an access code" in ana.text and "access code" in ana.last[-1].text
    await ana.say("ABCD-EFGH-JKMN")
    assert "doesn't match any household" in ana.text
    await ana.say("/join")
    await ana.say(code)
    assert "You are now the head" in ana.text


async def test_join_with_nonsense(world: World) -> None:
    eve = world.person("eve")
    for junk in ["hello", "1234", "\u202e\u200b", "🙂" * 3000]:
        await eve.say(f"/join {junk}")
        assert "doesn't look like an access code" in eve.text


async def test_help_names_the_commands_and_the_hoa(world: World) -> None:
    zed = world.person("zed")
    await zed.say("/help")
    for command in ["/invite", "/household", "/join", "/cancel", "/help"]:
        assert command in zed.text
    assert "the Oak Ridge HOA board" in zed.text
    ana = await world.head()
    await ana.say("/help")
    assert "Oak Ridge HOA at board@oakridge.example" in ana.text


async def test_unknown_commands_and_chatter(world: World) -> None:
    zed = world.person("zed")
    await zed.say("/frobnicate now")
    assert "I don't know the command /frobnicate" in zed.text
    await zed.say("hello there")
    assert "Type /help" in zed.text
    await zed.say("/" + "x" * 5000)
    assert "Type /help" in zed.text
    await zed.say("/household")
    assert "not part of a household" in zed.text


async def test_conversation_survives_a_restart(world: World) -> None:
    """State lives in storage: a new engine (a restarted process) resumes at the question."""
    ana = await world.head()
    await ana.say("/invite")
    await ana.press("SMS Text")
    await ana.say("Maria Ruiz")

    restarted = Person(Engine(uow_factory=world.uow_factory, ctx=world.ctx), ana.actor)
    await restarted.resume()
    assert "What is Maria Ruiz's mobile phone number?" in restarted.text
    await restarted.say("+1 202 555 0199")
    assert "Ready to send" in restarted.text


async def test_resume_when_idle_shows_nothing(world: World) -> None:
    ana = await world.head()
    assert await ana.resume() == []


async def test_a_refusal_changes_nothing(world: World) -> None:
    """A refused step rolls back: the conversation stays where it was."""
    ana = await world.head()
    await ana.say("/invite sms Maria Ruiz +1 202 555 0199")
    await world.person("zed").say("/invite")
    await ana.press("Send Invite")
    assert "Invitation sent" in ana.text


async def test_a_head_without_a_name_from_the_board_gets_a_usable_one(world: World) -> None:
    code = await world.household(head_name="")
    odd = world.person("odd", "\u202e" + "x" * 300)
    await odd.say(f"/join {code}")
    await odd.say("/household")
    assert "Head of household (head)" in odd.text
