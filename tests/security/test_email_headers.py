"""Issue 13, point 1: a name holding an RFC 2047 encoded word cannot add a header, replace the
body, or reach anyone decoded.

``=?utf-8?q?Board=0D=0AReply-To:_x@evil.example=0D=0A=0D=0APay_here?=`` typed as a name (the
head's chat display name, the invitee's name, a community or an address the board typed) was
decoded by the ``email`` package while building the message, and on this Python its line
breaks were written out raw: a Reply-To header arrived and the body was replaced. Every test
here sends through the real SMTP sender to a real SMTP server on loopback and parses back what
arrived, byte for byte, with the modern policy, as a mail reader would.
"""

from __future__ import annotations

import email
import email.policy
import html
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.contacts import normalise_name
from bot.delivery import Dispatcher
from bot.domain import Channel, OutboxMessage, Route
from handlers.smtp_email import SmtpSender, invitation_context, one_line, parse_from_address
from tests.chat import RecordingSender
from tests.handlers.smtp_server import LoopbackSmtpServer
from tests.handlers.test_invitation_page import build_site
from tests.property.strategies import ENCODED_WORDS, encoded_words, texts
from tests.storage.databases import SQL_BACKENDS, fresh_database
from tests.unit.conftest import World

FROM = "invites@oakridge.example"
TO = "maria@example.org"
ATTACK = "=?utf-8?q?Board=0D=0AReply-To:_x@evil.example=0D=0A=0D=0APay_here?="
HEAD = ATTACK
INVITEE = "=?UTF-8?B?Qm9hcmQNClJlcGx5LVRvOiB4QGV2aWwuZXhhbXBsZQ0KDQpQYXkgaGVyZQ==?="
COMMUNITY = "=?utf-8?q?Oak=0D=0ABcc:_all@evil.example?= HOA"
ADDRESS = "12 =?utf-8?q?Oak=0D=0A=0D=0APay_here?= Lane"
PLAIN_HEADERS = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Auto-Submitted",
    "Content-Type",
    "Content-Transfer-Encoding",
    "MIME-Version",
]
# Exactly these, in this order: nothing added, nothing lost, the body after the last.
MEANT_INVITATION_HEADERS = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
]


def parsed(raw: bytes) -> EmailMessage:
    """The message as a mail reader sees it."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def header_section(raw: bytes) -> list[str]:
    """The header lines as sent: printable ASCII, each continuation starting with a space."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    lines = head.decode("ascii").split("\r\n")
    assert all(line.isprintable() for line in lines)
    assert not lines[0].startswith(" ")
    return lines


def assert_from_shows(raw: bytes, meant: str) -> None:
    """The From header as sent holds exactly FROM and ``meant`` as its display name.

    RFC 2047 readers join adjacent encoded words; Python's own lenient parser keeps a space
    between two of them in a name (a long name needs several), so it is compared without
    spaces, and the RFC reading exactly."""
    [shown] = parsed(raw)["From"].addresses
    assert shown.addr_spec == FROM
    assert "".join(shown.display_name.split()) == "".join(meant.split())
    assert rfc2047_display_name(header_section(raw)) == meant


def rfc2047_display_name(lines: list[str]) -> str:
    """The display name of the From header as sent, decoded as RFC 2047 says (the standard
    library's ``decode_header``: the space between two encoded words is dropped)."""
    unfolded = "\n".join(lines).replace("\n ", " ").split("\n")
    [value] = [line.removeprefix("From: ") for line in unfolded if line.startswith("From: ")]
    phrase = value.removesuffix(f"<{FROM}>").removesuffix(" ")
    return str(make_header(decode_header(phrase))) if phrase != FROM else ""


