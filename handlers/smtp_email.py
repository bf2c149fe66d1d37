"""Email to invitees over SMTP: the :class:`bot.delivery.Sender` for the email channel.

Invitation emails are multipart/alternative (plain text and HTML, both rendered from
``handlers/templates``); any other email is plain text. Every header we set is prepared by
:mod:`handlers.email_headers`, never parsed by the ``email`` package: a name carrying CR/LF,
or an RFC 2047 encoded word that decodes to them, can never add a header or a recipient, and
arrives as typed. The envelope recipient is always exactly the outbox message's destination.

SMTP failures are sorted for the dispatcher: what may pass (a refused or timed-out
connection, a 4xx reply, a failed login the operator can fix) raises
:class:`~bot.delivery.DeliveryError` and is retried with backoff; what never will (a 5xx to
the recipient, the sender or the message) raises
:class:`~bot.delivery.PermanentDeliveryError`, whose text the head reads.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import urlsplit

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from bot import messages as msg
from bot.contacts import mask_contact
from bot.delivery import DeliveryError, PermanentDeliveryError
from bot.domain import OutboxMessage

from .email_headers import (
    PreparedHeader,
    ascii_addr_spec,
    ascii_header,
    mailbox_header,
    one_line,
    text_header,
)
from .email_words import email_helpers, sender_name
from .settings import Settings

log = logging.getLogger("invitebot.email")

TEMPLATES = Path(__file__).with_name("templates")
IMPLICIT_TLS_PORT = 465
"""The submission port that speaks TLS from the first byte (RFC 8314), not STARTTLS."""

# Replies that mean our own login is missing or wrong: the operator's settings, never the
# invitee's address. Retrying gives the operator time to fix the password.
_LOGIN_CODES = frozenset({530, 534, 535, 538})

# The fields an invitation email cannot do without; ``community``, ``hoa`` and ``token``
# may be missing.
_REQUIRED_INVITATION_FIELDS = ("name", "inviter", "address", "link", "expires")
_DEFAULT_HOA_CONTACT = "your HOA board"

_templates = Environment(
    loader=FileSystemLoader(TEMPLATES),
    # HTML is escaped; the plain-text part must not be (a "&" in an address stays "&").
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


class SmtpSender:
    """Sends outbox email through one SMTP server, one connection per message.

    A connection per message keeps the sender stateless (nothing to reconnect after the
    server drops an idle session) at a cost that does not matter for invitation volumes.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        starttls: bool,
        from_address: str,
        timeout: float = 15.0,
        implicit_tls: bool = False,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        """
        ``from_address`` is ``addr@domain`` or ``Display Name <addr@domain>``; a malformed
        one raises ``ValueError`` here, at start-up, rather than on every send.

        ``starttls`` upgrades the connection and fails if the server cannot;
        ``implicit_tls`` speaks TLS from the start (port 465). ``tls_context`` replaces the
        system's trust store, e.g. to trust a test server's self-signed certificate.
        ``timeout`` bounds each SMTP step; a whole send is bounded by four of them, which
        keeps it inside the dispatcher's lease on the outbox row.
        """
        if starttls and implicit_tls:
            raise ValueError("starttls and implicit_tls exclude each other")
        if (username is None) != (password is None):
            raise ValueError("an SMTP username and password go together: set both or neither")
        self.host = host
        self.port = port
        self.timeout = timeout
        self._username = username
        self._password = password
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self._tls_context = tls_context
        self._local_hostname = local_hostname
        self._from = parse_from_address(from_address)
        if username is not None and not (starttls or implicit_tls):
            log.warning(
                "SMTP login to %s:%s without TLS: the password travels in clear text",
                host,
                port,
            )

    @property
    def envelope_from(self) -> str:
        """The address the server sees in ``MAIL FROM`` (bounces go there)."""
        return self._from.addr_spec

    async def send(self, message: OutboxMessage) -> str:
        """Send ``message`` to its destination; return the Message-ID it was given."""
        email, message_id = self.build(message)
        shown_to = mask_contact(message.destination)
        try:
            async with asyncio.timeout(self.timeout * 4):
                await aiosmtplib.send(
                    email,
                    sender=self._from.addr_spec,
                    recipients=[message.destination],
                    hostname=self.host,
                    port=self.port,
                    username=self._username,
                    password=self._password,
                    use_tls=self.implicit_tls,
                    start_tls=self.starttls,
                    tls_context=self._tls_context,
                    local_hostname=self._local_hostname,
                    timeout=self.timeout,
                )
        except Exception as failure:
            raise self._classify(failure, message=message, shown_to=shown_to) from failure
        log.info("email sent to %s (outbox %s) as %s", shown_to, message.id, message_id)
        return message_id

    def build(self, message: OutboxMessage) -> tuple[EmailMessage, str]:
        """The email for an outbox message, and its Message-ID.

        Raises :class:`PermanentDeliveryError` for a destination that is not one plain
        address: resending cannot make it one.
        """
        try:
            to = Address(addr_spec=message.destination)  # one plain address, or refused
            to_header = mailbox_header("To", to.addr_spec)
        except (ValueError, HeaderParseError) as invalid:
            log.warning("outbox %s: not an email address: %s", message.id, invalid)
            raise PermanentDeliveryError(msg.REASON_EMAIL_NOT_VALID) from invalid

        context = invitation_context(message.data)
        email = EmailMessage(policy=SMTP_POLICY)
        # Every header goes through handlers.email_headers, even our own constant ones: the
        # email package then never parses (nor decodes encoded words in) any value we set.
        email["From"] = self._from_header(context)
        email["To"] = to_header
        email["Subject"] = text_header("Subject", message.subject)
        email["Date"] = ascii_header("Date", format_datetime(datetime.now(UTC)))
        message_id = make_msgid(domain=ascii_addr_spec(self._from.addr_spec).partition("@")[2])
        email["Message-ID"] = ascii_header("Message-ID", message_id)
        # RFC 3834: an automatic message; auto-responders should not answer it.
        email["Auto-Submitted"] = ascii_header("Auto-Submitted", "auto-generated")
        if context is None:
            email.set_content(message.body)
        else:
            # In the invitation's language (an older row without one: English).
            fields = context | email_helpers(message.data.get("language", ""))
            email.set_content(_templates.get_template("invitation_email.txt").render(fields))
            email.add_alternative(
                _templates.get_template("invitation_email.html").render(fields), subtype="html"
            )
        return email, message_id

    def _from_header(self, context: Mapping[str, str] | None) -> PreparedHeader:
        """The configured display name wins; otherwise the community's, when known."""
        display_name = self._from.display_name
        if not display_name and context and context.get("community"):
            display_name = sender_name(context.get("language", ""), context["community"])
        return mailbox_header("From", self._from.addr_spec, display_name)

    def _classify(
        self, failure: Exception, *, message: OutboxMessage, shown_to: str
    ) -> DeliveryError:
        """Turn what aiosmtplib (or the network) raised into what the dispatcher needs."""
        where = f"{self.host}:{self.port}"
        if isinstance(failure, aiosmtplib.SMTPRecipientsRefused):
            codes = [refused.code for refused in failure.recipients]
            replies = "; ".join(f"{r.code} {r.message}" for r in failure.recipients)
            if any(500 <= code < 600 for code in codes):
                log.warning(
                    "%s refused recipient %s (outbox %s): %s", where, shown_to, message.id, replies
                )
                return PermanentDeliveryError(msg.REASON_MAIL_REJECTED_ADDRESS)
            log.info(
                "%s deferred recipient %s (outbox %s): %s", where, shown_to, message.id, replies
            )
            return DeliveryError(f"the mail server asked to try again later ({codes[0]})")
        if isinstance(failure, aiosmtplib.SMTPResponseException):
            code, reply = failure.code, failure.message
            if isinstance(failure, aiosmtplib.SMTPAuthenticationError) or code in _LOGIN_CODES:
                log.error(
                    "SMTP login to %s failed (%s %s): check INVITEBOT_SMTP_USERNAME and "
                    "INVITEBOT_SMTP_PASSWORD; outbox %s will be retried",
                    where,
                    code,
                    reply,
                    message.id,
                )
                return DeliveryError(f"the mail server refused our login ({code})")
            if isinstance(failure, aiosmtplib.SMTPRecipientRefused) and 500 <= code < 600:
                log.warning(
                    "%s refused recipient %s (outbox %s): %s %s",
                    where,
                    shown_to,
                    message.id,
                    code,
                    reply,
                )
                return PermanentDeliveryError(msg.REASON_MAIL_REJECTED_ADDRESS)
            if (
                isinstance(failure, aiosmtplib.SMTPSenderRefused | aiosmtplib.SMTPDataError)
                and 500 <= code < 600
            ):
                log.warning(
                    "%s rejected the email to %s (outbox %s): %s %s",
                    where,
                    shown_to,
                    message.id,
                    code,
                    reply,
                )
                return PermanentDeliveryError(msg.REASON_MAIL_REJECTED_MESSAGE)
            log.warning(
                "%s answered %s %s for outbox %s; will retry", where, code, reply, message.id
            )
            return DeliveryError(f"the mail server answered {code}; trying again later")
        if isinstance(failure, ssl.SSLError):
            log.error("TLS with %s failed for outbox %s: %s", where, message.id, failure)
            return DeliveryError("a secure connection to the mail server failed")
        if isinstance(failure, aiosmtplib.SMTPTimeoutError | TimeoutError):
            log.warning("%s timed out for outbox %s", where, message.id)
            return DeliveryError("the mail server did not answer in time")
        if isinstance(failure, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected):
            log.warning("cannot talk to %s for outbox %s: %s", where, message.id, failure)
            return DeliveryError("the mail server could not be reached")
        if isinstance(failure, aiosmtplib.SMTPException):
            # STARTTLS or AUTH not offered, and the like: the server or our settings.
            log.error("SMTP with %s failed for outbox %s: %s", where, message.id, failure)
            return DeliveryError(f"sending the email failed ({failure})")
        if isinstance(failure, OSError):
            log.warning("cannot talk to %s for outbox %s: %s", where, message.id, failure)
            return DeliveryError("the mail server could not be reached")
        log.exception("unexpected failure sending outbox %s via %s", message.id, where)
        return DeliveryError(f"{type(failure).__name__}: {failure}")


