"""What every use case needs besides the unit of work: time, keys, limits and links."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from . import messages as msg
from .domain import Limits
from .language import DEFAULT_LANGUAGE, Words, language_of, zone_or_default
from .ports import Clock
from .secrets import TokenMaker, hash_access_code


@dataclass(frozen=True)
class CoreContext:
    clock: Clock
    secret_key: bytes
    public_base_url: str = "http://localhost:8000"
    region: str = "US"
    hoa_contact: str = msg.YOUR_HOA_BOARD
    """How residents reach the HOA board (``INVITEBOT_HOA_CONTACT``); by default a sentence
    of the catalogs, read in each reader's language."""
    limits: Limits = field(default_factory=Limits)
    telegram_bot_username: str = ""
    """The Telegram bot's @username (without the @), for ``t.me`` links in texts; "" when
    the bot is not on Telegram."""
    default_timezone: str = "UTC"
    """The IANA time zone of a community that names none (``INVITEBOT_DEFAULT_TIMEZONE``)."""

    def words(self, language: str = DEFAULT_LANGUAGE, timezone: str = "") -> Words:
        """The words of a reader of ``language`` (a code, or a platform's tag) in a
        community whose time zone is ``timezone`` ("" for the default). A stored name this
        machine does not know reads in the default zone rather than failing the message."""
        zone = zone_or_default(timezone, self.default_timezone)
        return Words(language_of(language) or DEFAULT_LANGUAGE, zone)

    @property
    def tokens(self) -> TokenMaker:
        return TokenMaker(self.secret_key)

    def link_for(self, token: str) -> str:
        """The public invite link for a token."""
        return f"{self.public_base_url.rstrip('/')}/i/{token}"

    def code_hash(self, normalised_code: str) -> str:
        return hash_access_code(normalised_code, secret_key=self.secret_key)


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)
