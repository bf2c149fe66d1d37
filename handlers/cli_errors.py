"""What goes wrong before a command can do its work, as one line and exit code 2.

Every ``invitebot`` command reads the settings and most open the database first. A setting
that is not valid, a secret key that is missing, a database that cannot be reached or whose
schema is behind this code: each is told in one line on stderr, saying what is wrong and
what fixes it, with exit code 2 and no traceback (:data:`STARTUP_FAILURE`). A command's own
refusals (an unknown community, a row that is not valid) keep exit code 1.

This module is imported by the CLI before any command runs, so it imports nothing heavy:
the settings (pydantic) and the composition root are imported when a command asks for them.
"""

from __future__ import annotations

import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from .settings import Settings

_T = TypeVar("_T")
_loaded: list[Settings] = []
"""The settings :func:`load_settings` read, for :func:`fail` to keep their secrets out of a
message."""

STARTUP_FAILURE = 2
"""The exit code of a command that could not start: settings, secret key or database."""


def fail(message: str, *, code: int = STARTUP_FAILURE) -> NoReturn:
    """Print ``message`` as one red line on stderr and exit with ``code``; the database's
    password (or any secret in its URL) never shown, whatever the message quotes."""
    from rich.console import Console
    from rich.markup import escape

    from .terminal import printable

    message = _without_database_secrets(message)

    Console(stderr=True, highlight=False, emoji=False).print(
        f"[bold red]Error:[/] [red]{escape(printable(message))}[/]", soft_wrap=True
    )
    raise typer.Exit(code)


def _without_database_secrets(message: str) -> str:
    """``message`` with the loaded database URL shown as :func:`shown_database_url` shows it,
    and any secret of that URL quoted elsewhere replaced too."""
    if not _loaded:
        return message
    from .settings import HIDDEN, database_url_secrets, shown_database_url

    url = _loaded[-1].database_url
    secrets = database_url_secrets(url)
    if not secrets:
        return message
    from sqlalchemy import make_url

    # How the composition root renders it (the password hidden, the query as it is).
    rendered = make_url(url).render_as_string(hide_password=True)
    message = message.replace(url, shown_database_url(url))
    message = message.replace(rendered, shown_database_url(url))
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, HIDDEN)
    return message


def load_settings() -> Settings:
    """The settings, or a one-line error naming each bad variable (its value never shown:
    it may be a secret) and exit code 2: never pydantic's traceback."""
    from pydantic import ValidationError

    from .settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"INVITEBOT_{'_'.join(str(p) for p in error['loc']).upper()}: "
            f"{str(error['msg']).removeprefix('Value error, ')}"
            if error["loc"]
            else str(error["msg"]).removeprefix("Value error, ")  # one about several settings
            for error in exc.errors()
        )
        fail(f"The configuration is not valid: {problems}")
    except UnicodeDecodeError:
        fail(
            f"Cannot read {_env_file()}: it must be UTF-8 text. Save it as UTF-8, "
            "or move it out of the directory this command runs in."
        )
    except OSError as error:
        fail(
            f"Cannot read {_env_file()}: {error.strerror or error}. Make it readable, or move "
            "it out of the directory this command runs in."
        )
    _loaded.append(settings)
    return settings


def _env_file() -> str:
    """The ``.env`` file the settings read, by its full path."""
    from pathlib import Path

    from .settings import Settings

    name = Settings.model_config.get("env_file") or ".env"
    return str(Path(str(name)).absolute())


def secret_key(settings: Settings) -> bytes:
    """The secret key, or one line saying why there is none, and exit code 2."""
    try:
        return settings.secret_key_bytes
    except RuntimeError as exc:
        fail(f"No secret key: {exc}")
    except OSError as exc:  # the key file beside the SQLite database cannot be written
        where = f": {exc.filename}" if exc.filename else ""
        fail(
            f"No secret key: cannot write its file beside the database ({exc.strerror or exc}"
            f"{where}). Run from a directory you can write to, or set INVITEBOT_SECRET_KEY, or "
            "set INVITEBOT_DATABASE_URL to a SQLite file in a writable folder."
        )


def startup_problem(error: BaseException) -> str | None:
    """The line that tells ``error``, when it is one of the composition root's startup errors
    (the database behind, or not reachable); ``None`` otherwise."""
    bootstrap = sys.modules.get("handlers.bootstrap")
    if bootstrap is None:  # never imported: nothing was started, so nothing failed to
        return None
    if isinstance(error, bootstrap.StartupError):
        return _without_database_secrets(str(error))
    made_by = _made_by(error, getattr(bootstrap, "make_database", None))
    if made_by or _refused_by_driver(error, bootstrap):
        # The engine could not be made from the URL (a driver not installed, a query
        # parameter not a number), or the driver refused what the URL passes it (a query
        # parameter it has no such argument for): what the settings' check of
        # INVITEBOT_DATABASE_URL did not see coming.
        from .settings import shown_database_url

        url = shown_database_url(_loaded[-1].database_url) if _loaded else "configured"
        reason = " ".join(str(error).split()).rstrip(".") or type(error).__name__
        return _without_database_secrets(
            f"Cannot use the database {url}: {reason}. Check INVITEBOT_DATABASE_URL "
            "(e.g. postgresql+asyncpg://user:password@host/db)."
        )
    return None


def _frames(error: BaseException) -> list[Any]:
    frames = []
    traceback = error.__traceback__
    while traceback is not None:
        frames.append(traceback.tb_frame)
        traceback = traceback.tb_next
    return frames


def _made_by(error: BaseException, *functions: Any) -> bool:
    """Whether ``error`` was raised inside one of ``functions`` (a frame of its traceback
    runs it)."""
    codes = {getattr(function, "__code__", None) for function in functions}
    return any(frame.f_code in codes for frame in _frames(error))


def _refused_by_driver(error: BaseException, bootstrap: Any) -> bool:
    """Whether ``error`` is the database driver refusing the arguments the URL's query gives
    it, when a startup check first connects (a connection being made for the pool)."""
    if not isinstance(error, (TypeError, ValueError)):
        return False
    modules = {str(frame.f_globals.get("__name__", "")) for frame in _frames(error)}
    return bootstrap.__name__ in modules and "sqlalchemy.pool.base" in modules


def run(main: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(main)``, with a startup error told in one line (exit code 2)."""
    import asyncio

    try:
        return asyncio.run(main)
    except Exception as error:
        problem = startup_problem(error)
        if problem is None:
            raise
        fail(problem)
