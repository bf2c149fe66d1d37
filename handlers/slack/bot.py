"""The Slack adapter: slash commands, direct messages, button presses and the App Home tab,
translated into the engine's events; its replies rendered as Block Kit. It decides nothing
about the conversation.

The flows run only in the person's direct message with the app: invitations carry names,
phone numbers and links that do not belong in a channel. A slash command typed in a channel
is answered there with one ephemeral sentence (through its ``response_url``), and the
conversation goes on in the direct message.

Slack wants every request acknowledged within three seconds and never sends an acknowledged
one again, so every request is stored with its receipt before it is acknowledged (an Events API
``event_id``, or an interaction's or command's ``trigger_id``: Slack's retries and any repeat
find the receipt and change nothing), and its listeners run afterwards, in a task of its own
(``background``; tests turn it off or :meth:`SlackAdapter.drain`): see
:mod:`handlers.slack.intake`. A person's requests are handled one at a time, in order, so two
quick answers never overtake each other, and none is lost when the process dies.

Before that, the same middleware cleans every string of the body (:mod:`handlers.inbound`:
no NUL, no lone surrogate reaches the core or storage) and refuses bodies nested too deep;
ids that are not Slack's shape of id are ignored, and a body of an unexpected shape that
trips slack-bolt's own matching is answered 400 with ``X-Slack-No-Retry`` instead of 500.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import Coroutine, Mapping
from datetime import timedelta
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import intake
from bot import messages as msg
from bot.engine import Engine
from bot.group_access import answer_channel_join
from bot.households import head_accounts_for_invitation
from bot.intake import NotYourTurn
from bot.replies import Actor, Event, Reply, parse_text
from storage.errors import is_unavailable

from ..inbound import Unreadable, clean
from ..intake import DEFAULT_LEASE
from . import render
from .intake import SlackIntake, current_inbound, handling, worth_retrying
from .locales import SlackLocales
from .payload import NO_RETRY, SHAPE_ERRORS, is_slack_id, mapping, string_at, user_of

PLATFORM = "slack"
COMMANDS = ("/invite", "/household")
"""The slash commands the app registers (and ``slack/manifest.yml`` declares)."""
EVENTS = ("app_home_opened", "message.im", "member_joined_channel")
"""The Events API subscriptions the app needs (bot events, as the manifest names them)."""

_DM_CACHE_SIZE = 10_000
_HANDLED_SUBTYPES = (None, "file_share")
"""Message subtypes a person sends; edits, deletions, joins and bot messages are not."""

log = logging.getLogger("invitebot.slack")


def command_event(command: str, text: str) -> Event | None:
    """The engine's event for a slash command, or ``None`` for a ``/household`` sub-command
    that does not exist. ``/household join CODE`` is the engine's ``/join CODE``."""
    text = " ".join(text.split())
    if command == "/invite":
        return parse_text(f"/invite {text}")
    if command == "/household":
        if not text:
            return parse_text("/household")
        word, _, rest = text.partition(" ")
        sub = render.SUBCOMMANDS.get(word.lower())
        return parse_text(f"/{sub} {rest}") if sub else None
    return None


