"""The invitation landing page: ``GET/POST /i/<token>`` and ``GET /i/<token>/qr.png``.

A person taps the link in their text message or email and sees, on a phone, who invited them
to which household and until when, with two buttons: Accept and Decline. Accepting asks for
nothing the invitation already knows; the page then welcomes them and says what to do next.

What each request gets:

- an open invitation: the page with the two forms (200);
- an invitation this browser answered: the welcome, or the "you declined" page (200);
- an invitation closed otherwise (used, declined, expired): what happened and what to do (410);
- an unknown, forged or voided token (a cancel or a new link changes the token): one generic
  "this link isn't valid" page (404), identical whatever the reason;
- a POST that fails the CSRF checks: a friendly 403, and nothing changes;
- too many requests from one client address (``Limits.page_requests_per_address`` per
  ``page_request_window``, counted in the database so every process shares the count): a
  friendly 429 with ``Retry-After``, before anything else is looked at. The address is the
  connection's peer, or, only when that peer is one of the configured trusted proxies, the
  client ``X-Forwarded-For`` names; an IPv6 client counts by its /64, which one subscriber
  usually holds whole.

There are no sessions, so the forms are protected by a *signed double-submit cookie*: a
random browser key in an HttpOnly, SameSite=Strict cookie, and in each form a token that is
an HMAC (under the server's secret) of that key, the invitation token and the time it was
issued. A POST must carry both, matching and fresh, and must not come from another site
(``Sec-Fetch-Site`` and ``Origin``, when the browser sends them). A successful POST redirects
(303) to ``GET /i/<token>``, which shows the welcome to the browser that accepted, recognised
by a signed cookie scoped to that invitation's path; the same POST again (a double click, the
back button) finds the answer's receipt and redirects the same way, with no second effect.

Pages are rendered by Jinja2 with autoescaping on, need no JavaScript, carry their CSS
inline (allowed by its hash in the Content-Security-Policy), and are sent with headers that
keep the secret link out of caches, referrers and frames.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import segno
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot import messages as msg
from bot.context import CoreContext
from bot.domain import InvitationStatus
from bot.invitation_page import (
    InvitationPage,
    Outcome,
    account_link_token,
    answer_on_page,
    invitation_page,
)
from bot.language import Words
from bot.ports import UnitOfWorkFactory
from bot.rules import Throttled
from bot.secrets import TokenMaker
from bot.throttles import check_page_request

from .client_address import client_address, parse_networks
from .page_language import QUERY, page_words, picked, switch

log = logging.getLogger("invitebot.web_page")

HERE = Path(__file__).parent
MAX_FORM_BYTES = 4 * 1024
FORM_TOKEN_TTL_SECONDS = 12 * 3600
"""How long a page may stay open before its forms are refused (and the person reloads)."""
ANSWER_COOKIE_SECONDS = 7 * 24 * 3600
"""How long the browser that accepted sees the welcome again at the invitation link."""

_BROWSER_KEY = re.compile(r"[A-Za-z0-9_-]{43}")
_SECONDS = re.compile(r"[0-9]{1,12}")
_TELEGRAM_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
_ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})

STYLE = (HERE / "static" / "page.css").read_text(encoding="utf-8")
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode("utf-8")).digest()).decode("ascii")

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    f"style-src 'sha256-{STYLE_HASH}'; "
    "img-src 'self' data:; "
    "form-action 'self'; "
    "frame-ancestors 'none'; "
    "base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # The URL holds the secret token: never send it on to another site.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Nor keep it, or the page about it, in any cache.
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Robots-Tag": "noindex, nofollow",
}

_EMAIL = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{5,}[0-9]$")


def with_contact(sentence: str, contact: str) -> Markup:
    """``sentence`` with its ``{hoa}`` field filled by ``contact``, as a link a phone can
    tap when it is an email address or a phone number. Everything is escaped but the link."""
    contact = contact.strip()
    if _EMAIL.match(contact):
        shown = Markup('<a href="mailto:{0}">{0}</a>').format(contact)
    elif _PHONE.match(contact):
        digits = re.sub(r"[^0-9+]", "", contact)
        shown = Markup('<a href="tel:{0}">{1}</a>').format(digits, contact)
    else:
        shown = escape(contact)
    return escape(sentence).format(hoa=shown)


_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.globals["with_contact"] = with_contact


def invite_qr_png(link: str, *, scale: int = 8) -> bytes:
    """A QR code of ``link`` as PNG bytes, for showing an invitation in person. Chat adapters
    can send these bytes as a photo, or point the platform at ``GET /i/<token>/qr.png``."""
    buffer = io.BytesIO()
    segno.make(link, error="m", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def _same(expected: str, given: str) -> bool:
    """Constant-time comparison that takes any text a client sends (``compare_digest``
    refuses non-ASCII ``str``)."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogateescape"))


