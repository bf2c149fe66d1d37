"""A real SMTP server on loopback for tests: aiosmtpd on 127.0.0.1, a free port, in its own
thread, recording every envelope it accepts.

It can refuse chosen recipients (``550``) or defer them (``451``), answer ``DATA`` with any
reply, require a login, and offer STARTTLS with a self-signed certificate made at test time
(with the ``openssl`` command). Use it through the :func:`smtp_server_factory` fixture::

    from tests.handlers.smtp_server import smtp_server_factory  # noqa: F401 (a fixture)

    async def test_it(smtp_server_factory):
        server = smtp_server_factory(credentials=("bot", "secret"), starttls=True)
        ...  # send to server.host:server.port, trusting server.client_tls_context()
        [mail] = await server.wait_for(1)  # or wait_for_blocking(1) in sync code

or register it for a whole folder with ``pytest_plugins = ["tests.handlers.smtp_server"]`` in
the root ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ReceivedEmail:
    """One email the server accepted, as it arrived."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    """The message parsed with the modern policy: headers decoded, parts walkable."""
    authenticated_as: str | None
    over_tls: bool


@dataclass(frozen=True)
class TlsFiles:
    certificate: Path
    key: Path


class RecordingHandler:
    """The aiosmtpd handler: accepts mail and records it, unless told to refuse."""

    def __init__(self) -> None:
        self.received: list[ReceivedEmail] = []
        self.rcpt_attempts: list[str] = []
        """Every ``RCPT TO`` address in order, accepted or not."""
        self.rcpt_replies: dict[str, str] = {}
        self.mail_reply: str | None = None
        self.data_reply: str | None = None
        self._arrived = threading.Condition()

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.mail_reply is not None:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        self.rcpt_attempts.append(address)
        reply = self.rcpt_replies.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply is not None:
            return self.data_reply
        raw = envelope.original_content or b""
        auth = session.auth_data
        mail = ReceivedEmail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=raw,
            message=cast(EmailMessage, BytesParser(policy=default_policy).parsebytes(raw)),
            authenticated_as=auth.login.decode() if isinstance(auth, LoginPassword) else None,
            over_tls=session.ssl is not None,
        )
        with self._arrived:
            self.received.append(mail)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, within: float) -> list[ReceivedEmail]:
        """Block until ``count`` emails arrived (a test thread; the server runs in its own)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.received) >= count, within):
                raise AssertionError(
                    f"expected {count} email(s) within {within}s, got {len(self.received)}"
                )
            return list(self.received)


