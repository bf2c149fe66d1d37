"""The language each Slack user's app is set to: ``users.info`` with ``include_locale``
(scope ``users:read``), remembered for an hour.

Slack puts no locale in its events, commands or interactions, so the adapter asks once per
person and hour (Tier 4: 100+ calls a minute). A person whose locale cannot be read (the
scope missing, Slack unreachable) reads their ``/language`` choice or the default, and is
asked about again a few minutes later.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("invitebot.slack")

KEEP_SECONDS = 3600.0
"""How long a person's locale is trusted before it is read again."""
RETRY_SECONDS = 300.0
"""How long after a failed read it is tried again."""
WAIT_SECONDS = 1.0
"""How long a message waits for Slack's answer before it goes on in the default language: a
home tab's press must be answered within three seconds."""
SIZE = 10_000
"""People remembered at most (the oldest go first)."""


class SlackLocales:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._known: dict[str, tuple[str, float]] = {}

    async def of(self, user_id: str) -> str:
        """The user's locale (``"es-LA"``), or "" when Slack does not say."""
        now = time.monotonic()
        known = self._known.get(user_id)
        if known is not None and known[1] > now:
            return known[0]
        try:
            answer = await asyncio.wait_for(
                self.client.users_info(user=user_id, include_locale=True), WAIT_SECONDS
            )
            user = answer.get("user")
            locale = user.get("locale") if isinstance(user, dict) else None
            found, keep = (locale if isinstance(locale, str) else "")[:35], KEEP_SECONDS
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as error:
            log.warning("could not read the locale of a Slack user: %s", type(error).__name__)
            found, keep = (known[0] if known else ""), RETRY_SECONDS
        if user_id not in self._known and len(self._known) >= SIZE:
            self._known.pop(next(iter(self._known)))
        self._known[user_id] = (found, now + keep)
        return found
