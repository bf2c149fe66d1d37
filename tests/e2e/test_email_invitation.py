"""An invitation by email, end to end: the head invites in a chat, the real SMTP sender
delivers to a real SMTP server on loopback, the invitee follows the link in the mail, and the
head is told. On SQLite, and on PostgreSQL when configured."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.delivery import Dispatcher
from bot.domain import Channel, Route
from handlers.smtp_email import SmtpSender
from tests.chat import RecordingSender
from tests.storage.databases import SQL_BACKENDS, fresh_database
from tests.unit.conftest import World

LINK = re.compile(r"https://hoa\.example/i/[A-Za-z0-9_-]{43}")


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_invite_by_email_accept_by_link(
    backend: str, tmp_path: Path, smtp_server_factory
) -> None:
    server = smtp_server_factory(credentials=("invitebot", "s3cret"), starttls=True)
    async with fresh_database(backend, tmp_path) as database:
        world = World(uow_factory=database.uow)
        chats = RecordingSender()
        smtp = SmtpSender(
            host=server.host,
            port=server.port,
            username="invitebot",
            password="s3cret",
            starttls=True,
            tls_context=server.client_tls_context(),
            from_address="Oak Ridge HOA <invites@oakridge.example>",
        )
        dispatcher = Dispatcher(
            uow_factory=database.uow,
            ctx=world.ctx,
            senders={Route(Channel.EMAIL): smtp, Route(Channel.CHAT, "console"): chats},
        )
        ana = await world.head()
        await ana.say("/invite email María <b>Ruiz</b> maria@example.org")
        await ana.press("Send Invite")
        assert "Invitation sent" in ana.text
        while await dispatcher.run_once():
            pass

        [mail] = await server.wait_for(1)
        assert list(mail.rcpt_tos) == ["maria@example.org"]
        assert mail.authenticated_as == "invitebot" and mail.over_tls
        message = mail.message
        assert "Ana Lopez invited you to join 12 Oak Lane (Oak Ridge HOA)" in message["Subject"]
        plain = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        link = LINK.search(plain)
        assert link and link.group(0) in html
        assert "María &lt;b&gt;Ruiz&lt;/b&gt;" in html and "<b>Ruiz</b>" not in html

        maria = world.person("maria")
        await maria.say(f"/join {link.group(0)}")
        assert "Welcome, María <b>Ruiz</b>!" in maria.text
        while await dispatcher.run_once():
            pass
        [note] = chats.sent
        assert note.destination == "ana" and "accepted your invitation" in note.body
        await ana.say("/household")
        assert "accepted" in ana.text
