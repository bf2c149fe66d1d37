"""An invitation by email from Slack, end to end: the head claims the household and invites
with a slash command and buttons in their DM with the app (signed requests to the real
``POST /slack/events``), the real SMTP sender delivers to a real SMTP server on loopback, the
invitee accepts on the invitation page the mail links to, and the head's Slack DM gets the
notification through the outbox and the real Slack sender, against the fake Web API; their
home tab is published again too. On SQLite, and on PostgreSQL when configured."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from bot.delivery import Dispatcher
from bot.domain import Channel, InvitationStatus, Route
from handlers.settings import Settings
from handlers.slack.bot import SlackAdapter
from handlers.slack.client import make_client
from handlers.slack.sender import SlackChatSender
from handlers.slack.webhook import SlackEvents
from handlers.slack.wiring import slack_chat_sender
from handlers.smtp_email import SmtpSender
from handlers.web_page import InvitationPageRoutes
from tests.handlers.fake_slack import FakeSlack, dm_of
from tests.handlers.slack_workspace import SIGNING_SECRET, Workspace, view_text
from tests.storage.databases import SQL_BACKENDS, fresh_database
from tests.unit.conftest import SECRET, World

ANA = "U0ANA"
PUBLIC = "https://hoa.example"
LINK = re.compile(r"https://hoa\.example/i/([A-Za-z0-9_-]{43})")
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


async def deliver(dispatcher: Dispatcher) -> None:
    while await dispatcher.run_once():
        pass


@pytest.mark.parametrize("backend", SQL_BACKENDS)
@pytest.mark.parametrize("refresh_homes", [False, True], ids=["sender", "sender-with-homes"])
async def test_invite_by_email_from_slack_accept_on_the_page(
    backend: str, refresh_homes: bool, tmp_path: Path, smtp_server_factory, fake: FakeSlack
) -> None:
    server = smtp_server_factory(credentials=("invitebot", "s3cret"), starttls=True)
    async with fresh_database(backend, tmp_path) as database:
        world = World(uow_factory=database.uow)
        adapter = SlackAdapter(
            world.engine, make_client(fake.token, api_base=fake.url), signing_secret=SIGNING_SECRET
        )
        events = SlackEvents(adapter)
        page = InvitationPageRoutes(uow_factory=database.uow, ctx=world.ctx, public_base_url=PUBLIC)
        app = Starlette(routes=[*events.routes, *page.routes])
        smtp = SmtpSender(
            host=server.host,
            port=server.port,
            username="invitebot",
            password="s3cret",
            starttls=True,
            tls_context=server.client_tls_context(),
            from_address="Oak Ridge HOA <invites@oakridge.example>",
        )
        if refresh_homes:
            chats = SlackChatSender.refreshing_homes(adapter)
        else:  # as the composition root builds it from the settings
            built = slack_chat_sender(
                Settings(
                    secret_key=SECRET.decode(),
                    slack_bot_token=fake.token,
                    slack_api_base=fake.url,
                )
            )
            assert built is not None
            chats = built
        dispatcher = Dispatcher(
            uow_factory=database.uow,
            ctx=world.ctx,
            senders={Route(Channel.EMAIL): smtp, Route(Channel.CHAT, "slack"): chats},
        )
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url=PUBLIC) as slack_client,
            httpx.AsyncClient(transport=transport, base_url=PUBLIC) as browser,
        ):
            slack = Workspace(client=slack_client, fake=fake, adapter=adapter)
            try:
                code = await world.household()
                await slack.command(ANA, "/household", f"join {code}")
                # As Slack sends what Ana typed: its "<" and ">" escaped.
                await slack.command(
                    ANA, "/invite", "email María &lt;b&gt;Ruiz&lt;/b&gt; maria@example.org"
                )
                await slack.press(ANA, "Send Invite")
                assert "Invitation sent to María" in slack.last_text(ANA)
                await deliver(dispatcher)

                [mail] = await server.wait_for(1)
                assert list(mail.rcpt_tos) == ["maria@example.org"]
                assert mail.authenticated_as == "invitebot" and mail.over_tls
                plain = mail.message.get_body(("plain",)).get_content()
                link = LINK.search(plain)
                assert link is not None

                # María opens the link from the mail and accepts.
                opened = await browser.get(f"/i/{link.group(1)}")
                assert opened.status_code == 200
                csrf = _CSRF.search(opened.text)
                assert csrf is not None
                answered = await browser.post(
                    f"/i/{link.group(1)}",
                    data={"csrf": csrf.group(1), "action": "accept"},
                    headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},
                )
                assert answered.status_code == 303

                homes_before = len(fake.calls_of("views.publish"))
                await deliver(dispatcher)
                await adapter.drain()
                [note] = [
                    c
                    for c in fake.calls_of("chat.postMessage")
                    if "accepted your invitation" in c.params["text"]
                ]
                assert note.params["channel"] == dm_of(ANA)
                assert note.params["text"].startswith("🎉 María &lt;b&gt;Ruiz&lt;/b&gt; accepted")
                assert note.params["unfurl_links"] is False
                async with database.uow() as uow:
                    [household] = await uow.households.list()
                    [invitation] = await uow.invitations.list_for_household(household.id)
                    queued = await uow.outbox.list_for_invitation(invitation.id)
                assert invitation.status is InvitationStatus.ACCEPTED
                [chat_row] = [m for m in queued if m.channel is Channel.CHAT]
                assert chat_row.provider_id == note.ts

                if refresh_homes:
                    # The head's home tab shows María as a member now, without a reload.
                    [home] = fake.calls_of("views.publish")[homes_before:]
                    assert home.params["user_id"] == ANA
                    assert "María &lt;b&gt;Ruiz&lt;/b&gt;" in view_text(home)
                    assert "Cancel Invite" not in view_text(home)
                await slack.command(ANA, "/household")
                assert "accepted" in slack.last_text(ANA)
            finally:
                await events.close()
