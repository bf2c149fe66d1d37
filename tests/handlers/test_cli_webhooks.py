"""``invitebot admin webhook test|secret`` through Typer's runner, against the loopback
receiver (which verifies the ping with the ``standardwebhooks`` package), and the settings
that turn webhooks on, refused in one line when malformed."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bot.domain import Channel, Route
from bot.ports import UnitOfWorkFactory
from handlers.cli_admin import admin_app
from handlers.settings import Settings
from tests.handlers.board_cli import open_board
from tests.handlers.test_cli_admin import one_error_line
from tests.handlers.webhook_receiver import Reply, WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("URL", "SECRET", "TIMEOUT_SECONDS"):
        monkeypatch.delenv(f"INVITEBOT_WEBHOOK_{name}", raising=False)
    monkeypatch.delenv("INVITEBOT_LOG_LEVEL", raising=False)


def admin(*args: str) -> Result:
    result = CliRunner().invoke(admin_app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def point_at(monkeypatch: pytest.MonkeyPatch, url: str, secret: str) -> None:
    monkeypatch.setenv("INVITEBOT_WEBHOOK_URL", url)
    monkeypatch.setenv("INVITEBOT_WEBHOOK_SECRET", secret)


def test_the_ping_is_signed_and_the_receivers_answer_printed(
    receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(monkeypatch, receiver.url, receiver.secret)
    result = admin("webhook", "test")
    assert result.exit_code == 0, result.output
    [ping] = receiver.received  # verified by the standardwebhooks package, or refused
    assert receiver.refused == []
    assert ping.type == "ping" and ping.webhook_id.startswith("ping.")
    assert f"Sent ping {ping.webhook_id} to {receiver.url}" in result.stdout
    assert "the receiver answered 204" in result.stdout


def test_a_refusal_or_a_redirect_exits_1_with_the_answer(
    receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(monkeypatch, receiver.url, receiver.secret)
    receiver.respond_next(Reply(500, "database down"), Reply(302, location="http://evil.test/"))
    refused = admin("webhook", "test")
    assert refused.exit_code == 1
    assert "answered 500 Internal Server Error" in refused.stdout
    assert "database down" in refused.stdout
    redirected = admin("webhook", "test")
    assert redirected.exit_code == 1 and "answered 302" in redirected.stdout
    assert len(receiver.received) == 2  # the redirect was not followed


def test_the_receivers_words_cannot_drive_the_terminal(
    receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(monkeypatch, receiver.url, receiver.secret)
    hostile = "[bold red]owned[/] \x1b[2J\x1b]0;title\x07 :warning:" + "x" * 5000
    receiver.respond_next(Reply(200, hostile))
    result = admin("webhook", "test")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "[bold red]owned[/]" in result.stdout  # shown as typed, not as markup
    assert ":warning:" in result.stdout
    assert len(result.stdout) < 1500  # cut short


def test_a_receiver_that_is_not_there_is_one_red_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    point_at(monkeypatch, f"http://127.0.0.1:{port}/hook", _secret(b"s" * 32))
    result = admin("webhook", "test")
    assert result.exit_code == 1
    assert "could not reach the webhook receiver" in one_error_line(result)


def test_without_configuration_it_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    result = admin("webhook", "test")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "INVITEBOT_WEBHOOK_URL and INVITEBOT_WEBHOOK_SECRET" in line
    assert "invitebot admin webhook secret" in line


GOOD = "whsec_" + base64.b64encode(b"k" * 32).decode()


@pytest.mark.parametrize(
    ("url", "secret", "named"),
    [
        ("http://hooks.example/x", None, "INVITEBOT_WEBHOOK_SECRET must be set too"),
        (None, GOOD, "INVITEBOT_WEBHOOK_URL must be set too"),
        ("ftp://hooks.example/x", GOOD, "INVITEBOT_WEBHOOK_URL: "),
        ("http://", GOOD, "INVITEBOT_WEBHOOK_URL: "),
        ("http://hooks.example/x", "whsec_" + base64.b64encode(b"short").decode(), "SECRET: "),
        ("http://hooks.example/x", "not-a-secret-at-all-but-long-enough-0123", "SECRET: "),
        ("http://hooks.example/x", "whsec_***not base64***", "SECRET: "),
    ],
)
def test_malformed_webhook_settings_are_one_line_never_showing_the_secret(
    monkeypatch: pytest.MonkeyPatch, url: str | None, secret: str | None, named: str
) -> None:
    if url is not None:
        monkeypatch.setenv("INVITEBOT_WEBHOOK_URL", url)
    if secret is not None:
        monkeypatch.setenv("INVITEBOT_WEBHOOK_SECRET", secret)
    result = admin("webhook", "test")
    assert result.exit_code == 2  # settings that are not valid: the command cannot start
    line = one_error_line(result)
    assert "The configuration is not valid" in line and named in line
    if secret is not None:
        assert secret not in result.output and secret[6:] not in result.output


def test_a_new_secret_is_random_and_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = admin("webhook", "secret"), admin("webhook", "secret")
    assert first.exit_code == second.exit_code == 0
    made = first.stdout.strip()
    assert made != second.stdout.strip()
    assert made.startswith("whsec_") and len(base64.b64decode(made[6:])) == 32
    point_at(monkeypatch, "https://portal.example/hooks", made)
    assert Settings().webhooks_enabled


def _secret(key: bytes) -> str:
    return "whsec_" + base64.b64encode(key).decode()


def test_the_boards_commands_publish_when_webhooks_are_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the composition root, as the installed command runs: the board's change writes
    its webhook in its own transaction."""
    point_at(monkeypatch, "https://portal.example/hooks", GOOD)
    board = next(open_board("sqlite", tmp_path, monkeypatch))
    place = ["--community", "Oak Ridge HOA", "--address", "12 Oak Lane"]
    assert board("community", "add", "Oak Ridge HOA").exit_code == 0
    assert board("household", "add", *place, "--head-name", "Ana Lopez").exit_code == 0
    assert board("household", "deactivate", *place).exit_code == 0

    async def webhooks(uow_factory: UnitOfWorkFactory) -> list[str]:
        async with uow_factory() as uow:
            due = await uow.outbox.claim_due(
                now=datetime(2100, 1, 1, tzinfo=UTC),
                routes=[Route(Channel.WEBHOOK)],
                limit=10,
                lease_until=datetime(2100, 1, 1, tzinfo=UTC),
            )
        return [m.destination for m in due]

    assert board.seed(webhooks) == ["household.deactivated"]
