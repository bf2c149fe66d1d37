"""How ``invitebot`` starts, as a process: what building the command line imports, the
version, and every command's startup errors (settings, secret key, database) as one line
with exit code 2; ``chat`` on PostgreSQL logging away from the chat; ``serve`` naming its
event loop and HTTP parser. Timing is the benchmark's (``tests/benchmarks/startup.py``)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from storage import Database

INVITEBOT = Path(sys.executable).parent / "invitebot"
POSTGRES_URL = os.environ.get("INVITEBOT_TEST_DATABASE_URL") or None
SECRET = "s" * 40
HEAVY: tuple[str, ...] = ("alembic", "aiohttp", "twilio", "aiogram", "slack_bolt")
HEAVY += ("sqlalchemy", "starlette", "uvicorn", "pydantic", "storage", "bot")

needs_postgres = pytest.mark.postgres  # skipped without INVITEBOT_TEST_DATABASE_URL


def clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVITEBOT_")}
    return env | {"COLUMNS": "200", "PYTHONIOENCODING": "utf-8"} | settings


def invitebot(
    env: dict[str, str], *args: str, cwd: Path, typed: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    # chat logs under $XDG_STATE_HOME when the database is no SQLite file: not in $HOME.
    env = {"XDG_STATE_HOME": str(cwd / "state")} | env
    return subprocess.run(
        [str(INVITEBOT), *args],
        input=typed,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


def one_line_exit_2(done: subprocess.CompletedProcess[str]) -> str:
    """The one line a command that could not start printed on stderr."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


# Every command that reads the settings, with what it needs besides.
COMMANDS: dict[str, tuple[str, ...]] = {
    "serve": ("serve", "--port", "0"),  # any free port: never one in use
    "worker": ("worker",),
    "chat": ("chat", "--user", "ana"),
    "admin": ("admin", "household", "list"),
    "admin-add": ("admin", "household", "add", "--community", "C", "--address", "1 A St"),
    "db upgrade": ("db", "upgrade"),
    "sms-reply": ("sms-reply", "JOIN", "--from", "+12025550199"),
    "telegram": ("telegram", "info"),
}
DATABASE_COMMANDS = [name for name in COMMANDS if name != "telegram"]


# --- building the command line --------------------------------------------------------------


