"""SMS out through Twilio's Messages API, with twilio-python's asynchronous client.

:class:`TwilioSender` is the :class:`bot.delivery.Sender` for SMS. It never blocks the event
loop (aiohttp underneath), spaces its sends to the sending number's rate (a long code may send
about one segment a second; a burst queues instead of failing), and sorts Twilio's errors
into the two kinds the dispatcher acts on: try again later (:class:`DeliveryError`: timeouts,
connection failures, 5xx, 429) or never (:class:`PermanentDeliveryError`: an opted-out,
invalid or non-mobile number and other 4xx), the latter with a short reason the household head
reads in "We could not deliver the invitation to Maria by SMS Text (<reason>)".

A retry after a timeout may text the invitee twice: the first request may have reached Twilio
before the answer was lost, and the Messages API has no idempotency key. That is the lesser
evil next to an invitation never sent.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot import messages as msg
from bot.contacts import mask_contact
from bot.delivery import DeliveryError, PermanentDeliveryError, RecipientOptedOut
from bot.domain import Channel, OutboxMessage

from .settings import Settings

log = logging.getLogger(__name__)

STATUS_CALLBACK_PATH = "/twilio/status"

# Twilio error codes (https://www.twilio.com/docs/api/errors) worth a specific reason. The
# reason ends up in a sentence to the household head, so it names what they can act on.
PERMANENT_REASONS: dict[int, str] = {
    21610: msg.REASON_SMS_OPTED_OUT,
    21211: msg.REASON_SMS_NOT_VALID,
    21614: msg.REASON_SMS_NOT_MOBILE,
    21635: msg.REASON_SMS_LANDLINE,
    21612: msg.REASON_SMS_CANNOT_RECEIVE,
    21408: msg.REASON_SMS_COUNTRY,
    21215: msg.REASON_SMS_COUNTRY,
    21606: msg.REASON_SMS_OUR_NUMBER,
    21617: msg.REASON_SMS_TOO_LONG,
    21602: msg.REASON_SMS_EMPTY,
}
CREDENTIALS_REASON = msg.REASON_SMS_CREDENTIALS
# 4xx codes that mean "not now" rather than "never": rate limits and a full send queue.
TRANSIENT_CODES = frozenset({20429, 14107, 21611})


class TokenBucket:
    """At most ``rate`` acquisitions a second, ``burst`` of them back to back; the rest wait
    their turn, first come first served.

    It is the generic cell rate algorithm, the arithmetic form of a token bucket: each
    caller books the next free slot at once (no lock needed on one event loop) and then
    sleeps until it. A caller cancelled while waiting leaves its slot unused, which only ever
    makes sending slower, never faster than the rate.
    """

    def __init__(
        self, rate: float, *, burst: int = 1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a positive number of sends per second, not {rate}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, not {burst}")
        self.rate = rate
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._next_slot = -math.inf

    def reserve(self) -> float:
        """Book the next slot; return how many seconds to wait for it."""
        now = self._clock()
        slot = max(self._next_slot, now)
        self._next_slot = slot + self._interval
        return max(0.0, slot - self._tolerance - now)

    async def acquire(self) -> None:
        """Wait for this caller's turn."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


class RebasingAsyncHttpClient(AsyncTwilioHttpClient):
    """twilio-python's aiohttp client, pointed at another server and with a timeout.

    The SDK builds absolute ``https://api.twilio.com/...`` URLs; Twilio's documented way to
    reach another host (a loopback fake in tests, a proxy) is a custom HTTP client, and this one
    moves every request for ``*.twilio.com`` to ``api_base``, keeping the path.

    The SDK's async client ignores the ``timeout`` given to its constructor (it passes only
    the per-request one, usually ``None``, which aiohttp reads as "wait forever"), so a
    request without its own timeout gets the constructor's here. And the basic credentials
    go as a header of its own, since aiohttp deprecates the ``BasicAuth`` the SDK would use.
    """

    def __init__(self, *, api_base: str | None = None, timeout: float | None = None) -> None:
        super().__init__(timeout=timeout)
        self._base = _parse_api_base(api_base) if api_base else None

    def rebase(self, url: str) -> str:
        """``url`` as sent: on ``api_base`` when it is set and ``url`` is Twilio's."""
        if self._base is None:
            return url
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host != "twilio.com" and not host.endswith(".twilio.com"):
            return url
        scheme, netloc, prefix = self._base
        return urlunsplit((scheme, netloc, prefix + parts.path, parts.query, parts.fragment))

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the SDK's signature)
        allow_redirects: bool = False,
    ) -> Response:
        if auth is not None:
            # The header itself rather than aiohttp's BasicAuth, which aiohttp deprecates.
            headers = {**(headers or {}), "Authorization": _basic_authorization(*auth)}
        return await super().request(
            method,
            self.rebase(url),
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=self.timeout if timeout is None else timeout,
            allow_redirects=allow_redirects,
        )


def _basic_authorization(username: str, password: str) -> str:
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {credentials}"


