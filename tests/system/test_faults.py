"""Faults, each a test that states its outcome: nothing lost, nothing done twice.

- The database goes away under load: requests fail cleanly with 503 and ``Retry-After`` (a
  status the platforms retry), the server recovers without a restart, and the retried
  requests take effect once. On PostgreSQL the outage is a restart as its clients see it (a
  proxy resets every connection and refuses new ones); on SQLite it is another process
  holding the file's write lock past the busy timeout.
- A worker killed with SIGKILL in the middle of a send: the next worker sends the message
  once the dead one's lease runs out.
- Twilio answering 500, then hanging: the invitation goes out on a later attempt, once.
- The same webhook delivered three times at once, to two servers: one effect.
- An invitee accepting while the head cancels, on two servers at once: exactly one wins.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url

from bot.delivery import Dispatcher, RetryPolicy
from bot.domain import Channel, DeliveryStatus, Invitation, InvitationStatus, OutboxStatus, Route
from bot.invitations import accept_invitation
from handlers.telegram.bot import make_bot
from handlers.telegram.sender import TelegramChatSender
from handlers.twilio_sms import TwilioSender
from storage.stats import state_counts
from tests.fakes import FakeClock
from tests.handlers.fake_telegram import FakeTelegram
from tests.handlers.fake_twilio import FakeTwilio, Hang, ServerError
from tests.storage.databases import POSTGRES_URL, SQL_BACKENDS
from tests.system.cluster import Cluster, SystemDatabase, system_database, until
from tests.system.proxy import TcpProxy
from tests.system.traffic import OUR_NUMBER, Load, cluster_env, message, phone_of, press
from tests.unit.conftest import World

# --- the database goes away -----------------------------------------------------------------


class Outage:
    """Takes the database away from the cluster's processes, and gives it back."""

    def __init__(self, db: SystemDatabase, proxy: TcpProxy | None) -> None:
        self.db = db
        self.proxy = proxy
        self._lock: sqlite3.Connection | None = None

    def begin(self) -> None:
        if self.proxy is not None:
            self.proxy.cut()
            return
        path = make_url(self.db.url).database
        assert path
        self._lock = sqlite3.connect(path, isolation_level=None, timeout=10)
        self._lock.execute("BEGIN EXCLUSIVE")

    def end(self) -> None:
        if self.proxy is not None:
            self.proxy.restore()
            return
        assert self._lock is not None
        self._lock.execute("ROLLBACK")
        self._lock.close()


@contextmanager
def postgres_proxy(backend: str) -> Iterator[TcpProxy | None]:
    if backend != "postgresql":
        yield None
        return
    assert POSTGRES_URL is not None
    url = make_url(POSTGRES_URL)
    with TcpProxy(target=(url.host or "127.0.0.1", url.port or 5432)) as proxy:
        yield proxy


@pytest.fixture(params=SQL_BACKENDS)
async def outage_cluster(
    request: pytest.FixtureRequest, tmp_path: Path, twilio: FakeTwilio, telegram: FakeTelegram
) -> AsyncIterator[tuple[Cluster, SystemDatabase, Outage]]:
    with postgres_proxy(request.param) as proxy:

        def through_proxy(url: str) -> str:
            if proxy is None:
                return url
            return make_url(url).set(port=proxy.port).render_as_string(hide_password=False)

        async with system_database(request.param, tmp_path, url_for=through_proxy) as db:
            cluster = Cluster(directory=tmp_path, env=cluster_env(db, twilio, telegram))
            outage = Outage(db, proxy)
            try:
                yield cluster, db, outage
            except BaseException:
                print(cluster.logs())
                raise
            finally:
                cluster.close()


