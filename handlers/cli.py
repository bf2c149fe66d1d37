"""The ``invitebot`` command line: chat in a terminal, serve, run the outbox worker, migrate,
and the HOA board's admin commands.

Building the command line imports Typer, Rich and the command modules, nothing more: each
command imports what it runs (the settings, the database, the web server, a provider's SDK)
when it runs, so ``invitebot --help`` answers in a fraction of a second and ``invitebot admin
...`` loads no web server, no Alembic and no provider (docs/performance.md, "CLI startup";
``tests/handlers/test_cli_startup.py`` keeps it so).

A command that cannot start (settings not valid, no secret key, a database behind or not
reachable) says why in one line, with exit code 2 (:mod:`handlers.cli_errors`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .cli_admin import admin_app
from .cli_errors import fail, load_settings, run, secret_key, startup_problem
from .cli_telegram import telegram_app

if TYPE_CHECKING:
    from rich.console import Console

    from bot.replies import Actor
    from storage.database import Database

    from .console import ConsoleChat
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

DEMO_COMMUNITY = "Demo HOA"
DEMO_ADDRESS = "1 Demo Street"


def version() -> str:
    """``invitebot 0.1.0``: the installed package's version, from its metadata."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return f"invitebot {installed('invitebot')}"
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "invitebot (not installed)"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version())
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_show_version,
            is_eager=True,
            metavar="",  # a flag: no <bool> after it in the help
        ),
    ] = False,
) -> None:
    pass


def _log_to(path: Path | None, level: str) -> None:
    from .logs import configure_logging

    configure_logging(level, path=path)


def chat_log_path(settings: Settings) -> Path:
    """Where ``invitebot chat`` writes its log, never into the chat: beside a SQLite file
    (``invitebot.db`` → ``invitebot.log``; a database already named ``*.log`` →
    ``bot.log.chat.log``, never the database itself); for any other database (PostgreSQL,
    SQLite in memory), ``$XDG_STATE_HOME/invitebot/chat.log``
    (``~/.local/state/invitebot/chat.log``)."""
    if settings.sqlite_path is not None:
        database = settings.sqlite_path
        if database.suffix == ".log":
            return database.with_name(f"{database.name}.chat.log")
        return database.with_suffix(".log")
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "invitebot" / "chat.log"


def _chat_logging(settings: Settings) -> Path | None:
    """Log the chat to :func:`chat_log_path`; when that file cannot be made, only warnings
    and errors, as plain text on stderr. Returns the file, or ``None``."""
    from .logs import configure_logging, configure_plain_logging

    path = chat_log_path(settings)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        configure_logging(settings.log_level, path=path)
    except OSError:
        configure_plain_logging("WARNING")
        return None
    return path


@app.command()
def chat(
    user: Annotated[str, typer.Option(help="Who you are in this chat (one name per person).")] = "",
    name: Annotated[str, typer.Option(help="Your display name.")] = "",
    demo: Annotated[
        bool, typer.Option(help="Start with a demo community and household, with you as its head.")
    ] = False,
) -> None:
    """Talk to the bot in this terminal. Type /help to begin, /quit to leave."""
    import getpass

    from rich.console import Console

    from bot.replies import Actor

    from .console import PLATFORM, terminal_language

    settings = load_settings()
    secret_key(settings)
    user = user or getpass.getuser()
    console = Console(highlight=False)
    log_path = _chat_logging(settings)
    actor = Actor(PLATFORM, user, user, name or user, language=terminal_language())
    try:
        run(_chat(settings, console, actor, demo, log_path))
    except KeyboardInterrupt:
        console.print("\nBye!")


