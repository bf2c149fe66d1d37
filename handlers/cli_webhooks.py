"""``invitebot admin webhook test|secret``: check the HOA's webhook receiver, make a secret.

Registered on the admin app when this module is imported (``handlers.cli_admin`` imports it
last). The webhooks themselves leave through the outbox (:mod:`bot.webhooks`); ``test``
sends one signed ``ping`` straight away, outside the outbox, and prints the answer.
"""

from __future__ import annotations

import typer
from rich.markup import escape

from .cli_admin import _fail, _out, admin_app, load_settings
from .terminal import printable

webhook_app = typer.Typer(help="Signed webhooks to the HOA's other systems.", no_args_is_help=True)
admin_app.add_typer(webhook_app, name="webhook")

SHOWN_ANSWER = 500
"""The most of the receiver's answer printed."""


@webhook_app.command("test")
def webhook_test() -> None:
    """Send a signed ping to INVITEBOT_WEBHOOK_URL and print the receiver's answer."""
    settings = load_settings()
    if not settings.webhooks_enabled:
        _fail(
            "Webhooks are not configured: set INVITEBOT_WEBHOOK_URL and INVITEBOT_WEBHOOK_SECRET "
            "(make a secret with: invitebot admin webhook secret)",
            code=2,
        )
    import asyncio
    import secrets
    from datetime import UTC, datetime

    from bot import webhooks
    from bot.delivery import DeliveryError

    from .webhooks import webhook_sender_from_settings

    sender = webhook_sender_from_settings(settings)
    assert sender is not None  # webhooks_enabled
    ident, body = webhooks.ping(datetime.now(UTC), nonce=secrets.token_hex(8))

    async def send() -> object:
        try:
            return await sender.post(ident, body)
        finally:
            await sender.close()

    try:
        answer = asyncio.run(send())
    except DeliveryError as error:
        _fail(f"The ping to {sender.url} failed: {error}")
    from .webhooks import Answer

    assert isinstance(answer, Answer)
    shown = _printable(answer.text)
    colour = "green" if answer.ok else "red"
    _out().print(
        f"Sent ping {escape(ident)} to {escape(sender.url)}: the receiver answered "
        f"[{colour}]{answer.status} {escape(_printable(answer.reason))}[/]"
        + (f"\n{escape(shown)}" if shown else ""),
        soft_wrap=True,
    )
    if not answer.ok:
        raise typer.Exit(1)


@webhook_app.command("secret")
def webhook_secret() -> None:
    """Print a new signing secret for INVITEBOT_WEBHOOK_SECRET (give the receiver the same)."""
    from .webhooks import new_secret

    _out().print(new_secret())


def _printable(text: str) -> str:
    return printable(text, limit=SHOWN_ANSWER, newlines=True)
