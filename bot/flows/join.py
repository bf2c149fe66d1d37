"""``/join``, ``/start`` and ``/decline``: joining with a secret typed in chat.

``/join CODE`` claims a household with the HOA's access code, ``/join <link>`` accepts an
invitation; ``/join`` alone asks for either. ``/start`` is what Telegram sends for a deep
link. The services (each try through the throttle) are in :mod:`bot.join`."""

from __future__ import annotations

from .. import messages as msg
from ..context import CoreContext
from ..invitation_page import is_account_link_token, link_account_by_token
from ..join import decline_with, join_with
from ..replies import Reply
from .common import Flow, RunCommand, Turn, cancel_button

JOIN = "join.code"

START_COMMANDS = {"invite", "household", "help"}
"""Deep-link payloads that name a command (``?start=invite``)."""


class JoinFlow(Flow):
    states = frozenset({JOIN})

    def __init__(self, ctx: CoreContext, *, run_command: RunCommand) -> None:
        super().__init__(ctx)
        self.run_command = run_command

    async def command(self, turn: Turn, args: str) -> list[Reply]:
        if not args:
            turn.end()
            turn.go(JOIN)
            return await self.prompt(turn)
        return await self.join_with(turn, args)

    async def start(self, turn: Turn, args: str) -> list[Reply]:
        """``/start``, as Telegram sends it when someone opens the bot or a deep link
        (``https://t.me/<bot>?start=<payload>``). The payload is an invitation token (accept
        it), an account link token from the invitation page's "Open in Telegram" (link this
        chat account to the new member), the HOA's access code (claim the household), or the
        name of a command (the "continue in private" button of a group chat)."""
        payload = args.strip()
        if not payload:
            if turn.who.member is not None:
                return await self.run_command(turn, "help", "")
            return [Reply(turn.words(msg.WELCOME_START))]
        if payload.lower() in START_COMMANDS:
            return await self.run_command(turn, payload.lower(), "")
        if is_account_link_token(payload):
            member = await link_account_by_token(
                turn.uow, self.ctx, token=payload, actor=turn.actor
            )
            turn.end()
            household = await turn.uow.households.get(member.household_id)
            address = household.address if household else ""
            return [Reply(turn.words(msg.ACCOUNT_LINKED, name=member.name, address=address))]
        return await self.join_with(turn, payload)

    async def decline(self, turn: Turn, args: str) -> list[Reply]:
        declined = await decline_with(
            turn.uow, self.ctx, actor=turn.actor, text=args, words=turn.words
        )
        if declined.done:
            turn.end()
        return [declined.reply]

    async def join_with(self, turn: Turn, text: str) -> list[Reply]:
        """An access code or an invitation link (see :mod:`bot.join`)."""
        joined = await join_with(turn.uow, self.ctx, actor=turn.actor, text=text, words=turn.words)
        if joined is not None:
            if joined.done:
                turn.end()
            return [joined.reply]
        if turn.state == JOIN:
            return [Reply(turn.words(msg.BAD_JOIN_ARGUMENT)), *await self.prompt(turn)]
        return [Reply(turn.words(msg.BAD_JOIN_ARGUMENT))]

    async def text(self, turn: Turn, text: str) -> list[Reply] | None:
        return await self.join_with(turn, text)

    async def prompt(self, turn: Turn) -> list[Reply]:
        return [Reply(turn.words(msg.ASK_JOIN), buttons=(cancel_button(turn.words),))]
