"""The durable intake of chat updates, as a serve process runs it (the rules: :mod:`bot.intake`).

:meth:`DurableIntake.accept` stores an update with its receipt in one transaction, before the
platform gets its 2xx. The update is then handled in a task, after the earlier updates of the
same person (one fair lock per sender), and forgotten once its replies are sent.

The process holds what it took in under a lease (``INVITEBOT_INTAKE_LEASE_SECONDS``), renewed
every third of it while the process lives (:meth:`DurableIntake.run`). The same loop takes over
updates whose lease ended: those of a process that died (SIGKILL, OOM, a lost machine), on
start and then every third of a lease, oldest first. An update whose handling failed (the
platform's API away while sending the replies) is left to lapse and is taken again the same
way, after a wait that doubles each time (up to five minutes), until :data:`MAX_AGE`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from bot.domain import InboundUpdate
from bot.intake import Inbound, NotYourTurn
from bot.ports import Clock, UnitOfWorkFactory

log = logging.getLogger("invitebot.intake")

Handler = Callable[[InboundUpdate, Inbound], Awaitable[None]]
"""Handles one stored update: runs its step (with the :class:`Inbound`) and sends the
replies. It may raise :class:`NotYourTurn`; any other exception leaves the update to be taken
again."""

DEFAULT_LEASE = timedelta(seconds=15)
MAX_AGE = timedelta(hours=6)
"""How long after it came in an update is given up (logged as an error) instead of handled:
its replies would no longer make sense to anyone."""
MAX_RETRY_DELAY = timedelta(minutes=5)
CLAIM_BATCH = 100
FINISH_PAUSES = (0.05, 0.25, 1.0, None)
"""Seconds between tries to forget a handled update (``None``: the last try)."""
MAX_EXTERNAL_ID = 300


async def stopped(leases: asyncio.Task[None]) -> None:
    """Wait for :meth:`DurableIntake.run` to end: at once once its ``stop`` is set; cancelled
    when closed without it (what the process holds then lapses, and is taken over)."""
    if not leases.done():
        await asyncio.sleep(0)  # a ``stop`` just set ends it on its own
    if not leases.done():
        leases.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await leases


def process_name() -> str:
    """Who holds an update: this host, this process, and a random part (a pid comes back)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class DurableIntake:
    """One platform's updates, stored before they are answered and handled exactly once."""

    def __init__(
        self,
        *,
        source: str,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        handler: Handler,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        self.source = source
        self.uow_factory = uow_factory
        self.clock = clock
        self.handler = handler
        self.lease = lease
        self.owner = process_name()
        self._held: set[int] = set()
        """The ids of the updates this process took and has not finished: their lease is
        renewed."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._to_forget: list[tuple[int, asyncio.Future[None]]] = []
        """Handled updates waiting for the next ``DELETE`` (see :meth:`_finish`)."""
        self._forgetting: asyncio.Task[None] | None = None
        self._stepping: dict[int, float] = {}
        """The updates whose handler is running, and since when (``time.monotonic``)."""
        self._renewing: asyncio.Task[None] | None = None

    # --- taking updates in ---------------------------------------------------------------

    async def accept(self, *, external_id: str, sender: str, payload: str) -> InboundUpdate | None:
        """Store the update with its receipt, in one transaction; ``None`` when it was taken
        in before (a redelivery). Raises when the database cannot take it, so that the
        platform gets no 2xx and sends it again."""
        now = self.clock.now()
        external_id = external_id[:MAX_EXTERNAL_ID]
        update = InboundUpdate(
            source=self.source,
            external_id=external_id,
            sender=sender[:MAX_EXTERNAL_ID],
            payload=payload,
            received_at=now,
            owner=self.owner,
            lease_until=now + self.lease,
        )
        async with self.uow_factory() as uow:
            if not await uow.updates.take_in(update):
                log.info("%s update %s delivered again: already taken in", self.source, external_id)
                return None
            await uow.commit()
        assert update.id is not None
        self._held.add(update.id)
        return update

    def handle_in_background(self, update: InboundUpdate) -> None:
        task = asyncio.create_task(self.handle(update), name=f"{self.source}-{update.id}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    async def handle(self, update: InboundUpdate) -> None:
        """Handle the update after the sender's earlier ones; never raises.

        An update can come early: an older one of the same person is still to be handled, by
        another process that holds it (done soon), by nobody (its process died: taken over
        here once its lease ends), or by this process behind it in the queue (it was taken
        over after this one came in). So an early update gives up its turn, lets the older
        ones go first, and tries again, until two leases have passed; then it is left to be
        taken again later."""
        deadline = time.monotonic() + 2 * self.lease.total_seconds()
        pause = 0.02
        while True:
            try:
                # Forgotten before the sender's next update runs: a crash can never leave this
                # one to be taken again after a later one was handled.
                async with self._turn_of(update.sender):
                    assert update.id is not None
                    self._stepping[update.id] = time.monotonic()
                    try:
                        await self.handler(update, Inbound.of(update))
                    finally:
                        self._stepping.pop(update.id, None)
                    await self._finish(update)
                return
            except NotYourTurn:
                pass
            except Exception:  # the platform or the database away: taken again later
                delay = self._backoff(update)
                log.exception(
                    "handling %s update %s failed; it is taken again in %.0f s",
                    self.source,
                    update.id,
                    delay.total_seconds(),
                )
                await self._let_go(update, retry_in=delay)
                return
            if await self._take_earlier(update):
                continue
            if time.monotonic() > deadline:
                log.warning(
                    "%s update %s still waits for an older one; left for later",
                    self.source,
                    update.id,
                )
                await self._let_go(update)
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    def _turn_of(self, sender: str) -> asyncio.Lock:
        """One fair lock per sender (first come, first served), forgotten when nobody holds
        or awaits it."""
        lock = self._locks.get(sender)
        if lock is None:
            lock = self._locks[sender] = asyncio.Lock()
        return lock

    async def _take_earlier(self, update: InboundUpdate) -> bool:
        """Take over and handle the sender's older updates whose lease ended; whether there
        were any."""
        try:
            async with self.uow_factory() as uow:
                now = self.clock.now()
                earlier = await uow.updates.claim(
                    source=self.source,
                    now=now,
                    owner=self.owner,
                    lease_until=now + self.lease,
                    limit=CLAIM_BATCH,
                    sender=update.sender,
                    before=update.id,
                )
                await uow.commit()
        except Exception as error:
            log.warning("could not look for older %s updates: %s", self.source, error)
            return False
        adopted = await self._adopt(earlier)
        for older in adopted:
            await self.handle(older)
        return bool(adopted)

    async def _finish(self, update: InboundUpdate) -> None:
        """Forget the update; returns once its row is deleted.

        Updates handled at the same time are forgotten together, in one ``DELETE`` (a
        transaction by itself) for all that were handled while the previous one ran: as a
        database groups commits, nobody waits for a timer, and under load one statement
        forgets dozens. Each caller still returns only once its own row is gone, so a
        person's next update never runs before their last one is forgotten."""
        assert update.id is not None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._to_forget.append((update.id, done))
        if self._forgetting is None or self._forgetting.done():
            self._forgetting = asyncio.create_task(self._forget(), name=f"{self.source}-forget")
        await done
        self._held.discard(update.id)

    async def _forget(self) -> None:
        """Delete the rows of the handled updates, a batch at a time, trying each batch a few
        times: left behind, an update would be taken again and its replies sent a second time
        (harmless, but a wasted message)."""
        batch: list[tuple[int, asyncio.Future[None]]] = []
        try:
            while self._to_forget:
                batch, self._to_forget = self._to_forget, []
                error = await self._delete([update_id for update_id, _ in batch])
                for _, done in batch:
                    if done.done():
                        continue
                    if error is None:
                        done.set_result(None)
                    else:
                        done.set_exception(error)
                batch = []
        finally:  # cancelled (the process stops): nobody waits for ever
            for _, done in [*batch, *self._to_forget]:
                if not done.done():
                    done.cancel()
            self._to_forget = []

    async def _delete(self, ids: list[int]) -> Exception | None:
        for pause in FINISH_PAUSES:
            try:
                async with self.uow_factory() as uow:
                    await uow.updates.finish(ids, owner=self.owner)
                    await uow.commit()
                return None
            except Exception as error:
                if pause is None:
                    return error
                await asyncio.sleep(pause)
        return None

    async def _let_go(self, update: InboundUpdate, *, retry_in: timedelta | None = None) -> None:
        """Stop renewing the update's lease: when it ends (in ``retry_in``, when given),
        whoever runs the intake loop takes it again."""
        if update.id is None:
            return
        self._held.discard(update.id)
        if retry_in is None:
            return
        try:
            async with self.uow_factory() as uow:
                until = self.clock.now() + retry_in
                await uow.updates.extend([update.id], owner=self.owner, lease_until=until)
                await uow.commit()
        except Exception as error:  # then it lapses with the lease it has
            log.warning("could not put %s update %s off: %s", self.source, update.id, error)

    def _backoff(self, update: InboundUpdate) -> timedelta:
        """How long a failed update waits: a lease, doubling with each attempt, at most
        :data:`MAX_RETRY_DELAY`, so a platform that is away is not flooded with retries."""
        return min(self.lease * 2 ** min(update.attempts, 16), MAX_RETRY_DELAY)

    async def _adopt(self, taken: Sequence[InboundUpdate]) -> list[InboundUpdate]:
        """Of the updates just taken over, those to handle now: not one this process is
        handling already (its own lease had lapsed), and not one too old to matter, which is
        given up."""
        adopted = []
        now = self.clock.now()
        for update in taken:
            assert update.id is not None
            if update.id in self._held:
                continue
            self._held.add(update.id)
            if now - update.received_at > MAX_AGE:
                log.error(
                    "gave up %s update %s: not handled in %s (%d attempts)",
                    self.source,
                    update.id,
                    MAX_AGE,
                    update.attempts,
                )
                await self._finish(update)
                continue
            adopted.append(update)
        return adopted

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("handling an update failed: %s", task.get_name(), exc_info=error)

    # --- leases --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: renew the leases of what this process holds, and take over what
        others left (at once, then every third of a lease). A database that is away is
        logged and tried again at the next turn."""
        interval = self.lease.total_seconds() / 3
        while not stop.is_set():
            try:
                await self.renew()
                await self.take_over()
            except Exception as error:
                log.warning("the %s intake could not reach the database: %s", self.source, error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def renew(self) -> None:
        """Move the leases of what this process holds. The updates whose step is running
        are skipped, not waited for (else every step behind one of them would wait for the
        renewal): their lease moves at the next turn. A step that has run for a third of a
        lease may still hold its row at the next turns too, so its lease is then moved by a
        renewal of its own that waits for it, in the background: nobody can take it over
        while the step holds it, nor between its commit and the renewal (already waiting
        for the row)."""
        if not self._held:
            return
        async with self.uow_factory() as uow:
            await uow.updates.extend(
                sorted(self._held),
                owner=self.owner,
                lease_until=self.clock.now() + self.lease,
                skip_locked=True,
            )
            await uow.commit()
        since = time.monotonic() - self.lease.total_seconds() / 3
        slow = sorted(i for i, started in self._stepping.items() if started <= since)
        if slow and (self._renewing is None or self._renewing.done()):
            self._renewing = asyncio.create_task(
                self._renew_waiting(slow), name=f"{self.source}-renew-slow"
            )

    async def _renew_waiting(self, ids: list[int]) -> None:
        try:
            async with self.uow_factory() as uow:
                for update_id in ids:  # wait for each step to commit, holding the row then
                    await uow.updates.get(update_id, for_update=True)
                # the lease from now, not from when the wait began (the step may have
                # outlasted a lease)
                await uow.updates.extend(
                    ids, owner=self.owner, lease_until=self.clock.now() + self.lease
                )
                await uow.commit()
        except Exception as error:  # the next turn tries again
            log.warning("could not renew %s updates in slow steps: %s", self.source, error)

    async def take_over(self) -> int:
        """Take the updates whose lease ended and handle them (in tasks, in order per
        sender); returns how many were taken."""
        async with self.uow_factory() as uow:
            now = self.clock.now()
            taken = await uow.updates.claim(
                source=self.source,
                now=now,
                owner=self.owner,
                lease_until=now + self.lease,
                limit=CLAIM_BATCH,
            )
            await uow.commit()
        for update in await self._adopt(taken):
            log.info("took over %s update %s (attempt %d)", self.source, update.id, update.attempts)
            self.handle_in_background(update)
        return len(taken)

    # --- shutdown ------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    async def drain(self) -> None:
        """Wait for updates still being handled (at shutdown, and in tests), and for the
        rows of those handled to be deleted."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for task in (self._forgetting, self._renewing):
            if task is not None and not task.done():
                await asyncio.gather(task, return_exceptions=True)
