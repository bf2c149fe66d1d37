"""``/language``: the language a person reads the bot in.

By default a person reads the language their app is set to (:attr:`bot.replies.Actor.language`),
else the one their invitation was written in, else English. ``/language`` shows the choice
with a button per language and one to follow the app again; ``/language es`` (or
``español``, ``spanish``, ``auto``) chooses at once. The choice is kept with the person's
conversation on that platform, and with their membership, so that what the bot tells them
later (a notification) is in it too. Payloads: ``language:<code>``, ``language:auto``.
"""

from __future__ import annotations

import re

from .. import messages as msg
from ..context import CoreContext
from ..domain import Conversation, Member
from ..invitations import who_is
from ..language import DEFAULT_LANGUAGE, LANGUAGES, Words, language_name, language_of
from ..ports import UnitOfWork
from ..replies import Actor, Button, Reply
from ..rules import Who
from .common import Flow, Turn

AUTO = "auto"
_PAYLOAD = re.compile(r"^language:([a-z]{2,8})$")
_NAMES = {
    "english": "en",
    "inglés": "en",
    "ingles": "en",
    "spanish": "es",
    "español": "es",
    "espanol": "es",
    "castellano": "es",
}
"""What people type after ``/language`` besides a code."""


def chosen_language(conversation: Conversation, actor: Actor) -> str:
    """The language the person has said they read, here: their ``/language`` choice, else
    their app's; "" when neither says one invitebot speaks."""
    return conversation.language or language_of(actor.language) or ""


def reader_language(conversation: Conversation, actor: Actor, member: Member | None) -> str:
    """The language a person reads this step in (see the module's docstring)."""
    told = chosen_language(conversation, actor)
    return told or (member.language if member is not None else "") or DEFAULT_LANGUAGE


async def remember_language(
    uow: UnitOfWork, conversation: Conversation, actor: Actor, member: Member | None
) -> None:
    """After a step, before its commit: a member's language follows what they said (their
    ``/language`` choice, else their app's), so what they are told later is written in it.
    Only that column is written, and only when it changes; after the step, so the member's
    row is locked after the household's, as every change to a household does."""
    told = chosen_language(conversation, actor)
    if member is not None and told and member.language != told:
        await uow.members.set_language(member.id, told)
        member.language = told


async def words_of(uow: UnitOfWork, ctx: CoreContext, actor: Actor) -> tuple[Who, Words]:
    """Who the person is and their words, read only: their conversation is read, not locked
    (a step another process is taking may be changing it), and nothing is written."""
    who = await who_is(uow, actor)
    conversation = await uow.conversations.get(platform=actor.platform, user_id=actor.user_id)
    if conversation is None:
        conversation = Conversation(platform=actor.platform, user_id=actor.user_id)
    return who, ctx.words(reader_language(conversation, actor, who.member), who.timezone)


class LanguageFlow(Flow):
    async def command(self, turn: Turn, args: str) -> list[Reply]:
        """``/language``: the choice; ``/language <code or name>``: chosen at once."""
        word = args.strip().casefold()
        if not word:
            return self._choice(turn.words)
        if word == AUTO:
            return await self._choose(turn, "")
        code = _NAMES.get(word) or language_of(word)
        if code is None:
            unknown = Reply(turn.words(msg.LANGUAGE_UNKNOWN, language=args.strip()[:40]))
            return [unknown, *self._choice(turn.words)]
        return await self._choose(turn, code)

    async def press(self, turn: Turn, payload: str) -> list[Reply]:
        """A ``language:`` button."""
        pressed = _PAYLOAD.match(payload)
        if pressed is None or (pressed.group(1) not in LANGUAGES and pressed.group(1) != AUTO):
            return [Reply(turn.words(msg.INVALID_BUTTON))]
        code = pressed.group(1)
        return await self._choose(turn, "" if code == AUTO else code)

    def _choice(self, words: Words) -> list[Reply]:
        buttons = [Button(language_name(code), f"language:{code}") for code in LANGUAGES]
        buttons.append(Button(words(msg.BTN_LANGUAGE_AUTO), f"language:{AUTO}"))
        text = words(msg.LANGUAGE_NOW, language=language_name(words.language))
        return [Reply(text, buttons=tuple(buttons))]

    async def _choose(self, turn: Turn, code: str) -> list[Reply]:
        turn.conversation.language = code
        member = turn.who.member
        if not code and member is not None:
            # Back to the app's language: the member's is whatever the app says now ("" for
            # an app that says none), not the choice they are leaving.
            member.language = language_of(turn.actor.language) or ""
            await turn.uow.members.set_language(member.id, member.language)
        language = reader_language(turn.conversation, turn.actor, member)
        words = self.ctx.words(language, turn.who.timezone)
        turn.words = words
        sentence = msg.LANGUAGE_SET if code else msg.LANGUAGE_AUTO
        text = words(sentence, language=language_name(words.language))
        return [Reply(text, replace_previous=True)]
