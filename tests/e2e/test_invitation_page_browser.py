"""The invitation page in a real browser: headless Chromium (Debian's ``chromium`` package)
driven by Playwright's sync API, against the app served by uvicorn on a loopback port.

Covered: open a link, accept, see the welcome (and the back button after it); decline; a
cancelled link; an expired link; a name with ``<script>`` in it shown as text; the page at 360
pixels wide (no sideways scrolling, a screenshot in ``test-artifacts/``), keyboard focus order,
contrast, and that none of it needs JavaScript.

The browser tests need Chromium and Playwright. Without them they are skipped, with the
reason, on a developer's machine; with ``CI`` set they fail instead, so CI cannot pass without
running them (``.ci/run`` installs Chromium). They run on SQLite only: they test the page,
not the database (``tests/handlers/test_invitation_page.py`` covers both).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest
import uvicorn

from bot.domain import Limits
from handlers.app import create_app
from handlers.settings import Settings
from storage import Database
from tests.fakes import FakeClock
from tests.storage.databases import FAST_PATH
from tests.unit.conftest import SECRET, World

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = os.environ.get("INVITEBOT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 360, "height": 740}
TELEGRAM_BOT = "OakRidgeBot"
T = TypeVar("T")


def _missing() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed: .venv/bin/pip install -e '.[test]'"
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return (
            f"Chromium is not installed ({CHROMIUM} not found): "
            "apt-get install chromium (.ci/run does this in CI)"
        )
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests are required in CI: {reason}", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Site:
    """The app served for real on loopback, and a way to set up invitations in its database."""

    base_url: str
    database_url: str

    def run(self, work: Callable[[World], Awaitable[T]]) -> T:
        """Run ``work`` with a :class:`World` on the app's database, as another process would:
        its own engine and event loop (in a thread of its own, since Playwright's sync API
        keeps a loop running in this one), on the same SQLite file."""

        async def main() -> T:
            database = Database(self.database_url, fast_path=FAST_PATH)
            try:
                world = World(
                    uow_factory=database.uow,
                    clock=FakeClock(datetime.now(UTC)),
                    limits=Limits(invites_per_hour=100, invites_per_day=100),
                )
                return await work(world)
            finally:
                await database.dispose()

        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, main()).result()

    def invite(
        self,
        name: str,
        *,
        address: str,
        contact: str = "maria@example.org",
        days_ago: float = 0,
        cancel: bool = False,
    ) -> str:
        """A new household at ``address`` whose head, Ana Lopez, invites ``name``; the link.
        ``days_ago`` backdates the invitation (eight days: expired); ``cancel`` cancels it."""

        async def work(world: World) -> str:
            ana = await world.head(user_id=f"ana-{address}", address=address)
            world.clock.advance(days=-days_ago)
            await ana.say(f"/invite email {name} {contact}")
            await ana.press("Send Invite")
            assert "Invitation sent" in ana.text, ana.text
            world.clock.advance(days=days_ago)
            async with world.uow_factory() as uow:
                [invitation] = await uow.invitations.list_pending_for_contact(contact)
            token = world.ctx.tokens.make(invitation.id, invitation.nonce)
            if cancel:
                await ana.say("/household")
                await ana.press("Cancel Invite")
                await ana.press("Yes, cancel it")
                assert "cancelled" in ana.text, ana.text
            return f"{self.base_url}/i/{token}"

        return self.run(work)


@pytest.fixture(scope="module")
def site(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The app as ``invitebot serve`` runs it (it migrates its fresh SQLite file itself),
    served by uvicorn in a thread on a free loopback port."""
    directory = tmp_path_factory.mktemp("browser")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    database_url = f"sqlite+aiosqlite:///{directory / 'invitebot.db'}"
    settings = Settings(
        database_url=database_url,
        secret_key=SECRET.decode(),
        public_base_url=base_url,
        telegram_bot_username=TELEGRAM_BOT,
    )
    config = uvicorn.Config(
        create_app(settings, dispatch=False),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield Site(base_url=base_url, database_url=database_url)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def console() -> list[str]:
    """What the browser logs while a test runs (it reports Content Security Policy
    violations there)."""
    return []


@pytest.fixture
def page(browser: Browser, console: list[str]) -> Iterator[Page]:
    """A phone-sized page with JavaScript off: the page must work without it."""
    context = browser.new_context(
        viewport=PHONE, java_script_enabled=False, locale="en-US", is_mobile=True, has_touch=True
    )
    opened = context.new_page()
    opened.on("console", lambda message: console.append(message.text))
    try:
        yield opened
    finally:
        context.close()


def heading(page: Page) -> str:
    return page.locator("h1").inner_text()


def no_csp_violations(console: list[str]) -> None:
    assert [line for line in console if "Content Security Policy" in line] == []


# The relative luminance and contrast of WCAG 2, of an element's text on its background
# (the nearest ancestor with an opaque one).
CONTRAST_JS = """element => {
  const rgb = text => text.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map(v => v / 255).map(
      v => v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  let node = element, background = null;
  while (node && node.nodeType === 1) {
    const color = rgb(getComputedStyle(node).backgroundColor);
    if (color.length < 4 || color[3] === 1) { background = color; break; }
    node = node.parentElement;
  }
  background = background || [255, 255, 255];
  const [a, b] = [lum(rgb(getComputedStyle(element).color)), lum(background)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


def contrast(page: Page, selector: str) -> float:
    return page.locator(selector).first.evaluate(CONTRAST_JS)


def check_phone_layout(page: Page, screenshot: str) -> None:
    """Readable at 360 px: nothing wider than the screen, touch-sized buttons, text with
    at least 4.5:1 contrast; and a screenshot to look at."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)


# --- the tests ------------------------------------------------------------------------------


def test_open_a_link_accept_and_see_the_welcome(site: Site, page: Page, console: list[str]) -> None:
    link = site.invite("Maria Ruiz", address="1 Maple Court")
    response = page.goto(link)
    assert response is not None and response.status == 200
    assert heading(page) == "You're invited to join 1 Maple Court"
    body = page.locator("main").inner_text()
    assert "Ana Lopez invited you to join their household at 1 Maple Court in Oak Ridge HOA." in (
        body
    )
    assert "Invitation expires" in body and "UTC" in body
    assert "You will join as Maria Ruiz." in body
    accept = page.get_by_role("button", name="Accept invitation")
    decline = page.get_by_role("button", name="Decline")
    assert accept.is_visible() and decline.is_visible()
    assert accept.bounding_box()["height"] >= 44  # type: ignore[index]
    for selector in ("h1", "dd", "p.muted", "p.muted a", "button.primary", "button.secondary"):
        assert contrast(page, selector) >= 4.5, selector
    check_phone_layout(page, "invitation-page-360.png")
    no_csp_violations(console)

    # The keyboard reaches Accept first, then Decline, with a visible focus ring.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Accept invitation"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Decline"

    accept.click()
    page.wait_for_load_state()
    assert heading(page) == "Welcome, Maria Ruiz!"
    welcome = page.locator("main").inner_text()
    assert "You are now a member of the household at 1 Maple Court in Oak Ridge HOA." in welcome
    assert "What to do next" in welcome
    telegram = page.get_by_role("link", name="Open in Telegram")
    assert telegram.get_attribute("href").startswith(f"https://t.me/{TELEGRAM_BOT}?start=")
    contact = page.get_by_role("link", name="board@oakridge.example")
    assert contact.get_attribute("href") == "mailto:board@oakridge.example"
    check_phone_layout(page, "invitation-welcome-360.png")
    no_csp_violations(console)

    # Back to the form, and back again: the welcome, never a second member or an error.
    page.go_back()
    assert heading(page) == "Welcome, Maria Ruiz!"
    page.reload()
    assert heading(page) == "Welcome, Maria Ruiz!"


def test_decline(site: Site, page: Page, console: list[str]) -> None:
    link = site.invite("Luis Ruiz", address="2 Maple Court", contact="luis@example.org")
    page.goto(link)
    page.get_by_role("button", name="Decline").click()
    page.wait_for_load_state()
    assert heading(page) == "Invitation declined"
    assert "You declined the invitation to 2 Maple Court." in page.locator("main").inner_text()
    no_csp_violations(console)


def test_a_cancelled_link(site: Site, page: Page, console: list[str]) -> None:
    link = site.invite("Eva Ruiz", address="3 Maple Court", contact="eva@example.org", cancel=True)
    response = page.goto(link)
    assert response is not None and response.status == 404
    assert heading(page) == "This link isn't valid"
    text = page.locator("main").inner_text()
    assert "been cancelled" in text and "ask the person who invited you" in text
    assert page.get_by_role("button").count() == 0
    assert "Maple" not in text and "Eva" not in text
    no_csp_violations(console)


def test_an_expired_link(site: Site, page: Page, console: list[str]) -> None:
    link = site.invite("Tom Ruiz", address="4 Maple Court", contact="tom@example.org", days_ago=8)
    response = page.goto(link)
    assert response is not None and response.status == 410
    assert heading(page) == "This invitation has expired"
    assert "Please ask Ana Lopez to send it to you again." in page.locator("main").inner_text()
    assert page.get_by_role("button").count() == 0
    no_csp_violations(console)


def test_a_name_with_a_script_is_shown_as_text(site: Site, page: Page, console: list[str]) -> None:
    name = "Mia <script>document.title='owned'</script> <b>Ruiz</b>"
    link = site.invite(name, address="5 Maple Court", contact="mia@example.org")
    page.goto(link)
    assert f"You will join as {name}." in page.locator("main").inner_text()
    assert page.locator("script").count() == 0 and page.locator("main b").count() == 0
    assert page.title() == "You're invited to join 5 Maple Court"
    page.get_by_role("button", name="Accept invitation").click()
    page.wait_for_load_state()
    assert heading(page) == f"Welcome, {name}!"
    assert page.locator("script").count() == 0
    no_csp_violations(console)


def test_the_same_page_with_javascript_on_keeps_to_its_policy(site: Site, browser: Browser) -> None:
    """With JavaScript on, nothing on the page is refused by its own Content Security
    Policy (the inline style is allowed by hash), and nothing runs."""
    link = site.invite("Ana Ruiz", address="6 Maple Court", contact="ana.r@example.org")
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        logged: list[str] = []
        page.on("console", lambda message: logged.append(message.text))
        page.on("pageerror", lambda error: logged.append(str(error)))
        page.goto(link)
        # The inline style applies: the hash in the policy matches it.
        assert page.evaluate("getComputedStyle(document.body).margin") == "0px"
        assert page.evaluate("getComputedStyle(document.querySelector('.card')).borderRadius")
        assert logged == []
    finally:
        context.close()