async def test_the_database_going_away_under_load_fails_cleanly_and_recovers(
    outage_cluster: tuple[Cluster, SystemDatabase, Outage],
    twilio: FakeTwilio,
    telegram: FakeTelegram,
) -> None:
    cluster, db, outage = outage_cluster
    count = 6
    world = World(uow_factory=db.database.uow, clock=FakeClock(datetime.now(UTC)))
    codes = [await world.household(address=f"{i} Cedar Row") for i in range(count)]
    server = await cluster.serve()
    await cluster.worker()
    async with httpx.AsyncClient(timeout=60) as client:
        load = Load(client, [server, server], telegram)
        await asyncio.gather(*(load.head_invites(i, code) for i, code in enumerate(codes)))
        await until(lambda: len(twilio.messages) == count, what="every invitation texted")

        outage.begin()
        try:
            # Every answer that comes in now fails cleanly, with a status the platforms retry.
            answers = await asyncio.gather(
                *(
                    load.sms(server, sender=phone_of(i), body="JOIN", sid=f"SM{i:032x}")
                    for i in range(count)
                )
            )
            update = message(50_000, "/household")
            during = await client.post(
                f"{server.url}/telegram/webhook",
                json=update,
                headers={"X-Telegram-Bot-Api-Secret-Token": "scale-out-webhook-secret"},
            )
            health = await client.get(f"{server.url}/healthz")
        finally:
            outage.end()
        assert {a.status_code for a in answers} == {503}
        assert all(a.headers["retry-after"] == "5" for a in answers)
        assert during.status_code == 503 and health.status_code == 503

        # The same server, never restarted, takes the retries.
        assert server.alive
        for i in range(count):
            for _ in range(100):
                retried = await load.sms(server, sender=phone_of(i), body="JOIN", sid=f"SM{i:032x}")
                if retried.status_code == 200:
                    break
                await asyncio.sleep(0.2)
            assert retried.status_code == 200 and "Welcome" in retried.text, retried.text
        before = len(load.shown(50_000))
        await load.update(server, update)  # Telegram's redelivery
        await until(lambda: len(load.shown(50_000)) > before, what="the /household answer")
        # And the worker, also never restarted, tells every head.
        await until(
            lambda: (
                sum("accepted your invitation" in str(c.params.get("text")) for c in telegram.calls)
                == count
            ),
            what="every head told",
        )
    invitations = await invitations_of(db)
    assert Counter(i.status for i in invitations) == {InvitationStatus.ACCEPTED: count}
    assert len(twilio.messages) == count  # nobody texted twice
    assert set(load.statuses) <= {200, 503}  # never a 500


# --- a worker killed in the middle of a send --------------------------------------------------


@pytest.fixture(params=SQL_BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SystemDatabase]:
    async with system_database(request.param, tmp_path) as database:
        yield database


async def test_a_worker_killed_mid_send_leaves_the_message_to_the_next(
    db: SystemDatabase, cluster: Cluster, twilio: FakeTwilio
) -> None:
    cluster.env["INVITEBOT_OUTBOX_LEASE_SECONDS"] = "2"
    world = World(uow_factory=db.database.uow, clock=FakeClock(datetime.now(UTC)))
    ana = await world.head()
    await ana.say("/invite sms Maria Ruiz +1 202 555 0199")
    await ana.press("Send Invite")
    # Twilio takes the first request in and never answers it (then fails it).
    twilio.respond_next(Hang(seconds=120, then=ServerError()))
    first = await cluster.worker("worker-1")
    await until(lambda: len(twilio.requests) == 1, what="the first send to reach Twilio")
    cluster.kill(first)

    await cluster.worker("worker-2")
    await until(lambda: len(twilio.messages) == 1, what="the message sent by the next worker")
    [invitation] = await invitations_of(db)
    await until(lambda: _delivery_of(db, invitation.id), what="the invitation marked sent")
    assert [r.form["To"] for r in twilio.requests] == ["+12025550199"] * 2
    counts = await state_counts(db.database.engine, now=datetime.now(UTC))
    assert counts.outbox["sent"] == 1 and counts.outbox["pending"] == 0


async def invitations_of(db: SystemDatabase) -> list[Invitation]:
    async with db.database.uow() as uow:
        households = await uow.households.list()
        return [i for h in households for i in await uow.invitations.list_for_household(h.id)]


async def _delivery_of(db: SystemDatabase, invitation_id: str) -> bool:
    async with db.database.uow() as uow:
        invitation = await uow.invitations.get(invitation_id)
    return invitation is not None and invitation.delivery_status is DeliveryStatus.SENT


# --- providers failing ----------------------------------------------------------------------


async def test_providers_answering_500_or_hanging_deliver_on_a_later_attempt(
    db: SystemDatabase, twilio: FakeTwilio, telegram: FakeTelegram
) -> None:
    clock = FakeClock(datetime.now(UTC))
    world = World(uow_factory=db.database.uow, clock=clock)
    ana = world.person("4242", "Ana Lopez", platform="telegram")
    code = await world.household()
    await ana.say(f"/join {code}")
    await ana.say("/invite sms Maria Ruiz +1 202 555 0199")
    await ana.press("Send Invite")
    twilio.respond_next(ServerError(500), Hang(seconds=30))
    telegram.fail_next("sendMessage", "Internal Server Error", 500)
    sms = TwilioSender(
        account_sid=twilio.account_sid,
        auth_token=twilio.auth_token,
        from_number=OUR_NUMBER,
        api_base=twilio.url,
        timeout=0.5,
    )
    chat = TelegramChatSender(make_bot(telegram.token, api_base=telegram.url))
    dispatcher = Dispatcher(
        uow_factory=db.database.uow,
        ctx=world.ctx,
        senders={Route(Channel.SMS): sms, Route(Channel.CHAT, "telegram"): chat},
        retry=RetryPolicy(base_delay=timedelta(seconds=5)),
    )
    try:
        for _ in range(3):  # 500, then no answer in time, then sent
            await dispatcher.run_once()
            clock.advance(minutes=5)
        assert [type(r.behaviour).__name__ for r in twilio.requests] == [
            "ServerError",
            "Hang",
            "Created",
        ]
        [invitation] = await invitations_of(db)
        assert invitation.delivery_status is DeliveryStatus.SENT

        # Maria accepts; Telegram's 500 to the head's notice is retried too.
        async with db.database.uow() as uow:
            token = world.ctx.tokens.make(invitation.id, invitation.nonce)
            await accept_invitation(uow, world.ctx, token=token, actor=None)
            await uow.commit()
        for _ in range(2):
            await dispatcher.run_once()
            clock.advance(minutes=5)
    finally:
        await sms.close()
        await chat.close()
    news = [c for c in telegram.calls_of("sendMessage") if "accepted" in str(c.params["text"])]
    assert len(news) == 2  # the one Telegram refused with 500, and the one it took
    counts = await state_counts(db.database.engine, now=clock.now())
    assert counts.outbox == {OutboxStatus.PENDING: 0, OutboxStatus.SENT: 2, OutboxStatus.FAILED: 0}


