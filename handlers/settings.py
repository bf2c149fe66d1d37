"""All configuration, read once at the edge from ``INVITEBOT_*`` variables and ``.env``."""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import secrets
import stat
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from yarl import URL

from bot.domain import Limits
from storage.database import MAX_OVERFLOW, POOL_SIZE

_TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./invitebot.db"
WEBHOOK_SECRET_PREFIX = "whsec_"
MIN_SECRET_KEY_BYTES = 32
"""The shortest secret key accepted: it signs every invite link and hashes every access code,
so it must not be guessable offline from one link or a database dump (256 bits)."""
_KEY_ADVICE = (
    f"at least {MIN_SECRET_KEY_BYTES} bytes of random text is needed; generate one with "
    'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
)


DATABASE_DRIVERS = {
    "postgresql": "postgresql+asyncpg://user:password@host/db",
    "sqlite": "sqlite+aiosqlite:///./invitebot.db",
}
"""The database backends invitebot runs on, each with the one driver it uses (asyncpg,
aiosqlite), and a URL to show as an example."""
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_SECRET_PARAMETER = re.compile(r"pass|secret|token|key", re.IGNORECASE)
HIDDEN = "***"


def shown_database_url(url: str) -> str:
    """``url`` fit to be printed or logged: the password hidden (``user:***@``), and so is
    the value of any query parameter whose name says it is a secret (``?password=***``)."""
    from sqlalchemy import make_url

    try:
        parsed = make_url(url)
    except Exception:  # not a URL at all: show none of it, it may hold a password
        return "(the URL in INVITEBOT_DATABASE_URL)"
    if parsed.query:
        parsed = parsed.set(
            query={
                name: HIDDEN if _SECRET_PARAMETER.search(name) else value
                for name, value in parsed.query.items()
            }
        )
    return parsed.render_as_string(hide_password=True).replace("%2A%2A%2A", HIDDEN)


