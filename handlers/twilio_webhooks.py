"""Twilio's webhooks: inbound text messages (``POST /twilio/sms``) and delivery reports
(``POST /twilio/status``).

Every request is checked with twilio's ``RequestValidator`` against the public URL
(``PUBLIC_BASE_URL`` + path, never the Host header that arrived, which a proxy may have
changed or an attacker may have chosen) and all form parameters. A missing or wrong
``X-Twilio-Signature`` gets 403 and changes nothing.
"""

from __future__ import annotations

import hmac
import logging
import re
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot.contacts import mask_contact
from bot.context import CoreContext
from bot.delivery import apply_delivery_report
from bot.messages import SMS_HINT
from bot.ports import UnitOfWorkFactory
from bot.sms_inbound import MAX_BODY, InboundSms, handle_inbound_sms
from bot.throttles import may_reply_by_sms

from .inbound import clean_text

log = logging.getLogger("invitebot.twilio")

MAX_FORM_BYTES = 64 * 1024
MAX_SENDER_KEY = 64
"""How much of a sender that is not a phone number names it for the reply cap."""
# Matched whole (fullmatch) and in ASCII: ``$`` would let a trailing newline through, and
# ``\d`` any script's digits, each making a second spelling of one number or message id.
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_SID = re.compile(r"[A-Za-z]{2}[0-9a-fA-F]{32}")
_FORM = "application/x-www-form-urlencoded"
_ERROR_CODE = re.compile(r"[0-9]{1,8}")


def _error_code(value: str) -> str:
    """Twilio's error code (a number such as ``30006``), or ``""`` for anything else: it goes
    into what the head is told, so no stray text of the request may ride along."""
    value = value.strip()
    return value if _ERROR_CODE.fullmatch(value) else ""


def twiml(reply: str = "") -> Response:
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return Response(str(response), media_type="application/xml")


class TwilioWebhooks:
    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        ctx: CoreContext,
        auth_token: str,
        public_base_url: str,
    ) -> None:
        self.uow_factory = uow_factory
        self.ctx = ctx
        self.validator = RequestValidator(auth_token)
        self.public_base_url = public_base_url.rstrip("/")

    @property
    def routes(self) -> list[Route]:
        return [
            Route("/twilio/sms", self.inbound_sms, methods=["POST"]),
            Route("/twilio/status", self.status_callback, methods=["POST"]),
        ]

    async def _verified_form(self, request: Request) -> dict[str, str] | None:
        """The form parameters, if Twilio signed exactly these for our public URL."""
        body = await request.body()  # read within MAX_FORM_BYTES by handlers.http_limits
        if len(body) > MAX_FORM_BYTES:
            return None
        if request.headers.get("content-type", "").startswith(_FORM):
            # What Twilio sends; parsed here directly, at a fraction of request.form()'s cost.
            try:
                pairs = parse_qsl(body.decode(), keep_blank_values=True)
            except UnicodeDecodeError:
                return None
            params = dict(pairs)
        else:
            form = await request.form()
            params = {key: value for key, value in form.items() if isinstance(value, str)}
        url = self.public_base_url + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        signature = request.headers.get("x-twilio-signature", "")
        if not signature or not self._signed(url, params, signature):
            log.warning("rejected a Twilio webhook with a missing or wrong signature")
            return None
        # Signed, yet a value may hold NUL (``%00``), which PostgreSQL refuses even to compare
        # with: cleaned here, once, for everything below.
        return {key: clean_text(value) for key, value in params.items()}

    def _signed(self, url: str, params: dict[str, str], signature: str) -> bool:
        """Whether Twilio signed ``params`` for ``url``. The signature for the URL exactly as
        configured is checked first: ``validate`` always computes two (the URL with and
        without its port, one of which is this one), which is most of a webhook's check."""
        if "bodySHA256" not in url:
            expected = self.validator.compute_signature(url, params)
            if hmac.compare_digest(expected.encode(), signature.encode()):
                return True
        return self.validator.validate(url, params, signature)

    async def inbound_sms(self, request: Request) -> Response:
        form = await self._verified_form(request)
        if form is None:
            return PlainTextResponse("Forbidden", status_code=403)
        sender, message_id = form.get("From", ""), form.get("MessageSid", "")
        if not _SID.fullmatch(message_id):
            log.warning("ignored a signed Twilio SMS webhook whose MessageSid is not one")
            return await self._hint(sender)
        if not _E164.fullmatch(sender):
            # Signed by Twilio yet not a text from a phone (a short code, WhatsApp...): a hint.
            log.info("inbound SMS %s is not from a phone number: answered with a hint", message_id)
            return await self._hint(sender)
        sms = InboundSms(sender=sender, body=form.get("Body", "")[:MAX_BODY], message_id=message_id)
        async with self.uow_factory() as uow:
            reply = await handle_inbound_sms(uow, self.ctx, sms)
            await uow.commit()
        log.info("inbound SMS %s from %s handled", message_id, mask_contact(sender))
        return twiml(reply or "")

    async def _hint(self, sender: str) -> Response:
        """The hint, within the cap on automatic replies to ``sender`` (an auto-responder on
        WhatsApp loops as well as one on a phone), counted by its first characters."""
        async with self.uow_factory() as uow:
            allowed = await may_reply_by_sms(uow, self.ctx, phone=sender[:MAX_SENDER_KEY])
            await uow.commit()
        return twiml(SMS_HINT if allowed else "")

    async def status_callback(self, request: Request) -> Response:
        form = await self._verified_form(request)
        if form is None:
            return PlainTextResponse("Forbidden", status_code=403)
        message_id = form.get("MessageSid", "")  # cleaned: looked up as it is
        async with self.uow_factory() as uow:
            changed = await apply_delivery_report(
                uow,
                self.ctx,
                provider_id=message_id,
                status=form.get("MessageStatus", "").strip(),
                error_code=_error_code(form.get("ErrorCode", "")),
            )
            await uow.commit()
        log.info(
            "delivery report %s for %s: %s",
            form.get("MessageStatus", "")[:40],
            message_id,
            "recorded" if changed else "nothing to change",
        )
        return Response(status_code=204)
