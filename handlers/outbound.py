"""Senders for when no provider is configured: they log what would have been sent, so a
newcomer sees every message the bot produces."""

from __future__ import annotations

import logging

from bot.contacts import mask_contact
from bot.domain import Channel, OutboxMessage

log = logging.getLogger("invitebot.delivery")


class LoggingSender:
    """Delivers to the log: the embedded default for SMS and email."""

    async def send(self, message: OutboxMessage) -> str:
        kind = "SMS" if message.channel is Channel.SMS else message.channel.value
        log.info(
            "%s to %s (outbox %s)%s: %s",
            kind,
            mask_contact(message.destination)
            if message.channel is not Channel.CHAT
            else f"{message.platform}:{message.destination}",
            message.id,
            f" subject {message.subject!r}" if message.subject else "",
            message.body,
        )
        return f"log-{message.id}"
