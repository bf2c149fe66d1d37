"""The residents' Slack channel: carrying out the outbox's ``group`` messages
(:mod:`bot.group_access`) with the Web API, and reading what the app may do in a channel.

``conversations.invite`` adds someone who joined a household, ``conversations.kick`` takes out
someone who no longer belongs. Both need ``channels:manage`` (a public channel) or
``groups:write`` (a private one), and the app in the channel. Answers that mean it is already
so (``already_in_channel``, and ``not_in_channel`` on a kick: the person was not there) count
as done; a missing scope, the app out of the channel, or a channel that is gone fail for good,
with an error in the log for the board; rate limits and Slack's own trouble are retried, after
``Retry-After`` when Slack says it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery import DeliveryError, PermanentDeliveryError
from bot.domain import Channel, OutboxMessage
from bot.group_access import ACTION, CHAT, USER, GroupAction

log = logging.getLogger("invitebot.slack")

BOARD_MUST_FIX = frozenset(
    {
        "missing_scope",
        "not_in_channel",
        "channel_not_found",
        "is_archived",
        "restricted_action",
        "method_not_supported_for_channel_type",
        "cant_kick_from_general",
        "no_permission",
        "not_allowed_token_type",
        "token_revoked",
        "invalid_auth",
        "account_inactive",
        "user_is_restricted",
        "user_is_ultra_restricted",
    }
)
"""Errors the board fixes in Slack (scopes, the app in the channel, the channel, the token;
``user_is_restricted`` is about the caller, the app). The change waits for the fix: tried
again every :data:`BOARD_FIX_RETRY`, without counting, so a removal is never lost and the
person's later changes keep their order."""
PERSON_CANNOT = frozenset({"user_not_found", "cant_invite", "ura_max_channels", "cant_invite_self"})
"""Errors about the person (a guest Slack will not let in) that no retry changes."""
BOARD_FIX_RETRY = 15 * 60.0
DEFAULT_RATE_LIMIT_WAIT = 30.0


class SlackGroupSender:
    """Invites to and removes from a Slack channel; the destination is the channel id."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def send(self, message: OutboxMessage) -> str:
        if message.channel is not Channel.GROUP:
            raise PermanentDeliveryError(f"not a group change ({message.channel})")
        channel, user = message.destination.strip(), message.data.get(USER, "").strip()
        try:
            action = GroupAction(message.data.get(ACTION, ""))
        except ValueError:
            raise PermanentDeliveryError("not a Slack channel change") from None
        if not channel.isalnum() or not user.isalnum() or action not in _ACTIONS:
            raise PermanentDeliveryError("not a Slack channel change")
        try:
            if action is GroupAction.INVITE:
                await self.client.conversations_invite(channel=channel, users=user)
            else:
                await self.client.conversations_kick(channel=channel, user=user)
                await self._tell(message)
        except SlackApiError as error:
            code = error_code(error)
            if (action, code) in _ALREADY_SO:
                return ""
            if code == "ratelimited" or getattr(error.response, "status_code", 0) == 429:
                raise DeliveryError(
                    "Slack asked to slow down", retry_after=_retry_after(error)
                ) from error
            if code in BOARD_MUST_FIX:
                log.error(
                    "the Slack app may not %s in channel %s (%s): the board checks it with "
                    "`invitebot admin community show`",
                    action.value,
                    channel,
                    code,
                )
                raise DeliveryError(
                    f"Slack refused it ({code}); waiting for the board", retry_after=BOARD_FIX_RETRY
                ) from error
            if code in PERSON_CANNOT:
                raise PermanentDeliveryError(f"Slack refused it ({code})") from error
            raise DeliveryError(f"Slack did not take the change ({code or 'error'})") from error
        except Exception as error:  # network errors, timeouts: try again later
            raise DeliveryError(
                f"Slack did not take the change ({type(error).__name__})"
            ) from error
        return ""

    async def _tell(self, message: OutboxMessage) -> None:
        """Tell someone just taken out why, in their direct message with the app (only after
        a kick that took them out: ``not_in_channel`` ends before this)."""
        where = message.data.get(CHAT, "").strip()
        if not message.body or not where.isalnum():
            return
        try:
            await self.client.chat_postMessage(channel=where, text=message.body)
        except Exception as error:  # taken out either way: the notice is a courtesy
            log.info("could not tell %s why they left the channel: %s", where, error)

    async def close(self) -> None:
        """Nothing to close: the client opens a session per call."""


_ACTIONS = (GroupAction.INVITE, GroupAction.REMOVE)
_ALREADY_SO = {
    (GroupAction.INVITE, "already_in_channel"),
    (GroupAction.REMOVE, "not_in_channel"),
}


def error_code(error: SlackApiError) -> str:
    """Slack's error code in an error answer ("" when the answer was not Slack's JSON)."""
    data = getattr(error.response, "data", None)
    return str(data.get("error", "")) if isinstance(data, dict) else ""


def _retry_after(error: SlackApiError) -> float:
    headers = getattr(error.response, "headers", None) or {}
    try:
        return float(headers.get("Retry-After") or headers.get("retry-after") or 0) or (
            DEFAULT_RATE_LIMIT_WAIT
        )
    except (TypeError, ValueError):
        return DEFAULT_RATE_LIMIT_WAIT


@dataclass(frozen=True)
class ChannelCheck:
    """What the app found: the channel's id and name, and what stops it managing members."""

    channel_id: str
    name: str
    problem: str = ""

    @property
    def usable(self) -> bool:
        return not self.problem


async def check_channel(client: AsyncWebClient, channel: str) -> ChannelCheck:
    """Look the channel up and check the app may invite to and remove from it: the scope for
    its kind (``channels:manage`` or ``groups:write``), and the app a member of it."""
    channel = channel.strip().lstrip("#")
    if not channel.isalnum():
        return ChannelCheck("", "", f"“{channel}” is not a channel id (C… or G…)")
    try:
        auth = await client.auth_test()
        info = await client.conversations_info(channel=channel)
    except SlackApiError as error:
        problem = f"Slack cannot find the channel {channel} ({error_code(error) or 'error'})"
        return ChannelCheck(channel, "", problem)
    except Exception as error:
        return ChannelCheck(channel, "", f"Slack did not answer ({type(error).__name__})")
    found = info.get("channel") or {}
    name = f"#{found.get('name', channel)}"
    channel = str(found.get("id") or channel)  # Slack's own id, not the text typed
    if found.get("is_archived"):
        return ChannelCheck(channel, name, f"{name} is archived")
    if found.get("is_general"):
        return ChannelCheck(channel, name, f"{name} is the workspace's general channel")
    if found.get("is_im") or found.get("is_mpim"):
        return ChannelCheck(channel, name, f"{channel} is a direct message, not a channel")
    scopes = {s.strip() for s in str(auth.headers.get("x-oauth-scopes", "")).split(",")}
    needed = "groups:write" if found.get("is_private") else "channels:manage"
    if needed not in scopes:
        return ChannelCheck(
            channel, name, f"the app lacks the scope {needed} (add it and reinstall the app)"
        )
    if not found.get("is_member"):
        return ChannelCheck(
            channel, name, f"the app is not in {name} (type /invite @invitebot there)"
        )
    return ChannelCheck(channel, name)
