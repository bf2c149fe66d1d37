"""Delivering the outbox: claim due messages, send each through its sender, record the
outcome. Transient failures retry with exponential backoff and full jitter; permanent ones
mark the invitation's delivery failed and tell the head.

Senders are adapters (console, Twilio, SMTP, Slack, Telegram); the dispatcher only knows the
:class:`Sender` port and which routes each one serves.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypedDict

from . import messages as msg
from .context import CoreContext
from .domain import (
    Channel,
    DeliveryStatus,
    EventActor,
    HouseholdEventKind,
    Method,
    OutboxMessage,
    OutboxStatus,
    PhoneStatus,
    Route,
)
from .group_access import still_wanted
from .handover import lapse_head_requests
from .history import about_invitation
from .invitation_page import PAGE_RECEIPT_SOURCE
from .invitations import expire_due, notify_head, with_current_link
from .language import Say
from .ports import UnitOfWork, UnitOfWorkFactory
from .throttles import stale_before

log = logging.getLogger(__name__)

RECEIPT_RETENTION = timedelta(days=30)
"""How long the receipt of an inbound webhook is kept. Every platform redelivers within a day
(Telegram keeps an unconfirmed update 24 hours; Slack and Twilio retry within minutes), but a
receipt is also what tells a captured, signed Twilio request sent again from a new text:
Twilio's signature carries no timestamp. Thirty days covers the life of an invitation several
times over; beyond that a replay is an accepted risk (docs/security.md). Answers given on the
invitation page are kept: they recognise a browser answering again, whenever it does."""
PURGE_EVERY = timedelta(hours=1)


class DeliveryError(Exception):
    """A send failed for now (timeout, 5xx): try again later; with ``retry_after`` (the
    provider's flood control said how many seconds to wait), not before, and without
    counting it as a failed attempt: flood control says when, never that it cannot be done."""

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """A send can never succeed (opted out, invalid number, rejected address)."""


class RecipientOptedOut(PermanentDeliveryError):
    """The provider says the recipient opted out (Twilio's 21610): remembered, so the number
    is not invited again until it texts START."""


class Sender(Protocol):
    async def send(self, message: OutboxMessage) -> str:
        """Send one message; return the provider's id for it (or an empty string)."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed send is tried again: exponential backoff from ``base_delay``, or the
    waits of ``schedule`` one after another (then ``max_attempts`` is one more than its
    length)."""

    base_delay: timedelta = timedelta(seconds=5)
    max_delay: timedelta = timedelta(hours=1)
    max_attempts: int = 8
    schedule: tuple[timedelta, ...] = ()

    def __post_init__(self) -> None:
        if self.schedule:
            object.__setattr__(self, "max_attempts", len(self.schedule) + 1)

    def delay(self, attempts: int, rng: random.Random) -> timedelta:
        """The wait after the ``attempts``-th failure. Backoff: full jitter, a random wait
        up to base·2^(attempts-1), capped. Schedule: its step, within ±10 %."""
        if self.schedule:
            step = self.schedule[min(max(attempts, 1), len(self.schedule)) - 1]
            return step * rng.uniform(0.9, 1.1)
        ceiling = min(self.max_delay, self.base_delay * (1 << max(attempts - 1, 0)))
        return ceiling * rng.uniform(0.5, 1.0)


class _FailureDetails(TypedDict, total=False):
    """A failed delivery's event details (a ``TypedDict``, so ``**details`` cannot fill
    ``by``)."""

    reason: str
    error_code: str


class Dispatcher:
    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        ctx: CoreContext,
        senders: Mapping[Route, Sender],
        retry: RetryPolicy | None = None,
        retries: Mapping[Channel, RetryPolicy] | None = None,
        batch_size: int = 20,
        lease: timedelta = timedelta(minutes=2),
        rng: random.Random | None = None,
    ) -> None:
        self.uow_factory = uow_factory
        self.ctx = ctx
        self.senders = dict(senders)
        self.retry = retry or RetryPolicy()
        self.retries = dict(retries or {})
        """A channel's own policy (webhooks retry on the Standard Webhooks schedule)."""
        self.batch_size = batch_size
        self.lease = lease
        self.rng = rng or random.Random()
        self._next_purge: datetime | None = None

    @property
    def routes(self) -> Sequence[Route]:
        return list(self.senders)

    def _sender_for(self, message: OutboxMessage) -> Sender | None:
        # The most specific route wins: a console's own chat route over a generic one.
        candidates = [r for r in self.senders if r.matches(message)]
        if not candidates:
            return None
        best = max(candidates, key=lambda r: (r.destination is not None, r.platform is not None))
        return self.senders[best]

    def _retry_for(self, message: OutboxMessage) -> RetryPolicy:
        return self.retries.get(message.channel, self.retry)

    async def run_once(self) -> int:
        """Expire what ran out, then send one batch of due messages (and, once an hour,
        forget old webhook receipts and throttle counters). Returns how many messages were
        attempted."""
        await self._purge_receipts()
        async with self.uow_factory() as uow:
            await expire_due(uow, self.ctx)
            await lapse_head_requests(uow, self.ctx)
            now = self.ctx.clock.now()
            lease_until = now + self.lease
            claimed = await uow.outbox.claim_due(
                now=now, routes=self.routes, limit=self.batch_size, lease_until=lease_until
            )
            await uow.commit()
        # Webhooks go at once, each on its own (one per household: see ``claim_due``), beside
        # the rest, which go one after the other: a receiver that does not answer holds up
        # neither an invitation nor another household's webhook.
        webhooks = [m for m in claimed if m.channel is Channel.WEBHOOK]
        others = [m for m in claimed if m.channel is not Channel.WEBHOOK]
        outcomes = await asyncio.gather(
            self._in_turn(others, lease_until),
            *(self._deliver_within(m, lease_until) for m in webhooks),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return len(claimed)

    async def _in_turn(self, messages: Sequence[OutboxMessage], lease_until: datetime) -> None:
        for message in messages:
            await self._deliver_within(message, lease_until)

    async def _deliver_within(self, message: OutboxMessage, lease_until: datetime) -> None:
        """Send ``message`` only while at least half of the lease is left, so that the send
        (a sender's timeout is at most half a lease) ends before another dispatcher may take
        it; later, it is left to whoever takes it when the lease is over."""
        if self.ctx.clock.now() > lease_until - self.lease / 2:
            log.info(
                "outbox message %s left for the next round: its lease is running out", message.id
            )
            return
        await self._deliver(message)

    async def _purge_receipts(self) -> None:
        now = self.ctx.clock.now()
        if self._next_purge is not None and now < self._next_purge:
            return
        self._next_purge = now + PURGE_EVERY
        async with self.uow_factory() as uow:
            purged = await uow.receipts.purge(
                before=now - RECEIPT_RETENTION, keep_sources=(PAGE_RECEIPT_SOURCE,)
            )
            counters = await uow.throttles.purge(before=stale_before(self.ctx))
            # A serve process gives up an update after a day (handlers/intake.py); these are
            # the updates of a platform no process takes in any more.
            updates = await uow.updates.purge(before=now - RECEIPT_RETENTION)
            await uow.commit()
        if purged:
            log.info("forgot %d webhook receipts older than %s", purged, RECEIPT_RETENTION)
        if counters:
            log.info("forgot %d throttle counters whose window ended", counters)
        if updates:
            log.warning("forgot %d chat updates never handled in %s", updates, RECEIPT_RETENTION)

    async def run_forever(self, stop: asyncio.Event, *, idle_interval: float = 1.0) -> None:
        """Deliver until ``stop`` is set; a failure of one round never ends the loop."""
        while not stop.is_set():
            try:
                attempted = await self.run_once()
            except Exception:
                log.exception("outbox round failed; retrying")
                attempted = 0
            if attempted == 0:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=idle_interval)
                except TimeoutError:
                    pass

    async def _deliver(self, message: OutboxMessage) -> None:
        prepared, error = await self._prepare(message)
        if prepared is None:
            await self._record(message.id, provider_id="", error=None, obsolete=True)
            return
        sender = self._sender_for(prepared)
        provider_id = ""
        if error is None and sender is None:
            error = PermanentDeliveryError(f"no sender for {prepared.channel}")
        if error is None and sender is not None:
            try:
                provider_id = await sender.send(prepared)
            except DeliveryError as failure:
                error = failure
            except Exception:  # a sender bug or an unexpected network error
                log.exception("sender raised unexpectedly for outbox message %s", message.id)
                # The head reads the reason: keep the details in the log.
                error = DeliveryError(msg.REASON_UNEXPECTED)
        await self._record(message.id, provider_id=provider_id, error=error)

    async def _prepare(
        self, message: OutboxMessage
    ) -> tuple[OutboxMessage | None, DeliveryError | None]:
        """An invitation's message as it goes out now: ``None`` when the invitation was
        cancelled, answered or expired since it was queued (nothing must be sent), an error
        when the number has opted out since; otherwise filled with the current link."""
        if message.channel is Channel.GROUP:
            async with self.uow_factory() as uow:
                wanted = await still_wanted(uow, message)
            return (message if wanted else None), None
        if message.channel is Channel.CHAT or message.invitation_id is None:
            return message, None
        async with self.uow_factory() as uow:
            invitation = await uow.invitations.get(message.invitation_id)
            phone = (
                await uow.phones.get(message.destination)
                if message.channel is Channel.SMS
                else None
            )
        if invitation is None or not invitation.is_open(self.ctx.clock.now()):
            return None, None
        if phone is not None and phone.opted_out:
            # Carriers forbid texting a number that sent STOP.
            return message, PermanentDeliveryError(msg.REASON_OPTED_OUT)
        return with_current_link(message, self.ctx, invitation), None

    async def _record(
        self,
        message_id: str,
        *,
        provider_id: str,
        error: DeliveryError | None,
        obsolete: bool = False,
    ) -> None:
        async with self.uow_factory() as uow:
            message = await uow.outbox.get(message_id)
            if message is None or message.status is not OutboxStatus.PENDING:
                return
            now = self.ctx.clock.now()
            if obsolete:
                message.status = OutboxStatus.FAILED
                message.last_error = (
                    "not sent: the person no longer belongs when its turn came"
                    if message.channel is Channel.GROUP
                    else "not sent: the invitation closed before it went out"
                )
                await uow.outbox.update(message)
                await uow.commit()
                return
            flood = error is not None and error.retry_after is not None
            if not flood:
                message.attempts += 1
            invitation = (
                await uow.invitations.get(message.invitation_id, for_update=True)
                if message.invitation_id and message.channel is not Channel.CHAT
                else None
            )
            if error is None:
                message.status = OutboxStatus.SENT
                message.sent_at = now
                message.provider_id = provider_id
                message.last_error = ""
                if invitation is not None:
                    invitation.delivery_status = DeliveryStatus.SENT
                    invitation.sent_at = now
                    invitation.provider_message_id = provider_id
            elif (
                isinstance(error, PermanentDeliveryError)
                or message.attempts >= self._retry_for(message).max_attempts
            ):
                message.status = OutboxStatus.FAILED
                message.last_error = str(error)[:500]
                log.warning("outbox message %s failed for good: %s", message.id, error)
                if isinstance(error, RecipientOptedOut):
                    phone = await uow.phones.get(message.destination)
                    phone = phone or PhoneStatus(phone=message.destination)
                    phone.opted_out, phone.updated_at = True, now
                    await uow.phones.save(phone)
                if invitation is not None:
                    invitation.delivery_status = DeliveryStatus.FAILED
                    await uow.events.append(
                        about_invitation(
                            HouseholdEventKind.DELIVERY_FAILED,
                            invitation,
                            at=now,
                            actor=EventActor.SYSTEM,
                            reason=_failure_reason(error),
                        )
                    )
                    method = Method.SMS if message.channel is Channel.SMS else Method.EMAIL
                    await notify_head(
                        uow,
                        self.ctx,
                        msg.NOTIFY_DELIVERY_FAILED,
                        invitation=invitation,
                        name=invitation.invitee_name,
                        method=method.label,
                        # Our own reasons are sentences of the catalogs: in the head's words.
                        reason=_reason_for_people(error),
                    )
            else:
                message.last_error = str(error)[:500]
                delay = self._retry_for(message).delay(max(message.attempts, 1), self.rng)
                if error.retry_after is not None:
                    delay = max(delay, timedelta(seconds=error.retry_after))
                message.next_attempt_at = now + delay
                log.info("outbox message %s will be retried: %s", message.id, error)
            await uow.outbox.update(message)
            if invitation is not None:
                await uow.invitations.update(invitation)
            await uow.commit()


def _reason_for_people(error: Exception) -> str:
    said = error.args[0] if error.args else ""
    return said if isinstance(said, msg.Sentence) else str(error)[:200]


def _failure_reason(error: DeliveryError) -> str:
    """Why a message failed for good, in a word for the household's history (the error's
    own text stays in the outbox and the log: a provider may quote the address in it)."""
    if isinstance(error, RecipientOptedOut):
        return "opted_out"
    if isinstance(error, PermanentDeliveryError):
        return "rejected"
    return "retries_exhausted"


# What a provider's status callback says, as a delivery status (Twilio's words).
PROVIDER_STATUSES = {
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.SENT,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
}
# Callbacks arrive out of order: a status only ever moves forward.
_PROGRESS = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.FAILED: 2,
}

