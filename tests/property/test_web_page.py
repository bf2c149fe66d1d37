"""The invitation page ``GET/POST /i/{token}`` (and its QR code) through the real app on
SQLite, with any token in the path and any form fields: never a 5xx, never a failure in the
log, an invitation changes only through a POST that carries the form token its page gave, and
whatever is stored stays valid."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.domain import InvitationStatus
from handlers.app import create_app
from handlers.settings import Settings
from storage import Database
from tests.chat import Person
from tests.property.flows import GENEROUS, fresh_email
from tests.property.invariants import assert_all_stored_valid, assert_no_failure_logged
from tests.property.profiles import examples
from tests.property.strategies import strings, texts
from tests.storage.databases import fresh_database
from tests.unit.conftest import SECRET, World

PUBLIC = "https://hoa.example"
SAME_SITE = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass
class Site:
    app: object
    database: Database
    world: World
    ana: Person
    token: str = ""

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=PUBLIC)

    async def open_token(self) -> str:
        """The token of an open invitation: the one from the example before, while it is
        still open, else a new one."""
        if self.token:
            async with self.database.uow() as uow:
                invitation = await uow.invitations.get(
                    self.world.ctx.tokens.invitation_id_of(self.token) or ""
                )
            if invitation is not None and invitation.status is InvitationStatus.PENDING:
                return self.token
        self.token = await self.invite()
        return self.token

    async def invite(self) -> str:
        """A new open invitation (by email) from Ana; its token."""
        email = fresh_email()
        await self.ana.say("/cancel")
        await self.ana.say(f"/invite email Maria Ruiz {email}")
        await self.ana.press("Send Invite")
        assert "Invitation sent" in self.ana.text, self.ana.text
        async with self.database.uow() as uow:
            [household] = await uow.households.list()
            [invitation] = [
                i
                for i in await uow.invitations.list_for_household(household.id)
                if i.contact == email
            ]
        return self.world.ctx.tokens.make(invitation.id, invitation.nonce)

    async def statuses(self) -> dict[str, InvitationStatus]:
        state = await assert_all_stored_valid(self.database.uow)
        return {i.id: i.status for i in state.invitations}


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with fresh_database("sqlite", tmp_path) as database:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db",
            secret_key=SECRET.decode(),
            public_base_url=PUBLIC,
            telegram_bot_username="oakridge_bot",
            # The examples of one test all come from one client address: the page's throttle
            # (tests/security/test_throttles.py) would answer most of them 429.
            page_requests_per_minute=GENEROUS.page_requests_per_address,
        )
        world = World(uow_factory=database.uow, limits=GENEROUS)
        app = create_app(settings, dispatch=False, database=database, clock=world.clock)
        yield Site(app=app, database=database, world=world, ana=await world.head())


def near_misses(token: str) -> st.SearchStrategy[str]:
    """A real token, and tokens one slip away from it."""

    @st.composite
    def slip(draw: st.DrawFn) -> str:
        at = draw(st.integers(0, len(token) - 1))
        char = draw(st.sampled_from(TOKEN_ALPHABET))
        return token[:at] + char + token[at + 1 :]

    return st.one_of(
        st.just(token),
        slip(),
        st.sampled_from(
            [token + "=", token + "\n", token[:-1], token + "A", token.upper(), f" {token}"]
        ),
    )


def tokens_for(token: str) -> st.SearchStrategy[str]:
    return st.one_of(
        near_misses(token),
        st.text(st.sampled_from(TOKEN_ALPHABET), min_size=43, max_size=43),
        texts(surrogates=False, long=False),
        # Long, but within what an HTTP client sends (httpx refuses URLs over 64 kB).
        strings(surrogates=False, min_size=1, max_size=4).map(lambda s: s * (5000 // len(s))),
    )


def path_of(token: str) -> str:
    return "/i/" + quote(token, safe="")


@examples(40)
@given(data=st.data())
@example(data=None)  # the real token itself
async def test_any_token_gets_a_page_never_an_error(
    site: Site, caplog: pytest.LogCaptureFixture, data: st.DataObject | None
) -> None:
    caplog.set_level(logging.INFO)
    real = await site.open_token()
    token = data.draw(tokens_for(real), label="token") if data is not None else real
    before = await site.statuses()
    async with site.browser() as browser:
        page = await browser.get(path_of(token))
        qr = await browser.get(path_of(token) + "/qr.png")
    # 307: a token ending in an escaped "/" is a path with a trailing slash, which the
    # router redirects to the path without it.
    assert page.status_code in (200, 307, 404, 410), page.status_code
    assert qr.status_code in (200, 307, 404), qr.status_code
    if page.status_code == 200:
        assert token == real
        assert "text/html" in page.headers["content-type"]
    assert page.text.strip() or page.status_code == 307
    assert await site.statuses() == before, "a GET changed an invitation"
    assert_no_failure_logged(caplog)


form_values = st.one_of(
    st.sampled_from(["accept", "decline", "ACCEPT", "", "accept\x00"]),
    texts(surrogates=False, long=False),
    strings(surrogates=False, min_size=1000, max_size=5000),
)


@examples(40)
@given(
    data=st.data(),
    use_csrf=st.booleans(),
    action=form_values,
    extra=st.dictionaries(
        st.one_of(st.sampled_from(["csrf", "action"]), strings(surrogates=False, max_size=10)),
        form_values,
        max_size=3,
    ),
    headers=st.sampled_from(
        [
            SAME_SITE,
            {},
            {"Sec-Fetch-Site": "cross-site"},
            {"Origin": "https://evil.example"},
            {"Origin": "null", "Sec-Fetch-Site": "NONE"},
        ]
    ),
)
@example(data=None, use_csrf=True, action="accept", extra={}, headers=SAME_SITE)
@example(data=None, use_csrf=True, action="decline", extra={}, headers=SAME_SITE)
async def test_any_form_post_is_answered_and_changes_only_what_it_may(
    site: Site,
    caplog: pytest.LogCaptureFixture,
    data: st.DataObject | None,
    use_csrf: bool,
    action: str,
    extra: dict[str, str],
    headers: dict[str, str],
) -> None:
    caplog.set_level(logging.INFO)
    real = await site.open_token()
    token = data.draw(tokens_for(real), label="token") if data is not None else real
    before = await site.statuses()
    async with site.browser() as browser:
        opened = await browser.get(path_of(real))
        found = _CSRF.search(opened.text)
        assert found, opened.text
        form = {**extra, "action": action}
        form["csrf"] = found.group(1) if use_csrf else extra.get("csrf", secrets.token_urlsafe(8))
        response = await browser.post(path_of(token), data=form, headers=headers)
        assert response.status_code in (303, 307, 400, 403, 404, 410), response.status_code
        assert response.text.strip() or response.status_code in (303, 307)
        if response.status_code == 303:
            assert response.headers["location"] == f"/i/{token}"
            welcome = await browser.get(path_of(token))
            assert welcome.status_code == 200
    after = await site.statuses()
    changed = {i for i in before if after[i] != before[i]}
    authentic = token == real and use_csrf and action in ("accept", "decline")
    if response.status_code == 303:
        assert authentic
        assert len(changed) == 1
    else:
        assert not changed, (response.status_code, changed)
    assert_no_failure_logged(caplog)


@examples(30)
@given(raw=st.binary(max_size=60))
@example(raw=b"%ff%fe")
@example(raw=b"\xff")
async def test_any_bytes_in_the_path(site: Site, raw: bytes) -> None:
    path = "/i/" + quote(raw, safe="")
    async with site.browser() as browser:
        response = await browser.get(path)
        posted = await browser.post(path, data={"action": "accept"}, headers=SAME_SITE)
    assert response.status_code in (200, 307, 404, 410)
    assert posted.status_code in (307, 400, 403, 404, 405, 410)
