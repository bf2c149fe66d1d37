"""Slack requests survive the process that acknowledged them (the rules: :mod:`bot.intake`).

Slack wants an answer within three seconds and never sends an acknowledged request again. So
the adapter's middleware, once the request is verified and its body cleaned, stores it with
its receipt (:class:`handlers.intake.DurableIntake`) and answers the empty 200 that
acknowledges it, without running a listener. The stored body is then dispatched through the
same bolt app a second time, as a Socket Mode request (a dict, no signature to check: it was
checked when it came in), with the update being handled in :data:`_handling`: the listeners run
as always, the engine takes the step once (``inbound=current_inbound()``), and the update is
forgotten once its work is done. A request that came early (an older one of the person still
to be handled) or whose replies Slack could not take is retried by the intake, not lost.

It works the same for ``POST /slack/events`` and for Socket Mode; a request without an id to
key it on (neither an ``event_id`` nor a ``trigger_id``) runs at once, as before.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import ClientError
from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError

from bot.domain import InboundUpdate
from bot.intake import Inbound
from bot.ports import Clock, UnitOfWorkFactory

from ..inbound import loads_cleaned
from ..intake import DEFAULT_LEASE, DurableIntake
from .payload import mapping, receipt_key, string_at, user_of

log = logging.getLogger("invitebot.slack")

SOURCE = "slack"
"""The ``InboundReceipt.source`` and ``InboundUpdate.source`` of Slack requests."""


@dataclass
class Handling:
    """The stored request being dispatched, and what stopped its work (to retry it)."""

    inbound: Inbound
    error: BaseException | None = None
    reached: bool = False
    """Whether the request got through bolt's own middleware (authorization among them) to
    ours: if not, no listener ran, and it is taken again."""


_handling: ContextVar[Handling | None] = ContextVar("slack_handling", default=None)


def handling() -> Handling | None:
    """The stored request being dispatched in this task, if any."""
    return _handling.get()


def current_inbound() -> Inbound | None:
    """The stored request whose step the engine takes (``None`` outside one)."""
    state = _handling.get()
    return state.inbound if state is not None else None


def sender_of(body: dict[str, Any], key: str) -> str:
    """Whose conversation the request may step: an interaction's ``user.id``, a slash
    command's ``user_id``, a direct message's ``event.user`` (one person's are handled in
    order, across processes). Any other event (a home tab opened, someone joining a channel)
    takes no step and waits for nothing: a queue of its own (``key``, its receipt's key)."""
    event = mapping(body, "event")
    if body.get("type") == "event_callback":
        user = string_at(event, "user") if event.get("type") == "message" else ""
    else:
        user = user_of(body) or string_at(body, "user_id")
    return user or f"once:{key}"


def worth_retrying(error: BaseException) -> bool:
    """Whether Slack was out of reach (the network, a 5xx, rate limits): the replies are sent
    again later. Any other refusal would only be refused again."""
    if isinstance(error, SlackApiError):
        status = getattr(error.response, "status_code", 0) or 0
        return status >= 500 or status == 429
    return isinstance(error, OSError | TimeoutError | ClientError)


class SlackIntake:
    """Stores each Slack request before it is acknowledged, and dispatches it afterwards."""

    def __init__(
        self,
        app: AsyncApp,
        *,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        background: bool,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        self.app = app
        self.background = background
        self.durable = DurableIntake(
            source=SOURCE, uow_factory=uow_factory, clock=clock, handler=self._handle, lease=lease
        )

    async def take(self, body: dict[str, Any]) -> BoltResponse | None:
        """Store a request as it comes in and acknowledge it (a repeat only acknowledged);
        ``None`` for a request with no id to key it on, which the caller runs at once."""
        key = receipt_key(body)
        if key is None:
            return None
        stored = await self.durable.accept(
            external_id=key,
            sender=sender_of(body, key),
            payload=json.dumps(body, ensure_ascii=False),
        )
        if stored is not None:
            if self.background:
                self.durable.handle_in_background(stored)
            else:
                await self.durable.handle(stored)
        return BoltResponse(status=200, body="")

    async def _handle(self, stored: InboundUpdate, inbound: Inbound) -> None:
        state = Handling(inbound)
        token = _handling.set(state)
        try:
            request = AsyncBoltRequest(body=loads_cleaned(stored.payload), mode="socket_mode")
            response = await self.app.async_dispatch(request)
        finally:
            _handling.reset(token)
        if state.error is not None:
            raise state.error
        if not state.reached or response.status >= 500:
            # bolt answered before any listener ran (auth.test failing, say): try again later.
            raise RuntimeError(
                f"the stored Slack request {stored.id} was not handled (bolt answered "
                f"{response.status})"
            )
