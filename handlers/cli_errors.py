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

STARTUP_FAILURE = 2
"""The exit code of a command that could not start: settings, secret key or database."""


def fail(message: str, *, code: int = STARTUP_FAILURE) -> NoReturn:
    """Print ``message`` as one red line on stderr and exit with ``code``."""
    from rich.console import Console
    from rich.markup import escape

    from .terminal import printable

    Console(stderr=True, highlight=False, emoji=False).print(
        f"[bold red]Error:[/] [red]{escape(printable(message))}[/]", soft_wrap=True
    )
    raise typer.Exit(code)


def load_settings() -> Settings:
    """The settings, or a one-line error naming each bad variable (its value never shown:
    it may be a secret) and exit code 2: never pydantic's traceback."""
    from pydantic import ValidationError

    from .settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"INVITEBOT_{'_'.join(str(p) for p in error['loc']).upper()}: {error['msg']}"
            if error["loc"]
            else str(error["msg"]).removeprefix("Value error, ")  # one about several settings
            for error in exc.errors()
        )
        fail(f"The configuration is not valid: {problems}")


def secret_key(settings: Settings) -> bytes:
    """The secret key, or one line saying why there is none, and exit code 2."""
    try:
        return settings.secret_key_bytes
    except (RuntimeError, OSError) as exc:
        fail(f"No secret key: {exc}")


def startup_problem(error: BaseException) -> str | None:
    """The line that tells ``error``, when it is one of the composition root's startup errors
    (the database behind, or not reachable); ``None`` otherwise."""
    bootstrap = sys.modules.get("handlers.bootstrap")
    if bootstrap is None:  # never imported: nothing was started, so nothing failed to
        return None
    if isinstance(error, bootstrap.StartupError):
        return str(error)
    return None


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
