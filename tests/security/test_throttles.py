"""Issue 13, point 5: nothing was throttled. Wrong access codes went in at 1,800 a minute
from one Telegram account, with no lockout and nothing logged.

Now, counted in the database (so every process shares the count):

- secrets typed in chat (access codes by ``/join CODE`` and Telegram's ``/start CODE`` deep
  link, invitation links by ``/join <link>``, ``/start <token>`` and ``/decline <link>``):
  5 wrong in 15 minutes per chat account, then "too many tries, wait N minutes", logged
  once at WARNING; and across all accounts, where an account's first try is always looked
  at, so the legitimate head is never locked out by someone else's guessing;
- the invitation page and its QR code per client address: 429 with ``Retry-After``, the
  address from ``X-Forwarded-For`` only when the peer is a trusted proxy.

Chat tests run on the in-memory fakes, SQLite and (when configured) PostgreSQL; the races and
the page run on the SQL backends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from bot.engine import Engine
from bot.ports import UnitOfWorkFactory
from bot.replies import Actor, Event
from handlers.web_page import InvitationPageRoutes
from storage import Database
from tests.chat import Person
from tests.storage.databases import SQL_BACKENDS, fresh_database, fresh_databases
from tests.unit.conftest import World

WRONG_CODE = "ABCD-EFGH-JKMN"
WRONG = "doesn't match any household"
TOO_MANY = "too many tries"
PUBLIC = "https://hoa.example"


@pytest.fixture
def world(uow_factory: UnitOfWorkFactory) -> World:
    return World(uow_factory=uow_factory)  # the default limits: 5 per account, 50 in all


async def claimed(world: World) -> bool:
    async with world.uow_factory() as uow:
        return all(h.claimed for h in await uow.households.list())


# --- secrets typed in chat ------------------------------------------------------------------


async def test_five_wrong_codes_then_the_account_waits(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    code = await world.household()
    eve = world.person("eve", platform="telegram")
    caplog.set_level(logging.DEBUG, logger="invitebot.throttles")
    for _ in range(5):
        await eve.say(f"/join {WRONG_CODE}")
        assert WRONG in eve.text
    await eve.say(f"/join {WRONG_CODE}")
    assert TOO_MANY in eve.text and "wait 15 minutes" in eve.text
    assert "the Oak Ridge HOA board" in eve.text
    # Refused before the code is looked at: even the right one does nothing now.
    for _ in range(20):
        await eve.say(f"/join {code}")
        assert TOO_MANY in eve.text
    assert not await claimed(world)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]  # once, not once a try
    assert "telegram:eve" in warnings[0].getMessage()

    world.clock.advance(minutes=10)
    await eve.say(f"/join {code}")
    assert "wait 5 minutes" in eve.text
    world.clock.advance(minutes=5)  # the window is over
    await eve.say(f"/join {code}")
    assert "You are now the head" in eve.text
    assert await claimed(world)


async def test_codes_and_links_by_every_way_in_share_one_count(world: World) -> None:
    await world.household()
    eve = world.person("eve", platform="telegram")
    forged = "A" * 43  # the shape of an invitation token
    for attempt in [
        f"/start {WRONG_CODE}",  # a Telegram deep link
        f"/join https://hoa.example/i/{forged}",
        f"/decline https://hoa.example/i/{forged}",
        f"/start {forged}",
    ]:
        await eve.say(attempt)
        assert TOO_MANY not in eve.text, attempt
    await eve.say("/join")  # the question, then the code typed alone
    await eve.say(WRONG_CODE)
    assert WRONG in eve.text
    await eve.say(f"/start {forged}")
    assert TOO_MANY in eve.text
    await eve.say(forged)  # a bare token typed as text
    assert TOO_MANY in eve.text
    # Not a secret at all: still the usual help, nothing counted or refused.
    await eve.say("/join hello")
    assert "doesn't look like an access code" in eve.text


async def test_an_attacker_locks_out_only_their_own_account(world: World) -> None:
    code = await world.household()
    eve = world.person("eve", platform="telegram")
    for _ in range(6):
        await eve.say(f"/join {WRONG_CODE}")
    assert TOO_MANY in eve.text
    ana = world.person("ana", platform="telegram")
    await ana.say(f"/join {code}")
    assert "You are now the head" in ana.text
    # The same user id on another platform is another account.
    slack_eve = world.person("eve", platform="slack")
    await slack_eve.say(f"/join {WRONG_CODE}")
    assert WRONG in slack_eve.text


async def test_many_accounts_run_out_of_tries_together_but_a_first_try_is_looked_at(
    world: World,
) -> None:
    """``code_attempts_everyone`` is 50: fifty wrong tries from fifty accounts fill it."""
    code = await world.household()
    bots = [world.person(f"bot{n}", platform="telegram") for n in range(50)]
    for bot in bots:
        await bot.say(f"/join {WRONG_CODE}")
        assert WRONG in bot.text
    # A second try from any of them waits, though each got only one wrong.
    await bots[0].say(f"/join {WRONG_CODE}")
    assert TOO_MANY in bots[0].text
    # A new account's first try is still looked at: a wrong one is wrong ...
    newcomer = world.person("bot50", platform="telegram")
    await newcomer.say(f"/join {WRONG_CODE}")
    assert WRONG in newcomer.text
    # ... and the head, typing the code the board gave them, gets in.
    ana = world.person("ana", platform="telegram")
    await ana.say(f"/join {code}")
    assert "You are now the head" in ana.text


async def test_a_typo_then_the_right_code_wipes_the_slate(world: World) -> None:
    code = await world.household()
    second = await world.household(address="14 Oak Lane")
    ana = world.person("ana", platform="telegram")
    for _ in range(4):
        await ana.say(f"/join {WRONG_CODE}")
    await ana.say(f"/join {code}")
    assert "You are now the head" in ana.text
    # A member who types codes is refused as a member, and not counted as guessing.
    for _ in range(10):
        await ana.say(f"/join {second}")
        assert "already a member" in ana.text


async def test_a_wrong_invite_link_is_counted_but_a_good_one_still_works(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite email Maria Ruiz maria@example.org")
    await ana.press("Send Invite")
    await world.deliver()
    [sent] = [m for m in world.sender.sent if m.destination == "maria@example.org"]
    link = sent.data["link"]
    maria = world.person("maria", platform="telegram")
    for _ in range(4):
        await maria.say(f"/join {link[:-3]}xyz")  # mistyped
        assert "isn't valid" in maria.text
    await maria.say(f"/join {link}")
    assert "Welcome" in maria.text, maria.text


# --- the same, between processes ------------------------------------------------------------


@pytest.fixture(params=SQL_BACKENDS)
async def two_processes(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Database, ...]]:
    async with fresh_databases(request.param, tmp_path, count=2) as databases:
        yield databases


async def test_two_processes_guessing_at_once_get_five_tries_between_them(
    two_processes: tuple[Database, ...],
) -> None:
    one, two = two_processes
    world = World(uow_factory=one.uow)
    await world.household()
    engines = [Engine(uow_factory=db.uow, ctx=world.ctx) for db in (one, two)]
    eve = Actor(platform="telegram", user_id="eve", chat_id="eve")
    tries = [engines[n % 2].handle(eve, Event.message(f"/join {WRONG_CODE}")) for n in range(12)]
    answers = [replies[0].text for replies in await asyncio.gather(*tries)]
    assert sum(WRONG in a for a in answers) == 5, answers
    assert sum(TOO_MANY in a for a in answers) == 7, answers


async def test_concurrent_counts_never_lose_a_hit(two_processes: tuple[Database, ...]) -> None:
    one, two = two_processes
    window = timedelta(minutes=15)
    world = World(uow_factory=one.uow)
    now = world.clock.now()

    async def hit(database: Database) -> int:
        async with database.uow() as uow:
            counted = await uow.throttles.hit("code:everyone", now=now, window=window)
            await asyncio.sleep(0)  # let the other process run while the row is held
            await uow.commit()
            return counted.count

    counts = await asyncio.gather(*(hit(db) for db in [one, two] * 10))
    assert sorted(counts) == list(range(1, 21))


# --- the invitation page, per client address ------------------------------------------------


PER_MINUTE = 30  # the default: requests per client address a minute


@pytest.fixture(params=SQL_BACKENDS)
async def page_world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    async with fresh_database(request.param, tmp_path) as database:
        yield World(uow_factory=database.uow)


def browser(
    world: World, *, address: str, trusted_proxies: tuple[str, ...] = ()
) -> httpx.AsyncClient:
    routes = InvitationPageRoutes(
        uow_factory=world.uow_factory,
        ctx=world.ctx,
        public_base_url=PUBLIC,
        trusted_proxies=trusted_proxies,
    )
    app = Starlette(routes=routes.routes)
    transport = httpx.ASGITransport(app=app, client=(address, 51000))
    return httpx.AsyncClient(transport=transport, base_url=PUBLIC)


async def invited_token(world: World) -> str:
    ana: Person = await world.head()
    await ana.say("/invite email Maria Ruiz maria@example.org")
    await ana.press("Send Invite")
    async with world.uow_factory() as uow:
        [household] = await uow.households.list()
        [invitation] = await uow.invitations.list_for_household(household.id)
    return world.ctx.tokens.make(invitation.id, invitation.nonce)


async def test_one_address_gets_429_with_retry_after(page_world: World) -> None:
    world = page_world
    token = await invited_token(world)
    async with browser(world, address="203.0.113.7") as client:
        for _ in range(PER_MINUTE // 3):
            assert (await client.get(f"/i/{token}")).status_code == 200
            assert (await client.get(f"/i/{token}/qr.png")).status_code == 200
            assert (await client.get(f"/i/{'B' * 43}")).status_code == 404  # counts as well
        for path in [f"/i/{token}", f"/i/{token}/qr.png", f"/i/{'B' * 43}"]:
            refused = await client.get(path)
            assert refused.status_code == 429, path
            assert refused.headers["Retry-After"] == "60"
            assert refused.headers["Cache-Control"] == "no-store"
            assert "Please wait a moment" in refused.text and "wait 1 minute" in refused.text
        posted = await client.post(f"/i/{token}", data={"action": "accept"})
        assert posted.status_code == 429
    async with browser(world, address="198.51.100.9") as other:
        assert (await other.get(f"/i/{token}")).status_code == 200  # another address
    world.clock.advance(seconds=45)
    async with browser(world, address="203.0.113.7") as client:
        assert (await client.get(f"/i/{token}")).headers["Retry-After"] == "15"
    world.clock.advance(seconds=15)
    async with browser(world, address="203.0.113.7") as client:
        assert (await client.get(f"/i/{token}")).status_code == 200  # a new window


async def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    page_world: World,
) -> None:
    world = page_world
    token = await invited_token(world)
    async with browser(world, address="203.0.113.7") as client:
        # An attacker writing a new X-Forwarded-For each time is still one address.
        codes = [
            (
                await client.get(f"/i/{token}", headers={"X-Forwarded-For": f"10.0.0.{n}"})
            ).status_code
            for n in range(PER_MINUTE + 1)
        ]
    assert codes == [200] * PER_MINUTE + [429]

    # Behind a trusted proxy each client counts on its own, by the address the proxy saw
    # (the rightmost hop not a proxy: what the client wrote on the left is not believed).
    async with browser(world, address="10.1.2.3", trusted_proxies=("10.0.0.0/8",)) as proxy:
        for n in range(PER_MINUTE):
            forwarded = {"X-Forwarded-For": f"1.2.3.4, 198.51.100.{n}"}
            assert (await proxy.get(f"/i/{token}", headers=forwarded)).status_code == 200
        forwarded = {"X-Forwarded-For": "198.51.100.0"}
        for _ in range(PER_MINUTE - 1):
            assert (await proxy.get(f"/i/{token}", headers=forwarded)).status_code == 200
        assert (await proxy.get(f"/i/{token}", headers=forwarded)).status_code == 429
        other = {"X-Forwarded-For": "1.2.3.4, 198.51.100.1"}  # one request so far
        assert (await proxy.get(f"/i/{token}", headers=other)).status_code == 200
        # Garbage in the header counts against the proxy's own address, never a 500.
        junk = {"X-Forwarded-For": "not-an-address"}
        assert (await proxy.get(f"/i/{token}", headers=junk)).status_code in (200, 429)


async def test_an_ipv6_client_counts_by_its_64(page_world: World) -> None:
    world = page_world
    token = await invited_token(world)
    for n in range(PER_MINUTE):
        async with browser(world, address=f"2001:db8:1:2::{n + 1:x}") as client:
            assert (await client.get(f"/i/{token}")).status_code == 200
    async with browser(world, address="2001:db8:1:2:ffff::9") as client:
        assert (await client.get(f"/i/{token}")).status_code == 429
    async with browser(world, address="2001:db8:1:3::1") as client:
        assert (await client.get(f"/i/{token}")).status_code == 200


async def test_the_served_app_throttles_the_page(tmp_path: Path) -> None:
    """Through ``create_app`` with the default settings (30 a minute per address)."""
    from handlers.app import create_app
    from handlers.settings import Settings
    from tests.unit.conftest import SECRET

    async with fresh_database("sqlite", tmp_path) as database:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db",
            secret_key=SECRET.decode(),
            public_base_url=PUBLIC,
        )
        app = create_app(settings, dispatch=False, database=database)
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
            statuses = [(await client.get(f"/i/{'C' * 43}")).status_code for _ in range(31)]
        assert statuses == [404] * 30 + [429]
