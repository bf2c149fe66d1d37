"""The residents' Telegram group: carrying out the outbox's ``group`` messages
(:mod:`bot.group_access`) with the Bot API, and reading what the bot may do in a group.

Approving or declining a join request needs the administrator right ``can_invite_users``;
taking someone out (``banChatMember``, then ``unbanChatMember`` with ``only_if_banned``, so
no ban lasts and they may come back once they belong again) needs ``can_restrict_members``.
Refusals the Bot API documents for a request that is already settled (``HIDE_REQUESTER_MISSING``:
handled by an admin, withdrawn or expired; ``USER_ALREADY_PARTICIPANT``) leave nothing to do:
the message counts as sent. A bot that lost its rights or the group fails the message for
good, with an error in the log for the board (``invitebot admin community show`` checks the
rights again); flood control and network errors are tried again later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    ChatMemberAdministrator,
    ChatMemberOwner,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
)

from bot.delivery import DeliveryError, PermanentDeliveryError
from bot.domain import Channel, OutboxMessage
from bot.group_access import (
    ACTION,
    BUTTON,
    CHAT,
    INVITE_LINK_LIFETIME,
    REVOKE,
    USER,
    GroupAction,
)

log = logging.getLogger("invitebot.telegram")

SETTLED = ("HIDE_REQUESTER_MISSING", "USER_ALREADY_PARTICIPANT", "USER_NOT_PARTICIPANT")
"""Bad Request descriptions that mean the change is already in effect (or moot)."""
NO_RIGHTS = ("not enough rights", "CHAT_ADMIN_REQUIRED", "need administrator rights")
ADMIN_TARGET = ("user is an administrator of the chat", "can't remove chat owner")
"""A removal Telegram refuses because the person administers the group."""


class _PrivateChatClosed(Exception):
    """The person blocked the bot (or never started it): their private chat is closed."""


INVITE_LINK_NAME = "One resident (invitebot)"
BOARD_FIX_RETRY = 15 * 60.0
"""How often a change the bot may not make (a lost right, the bot out of the group) is tried
again, without counting: it waits for the board, so a removal is never lost."""

RIGHTS = {
    "can_invite_users": "Invite users via link (to approve and decline join requests)",
    "can_restrict_members": "Ban users (to take out someone who no longer belongs)",
}
"""The administrator rights the bot needs in a residents' group, as Telegram's apps name them."""


class TelegramGroupSender:
    """Approves, declines and removes in a Telegram group; the destination is its chat id."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, message: OutboxMessage) -> str:
        if message.channel is not Channel.GROUP:
            raise PermanentDeliveryError(f"not a group change ({message.channel})")
        try:
            chat_id = int(message.destination)
            user_id = int(message.data.get(USER, ""))
            action = GroupAction(message.data.get(ACTION, ""))
            private = int(message.data.get(CHAT) or 0)
        except ValueError:
            raise PermanentDeliveryError("not a Telegram group change") from None
        if action is GroupAction.INVITE and not private:
            raise PermanentDeliveryError("an invitation to the group names no chat")
        try:
            if action is GroupAction.APPROVE:
                await self.bot.approve_chat_join_request(chat_id=chat_id, user_id=user_id)
            elif action is GroupAction.DECLINE:
                await self.bot.decline_chat_join_request(chat_id=chat_id, user_id=user_id)
            elif action is GroupAction.INVITE:
                return await self._invite(message, chat_id, private)
            else:
                await self._remove(message, chat_id, user_id, private)
        except TelegramRetryAfter as error:
            raise DeliveryError(
                f"Telegram asked to wait {error.retry_after} s", retry_after=error.retry_after
            ) from error
        except _PrivateChatClosed as error:
            raise PermanentDeliveryError("the person's private chat cannot be reached") from error
        except TelegramBadRequest as error:
            if any(code in error.message for code in SETTLED):
                return ""  # already so: nothing left to do
            if any(code in error.message for code in ADMIN_TARGET):
                log.error(
                    "the Telegram group %s's admins must take user %s out by hand: %s",
                    chat_id,
                    user_id,
                    error.message,
                )
                raise PermanentDeliveryError("the person is an admin of the group") from error
            if any(code.lower() in error.message.lower() for code in NO_RIGHTS):
                log.error(
                    "the bot may not %s in the Telegram group %s: %s; give it the rights "
                    "`invitebot admin community show` lists",
                    action.value,
                    chat_id,
                    error.message,
                )
                raise DeliveryError(
                    "the bot lacks rights in the group; waiting for the board",
                    retry_after=BOARD_FIX_RETRY,
                ) from error
            raise PermanentDeliveryError(f"Telegram refused it: {error.message}") from error
        except (TelegramForbiddenError, TelegramNotFound) as error:
            log.error("the bot is not in the Telegram group %s any more: %s", chat_id, error)
            raise DeliveryError(
                "the bot is not in the group; waiting for the board", retry_after=BOARD_FIX_RETRY
            ) from error
        except TelegramUnauthorizedError as error:
            raise DeliveryError("the Telegram bot token was refused") from error
        except Exception as error:  # network errors, 5xx: try again later
            raise DeliveryError(
                f"Telegram did not take the change ({type(error).__name__})"
            ) from error
        return ""

    async def _invite(self, message: OutboxMessage, group_id: int, private: int) -> str:
        """A link that admits this person alone (``member_limit=1``), for a day, on a button
        in their private chat; the link is the provider id (a removal revokes it). The link
        of an attempt whose message did not go out is revoked at once."""
        link = await self.bot.create_chat_invite_link(
            chat_id=group_id,
            name=INVITE_LINK_NAME,
            expire_date=datetime.now(UTC) + INVITE_LINK_LIFETIME,
            member_limit=1,
        )
        button = InlineKeyboardButton(text=message.data.get(BUTTON) or "Join", url=link.invite_link)
        try:
            await self.bot.send_message(
                chat_id=private,
                text=message.body[:4096],
                reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]),
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except Exception as error:
            await self._revoke(group_id, link.invite_link)
            if isinstance(error, TelegramForbiddenError | TelegramNotFound):
                raise _PrivateChatClosed() from error  # blocked the bot: not the group's fault
            raise
        return link.invite_link

    async def _remove(
        self, message: OutboxMessage, group_id: int, user_id: int, private: int
    ) -> None:
        """Revoke the person's one-person links; then, if they are in the group, take them
        out (a ban, lifted at once: no ban lasts) and tell them why."""
        for link in message.data.get(REVOKE, "").split():
            await self._revoke(group_id, link)
        member = await self.bot.get_chat_member(chat_id=group_id, user_id=user_id)
        if member.status in ("left", "kicked"):
            return  # not in the group: nothing to take them out of, nothing to tell
        await self.bot.ban_chat_member(chat_id=group_id, user_id=user_id)
        await self.bot.unban_chat_member(chat_id=group_id, user_id=user_id, only_if_banned=True)
        if message.body and private:
            try:
                await self.bot.send_message(
                    chat_id=private,
                    text=message.body[:4096],
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            except Exception as error:  # taken out either way: the notice is a courtesy
                log.info(
                    "could not tell user %s why they left group %s: %s", user_id, group_id, error
                )

    async def _revoke(self, group_id: int, link: str) -> None:
        """Revoke a one-person link; one already expired, used up or revoked is fine."""
        try:
            await self.bot.revoke_chat_invite_link(chat_id=group_id, invite_link=link)
        except TelegramBadRequest as error:
            log.info("invite link of group %s not revoked: %s", group_id, error.message)

    async def close(self) -> None:
        await self.bot.session.close()


@dataclass(frozen=True)
class GroupCheck:
    """What the bot found in a group: its id and title, and the rights it lacks there."""

    chat_id: int
    title: str
    missing: tuple[str, ...]
    problem: str = ""
    """Why the group cannot be used at all (not found, not a group, the bot not an admin)."""

    @property
    def usable(self) -> bool:
        return not self.problem and not self.missing


async def check_group(bot: Bot, group: str) -> GroupCheck:
    """Look ``group`` up (a chat id, or ``@username`` of a public group) and read the bot's
    rights in it."""
    target: int | str = group.strip()
    try:
        target = int(str(target))
    except ValueError:
        if not str(target).startswith("@"):
            target = f"@{target}"
    try:
        chat = await bot.get_chat(chat_id=target)
    except TelegramAPIError as error:
        problem = f"Telegram cannot find the group {group!r} ({error.message})"
        return GroupCheck(0, "", (), problem)
    except Exception as error:  # unreachable, or an answer aiogram cannot read
        problem = f"Telegram did not answer about the group ({type(error).__name__})"
        return GroupCheck(0, "", (), problem)
    title = chat.title or str(chat.id)
    if chat.type != "supergroup":
        # Join requests exist only in supergroups (a basic group becomes one when it gets a
        # public link or "Chat history for new members: visible"; its id changes then).
        kind = "basic group" if chat.type == "group" else chat.type
        return GroupCheck(chat.id, title, (), f"“{title}” is a {kind}: make it a supergroup first")
    try:
        me = await bot.me()
        member = await bot.get_chat_member(chat_id=chat.id, user_id=me.id)
    except Exception as error:
        detail = error.message if isinstance(error, TelegramAPIError) else type(error).__name__
        return GroupCheck(chat.id, title, (), f"cannot read the bot's rights ({detail})")
    if isinstance(member, ChatMemberOwner):
        return GroupCheck(chat.id, title, ())
    if not isinstance(member, ChatMemberAdministrator):
        return GroupCheck(
            chat.id, title, tuple(RIGHTS), f"the bot is not an administrator of {title}"
        )
    missing = tuple(right for right in RIGHTS if not getattr(member, right, False))
    return GroupCheck(chat.id, title, missing)


async def join_request_link(bot: Bot, chat_id: int, *, name: str) -> str:
    """A new invite link to the group that asks the bot first (``creates_join_request``):
    the one to share with residents. "" when Telegram refused to make one."""
    try:
        link = await bot.create_chat_invite_link(
            chat_id=chat_id, name=name[:32], creates_join_request=True
        )
    except Exception as error:
        log.warning("could not make a join-request link for %s: %s", chat_id, error)
        return ""
    return link.invite_link
