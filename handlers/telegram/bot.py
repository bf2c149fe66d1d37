"""The Telegram adapter: translates updates into the engine's events and its replies into
Bot API calls. It decides nothing about the conversation.

Only private chats run the flows: invitations carry names, phone numbers and links that do
not belong in a group. In a group the bot answers a command addressed to it with one
sentence and a button that opens a private chat, and ignores everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramRetryAfter
from aiogram.filters import Filter
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageText,
    GetUpdates,
    Response,
    SendMessage,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    CallbackQuery,
    ChatJoinRequest,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    User,
)

from bot import intake
from bot import messages as msg
from bot.engine import Engine
from bot.group_access import answer_join_request
from bot.intake import Inbound, NotYourTurn
from bot.language import DEFAULT_LANGUAGE, LANGUAGES, Words
from bot.replies import Actor, Event, Reply
from storage.errors import is_unavailable

from ..inbound import loads_cleaned
from ..settings import Settings
from .render import Rendered, render, unpack_payload

PLATFORM = "telegram"

CONTINUE_IN_PRIVATE = msg.TELEGRAM_CONTINUE_IN_PRIVATE
COMMANDS = msg.TELEGRAM_COMMANDS
"""The menu Telegram shows next to the message box (``setMyCommands``), in English; each
other language's is published for the people whose app is set to it."""

_OUR_COMMANDS = {"start", "invite", "household", "join", "decline", "help", "cancel", "language"}
"""Commands the bot answers in a group without an ``@bot`` suffix."""
_DEEP_LINK_COMMANDS = {"invite", "household", "help"}
"""Commands a group's "open a private chat" button carries on as ``?start=<command>``."""
_COMMAND = re.compile(r"^/([A-Za-z][A-Za-z0-9_]{0,31})(?:@([A-Za-z0-9_]+))?(?:\s+(.*)|$)", re.S)
MAX_RETRY_AFTER = 30
"""The longest wait for Telegram's flood control before a message is given up."""
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
"""Invite links are secrets: no link preview, so Telegram's servers never fetch them."""

log = logging.getLogger("invitebot.telegram")


_ANSWER_MODELS: list[object] = []
"""The models aiogram reads the answers of each update's calls with, held (see
:func:`_hold_answer_models`)."""


def _hold_answer_models() -> None:
    """aiogram reads every answer of the Bot API with ``Response[<the method's result>]``, a
    generic pydantic model that pydantic caches by weak reference only: once a garbage
    collection takes it, the next call builds it again, about 5 ms of CPU (4 % of a busy
    server's). Held here for the calls each update makes (a message sent or edited, a button
    press answered) and long polling's."""
    if not _ANSWER_MODELS:
        for method in (SendMessage, EditMessageText, AnswerCallbackQuery, GetUpdates):
            _ANSWER_MODELS.append(Response[method.__returning__])  # type: ignore[name-defined]


def make_bot(token: str, *, api_base: str | None = None) -> Bot:
    """An aiogram Bot, talking to ``api_base`` (a self-hosted Bot API server, or a loopback
    fake in tests) instead of api.telegram.org when given."""
    _hold_answer_models()
    # Every answer is read with loads_cleaned: updates fetched by long polling reach the core
    # without NUL or lone surrogates, as the webhook's do.
    if api_base:
        server = TelegramAPIServer.from_base(api_base.rstrip("/"))
        return Bot(token, session=AiohttpSession(api=server, json_loads=loads_cleaned))
    return Bot(token, session=AiohttpSession(json_loads=loads_cleaned))


def bot_from_settings(settings: Settings) -> Bot | None:
    """The configured bot (``TELEGRAM_BOT_TOKEN``, ``TELEGRAM_API_BASE``), if any."""
    if settings.telegram_bot_token is None:
        return None
    return make_bot(
        settings.telegram_bot_token.get_secret_value(), api_base=settings.telegram_api_base
    )


MENU_TIMEOUT_SECONDS = 10


async def publish_commands(bot: Bot) -> None:
    """Publish the command menu for private chats (the only place the flows run): English
    for everyone, and each other language for the people whose app is set to it (Telegram
    picks the menu by the person's ``language_code``)."""
    for language in (DEFAULT_LANGUAGE, *(code for code in LANGUAGES if code != DEFAULT_LANGUAGE)):
        words = Words(language)
        await bot.set_my_commands(
            [BotCommand(command=name, description=words(text)) for name, text in COMMANDS],
            scope=BotCommandScopeAllPrivateChats(),
            language_code=None if language == DEFAULT_LANGUAGE else language,
            request_timeout=MENU_TIMEOUT_SECONDS,
        )


