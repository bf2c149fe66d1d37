"""Sending the household's webhooks (:mod:`bot.webhooks`) to the HOA's other systems.

Each attempt is signed by the Standard Webhooks specification with the ``standardwebhooks``
package: ``webhook-id`` (the same on every attempt: a receiver drops repeats by it),
``webhook-timestamp`` (this attempt's time, in seconds) and ``webhook-signature``
(``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body`` under the shared secret). The
receiver's answer decides: any 2xx is delivered; anything else, a timeout or a refused
connection is a failure the dispatcher retries on ``bot.webhooks.WEBHOOK_RETRY``'s schedule (the one
the specification suggests) while the household's later webhooks wait behind it. Redirects
are not followed: a signed body goes only to the URL the operator configured.
"""

from __future__ import annotations

import base64
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from standardwebhooks import Webhook

from bot.delivery import DeliveryError, PermanentDeliveryError
from bot.domain import Channel, OutboxMessage

from .settings import WEBHOOK_SECRET_PREFIX, Settings

log = logging.getLogger(__name__)

ANSWER_LIMIT = 2048
"""The most of a receiver's answer read (shown by ``invitebot admin webhook test``)."""

USER_AGENT = "invitebot-webhooks/1"


@dataclass(frozen=True)
class Answer:
    """What the receiver said: its HTTP status and the start of its body."""

    status: int
    reason: str
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and the base64 of 32 random bytes."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookSender:
    """POSTs webhook outbox messages to one URL, signed with one secret.

    The aiohttp session is opened by the first send, on the running event loop (aiohttp
    sessions belong to a loop); :meth:`close` closes it.
    """

    def __init__(self, *, url: str, secret: str, timeout: float = 15.0) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, not {timeout}")
        self.url = url
        self.timeout = timeout
        self._signer = Webhook(secret)
        self._http: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # never show the secret
        return f"WebhookSender(url={self.url!r})"

    async def send(self, message: OutboxMessage) -> str:
        """POST ``message.body``; return its ``webhook-id`` once the receiver took it (2xx)."""
        if message.channel is not Channel.WEBHOOK:
            raise PermanentDeliveryError(f"not a webhook ({message.channel})")
        ident = message.data.get("webhook_id") or message.id
        answer = await self.post(ident, message.body)
        if not answer.ok:
            raise DeliveryError(f"the webhook receiver answered {answer.status} {answer.reason}")
        return ident

    async def post(self, webhook_id: str, body: str) -> Answer:
        """One signed POST of ``body``; a network failure or timeout is a
        :class:`DeliveryError`."""
        now = datetime.now(UTC)
        data = body.encode()
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self._signer.sign(webhook_id, now, data),
        }
        try:
            async with self._session().post(
                self.url, data=data, headers=headers, allow_redirects=False
            ) as response:
                text = await response.content.read(ANSWER_LIMIT)
                return Answer(
                    status=response.status,
                    reason=response.reason or "",
                    text=text.decode("utf-8", "replace"),
                )
        except TimeoutError as error:
            raise DeliveryError(
                f"the webhook receiver did not answer within {self.timeout:g} s"
            ) from error
        except (aiohttp.ClientError, ValueError) as error:  # ValueError: a URL aiohttp refused
            raise DeliveryError(
                f"could not reach the webhook receiver: {type(error).__name__}"
            ) from error

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                # Never the environment's proxy settings or .netrc: one URL, as configured.
                trust_env=False,
            )
        return self._http

    async def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.close()


def webhook_sender_from_settings(settings: Settings) -> WebhookSender | None:
    if settings.webhook_url is None or settings.webhook_secret is None:
        return None
    return WebhookSender(
        url=settings.webhook_url,
        secret=settings.webhook_secret.get_secret_value(),
        timeout=settings.webhook_timeout_seconds,
    )
