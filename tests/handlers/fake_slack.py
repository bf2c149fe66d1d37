"""A fake of the Slack Web API: a real HTTP server on 127.0.0.1, for tests that run the real
slack_sdk client (and slack-bolt) against it (``SLACK_API_BASE``).

It serves ``POST /api/<method>`` in its own thread (with its own event loop), like
``fake_telegram``, and records every call with its arguments decoded (slack_sdk sends JSON
for methods with blocks, form fields for the others). It answers in Slack's format,
``{"ok": true, ...}``: ``auth.test`` with the bot of the workspace "Oak Ridge";
``conversations.open`` with the direct message of a user (``U…`` gets ``D…``, the same
letters after it); ``chat.postMessage`` and ``chat.update`` with the message (timestamps count
up); ``views.publish``, ``views.open`` and ``views.update`` with the view (ids count up). A
call without the bot token gets ``invalid_auth``, an unknown method ``unknown_method``, and
:meth:`FakeSlack.fail_next` makes the next call of a method fail with a Slack error. Blocks
are checked against Slack's limits (:func:`blocks_refused`: at most 50 blocks in a message and
100 in a view, header, section, field, button and confirm texts within their lengths, a
button ``value`` within 2000 characters, ``action_id`` within 255 and once per block): a
message or view Slack would refuse gets ``invalid_blocks``, as in Slack.

For Socket Mode, ``apps.connections.open`` (with the app-level token) answers with a
WebSocket URL on the same server: the fake greets each connection with ``hello``, sends it
the envelopes a test queues with :meth:`FakeSlack.socket_send`, and records every
acknowledgement the app sends back (:meth:`FakeSlack.wait_for_acks`).

It also takes the ``response_url`` posts of slash commands and interactions
(``POST /response/<anything>``, see :meth:`FakeSlack.response_url`), recorded as calls of
the method ``response_url``::

    with FakeSlack() as fake:
        client = make_client(fake.token, api_base=fake.url)
        ...
        fake.calls_of("chat.postMessage")[0].params["text"]
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.handlers.fake_slack_channels import Channels
from tests.handlers.loopback import LoopbackServer

TOKEN = "xoxb-1111-2222-FakeSlackBotTokenForTests"
APP_TOKEN = "xapp-1-A0INVITEBOT-3333-FakeSlackAppTokenForTests"
TEAM_ID = "T0OAKRIDGE"
APP_ID = "A0INVITEBOT"
BOT_USER_ID = "U0INVITEBOT"
BOT_ID = "B0INVITEBOT"


def dm_of(user_id: str) -> str:
    """The direct-message channel id the fake gives a user's conversation with the bot."""
    return "D" + user_id[1:]


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    token: str
    ts: str | None = None
    """The message posted (chat.postMessage) or updated (chat.update)."""
    view_id: str | None = None
    """The view published, opened or updated."""
    connection: int | None = None
    """The caller's port: calls over one kept-alive connection share it."""