def test_building_the_command_line_imports_nothing_heavy() -> None:
    """`invitebot --help` should not pay for what no command has run yet: the database and
    its migrations, the web server, the providers' SDKs, the settings, the core."""
    probe = f"import handlers.cli, sys; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=clean_env()
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_an_admin_command_on_a_current_sqlite_database_imports_no_migrations(
    tmp_path: Path,
) -> None:
    """Alembic is imported when a migration runs, not to find that none is needed; nor the
    web server or a provider's SDK by a board command."""
    env = clean_env(INVITEBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db")
    assert invitebot(env, "db", "upgrade", cwd=tmp_path).returncode == 0
    probe = (
        "import sys\n"
        "from handlers.cli import main\n"
        "sys.argv = ['invitebot', 'admin', 'household', 'list']\n"
        "try:\n    main()\n"
        "except SystemExit as exit_:\n    assert not exit_.code, exit_.code\n"
        "print(sorted(m for m in ('alembic', 'aiohttp', 'twilio', 'aiosmtplib', 'aiogram', "
        "'slack_bolt', 'starlette', 'uvicorn') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "No households yet." in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_migration_still_runs_when_the_sqlite_database_is_behind(tmp_path: Path) -> None:
    env = clean_env(INVITEBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db")
    migrate = [sys.executable, "-c", "import asyncio, sys\nfrom storage import Database\n"]
    migrate[-1] += "asyncio.run(Database(sys.argv[1]).upgrade('0006'))"
    subprocess.run([*migrate, env["INVITEBOT_DATABASE_URL"]], check=True, env=env, cwd=tmp_path)
    done = invitebot(env, "admin", "community", "list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    upgraded = invitebot(env, "db", "upgrade", cwd=tmp_path)
    # the admin command brought it to the head
    assert f"revision {Database.head_revision()}" in upgraded.stdout


# --- --version --------------------------------------------------------------------------------


def test_version_is_the_installed_packages(tmp_path: Path) -> None:
    done = invitebot(clean_env(), "--version", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"invitebot {version('invitebot')}\n"
    assert re.fullmatch(r"invitebot \d+\.\d+\.\d+\S*\n", done.stdout)
    help_ = invitebot(clean_env(), "--help", cwd=tmp_path).stdout
    [line] = [line for line in help_.splitlines() if "--version" in line]
    assert "<bool>" not in line and "Print the version and exit." in line  # a plain flag


# --- settings that are not valid ---------------------------------------------------------------


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("INVITEBOT_INVITE_TTL_HOURS", "often"),
        ("INVITEBOT_SECRET_KEY", "short"),
        ("INVITEBOT_LOG_LEVEL", "LOUD"),
        ("INVITEBOT_DEFAULT_REGION", "ZZ"),
        ("INVITEBOT_SMTP_PORT", "99999"),
        ("INVITEBOT_DATABASE_URL", "postgresql://u:Sup3rSecretPw@127.0.0.1:5432/x"),
    ],
)
def test_settings_that_are_not_valid_are_one_line_and_exit_2(
    tmp_path: Path, command: str, variable: str, value: str
) -> None:
    env = clean_env(INVITEBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db")
    env[variable] = value
    line = one_line_exit_2(invitebot(env, *COMMANDS[command], cwd=tmp_path))
    assert "The configuration is not valid" in line and variable in line
    assert not (tmp_path / "invitebot.db").exists()  # nothing was started


PASSWORD = "Sup3rSecretPw"
BAD_DATABASE_URLS = {
    "no driver": (f"postgresql://u:{PASSWORD}@127.0.0.1:5432/x", "postgresql+asyncpg://"),
    "psycopg": (f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1/x", "postgresql+asyncpg://"),
    "sqlite without aiosqlite": ("sqlite:///./invitebot.db", "sqlite+aiosqlite:///"),
    "mysql": (f"mysql://u:{PASSWORD}@127.0.0.1/x", "postgresql+asyncpg://"),
    "not a url": ("not a url", "postgresql+asyncpg://"),
    "port not a number": (f"postgresql+asyncpg://u:{PASSWORD}@127.0.0.1:notaport/x", "e.g."),
}


@pytest.mark.parametrize("command", DATABASE_COMMANDS)
@pytest.mark.parametrize("case", list(BAD_DATABASE_URLS))
def test_a_database_url_that_cannot_work_is_one_line_naming_the_fix(
    tmp_path: Path, command: str, case: str
) -> None:
    url, fix = BAD_DATABASE_URLS[case]
    env = clean_env(INVITEBOT_DATABASE_URL=url, INVITEBOT_SECRET_KEY=SECRET)
    line = one_line_exit_2(invitebot(env, *COMMANDS[command], cwd=tmp_path))
    assert "INVITEBOT_DATABASE_URL" in line and fix in line
    assert PASSWORD not in line


@pytest.mark.parametrize("command", ["worker", "admin", "db upgrade"])
@pytest.mark.parametrize("query", ["timeout=abc", "check_same_thread=maybe"])
def test_a_url_the_engine_cannot_be_made_from_is_one_line(
    tmp_path: Path, command: str, query: str
) -> None:
    """What the settings' check lets through and the engine refuses: still one line."""
    url = f"sqlite+aiosqlite:///{tmp_path}/invitebot.db?{query}"
    env = clean_env(INVITEBOT_DATABASE_URL=url, INVITEBOT_SECRET_KEY=SECRET)
    line = one_line_exit_2(invitebot(env, *COMMANDS[command], cwd=tmp_path))
    assert line.startswith("Error: Cannot use the database sqlite+aiosqlite:///")
    assert "INVITEBOT_DATABASE_URL" in line


@pytest.mark.parametrize("command", ["serve", "worker", "admin", "db upgrade"])
@pytest.mark.parametrize("parameter", ["password", "sslpassword", "secret_token"])
def test_a_password_in_the_urls_query_is_never_shown(
    tmp_path: Path, command: str, parameter: str
) -> None:
    host = f"127.0.0.1:{closed_port()}"
    url = f"postgresql+asyncpg://rev17@{host}/x?{parameter}={PASSWORD}&ssl=disable"
    env = clean_env(INVITEBOT_DATABASE_URL=url, INVITEBOT_SECRET_KEY=SECRET)
    line = one_line_exit_2(invitebot(env, *COMMANDS[command], cwd=tmp_path))
    assert f"Cannot use the database postgresql+asyncpg://rev17@{host}/x?" in line
    assert f"{parameter}=***" in line and "ssl=disable" in line
    assert PASSWORD not in line


@needs_postgres
def test_the_chat_banner_hides_a_password_in_the_query(tmp_path: Path) -> None:
    assert POSTGRES_URL is not None and "?" not in POSTGRES_URL
    env = clean_env(
        INVITEBOT_DATABASE_URL=f"{POSTGRES_URL}?password={PASSWORD}",
        INVITEBOT_SECRET_KEY=SECRET,
    )
    assert invitebot(env, "db", "upgrade", cwd=tmp_path).returncode == 0
    done = invitebot(env, "chat", "--user", "ana", cwd=tmp_path, typed="/quit\n")
    assert done.returncode == 0, done.stderr
    assert "?password=***" in done.stdout
    assert PASSWORD not in done.stdout + done.stderr


@pytest.mark.parametrize("command", ["admin", "worker", "chat"])
def test_an_env_file_that_is_not_utf8_is_one_line(tmp_path: Path, command: str) -> None:
    (tmp_path / ".env").write_bytes("INVITEBOT_HOA_CONTACT=Caf\u00e9 board\n".encode("latin-1"))
    env = clean_env(INVITEBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db")
    line = one_line_exit_2(invitebot(env, *COMMANDS[command], cwd=tmp_path))
    assert f"{tmp_path / '.env'}" in line and "UTF-8" in line


@pytest.mark.parametrize("command", ["serve", "worker", "chat", "sms-reply"])
def test_a_key_file_that_cannot_be_written_says_what_fixes_it(tmp_path: Path, command: str) -> None:
    (tmp_path / "taken").write_text("a file, not a folder: no key file can go in it")
    env = clean_env(INVITEBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/taken/invitebot.db")
    line = one_line_exit_2(invitebot(env, *COMMANDS[command], cwd=tmp_path))
    assert line.startswith("Error: No secret key: cannot write its file")
    assert "writable" in line and "INVITEBOT_SECRET_KEY" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to a read-only directory")
def test_a_read_only_directory_says_what_fixes_it(tmp_path: Path) -> None:
    (tmp_path / "ro").mkdir(mode=0o555)
    env = clean_env()
    line = one_line_exit_2(invitebot(env, "worker", cwd=tmp_path / "ro"))
    assert "No secret key" in line and "writable" in line and "INVITEBOT_SECRET_KEY" in line


@pytest.mark.parametrize("command", ["info", "delete-webhook", "set-webhook"])
def test_telegram_without_a_token_is_a_startup_error(tmp_path: Path, command: str) -> None:
    env = clean_env(INVITEBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db")
    line = one_line_exit_2(invitebot(env, "telegram", command, cwd=tmp_path))
    assert "INVITEBOT_TELEGRAM_BOT_TOKEN" in line


@pytest.mark.parametrize("command", ["serve", "worker", "chat", "sms-reply", "admin-add"])
def test_no_secret_key_for_a_server_database_is_one_line(tmp_path: Path, command: str) -> None:
    env = clean_env(INVITEBOT_DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:1/none")
    line = one_line_exit_2(invitebot(env, *COMMANDS[command], cwd=tmp_path))
    assert "No secret key" in line and "INVITEBOT_SECRET_KEY" in line


# --- a database that cannot be reached ----------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("command", DATABASE_COMMANDS)
@pytest.mark.parametrize("where", ["refused", "unknown host"])
def test_a_database_that_cannot_be_reached_is_one_line(
    tmp_path: Path, command: str, where: str
) -> None:
    host = f"127.0.0.1:{closed_port()}" if where == "refused" else "no-such-host.invalid:5432"
    url = f"postgresql+asyncpg://invitebot:hunter2@{host}/invitebot"
    env = clean_env(INVITEBOT_DATABASE_URL=url, INVITEBOT_SECRET_KEY=SECRET)
    line = one_line_exit_2(invitebot(env, *COMMANDS[command], cwd=tmp_path))
    assert f"Cannot use the database postgresql+asyncpg://invitebot:***@{host}/invitebot" in line
    assert "hunter2" not in line
    assert "INVITEBOT_DATABASE_URL" in line


def test_a_sqlite_file_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")
    url = f"sqlite+aiosqlite:///{tmp_path}/taken/invitebot.db"
    env = clean_env(INVITEBOT_DATABASE_URL=url, INVITEBOT_SECRET_KEY=SECRET)
    for command in ("worker", "admin"):
        line = one_line_exit_2(invitebot(env, *COMMANDS[command], cwd=tmp_path))
        assert "invitebot.db" in line


# --- a PostgreSQL database never migrated -------------------------------------------------------


async def _execute(url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
def never_migrated() -> Iterator[str]:
    """A new PostgreSQL database, empty, dropped after the test."""
    assert POSTGRES_URL is not None
    name = f"invitebot_cli_behind_{uuid.uuid4().hex[:12]}"
    admin = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    asyncio.run(_execute(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@needs_postgres
def test_every_command_on_a_database_never_migrated_says_db_upgrade(
    tmp_path: Path, never_migrated: str
) -> None:
    env = clean_env(INVITEBOT_DATABASE_URL=never_migrated, INVITEBOT_SECRET_KEY=SECRET)
    for command in ("serve", "worker", "chat", "admin", "admin-add", "sms-reply"):
        line = one_line_exit_2(invitebot(env, *COMMANDS[command], cwd=tmp_path))
        assert line == (
            "Error: The database is not up to date. Run `invitebot db upgrade` first."
        ), command
    upgraded = invitebot(env, "db", "upgrade", cwd=tmp_path)
    head = f"revision {Database.head_revision()}"
    assert upgraded.returncode == 0 and head in upgraded.stdout, upgraded.stderr
    listed = invitebot(env, "admin", "household", "list", cwd=tmp_path)
    assert listed.returncode == 0 and "No households yet." in listed.stdout, listed.stderr


@needs_postgres
def test_chat_on_postgresql_logs_to_a_file_not_the_terminal(
    tmp_path: Path, never_migrated: str
) -> None:
    env = clean_env(
        INVITEBOT_DATABASE_URL=never_migrated,
        INVITEBOT_SECRET_KEY=SECRET,
        INVITEBOT_LOG_LEVEL="DEBUG",
        XDG_STATE_HOME=str(tmp_path / "state"),
    )
    assert invitebot(env, "db", "upgrade", cwd=tmp_path).returncode == 0
    typed = "/help\n/invite\n/quit\n"
    done = invitebot(env, "chat", "--demo", "--user", "ana", cwd=tmp_path, typed=typed)
    assert done.returncode == 0, done.stderr
    log = tmp_path / "state" / "invitebot" / "chat.log"
    assert f"log {log}" in done.stdout  # the chat says where its log is
    assert "You are now the head of the household" in done.stdout
    for output in (done.stdout, done.stderr):
        assert '{"time"' not in output and '"logger"' not in output
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records and all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert oct(log.stat().st_mode & 0o777) == oct(0o600)


def test_chat_without_a_writable_log_file_shows_only_warnings(tmp_path: Path) -> None:
    (tmp_path / "invitebot.log").mkdir()  # where the log file would be
    env = clean_env(
        INVITEBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db",
        INVITEBOT_LOG_LEVEL="DEBUG",
    )
    done = invitebot(env, "chat", "--demo", "--user", "ana", cwd=tmp_path, typed="/quit\n")
    assert done.returncode == 0, done.stderr
    assert "warnings shown here" in done.stdout
    assert '{"time"' not in done.stdout + done.stderr and "Traceback" not in done.stderr
    assert "DEBUG" not in done.stderr and "INFO" not in done.stderr  # warnings only


def test_chat_never_logs_into_a_database_named_like_a_log(tmp_path: Path) -> None:
    database = tmp_path / "bot.log"
    env = clean_env(INVITEBOT_DATABASE_URL=f"sqlite+aiosqlite:///{database}")
    done = invitebot(env, "chat", "--demo", "--user", "ana", cwd=tmp_path, typed="/quit\n")
    assert done.returncode == 0, done.stderr
    log = tmp_path / "bot.log.chat.log"
    assert f"log {log}" in done.stdout
    assert database.read_bytes().startswith(b"SQLite format 3\x00")
    assert all(json.loads(line)["logger"] for line in log.read_text().splitlines())
    listed = invitebot(env, "admin", "household", "list", cwd=tmp_path)
    assert listed.returncode == 0 and "1 Demo Street" in listed.stdout, listed.stderr


def test_a_debug_log_on_sqlite_holds_no_sql_parameters(tmp_path: Path) -> None:
    """At DEBUG, aiosqlite would log every call with its parameters: the names typed in."""
    env = clean_env(
        INVITEBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db",
        INVITEBOT_LOG_LEVEL="debug",
    )
    done = invitebot(
        env,
        "chat",
        "--demo",
        "--user",
        "ana",
        "--name",
        "Zebulon Quillfeather",
        cwd=tmp_path,
        typed="/help\n/quit\n",
    )
    assert done.returncode == 0, done.stderr
    assert "You are now the head of the household" in done.stdout
    log = (tmp_path / "invitebot.log").read_text()
    assert '"level": "DEBUG"' in log  # the level was DEBUG indeed
    assert "Zebulon" not in log and "Quillfeather" not in log
    assert "1 Demo Street" not in log


# --- serve: the HTTP stack ----------------------------------------------------------------------


def test_serve_on_a_port_in_use_is_one_line_and_logs_no_serving(tmp_path: Path) -> None:
    env = clean_env(INVITEBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = invitebot(env, "serve", "--port", str(port), cwd=tmp_path)
    line = one_line_exit_2(done)
    assert f"127.0.0.1:{port}" in line and "--port" in line
    assert "serving on" not in done.stdout + done.stderr


@pytest.mark.parametrize("port", ["65536", "99999", "-1"])
def test_serve_on_a_port_that_cannot_be_is_one_line(tmp_path: Path, port: str) -> None:
    env = clean_env(INVITEBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db")
    line = one_line_exit_2(invitebot(env, "serve", "--port", port, cwd=tmp_path))
    assert port in line and "--port" in line


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("protocol", ["auto", "h11"])
def test_serve_says_which_event_loop_and_http_parser_run(tmp_path: Path, protocol: str) -> None:
    port = free_port()
    env = clean_env(
        INVITEBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/invitebot.db",
        INVITEBOT_HTTP_PROTOCOL=protocol,
    )
    server = subprocess.Popen(
        [str(INVITEBOT), "serve", "--port", str(port), "--no-dispatch"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=15)
    output = server.stdout.read() if server.stdout else ""
    records = [json.loads(line) for line in output.splitlines() if line.strip()]
    parser = "httptools" if protocol == "auto" else "h11"
    serving = [r for r in records if r["message"].startswith("serving on ")]
    assert [r["message"] for r in serving] == [
        f"serving on http://127.0.0.1:{port} with uvloop and {parser}"
    ]
    assert serving[0]["event_loop"] == "uvloop" and serving[0]["http_parser"] == parser
    # uvicorn's records carry its coloured copy of the message: not in our JSON lines.
    assert any(r["logger"] == "uvicorn.error" for r in records)
    assert all("color_message" not in r for r in records)
    assert "\x1b[" not in output and "\\u001b" not in output


# --- what the check reads without Alembic ------------------------------------------------------


def test_the_heads_read_without_alembic_are_alembics() -> None:
    from storage.database import Database, known_heads

    assert known_heads() == frozenset([Database.head_revision()])


def test_scripts_that_do_not_say_their_revisions_plainly_leave_it_to_alembic(
    tmp_path: Path,
) -> None:
    from storage.database import known_heads

    script = 'revision: str = "{rev}"\ndown_revision: str | Sequence[str] | None = {down}\n'
    (tmp_path / "a.py").write_text(script.format(rev="a1", down="None"))
    (tmp_path / "b.py").write_text(script.format(rev="b2", down='"a1"'))
    (tmp_path / "c.py").write_text(script.format(rev="c3", down='"a1"'))
    assert known_heads(tmp_path) == frozenset(["b2", "c3"])  # two branches: two heads
    (tmp_path / "d.py").write_text(script.format(rev="d4", down='("b2", "c3")'))  # a merge
    assert known_heads(tmp_path) is None
    (tmp_path / "d.py").write_text("revision = make_revision()\n")
    assert known_heads(tmp_path) is None


# --- the JSON lines ---------------------------------------------------------------------------


def test_uvicorns_coloured_message_is_not_in_the_json_lines() -> None:
    import logging

    from handlers.logs import MaskSecrets, json_formatter

    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Started %s", (1,), None)
    record.color_message = "Started \x1b[1m%s\x1b[0m"
    record.event_loop = "uvloop"  # what a call passes in extra= stays
    MaskSecrets().filter(record)
    line = json.loads(json_formatter().format(record))
    assert line["message"] == "Started 1" and line["event_loop"] == "uvloop"
    assert "color_message" not in line


@pytest.mark.parametrize("protocol", ["auto", "h11"])
def test_connections_accepted_on_uvloop_have_tcp_nodelay(protocol: str) -> None:
    """docs/performance.md: without TCP_NODELAY every response waits ~40 ms for the client's
    delayed ACK. uvloop sets it on the connections it accepts, as asyncio does."""
    import threading
    from typing import Any

    import uvicorn

    from handlers.http_server import protocol_class

    nodelay: list[int] = []
    guarded: Any = protocol_class(protocol)

    class Watched(guarded):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            nodelay.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            super().connection_made(transport)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    port = free_port()
    config = uvicorn.Config(
        app, port=port, loop="auto", http=Watched, lifespan="off", log_config=None
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
            time.sleep(0.05)
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text == "ok"
        assert server.servers and "uvloop" in type(server.servers[0]).__module__
    finally:
        server.should_exit = True
        thread.join(timeout=15)
    assert nodelay == [1]


@needs_postgres
def test_the_apps_startup_keeps_the_error_serve_prints(never_migrated: str) -> None:
    """Should the database fall behind between `serve`'s check and the app's startup, the
    app keeps the error, for `serve` to print in one line (exit code 2) after uvicorn."""
    from handlers.app import create_app
    from handlers.bootstrap import DatabaseBehind
    from handlers.settings import Settings

    app = create_app(Settings(database_url=never_migrated, secret_key=SECRET), dispatch=False)

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass

    with pytest.raises(DatabaseBehind):
        asyncio.run(start())
    assert isinstance(app.state.startup_error, DatabaseBehind)
