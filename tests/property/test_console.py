"""The terminal chat (``invitebot chat``) with any typed line, at every conversation state:
the line becomes an event (a number or a label picks a button), the engine answers, Rich
renders it, and nothing raises; what is stored stays valid."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from rich.console import Console

from bot.replies import Event, EventKind
from handlers.console import ConsoleChat, ConsoleView
from tests.fakes import MemoryUnitOfWorkFactory
from tests.property.flows import STATES, Cast, cast, reach
from tests.property.invariants import assert_all_stored_valid
from tests.property.profiles import examples
from tests.property.strategies import texts

lines = st.one_of(
    texts().map(lambda t: t.replace("\n", " ")),  # stdin_lines splits at line feeds
    st.sampled_from(["1", "2", "3", "4", "0", "-1", "01", " 2 ", "²", "١", "٣", "𝟙", "99" * 20]),
)


@pytest.fixture
async def c() -> AsyncIterator[Cast]:
    yield await cast(MemoryUnitOfWorkFactory())


@pytest.mark.parametrize("state", STATES)
@examples(25)
@given(line=lines)
@example(line="²")  # isdigit() yet int() refused it: the chat crashed
@example(line="9" * 5000)  # int() refuses over 4,300 digits: the chat crashed
@example(line="١")  # Arabic-Indic one picks the first button
@example(line="⑴")
@example(line="[bold red]Send Invite[/]")
async def test_any_typed_line_at_any_state(c: Cast, state: str, line: str) -> None:
    await reach(c, c.ana, state)
    screen = io.StringIO()
    view = ConsoleView(Console(file=screen, width=100, color_system=None))
    chat = ConsoleChat(engine=c.world.engine, actor=c.ana.actor, view=view)

    async def typed() -> AsyncIterator[str]:
        yield line

    await chat.run(typed())
    shown = screen.getvalue()
    if state != "idle":
        assert "bot> " in shown  # the question, shown again on resume
    if line.strip() and line.strip().casefold() not in ("/quit", "/exit", "quit", "exit"):
        assert shown.count("bot> ") >= 1 + (state != "idle")
    await assert_all_stored_valid(c.world.uow_factory, c.keys())


@pytest.mark.parametrize(
    ("typed", "payload"),
    [("1", "flow:method:email"), ("١", "flow:method:email"), ("𝟚", "flow:method:sms")],
)
async def test_a_number_of_any_script_picks_a_button(c: Cast, typed: str, payload: str) -> None:
    await reach(c, c.ana, "invite.method")
    chat = ConsoleChat(
        engine=c.world.engine,
        actor=c.ana.actor,
        view=ConsoleView(Console(file=io.StringIO(), color_system=None)),
    )
    await chat.send(Event.resume())
    assert chat.event_for(typed) == Event.press(payload)
    assert chat.event_for("²").kind is EventKind.TEXT