@dataclass
class FakeSlack:
    """The fake server; use it as a context manager (or call :meth:`start` and :meth:`close`)."""

    token: str = TOKEN
    app_token: str = APP_TOKEN
    _calls: list[Call] = field(default_factory=list, init=False, repr=False)
    _failures: dict[str, list[tuple[str, int]]] = field(default_factory=dict, init=False)
    channels: Channels = field(default_factory=Channels, init=False)
    """Channels, their members, and the token's scopes (see
    :mod:`tests.handlers.fake_slack_channels`)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1), init=False)
    _views: itertools.count[int] = field(default_factory=lambda: itertools.count(1), init=False)
    _responses: itertools.count[int] = field(default_factory=lambda: itertools.count(1), init=False)
    _changed: threading.Condition = field(init=False, repr=False)
    _acks: list[dict[str, Any]] = field(default_factory=list, init=False, repr=False)
    _sockets: list[asyncio.Queue[dict[str, Any] | None]] = field(
        default_factory=list, init=False, repr=False
    )
    _server: LoopbackServer | None = field(default=None, init=False, repr=False)
    reply_delay: float = 0.0
    """Seconds a chat.postMessage or chat.update takes to be answered (a slow Web API)."""
    hung_channels: set[str] = field(default_factory=set, init=False)
    """Channels whose chat.postMessage and chat.update are never answered: the caller waits
    until it gives up or dies (the call is kept in :attr:`hung`, not in :attr:`calls`)."""
    hung: list[Call] = field(default_factory=list, init=False)
    method_delays: dict[str, float] = field(default_factory=dict, init=False)
    """Seconds a method takes to be answered (a slow Web API for that method alone)."""
    locales: dict[str, str] = field(default_factory=dict, init=False)
    """Each user's Slack locale, as ``users.info`` with ``include_locale`` gives it
    (``en-US`` for a user not named here)."""

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)

    # The test's API

    @property
    def origin(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake Slack server is not running")
        return self._server.url

    @property
    def url(self) -> str:
        """The Web API base URL to give slack_sdk instead of ``https://slack.com/api/``."""
        return f"{self.origin}/api/"

    def response_url(self) -> str:
        """A fresh ``response_url`` for a slash command or an interaction, served here."""
        return f"{self.origin}/response/{TEAM_ID}/{next(self._responses)}/hook"

    @property
    def calls(self) -> list[Call]:
        """Every call so far (auth.test included), oldest first (a copy)."""
        with self._lock:
            return list(self._calls)

    def calls_of(self, *methods: str) -> list[Call]:
        return [call for call in self.calls if call.method in methods]

    @property
    def effects(self) -> list[Call]:
        """The calls that show something to someone (not auth.test, conversations.open)."""
        return [c for c in self.calls if c.method not in ("auth.test", "conversations.open")]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def fail_next(self, method: str, error: str, *, status: int = 200) -> None:
        """Answer the next call of ``method`` with ``{"ok": false, "error": error}`` (with
        HTTP ``status``: a 5xx is Slack out of order); the method ``socket`` refuses the next
        Socket Mode WebSocket (HTTP 503)."""
        with self._lock:
            self._failures.setdefault(method, []).append((error, status))

    # Socket Mode

    def wait_for_connections(self, count: int = 1, timeout: float = 10) -> None:
        """Block until ``count`` WebSockets are open (a bound, not a timed assertion)."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._sockets) >= count, timeout):
                raise AssertionError(f"{len(self._sockets)} Socket Mode connections, not {count}")

    def socket_send(self, envelope: dict[str, Any]) -> None:
        """Send an envelope (``events_api``, ``slash_commands``, ``interactive``) down the
        newest WebSocket."""
        with self._lock:
            queue = self._sockets[-1] if self._sockets else None
        if self._server is None or queue is None:
            raise AssertionError("no Socket Mode connection is open")
        self._server.call_soon(lambda: queue.put_nowait(envelope))

    def wait_for_acks(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        """Block until the app has acknowledged ``count`` envelopes; all acks so far."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._acks) >= count, timeout):
                raise AssertionError(f"{len(self._acks)} envelopes acknowledged, not {count}")
            return list(self._acks)

    # Lifecycle

    def start(self) -> FakeSlack:
        self._server = LoopbackServer("fake-slack", self._app, on_stop=self._stopping).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # The server (runs on the fake's own loop)

    async def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/{method}", self._method)
        app.router.add_get("/api/{method}", self._method)  # slack_sdk GETs conversations.info
        app.router.add_post("/response/{rest:.*}", self._response_url)
        app.router.add_get("/socket", self._socket)
        return app

    async def _stopping(self) -> None:
        with self._lock:
            queues = list(self._sockets)
        for queue in queues:
            queue.put_nowait(None)

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            failures = self._failures.get("socket")
            refused = failures.pop(0)[0] if failures else None
        if refused is not None:  # fail_next("socket", ...): this WebSocket does not open
            return web.Response(status=503, text=refused)
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        await socket.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": APP_ID}}
        )
        with self._changed:
            self._sockets.append(queue)
            self._changed.notify_all()

        async def forward() -> None:
            while (envelope := await queue.get()) is not None:
                await socket.send_json(envelope)
            await socket.close()

        sending = asyncio.create_task(forward())
        try:
            async for frame in socket:
                if frame.type is not web.WSMsgType.TEXT:
                    continue
                with self._changed:
                    self._acks.append(json.loads(frame.data))
                    self._changed.notify_all()
        finally:
            sending.cancel()
            with self._changed:
                if queue in self._sockets:
                    self._sockets.remove(queue)
                self._changed.notify_all()
        return socket

    async def _response_url(self, request: web.Request) -> web.Response:
        params = await _params(request)
        with self._lock:
            self._calls.append(
                Call(method="response_url", params={**params, "path": request.path}, token="")
            )
        return web.Response(text="ok")

    async def _method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _params(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        token = token or str(params.pop("token", ""))
        if self.method_delays.get(method):
            await asyncio.sleep(self.method_delays[method])
        if method in ("chat.postMessage", "chat.update"):
            if str(params.get("channel")) in self.hung_channels:
                with self._lock:
                    self.hung.append(Call(method=method, params=params, token=token))
                await asyncio.sleep(3600)
            if self.reply_delay:
                await asyncio.sleep(self.reply_delay)
        with self._lock:
            failures = self._failures.get(method)
            failure, status = failures.pop(0) if failures else (None, 200)
            wanted = self.app_token if method == "apps.connections.open" else self.token
            if token != wanted:
                failure = "invalid_auth"
            block_errors = blocks_refused(method, params) if failure is None else []
            if block_errors:
                failure = "invalid_blocks"
            ts = view_id = None
            if failure is None and method == "chat.postMessage":
                ts = f"1700000000.{next(self._ts):06d}"
            elif failure is None and method == "chat.update":
                ts = str(params.get("ts", ""))
            elif failure is None and method in ("views.publish", "views.open"):
                view_id = f"V{next(self._views):08d}"
            elif failure is None and method == "views.update":
                view_id = str(params.get("view_id", ""))
            self._calls.append(
                Call(
                    method=method,
                    params=params,
                    token=token,
                    ts=ts,
                    view_id=view_id,
                    connection=_port_of(request),
                )
            )
        if failure is not None:
            answer: dict[str, Any] = {"ok": False, "error": failure}
            if block_errors:
                answer["errors"] = block_errors
            return web.json_response(answer, status=status)
        if method in Channels.METHODS:
            with self._lock:
                return web.json_response(self.channels.answer(method, params))
        if method == "auth.test":
            response = _ok(
                url="https://oakridge.slack.com/",
                team="Oak Ridge",
                user="invitebot",
                team_id=TEAM_ID,
                user_id=BOT_USER_ID,
                bot_id=BOT_ID,
                is_enterprise_install=False,
            )
            with self._lock:
                response.headers["x-oauth-scopes"] = ",".join(sorted(self.channels.scopes))
            return response
        if method == "apps.connections.open":
            return _ok(url=self.origin.replace("http://", "ws://") + "/socket")
        if method == "users.info":
            user = str(params.get("user", ""))
            if not user.startswith("U"):
                return web.json_response({"ok": False, "error": "user_not_found"})
            found: dict[str, Any] = {"id": user, "team_id": TEAM_ID, "name": user.lower()}
            if str(params.get("include_locale", "")).lower() in ("true", "1"):
                with self._lock:
                    found["locale"] = self.locales.get(user, "en-US")
            return _ok(user=found)
        if method == "conversations.open":
            users = str(params.get("users", ""))
            if not users.startswith("U") or "," in users:
                return web.json_response({"ok": False, "error": "user_not_found"})
            return _ok(channel={"id": dm_of(users)})
        if method in ("chat.postMessage", "chat.update"):
            channel = str(params.get("channel", ""))
            if not channel.startswith(("D", "C", "U")):
                return web.json_response({"ok": False, "error": "channel_not_found"})
            message = {"type": "message", "text": params.get("text", ""), "ts": ts}
            if "blocks" in params:
                message["blocks"] = params["blocks"]
            return _ok(channel=channel, ts=ts, message=message)
        if method in ("views.publish", "views.open", "views.update"):
            view = params.get("view")
            if not isinstance(view, dict):
                return web.json_response({"ok": False, "error": "invalid_arguments"})
            return _ok(view={**view, "id": view_id, "hash": f"hash-{view_id}"})
        return web.json_response({"ok": False, "error": "unknown_method"}, status=404)


# Block Kit limits the real Web API enforces (answering ``invalid_blocks``).
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_HEADER_TEXT = 150
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ID = 255
MAX_ACTIONS_ELEMENTS = 25
MAX_CONFIRM = {"title": 100, "text": 300, "confirm": 30, "deny": 30}
MAX_MODAL_TITLE = 24
_MESSAGE_METHODS = ("chat.postMessage", "chat.update")
_VIEW_METHODS = ("views.publish", "views.open", "views.update")


def blocks_refused(method: str, params: dict[str, Any]) -> list[str]:
    """What the real Web API would refuse in the blocks of a message or a view (``[]``
    when nothing): the cheap checks of Slack's limits, so an oversized render fails a test
    the way it fails in Slack."""
    if method in _MESSAGE_METHODS:
        blocks, limit, where = params.get("blocks"), MAX_MESSAGE_BLOCKS, "message"
    elif method in _VIEW_METHODS and isinstance(params.get("view"), dict):
        view = params["view"]
        blocks, limit, where = view.get("blocks"), MAX_VIEW_BLOCKS, f"{view.get('type')} view"
        if view.get("type") == "modal":
            for key in ("title", "close", "submit"):
                if key in view:
                    refused = _too_long(f"modal {key}", _text_of(view[key]), MAX_MODAL_TITLE)
                    if refused:
                        return refused
    else:
        return []
    if blocks is None:
        return []
    if isinstance(blocks, str):  # form-encoded, not valid JSON
        return ["blocks are not a JSON array"]
    if not isinstance(blocks, list):
        return ["blocks are not an array"]
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(f"{len(blocks)} blocks in a {where}, more than {limit}")
    for index, block in enumerate(blocks):
        errors += [f"blocks[{index}]: {error}" for error in _block_refused(block)]
    return errors


def _text_of(obj: object) -> str | None:
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        return obj["text"]
    return None


def _too_long(what: str, text: str | None, limit: int) -> list[str]:
    if text is None:
        return [f"{what} has no text"]
    if not text:
        return [f"{what} text is empty"]
    if len(text) > limit:
        return [f"{what} text of {len(text)} characters, more than {limit}"]
    return []


def _block_refused(block: object) -> list[str]:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        return ["not a block"]
    kind = block["type"]
    if kind == "header":
        return _too_long("header", _text_of(block.get("text")), MAX_HEADER_TEXT)
    if kind == "section":
        errors: list[str] = []
        if "text" in block:
            errors += _too_long("section", _text_of(block["text"]), MAX_SECTION_TEXT)
        fields = block.get("fields")
        if fields is not None:
            if not isinstance(fields, list) or len(fields) > MAX_SECTION_FIELDS:
                errors.append(f"section fields: at most {MAX_SECTION_FIELDS}")
            else:
                for field_ in fields:
                    errors += _too_long("section field", _text_of(field_), MAX_FIELD_TEXT)
        if "text" not in block and fields is None:
            errors.append("section without text or fields")
        return errors
    if kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            return ["actions block without elements"]
        errors = []
        if len(elements) > MAX_ACTIONS_ELEMENTS:
            errors.append(f"{len(elements)} elements in an actions block")
        seen: set[str] = set()
        for element in elements:
            action_id = element.get("action_id") if isinstance(element, dict) else None
            if isinstance(action_id, str):
                if len(action_id) > MAX_ACTION_ID:
                    errors.append(f"action_id longer than {MAX_ACTION_ID} characters")
                if action_id in seen:
                    errors.append(f"action_id {action_id!r} twice in one block")
                seen.add(action_id)
            if isinstance(element, dict) and element.get("type") == "button":
                errors += _button_refused(element)
        return errors
    return []


def _button_refused(button: dict[str, Any]) -> list[str]:
    errors = _too_long("button", _text_of(button.get("text")), MAX_BUTTON_TEXT)
    value = button.get("value")
    if value is not None and (not isinstance(value, str) or len(value) > MAX_BUTTON_VALUE):
        errors.append(f"button value longer than {MAX_BUTTON_VALUE} characters")
    confirm = button.get("confirm")
    if confirm is not None:
        if not isinstance(confirm, dict):
            return [*errors, "confirm is not an object"]
        for key, limit in MAX_CONFIRM.items():
            errors += _too_long(f"confirm {key}", _text_of(confirm.get(key)), limit)
        if confirm.get("style", "primary") not in ("primary", "danger"):
            errors.append("confirm style is neither primary nor danger")
    if button.get("style", "primary") not in ("primary", "danger"):
        errors.append("button style is neither primary nor danger")
    return errors


async def _params(request: web.Request) -> dict[str, Any]:
    """The call's arguments: query, then a JSON body or form fields (JSON objects decoded)."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        loaded = await request.json()
        if isinstance(loaded, dict):
            params.update(loaded)
        return params
    for key, value in (await request.post()).items():
        text = value if isinstance(value, str) else str(value)
        if text[:1] in "[{":
            try:
                params[key] = json.loads(text)
                continue
            except ValueError:
                pass
        params[key] = text
    return params


def _ok(**result: object) -> web.Response:
    return web.json_response({"ok": True, **result})


def _port_of(request: web.Request) -> int | None:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return int(peer[1]) if peer else None
