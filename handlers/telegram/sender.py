"""Chat messages to heads on Telegram (notifications from the outbox)."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramUnauthorizedError,
)
from aiogram.types import LinkPreviewOptions

from bot.delivery import DeliveryError, PermanentDeliveryError
from bot.domain import OutboxMessage
from bot.replies import notice_reply

from .render import keyboard

PLATFORM = "telegram"


class TelegramChatSender:
    """Sends an outbox chat message to a Telegram chat; the destination is the chat id."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, message: OutboxMessage) -> str:
        try:
            chat_id = int(message.destination)
        except ValueError:
            raise PermanentDeliveryError("not a Telegram chat") from None
        # A notification's buttons (a head request's Accept and Decline) as an inline
        # keyboard; a message without buttons goes out as plain text, as it always has.
        try:
            markup = keyboard(notice_reply(message.body, message.data or {}))
        except ValueError:  # a payload too long for callback_data: sending again cannot help
            raise PermanentDeliveryError("a button cannot travel on Telegram") from None
        try:
            sent = await self.bot.send_message(
                chat_id=chat_id,
                text=message.body[:4096],
                reply_markup=markup,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except (TelegramForbiddenError, TelegramNotFound) as error:
            # The person blocked the bot or the chat is gone: retrying never helps.
            raise PermanentDeliveryError("the Telegram chat cannot be reached") from error
        except TelegramUnauthorizedError as error:
            raise DeliveryError("the Telegram bot token was refused") from error
        except TelegramBadRequest as error:
            raise PermanentDeliveryError("Telegram refused the message") from error
        except Exception as error:  # network errors, 5xx, flood control: try again later
            raise DeliveryError(
                f"Telegram did not take the message ({type(error).__name__})"
            ) from error
        return str(sent.message_id)

    async def close(self) -> None:
        await self.bot.session.close()