def parts_text(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))
    rich = message.get_body(preferencelist=("html",))
    assert isinstance(plain, EmailMessage) and isinstance(rich, EmailMessage)
    return plain.get_content(), html.unescape(rich.get_content())


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_encoded_words_in_every_name_arrive_as_typed_and_add_no_header(
    backend: str, tmp_path: Path, smtp_server_factory
) -> None:
    """The whole way: the board's community and address, the head's chat display name (no
    ``--head-name``), the invitee's name typed in /invite; the core queues the email, the
    dispatcher sends it through SMTP, and what arrives is parsed back."""
    server: LoopbackSmtpServer = smtp_server_factory()
    async with fresh_database(backend, tmp_path) as database:
        world = World(uow_factory=database.uow)
        code = await world.household(address=ADDRESS, community=COMMUNITY, head_name="")
        head = world.person("ana", HEAD)
        await head.say(f"/join {code}")
        assert "You are now the head" in head.text, head.text
        await head.say(f"/invite email {INVITEE} {TO}")
        assert INVITEE in head.text  # the chat shows the name as typed, never decoded
        await head.press("Send Invite")
        assert f"Invitation sent to {INVITEE}" in head.text
        smtp = SmtpSender(
            host=server.host, port=server.port, starttls=False, from_address=FROM, timeout=5.0
        )
        dispatcher = Dispatcher(
            uow_factory=database.uow,
            ctx=world.ctx,
            senders={Route(Channel.EMAIL): smtp, Route(Channel.CHAT, "console"): RecordingSender()},
        )
        while await dispatcher.run_once():
            pass

    [mail] = await server.wait_for(1)
    assert mail.rcpt_tos == (TO,)
    header_section(mail.raw)
    message = parsed(mail.raw)
    assert message.keys() == MEANT_INVITATION_HEADERS
    assert message["Reply-To"] is None and message["Bcc"] is None
    assert message["Subject"] == f"{HEAD} invited you to join {ADDRESS} ({COMMUNITY})"
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (f"invitebot for {COMMUNITY}", FROM)
    assert_from_shows(mail.raw, f"invitebot for {COMMUNITY}")
    assert message["To"] == TO
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    for text in parts_text(message):
        assert "Pay here" not in text.replace(ATTACK, "").replace(INVITEE, "")
        for name in (HEAD, INVITEE, COMMUNITY, ADDRESS):
            assert name in text
        assert "https://hoa.example/i/" in text


def invitation(**fields: str) -> OutboxMessage:
    data = {
        "kind": "invitation",
        "name": "Maria Ruiz",
        "inviter": "Ana Lopez",
        "address": "12 Oak Lane",
        "community": "Oak Ridge HOA",
        "link": "https://hoa.example/i/AbC_12-xyz",
        "expires": "1 Dec 2026, 12:00 UTC",
        "hoa": "board@oakridge.example",
        **fields,
    }
    now = datetime.now(UTC)
    return OutboxMessage(
        channel=Channel.EMAIL,
        destination=TO,
        subject=f"{data['inviter']} invited you to join {data['address']} ({data['community']})",
        body=f"Hi {data['name']}. Accept here: {data['link']}",
        created_at=now,
        next_attempt_at=now,
        data=data,
    )


@pytest.mark.parametrize("attack", ENCODED_WORDS)
@pytest.mark.parametrize("field", ["name", "inviter", "address", "community"])
async def test_each_field_alone_cannot_add_a_header(
    smtp_server_factory, field: str, attack: str
) -> None:
    server: LoopbackSmtpServer = smtp_server_factory()
    message = invitation(**{field: attack})
    sender = SmtpSender(host=server.host, port=server.port, starttls=False, from_address=FROM)

    await sender.send(message)

    [mail] = server.received
    header_section(mail.raw)
    arrived = parsed(mail.raw)
    assert arrived.keys() == MEANT_INVITATION_HEADERS
    assert arrived["Subject"] == message.subject
    assert_from_shows(mail.raw, f"invitebot for {message.data['community']}")
    for text in parts_text(arrived):
        assert attack in text