def _mac(key: bytes, *parts: str) -> str:
    digest = hmac.new(key, ":".join(parts).encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class PageSigner:
    """The page's own signatures: form tokens and the "this browser answered" cookie.

    Its key is derived from the server's secret for this purpose alone, so nothing signed
    here can stand in for an invitation token or an access code hash, nor the reverse.
    """

    key: bytes

    @classmethod
    def from_secret(cls, secret_key: bytes) -> PageSigner:
        return cls(hmac.new(secret_key, b"invitebot web page v1", hashlib.sha256).digest())

    def form_token(self, *, browser: str, token: str, now: int) -> str:
        return f"{now}.{_mac(self.key, 'form', browser, token, str(now))}"

    def form_token_ok(self, value: str, *, browser: str, token: str, now: int) -> bool:
        issued_text, _, mac = value.partition(".")
        if not _SECONDS.fullmatch(issued_text):
            return False
        issued = int(issued_text)
        expected = _mac(self.key, "form", browser, token, issued_text)
        fresh = now - FORM_TOKEN_TTL_SECONDS <= issued <= now + 60
        return _same(expected, mac) and fresh

    def answer_cookie(self, *, invitation_id: str, answer: str, now: int) -> str:
        return f"{answer}.{now}.{_mac(self.key, 'answer', invitation_id, answer, str(now))}"

    def answered(self, value: str, *, invitation_id: str, now: int) -> str | None:
        """The answer (``accepted``/``declined``) this browser gave, if the cookie says so."""
        answer, _, rest = value.partition(".")
        issued_text, _, mac = rest.partition(".")
        if answer not in ("accepted", "declined") or not _SECONDS.fullmatch(issued_text):
            return None
        if int(issued_text) < now - ANSWER_COOKIE_SECONDS:
            return None
        expected = _mac(self.key, "answer", invitation_id, answer, issued_text)
        return answer if _same(expected, mac) else None


def _origin_of(url: str) -> str:
    """``scheme://host[:port]`` as a browser writes it in ``Origin`` (default ports left out)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


class InvitationPageRoutes:
    """The routes of the invitation page, in the style of the other web adapters."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        ctx: CoreContext,
        public_base_url: str,
        telegram_bot_username: str | None = None,
        trusted_proxies: Iterable[str] = (),
    ) -> None:
        self.uow_factory = uow_factory
        self.trusted_proxies = parse_networks(trusted_proxies)
        self.ctx = ctx
        self.signer = PageSigner.from_secret(ctx.secret_key)
        self.public_origin = _origin_of(public_base_url)
        self.secure_cookies = urlsplit(public_base_url).scheme.lower() == "https"
        # "__Host-" makes the browser refuse the cookie unless Secure, host-only and Path=/,
        # so a sibling subdomain cannot plant one. It needs HTTPS, like Secure.
        self.browser_cookie = "__Host-invitebot" if self.secure_cookies else "invitebot"
        self.answer_cookie = (
            "__Secure-invitebot-answer" if self.secure_cookies else "invitebot-answer"
        )
        username = (telegram_bot_username or "").strip().lstrip("@")
        self.telegram_bot_username = username if _TELEGRAM_USERNAME.match(username) else None

    @property
    def routes(self) -> list[Route]:
        return [
            Route("/i/{token}", self.page, methods=["GET", "POST"]),
            Route("/i/{token}/qr.png", self.qr_code, methods=["GET"]),
        ]

    # --- requests --------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        token = request.path_params["token"]
        too_many = await self._too_many(request)
        if too_many is not None:
            return too_many
        if request.method == "POST":
            return await self._answer(request, token)
        chosen = picked(request.query_params.get(QUERY))
        if TokenMaker.invitation_id_of(token) is None:
            return self._not_valid(self._words(request, chosen))
        async with self.uow_factory() as uow:
            page = await invitation_page(uow, self.ctx, token)
        if page is None:
            return self._not_valid(self._words(request, chosen))
        words = self._words(request, chosen, page)
        now = self._now()
        answered = self.signer.answered(
            request.cookies.get(self.answer_cookie, ""),
            invitation_id=page.invitation.id,
            now=now,
        )
        if page.status is InvitationStatus.ACCEPTED and answered == "accepted":
            return self._welcome(page, words)
        if page.status is InvitationStatus.DECLINED and answered == "declined":
            return self._render("page_declined.html", words, page=page)
        if not page.is_open:
            return self._closed(page, words)
        browser = request.cookies.get(self.browser_cookie, "")
        fresh_browser = not _BROWSER_KEY.fullmatch(browser)
        if fresh_browser:
            browser = secrets.token_urlsafe(32)
        response = self._render(
            "page_invitation.html",
            words,
            page=page,
            token=token,
            chosen=chosen,
            form_token=self.signer.form_token(browser=browser, token=token, now=now),
        )
        if fresh_browser:
            response.set_cookie(
                self.browser_cookie,
                browser,
                path="/",
                secure=self.secure_cookies,
                httponly=True,
                samesite="strict",
            )
        return response

    async def _answer(self, request: Request, token: str) -> Response:
        if not self._same_site(request):
            log.warning("refused an invitation answer from another site")
            return self._form_problem(token, self._words(request, ""))
        form = await self._small_form(request)
        chosen = picked(form.get(QUERY)) if form is not None else ""
        browser = request.cookies.get(self.browser_cookie, "")
        if form is None or not _BROWSER_KEY.fullmatch(browser):
            return self._form_problem(token, self._words(request, chosen), chosen=chosen)
        if not self.signer.form_token_ok(
            form.get("csrf", ""), browser=browser, token=token, now=self._now()
        ):
            return self._form_problem(token, self._words(request, chosen), chosen=chosen)
        action = form.get("action", "")
        if action not in ("accept", "decline"):
            words = self._words(request, chosen)
            return self._form_problem(token, words, chosen=chosen, status_code=400)
        async with self.uow_factory() as uow:
            answer = await answer_on_page(
                uow,
                self.ctx,
                token=token,
                accept=action == "accept",
                browser=hashlib.sha256(browser.encode()).hexdigest()[:32],
            )
            if answer.outcome is Outcome.DONE:
                await uow.commit()
        if answer.outcome is Outcome.NOT_VALID or answer.page is None:
            return self._not_valid(self._words(request, chosen))
        if answer.outcome is Outcome.CLOSED:
            return self._closed(answer.page, self._words(request, chosen, answer.page))
        invitation = answer.page.invitation
        log.info("invitation %s %s on the web page", invitation.id, invitation.status)
        again = f"/i/{token}?{QUERY}={chosen}" if chosen else f"/i/{token}"
        response = RedirectResponse(again, status_code=303, headers=SECURITY_HEADERS)
        response.set_cookie(
            self.answer_cookie,
            self.signer.answer_cookie(
                invitation_id=invitation.id, answer=str(invitation.status), now=self._now()
            ),
            max_age=ANSWER_COOKIE_SECONDS,
            path=f"/i/{token}",
            secure=self.secure_cookies,
            httponly=True,
            # Lax, not Strict: coming back from the link in a text message or email (another
            # site) should show the welcome again, and the cookie only ever unlocks a GET.
            samesite="lax",
        )
        return response

    async def qr_code(self, request: Request) -> Response:
        token = request.path_params["token"]
        too_many = await self._too_many(request)
        if too_many is not None:
            return too_many
        words = self._words(request, picked(request.query_params.get(QUERY)))
        if TokenMaker.invitation_id_of(token) is None:
            return self._not_valid(words)
        async with self.uow_factory() as uow:
            page = await invitation_page(uow, self.ctx, token)
        if page is None or not page.is_open:
            # A closed invitation's code would only lead to a dead end: no code at all.
            return self._not_valid(words)
        return Response(
            invite_qr_png(self.ctx.link_for(token)),
            media_type="image/png",
            headers={**SECURITY_HEADERS, "Content-Disposition": 'inline; filename="invite.png"'},
        )

    # --- checks ----------------------------------------------------------------------------

    async def _too_many(self, request: Request) -> Response | None:
        """Count this request against its client address; past the limit, the 429 page.
        The count is committed even when refused, so the log's warning comes once a window
        (see :func:`bot.throttles.check_page_request`)."""
        refused: Throttled | None = None
        async with self.uow_factory() as uow:
            try:
                await check_page_request(
                    uow, self.ctx, address=client_address(request, self.trusted_proxies)
                )
            except Throttled as throttled:
                refused = throttled
            await uow.commit()
        if refused is None:
            return None
        seconds = max(1, int(refused.retry_after.total_seconds() + 0.999))
        words = self._words(request, picked(request.query_params.get(QUERY)))
        sentence = words.say(refused.say)
        response = self._render("page_too_many.html", words, status_code=429, sentence=sentence)
        response.headers["Retry-After"] = str(seconds)
        return response

    def _same_site(self, request: Request) -> bool:
        """Refuse what a browser marks as coming from another site.

        ``Sec-Fetch-Site`` is the reliable signal. ``Origin`` is ``null`` on every form this
        page posts (its ``Referrer-Policy: no-referrer`` makes browsers hide the origin), so
        only an origin that is present, not ``null`` and not ours counts against a request.
        Requests with neither header (old browsers, scripts) still need the cookie and the
        signed form token, which another site can neither read nor make.
        """
        fetch_site = request.headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site.lower() not in _ALLOWED_FETCH_SITES:
            return False
        origin = (request.headers.get("origin") or "null").lower()
        return origin in ("null", self.public_origin)

    async def _small_form(self, request: Request) -> dict[str, str] | None:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return None
        if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
            return None
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return None
        form = await request.form()
        return {key: value for key, value in form.items() if isinstance(value, str)}

    # --- pages -----------------------------------------------------------------------------

    def _now(self) -> int:
        return int(self.ctx.clock.now().timestamp())

    def _words(self, request: Request, chosen: str, page: InvitationPage | None = None) -> Words:
        """The reader's words (see :mod:`handlers.page_language`)."""
        return page_words(
            self.ctx,
            chosen=chosen,
            invitation_language=page.invitation.language if page else "",
            accept_language=request.headers.get("accept-language"),
            timezone=page.timezone if page else "",
        )

    def _render(
        self, template: str, words: Words, *, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        html = _templates.get_template(template).render(
            msg=msg,
            say=words,
            when=words.when,
            language=words.language,
            switch=switch(words),
            style=Markup(STYLE),
            **{"chosen": "", **context},
        )
        response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
        # The page's words depend on Accept-Language (when the link names no language).
        response.headers["Vary"] = "Accept-Language"
        response.headers["Content-Language"] = words.language
        return response

    def _welcome(self, page: InvitationPage, words: Words) -> HTMLResponse:
        telegram_link = None
        member_id = page.invitation.member_id
        if self.telegram_bot_username and member_id:
            start = account_link_token(self.ctx, member_id)
            telegram_link = f"https://t.me/{self.telegram_bot_username}?start={start}"
        return self._render("page_welcome.html", words, page=page, telegram_link=telegram_link)

    def _closed(self, page: InvitationPage, words: Words) -> HTMLResponse:
        title, what, next_step = msg.PAGE_CLOSED[str(page.status)]
        fields = {"inviter": page.inviter, "expired": page.invitation.expires_at}
        return self._render(
            "page_closed.html",
            words,
            status_code=410,
            page=page,
            title=words(title),
            what=words(what, **fields),
            next_step=words(next_step, **fields),
        )

    def _not_valid(self, words: Words) -> HTMLResponse:
        """The one answer for every token that names no invitation: nothing in it varies
        but the reader's language."""
        return self._render("page_not_valid.html", words, status_code=404)

    def _form_problem(
        self, token: str, words: Words, *, chosen: str = "", status_code: int = 403
    ) -> HTMLResponse:
        well_formed = TokenMaker.invitation_id_of(token) is not None
        again = f"/i/{token}?{QUERY}={chosen}" if chosen else f"/i/{token}"
        return self._render(
            "page_form_problem.html",
            words,
            status_code=status_code,
            again=again if well_formed else None,
        )
