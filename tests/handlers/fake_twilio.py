"""A fake of Twilio's Messages API: a real HTTP server on 127.0.0.1, for tests that run the
real twilio-python client against it.

It serves ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` in its own thread (with
its own event loop), so sync and async tests alike can use it, and a test's event loop is
never the one answering. Every request is recorded (form fields, credentials, monotonic time
received); each answer follows a queue of behaviours, and once the queue is empty a valid
request gets 201 like Twilio's::

    with FakeTwilio() as fake:
        fake.respond_next(TwilioError(21610), ServerError(), Hang(seconds=5))
        sender = TwilioSender(account_sid=fake.account_sid, auth_token=fake.auth_token,
                              from_number="+15005550006", api_base=fake.url)
        ...
        fake.requests[0].form["To"]

Requests with the wrong HTTP basic credentials get 401 (Twilio error 20003) without using up
a queued behaviour; a request missing To, Body or a sender gets Twilio's 400 for it.

A test module's fixture is three lines (a fixture imported from here would trip ruff's
unused-import and redefinition checks)::

    @pytest.fixture
    def fake() -> Iterator[FakeTwilio]:
        with FakeTwilio() as running:
            yield running
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.utils import formatdate

from aiohttp import web

from tests.handlers.loopback import LoopbackServer

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"

# Twilio's own messages for the error codes tests use.
ERROR_MESSAGES: dict[int, str] = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    21211: "Invalid 'To' Phone Number",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the "
    "'To' number",
    21602: "Message body is required.",
    21603: "A 'From' or 'MessagingServiceSid' parameter is required to send a message.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
}


@dataclass(frozen=True)
class Created:
    """Accept the message: 201 with a Message resource, ``status`` as given."""

    status: str = "queued"


@dataclass(frozen=True)
class TwilioError:
    """An error answer in Twilio's format: ``{"code", "message", "more_info", "status"}``."""

    code: int
    status: int = 400
    message: str | None = None


@dataclass(frozen=True)
class ServerError:
    """A 5xx answer (Twilio's JSON error body, code 20500)."""

    status: int = 500


@dataclass(frozen=True)
class Hang:
    """Answer nothing for ``seconds`` (or until the fake closes), then ``then``."""

    seconds: float = 30.0
    then: Created | TwilioError | ServerError = Created()


Behaviour = Created | TwilioError | ServerError | Hang


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    account_sid: str
    """The account SID in the path."""
    form: dict[str, str]
    auth: tuple[str, str] | None
    """The HTTP basic credentials sent, if any."""
    headers: dict[str, str]
    received_at: float
    """``time.monotonic()`` when the request arrived (comparable with the test's own)."""
    behaviour: Behaviour
    """What the fake did with it (a 401 for bad credentials shows as ``TwilioError(20003)``)."""
    sid: str | None
    """The message SID answered, when the answer is (or, after a hang, will be) a 201."""


@dataclass
class FakeTwilio:
    """The fake server; use it as a context manager (or call :meth:`start` and :meth:`close`)."""

    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    _queue: deque[Behaviour] = field(default_factory=deque, init=False, repr=False)
    _requests: list[RecordedRequest] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _server: LoopbackServer | None = field(default=None, init=False, repr=False)
    _closing: asyncio.Event | None = field(default=None, init=False, repr=False)

    # The test's API

    @property
    def url(self) -> str:
        """The base URL to give the client instead of ``https://api.twilio.com``."""
        if self._server is None:
            raise RuntimeError("the fake Twilio server is not running")
        return self._server.url

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def messages(self) -> list[RecordedRequest]:
        """The requests answered (or, after a hang, to be answered) 201: the messages Twilio
        would have sent."""
        return [request for request in self.requests if request.sid is not None]

    def respond_next(self, *behaviours: Behaviour) -> None:
        """Queue how the next valid requests are answered, in order."""
        with self._lock:
            self._queue.extend(behaviours)

    # Lifecycle

    def start(self) -> FakeTwilio:
        self._server = LoopbackServer("fake-twilio", self._app, on_stop=self._stopping).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # The server (runs on the fake's own loop)

    async def _app(self) -> web.Application:
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account_sid}/Messages.json", self._messages)
        return app

    async def _stopping(self) -> None:
        if self._closing is not None:
            self._closing.set()  # release hanging requests

    async def _messages(self, request: web.Request) -> web.Response:
        received_at = time.monotonic()
        form = {key: str(value) for key, value in (await request.post()).items()}
        account_sid = request.match_info["account_sid"]
        auth = _basic_auth(request.headers.get("Authorization", ""))
        with self._lock:
            behaviour = self._choose(account_sid, auth, form)
            final = behaviour.then if isinstance(behaviour, Hang) else behaviour
            sid = new_message_sid() if isinstance(final, Created) else None
            self._requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.path,
                    account_sid=account_sid,
                    form=form,
                    auth=auth,
                    headers=dict(request.headers),
                    received_at=received_at,
                    behaviour=behaviour,
                    sid=sid,
                )
            )
        if isinstance(behaviour, Hang):
            assert self._closing is not None
            try:
                await asyncio.wait_for(self._closing.wait(), timeout=behaviour.seconds)
            except TimeoutError:
                pass
        return self._answer(final, account_sid, form, sid)

    def _choose(
        self, account_sid: str, auth: tuple[str, str] | None, form: dict[str, str]
    ) -> Behaviour:
        """What to do with a request (called under the lock)."""
        if auth != (self.account_sid, self.auth_token):
            return TwilioError(20003, status=401)
        if account_sid != self.account_sid:
            return TwilioError(20404, status=404)
        if not form.get("To"):
            return TwilioError(21604)
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return TwilioError(21603)
        if not form.get("Body"):
            return TwilioError(21602)
        return self._queue.popleft() if self._queue else Created()

    def _answer(
        self,
        behaviour: Created | TwilioError | ServerError,
        account_sid: str,
        form: dict[str, str],
        sid: str | None,
    ) -> web.Response:
        if isinstance(behaviour, Created):
            assert sid is not None
            resource = _message_resource(account_sid, form, behaviour, sid)
            return web.json_response(resource, status=201)
        if isinstance(behaviour, ServerError):
            behaviour = TwilioError(20500, status=behaviour.status)
        return web.json_response(
            {
                "code": behaviour.code,
                "message": behaviour.message or ERROR_MESSAGES.get(behaviour.code, "Error"),
                "more_info": f"https://www.twilio.com/docs/errors/{behaviour.code}",
                "status": behaviour.status,
            },
            status=behaviour.status,
        )


def _basic_auth(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, colon, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (username, password) if colon else None


def new_message_sid() -> str:
    """A Twilio-shaped message SID: ``SM`` and 32 hex digits."""
    return "SM" + secrets.token_hex(16)


def _message_resource(
    account_sid: str, form: dict[str, str], created: Created, sid: str
) -> dict[str, object]:
    """A Message resource as Twilio returns it from a create (the fields clients read)."""
    now = formatdate(usegmt=True)
    service = form.get("MessagingServiceSid")
    body = form.get("Body", "")
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": body,
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": form.get("From"),
        "messaging_service_sid": service,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "accepted" if service and not form.get("From") else created.status,
        "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"
        },
        "to": form.get("To"),
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
    }