def smtp_sender_from_settings(settings: Settings) -> SmtpSender | None:
    """The SMTP sender the settings describe, or ``None`` when email is not configured
    (no ``SMTP_HOST`` or no ``EMAIL_FROM``): then email goes to the log instead."""
    if not settings.smtp_host or not settings.email_from:
        return None
    implicit_tls = settings.smtp_port == IMPLICIT_TLS_PORT
    return SmtpSender(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=(settings.smtp_password.get_secret_value() if settings.smtp_password else None),
        starttls=settings.smtp_starttls and not implicit_tls,
        implicit_tls=implicit_tls,
        from_address=settings.email_from,
    )


def parse_from_address(value: str) -> Address:
    """One mailbox, ``addr@domain`` or ``Name <addr@domain>``, or ``ValueError``."""
    if any(char in value for char in "\r\n"):
        raise ValueError(f"EMAIL_FROM must be one line: {value!r}")
    header = SMTP_POLICY.header_factory("from", value)
    addresses: tuple[Address, ...] = tuple(getattr(header, "addresses", ()))
    if header.defects or len(addresses) != 1 or not addresses[0].domain:
        raise ValueError(
            f"EMAIL_FROM must be one address like bot@example.org or "
            f"'Elm Park HOA <bot@example.org>', not {value!r}"
        )
    ascii_addr_spec(addresses[0].addr_spec)  # one we can write in a header, or ValueError
    return addresses[0]


def invitation_context(data: Mapping[str, str]) -> dict[str, str] | None:
    """The template fields of an invitation email, or ``None`` to send the plain body.

    Falls back to plain text (with a warning) rather than failing the send when a field is
    missing or the link is not a web link: the plain body says the same thing.
    """
    if data.get("kind") != "invitation":
        return None
    missing = [key for key in _REQUIRED_INVITATION_FIELDS if not data.get(key)]
    if missing:
        log.warning("invitation email without %s: sending the plain body", ", ".join(missing))
        return None
    if urlsplit(data["link"]).scheme not in ("http", "https"):
        log.warning("invitation email with a non-web link: sending the plain body")
        return None
    context = {
        key: one_line(data.get(key, ""))
        for key in (*_REQUIRED_INVITATION_FIELDS, "community", "token", "hoa", "language")
    }
    context["hoa"] = context["hoa"] or _DEFAULT_HOA_CONTACT
    return context
