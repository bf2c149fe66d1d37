"""The ``invitebot`` command line: chat in a terminal, serve, run the outbox worker, migrate,
and the HOA board's admin commands."""

from __future__ import annotations

import asyncio
import getpass
import logging
import signal
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from bot import admin
from bot.contacts import ContactError, display_contact, normalise_phone
from bot.delivery import Sender
from bot.domain import Channel, Route
from bot.replies import Actor, Event
from bot.sms_inbound import InboundSms, handle_inbound_sms

from .allocator import fix_malloc_thresholds
from .bootstrap import (
    DatabaseBehind,
    build_dispatcher,
    build_engine,
    close_senders,
    core_context,
    invitee_senders,
    open_database,
)
from .cli_admin import admin_app, load_settings
from .cli_telegram import telegram_app
from .console import PLATFORM, ConsoleChat, ConsoleSender, ConsoleView, stdin_lines
from .logs import configure_logging
from .outbound import LoggingSender
from .settings import Settings

app = typer.Typer(
    help="invitebot: heads of HOA households invite the people they live with.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(admin_app, name="admin", help="The HOA board's commands: communities and households.")
app.add_typer(telegram_app, name="telegram")
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")

err = Console(stderr=True)

DEMO_COMMUNITY = "Demo HOA"
DEMO_ADDRESS = "1 Demo Street"


def _log_to(path: Path | None, level: str) -> None:
    configure_logging(level, path=path)


@app.command()
def chat(
    user: Annotated[str, typer.Option(help="Who you are in this chat (one name per person).")] = "",
    name: Annotated[str, typer.Option(help="Your display name.")] = "",
    demo: Annotated[
        bool, typer.Option(help="Start with a demo community and household, with you as its head.")
    ] = False,
) -> None:
    """Talk to the bot in this terminal. Type /help to begin, /quit to leave."""
    settings = load_settings()
    user = user or getpass.getuser()
    console = Console(highlight=False)
    log_path = settings.sqlite_path.with_suffix(".log") if settings.sqlite_path else None
    _log_to(log_path, settings.log_level)
    try:
        asyncio.run(_chat(settings, console, Actor(PLATFORM, user, user, name or user), demo))
    except DatabaseBehind as error:
        err.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.print("\nBye!")


async def _chat(settings: Settings, console: Console, actor: Actor, demo: bool) -> None:
    async with open_database(settings) as database:
        view = ConsoleView(console)
        engine = build_engine(settings, database)
        chat = ConsoleChat(engine=engine, actor=actor, view=view)
        console_sender = ConsoleSender(view)
        # Real providers where configured; otherwise SMS and email show in this window.
        senders: dict[Route, Sender] = {
            route: console_sender if isinstance(sender, LoggingSender) else sender
            for route, sender in invitee_senders(settings).items()
        }
        # Only this user's notifications: another terminal serves another user.
        senders[Route(Channel.CHAT, PLATFORM, actor.chat_id)] = console_sender
        dispatcher = build_dispatcher(settings, database, senders)
        console.print(
            f"[bold]invitebot[/bold] chat as [cyan]{actor.user_id}[/cyan] · "
            f"database {settings.database_url} · type /help, or /quit to leave"
        )
        if demo:
            await _demo_household(settings, database, chat)
        stop = asyncio.Event()
        deliveries = asyncio.create_task(dispatcher.run_forever(stop, idle_interval=0.5))
        try:
            await chat.run(stdin_lines(console), after_each=dispatcher.run_once)
            await dispatcher.run_once()
        finally:
            stop.set()
            await deliveries
            await close_senders(senders)


async def _demo_household(settings: Settings, database, chat: ConsoleChat) -> None:
    """Make the person at the keyboard head of a demo household, once."""
    ctx = core_context(settings)
    async with database.uow() as uow:
        identity = await uow.identities.get(
            platform=chat.actor.platform, external_id=chat.actor.user_id
        )
    if identity is not None:
        return
    communities = {c.name for c in await admin.list_communities(database.uow)}
    if DEMO_COMMUNITY not in communities:
        await admin.add_community(
            database.uow, name=DEMO_COMMUNITY, contact="board@demo-hoa.example", clock=ctx.clock
        )
    existing = await admin.list_households(database.uow, community_name=DEMO_COMMUNITY)
    address = DEMO_ADDRESS if not existing else f"{len(existing) + 1} Demo Street"
    issued = await admin.add_household(
        database.uow,
        community_name=DEMO_COMMUNITY,
        address=address,
        head_name=chat.actor.display_name,
        secret_key=ctx.secret_key,
        clock=ctx.clock,
        region=ctx.region,
    )
    await chat.send(Event.message(f"/join {issued.code}"))
    chat.view.console.print("Try [bold]/invite[/bold] now.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    dispatch: Annotated[bool, typer.Option(help="Deliver the outbox in this process too.")] = True,
    telegram_polling: Annotated[
        bool,
        typer.Option(help="Fetch Telegram updates by long polling (no public URL needed)."),
    ] = False,
) -> None:
    """Run the web server (webhooks, invitation pages, /healthz)."""
    import uvicorn

    from .app import create_app
    from .http_server import protocol_class

    settings = load_settings()
    if telegram_polling and settings.telegram_bot_token is None:
        err.print("[red]--telegram-polling needs INVITEBOT_TELEGRAM_BOT_TOKEN.[/red]")
        raise typer.Exit(2)
    _log_to(None, settings.log_level)
    fix_malloc_thresholds()
    app = create_app(settings, dispatch=dispatch, telegram_polling=telegram_polling)
    # The header deadline and the connection bound (uvicorn has neither as it should be).
    protocol = protocol_class(
        settings.http_protocol,
        request_timeout=settings.request_timeout_seconds,
        max_connections=settings.max_connections,
    )
    # log_config=None: uvicorn's records go through our masked JSON logging.
    # proxy_headers=False: uvicorn would believe X-Forwarded-For from loopback (or whatever
    # FORWARDED_ALLOW_IPS says) and rewrite the client's address before the app sees it; who
    # is a trusted proxy is INVITEBOT_TRUSTED_PROXIES's to say, read in handlers.client_address.
    uvicorn.run(app, host=host, port=port, log_config=None, http=protocol, proxy_headers=False)


@app.command()
def worker() -> None:
    """Deliver the outbox, alone (run several for more throughput)."""
    settings = load_settings()
    _log_to(None, settings.log_level)
    fix_malloc_thresholds()

    async def run() -> None:
        async with open_database(settings) as database:
            senders = invitee_senders(settings)
            dispatcher = build_dispatcher(settings, database, senders)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            logging.getLogger("invitebot").info("worker started")
            try:
                await dispatcher.run_forever(stop)
            finally:
                await close_senders(senders)

    try:
        asyncio.run(run())
    except DatabaseBehind as error:
        err.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None


@app.command("sms-reply")
def sms_reply(
    body: Annotated[str, typer.Argument(help='What the invitee texts, e.g. "JOIN".')],
    sender: Annotated[
        str, typer.Option("--from", help="The invitee's phone number, e.g. +12025550199.")
    ],
) -> None:
    """Answer an SMS invitation as the invitee would, without Twilio (for trying it out)."""
    settings = load_settings()
    try:
        phone = normalise_phone(sender, region=settings.default_region)
    except ContactError as error:
        err.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None

    async def run() -> str | None:
        async with open_database(settings) as database:
            ctx = core_context(settings)
            async with database.uow() as uow:
                reply = await handle_inbound_sms(
                    uow,
                    ctx,
                    InboundSms(sender=phone, body=body, message_id=f"SMlocal{uuid.uuid4().hex}"),
                )
                await uow.commit()
            return reply

    reply = asyncio.run(run())
    console = Console(highlight=False)
    console.print(Text(f"📱 reply to {display_contact(phone)}: ", style="bold"), end="")
    console.print(Text(reply or "(no reply: the carrier answers STOP and START itself)"))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema up to date (safe to run again)."""
    settings = load_settings()

    async def run() -> str | None:
        async with open_database(settings, upgrade=False) as database:
            await database.upgrade()
            return await database.current_revision()

    revision = asyncio.run(run())
    Console().print(f"Database is at revision [bold]{revision}[/bold].")


def main() -> None:
    app()
