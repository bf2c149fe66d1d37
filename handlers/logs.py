"""Logging for every invitebot process: one JSON object a line, with secrets masked.

Logs travel further than the database (to files, collectors, support tickets), so nothing
that admits someone or names a person may reach them whole: invite links and tokens, account
link tokens, access codes, bot and API tokens are replaced by a placeholder, and phone numbers
and email addresses are shown the way cards show them (``+1 ••• ••• 0199``, ``m•••@example.org``).
:class:`MaskSecrets` does it to the finished message (after ``%`` formatting) and to
tracebacks, so a record cannot smuggle a secret in through its arguments.

Each line carries ``time``, ``level``, ``logger`` and ``message``, plus whatever a call passed
in ``extra=``, so a collector can filter by field instead of parsing prose.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from bot.contacts import mask_contact

_TOKEN_CHARS = "A-Za-z0-9_-"
_CROCKFORD = "0-9A-HJKMNP-TV-Z"
_REPLACEMENTS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Bot and API tokens first: they contain runs that look like other things.
    (re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}"), "<telegram-bot-token>"),
    (re.compile(r"\bxox[abpre]-[A-Za-z0-9-]+"), "<slack-token>"),
    (re.compile(r"\bxapp-[A-Za-z0-9-]+"), "<slack-token>"),
    # Invitation tokens (43 characters) and account link tokens (48), in links or alone.
    (
        re.compile(
            rf"(?<![{_TOKEN_CHARS}])(?:[{_TOKEN_CHARS}]{{48}}|[{_TOKEN_CHARS}]{{43}})"
            rf"(?![{_TOKEN_CHARS}])"
        ),
        "<token>",
    ),
    # Access codes, XXXX-XXXX-XXXX in Crockford's base32.
    (
        re.compile(
            rf"(?<![{_TOKEN_CHARS}])[{_CROCKFORD}]{{4}}-[{_CROCKFORD}]{{4}}"
            rf"-[{_CROCKFORD}]{{4}}(?![{_TOKEN_CHARS}])",
            re.I,
        ),
        "<access-code>",
    ),
)
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w+])\+\d[\d ().-]{5,18}\d(?!\d)")


def mask_secrets(text: str) -> str:
    """``text`` with every secret replaced and every contact masked."""
    for pattern, placeholder in _REPLACEMENTS:
        text = pattern.sub(placeholder, text)
    text = _EMAIL.sub(lambda m: mask_contact(m.group(0)), text)
    return _PHONE.sub(lambda m: mask_contact("+" + re.sub(r"\D", "", m.group(0))), text)


class MaskSecrets(logging.Filter):
    """Masks the formatted message and the traceback of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_invitebot_masked", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: log what we can, masked
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = mask_secrets(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
            # Formatters then show the masked text: given exc_info, some format it anew.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info)
        record._invitebot_masked = True
        return True


NOT_LOGGED = ("color_message",)
"""Record attributes left out of the JSON lines: uvicorn's ``color_message`` is its message
with ANSI colour escapes, for its own terminal formatter."""


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "{asctime}{levelname}{name}{message}",
        style="{",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
        reserved_attrs=[*RESERVED_ATTRS, *NOT_LOGGED],
    )


QUIET_LOGGERS = {"aiosqlite": logging.WARNING, "sqlalchemy.engine": logging.WARNING}
"""Libraries' loggers held at a level whatever ``INVITEBOT_LOG_LEVEL`` says: at DEBUG,
``aiosqlite`` logs every call with its SQL parameters (names, addresses, keyed hashes), and
``sqlalchemy.engine`` at INFO each statement's parameters. ``invitebot.sql`` logs the
statements, without their values."""


def _quiet_libraries() -> None:
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)


def configure_logging(level: str, *, path: Path | None = None) -> logging.Handler:
    """Send every logger's records (uvicorn's too) to stderr or ``path`` as masked JSON
    lines. Returns the handler.

    Masked or not, log lines still name people: the file is created 0600 before it is opened
    (an existing one open to every user is tightened, with a warning)."""
    handler: logging.Handler
    if path:
        from storage.database import create_private_file  # SQLAlchemy: only for a file

        create_private_file(path)
        handler = logging.FileHandler(path)
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(json_formatter())
    handler.addFilter(MaskSecrets())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    _quiet_libraries()
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's loggers go through ours (serve passes log_config=None to uvicorn).
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    return handler


def configure_plain_logging(level: str) -> logging.Handler:
    """Records at ``level`` and above to stderr as plain text (``WARNING: ...``), masked: for
    a terminal a person reads, where JSON lines would be noise. Returns the handler."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.addFilter(MaskSecrets())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    _quiet_libraries()
    return handler


def mask_logger(name: str) -> None:
    """Mask one logger's records even where another logging setup formats them (an app run
    by a plain ``uvicorn`` command keeps uvicorn's own handlers)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, MaskSecrets) for f in logger.filters):
        logger.addFilter(MaskSecrets())