async def _chat(
    settings: Settings, console: Console, actor: Actor, demo: bool, log_path: Path | None
) -> None:
    import asyncio

    from rich.markup import escape

    from bot.delivery import Sender
    from bot.domain import Channel, Route

    from .bootstrap import (
        build_dispatcher,
        build_engine,
        close_senders,
        invitee_senders,
        open_database,
    )
    from .console import PLATFORM, ConsoleChat, ConsoleSender, ConsoleView, stdin_lines
    from .outbound import LoggingSender

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
        log = f"log {escape(str(log_path))}" if log_path else "warnings shown here"
        console.print(
            f"[bold]invitebot[/bold] chat as [cyan]{escape(actor.user_id)}[/cyan] · "
            f"database {escape(_shown_url(settings))} · {log} · type /help, or /quit to leave",
            soft_wrap=True,
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


def _shown_url(settings: Settings) -> str:
    """The database URL with its password hidden, in ``user:***@`` or in the query."""
    from .settings import shown_database_url

    return shown_database_url(settings.database_url)


async def _demo_household(settings: Settings, database: Database, chat: ConsoleChat) -> None:
    """Make the person at the keyboard head of a demo household, once."""
    from bot import admin
    from bot.replies import Event

    from .bootstrap import core_context

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


async def _check_database(settings: Settings) -> None:
    """Open the database as a server process will, and close it: a SQLite file is brought up
    to date, any other database must be already; a problem is a one-line startup error."""
    from .bootstrap import open_database

    async with open_database(settings):
        pass


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
    settings = load_settings()
    if telegram_polling and settings.telegram_bot_token is None:
        fail("--telegram-polling needs INVITEBOT_TELEGRAM_BOT_TOKEN.")
    secret_key(settings)
    from .http_server import listening_sockets

    # Bound first, before the database check and the app's startup: a port in use is one
    # line, and the app logs that it serves only once it has its socket.
    try:
        sockets = listening_sockets(host, port)
    except OverflowError:
        fail(f"Cannot listen on port {port}: choose a port from 1 to 65535 with --port.")
    except OSError as error:
        fail(
            f"Cannot listen on {host}:{port}: {error.strerror or error}. Stop what uses that "
            "port or choose another with --port, or an address of this host with --host."
        )
    _log_to(None, settings.log_level)
    # Before uvicorn starts: a database that is behind or cannot be reached is one line and
    # exit code 2, not a traceback from the app's startup.
    run(_check_database(settings))

    import uvicorn

    from .allocator import fix_malloc_thresholds
    from .app import create_app
    from .http_server import parser_name, protocol_class

    fix_malloc_thresholds()
    app = create_app(settings, dispatch=dispatch, telegram_polling=telegram_polling)
    # The header deadline and the connection bound (uvicorn has neither as it should be).
    protocol = protocol_class(
        settings.http_protocol,
        request_timeout=settings.request_timeout_seconds,
        max_connections=settings.max_connections,
    )
    # Told in the startup log, with the event loop the app finds itself on.
    app.state.serving = f"http://{host}:{sockets[0].getsockname()[1]}"
    app.state.http_parser = parser_name(protocol)
    # loop="auto": uvloop (uvicorn[standard]); http: httptools unless configured.
    # log_config=None: uvicorn's records go through our masked JSON logging.
    # proxy_headers=False: uvicorn would believe X-Forwarded-For from loopback (or
    # whatever FORWARDED_ALLOW_IPS says) and rewrite the client's address before the app
    # sees it; who is a trusted proxy is INVITEBOT_TRUSTED_PROXIES's to say, read in
    # handlers.client_address.
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="auto",
        log_config=None,
        http=protocol,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    try:
        # What uvicorn.run does, on the sockets bound above.
        server.run(sockets=sockets)
    except KeyboardInterrupt:
        pass
    except SystemExit:
        # The app's startup failed after the check above (the database went away, say).
        problem = getattr(app.state, "startup_error", None)
        if problem is not None:
            fail(str(problem))
        raise
    if not server.started:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE, as uvicorn.run exits


@app.command()
def worker() -> None:
    """Deliver the outbox, alone (run several for more throughput)."""
    settings = load_settings()
    secret_key(settings)
    _log_to(None, settings.log_level)
    run(_check_database(settings))

    from .allocator import fix_malloc_thresholds

    fix_malloc_thresholds()
    run(_work(settings))


async def _work(settings: Settings) -> None:
    import asyncio
    import logging
    import signal

    from .bootstrap import build_dispatcher, close_senders, invitee_senders, open_database

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


@app.command("sms-reply")
def sms_reply(
    body: Annotated[str, typer.Argument(help='What the invitee texts, e.g. "JOIN".')],
    sender: Annotated[
        str, typer.Option("--from", help="The invitee's phone number, e.g. +12025550199.")
    ],
) -> None:
    """Answer an SMS invitation as the invitee would, without Twilio (for trying it out)."""
    from rich.console import Console
    from rich.text import Text

    from bot.contacts import ContactError, display_contact, normalise_phone

    settings = load_settings()
    secret_key(settings)
    try:
        phone = normalise_phone(sender, region=settings.default_region)
    except ContactError as error:
        fail(str(error))
    reply = run(_sms_reply(settings, phone, body))
    console = Console(highlight=False)
    console.print(Text(f"📱 reply to {display_contact(phone)}: ", style="bold"), end="")
    console.print(Text(reply or "(no reply: the carrier answers STOP and START itself)"))


async def _sms_reply(settings: Settings, phone: str, body: str) -> str | None:
    import uuid

    from bot.sms_inbound import InboundSms, handle_inbound_sms

    from .bootstrap import core_context, open_database

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


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema up to date (safe to run again)."""
    from rich.console import Console

    settings = load_settings()
    revision = run(_upgrade(settings))
    Console().print(f"Database is at revision [bold]{revision}[/bold].")


async def _upgrade(settings: Settings) -> str | None:
    from .bootstrap import check_reachable, open_database

    async with open_database(settings, upgrade=False) as database:
        await check_reachable(settings, database)
        await database.upgrade()
        return await database.current_revision()


def main() -> None:
    try:
        app()
    except Exception as error:  # what a command did not turn into its one line itself
        problem = startup_problem(error)
        if problem is None:
            raise
        try:
            fail(problem)
        except typer.Exit as exit_:
            raise SystemExit(exit_.exit_code) from None
