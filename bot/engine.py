"""The conversation engine: takes one event at a time and routes it to a flow.

``Engine.handle(actor, event)`` loads the actor's conversation from storage, takes one step,
saves the conversation and commits, all in one unit of work, and returns the replies to show.
A refusal rolls everything back: bad input changes nothing.

The flows live in :mod:`bot.flows`, one module each: ``/invite`` (:mod:`bot.flows.invite`),
``/household`` and its cards (:mod:`bot.flows.household`), ``/join``, ``/start`` and
``/decline`` (:mod:`bot.flows.join`), the members' buttons (remove, rename, make head,
leave: :mod:`bot.flows.members`), ``/household history`` (:mod:`bot.flows.history`),
``/help``, ``/cancel`` and the Cancel button (:mod:`bot.flows.basics`). This module only
routes: a command by its name, a button press by the first word of its payload, typed text
and a resumed conversation by the state (the question a flow asked).
"""

from __future__ import annotations

from . import intake
from . import messages as msg
from .context import CoreContext
from .domain import Conversation
from .flows.basics import Basics
from .flows.common import IDLE, Flow, Handler, Turn
from .flows.history import HistoryFlow
from .flows.household import HomeView, HouseholdFlow
from .flows.invite import CONTACT, DUPLICATE, EDIT, METHOD, NAME, SUMMARY, InviteFlow
from .flows.join import JOIN, JoinFlow
from .flows.language import LanguageFlow, reader_language, remember_language, words_of
from .flows.members import RENAME, MembersFlow
from .intake import Inbound
from .invitations import who_is
from .join import find_token
from .language import Words
from .ports import UnitOfWorkFactory
from .replies import Actor, Event, EventKind, Reply
from .rules import Refused

__all__ = [
    "CONTACT",
    "DUPLICATE",
    "EDIT",
    "IDLE",
    "JOIN",
    "METHOD",
    "NAME",
    "RENAME",
    "SUMMARY",
    "Engine",
    "HomeView",
    "Turn",
]


