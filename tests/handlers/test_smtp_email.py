"""The SMTP sender against a real SMTP server on loopback (aiosmtpd): what arrives, what
cannot be smuggled in, and how each kind of refusal reaches the dispatcher."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser

import pytest

from bot.delivery import DeliveryError, PermanentDeliveryError
from bot.domain import Channel, OutboxMessage
from handlers.settings import Settings
from handlers.smtp_email import SmtpSender, parse_from_address, smtp_sender_from_settings
from tests.handlers.smtp_server import (
    LoopbackSmtpServer,
    ReceivedEmail,
    smtp_server_factory,  # noqa: F401 (a fixture)
)

FROM = "invitebot@elm-park.example"
TO = "maria@example.org"
LINK = "https://hoa.example/i/AbC_12-xyz"
FOOTER = (
    "You received this because Ana Lopez of 12 Elm Street (Elm Park) invited this address. "
    "If you don't know them, you can ignore this email; nothing happens unless you accept. "
    "Questions: board@elm-park.example"
)

StartServer = Callable[..., LoopbackSmtpServer]


@pytest.fixture
def server(smtp_server_factory: StartServer) -> LoopbackSmtpServer:  # noqa: F811
    return smtp_server_factory()


def invitation(destination: str = TO, **fields: str) -> OutboxMessage:
    """An invitation email as the core queues it."""
    data = {
        "kind": "invitation",
        "name": "Maria Ruiz",
        "inviter": "Ana Lopez",
        "address": "12 Elm Street",
        "community": "Elm Park",
        "link": LINK,
        "expires": "1 Dec 2026, 12:00 UTC",
        "hoa": "board@elm-park.example",
        **fields,
    }
    now = datetime.now(UTC)
    return OutboxMessage(
        channel=Channel.EMAIL,
        destination=destination,
        subject=f"{data['inviter']} invited you to join {data['address']} ({data['community']})",
        body=f"Hi {data['name']}, {data['inviter']} invited you. Accept here: {data['link']}",
        created_at=now,
        next_attempt_at=now,
        data=data,
    )


def sender_for(server: LoopbackSmtpServer, **options: object) -> SmtpSender:
    settings: dict[str, object] = {"starttls": False, "from_address": FROM, "timeout": 5.0}
    settings.update(options)
    return SmtpSender(host=server.host, port=server.port, **settings)  # type: ignore[arg-type]


def text_of(mail: ReceivedEmail, subtype: str) -> str:
    part = mail.message.get_body(preferencelist=(subtype,))
    assert part is not None and part.get_content_type() == f"text/{subtype}"
    assert isinstance(part, EmailMessage)
    return part.get_content().replace("\r\n", "\n")


def visible_text(html: str) -> str:
    """What a reader of the HTML part sees: the text without tags, entities decoded, each
    run of whitespace one space."""
    chunks: list[str] = []
    parser = HTMLParser(convert_charrefs=True)
    parser.handle_data = chunks.append  # type: ignore[method-assign]
    parser.feed(html)
    parser.close()
    return " ".join("".join(chunks).split())


def header_lines(mail: ReceivedEmail) -> list[str]:
    """The top-level header lines as sent (folded lines joined), in ASCII."""
    head = mail.raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return head.replace("\r\n ", " ").replace("\r\n\t", " ").split("\r\n")


async def test_an_invitation_arrives_as_plain_text_and_html(server: LoopbackSmtpServer) -> None:
    message_id = await sender_for(server).send(invitation())

    [mail] = server.received
    assert mail.mail_from == FROM
    assert mail.rcpt_tos == (TO,)
    email = mail.message
    assert email.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in email.iter_parts()] == ["text/plain", "text/html"]
    assert email["Subject"] == "Ana Lopez invited you to join 12 Elm Street (Elm Park)"
    assert email["From"].addresses[0].display_name == "invitebot for Elm Park"
    assert email["From"].addresses[0].addr_spec == FROM
    assert email["To"] == TO
    assert email["Message-ID"] == message_id
    assert message_id.endswith("@elm-park.example>")
    assert abs((parsedate_to_datetime(email["Date"]) - datetime.now(UTC)).total_seconds()) < 60
    assert email["Auto-Submitted"] == "auto-generated"

    plain, html = text_of(mail, "plain"), text_of(mail, "html")
    for text in (plain, html):
        assert "Maria Ruiz" in text
        assert "Ana Lopez" in text
        assert "12 Elm Street" in text
        assert "1 Dec 2026, 12:00 UTC" in text
    assert LINK in plain
    assert " ".join(plain.split()).endswith(FOOTER)
    assert f'href="{LINK}"' in html
    assert ">Accept invitation</a>" in html
    assert visible_text(html).endswith(FOOTER)


async def test_another_email_is_its_plain_body_from_the_configured_sender(
    server: LoopbackSmtpServer,
) -> None:
    now = datetime.now(UTC)
    message = OutboxMessage(
        channel=Channel.EMAIL,
        destination=TO,
        subject="A note",
        body="Just the body.\nTwo lines.",
        created_at=now,
        next_attempt_at=now,
    )
    await sender_for(server, from_address=f"Elm Park HOA <{FROM}>").send(message)

    [mail] = server.received
    assert mail.message.get_content_type() == "text/plain"
    assert text_of(mail, "plain") == "Just the body.\nTwo lines.\n"
    assert mail.message["From"].addresses[0].display_name == "Elm Park HOA"


async def test_a_configured_display_name_wins_over_the_community(
    server: LoopbackSmtpServer,
) -> None:
    await sender_for(server, from_address=f'"Elm Park Board" <{FROM}>').send(invitation())

    [mail] = server.received
    assert str(mail.message["From"]) == f"Elm Park Board <{FROM}>"


async def test_an_invitation_missing_its_link_falls_back_to_the_plain_body(
    server: LoopbackSmtpServer,
) -> None:
    message = invitation(link="")
    await sender_for(server).send(message)

    [mail] = server.received
    assert mail.message.get_content_type() == "text/plain"
    assert text_of(mail, "plain") == message.body + "\n"


async def test_line_breaks_in_names_cannot_add_a_header_or_a_recipient(
    server: LoopbackSmtpServer,
) -> None:
    evil = "Maria\r\nBcc: evil@example.com"
    message = invitation(
        name=evil, inviter="Ana\nTo: other@example.com", community="Elm\rCc: x@example.com"
    )
    message.subject = f"{evil} invited you\r\n\r\nbody?"
    await sender_for(server).send(message)

    [mail] = server.received
    assert server.rcpt_attempts == [TO]
    assert mail.rcpt_tos == (TO,)
    names = [line.split(":", 1)[0].lower() for line in header_lines(mail)]
    assert "bcc" not in names and "cc" not in names
    assert names.count("to") == 1 and names.count("subject") == 1
    assert mail.message["Bcc"] is None and mail.message["Cc"] is None
    assert mail.message["To"] == TO
    assert mail.message["Subject"] == "Maria Bcc: evil@example.com invited you body?"
    assert mail.message["From"].addresses[0].display_name == "invitebot for Elm Cc: x@example.com"
    assert "Hi Maria Bcc: evil@example.com," in text_of(mail, "plain")


async def test_a_destination_smuggling_a_command_is_refused_before_connecting(
    server: LoopbackSmtpServer,
) -> None:
    with pytest.raises(PermanentDeliveryError, match="not valid"):
        await sender_for(server).send(invitation(f"{TO}>\r\nRCPT TO:<evil@example.com"))
    assert server.rcpt_attempts == []


@pytest.mark.parametrize(
    "name",
    [
        "מרים כהן",  # Hebrew, right to left
        "ليلى حداد",  # Arabic
        "José Ñúñez-Çelik",  # accents
        "Zoë 👩\u200d👩\u200d👧 Family",  # emoji with zero-width joiners
        "Đặng Thị Hương",  # Vietnamese
    ],
)
async def test_unicode_names_survive_in_subject_and_body(
    server: LoopbackSmtpServer, name: str
) -> None:
    message = invitation(inviter=name, name=name)
    await sender_for(server).send(message)

    [mail] = server.received
    header_lines(mail)  # the header section went out as pure ASCII (encoded words)
    assert mail.message["Subject"] == message.subject
    assert mail.message["From"].addresses[0].display_name == "invitebot for Elm Park"
    assert f"Hi {name}," in text_of(mail, "plain")
    assert f"<bdi>{name}</bdi>" in text_of(mail, "html")


async def test_html_in_a_name_is_escaped_in_the_html_part(server: LoopbackSmtpServer) -> None:
    name = "<script>alert('hi')</script> & <b>Bob</b>"
    await sender_for(server).send(invitation(name=name, address='1 "Main" <St>'))

    [mail] = server.received
    html = text_of(mail, "html")
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&#39;hi&#39;)&lt;/script&gt; &amp; &lt;b&gt;Bob&lt;/b&gt;" in html
    assert "1 &#34;Main&#34; &lt;St&gt;" in html
    assert f"Hi {name}," in text_of(mail, "plain")


@pytest.mark.parametrize(
    ("step", "reply", "permanent", "reason"),
    [
        ("rcpt", "550 5.1.1 No such user here", True, "the mail server rejected the address"),
        ("rcpt", "553 5.1.3 Bad destination mailbox", True, "rejected the address"),
        ("rcpt", "451 4.2.1 Mailbox busy, try later", False, "try again later"),
        ("rcpt", "452 4.2.2 Over quota", False, "try again later"),
        ("mail", "550 5.7.1 Sender not allowed", True, "the mail server rejected the message"),
        ("mail", "421 4.3.2 Shutting down", False, "answered 421; trying again later"),
        ("data", "554 5.7.1 Looks like spam", True, "the mail server rejected the message"),
        ("data", "451 4.3.0 Local problem", False, "answered 451; trying again later"),
    ],
)
async def test_refusals_are_permanent_only_for_5xx(
    server: LoopbackSmtpServer, step: str, reply: str, permanent: bool, reason: str
) -> None:
    if step == "rcpt":
        server.refuse(TO, reply)
    elif step == "mail":
        server.answer_mail(reply)
    else:
        server.answer_data(reply)

    with pytest.raises(DeliveryError, match=reason) as caught:
        await sender_for(server).send(invitation())

    assert isinstance(caught.value, PermanentDeliveryError) is permanent
    assert server.received == []
    if permanent:
        assert len(str(caught.value)) < 60  # the head reads this sentence


async def test_a_server_that_is_down_is_a_transient_failure_found_quickly() -> None:
    with socket.socket() as probe:  # a port nobody listens on any more
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = SmtpSender(host="127.0.0.1", port=port, starttls=False, from_address=FROM)

    started = time.monotonic()
    with pytest.raises(DeliveryError, match="could not be reached") as caught:
        await sender.send(invitation())

    assert not isinstance(caught.value, PermanentDeliveryError)
    assert time.monotonic() - started < 2


async def test_starttls_and_login_deliver(smtp_server_factory: StartServer) -> None:  # noqa: F811
    secure = smtp_server_factory(credentials=("invitebot", "s3cret pass"), starttls=True)
    sender = sender_for(
        secure,
        starttls=True,
        username="invitebot",
        password="s3cret pass",
        tls_context=secure.client_tls_context(),
    )

    message_id = await sender.send(invitation())

    [mail] = secure.received
    assert mail.over_tls
    assert mail.authenticated_as == "invitebot"
    assert mail.message["Message-ID"] == message_id


async def test_a_wrong_password_is_retried_and_logged_loudly(
    smtp_server_factory: StartServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    secure = smtp_server_factory(credentials=("invitebot", "right"), starttls=True)
    sender = sender_for(
        secure,
        starttls=True,
        username="invitebot",
        password="wrong",
        tls_context=secure.client_tls_context(),
    )

    with caplog.at_level(logging.ERROR), pytest.raises(DeliveryError) as caught:
        await sender.send(invitation())

    assert not isinstance(caught.value, PermanentDeliveryError)
    assert "refused our login (535)" in str(caught.value)
    assert any("INVITEBOT_SMTP_PASSWORD" in record.getMessage() for record in caplog.records)
    assert "wrong" not in caplog.text
    assert secure.received == []


async def test_a_missing_login_is_retried_not_blamed_on_the_address(
    smtp_server_factory: StartServer,  # noqa: F811
) -> None:
    secure = smtp_server_factory(credentials=("invitebot", "right"), starttls=True)
    sender = sender_for(secure, starttls=True, tls_context=secure.client_tls_context())

    with pytest.raises(DeliveryError, match="login") as caught:
        await sender.send(invitation())

    assert not isinstance(caught.value, PermanentDeliveryError)


async def test_an_untrusted_certificate_is_refused(smtp_server_factory: StartServer) -> None:  # noqa: F811
    secure = smtp_server_factory(starttls=True)
    sender = sender_for(secure, starttls=True)  # the system's trust store: not our test CA

    with pytest.raises(DeliveryError, match="secure connection") as caught:
        await sender.send(invitation())

    assert not isinstance(caught.value, PermanentDeliveryError)
    assert secure.received == []


async def test_settings_build_the_sender(server: LoopbackSmtpServer) -> None:
    assert smtp_sender_from_settings(Settings(_env_file=None)) is None
    assert smtp_sender_from_settings(Settings(_env_file=None, smtp_host="mail.example")) is None

    env = server.settings_env(email_from=f"Elm Park HOA <{FROM}>")
    settings = Settings(
        _env_file=None,
        smtp_host=env["INVITEBOT_SMTP_HOST"],
        smtp_port=int(env["INVITEBOT_SMTP_PORT"]),
        smtp_starttls=False,
        email_from=env["INVITEBOT_EMAIL_FROM"],
    )
    sender = smtp_sender_from_settings(settings)
    assert sender is not None
    await sender.send(invitation())
    [mail] = server.received
    assert mail.mail_from == FROM


def test_port_465_means_tls_from_the_first_byte() -> None:
    settings = Settings(_env_file=None, smtp_host="mail.example", smtp_port=465, email_from=FROM)
    sender = smtp_sender_from_settings(settings)
    assert sender is not None
    assert sender.implicit_tls and not sender.starttls


@pytest.mark.parametrize(
    "value", ["", "not an address", "a@example.org, b@example.org", "bot@x.org\r\nBcc: e@x.org"]
)
def test_a_malformed_email_from_is_refused_at_start_up(value: str) -> None:
    with pytest.raises(ValueError):
        parse_from_address(value)


async def test_a_server_that_never_answers_times_out_as_a_transient_failure() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        sender = SmtpSender(
            host="127.0.0.1",
            port=silent.getsockname()[1],
            starttls=False,
            from_address=FROM,
            timeout=0.3,
        )
        started = time.monotonic()
        with pytest.raises(DeliveryError, match="did not answer in time") as caught:
            await sender.send(invitation())

    assert not isinstance(caught.value, PermanentDeliveryError)
    assert time.monotonic() - started < 2


def test_a_username_without_a_password_is_refused_at_start_up() -> None:
    settings = Settings(
        _env_file=None, smtp_host="mail.example", email_from=FROM, smtp_username="invitebot"
    )
    with pytest.raises(ValueError, match="username and password"):
        smtp_sender_from_settings(settings)