class _Authenticator:
    """Accepts exactly one username and password; anything else gets 535."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username.encode()
        self.password = password.encode()

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.username
            and auth_data.password == self.password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


class _BoundController(Controller):
    """A Controller serving a socket bound beforehand to a free port: no race for a port
    between choosing it and listening on it."""

    def __init__(self, handler: RecordingHandler, sock: socket.socket, **kwargs: Any) -> None:
        self._sock = sock
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


class LoopbackSmtpServer:
    """An SMTP server on 127.0.0.1 for one test (see the module docstring)."""

    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        """With ``credentials``, every ``MAIL`` needs a login first (over TLS when ``tls``
        is given, as a real submission server insists). With ``tls``, STARTTLS is offered."""
        self.handler = RecordingHandler()
        self.credentials = credentials
        self.tls = tls
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        self.host: str = HOST
        self.port: int = sock.getsockname()[1]
        smtp_options: dict[str, Any] = {"server_hostname": "localhost", "ready_timeout": 5.0}
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls.certificate, tls.key)
            smtp_options.update(tls_context=context, require_starttls=True)
        if credentials is not None:
            smtp_options.update(
                authenticator=_Authenticator(*credentials),
                auth_required=True,
                auth_require_tls=tls is not None,
            )
        self._controller = _BoundController(self.handler, sock, **smtp_options)
        self._running = False

    def start(self) -> LoopbackSmtpServer:
        self._controller.start()
        self._running = True
        return self

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._controller.stop()

    def __enter__(self) -> LoopbackSmtpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- what it received ------------------------------------------------------------------

    @property
    def received(self) -> list[ReceivedEmail]:
        return list(self.handler.received)

    @property
    def rcpt_attempts(self) -> list[str]:
        return list(self.handler.rcpt_attempts)

    async def wait_for(self, count: int = 1, *, within: float = 5.0) -> list[ReceivedEmail]:
        """Every email received so far, once there are at least ``count`` (for tests where
        a dispatcher sends in the background); fails the test after ``within`` seconds."""
        deadline = time.monotonic() + within
        while len(self.handler.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected {count} email(s) within {within}s, got {len(self.handler.received)}"
                )
            await asyncio.sleep(0.02)
        return self.received

    def wait_for_blocking(self, count: int = 1, *, within: float = 5.0) -> list[ReceivedEmail]:
        """:meth:`wait_for` for synchronous tests (a browser driver, a subprocess)."""
        return self.handler.wait_for(count, within)

    # --- how it answers --------------------------------------------------------------------

    def refuse(self, address: str, reply: str = "550 5.1.1 No such user here") -> None:
        """Answer ``RCPT TO:<address>`` with ``reply`` (e.g. ``451 4.2.1 Try again later``)."""
        self.handler.rcpt_replies[address.lower()] = reply

    def answer_mail(self, reply: str | None) -> None:
        """Answer every ``MAIL FROM`` with ``reply`` (``None``: accept again)."""
        self.handler.mail_reply = reply

    def answer_data(self, reply: str | None) -> None:
        """Answer every message (after ``DATA``) with ``reply`` (``None``: accept again)."""
        self.handler.data_reply = reply

    # --- how to reach it -------------------------------------------------------------------

    def client_tls_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly this server's certificate (and checks it)."""
        if self.tls is None:
            raise RuntimeError("this server was started without TLS")
        return ssl.create_default_context(cafile=str(self.tls.certificate))

    def settings_env(self, *, email_from: str = "invitebot@elm-park.example") -> dict[str, str]:
        """``INVITEBOT_*`` variables pointing the app at this server (plain SMTP only: the
        settings have no way to trust a test certificate)."""
        if self.tls is not None or self.credentials is not None:
            raise RuntimeError("settings_env() is for a server without TLS or login")
        return {
            "INVITEBOT_SMTP_HOST": self.host,
            "INVITEBOT_SMTP_PORT": str(self.port),
            "INVITEBOT_SMTP_STARTTLS": "false",
            "INVITEBOT_EMAIL_FROM": email_from,
        }


_certificates: dict[Path, TlsFiles] = {}
_certificates_lock = threading.Lock()


def self_signed_certificate(directory: Path) -> TlsFiles:
    """A throwaway certificate for ``localhost`` and ``127.0.0.1`` in ``directory``, made
    once per directory. Skips the test when the ``openssl`` command is missing."""
    with _certificates_lock:
        if directory in _certificates:
            return _certificates[directory]
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.skip("the openssl command is needed to make a test certificate")
        directory.mkdir(parents=True, exist_ok=True)
        files = TlsFiles(certificate=directory / "cert.pem", key=directory / "key.pem")
        subprocess.run(
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout",
                str(files.key),
                "-out",
                str(files.certificate),
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        _certificates[directory] = files
        return files


@pytest.fixture
def smtp_server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., LoopbackSmtpServer]]:
    """Start loopback SMTP servers: ``factory(credentials=("user", "pw"), starttls=True)``.
    Every server started is stopped after the test."""
    servers: list[LoopbackSmtpServer] = []

    def start(
        *, credentials: tuple[str, str] | None = None, starttls: bool = False
    ) -> LoopbackSmtpServer:
        tls = (
            self_signed_certificate(tmp_path_factory.getbasetemp() / "smtp-tls")
            if starttls
            else None
        )
        server = LoopbackSmtpServer(credentials=credentials, tls=tls).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