# --- the same webhook three times; accept racing cancel -------------------------------------------


async def test_the_same_webhook_three_times_at_once_on_two_servers_has_one_effect(
    db: SystemDatabase, cluster: Cluster, twilio: FakeTwilio, telegram: FakeTelegram
) -> None:
    world = World(uow_factory=db.database.uow, clock=FakeClock(datetime.now(UTC)))
    code = await world.household()
    servers = [await cluster.serve(), await cluster.serve()]
    async with httpx.AsyncClient(timeout=60) as client:
        load = Load(client, servers, telegram)
        # A Telegram update three times: claimed once, answered once.
        claim = message(50_000, f"/start {code}")
        await asyncio.gather(*(load.update(servers[n % 2], claim) for n in range(3)))
        await until(lambda: len(load.shown(50_000)) >= 1, what="the claim answered")
        await load.step(
            servers[0], 50_000, message(50_000, f"/invite sms Maria Ruiz {phone_of(0)}")
        )
        summary = load.shown(50_000)[-1]
        await load.update(servers[1], press(50_000, "flow:send", summary.message_id))
        await until(lambda: len(load.shown(50_000)) == 3, what="the invitation sent")
        # An SMS reply three times: one member, one welcome... and two harmless answers.
        replies = await asyncio.gather(
            *(
                load.sms(servers[n % 2], sender=phone_of(0), body="join", sid="SM" + "c" * 32)
                for n in range(3)
            )
        )
    assert [r.status_code for r in replies] == [200, 200, 200]
    shown = [str(c.params.get("text")) for c in load.shown(50_000)]
    assert len(shown) == 3 and "Invitation sent" in shown[-1], shown
    assert sum("Welcome" in r.text for r in replies) == 1, [r.text for r in replies]
    async with db.database.uow() as uow:
        [household] = await uow.households.list()
        members = await uow.members.list_for_household(household.id)
    assert sorted(m.name for m in members) == ["Ana Lopez", "Maria Ruiz"]
    [invitation] = await invitations_of(db)
    assert invitation.status is InvitationStatus.ACCEPTED


async def test_accept_racing_cancel_on_two_servers_has_exactly_one_winner(
    db: SystemDatabase, cluster: Cluster, twilio: FakeTwilio, telegram: FakeTelegram
) -> None:
    rounds = 6
    world = World(uow_factory=db.database.uow, clock=FakeClock(datetime.now(UTC)))
    codes = [await world.household(address=f"{i} Dogwood Lane") for i in range(rounds)]
    servers = [await cluster.serve(), await cluster.serve()]
    async with httpx.AsyncClient(timeout=60) as client:
        load = Load(client, servers, telegram)
        await asyncio.gather(*(load.head_invites(i, code) for i, code in enumerate(codes)))
        invitations = {i.contact: i for i in await invitations_of(db)}

        async def race(i: int) -> httpx.Response:
            head, invitation = 50_000 + i, invitations[phone_of(i)]
            cancel = press(head, f"card:cancel_yes:{invitation.id}", 1)
            accepted, _ = await asyncio.gather(
                load.sms(servers[i % 2], sender=phone_of(i), body="JOIN", sid=f"SM{i:032x}"),
                load.update(servers[(i + 1) % 2], cancel),
            )
            return accepted

        answers = await asyncio.gather(*(race(i) for i in range(rounds)))
        await until(
            lambda: all(len(load.shown(50_000 + i)) >= 4 for i in range(rounds)),
            what="every head answered",
        )
    final = {i.contact: i for i in await invitations_of(db)}
    for i, answer in enumerate(answers):
        invitation = final[phone_of(i)]
        told_head = str(load.shown(50_000 + i)[3].params["text"])
        if invitation.status is InvitationStatus.ACCEPTED:
            assert "Welcome" in answer.text and invitation.member_id is not None
            assert "already accepted" in told_head, told_head
        else:
            assert invitation.status is InvitationStatus.CANCELLED
            assert "Welcome" not in answer.text and invitation.member_id is None
            assert "cancelled" in told_head, told_head
