"""Channels for the fake Slack Web API (:mod:`tests.handlers.fake_slack`): who is in them,
whether the app is, and which scopes its token has, answering the Web API's channel methods
in the shapes and with the errors Slack's documentation gives.

- ``auth.test`` says the token's scopes in the ``x-oauth-scopes`` header, as Slack does.
- ``conversations.info``: the channel (``is_private``, ``is_member`` for the app), or
  ``channel_not_found``.
- ``conversations.invite``: needs ``channels:manage`` (public) or ``groups:write`` (private),
  else ``missing_scope``; the app must be in the channel (``not_in_channel``); a member
  already there is ``already_in_channel``.
- ``conversations.kick``: the same scopes; someone not in the channel is ``not_in_channel``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCOPES = {
    "chat:write",
    "commands",
    "im:history",
    "im:write",
    "channels:read",
    "groups:read",
    "channels:manage",
    "groups:write",
}


@dataclass
class FakeChannel:
    channel_id: str
    name: str = "residents"
    is_private: bool = False
    app_member: bool = True
    members: set[str] = field(default_factory=set)

    @property
    def write_scope(self) -> str:
        return "groups:write" if self.is_private else "channels:manage"


class Channels:
    METHODS = ("conversations.info", "conversations.invite", "conversations.kick")

    def __init__(self) -> None:
        self.by_id: dict[str, FakeChannel] = {}
        self.scopes: set[str] = set(SCOPES)

    def add(self, channel: FakeChannel) -> FakeChannel:
        self.by_id[channel.channel_id] = channel
        return channel

    def answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        channel = self.by_id.get(str(params.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if method == "conversations.info":
            return {
                "ok": True,
                "channel": {
                    "id": channel.channel_id,
                    "name": channel.name,
                    "is_channel": not channel.is_private,
                    "is_group": channel.is_private,
                    "is_private": channel.is_private,
                    "is_archived": False,
                    "is_member": channel.app_member,
                },
            }
        if channel.write_scope not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": channel.write_scope}
        if method == "conversations.invite":
            if not channel.app_member:
                return {"ok": False, "error": "not_in_channel"}
            users = [u for u in str(params.get("users", "")).split(",") if u]
            if any(u in channel.members for u in users):
                return {"ok": False, "error": "already_in_channel"}
            channel.members.update(users)
            return {"ok": True, "channel": {"id": channel.channel_id}}
        user = str(params.get("user", ""))
        if user not in channel.members:
            return {"ok": False, "error": "not_in_channel"}
        channel.members.discard(user)
        return {"ok": True}
