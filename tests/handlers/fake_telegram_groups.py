"""Groups for the fake Telegram Bot API (:mod:`tests.handlers.fake_telegram`): who is in them,
who asked to join, and what rights the bot has there, answering the Bot API's group methods
in the shapes and with the errors its documentation gives.

- ``getChat`` by id or ``@username``; ``getChatMember`` (the bot: ``administrator`` with its
  rights, ``member`` or ``left`` otherwise; anyone else by whether they are in the group).
- ``approveChatJoinRequest`` / ``declineChatJoinRequest``: need ``can_invite_users``; a
  request that is not pending is ``Bad Request: HIDE_REQUESTER_MISSING``.
- ``banChatMember`` / ``unbanChatMember``: need ``can_restrict_members``; a ban takes the
  person out and keeps them out until unbanned.
- ``createChatInviteLink`` / ``revokeChatInviteLink``: need ``can_invite_users``; answer a
  ChatInviteLink (a link revoked before, or not one of ours, is ``INVITE_HASH_EXPIRED``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

RIGHTS = ("can_invite_users", "can_restrict_members")
NO_RIGHTS = "Bad Request: not enough rights to manage chat members"


@dataclass
class FakeGroup:
    chat_id: int
    title: str = "Oak Ridge residents"
    username: str = ""
    bot_admin: bool = True
    rights: set[str] = field(default_factory=lambda: set(RIGHTS))
    members: set[int] = field(default_factory=set)
    requests: set[int] = field(default_factory=set)
    banned: set[int] = field(default_factory=set)
    links: list[dict[str, Any]] = field(default_factory=list)
    """The parameters of each createChatInviteLink."""
    revoked: set[str] = field(default_factory=set)

    def chat(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.chat_id, "type": "supergroup", "title": self.title}
        if self.username:
            chat["username"] = self.username
        return chat


class Groups:
    """The groups of one fake server; :meth:`answer` takes a Bot API call (under the fake's
    lock) and returns ``(status, body)``, or ``None`` for a method that is not a group one."""

    METHODS = (
        "getChat",
        "getChatMember",
        "approveChatJoinRequest",
        "declineChatJoinRequest",
        "banChatMember",
        "unbanChatMember",
        "createChatInviteLink",
        "revokeChatInviteLink",
    )

    def __init__(self) -> None:
        self.by_id: dict[int, FakeGroup] = {}

    def add(self, group: FakeGroup) -> FakeGroup:
        self.by_id[group.chat_id] = group
        return group

    def find(self, chat_id: object) -> FakeGroup | None:
        text = str(chat_id)
        if text.startswith("@"):
            return next((g for g in self.by_id.values() if f"@{g.username}" == text), None)
        try:
            return self.by_id.get(int(text))
        except ValueError:
            return None

    def join_request(self, group: FakeGroup, user_id: int, *, update_id: int) -> dict[str, Any]:
        """A user asks to join: the ``chat_join_request`` update Telegram sends the bot."""
        group.requests.add(user_id)
        return {
            "update_id": update_id,
            "chat_join_request": {
                "chat": group.chat(),
                "from": {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"},
                "user_chat_id": user_id,
                "date": int(time.time()),
            },
        }

    def answer(self, method: str, params: dict[str, Any], bot_id: int) -> tuple[int, Any]:
        group = self.find(params.get("chat_id"))
        if group is None:
            return 400, "Bad Request: chat not found"
        user_id = int(params.get("user_id") or 0)
        if method == "getChat":  # a ChatFullInfo: these fields are always there
            full = {"accent_color_id": 0, "max_reaction_count": 11}
            gifts = {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            }
            return 200, group.chat() | full | {"accepted_gift_types": gifts}
        if method == "getChatMember":
            return 200, self._member(group, user_id, bot_id)
        if method in ("approveChatJoinRequest", "declineChatJoinRequest"):
            if not group.bot_admin or "can_invite_users" not in group.rights:
                return 400, NO_RIGHTS
            if user_id not in group.requests:
                return 400, "Bad Request: HIDE_REQUESTER_MISSING"
            group.requests.discard(user_id)
            if method == "approveChatJoinRequest":
                group.members.add(user_id)
            return 200, True
        if method == "revokeChatInviteLink":
            if not group.bot_admin or "can_invite_users" not in group.rights:
                return 400, NO_RIGHTS
            link = str(params.get("invite_link", ""))
            if link in group.revoked or not link.startswith("https://t.me/+fakeInvite"):
                return 400, "Bad Request: INVITE_HASH_EXPIRED"
            group.revoked.add(link)
            return 200, {
                "invite_link": link,
                "creator": {"id": bot_id, "is_bot": True, "first_name": "Oak Ridge"},
                "creates_join_request": False,
                "is_primary": False,
                "is_revoked": True,
            }
        if method == "createChatInviteLink":
            if not group.bot_admin or "can_invite_users" not in group.rights:
                return 400, NO_RIGHTS
            group.links.append(dict(params))
            return 200, {
                "invite_link": f"https://t.me/+fakeInvite{len(group.links)}",
                "creator": {"id": bot_id, "is_bot": True, "first_name": "Oak Ridge"},
                "creates_join_request": str(params.get("creates_join_request")).lower()
                in ("true", "1"),
                "is_primary": False,
                "is_revoked": False,
                "name": str(params.get("name", "")),
            }
        if not group.bot_admin or "can_restrict_members" not in group.rights:
            return 400, NO_RIGHTS
        if method == "banChatMember":
            group.members.discard(user_id)
            group.banned.add(user_id)
            return 200, True
        if str(params.get("only_if_banned", "")).lower() in ("true", "1") and (
            user_id not in group.banned
        ):
            return 200, True
        group.banned.discard(user_id)
        group.members.discard(user_id)  # unbanChatMember without only_if_banned: out too
        return 200, True

    @staticmethod
    def _member(group: FakeGroup, user_id: int, bot_id: int) -> dict[str, Any]:
        user = {"id": user_id, "is_bot": user_id == bot_id, "first_name": "Someone"}
        if user_id == bot_id and group.bot_admin:
            rights = {
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_manage_video_chats": False,
                "can_restrict_members": "can_restrict_members" in group.rights,
                "can_promote_members": False,
                "can_change_info": False,
                "can_invite_users": "can_invite_users" in group.rights,
                "can_post_stories": False,
                "can_edit_stories": False,
                "can_delete_stories": False,
                "can_send_welcome_messages": False,
            }
            return {"status": "administrator", "user": user} | rights
        if user_id in group.members or (user_id == bot_id):
            return {"status": "member", "user": user}
        if user_id in group.banned:
            return {"status": "kicked", "user": user, "until_date": 0}
        return {"status": "left", "user": user}