class SlackAdapter:
    """One engine, one bot token: the bolt app that Slack's requests are dispatched to."""

    def __init__(
        self,
        engine: Engine,
        client: AsyncWebClient,
        *,
        signing_secret: str | None,
        background: bool = True,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        """``signing_secret`` verifies HTTP requests (``None`` only for Socket Mode, where
        requests come over the app's own authenticated WebSocket)."""
        self.engine = engine
        self.client = client
        self.background = background
        self.signing_secret = signing_secret
        self.verifies_requests = signing_secret is not None
        self.app = AsyncApp(
            client=client,
            signing_secret=signing_secret,
            request_verification_enabled=signing_secret is not None,
            # Listeners only ack and start a task, so running them before answering Slack
            # costs nothing, and works the same in HTTP and Socket Mode.
            process_before_response=True,
            name="invitebot",
            logger=log,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._dm_channels: dict[str, str] = {}
        self.locales = SlackLocales(client)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.intake = SlackIntake(
            self.app,
            uow_factory=engine.uow_factory,
            clock=engine.ctx.clock,
            background=background,
            lease=lease,
        )
        self._register()

    def _register(self) -> None:
        app = self.app
        app.middleware(self._once)
        app.error(self._on_error)
        for command in COMMANDS:
            app.command(command)(self._on_command)
        app.event("message")(self._on_message)
        app.event("app_home_opened")(self._on_home_opened)
        app.event("member_joined_channel")(self._on_member_joined)
        app.action(render.PRESS_ACTION_ID)(self._on_press)
        app.action(render.HOME_INVITE_ACTION)(self._on_home_invite)
        app.action(re.compile(r".*"))(self._on_unknown_action)

    async def drain(self) -> None:
        """Wait for the work still running (at shutdown, and in tests)."""
        while self._tasks or self.intake.durable.busy:
            await self.intake.durable.drain()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        await self.drain()

    # --- exactly once --------------------------------------------------------------------

    async def _once(self, body: dict[str, Any], next_: Any) -> BoltResponse | None:
        """Bolt middleware (after request verification): clean the body in place, then store
        the request and acknowledge it (:mod:`handlers.slack.intake`); its listeners run when
        the stored request is dispatched again. A request seen before is only acknowledged."""
        state = handling()
        if state is not None:  # the stored request, dispatched again: run it
            state.reached = True
            return await next_()
        try:
            clean(body)
        except Unreadable as error:
            log.warning("ignored a Slack request whose body is unreadable: %s", error)
            return BoltResponse(status=400, body="", headers=dict(NO_RETRY))
        taken = await self.intake.take(body)
        if taken is not None:
            return taken
        return await next_()

    async def _on_error(self, error: Exception) -> BoltResponse | None:
        """Bolt's error handler, for what escaped the middleware and the matching (listeners
        catch their own). A body of the wrong shape gets 400 and no retry; anything else (the
        database away) keeps bolt's 500, so Slack tries again later."""
        if isinstance(error, SHAPE_ERRORS):
            log.warning("ignored a Slack request of an unexpected shape (%s)", type(error).__name__)
            return BoltResponse(status=400, body="", headers=dict(NO_RETRY))
        log.error("handling a Slack request failed", exc_info=error)
        return None

    # --- listeners: ack now, work in the background --------------------------------------

    async def _start(self, user_id: str, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run a person's work after their previous work (in a task, with ``background``);
        a failure is logged and the person told, never raised into bolt. A user id that is
        not one of Slack's runs nothing: it would reach storage as an identity."""
        if not is_slack_id(user_id):
            work.close()
            log.warning("ignored a Slack %s from a user id that is not Slack's", name)
            return

        state = handling()

        async def in_turn() -> None:
            lock = self._locks.get(user_id)
            if lock is None:
                lock = self._locks[user_id] = asyncio.Lock()
            async with lock:
                try:
                    await work
                except Exception as error:
                    if state is not None and (
                        isinstance(error, NotYourTurn)
                        or worth_retrying(error)
                        or is_unavailable(error)
                    ):
                        state.error = error  # the intake takes the request again
                        return
                    log.exception("handling a Slack %s from %s failed", name, user_id)
                    await self._apologise(user_id)

        if not self.background or state is not None:
            await in_turn()
            return
        task = asyncio.create_task(in_turn(), name=f"slack-{name}-{user_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_member_joined(self, ack: Any, event: dict[str, Any]) -> None:
        """Someone came into a channel the app is in (by themselves, or added by someone):
        when it is a community's residents' channel, the core takes out anyone who does not
        belong there."""
        await ack()
        user, channel = string_at(event, "user"), string_at(event, "channel")
        await self._start(user, self._member_joined(user, channel), "member_joined_channel")

    async def _member_joined(self, user: str, channel: str) -> None:
        """Answered once, in the same transaction that marks the stored request handled."""
        inbound = current_inbound()
        async with self.engine.uow_factory() as uow:
            update = await intake.open_effect(uow, inbound) if inbound is not None else None
            if inbound is not None and update is None:
                return  # answered before
            await answer_channel_join(
                uow, self.engine.ctx, platform=PLATFORM, group=channel, user_id=user
            )
            if update is not None:
                await intake.close_step(uow, update, [], at=None)
            await uow.commit()

    async def _on_command(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        await self._start(string_at(body, "user_id"), self._command(body), "command")

    async def _on_message(self, ack: Any, event: dict[str, Any]) -> None:
        await ack()
        if (
            event.get("channel_type") != "im"
            or event.get("bot_id")
            or event.get("subtype") not in _HANDLED_SUBTYPES
            or not event.get("user")
            or not is_slack_id(string_at(event, "channel"))
        ):
            return
        await self._start(string_at(event, "user"), self._message(event), "message")

    async def _on_home_opened(self, ack: Any, event: dict[str, Any]) -> None:
        await ack()
        if event.get("tab") != "home" or not event.get("user"):
            return
        await self._start(string_at(event, "user"), self._home_opened(event), "home")

    async def _on_press(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        await self._start(user_of(body), self._press(body), "press")

    async def _on_home_invite(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        await self._start(user_of(body), self._home_invite(body), "invite")

    async def _on_unknown_action(self, ack: Any, body: dict[str, Any]) -> None:
        """Any other action id (an old client, a forged payload): acked, a friendly word."""
        await ack()
        log.warning("Slack action that is not one of our buttons")
        user_id = user_of(body)
        if user_id:
            await self._start(user_id, self._invalid(user_id), "action")

    # --- the work ------------------------------------------------------------------------

    async def _command(self, body: dict[str, Any]) -> None:
        user_id = string_at(body, "user_id")
        actor = await self.actor(user_id, display_name=string_at(body, "user_name"))
        typed = render.typed_text(string_at(body, "text"))
        event = command_event(string_at(body, "command"), typed)
        if event is None:
            words = await self.engine.words_for(actor)
            replies = [Reply(words(msg.SLACK_HOUSEHOLD_USAGE))]
        else:
            replies = await self.engine.handle(actor, event, inbound=current_inbound())
        # After the step: one that came early is taken again, and would say it again.
        if body.get("channel_id") != actor.chat_id and string_at(body, "response_url"):
            words = await self.engine.words_for(actor)
            await self._respond(string_at(body, "response_url"), words(msg.SLACK_CONTINUE_IN_DM))
        await self.send(actor.chat_id, replies)
        await self.refresh_home(actor)

    async def _message(self, event: dict[str, Any]) -> None:
        user_id, channel = string_at(event, "user"), string_at(event, "channel")
        self._remember_dm(user_id, channel)
        actor = Actor(
            platform=PLATFORM,
            user_id=user_id,
            chat_id=channel,
            language=await self.locales.of(user_id),
        )
        text = render.typed_text(string_at(event, "text"))
        replies = await self.engine.handle(actor, Event.message(text), inbound=current_inbound())
        await self.send(channel, replies)
        await self.refresh_home(actor)

    async def _home_opened(self, event: dict[str, Any]) -> None:
        user_id, channel = string_at(event, "user"), string_at(event, "channel")
        if is_slack_id(channel):
            self._remember_dm(user_id, channel)
        actor = await self.actor(user_id)
        await self.refresh_home(actor)

    async def _press(self, body: dict[str, Any]) -> None:
        user = mapping(body, "user")
        actor = await self.actor(user_of(body), display_name=string_at(user, "name"))
        actions = body.get("actions")
        first = actions[0] if isinstance(actions, list) and actions else {}
        value = string_at(first, "value") if isinstance(first, Mapping) else ""
        if value:
            replies = await self.engine.handle(actor, Event.press(value), inbound=current_inbound())
        else:
            replies = [Reply((await self.engine.words_for(actor))(msg.INVALID_BUTTON))]
        container = mapping(body, "container")
        view = mapping(body, "view")
        if container.get("type") == "view" and view.get("type") == "home":
            await self._open_modal(actor, string_at(body, "trigger_id"), replies)
        elif container.get("type") == "view" and view.get("type") == "modal":
            await self._update_modal(actor, view, replies)
        else:
            pressed_on = container.get("message_ts")
            in_dm = container.get("channel_id") == actor.chat_id
            await self.send(actor.chat_id, replies, edit_ts=pressed_on if in_dm else None)
        await self.refresh_home(actor)

    async def _home_invite(self, body: dict[str, Any]) -> None:
        """**+ Invite** on the home tab: the flow starts in the direct message, and a modal
        says so (or, when the engine refuses, shows why)."""
        user = mapping(body, "user")
        actor = await self.actor(user_of(body), display_name=string_at(user, "name"))
        replies = await self.engine.handle(actor, parse_text("/invite"), inbound=current_inbound())
        trigger = string_at(body, "trigger_id")
        if any(reply.buttons for reply in replies):
            await self.send(actor.chat_id, replies)
            in_dm = (await self.engine.words_for(actor))(msg.SLACK_INVITE_IN_DM)
            await self._open_modal(actor, trigger, [Reply(in_dm)], dm=False)
        else:
            await self._open_modal(actor, trigger, replies)
        await self.refresh_home(actor)

    async def _invalid(self, user_id: str) -> None:
        actor = await self.actor(user_id)
        words = await self.engine.words_for(actor)
        await self.send(actor.chat_id, [Reply(words(msg.INVALID_BUTTON))])

    async def _apologise(self, user_id: str) -> None:
        channel = self._dm_channels.get(user_id)
        if channel is None:
            return
        try:
            words = self.engine.ctx.words(await self.locales.of(user_id))
            await self.send(channel, [Reply(words(msg.SOMETHING_WENT_WRONG))])
        except Exception:
            log.exception("could not tell %s that something went wrong", user_id)

    # --- who, and where ------------------------------------------------------------------

    async def actor(self, user_id: str, *, display_name: str = "") -> Actor:
        """The person as the engine knows them: their chat is their direct message with the
        app, wherever they typed the command or pressed the button."""
        return Actor(
            platform=PLATFORM,
            user_id=user_id,
            chat_id=await self.dm_channel(user_id),
            display_name=display_name,
            language=await self.locales.of(user_id),
        )

    async def dm_channel(self, user_id: str) -> str:
        """The id of the person's direct message with the app (``conversations.open``,
        remembered: it never changes)."""
        known = self._dm_channels.get(user_id)
        if known is not None:
            return known
        opened = await self.client.conversations_open(users=user_id)
        channel = str(opened["channel"]["id"])
        self._remember_dm(user_id, channel)
        return channel

    def _remember_dm(self, user_id: str, channel: str) -> None:
        if user_id not in self._dm_channels and len(self._dm_channels) >= _DM_CACHE_SIZE:
            self._dm_channels.pop(next(iter(self._dm_channels)))
        self._dm_channels[user_id] = channel

    # --- showing replies -----------------------------------------------------------------

    async def send(self, channel: str, replies: list[Reply], *, edit_ts: str | None = None) -> None:
        """Post replies in order; the first that replaces the previous card edits the
        message whose button was pressed, when there is one."""
        for reply in replies:
            rendered = render.message(reply)
            if reply.replace_previous and edit_ts is not None:
                target, edit_ts = edit_ts, None
                if await self._edit(channel, target, rendered):
                    continue
            await self.client.chat_postMessage(channel=channel, **rendered)

    async def _edit(self, channel: str, ts: str, rendered: dict[str, Any]) -> bool:
        """Edit a card in place; ``False`` when Slack no longer lets us (deleted, too old),
        so the caller posts it as a new message instead."""
        try:
            await self.client.chat_update(
                channel=channel, ts=ts, text=rendered["text"], blocks=rendered["blocks"]
            )
        except SlackApiError as error:
            log.info("could not update message %s (%s): posting a new one", ts, _code(error))
            return False
        return True

    async def _respond(self, response_url: str, text: str) -> None:
        """An ephemeral answer where the slash command was typed (only its author sees it)."""
        try:
            await AsyncWebhookClient(response_url).send(
                text=render.escape(text), response_type="ephemeral"
            )
        except (TimeoutError, SlackClientError, OSError) as error:
            log.info("could not answer through the response_url: %s", error)

    async def _open_modal(
        self, actor: Actor, trigger_id: str, replies: list[Reply], *, dm: bool = True
    ) -> None:
        """Answer a press on the home tab in a modal; posted to the direct message instead
        when Slack refuses the modal (its trigger lasts three seconds)."""
        try:
            view = render.modal_view(replies, words=await self.engine.words_for(actor))
            await self.client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as error:
            log.info("could not open a modal (%s): answering in the DM", _code(error))
            if dm:
                await self.send(actor.chat_id, replies)

    async def _update_modal(
        self, actor: Actor, view: Mapping[str, Any], replies: list[Reply]
    ) -> None:
        try:
            await self.client.views_update(
                view_id=str(view.get("id", "")),
                hash=view.get("hash"),
                view=render.modal_view(replies, words=await self.engine.words_for(actor)),
            )
        except SlackApiError as error:
            log.info("could not update the modal (%s): answering in the DM", _code(error))
            await self.send(actor.chat_id, replies)

    async def refresh_homes_for(self, invitation_id: str) -> None:
        """Publish again the home tab of the head whose household the invitation belongs
        to, in each Slack account of theirs (after something happened to it elsewhere:
        accepted on the web page, declined by text, expired). Queued behind that person's
        own events."""
        async with self.engine.uow_factory() as uow:
            accounts = await head_accounts_for_invitation(uow, invitation_id, platform=PLATFORM)
        for account in accounts:
            if account.chat_id:
                self._remember_dm(account.external_id, account.chat_id)
            await self._start(account.external_id, self._refresh(account.external_id), "home")

    async def refresh_home_of(self, user_id: str, chat_id: str) -> None:
        """Publish again the home tab of the person a notice just went to (a member removed,
        or asked to become head): queued behind that person's own events. A user id that is
        not Slack's refreshes nothing."""
        if chat_id:
            self._remember_dm(user_id, chat_id)
        await self._start(user_id, self._refresh(user_id), "home")

    async def _refresh(self, user_id: str) -> None:
        await self.refresh_home(await self.actor(user_id))

    async def refresh_home(self, actor: Actor) -> None:
        """Publish the person's home tab ("My Household") as the core shows it now. It is
        asked for read-only (nothing saved, so no step of theirs that another process is
        taking is disturbed), and published every time: what Slack shows may have been
        published since by another server, so no memory of this process can tell that it
        is still up to date."""
        home = await self.engine.household_home(actor)
        view = render.home_view(home.replies, can_invite=home.is_head, words=home.words)
        await self.client.views_publish(user_id=actor.user_id, view=view)


def _code(error: SlackApiError) -> str:
    response = error.response
    try:
        return str(response.get("error", "")) or str(response.status_code)
    except AttributeError:
        return str(error)
