"""The invitation page over HTTP, through the real ASGI app: what each kind of link shows and
with which status, the CSRF checks, a repeated POST, the race with an SMS JOIN, the security
headers and the QR code. On SQLite, and on PostgreSQL when configured.

Each ``httpx.AsyncClient`` stands for one browser: it keeps its own cookies."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from bot import messages as msg
from bot.domain import Channel, Invitation, InvitationStatus, Limits, Member
from bot.invitation_page import (
    ACCOUNT_LINK_TOKEN_LENGTH,
    Outcome,
    account_link_token,
    answer_on_page,
    is_account_link_token,
    link_account_by_token,
)
from bot.invitations import who_is
from bot.language import ENGLISH, Words
from bot.ports import UnitOfWorkFactory
from bot.replies import Actor
from bot.rules import Refused
from bot.sms_inbound import InboundSms, handle_inbound_sms
from handlers.app import create_app
from handlers.settings import Settings
from handlers.web_page import STYLE_HASH, PageSigner, invite_qr_png
from storage import Database
from tests.chat import Person
from tests.fakes import FakeClock
from tests.storage.databases import SQL_BACKENDS, fresh_database
from tests.unit.conftest import SECRET, World

PUBLIC = "https://hoa.example"
# What a browser sends with this page's forms: its Referrer-Policy (no-referrer) makes the
# Origin "null".
SAME_SITE = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Site:
    app: Starlette
    database: Database
    world: World
    ana: Person
    browsers: list[httpx.AsyncClient] = field(default_factory=list)

    def browser(self) -> httpx.AsyncClient:
        """A new browser: a client with a cookie jar of its own."""
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=PUBLIC)
        self.browsers.append(client)
        return client

    async def invite(self, name: str = "Maria Ruiz", contact: str = "maria@example.org") -> str:
        """Invite someone as Ana; the token of their link."""
        method = "sms" if contact.startswith("+") else "email"
        await self.ana.say(f"/invite {method} {name} {contact}")
        await self.ana.press("Send Invite")
        assert "Invitation sent" in self.ana.text, self.ana.text
        invitation = await self.invitation_to(contact)
        return self.world.ctx.tokens.make(invitation.id, invitation.nonce)

    async def invitation_to(self, contact: str) -> Invitation:
        async with self.database.uow() as uow:
            [household] = await uow.households.list()
            found = [
                i
                for i in await uow.invitations.list_for_household(household.id)
                if i.contact == contact
            ]
        return found[-1]

    async def invitation(self, token: str) -> Invitation:
        invitation_id = self.world.ctx.tokens.invitation_id_of(token)
        assert invitation_id is not None
        async with self.database.uow() as uow:
            invitation = await uow.invitations.get(invitation_id)
        assert invitation is not None
        return invitation

    async def members(self, contact: str) -> list[Member]:
        async with self.database.uow() as uow:
            [household] = await uow.households.list()
            everyone = await uow.members.list_for_household(household.id)
        return [m for m in everyone if contact in (m.email, m.phone)]

    async def notes_to_head(self, token: str) -> int:
        invitation = await self.invitation(token)
        async with self.database.uow() as uow:
            queued = await uow.outbox.list_for_invitation(invitation.id)
        return sum(1 for m in queued if m.channel is Channel.CHAT)


async def open_page(browser: httpx.AsyncClient, token: str) -> tuple[httpx.Response, str]:
    """GET the page; the response and the CSRF token in its forms."""
    response = await browser.get(f"/i/{token}")
    assert response.status_code == 200, response.text
    found = _CSRF.search(response.text)
    assert found, response.text
    return response, found.group(1)


async def submit(
    browser: httpx.AsyncClient,
    token: str,
    action: str,
    csrf: str,
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await browser.post(
        f"/i/{token}",
        data={"csrf": csrf, "action": action},
        headers=SAME_SITE if headers is None else headers,
    )


def make_settings(backend: str, tmp_path: Path, **extra: object) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db"
        if backend == "sqlite"
        else "postgresql+asyncpg://unused/x",
        secret_key=SECRET.decode(),
        public_base_url=PUBLIC,
        **extra,
    )


async def build_site(backend: str, tmp_path: Path, **extra: object) -> AsyncIterator[Site]:
    async with fresh_database(backend, tmp_path) as database:
        app = create_app(
            make_settings(backend, tmp_path, **extra), dispatch=False, database=database
        )
        # The app runs on the real clock; the world's starts at the same moment.
        world = World(
            uow_factory=database.uow,
            clock=FakeClock(datetime.now(UTC)),
            limits=Limits(invites_per_hour=100, invites_per_day=100),
        )
        site = Site(app=app, database=database, world=world, ana=await world.head())
        try:
            yield site
        finally:
            for browser in site.browsers:
                await browser.aclose()


@pytest.fixture(params=SQL_BACKENDS)
async def site(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Site]:
    async for built in build_site(request.param, tmp_path):
        yield built


# --- what a link shows ----------------------------------------------------------------------


async def test_an_open_link_shows_who_where_until_when_and_two_buttons(site: Site) -> None:
    token = await site.invite()
    response, _ = await open_page(site.browser(), token)
    page = response.text
    assert '<html lang="en">' in page
    assert "<h1>You&#39;re invited to join 12 Oak Lane</h1>" in page
    assert "Ana Lopez invited you to join their household at 12 Oak Lane in Oak Ridge HOA." in page
    invitation = await site.invitation(token)
    assert ENGLISH.when(invitation.expires_at) in page
    assert "You will join as Maria Ruiz." in page
    assert page.count('<form method="post"') == 2
    assert '<button type="submit" class="button primary"' in page
    assert ">Accept invitation</button>" in page and ">Decline</button>" in page
    assert "board@oakridge.example" in page
    assert "<script" not in page  # no JavaScript needed, none sent
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-invitebot=")
    for flag in ("HttpOnly", "Path=/;", "SameSite=strict", "Secure"):
        assert flag in cookie


async def test_accepting_asks_nothing_and_welcomes(site: Site) -> None:
    token = await site.invite()
    maria = site.browser()
    _, csrf = await open_page(maria, token)
    response = await submit(maria, token, "accept", csrf)
    assert response.status_code == 303
    assert response.headers["location"] == f"/i/{token}"
    answer_cookie = response.headers["set-cookie"]
    for flag in (f"Path=/i/{token}", "HttpOnly", "SameSite=lax", "Secure", "Max-Age="):
        assert flag in answer_cookie
    welcome = await maria.get(f"/i/{token}")
    assert welcome.status_code == 200
    assert "<h1>Welcome, Maria Ruiz!</h1>" in welcome.text
    assert "You are now a member of the household at 12 Oak Lane in Oak Ridge HOA." in welcome.text
    assert 'contact <a href="mailto:board@oakridge.example">board@oakridge.example</a>.' in (
        welcome.text
    )
    assert "t.me" not in welcome.text  # Telegram isn't configured
    [member] = await site.members("maria@example.org")
    assert member.name == "Maria Ruiz"
    assert (await site.invitation(token)).status is InvitationStatus.ACCEPTED
    assert await site.notes_to_head(token) == 1


async def test_declining_thanks_and_tells_the_head(site: Site) -> None:
    token = await site.invite()
    maria = site.browser()
    _, csrf = await open_page(maria, token)
    response = await submit(maria, token, "decline", csrf)
    assert response.status_code == 303
    page = await maria.get(f"/i/{token}")
    assert page.status_code == 200
    assert "You declined the invitation to 12 Oak Lane." in page.text
    assert "We have let Ana Lopez know." in page.text
    assert (await site.invitation(token)).status is InvitationStatus.DECLINED
    assert await site.members("maria@example.org") == []
    assert await site.notes_to_head(token) == 1
    # Another browser with the same link learns only that it was declined.
    other = await site.browser().get(f"/i/{token}")
    assert other.status_code == 410
    assert "This invitation was declined" in other.text


async def test_an_expired_link_is_gone_and_says_whom_to_ask(site: Site) -> None:
    site.world.clock.advance(days=-8)
    token = await site.invite()
    site.world.clock.advance(days=8)
    response = await site.browser().get(f"/i/{token}")
    assert response.status_code == 410
    assert "<h1>This invitation has expired</h1>" in response.text
    assert "Please ask Ana Lopez to send it to you again." in response.text
    assert 'name="csrf"' not in response.text


async def test_a_used_link_is_gone_for_another_browser(site: Site) -> None:
    token = await site.invite()
    maria = site.browser()
    _, csrf = await open_page(maria, token)
    stranger = site.browser()
    _, stranger_csrf = await open_page(stranger, token)
    assert (await submit(maria, token, "accept", csrf)).status_code == 303
    later = await submit(stranger, token, "accept", stranger_csrf)
    assert later.status_code == 410
    assert "This invitation has already been used" in later.text
    assert "Welcome" not in later.text
    shown = await stranger.get(f"/i/{token}")
    assert shown.status_code == 410 and "Welcome" not in shown.text
    # Nor does it turn into a decline.
    declined = await submit(stranger, token, "decline", stranger_csrf)
    assert declined.status_code == 410
    assert (await site.invitation(token)).status is InvitationStatus.ACCEPTED
    assert len(await site.members("maria@example.org")) == 1


async def test_unknown_forged_cancelled_and_malformed_links_look_the_same(site: Site) -> None:
    cancelled = await site.invite("Maria Ruiz", "maria@example.org")
    await site.ana.say("/household")
    await site.ana.press("Cancel Invite", on="Maria Ruiz")
    await site.ana.press("Yes, cancel it")
    assert "cancelled" in site.ana.text
    open_token = await site.invite("Luis Ruiz", "luis@example.org")
    raw = base64.urlsafe_b64decode(open_token + "=")
    forged = base64.urlsafe_b64encode(raw[:16] + bytes(16)).rstrip(b"=").decode()
    unknown = base64.urlsafe_b64encode(uuid.uuid4().bytes + bytes(16)).rstrip(b"=").decode()
    browser = site.browser()
    answers = [
        await browser.get(f"/i/{token}")
        for token in (cancelled, forged, unknown, "not-a-token", open_token + "x", "%3Cb%3E")
    ]
    assert {a.status_code for a in answers} == {404}
    assert len({a.text for a in answers}) == 1
    page = answers[0].text
    assert "<h1>This link isn&#39;t valid</h1>" in page
    assert "Please ask the person who invited you to send a new one." in page
    for secret in ("Maria", "Luis", "Oak", "Ana", "cancelled it"):
        assert secret not in page
    assert "set-cookie" not in answers[0].headers


async def test_names_with_html_are_shown_as_text(site: Site) -> None:
    token = await site.invite("Maria <script>alert(1)</script> <b>Ruiz</b>", "maria@example.org")
    maria = site.browser()
    response, csrf = await open_page(maria, token)
    assert "You will join as Maria &lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;Ruiz" in (
        response.text
    )
    assert "<script" not in response.text and "<b>" not in response.text
    await submit(maria, token, "accept", csrf)
    welcome = await maria.get(f"/i/{token}")
    assert "<h1>Welcome, Maria &lt;script&gt;" in welcome.text
    assert "<script" not in welcome.text


# --- CSRF -----------------------------------------------------------------------------------


FORGERIES = [
    "no cookie",
    "no form token",
    "another browser's form token",
    "another invitation's form token",
    "a stale form token",
    "a tampered form token",
    "a form token in other digits",
    "a cross-site fetch",
    "a same-site fetch",
    "a foreign origin",
    "a foreign origin, no fetch metadata",
    "a JSON body",
    "a huge body",
]


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_forms_without_a_valid_csrf_token_get_403_and_change_nothing(
    site: Site, forgery: str
) -> None:
    token = await site.invite()
    other_token = await site.invite("Luis Ruiz", "luis@example.org")
    maria = site.browser()
    _, csrf = await open_page(maria, token)
    browser_key = next(c.value for c in maria.cookies.jar if c.name == "__Host-invitebot")
    signer = PageSigner.from_secret(SECRET)
    now = int(datetime.now(UTC).timestamp())
    data = {"csrf": csrf, "action": "accept"}
    headers = dict(SAME_SITE)
    client = maria
    if forgery == "no cookie":
        client = site.browser()
    elif forgery == "no form token":
        del data["csrf"]
    elif forgery == "another browser's form token":
        _, data["csrf"] = await open_page(site.browser(), token)
    elif forgery == "another invitation's form token":
        _, data["csrf"] = await open_page(maria, other_token)
    elif forgery == "a stale form token":
        data["csrf"] = signer.form_token(browser=browser_key, token=token, now=now - 13 * 3600)
    elif forgery == "a tampered form token":
        issued, _, mac = csrf.partition(".")
        data["csrf"] = f"{int(issued) + 1}.{mac}"
    elif forgery == "a form token in other digits":
        data["csrf"] = "١٧٩٥٤٨٤٢٢٧.ü²"
    elif forgery == "a cross-site fetch":
        headers["Sec-Fetch-Site"] = "cross-site"
    elif forgery == "a same-site fetch":
        headers["Sec-Fetch-Site"] = "same-site"
    elif forgery == "a foreign origin":
        headers["Origin"] = "https://evil.example"
    elif forgery == "a foreign origin, no fetch metadata":
        headers = {"Origin": "https://evil.example"}
    if forgery == "a JSON body":
        response = await client.post(f"/i/{token}", json=data, headers=headers)
    elif forgery == "a huge body":
        response = await client.post(
            f"/i/{token}", data={**data, "padding": "x" * 10_000}, headers=headers
        )
    else:
        response = await client.post(f"/i/{token}", data=data, headers=headers)
    assert response.status_code == 403
    assert "<h1>Please try again</h1>" in response.text
    assert "Nothing was changed." in response.text
    assert f'href="/i/{token}"' in response.text
    assert (await site.invitation(token)).status is InvitationStatus.PENDING
    assert await site.members("maria@example.org") == []
    assert await site.notes_to_head(token) == 0


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": PUBLIC}, {"Origin": PUBLIC, "Sec-Fetch-Site": "same-origin"}],
    ids=["no fetch metadata", "our origin", "our origin, same-origin fetch"],
)
async def test_a_valid_form_is_accepted_with_or_without_fetch_metadata(
    site: Site, headers: dict[str, str]
) -> None:
    """Browsers that send neither Origin nor Sec-Fetch-Site still work: the cookie and the
    signed form token are what another site cannot forge."""
    token = await site.invite()
    maria = site.browser()
    _, csrf = await open_page(maria, token)
    assert (await submit(maria, token, "accept", csrf, headers=headers)).status_code == 303


async def test_an_unknown_action_is_a_bad_request(site: Site) -> None:
    token = await site.invite()
    maria = site.browser()
    _, csrf = await open_page(maria, token)
    response = await submit(maria, token, "delete", csrf)
    assert response.status_code == 400
    assert (await site.invitation(token)).status is InvitationStatus.PENDING


# --- one effect -----------------------------------------------------------------------------


async def test_a_double_click_admits_once_and_both_clicks_see_the_welcome(site: Site) -> None:
    token = await site.invite()
    maria = site.browser()
    _, csrf = await open_page(maria, token)
    first, second = await asyncio.gather(
        submit(maria, token, "accept", csrf), submit(maria, token, "accept", csrf)
    )
    assert (first.status_code, second.status_code) == (303, 303)
    # The back button, then the same form again.
    again = await submit(maria, token, "accept", csrf)
    assert again.status_code == 303 and again.headers["location"] == f"/i/{token}"
    welcome = await maria.get(f"/i/{token}")
    assert "<h1>Welcome, Maria Ruiz!</h1>" in welcome.text
    assert len(await site.members("maria@example.org")) == 1
    assert await site.notes_to_head(token) == 1


async def test_a_repeated_decline_declines_once(site: Site) -> None:
    token = await site.invite()
    maria = site.browser()
    _, csrf = await open_page(maria, token)
    answers = await asyncio.gather(*(submit(maria, token, "decline", csrf) for _ in range(3)))
    assert [a.status_code for a in answers] == [303, 303, 303]
    assert await site.notes_to_head(token) == 1
    # Accepting after declining is not the same answer: the invitation is closed.
    assert (await submit(maria, token, "accept", csrf)).status_code == 410


async def test_accept_on_the_page_races_join_by_sms_and_admits_once(site: Site) -> None:
    """The page and an SMS JOIN for the same invitation, at the same moment, several times:
    each time exactly one of them admits the invitee."""
    for round_ in range(6):
        phone = f"+1202555{150 + round_:04d}"
        token = await site.invite(f"Person {'ABCDEF'[round_]}", phone)
        browser = site.browser()
        _, csrf = await open_page(browser, token)

        async def join_by_sms(phone: str = phone) -> str | None:
            sms = InboundSms(sender=phone, body="JOIN", message_id="SM" + uuid.uuid4().hex)
            async with site.database.uow() as uow:
                reply = await handle_inbound_sms(uow, site.world.ctx, sms)
                await uow.commit()
            return reply

        page, reply = await asyncio.gather(submit(browser, token, "accept", csrf), join_by_sms())
        page_won = page.status_code == 303
        sms_won = bool(reply and reply.startswith("Welcome,"))
        assert page_won != sms_won, (page.status_code, reply)
        if not page_won:
            assert page.status_code == 410 and "already been used" in page.text
        else:
            assert reply == msg.SMS_NO_INVITATION
        assert len(await site.members(phone)) == 1
        assert (await site.invitation(token)).status is InvitationStatus.ACCEPTED
        assert await site.notes_to_head(token) == 1


# --- headers and the QR code ----------------------------------------------------------------


async def test_every_answer_carries_the_security_headers(site: Site) -> None:
    token = await site.invite()
    maria = site.browser()
    page, csrf = await open_page(maria, token)
    forged = await site.browser().post(f"/i/{token}", data={"action": "accept"})
    redirect = await submit(maria, token, "accept", csrf)
    welcome = await maria.get(f"/i/{token}")
    gone = await site.browser().get(f"/i/{token}")
    missing = await maria.get("/i/" + "A" * 43)
    responses = {
        "page": page,
        "403": forged,
        "303": redirect,
        "welcome": welcome,
        "410": gone,
        "404": missing,
    }
    assert [r.status_code for r in responses.values()] == [200, 403, 303, 200, 410, 404]
    for name, response in responses.items():
        headers = response.headers
        csp = headers["content-security-policy"]
        for directive in (
            "default-src 'none'",
            f"style-src 'sha256-{STYLE_HASH}'",
            "img-src 'self' data:",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ):
            assert directive in csp, (name, csp)
        assert "unsafe-inline" not in csp
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers["referrer-policy"] == "no-referrer", name
        assert headers["x-frame-options"] == "DENY", name
        assert headers["cache-control"] == "no-store", name
        assert "camera=()" in headers["permissions-policy"], name
    # The inline style is exactly what the hash allows.
    style = re.search(r"<style>(.*?)</style>", page.text, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert digest == STYLE_HASH


async def test_the_qr_code_is_a_png_of_the_link_while_it_is_open(site: Site) -> None:
    token = await site.invite()
    browser = site.browser()
    response = await browser.get(f"/i/{token}/qr.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert response.content == invite_qr_png(f"{PUBLIC}/i/{token}")
    unknown = await browser.get("/i/" + "A" * 43 + "/qr.png")
    assert unknown.status_code == 404
    await site.ana.say("/household")
    await site.ana.press("Cancel Invite", on="Maria Ruiz")
    await site.ana.press("Yes, cancel it")
    assert (await browser.get(f"/i/{token}/qr.png")).status_code == 404


async def test_a_used_invitation_has_no_qr_code(site: Site) -> None:
    token = await site.invite()
    maria = site.browser()
    _, csrf = await open_page(maria, token)
    await submit(maria, token, "accept", csrf)
    assert (await maria.get(f"/i/{token}/qr.png")).status_code == 404


# --- Telegram -------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_the_welcome_offers_telegram_to_link_the_chat_account(
    backend: str, tmp_path: Path
) -> None:
    async for site in build_site(backend, tmp_path, telegram_bot_username="@OakRidgeBot"):
        token = await site.invite()
        maria = site.browser()
        _, csrf = await open_page(maria, token)
        await submit(maria, token, "accept", csrf)
        welcome = await maria.get(f"/i/{token}")
        found = re.search(r'href="https://t\.me/OakRidgeBot\?start=([A-Za-z0-9_-]+)"', welcome.text)
        assert found, welcome.text
        assert ">Open in Telegram</a>" in welcome.text
        start = found.group(1)
        assert len(start) == ACCOUNT_LINK_TOKEN_LENGTH and is_account_link_token(start)
        # The invitation token is not in the deep link: it admits nobody any more.
        assert token not in start
        actor = Actor(platform="telegram", user_id="777", chat_id="777", display_name="Maria")
        async with site.database.uow() as uow:
            member = await link_account_by_token(uow, site.world.ctx, token=start, actor=actor)
            await uow.commit()
        assert member.name == "Maria Ruiz"
        async with site.database.uow() as uow:
            who = await who_is(uow, actor)
        assert who.member is not None and who.member.id == member.id


# --- the core use cases behind the page (in memory and on SQL) ------------------------------


@pytest.fixture
def core(uow_factory: UnitOfWorkFactory) -> World:
    return World(uow_factory=uow_factory)


async def _invite(world: World) -> str:
    ana = await world.head()
    await ana.say("/invite email Maria Ruiz maria@example.org")
    await ana.press("Send Invite")
    async with world.uow_factory() as uow:
        [household] = await uow.households.list()
        [invitation] = await uow.invitations.list_for_household(household.id)
    return world.ctx.tokens.make(invitation.id, invitation.nonce)


async def _answer(world: World, token: str, *, accept: bool, browser: str) -> Outcome:
    async with world.uow_factory() as uow:
        answer = await answer_on_page(uow, world.ctx, token=token, accept=accept, browser=browser)
        if answer.outcome is Outcome.DONE:
            await uow.commit()
    return answer.outcome


async def test_an_answer_is_done_once_per_browser(core: World) -> None:
    token = await _invite(core)
    assert await _answer(core, token, accept=True, browser="b1") is Outcome.DONE
    assert await _answer(core, token, accept=True, browser="b1") is Outcome.DONE
    # A stranger asking twice never becomes the browser that accepted.
    assert await _answer(core, token, accept=True, browser="b2") is Outcome.CLOSED
    assert await _answer(core, token, accept=True, browser="b2") is Outcome.CLOSED
    assert await _answer(core, token, accept=False, browser="b1") is Outcome.CLOSED
    assert await _answer(core, "A" * 43, accept=True, browser="b1") is Outcome.NOT_VALID


async def test_account_link_tokens_are_bound_expire_and_link_one_account(core: World) -> None:
    token = await _invite(core)
    await _answer(core, token, accept=True, browser="b1")
    async with core.uow_factory() as uow:
        [household] = await uow.households.list()
        [_, maria] = await uow.members.list_for_household(household.id)
    link = account_link_token(core.ctx, maria.id)
    tampered = link[:-2] + ("AA" if link[-2:] != "AA" else "BB")
    telegram = Actor(platform="telegram", user_id="1", chat_id="1")
    for bad in (tampered, "A" * ACCOUNT_LINK_TOKEN_LENGTH, token, ""):
        async with core.uow_factory() as uow:
            with pytest.raises(Refused, match="isn't valid any more"):
                await link_account_by_token(uow, core.ctx, token=bad, actor=telegram)
    async with core.uow_factory() as uow:
        await link_account_by_token(uow, core.ctx, token=link, actor=telegram)
        await uow.commit()
    async with core.uow_factory() as uow:  # the same account again: harmless
        assert (await link_account_by_token(uow, core.ctx, token=link, actor=telegram)).id == (
            maria.id
        )
    async with core.uow_factory() as uow:  # a second Telegram account: refused
        other = Actor(platform="telegram", user_id="2", chat_id="2")
        with pytest.raises(Refused, match="already linked"):
            await link_account_by_token(uow, core.ctx, token=link, actor=other)
    core.clock.advance(days=1, seconds=1)
    async with core.uow_factory() as uow:
        slack = Actor(platform="slack", user_id="U1", chat_id="D1")
        with pytest.raises(Refused, match="isn't valid any more"):
            await link_account_by_token(uow, core.ctx, token=link, actor=slack)


# --- languages: the invitation's, the switch, Accept-Language --------------------------------


async def spanish_invitation(site: Site) -> str:
    """Ana (English) invites Maria in Spanish (Edit → Language); the token of the link."""
    await site.ana.say("/invite email Maria Ruiz maria@example.org")
    await site.ana.press("Edit")
    await site.ana.press("Language")
    await site.ana.press("Español")
    await site.ana.press("Send Invite")
    invitation = await site.invitation_to("maria@example.org")
    assert invitation.language == "es"
    return site.world.ctx.tokens.make(invitation.id, invitation.nonce)


async def test_a_spanish_invitation_shows_spanish_with_a_switch_to_english(site: Site) -> None:
    es = Words("es")
    token = await spanish_invitation(site)
    browser = site.browser()
    response, csrf = await open_page(browser, token)
    page = response.text
    assert '<html lang="es">' in page and response.headers["content-language"] == "es"
    title = es(msg.PAGE_INVITED_TITLE, address="12 Oak Lane")
    assert f"<h1>{html.escape(title, quote=True)}</h1>" in page and title != msg.PAGE_INVITED_TITLE
    assert html.escape(es(msg.PAGE_ACCEPT)) in page
    invitation = await site.invitation(token)
    assert es.when(invitation.expires_at) in page  # "21 dic 2026, 10:30 UTC"
    # The switch: a link to the same page in English, named in English.
    assert '<a href="?lang=en" hreflang="en" lang="en">English</a>' in page
    assert "?lang=es" not in page

    english = await browser.get(f"/i/{token}?lang=en")
    assert '<html lang="en">' in english.text
    assert "<h1>You&#39;re invited to join 12 Oak Lane</h1>" in english.text
    assert 'name="lang" value="en"' in english.text  # the forms keep the choice
    assert '<a href="?lang=es" hreflang="es" lang="es">Español</a>' in english.text

    # Accepting from the English page stays in English.
    csrf = _CSRF.search(english.text).group(1)  # type: ignore[union-attr]
    done = await browser.post(
        f"/i/{token}", data={"csrf": csrf, "action": "accept", "lang": "en"}, headers=SAME_SITE
    )
    assert done.status_code == 303 and done.headers["location"] == f"/i/{token}?lang=en"
    welcome = await browser.get(done.headers["location"])
    assert "<h1>Welcome, Maria Ruiz!</h1>" in welcome.text
    # Without the switch, the invitation's language again.
    again = await browser.get(f"/i/{token}")
    assert html.escape(es(msg.PAGE_WELCOME_TITLE, name="Maria Ruiz")) in again.text


async def test_accept_language_for_a_page_that_names_none(site: Site) -> None:
    es = Words("es")
    browser = site.browser()
    headers = {"Accept-Language": "es-MX,es;q=0.9,en;q=0.8"}
    nobody = await browser.get("/i/" + "A" * 43, headers=headers)
    assert nobody.status_code == 404
    assert html.escape(es(msg.PAGE_NOT_VALID_TITLE)) in nobody.text
    assert nobody.headers["vary"] == "Accept-Language"
    # An English invitation stays English whatever the browser prefers.
    token = await site.invite()
    page = await browser.get(f"/i/{token}", headers=headers)
    assert '<html lang="en">' in page.text
    # A language the page does not speak, or nonsense, is no choice at all.
    for odd in ("fr", "xx", "<script>", "e" * 5000):
        shown = await browser.get(f"/i/{token}", params={"lang": odd})
        assert shown.status_code == 200 and '<html lang="en">' in shown.text
