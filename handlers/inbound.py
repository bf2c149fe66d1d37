"""What a platform sends, made safe to handle and to store, in one place for every edge.

A request that passed its platform's check (a Slack signature, Telegram's secret token, a
Twilio signature) is still only as well-formed as whoever holds that secret made it, and a
signed request that makes us fail is answered 500, which every platform re-sends. So each
edge reads its body through here before anything else looks at it:

- :func:`read_json_object` takes bytes that must be strict UTF-8 holding one JSON object,
  nested at most :data:`MAX_DEPTH` deep (Python's parser would otherwise recurse until it
  raises ``RecursionError``), with integers that fit 64 bits (Telegram's and Slack's ids all
  do; a 4,000-digit ``update_id`` would not fit the column it is stored in), and no ``NaN``
  or ``Infinity``, which are not JSON. Anything else raises :class:`Unreadable`.
- :func:`clean_text` and :func:`clean` take out what PostgreSQL's ``text`` refuses to store
  or even to compare against: NUL (``\\u0000``, legal in JSON and in a percent-encoded form)
  and lone surrogates (``\\ud800``, which JSON's escapes can spell but UTF-8 cannot encode).
  Each becomes U+FFFD, the replacement character: so every string that reaches the core or
  storage is text any database keeps, and none turns into another by losing a character
  (``JO\\u0000IN`` is not ``JOIN``, nor ``SM...\\u0000`` some other message's id).

The edge answers an :class:`Unreadable` body so that the platform stops re-sending it (2xx,
or Slack's 400 with ``X-Slack-No-Retry``) and logs it at WARNING: it is either a bug on the
platform's side or someone holding our secret, and both deserve a look, not a traceback.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64
"""How deeply a body may nest. Telegram's updates and Slack's payloads (a home tab's view
with its blocks and state included) stay well under 20."""
MAX_INT = 2**63
"""Integers must lie in ``(-MAX_INT, MAX_INT)``: Telegram's ids are at most 52 bits."""
_MAX_INT_DIGITS = 20

_SURROGATE = re.compile("[\ud800-\udfff]")


class Unreadable(ValueError):
    """A body that is not the JSON object an edge expects; its message says why (for the
    log), never quoting the body."""


def clean_text(text: str) -> str:
    """``text`` with each NUL and each lone surrogate replaced by U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not text.isascii() and _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return text


def clean(value: Any, *, max_depth: int | None = MAX_DEPTH) -> Any:
    """Clean every string (keys too) of a parsed JSON value in place, and return it (a
    string is returned cleaned, being immutable). Raises :class:`Unreadable` when it nests
    deeper than ``max_depth`` or holds an integer out of range (``None``: no limits).
    Iterative: the value may be as deep as the parser allowed, and this must not recurse
    into ``RecursionError``."""
    limited = max_depth is not None
    if isinstance(value, str):
        return clean_text(value)
    if limited:
        _check_number(value)
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if max_depth is not None and depth > max_depth and isinstance(node, dict | list):
            raise Unreadable(f"nested more than {max_depth} deep")
        if isinstance(node, dict):
            for key in [k for k in node if isinstance(k, str) and clean_text(k) != k]:
                node[clean_text(key)] = node.pop(key)
            for key, item in node.items():
                node[key] = _cleaned_leaf(item, stack, depth, limited)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                node[index] = _cleaned_leaf(item, stack, depth, limited)
    return value


def _cleaned_leaf(item: Any, stack: list[tuple[Any, int]], depth: int, limited: bool) -> Any:
    if isinstance(item, str):
        return clean_text(item)
    if isinstance(item, dict | list):
        stack.append((item, depth + 1))
    elif limited:
        _check_number(item)
    return item


def _check_number(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and not -MAX_INT < value < MAX_INT:
        raise Unreadable("an integer out of range")


def _bounded_int(digits: str) -> int:
    # Checked on the digits first: int() of thousands of them costs, and past 4,300 raises.
    if len(digits) > _MAX_INT_DIGITS:
        raise Unreadable("an integer out of range")
    number = int(digits)
    _check_number(number)
    return number


def _no_constant(name: str) -> float:
    raise Unreadable(f"{name} is not JSON")


def parse_json_object(text: str, *, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """One JSON object from ``text``, checked and cleaned (see the module's docstring)."""
    try:
        value = json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
    except RecursionError:
        raise Unreadable(f"nested more than {max_depth} deep") from None
    except Unreadable:
        raise
    except ValueError as error:  # json.JSONDecodeError among them
        raise Unreadable(f"not JSON ({type(error).__name__})") from None
    if not isinstance(value, dict):
        raise Unreadable(f"JSON {type(value).__name__}, not an object")
    return clean(value, max_depth=max_depth)


def read_json_object(raw: bytes, *, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """One JSON object from a request body: strict UTF-8 (no encoded surrogates either)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable("not UTF-8") from None
    return parse_json_object(text, max_depth=max_depth)


def loads_cleaned(text: str | bytes) -> Any:
    """``json.loads`` with every string cleaned, and no limits: the Telegram Bot API client's
    loader, so updates fetched by long polling are as clean as the webhook's. Those answers
    come from the Bot API over our own authenticated connection, and a limit that refused
    one would stall polling on that batch for good."""
    return clean(json.loads(text), max_depth=None)
