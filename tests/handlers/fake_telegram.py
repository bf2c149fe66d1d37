"""A fake of the Telegram Bot API: a real HTTP server on 127.0.0.1, for tests that run the
real aiogram client against it (``TELEGRAM_API_BASE``).

It serves ``POST /bot<token>/<method>`` in its own thread (with its own event loop), like
``fake_twilio``, and records every call with its parameters decoded (aiogram sends form
fields, with objects such as ``reply_markup`` as JSON). It answers in Telegram's format,
``{"ok": true, "result": ...}``: sendMessage and editMessageText with a Message (message ids
count up), answerCallbackQuery and setMyCommands with ``true``, getMe with the bot
``@oakridge_bot``. setWebhook, deleteWebhook and getWebhookInfo keep one webhook; getUpdates
long-polls the updates a test queued with :meth:`FakeTelegram.push_update` (an ``offset``
confirms and forgets the earlier ones; while a webhook is set it answers 409, as Telegram
does). A wrong token gets 401, an unknown method 404, and
:meth:`FakeTelegram.fail_next` makes the next call of a method fail with a Bot API error::

    with FakeTelegram() as fake:
        bot = make_bot(fake.token, api_base=fake.url)
        ...
        fake.calls_of("sendMessage")[0].params["text"]
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.handlers.fake_telegram_groups import FakeGroup, Groups
from tests.handlers.loopback import LoopbackServer

TOKEN = "123456789:AAFakeTelegramTokenForTests_0123456789"
BOT_ID = 123456789
BOT_USERNAME = "oakridge_bot"


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    token: str
    message_id: int | None = None
    """The message sent (sendMessage) or edited (editMessageText)."""


@dataclass
class FakeTelegram:
    """The fake server; use it as a context manager (or call :meth:`start` and :meth:`close`)."""

    token: str = TOKEN
    _calls: list[Call] = field(default_factory=list, init=False, repr=False)
    _failures: dict[str, list[tuple[int, str, int | None]]] = field(
        default_factory=dict, init=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000), init=False)
    _server: LoopbackServer | None = field(default=None, init=False, repr=False)
    _updates: list[dict[str, Any]] = field(default_factory=list, init=False, repr=False)
    _arrived: asyncio.Event | None = field(default=None, init=False, repr=False)
    webhook: dict[str, Any] = field(default_factory=dict, init=False)
    """What the last setWebhook set (empty when none is)."""
    reply_delay: float = 0.0
    """Seconds a sendMessage or editMessageText takes to be answered (a slow Bot API)."""
    hung_chats: set[str] = field(default_factory=set, init=False)
    """Chats whose sendMessage and editMessageText are never answered: the caller waits until
    it gives up or dies (the call is kept in :attr:`hung`, not in :attr:`calls`)."""
    hung: list[Call] = field(default_factory=list, init=False)
    groups: Groups = field(default_factory=Groups, init=False)
    """Groups and their members, join requests and the bot's rights
    (:mod:`tests.handlers.fake_telegram_groups`)."""

    # The test's API

    @property
    def url(self) -> str:
        """The base URL to give aiogram instead of ``https://api.telegram.org``."""
        if self._server is None:
            raise RuntimeError("the fake Telegram server is not running")
        return self._server.url

    @property
    def calls(self) -> list[Call]:
        """Every call so far (getMe included), oldest first (a copy)."""
        with self._lock:
            return list(self._calls)

    def calls_of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    @property
    def effects(self) -> list[Call]:
        """The calls that show something to someone (not getMe, nor getUpdates)."""
        return [call for call in self.calls if call.method not in ("getMe", "getUpdates")]

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates (and wake a poll that is waiting)."""
        with self._lock:
            self._updates.append(update)
        if self._server is not None and self._arrived is not None:
            self._server.call_soon(self._arrived.set)

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by a getUpdates offset."""
        with self._lock:
            return list(self._updates)

    def add_group(self, group: FakeGroup) -> FakeGroup:
        with self._lock:
            return self.groups.add(group)

    def join_request(self, group: FakeGroup, user_id: int, *, update_id: int) -> dict[str, Any]:
        """``user_id`` asks to join ``group``: the update for the bot (post it, or push it)."""
        with self._lock:
            return self.groups.join_request(group, user_id, update_id=update_id)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def fail_next(
        self, method: str, description: str, code: int = 400, *, retry_after: int | None = None
    ) -> None:
        """Answer the next call of ``method`` with a Bot API error (with ``retry_after``, the
        429 of Telegram's flood control, which says how many seconds to wait)."""
        with self._lock:
            self._failures.setdefault(method, []).append((code, description, retry_after))

    # Lifecycle

    def start(self) -> FakeTelegram:
        self._server = LoopbackServer("fake-telegram", self._app).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # The server (runs on the fake's own loop)

    async def _app(self) -> web.Application:
        self._arrived = asyncio.Event()
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._method)
        return app

    async def _method(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        if token != self.token:
            return _error(401, "Unauthorized")
        params = await _params(request)
        if method in ("sendMessage", "editMessageText"):
            if str(params.get("chat_id")) in self.hung_chats:
                with self._lock:
                    self.hung.append(Call(method=method, params=params, token=token))
                await asyncio.sleep(3600)
            if self.reply_delay:
                await asyncio.sleep(self.reply_delay)
        with self._lock:
            failures = self._failures.get(method)
            failure = failures.pop(0) if failures else None
            message_id: int | None = None
            if failure is None and method == "sendMessage":
                message_id = next(self._ids)
            elif failure is None and method == "editMessageText":
                message_id = int(params.get("message_id", 0))
            self._calls.append(
                Call(method=method, params=params, token=token, message_id=message_id)
            )
        if failure is not None:
            return _error(*failure)
        if method in Groups.METHODS:
            with self._lock:
                status, result = self.groups.answer(method, params, BOT_ID)
            return _ok(result) if status == 200 else _error(status, str(result))
        if method == "getMe":
            return _ok(_bot_user() | {"can_join_groups": True, "supports_inline_queries": False})
        if method in ("answerCallbackQuery", "setMyCommands", "deleteMessage"):
            return _ok(True)
        if method == "setWebhook":
            self.webhook = dict(params)
            return _ok(True)
        if method == "deleteWebhook":
            self.webhook = {}
            return _ok(True)
        if method == "getWebhookInfo":
            info = {"url": self.webhook.get("url", ""), "has_custom_certificate": False}
            return _ok(info | {"pending_update_count": len(self.pending_updates)})
        if method == "getUpdates":
            return await self._get_updates(params)
        if method == "sendMessage":
            assert message_id is not None
            return _ok(_message(message_id, params))
        if method == "editMessageText":
            assert message_id is not None
            return _ok(_message(message_id, params, edited=True))
        return _error(404, "Not Found: method not found")

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        if self.webhook:
            return _error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), 60.0)
        deadline = time.monotonic() + wait
        assert self._arrived is not None
        while True:
            with self._lock:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                ready = list(self._updates[: int(params.get("limit") or 100)])
                self._arrived.clear()
            left = deadline - time.monotonic()
            if ready or left <= 0:
                return _ok(ready)
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=left)
            except TimeoutError:
                pass


async def _params(request: web.Request) -> dict[str, Any]:
    """The call's parameters: a JSON body, or form fields with JSON-encoded objects."""
    if request.content_type == "application/json":
        loaded = await request.json()
        return dict(loaded) if isinstance(loaded, dict) else {}
    params: dict[str, Any] = {}
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


def _bot_user() -> dict[str, Any]:
    return {"id": BOT_ID, "is_bot": True, "first_name": "Oak Ridge", "username": BOT_USERNAME}


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "User"}
    return {"id": chat_id, "type": "group", "title": "Oak Ridge neighbours"}


def _message(message_id: int, params: dict[str, Any], *, edited: bool = False) -> dict[str, Any]:
    now = int(time.time())
    message: dict[str, Any] = {
        "message_id": message_id,
        "from": _bot_user(),
        "chat": _chat(int(params.get("chat_id", 0))),
        "date": now,
        "text": str(params.get("text", "")),
    }
    if edited:
        message["edit_date"] = now
    if isinstance(params.get("reply_markup"), dict):
        message["reply_markup"] = params["reply_markup"]
    return message


def _ok(result: object) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=code)