class Engine:
    """Takes one event at a time from any adapter and decides what comes next."""

    def __init__(self, *, uow_factory: UnitOfWorkFactory, ctx: CoreContext) -> None:
        self.uow_factory = uow_factory
        self.ctx = ctx
        self.basics = Basics(ctx)
        self.invite = InviteFlow(ctx)
        self.household = HouseholdFlow(ctx)
        self.join = JoinFlow(ctx, run_command=self._command)
        self.history = HistoryFlow(ctx)
        self.language = LanguageFlow(ctx)
        self.members = MembersFlow(ctx, show_history=self.history.show)
        self.household.subcommands = {
            "history": self.history.show,
            "leave": lambda turn, args: self.members.leave(turn),
        }

        # The routing. A new flow adds its commands, the first word of its button payloads
        # (``<word>:...``), and itself to the flows that ask questions if it has states.
        self._commands: dict[str, Handler] = {
            "invite": self.invite.command,
            "household": self.household.command,
            "join": self.join.command,
            "start": self.join.start,
            "decline": self.join.decline,
            "help": self.basics.help,
            "cancel": self.basics.cancel,
            "language": self.language.command,
        }
        self._buttons: dict[str, Handler] = {
            "flow": self.invite.press,
            "card": self.household.press,
            "member": self.members.press_member,
            "household": self.members.press_household,
            "head": self.members.press_head,
            "language": self.language.press,
        }
        asking: tuple[Flow, ...] = (self.invite, self.join, self.members)
        self._asked_by: dict[str, Flow] = {state: flow for flow in asking for state in flow.states}

    async def handle(
        self, actor: Actor, event: Event, *, inbound: Inbound | None = None
    ) -> list[Reply]:
        """Take one step and return its replies. With ``inbound`` (the stored update the
        event came in, see :mod:`bot.intake`) the step is taken at most once however often
        it is asked for: a step that committed before returns its stored replies and changes
        nothing, and an update another process took over returns none. Raises
        :class:`~bot.intake.NotYourTurn` when an older update of the person is still to be
        handled."""
        async with self.uow_factory() as uow:
            update = conversation = None
            if inbound is not None:
                update, conversation, instead = await intake.open_step(
                    uow, inbound, platform=actor.platform, user_id=actor.user_id
                )
                if update is None:
                    return instead
            # Locked: a person's next message, taken by another process at the same moment,
            # waits for this step instead of overwriting it.
            if conversation is None and inbound is None:
                conversation = await uow.conversations.get(
                    platform=actor.platform, user_id=actor.user_id, for_update=True
                )
            if conversation is None:  # (open_step looked already)
                conversation = await uow.conversations.lock_new(
                    Conversation(platform=actor.platform, user_id=actor.user_id)
                )
            if inbound is not None:
                await intake.check_turn(uow, inbound)
            who = await who_is(uow, actor)
            language = reader_language(conversation, actor, who.member)
            words = self.ctx.words(language, who.timezone)
            turn = Turn(uow=uow, actor=actor, conversation=conversation, who=who, words=words)
            try:
                replies = await self._step(turn, event)
            except Refused as refusal:
                # Nothing changed, so nothing is stored: taken again, the step is refused
                # again with the same words.
                await uow.rollback()
                return [Reply(words.say(refusal.say))]
            await remember_language(uow, conversation, actor, who.member)
            conversation.updated_at = self.ctx.clock.now()
            await uow.conversations.save(conversation)
            if update is not None:
                await intake.close_step(uow, update, replies, at=conversation.updated_at)
            await uow.commit()
            return replies

    async def household_home(self, actor: Actor) -> HomeView:
        """What the person's household page shows (a Slack home tab): the ``/household``
        cards, with their buttons for a head; for someone in no household, how to join.
        Read-only: the person's conversation is read (for their language), not locked nor
        saved, and nothing is committed, so it never disturbs a step another process is
        taking."""
        async with self.uow_factory() as uow:
            return await self.household.home(uow, actor)

    async def words_for(self, actor: Actor) -> Words:
        """The person's words (their language and zone) for what an adapter says itself
        around the engine's replies (a modal's title, a usage line). Read-only."""
        async with self.uow_factory() as uow:
            _, words = await words_of(uow, self.ctx, actor)
            return words

    async def _step(self, turn: Turn, event: Event) -> list[Reply]:
        if event.kind is EventKind.COMMAND:
            return await self._command(turn, event.command, event.args)
        if event.kind is EventKind.BUTTON:
            return await self._press(turn, event.payload)
        if event.kind is EventKind.RESUME:
            return await self._prompt(turn) if turn.state != IDLE else []
        return await self._text(turn, event.text)

    async def _command(self, turn: Turn, name: str, args: str) -> list[Reply]:
        command = self._commands.get(name)
        if command is None:
            return [Reply(turn.words(msg.UNKNOWN_COMMAND, command=name[:32]))]
        return await command(turn, args)

    async def _press(self, turn: Turn, payload: str) -> list[Reply]:
        if self.basics.is_cancel(payload):  # every question's Cancel, whichever flow asked
            return await self.basics.press_cancel(turn)
        press = self._buttons.get(payload.partition(":")[0])
        if press is None:
            return [Reply(turn.words(msg.INVALID_BUTTON))]
        return await press(turn, payload)

    async def _prompt(self, turn: Turn) -> list[Reply]:
        """The current question, with its buttons."""
        flow = self._asked_by.get(turn.state)
        return await flow.prompt(turn) if flow is not None else []

    async def _text(self, turn: Turn, text: str) -> list[Reply]:
        if turn.state == IDLE:
            # Outside any flow, a pasted invitation link joins.
            if find_token(text) is not None:
                return await self.join.join_with(turn, text)
            return [Reply(turn.words(msg.NOT_UNDERSTOOD))]
        flow = self._asked_by.get(turn.state)
        replies = await flow.text(turn, text) if flow is not None else None
        if replies is not None:
            return replies
        # A question answered with buttons: typing a button's label works too.
        prompt = await self._prompt(turn)
        buttons = [b for reply in prompt for b in reply.buttons]
        typed = " ".join(text.split()).casefold()
        for button in buttons:
            if button.label.casefold() == typed:
                return await self._press(turn, button.payload)
        options = ", ".join(b.label for b in buttons)
        return [Reply(turn.words(msg.PICK_A_BUTTON, options=options)), *prompt]
