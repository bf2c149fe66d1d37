"""Telling a database that cannot be reached now from every other failure.

A request that failed because the database was down, restarting or unreachable may simply be
tried again later: the web edge answers it ``503 Service Unavailable`` with ``Retry-After``,
which Telegram, Slack and Twilio's retrying connections take as "try again", instead of a
``500`` that reads as a bug.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# SQLSTATE classes: 08 connection exception, 53 insufficient resources (too many
# connections), 57 operator intervention (shutting down, starting up, cancelled).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")


def _sqlstate(error: BaseException | None) -> str:
    while error is not None:
        state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if isinstance(state, str) and state:
            return state
        error = error.__cause__
    return ""


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be reached at the moment (as opposed to a
    bug, a constraint, or bad data): the network, a server restarting, a full pool, a SQLite
    file locked for longer than its busy timeout."""
    if isinstance(error, PoolTimeout | OSError | TimeoutError):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        if _sqlstate(error.orig)[:2] in _UNAVAILABLE_SQLSTATE_CLASSES:
            return True
        if isinstance(error, OperationalError) and "database is locked" in str(error.orig):
            return True  # SQLite: another process held the write lock past busy_timeout
        return isinstance(error.orig, OSError | TimeoutError)
    return False