def database_url_secrets(url: str) -> list[str]:
    """The secrets in a database URL (its password, secret query values), to keep out of
    any message."""
    from sqlalchemy import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return []
    found = [parsed.password] if parsed.password else []
    for name, value in parsed.query.items():
        if _SECRET_PARAMETER.search(name):
            found += [value] if isinstance(value, str) else list(value)
    return [str(secret) for secret in found if secret]


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="INVITEBOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,  # `INVITEBOT_X=` means unset, not an empty secret
        hide_input_in_errors=True,  # a refused setting may be a secret: never echo it
    )

    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = Field(default=POOL_SIZE, ge=1, le=500)
    """PostgreSQL: connections each process keeps open (SQLite uses one per process)."""
    database_max_overflow: int = Field(default=MAX_OVERFLOW, ge=0, le=500)
    """PostgreSQL: connections a process may open beyond those, under a burst."""
    database_fast_path: bool = True
    """PostgreSQL: run statements straight on asyncpg, past SQLAlchemy's execution layer
    (``docs/architecture.md``, "The PostgreSQL fast path"). ``0`` runs them through SQLAlchemy
    instead: slower, but seen by its events, ``echo`` and SQL tracing."""
    public_base_url: str = "http://localhost:8000"
    secret_key: SecretStr | None = None
    invite_ttl_hours: int = Field(default=168, ge=1, le=24 * 90)
    default_region: str = "US"
    default_timezone: str = "UTC"
    """The IANA time zone of a community that names none (``community set --timezone``):
    every time its people read is shown in it."""
    invites_per_hour: int = Field(default=10, ge=1)
    invites_per_day: int = Field(default=30, ge=1)
    messages_per_destination_per_day: int = Field(default=3, ge=1)
    code_attempts_per_account: int = Field(default=5, ge=1)
    """Access codes or invite links typed in chat that didn't work, per chat account per
    ``code_attempt_window_minutes``; then that account waits for the window to end."""
    code_attempts_everyone: int = Field(default=50, ge=1)
    """The same across all chat accounts; past it, an account that already got one wrong in
    its window waits too (a first try is always looked at)."""
    code_attempt_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    page_requests_per_minute: int = Field(default=30, ge=1)
    """Requests to the invitation page and its QR code per client address a minute: 429 past it."""
    sms_replies_per_sender_per_hour: int = Field(default=5, ge=1)
    """Automatic text replies to one number an hour; past it texts still act, unanswered."""
    trusted_proxies: str = ""
    """Comma-separated addresses or networks (``10.0.0.0/8, ::1``) of reverse proxies whose
    ``X-Forwarded-For`` names the client; from anyone else the header is ignored."""
    hoa_contact: str = "your HOA board"
    log_level: str = "INFO"
    outbox_lease_seconds: int = Field(default=120, ge=1, le=3600)
    """How long a dispatcher holds the outbox messages it took before another may take them
    (a worker that died mid-send gives its messages up after this long)."""
    intake_lease_seconds: int = Field(default=15, ge=2, le=3600)
    """How long a serve process holds the Telegram and Slack updates it took in (renewed while
    it lives) before another may take them over: how long the updates of a process that died
    wait to be handled."""
    metrics_token: SecretStr | None = None
    """When set, ``GET /metrics`` wants ``Authorization: Bearer <token>``; when not, it answers
    only clients on loopback."""
    max_form_body_bytes: int = Field(default=64 * 1024, ge=1024, le=64 * 1024 * 1024)
    """The largest request body read for a route taking a form (Twilio's webhooks, the
    invitation page) or any other route: past it, 413 before the route sees anything."""
    max_json_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    """The same for the routes taking JSON (Telegram's and Slack's webhooks)."""
    request_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    """How long a client has to send a request's headers (from connecting, or from the last
    response), and then its body: 408 and the connection closed after that."""
    max_connections: int = Field(default=1000, ge=1, le=1_000_000)
    """Connections one ``invitebot serve`` process holds; a request on one more gets 503."""
    http_protocol: Literal["auto", "h11", "httptools"] = "auto"
    """uvicorn's HTTP parser (auto: httptools when installed, else h11)."""

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_base: str | None = None
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_base: str | None = None
    telegram_bot_username: str | None = None
    """The bot's @username, for "Open in Telegram" links (``https://t.me/<username>``)."""
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_base: str | None = None
    twilio_messages_per_second: float = Field(default=1.0, gt=0, le=1000)
    webhook_url: str | None = None
    """Where every household event is POSTed, signed (Standard Webhooks); with
    ``webhook_secret``. ``https://`` in production: the body names members and contacts."""
    webhook_secret: SecretStr | None = None
    """``whsec_`` and the base64 of 24 to 64 random bytes (``invitebot admin webhook
    secret`` makes one); the receiver verifies each request with the same secret."""
    webhook_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    """How long a receiver has to answer a webhook before the attempt counts as failed."""
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    email_from: str | None = None

    @field_validator("database_url")
    @classmethod
    def _database_url_shape(cls, value: str) -> str:
        """A URL SQLAlchemy can read, on a driver invitebot has: PostgreSQL on asyncpg or
        SQLite on aiosqlite. Refused here, a typo is one line at start-up instead of a
        traceback from the engine (never showing the URL: it may hold a password)."""
        from sqlalchemy import make_url  # every command reading settings uses SQLAlchemy

        value = value.strip()
        try:
            url = make_url(value)  # a port that is no number fails here too
        except Exception:
            raise ValueError(
                "is not a database URL; use e.g. "
                f"{DATABASE_DRIVERS['postgresql']} or {DATABASE_DRIVERS['sqlite']}"
            ) from None
        backend, _, driver = url.drivername.partition("+")
        backend = "postgresql" if backend == "postgres" else backend
        if backend not in DATABASE_DRIVERS:
            raise ValueError(
                f"{backend!r} is not a database invitebot runs on; use PostgreSQL "
                f"({DATABASE_DRIVERS['postgresql']}) or SQLite ({DATABASE_DRIVERS['sqlite']})"
            )
        wanted = "asyncpg" if backend == "postgresql" else "aiosqlite"
        if driver != wanted:
            raise ValueError(
                f"{backend} needs the {wanted} driver: use {DATABASE_DRIVERS[backend]}"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("public_base_url")
    @classmethod
    def _public_url_shape(cls, value: str) -> str:
        """The address the invitation links, the Twilio signature and the webhooks are built
        on: an absolute http(s) URL with a host, and no query or fragment to be lost when a
        path is appended."""
        try:
            url = URL(value.strip())
        except (ValueError, TypeError):
            raise ValueError("must be an http(s) URL such as https://hoa.example.org") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("must be an http(s) URL such as https://hoa.example.org")
        if url.query_string or url.fragment or "@" in url.authority:
            raise ValueError(
                "must have no query, fragment or user name (e.g. https://hoa.example.org)"
            )
        return value.strip().rstrip("/")

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _telegram_secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's own rule for setWebhook's secret_token: refuse it here, at start-up.
        if value is not None and not _TELEGRAM_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1 to 256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url_shape(cls, value: str | None) -> str | None:
        # A URL that cannot work would drop every webhook, retried for a day: refuse it at
        # start-up, as the sender (aiohttp, on yarl) would read it.
        if value is None or not value.strip():
            return None
        value = value.strip()
        if any(ord(c) < 33 or ord(c) == 127 for c in value):
            raise ValueError("must not contain spaces or control characters")
        try:
            url = URL(value)
            port = url.port
            host = url.host or ""
            if host and not _is_ip(host):
                host.encode("idna")  # an empty or too long label fails here, as it would later
        except (ValueError, UnicodeError):
            raise ValueError("is not a URL the sender can use") from None
        if url.scheme not in ("http", "https") or not host or port is None:
            raise ValueError("must be an http:// or https:// URL with a host")
        if url.user is not None or url.password is not None:
            # It would be printed (``webhook test``, the log); the signature authenticates.
            raise ValueError("must not carry a user name or password")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        text = value.get_secret_value().strip()
        try:
            key = base64.b64decode(text.removeprefix(WEBHOOK_SECRET_PREFIX), validate=True)
        except ValueError:
            key = b""
        if not text.startswith(WEBHOOK_SECRET_PREFIX) or not 24 <= len(key) <= 64:
            raise ValueError(
                "must be whsec_ and the base64 of 24 to 64 random bytes "
                "(make one with: invitebot admin webhook secret)"
            )
        return SecretStr(text)

    @model_validator(mode="after")
    def _webhook_url_and_secret_together(self) -> Self:
        if (self.webhook_url is None) != (self.webhook_secret is None):
            missing = "WEBHOOK_SECRET" if self.webhook_secret is None else "WEBHOOK_URL"
            raise ValueError(
                f"INVITEBOT_{missing} must be set too: webhooks need a URL and a secret"
            )
        if self.webhooks_enabled and self.webhook_timeout_seconds * 2 > self.outbox_lease_seconds:
            # A send must end within half a lease (bot.delivery), or a second dispatcher
            # could take the same webhook while the first is still sending it.
            raise ValueError(
                "INVITEBOT_WEBHOOK_TIMEOUT_SECONDS must be at most half of "
                "INVITEBOT_OUTBOX_LEASE_SECONDS"
            )
        return self

    @property
    def webhooks_enabled(self) -> bool:
        return self.webhook_url is not None and self.webhook_secret is not None

    @field_validator("secret_key")
    @classmethod
    def _long_enough_key(cls, value: SecretStr | None) -> SecretStr | None:
        # A short key makes every link forgeable by brute force: refuse to start with it.
        if value is not None and len(value.get_secret_value().encode()) < MIN_SECRET_KEY_BYTES:
            raise ValueError(f"INVITEBOT_SECRET_KEY is too short: {_KEY_ADVICE}")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        # A typo here would silently trust no one (or the wrong one): refuse it at start-up.
        for entry in filter(None, (e.strip() for e in value.split(","))):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value

    @field_validator("default_timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        from bot.language import iana_name, zone_named

        zone_named(value)  # ValueError: not an IANA name, or not on this machine
        return iana_name(value)

    @field_validator("default_region")
    @classmethod
    def _upper_region(cls, value: str) -> str:
        import phonenumbers  # imported by every command anyway (bot.contacts)

        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("must be a two-letter country code such as US, GB or DE")
        return region

    @property
    def limits(self) -> Limits:
        return Limits(
            invite_ttl=timedelta(hours=self.invite_ttl_hours),
            invites_per_hour=self.invites_per_hour,
            invites_per_day=self.invites_per_day,
            messages_per_destination_per_day=self.messages_per_destination_per_day,
            code_attempts_per_account=self.code_attempts_per_account,
            code_attempts_everyone=self.code_attempts_everyone,
            code_attempt_window=timedelta(minutes=self.code_attempt_window_minutes),
            page_requests_per_address=self.page_requests_per_minute,
            page_request_window=timedelta(minutes=1),
            sms_replies_per_sender_per_hour=self.sms_replies_per_sender_per_hour,
        )

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [entry.strip() for entry in self.trusted_proxies.split(",") if entry.strip()]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @cached_property
    def secret_key_bytes(self) -> bytes:
        """The key that signs invite links and hashes access codes.

        Without ``INVITEBOT_SECRET_KEY``, a SQLite setup keeps a random key in a file beside
        the database (never inside it: a dump of the database alone must not yield a link).
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        if not self.is_sqlite:
            raise RuntimeError(
                "INVITEBOT_SECRET_KEY must be set when the database is not a local SQLite file."
            )
        path = (
            self.sqlite_path.with_name(self.sqlite_path.name + ".secret")
            if self.sqlite_path
            else Path("invitebot.secret")
        )
        if not path.exists():
            # Written whole under another name, then linked into place: a second process
            # starting at the same moment sees either no file or the complete key, never half.
            path.parent.mkdir(parents=True, exist_ok=True)
            draft = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
            try:
                os.link(draft, path)  # fails if another process won the race: use its key
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        key = path.read_text().strip().encode()
        if len(key) < MIN_SECRET_KEY_BYTES:
            # Not one we wrote: someone shortened it. Guessing a replacement would void every
            # link and code without saying so; the operator decides.
            raise RuntimeError(f"the key in {path} is too short: {_KEY_ADVICE}")
        return key

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file the URL names, or ``None`` for an in-memory or other database."""
        if not self.is_sqlite:
            return None
        _, _, rest = self.database_url.partition(":///")
        rest = rest.split("?", 1)[0]
        if not rest or rest == ":memory:":
            return None
        return Path(rest)