def _parse_api_base(api_base: str) -> tuple[str, str, str]:
    parts = urlsplit(api_base.rstrip("/"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"api_base must be an http(s) URL like http://127.0.0.1:8080: {api_base}")
    return parts.scheme, parts.netloc, parts.path


class TwilioSender:
    """Sends SMS outbox messages through Twilio; see the module docstring.

    Sends go from ``messaging_service_sid`` when it is set (the Messaging Service picks the
    number from its pool), else from ``from_number``. ``status_callback`` is where Twilio
    reports delivery (``<public URL>/twilio/status``). All sends of one sender share one rate
    limit of ``rate_per_second``; run one sender per sending number or service.

    The aiohttp session is opened by the first send, on the running event loop (aiohttp
    sessions belong to a loop), so the sender can be built anywhere; :meth:`close` closes it.
    """

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
        api_base: str | None = None,
        rate_per_second: float = 1.0,
        timeout: float = 10.0,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("a Twilio account SID and auth token are both needed")
        if not from_number and not messaging_service_sid:
            raise ValueError("a Twilio from number or messaging service SID is needed")
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, not {timeout}")
        if api_base:
            _parse_api_base(api_base)  # refuse a malformed base now, not at the first send
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.from_number = from_number or None
        self.messaging_service_sid = messaging_service_sid or None
        self.status_callback = status_callback or None
        self.api_base = api_base or None
        self.timeout = timeout
        self.bucket = TokenBucket(rate_per_second)
        self._client: Client | None = None
        self._http: RebasingAsyncHttpClient | None = None

    def __repr__(self) -> str:  # never show the auth token
        sender = self.messaging_service_sid or self.from_number
        return f"TwilioSender(account_sid={self.account_sid!r}, from={sender!r})"

    def _twilio(self) -> Client:
        if self._client is None:
            http = RebasingAsyncHttpClient(api_base=self.api_base, timeout=self.timeout)
            self._http = http
            self._client = Client(
                username=self.account_sid,
                password=self._auth_token,
                account_sid=self.account_sid,
                http_client=http,
            )
        return self._client

    async def send(self, message: OutboxMessage) -> str:
        """Text ``message.body`` to ``message.destination`` (E.164); return Twilio's SID."""
        if message.channel is not Channel.SMS:
            raise PermanentDeliveryError(f"not an SMS ({message.channel})")
        await self.bucket.acquire()
        params: dict[str, Any] = {"to": message.destination, "body": message.body}
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        else:
            params["from_"] = self.from_number
        if self.status_callback:
            params["status_callback"] = self.status_callback
        try:
            created = await self._twilio().messages.create_async(**params)
        except TimeoutError as error:
            raise DeliveryError(f"Twilio did not answer within {self.timeout:g} s") from error
        except aiohttp.ClientError as error:
            raise DeliveryError(
                f"could not reach Twilio: {type(error).__name__}: {error}"
            ) from error
        except TwilioException as error:
            # TwilioRestException, and TwilioServiceException (RFC 9457 answers) in newer SDKs,
            # carry the HTTP status and Twilio's error code; other SDK errors carry neither.
            status = getattr(error, "status", None)
            if not isinstance(status, int):
                raise DeliveryError(f"Twilio client error: {error}") from error
            code = getattr(error, "code", None)
            failure = classify_twilio_error(status, code)
            masked = mask_contact(message.destination)
            log.warning(
                "Twilio refused SMS outbox %s to %s: HTTP %s, error %s (%s)%s",
                message.id,
                masked,
                status,
                code,
                _twilio_text(error).replace(message.destination, masked),
                "" if isinstance(failure, PermanentDeliveryError) else "; will retry",
            )
            raise failure from error
        sid = created.sid or ""
        if not sid:
            # Accepted (2xx) without an id: sending again would text twice, so record it sent.
            log.warning("Twilio accepted SMS outbox %s without a message SID", message.id)
        return sid

    async def close(self) -> None:
        """Close the HTTP session (if a send opened one). The sender may send again after."""
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.close()

    async def __aenter__(self) -> TwilioSender:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


OPTED_OUT_CODE = 21610


def classify_twilio_error(status: int, code: int | None) -> DeliveryError:
    """The dispatcher's view of a Twilio error answer (HTTP ``status``, Twilio ``code``)."""
    if status >= 500 or status in (408, 429) or code in TRANSIENT_CODES:
        return DeliveryError(f"Twilio answered {status} (error {code}); will retry")
    if status in (401, 403) or code == 20003:
        return PermanentDeliveryError(CREDENTIALS_REASON)
    if code == OPTED_OUT_CODE:
        return RecipientOptedOut(PERMANENT_REASONS[OPTED_OUT_CODE])
    if 400 <= status < 500:
        reason = PERMANENT_REASONS.get(code or 0)
        return PermanentDeliveryError(reason or f"the SMS service refused it (error {code})")
    return DeliveryError(f"Twilio answered {status} (error {code})")


def _twilio_text(error: TwilioException) -> str:
    """Twilio's own words for an error answer, for the log."""
    for attribute in ("msg", "detail", "title"):
        text = getattr(error, attribute, None)
        if text:
            return str(text)
    return ""


def twilio_sender_from_settings(settings: Settings) -> TwilioSender | None:
    """The Twilio sender the settings describe, or ``None`` (SMS then goes to the log) unless
    the account SID, the auth token and a sender (from number or messaging service) are all
    set.

    The rate is ``settings.twilio_messages_per_second`` (``INVITEBOT_TWILIO_MESSAGES_PER_SECOND``,
    default 1: a US long code's limit).
    """
    account_sid = settings.twilio_account_sid
    token = settings.twilio_auth_token
    auth_token = token.get_secret_value() if token is not None else None
    from_number = settings.twilio_from_number
    service_sid = settings.twilio_messaging_service_sid
    if not (account_sid and auth_token and (from_number or service_sid)):
        return None
    return TwilioSender(
        account_sid=account_sid,
        auth_token=auth_token,
        from_number=from_number,
        messaging_service_sid=service_sid,
        status_callback=settings.public_base_url.rstrip("/") + STATUS_CALLBACK_PATH,
        api_base=settings.twilio_api_base,
        rate_per_second=settings.twilio_messages_per_second,
    )
