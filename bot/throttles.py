"""Throttles: how often something may happen, counted in the database (``uow.throttles``) so
that every process counts against the same number, and a restart forgets nothing.

Three things are throttled, each with its limit in :class:`bot.domain.Limits`:

- **Secrets typed in chat**: access codes (``/join CODE``, a Telegram ``/start CODE`` deep
  link, Slack's ``/household join CODE``) and invitation links (``/join <link>``,
  ``/decline <link>``, ``/start <token>``). Two counters, both over
  ``code_attempt_window``:

  - *per chat account* (platform + user id): ``code_attempts_per_account`` tries that fail,
    then this account is refused until its window ends, before anything is looked up. An
    attacker locks out only their own account.
  - *everyone together*: a code names no community until it matches, so a wrong guess can
    only be counted across all accounts. Past ``code_attempts_everyone`` wrong tries, an
    account that already got one wrong in its window must wait too; an account's first try
    is always looked at. So an attacker with many accounts gets one guess per account while
    the flood lasts, and cannot keep a head from claiming with the code the board gave them.

  A success wipes the account's counter and gives its try back to the shared one.
- **The invitation page** (``/i/<token>`` and its QR code): ``page_requests_per_address``
  requests per client address per ``page_request_window`` (the web adapter says which
  address: :mod:`handlers.web_page`).
- **Automatic text replies**: ``sms_replies_per_sender_per_hour`` to one number; past that
  the text still takes effect (JOIN, STOP, ...), only the reply is dropped, so two
  auto-responders cannot keep texting each other.

Each counter is one row, counted with one atomic upsert that locks it until the unit of work
ends: two processes counting at once are counted one after the other, so neither slips under
a limit. Rows are taken in one order (the account's, then everyone's, then whatever the
attempt locks), so two attempts never wait on each other in a circle.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from . import messages as msg
from .context import CoreContext
from .domain import ThrottleCount
from .ports import UnitOfWork
from .replies import Actor
from .rules import Throttled, WrongSecret, within_limit

log = logging.getLogger("invitebot.throttles")

T = TypeVar("T")

EVERYONE = "code:everyone"
SMS_REPLY_WINDOW = timedelta(hours=1)


def stale_before(ctx: CoreContext) -> datetime:
    """Counters whose window started before this have ended, whatever they counted: the
    dispatcher purges them (``Dispatcher.run_once``, hourly)."""
    limits = ctx.limits
    longest = max(limits.code_attempt_window, limits.page_request_window, SMS_REPLY_WINDOW)
    return ctx.clock.now() - longest


def account_key(actor: Actor) -> str:
    return f"code:account:{actor.platform}:{actor.user_id}"


def page_key(address: str) -> str:
    return f"page:{address}"


def sms_reply_key(phone: str) -> str:
    return f"sms-reply:{phone}"


async def attempt_secret(
    uow: UnitOfWork,
    ctx: CoreContext,
    *,
    actor: Actor,
    attempt: Callable[[], Awaitable[T]],
) -> T | WrongSecret | Throttled:
    """Run ``attempt`` (a claim, or an answer to an invitation, with a secret the person
    typed) unless this account, or everyone together, got too many wrong lately.

    A wrong secret and a throttled try are returned, not raised: the caller answers with
    them and commits, so the count survives (a raised refusal rolls the unit of work back).
    ``attempt`` must raise :class:`WrongSecret` before it changes anything. Any other
    refusal it raises propagates, and the caller's rollback forgets this try's count.
    """
    limits, now = ctx.limits, ctx.clock.now()
    window = limits.code_attempt_window
    key = account_key(actor)
    mine = await uow.throttles.hit(key, now=now, window=window)
    try:
        _enforce(mine, limits.code_attempts_per_account, ctx, who=key)
        # Counted before the attempt even when not enforced (a first try), so the shared
        # row is always taken before the rows the attempt locks (a household, an invitation).
        everyone = await uow.throttles.hit(EVERYONE, now=now, window=window)
        if mine.count > 1:
            _enforce(everyone, limits.code_attempts_everyone, ctx, who=key)
    except Throttled as throttled:
        return throttled
    try:
        result = await attempt()
    except WrongSecret as wrong:
        log.info(
            "a wrong access code or invite link from %s (%d of %d in this window)",
            key,
            mine.count,
            limits.code_attempts_per_account,
        )
        return wrong
    await uow.throttles.forget(key)
    await uow.throttles.hit(EVERYONE, now=now, window=window, weight=-1)
    return result


def _enforce(counted: ThrottleCount, limit: int, ctx: CoreContext, *, who: str) -> None:
    try:
        within_limit(
            counted,
            limit=limit,
            now=ctx.clock.now(),
            window=ctx.limits.code_attempt_window,
            sentence=msg.TOO_MANY_CODE_ATTEMPTS,
            hoa=ctx.hoa_contact,
        )
    except Throttled:
        _log_refusal(counted, limit, what="access code or invite link tries", who=who)
        raise


def _log_refusal(counted: ThrottleCount, limit: int, *, what: str, who: str) -> None:
    """WARNING once, when a counter first passes its limit in a window; the refusals after
    it (an attacker's flood) at DEBUG, so the log cannot be flooded through it."""
    level = logging.WARNING if counted.count == limit + 1 else logging.DEBUG
    log.log(
        level,
        "throttled: too many %s (%s, limit %d, counted %d): refused until the window ends",
        what,
        counted.key if counted.key == EVERYONE else who,
        limit,
        counted.count,
    )


async def check_page_request(uow: UnitOfWork, ctx: CoreContext, *, address: str) -> None:
    """Count one request to the invitation page from ``address``; raise :class:`Throttled`
    (with the page's sentence and how long to wait) past the limit. The caller commits."""
    limits, now = ctx.limits, ctx.clock.now()
    counted = await uow.throttles.hit(page_key(address), now=now, window=limits.page_request_window)
    try:
        within_limit(
            counted,
            limit=limits.page_requests_per_address,
            now=now,
            window=limits.page_request_window,
            sentence=msg.PAGE_TOO_MANY,
        )
    except Throttled:
        _log_refusal(
            counted, limits.page_requests_per_address, what="invitation page requests", who=address
        )
        raise


async def may_reply_by_sms(uow: UnitOfWork, ctx: CoreContext, *, phone: str) -> bool:
    """Count one automatic reply to ``phone``; ``False`` past the hourly cap (the reply is
    then dropped, whatever the text did)."""
    limit = ctx.limits.sms_replies_per_sender_per_hour
    counted = await uow.throttles.hit(
        sms_reply_key(phone), now=ctx.clock.now(), window=SMS_REPLY_WINDOW
    )
    if counted.count <= limit:
        return True
    _log_refusal(counted, limit, what="automatic text replies", who=counted.key)
    return False