def actor_of(user: User, chat_id: int) -> Actor:
    return Actor(
        platform=PLATFORM,
        user_id=str(user.id),
        chat_id=str(chat_id),
        display_name=user.full_name,
        language=user.language_code or "",
    )


class InPrivateChat(Filter):
    """A message in a private chat.

    Our filters are ``async``: aiogram runs a synchronous filter (a plain function, or a
    magic filter such as ``F.chat.type == ...``) in a thread of the default executor, a
    thread hop for every update, and the pool's threads, once started, stay."""

    async def __call__(self, message: Message) -> bool:
        return message.chat.type == ChatType.PRIVATE


class LooksLikeCommand(Filter):
    """A message whose text starts with ``/``."""

    async def __call__(self, message: Message) -> bool:
        return (message.text or "").startswith("/")


class TelegramAdapter:
    """One engine, one bot: the router that aiogram's dispatcher feeds updates to."""

    def __init__(self, engine: Engine, bot: Bot) -> None:
        self.engine = engine
        self.bot = bot
        self.router = Router(name="invitebot")
        self.router.message.register(self.on_private_message, InPrivateChat())
        self.router.message.register(self.on_group_message, LooksLikeCommand())
        self.router.callback_query.register(self.on_button)
        self.router.chat_join_request.register(self.on_join_request)
        # No aiogram FSM: conversations live in the database (the engine's), and aiogram's
        # in-memory FSM storage would keep a record for every chat for the process's life.
        self.dispatcher = Dispatcher(disable_fsm=True)
        self.dispatcher.include_router(self.router)

    async def set_commands(self) -> None:
        await publish_commands(self.bot)

    async def close(self) -> None:
        await self.bot.session.close()

    # --- updates -------------------------------------------------------------------------

    async def on_private_message(self, message: Message, inbound: Inbound | None = None) -> None:
        """``inbound``: the stored update it came in (given to aiogram's ``feed_update`` by
        :class:`~handlers.telegram.updates.UpdateIntake`), so its step is taken once."""
        if message.from_user is None or message.from_user.is_bot:
            return
        # A contact shared from the attachment menu answers "what is their number?"; a photo
        # or sticker has no text: the engine answers "not understood" or asks again.
        text = message.text or message.caption or ""
        if message.contact is not None and not text:
            text = message.contact.phone_number
        actor = actor_of(message.from_user, message.chat.id)
        replies = await self._handle(actor, Event.message(text), inbound)
        await self.send(message.chat.id, replies)

    async def on_group_message(self, message: Message) -> None:
        """In a group, a command addressed to this bot gets pointed to a private chat."""
        found = _COMMAND.match(message.text or "")
        if found is None:
            return
        me = await self.bot.me()
        addressed_to = found.group(2)
        if addressed_to is None:
            if found.group(1).lower() not in _OUR_COMMANDS:
                return  # maybe another bot's command
        elif me.username is None or addressed_to.lower() != me.username.lower():
            return
        sender = message.from_user  # none for an anonymous admin or a channel's post
        if sender is None:
            words = self.engine.ctx.words("")
        else:
            words = await self.engine.words_for(actor_of(sender, sender.id))
        markup = None
        if me.username:
            # A deep link that runs the command once the private chat opens (?start=invite).
            command = found.group(1).lower()
            start = f"?start={command}" if command in _DEEP_LINK_COMMANDS else ""
            url = f"https://t.me/{me.username}{start}"
            markup = InlineKeyboardMarkup(
                inline_keyboard=[
                    [InlineKeyboardButton(text=words(msg.TELEGRAM_OPEN_PRIVATE_CHAT), url=url)]
                ]
            )
        text = words(CONTINUE_IN_PRIVATE)
        if (found.group(3) or "").strip():
            # An access code or an invite link posted where the neighbours read it: take it
            # down if the bot may (it needs to be an admin), and say what to do about it.
            text = words(msg.TELEGRAM_SECRET_IN_GROUP)
            with contextlib.suppress(TelegramAPIError):
                await self.bot.delete_message(message.chat.id, message.message_id)
        await self.bot.send_message(
            message.chat.id,
            text,
            reply_markup=markup,
            reply_parameters=ReplyParameters(
                message_id=message.message_id, allow_sending_without_reply=True
            ),
            link_preview_options=_NO_PREVIEW,
        )

    async def on_join_request(
        self, request: ChatJoinRequest, inbound: Inbound | None = None
    ) -> None:
        """Someone asks to join a group the bot administers: the core approves a resident of
        the group's community and declines anyone else (through the outbox); a group that is
        no community's is left alone. Answered once, in the same transaction that marks the
        update handled; a failure is the intake's to retry (until then the request waits in
        the group's list for an admin)."""
        async with self.engine.uow_factory() as uow:
            update = await intake.open_effect(uow, inbound) if inbound is not None else None
            if inbound is not None and update is None:
                return  # answered before
            await answer_join_request(
                uow,
                self.engine.ctx,
                platform=PLATFORM,
                group=str(request.chat.id),
                user_id=str(request.from_user.id),
                user_chat_id=str(request.user_chat_id),
                language=request.from_user.language_code or "",
            )
            if update is not None:
                await intake.close_step(uow, update, [], at=None)
            await uow.commit()

    async def on_button(self, query: CallbackQuery, inbound: Inbound | None = None) -> None:
        """A button press. The query is answered first, so the button stops spinning at
        once; a query too old to answer (after a backlog) is no reason not to run it."""
        with contextlib.suppress(TelegramAPIError):
            await self.bot.answer_callback_query(query.id)
        await self._press(query, inbound)

    async def _press(self, query: CallbackQuery, inbound: Inbound | None) -> None:
        message = query.message
        chat_id = message.chat.id if message is not None else query.from_user.id
        if message is not None and message.chat.type != ChatType.PRIVATE:
            return  # our group answers carry only a URL button: nothing to run here
        payload = unpack_payload(query.data)
        if payload is None:
            log.warning("callback query with data that is not one of our buttons")
            words = self.engine.ctx.words(query.from_user.language_code or "")
            await self.send(chat_id, [Reply(words(msg.INVALID_BUTTON))])
            return
        actor = actor_of(query.from_user, chat_id)
        replies = await self._handle(actor, Event.press(payload), inbound)
        # Only an accessible message (not an old one, date 0) can be edited in place.
        editable = message.message_id if isinstance(message, Message) else None
        await self.send(chat_id, replies, edit_message_id=editable)

    async def _handle(self, actor: Actor, event: Event, inbound: Inbound | None) -> list[Reply]:
        """The engine's replies; when the engine fails (a bug), the person is told, instead of
        waiting for an answer that never comes. The engine's unit of work rolled back, so
        nothing was changed. An update that came early (:class:`~bot.intake.NotYourTurn`), or
        met a database that cannot be reached, is the intake's to take again."""
        try:
            return await self.engine.handle(actor, event, inbound=inbound)
        except NotYourTurn:
            raise
        except Exception as error:
            if inbound is not None and is_unavailable(error):
                raise  # nothing changed: the intake takes the update again shortly

            log.exception("the engine failed on a Telegram %s", event.kind.value)
            return [Reply(self.engine.ctx.words(actor.language)(msg.SOMETHING_WENT_WRONG))]

    # --- replies -------------------------------------------------------------------------

    async def send(
        self, chat_id: int, replies: list[Reply], *, edit_message_id: int | None = None
    ) -> None:
        """Send replies in order; the first that replaces the previous card edits the
        message whose button was pressed, when there is one."""
        for reply in replies:
            rendered = render(reply)
            if rendered.replace_previous and edit_message_id is not None:
                target, edit_message_id = edit_message_id, None
                if await self._edit(chat_id, target, rendered):
                    continue
            await self._send_message(chat_id, rendered)

    async def _send_message(self, chat_id: int, rendered: Rendered) -> None:
        """Send one message; asked to slow down (429: one chat takes about a message a
        second), wait as long as Telegram says, up to :data:`MAX_RETRY_AFTER`, and send it
        once more, so a long household list arrives whole."""
        for attempt in range(2):
            try:
                await self.bot.send_message(
                    chat_id,
                    rendered.text,
                    reply_markup=rendered.reply_markup,
                    link_preview_options=_NO_PREVIEW,
                )
                return
            except TelegramRetryAfter as error:
                if attempt == 1 or error.retry_after > MAX_RETRY_AFTER:
                    raise
                await asyncio.sleep(error.retry_after)

    async def _edit(self, chat_id: int, message_id: int, rendered: Rendered) -> bool:
        """Edit a card in place; ``False`` when Telegram no longer lets us (too old,
        deleted), so the caller sends it as a new message instead."""
        try:
            await self.bot.edit_message_text(
                text=rendered.text,
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=rendered.reply_markup,
                link_preview_options=_NO_PREVIEW,
            )
        except TelegramBadRequest as error:
            if "not modified" in error.message:
                return True
            log.info("could not edit message %s (%s): sending a new one", message_id, error)
            return False
        return True
