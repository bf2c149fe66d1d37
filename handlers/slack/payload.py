"""Reading a Slack request's body defensively: which fields identify it, and which hold ids.

Slack's bodies are signed, so their fields come from Slack, or from whoever holds the signing
secret. Either way each field is read as the type Slack documents or not at all: a list where
a user id belongs never becomes the id ``"['U0ANA']"``, and an id that is not Slack's shape
never reaches storage (where a 400-character one would not even fit the column).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

NO_RETRY = {"X-Slack-No-Retry": "1"}
"""Sent with an answer that is not 2xx when a retry could only fail the same way."""
SHAPE_ERRORS = (TypeError, LookupError, AttributeError, ValueError)
"""What slack-bolt's matching raises on a body of an unexpected shape (``"event": "type"``,
``"actions": [1]``), which Slack never sends but whoever holds the signing secret could."""
_SLACK_ID = re.compile(r"[A-Z0-9]{1,64}")
"""A user or channel id as Slack makes them (``U0ANA``, ``W...``, ``D...``, ``C...``)."""


def receipt_key(body: Mapping[str, Any]) -> str | None:
    """What identifies one request from Slack for good: an event's ``event_id``, an
    interaction's or slash command's ``trigger_id``; ``None`` for anything else."""
    event_id = body.get("event_id")
    if body.get("type") == "event_callback" and isinstance(event_id, str) and event_id:
        return f"event:{event_id}"
    trigger = body.get("trigger_id")
    if isinstance(trigger, str) and trigger:
        return f"trigger:{trigger}"
    return None


def is_slack_id(value: str) -> bool:
    return bool(_SLACK_ID.fullmatch(value))


def string_at(body: Mapping[str, Any], key: str) -> str:
    """``body[key]`` when it is a string, else ``""``: whatever else a forged body puts there
    never becomes an id or a text (``str()`` of a list would)."""
    value = body.get(key)
    return value if isinstance(value, str) else ""


def mapping(body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``body[key]`` when it is an object, else an empty one."""
    value = body.get(key)
    return value if isinstance(value, Mapping) else {}


def user_of(body: Mapping[str, Any]) -> str:
    """The id of the person who pressed or typed, in an interaction's ``user`` object."""
    return string_at(mapping(body, "user"), "id")
