"""``invitebot telegram``: connect the bot to Telegram (webhook, command menu) and check it.

``set-webhook`` tells Telegram to deliver updates to ``<PUBLIC_BASE_URL>/telegram/webhook``
with the webhook secret, asks only for the updates the bot handles, and publishes the command
menu. ``delete-webhook`` undoes it (long polling needs that; ``serve --telegram-polling`` does
it by itself). ``info`` shows what Telegram knows: the webhook's address, updates waiting, and
the last delivery error. Errors are one red line: exit code 2 for a setting that is missing
(the bot token, the webhook secret), as every command's startup error; 1 for the rest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from .cli_errors import fail, load_settings

if TYPE_CHECKING:
    from aiogram import Bot

    from .settings import Settings

_T = TypeVar("_T")

telegram_app = typer.Typer(help="Connect the bot to Telegram.", no_args_is_help=True)
err = Console(stderr=True, highlight=False)
NO_TOKEN = "Set INVITEBOT_TELEGRAM_BOT_TOKEN first (BotFather gives you the token)."


def _fail(message: str) -> NoReturn:
    err.print(f"[red]{escape(message)}[/red]")
    raise typer.Exit(1)


def _with_bot(settings: Settings, work: Callable[[Bot], Awaitable[_T]]) -> _T:
    """Run ``work`` with the configured bot, closing its session; Bot API errors become one
    red line."""
    import asyncio

    from aiogram.exceptions import TelegramAPIError, TelegramNetworkError

    from .telegram.bot import bot_from_settings

    bot = bot_from_settings(settings)
    if bot is None:
        fail(NO_TOKEN)

    async def main() -> _T:
        try:
            return await work(bot)
        finally:
            await bot.session.close()

    try:
        return asyncio.run(main())
    except TelegramNetworkError as error:
        _fail(f"Could not reach Telegram: {error.message}")
    except TelegramAPIError as error:
        _fail(f"Telegram refused: {error.message}")


@telegram_app.command("set-webhook")
def set_webhook(
    url: Annotated[
        str,
        typer.Option(help="Where Telegram posts updates (default: PUBLIC_BASE_URL + path)."),
    ] = "",
    drop_pending: Annotated[
        bool, typer.Option(help="Forget updates Telegram is still holding for the bot.")
    ] = False,
) -> None:
    """Register POST /telegram/webhook with Telegram, and publish the command menu."""
    from .telegram.bot import publish_commands
    from .telegram.updates import ALLOWED_UPDATES
    from .telegram.webhook import PATH

    settings = load_settings()
    if settings.telegram_bot_token is None:
        fail(NO_TOKEN)
    if settings.telegram_webhook_secret is None:
        fail(
            "Set INVITEBOT_TELEGRAM_WEBHOOK_SECRET first (1-256 characters of A-Z, a-z, 0-9, "
            "_ and -); `invitebot serve` checks it on every update."
        )
    target = url or f"{settings.public_base_url}{PATH}"
    if not target.startswith("https://"):
        _fail(f"Telegram only delivers to https:// addresses, not {target}.")

    async def work(bot: Bot) -> None:
        assert settings.telegram_webhook_secret is not None
        await bot.set_webhook(
            url=target,
            secret_token=settings.telegram_webhook_secret.get_secret_value(),
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=drop_pending,
        )
        await publish_commands(bot)

    _with_bot(settings, work)
    Console(highlight=False).print(
        f"Telegram now delivers updates to [bold]{escape(target)}[/bold]; the command menu "
        "is published."
    )


@telegram_app.command("delete-webhook")
def delete_webhook() -> None:
    """Stop Telegram's deliveries to the webhook (for long polling instead)."""

    async def work(bot: Bot) -> None:
        await bot.delete_webhook(drop_pending_updates=False)

    _with_bot(load_settings(), work)
    Console(highlight=False).print("The webhook is removed; updates wait for long polling.")


@telegram_app.command("info")
def info() -> None:
    """What Telegram knows about the bot and its webhook."""

    async def work(bot: Bot) -> tuple[str, str, int, str]:
        me = await bot.me()
        hook = await bot.get_webhook_info()
        return me.username or "", hook.url, hook.pending_update_count, hook.last_error_message or ""

    username, url, pending, last_error = _with_bot(load_settings(), work)
    out = Console(highlight=False)
    out.print(f"Bot: @{escape(username)}")
    out.print(f"Webhook: {escape(url) if url else '(none: long polling)'}")
    out.print(f"Updates waiting: {pending}")
    if last_error:
        out.print(f"Last delivery error: {escape(last_error)}")
