"""Chat messages in Slack (notifications from the outbox), as direct messages.

The destination is the person's direct-message channel with the app (for a head, the chat
they invited from). A notification's buttons (a head request's Accept and Decline, kept in
its ``data`` by :func:`bot.replies.notice_data`) are rendered with it.

Slack's errors are sorted: a channel or account that is gone, or a message Slack will never
take, fails for good (the dispatcher stops trying); a refused or revoked token, rate limits,
Slack's own trouble and network errors are retried later.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery import DeliveryError, PermanentDeliveryError
from bot.domain import OutboxMessage
from bot.replies import NOTICE_RECIPIENT, notice_reply

from . import render
from .client import make_client

if TYPE_CHECKING:
    from .bot import SlackAdapter

PLATFORM = "slack"

PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "user_not_found",
        "user_disabled",
        "cannot_dm_bot",
        "messages_tab_disabled",
        "restricted_action",
        "msg_too_long",
        "no_text",
        "invalid_blocks",
        "invalid_blocks_format",
        "too_many_attachments",
    }
)
"""Web API errors after which sending the same message again can never work."""

log = logging.getLogger("invitebot.slack")


class SlackChatSender:
    """Sends an outbox chat message (with its buttons, if any) to a Slack direct message
    with ``chat.postMessage``.

    With ``homes`` (the adapter serving Slack in this process), a notification about an
    invitation also publishes the head's home tab again, as what it shows has just changed.
    """

    def __init__(self, client: AsyncWebClient, *, homes: SlackAdapter | None = None) -> None:
        self.client = client
        self.homes = homes

    @classmethod
    def refreshing_homes(cls, adapter: SlackAdapter) -> SlackChatSender:
        """A sender with the adapter's token and API base that refreshes home tabs through
        it; its own client does not wait out rate limits (the dispatcher retries later)."""
        client = adapter.client
        if client.token is None:
            raise ValueError("the Slack adapter has no bot token")
        return cls(
            make_client(client.token, api_base=client.base_url, wait_out_rate_limits=False),
            homes=adapter,
        )

    async def send(self, message: OutboxMessage) -> str:
        channel = message.destination.strip()
        if not channel or not channel.isalnum():
            raise PermanentDeliveryError("not a Slack conversation")
        try:
            sent = await self.client.chat_postMessage(
                channel=channel, **render.message(notice_reply(message.body, message.data))
            )
        except SlackApiError as error:
            code = str(error.response.get("error", "")) if error.response is not None else ""
            if code in PERMANENT_ERRORS:
                raise PermanentDeliveryError(f"Slack refused the message ({code})") from error
            raise DeliveryError(f"Slack did not take the message ({code or 'error'})") from error
        except Exception as error:  # network errors, timeouts: try again later
            raise DeliveryError(
                f"Slack did not take the message ({type(error).__name__})"
            ) from error
        recipient = message.data.get(NOTICE_RECIPIENT, "")
        if self.homes is not None and (message.invitation_id or recipient):
            try:
                if message.invitation_id:
                    await self.homes.refresh_homes_for(message.invitation_id)
                else:  # a notice to a member (removed, asked to become head, ...)
                    await self.homes.refresh_home_of(recipient, channel)
            except Exception:  # the DM went out: a stale home tab must not resend it
                log.exception("could not refresh the home tab after a notification")
        return str(sent.get("ts", ""))

    async def close(self) -> None:
        """Nothing to close here: the client opens a session per call, unless it shares the
        app's (:func:`handlers.slack.client.share_connections`), which the app closes."""