# The reports a household's history shows ("sent" is only a step on the way).
_RECORDED = {
    DeliveryStatus.DELIVERED: HouseholdEventKind.DELIVERED,
    DeliveryStatus.FAILED: HouseholdEventKind.DELIVERY_FAILED,
}


async def apply_delivery_report(
    uow: UnitOfWork, ctx: CoreContext, *, provider_id: str, status: str, error_code: str = ""
) -> bool:
    """Record a provider's delivery report for the message it names. Returns whether it
    changed anything: unknown messages, unknown statuses, reports about an earlier send of
    a resent invitation and reports that would move a status backwards change nothing."""
    new = PROVIDER_STATUSES.get(status.strip().lower())
    message = await uow.outbox.get_by_provider_id(provider_id) if provider_id else None
    if new is None or message is None or message.invitation_id is None:
        return False
    invitation = await uow.invitations.get(message.invitation_id, for_update=True)
    if invitation is None or invitation.provider_message_id != provider_id:
        return False
    if _PROGRESS[new] <= _PROGRESS[invitation.delivery_status]:
        return False
    invitation.delivery_status = new
    await uow.invitations.update(invitation)
    if new in _RECORDED:
        details: _FailureDetails = {}
        if new is DeliveryStatus.FAILED:
            details = {"reason": "carrier", "error_code": error_code.strip()[:16]}
        await uow.events.append(
            about_invitation(
                _RECORDED[new],
                invitation,
                at=ctx.clock.now(),
                actor=EventActor.SYSTEM,
                **details,
            )
        )
    if new is DeliveryStatus.FAILED:
        reason: Say | str = Say(msg.REASON_CARRIER, {"code": error_code}) if error_code else status
        await notify_head(
            uow,
            ctx,
            msg.NOTIFY_DELIVERY_FAILED,
            invitation=invitation,
            name=invitation.invitee_name,
            method=Method.SMS.label,
            reason=reason,
        )
    return True
