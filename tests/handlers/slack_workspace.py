"""A Slack workspace as the Slack tests drive it: slash commands, direct messages, button
presses and home-tab events, each posted to ``POST /slack/events`` the way Slack sends it and
signed with slack_sdk's own signature logic; and what people were shown, read from the calls
the app made to the fake Web API (``fake_slack``)."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from handlers.slack.bot import SlackAdapter
from tests.handlers.fake_slack import APP_ID, BOT_USER_ID, TEAM_ID, Call, FakeSlack, dm_of

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NAMES = {"U0ANA": "ana.lopez", "U0MARIA": "maria.ruiz", "U0SAM": "sam.lee"}
_ids = itertools.count(1)


def signed_headers(body: str, *, content_type: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends: a timestamp and the v0 HMAC of ``v0:<timestamp>:<body>``."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }


@dataclass
class Workspace:
    """People in a Slack workspace talking to the app: each request as Slack sends it,
    signed, to ``POST /slack/events``; what they were shown, from the fake's records."""

    client: httpx.AsyncClient
    fake: FakeSlack
    adapter: SlackAdapter

    # --- requests as Slack sends them --------------------------------------------------

    async def post(
        self,
        body: str,
        *,
        content_type: str,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        sent = signed_headers(body, content_type=content_type, timestamp=timestamp)
        sent.update(headers or {})
        response = await self.client.post("/slack/events", content=body, headers=sent)
        await self.adapter.drain()
        return response

    def command_body(
        self, user: str, command: str, text: str = "", *, channel: str | None = None
    ) -> str:
        channel = channel or dm_of(user)
        return urlencode(
            {
                "token": "deprecated-verification-token",
                "team_id": TEAM_ID,
                "team_domain": "oakridge",
                "channel_id": channel,
                "channel_name": "directmessage" if channel.startswith("D") else "neighbours",
                "user_id": user,
                "user_name": NAMES.get(user, "someone"),
                "command": command,
                "text": text,
                "api_app_id": APP_ID,
                "response_url": self.fake.response_url(),
                "trigger_id": f"{next(_ids)}.1111.{'a' * 32}",
            }
        )

    async def command(
        self, user: str, command: str, text: str = "", *, channel: str | None = None
    ) -> httpx.Response:
        response = await self.post(
            self.command_body(user, command, text, channel=channel),
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 200, response.text
        return response

    def event_body(self, event: dict[str, Any], *, event_id: str | None = None) -> str:
        return json.dumps(
            {
                "token": "deprecated-verification-token",
                "team_id": TEAM_ID,
                "api_app_id": APP_ID,
                "event": event,
                "type": "event_callback",
                "event_id": event_id or f"Ev{next(_ids):010d}",
                "event_time": int(time.time()),
                "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
            }
        )

    async def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        response = await self.post(
            self.event_body(event, event_id=event_id),
            content_type="application/json",
            headers=headers,
        )
        assert response.status_code == 200, response.text
        return response

    async def say(self, user: str, text: str, **extra: Any) -> httpx.Response:
        """A direct message to the bot, as the Events API delivers it (``message.im``)."""
        ts = f"{int(time.time())}.{next(_ids):06d}"
        event = {
            "type": "message",
            "channel": dm_of(user),
            "channel_type": "im",
            "user": user,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            **extra,
        }
        return await self.event(event)

    async def open_home(self, user: str) -> httpx.Response:
        return await self.event(
            {
                "type": "app_home_opened",
                "user": user,
                "channel": dm_of(user),
                "tab": "home",
                "event_ts": f"{int(time.time())}.000001",
            }
        )

    def interaction_body(self, user: str, payload: dict[str, Any]) -> str:
        base = {
            "user": {"id": user, "username": NAMES.get(user, "x"), "name": NAMES.get(user, "x")},
            "api_app_id": APP_ID,
            "token": "deprecated-verification-token",
            "team": {"id": TEAM_ID, "domain": "oakridge"},
            "trigger_id": f"{next(_ids)}.2222.{'b' * 32}",
            "response_url": self.fake.response_url(),
        }
        return urlencode({"payload": json.dumps({**base, **payload})})

    async def interact(
        self, user: str, payload: dict[str, Any], *, trigger_id: str | None = None
    ) -> httpx.Response:
        if trigger_id is not None:
            payload = {**payload, "trigger_id": trigger_id}
        response = await self.post(
            self.interaction_body(user, payload),
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 200, response.text
        return response

    def button(self, user: str, label: str) -> tuple[dict[str, Any], str]:
        """The newest button with this label in the user's DM, and its message's ts."""
        for call in reversed(self.shown(user)):
            for element in buttons(call.params.get("blocks") or []):
                if element["text"]["text"] == label:
                    assert call.ts is not None
                    return element, call.ts
        raise AssertionError(f"no button {label!r} shown to {user}")

    async def press(
        self,
        user: str,
        label: str = "",
        *,
        value: str | None = None,
        action_id: str = "invitebot.press.0",
        ts: str | None = None,
        trigger_id: str | None = None,
    ) -> httpx.Response:
        """Press a button in the DM (by label), or send any value (a tampered payload)."""
        if value is None:
            element, ts = self.button(user, label)
            value, action_id = element["value"], element["action_id"]
        ts = ts or "1700000000.000001"
        payload = {
            "type": "block_actions",
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": dm_of(user),
                "is_ephemeral": False,
            },
            "channel": {"id": dm_of(user), "name": "directmessage"},
            "message": {"type": "message", "ts": ts, "text": "…"},
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "b1",
                    "type": "button",
                    "value": value,
                    "action_ts": f"{int(time.time())}.000002",
                }
            ],
        }
        return await self.interact(user, payload, trigger_id=trigger_id)

    def home(self, user: str) -> Call:
        published = [c for c in self.fake.calls_of("views.publish") if c.params["user_id"] == user]
        assert published, f"no home tab published for {user}"
        return published[-1]

    async def press_on_view(self, user: str, label: str, *, view: Call) -> httpx.Response:
        """Press a button on the home tab or a modal (the view the call published)."""
        blocks = view.params["view"]["blocks"]
        [element] = [e for e in buttons(blocks) if e["text"]["text"] == label][-1:]
        payload = {
            "type": "block_actions",
            "container": {"type": "view", "view_id": view.view_id},
            "view": {
                "id": view.view_id,
                "type": view.params["view"]["type"],
                "hash": f"hash-{view.view_id}",
                "blocks": blocks,
            },
            "actions": [
                {
                    "action_id": element["action_id"],
                    "block_id": "b1",
                    "type": "button",
                    "value": element.get("value", ""),
                    "action_ts": f"{int(time.time())}.000003",
                }
            ],
        }
        return await self.interact(user, payload)

    # --- what Slack was asked to show -----------------------------------------------

    def shown(self, user: str) -> list[Call]:
        """Messages posted or updated in the user's DM, oldest first."""
        return [
            c
            for c in self.fake.calls_of("chat.postMessage", "chat.update")
            if c.params.get("channel") == dm_of(user)
        ]

    def last_text(self, user: str) -> str:
        return str(self.shown(user)[-1].params["text"])


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b.get("type") == "actions" for e in b["elements"]]


def labels(call: Call) -> list[str]:
    return [e["text"]["text"] for e in buttons(call.params.get("blocks") or [])]


def view_text(call: Call) -> str:
    """All the text of a published or opened view, for ``in`` assertions."""
    return json.dumps(call.params["view"]["blocks"], ensure_ascii=False)


def labels_of_view(call: Call) -> list[str]:
    return [e["text"]["text"] for e in buttons(call.params["view"]["blocks"])]