async def test_a_configured_display_name_and_a_plain_email_stay_as_configured(
    smtp_server_factory,
) -> None:
    """The operator's EMAIL_FROM display name, and a non-invitation email whose subject is an
    encoded word, take the same path."""
    server: LoopbackSmtpServer = smtp_server_factory()
    sender = SmtpSender(
        host=server.host,
        port=server.port,
        starttls=False,
        from_address=f'"Oak Ridge HOA, Board" <{FROM}>',
    )
    now = datetime.now(UTC)
    note = OutboxMessage(
        channel=Channel.EMAIL,
        destination=TO,
        subject=ATTACK,
        body=f"Hello {ATTACK}",
        created_at=now,
        next_attempt_at=now,
    )

    await sender.send(note)

    [mail] = server.received
    arrived = parsed(mail.raw)
    assert arrived.keys() == PLAIN_HEADERS
    assert arrived["Subject"] == ATTACK
    assert arrived["From"].addresses[0].display_name == "Oak Ridge HOA, Board"
    assert_from_shows(mail.raw, "Oak Ridge HOA, Board")
    assert arrived.get_content().replace("\r\n", "\n") == f"Hello {ATTACK}\n"


def test_an_email_from_hiding_a_line_break_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError):
        parse_from_address(f"{ATTACK} <{FROM}>")


def test_names_with_line_breaks_or_controls_are_made_one_line_or_refused() -> None:
    """What reaches a header was a name first: breaks become one space, other control
    characters are refused, and an encoded word is kept as the characters typed."""
    assert normalise_name("Board\r\nReply-To: x@evil.example") == "Board Reply-To: x@evil.example"
    for control in ("\x00", "\x1b", "\u2028", "\u202e", "\x85"):
        with pytest.raises(ValueError):
            normalise_name(f"Board{control}Reply-To")
    assert normalise_name(ATTACK) == ATTACK


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    name=st.one_of(encoded_words(surrogates=False), texts(surrogates=False, long=False)),
    inviter=st.one_of(encoded_words(surrogates=False), texts(surrogates=False, long=False)),
    community=st.one_of(encoded_words(surrogates=False), texts(surrogates=False, long=False)),
)
@example(name=ATTACK, inviter=INVITEE, community=COMMUNITY)
@example(name="x" * 300, inviter="é" * 300, community="👩\u200d👩\u200d👧" * 40)
def test_any_text_in_any_field_gives_exactly_the_meant_headers(
    name: str, inviter: str, community: str
) -> None:
    """Built and serialised as aiosmtplib does (SMTP policy), then parsed back: whatever the
    text, the same headers, and the subject and sender's name as the text made one line."""
    sender = SmtpSender(host="127.0.0.1", port=25, starttls=False, from_address=FROM)
    message = invitation(name=name, inviter=inviter, community=community)
    built, _ = sender.build(message)
    raw = built.as_bytes(policy=email.policy.SMTP)

    lines = header_section(raw)
    assert all(len(line) <= 78 for line in lines)
    arrived = parsed(raw)
    context = invitation_context(message.data)  # None: the plain body, as for a missing name
    assert arrived.keys() == (MEANT_INVITATION_HEADERS if context else PLAIN_HEADERS)
    assert arrived["Subject"] == one_line(message.subject)
    community_shown = context["community"] if context else ""
    assert_from_shows(raw, f"invitebot for {community_shown}" if community_shown else "")


@pytest.mark.parametrize("backend", SQL_BACKENDS)
async def test_the_text_and_the_invitation_page_show_the_name_as_typed(
    backend: str, tmp_path: Path
) -> None:
    """Nothing but email decodes encoded words; still, every other reader must get the
    characters typed too: the SMS to the invitee, and the page their link opens."""
    async for site in build_site(backend, tmp_path):
        token = await site.invite(name=INVITEE, contact="+12025550199")
        await site.world.deliver()
        [sms] = site.world.sender.to("+12025550199")
        assert INVITEE in sms.body
        page = await site.browser().get(f"/i/{token}")
        assert page.status_code == 200
        assert f"You will join as {INVITEE}." in html.unescape(page.text)
