"""The Slack adapter through its real endpoint, ``POST /slack/events``, with requests signed
by slack_sdk's own signature logic and slack-bolt's Web API client talking to a loopback fake
of Slack (``fake_slack``): slash commands, direct messages, button presses and the home tab,
on every SQL backend."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette

from bot import messages as msg
from bot.domain import Invitation, InvitationStatus
from bot.language import Words
from bot.replies import Button, Confirm, Reply, Style
from handlers.slack import render
from handlers.slack.bot import SlackAdapter, command_event
from handlers.slack.client import make_client
from handlers.slack.payload import receipt_key
from handlers.slack.webhook import SlackEvents
from storage import Database
from tests.handlers.fake_slack import BOT_USER_ID, FakeSlack, dm_of
from tests.handlers.slack_workspace import (
    SIGNING_SECRET,
    Workspace,
    buttons,
    labels,
    labels_of_view,
    signed_headers,
    view_text,
)
from tests.storage.databases import SQL_BACKENDS, fresh_database
from tests.unit.conftest import World

ANA, MARIA, SAM = "U0ANA", "U0MARIA", "U0SAM"
CHANNEL = "C0NEIGHBOURS"
_TOKEN = re.compile(r"/i/([A-Za-z0-9_-]{43})")


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        yield running


@dataclass
class Site(Workspace):
    world: World
    database: Database

    async def invitations(self) -> list[Invitation]:
        async with self.database.uow() as uow:
            households = await uow.households.list()
            return [i for h in households for i in await uow.invitations.list_for_household(h.id)]


@pytest.fixture(params=SQL_BACKENDS)
async def site(
    request: pytest.FixtureRequest, tmp_path: Path, fake: FakeSlack
) -> AsyncIterator[Site]:
    async with fresh_database(request.param, tmp_path) as database:
        world = World(uow_factory=database.uow)
        adapter = SlackAdapter(
            world.engine,
            make_client(fake.token, api_base=fake.url),
            signing_secret=SIGNING_SECRET,
        )
        events = SlackEvents(adapter)
        app = Starlette(routes=events.routes)
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="https://invites.example.org"
            ) as client:
                yield Site(
                    client=client, world=world, database=database, fake=fake, adapter=adapter
                )
        finally:
            await events.close()


async def head(site: Site, user: str = ANA) -> None:
    code = await site.world.household()
    await site.command(user, "/household", f"join {code}")
    assert "You are now the head of the household at 12 Oak Lane" in site.last_text(user)


# --- the flows -------------------------------------------------------------------------------


async def test_household_join_with_the_access_code_claims_the_household(site: Site) -> None:
    await head(site)
    [claimed] = site.shown(ANA)
    assert claimed.params["unfurl_links"] is False
    async with site.database.uow() as uow:
        [household] = await uow.households.list()
        members = await uow.members.list_for_household(household.id)
        identity = await uow.identities.get(platform="slack", external_id=ANA)
    assert [m.name for m in members] == ["Ana Lopez"]
    # The engine knows Ana by her Slack user id, in her DM with the app.
    assert identity is not None and identity.chat_id == dm_of(ANA)
    # Claiming changed her household: the home tab shows it.
    assert "12 Oak Lane" in view_text(site.home(ANA))


async def test_the_whole_invite_flow_with_buttons_and_typed_answers(site: Site) -> None:
    await head(site)
    await site.command(ANA, "/invite")
    ask = site.shown(ANA)[-1]
    assert ask.params["text"] == msg.ASK_METHOD
    assert labels(ask) == ["Email", "SMS Text", "Cancel"]

    await site.press(ANA, "SMS Text")
    assert site.last_text(ANA) == msg.ASK_NAME
    await site.say(ANA, "Maria Ruiz")
    assert "Maria Ruiz" in site.last_text(ANA)
    # Slack sends a typed phone number as a tel: link; the engine gets it as typed.
    await site.say(ANA, "<tel:+12025550199|+1 202 555 0199>")
    summary = site.shown(ANA)[-1]
    assert summary.params["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": msg.SUMMARY_TITLE, "emoji": True},
    }
    assert labels(summary) == ["Send Invite", "Edit", "Cancel"]
    assert buttons(summary.params["blocks"])[0]["style"] == "primary"

    await site.press(ANA, "Send Invite")
    sent = site.shown(ANA)[-1]
    # replace_previous: the summary card itself becomes the confirmation.
    assert sent.method == "chat.update" and sent.ts == summary.ts
    assert "Maria Ruiz" in sent.params["text"]
    assert labels(sent) == ["OK"]
    await site.press(ANA, "OK")
    assert site.shown(ANA)[-1].method == "chat.update"

    [invitation] = await site.invitations()
    assert invitation.status is InvitationStatus.PENDING
    assert invitation.origin_platform == "slack" and invitation.origin_chat_id == dm_of(ANA)
    await site.world.deliver()
    assert _TOKEN.search(site.world.sender.sent[-1].body)
    # Everything happened in the DM; Slack was asked for nothing else but the home tab.
    channels = {c.params.get("channel") for c in site.fake.calls_of("chat.postMessage")}
    assert channels == {dm_of(ANA)}


async def test_typed_email_addresses_arrive_as_mailto_links(site: Site) -> None:
    await head(site)
    await site.command(ANA, "/invite")
    await site.press(ANA, "Email")
    await site.say(ANA, "Maria Ruiz")
    await site.say(ANA, "<mailto:maria@example.com|maria@example.com>")
    assert "maria@example.com" in site.last_text(ANA)
    assert labels(site.shown(ANA)[-1]) == ["Send Invite", "Edit", "Cancel"]


async def test_a_one_shot_invite_then_the_invitee_joins_from_slack(site: Site) -> None:
    await head(site)
    await site.command(ANA, "/invite", "sms Maria Ruiz +1 202 555 0199")
    assert site.last_text(ANA).startswith(msg.SUMMARY_TITLE)
    await site.press(ANA, "Send Invite")
    await site.world.deliver()
    found = _TOKEN.search(site.world.sender.sent[-1].body)
    assert found is not None

    await site.command(MARIA, "/household", f"join https://hoa.example/i/{found.group(1)}")
    assert "Welcome, Maria Ruiz!" in site.last_text(MARIA)
    [invitation] = await site.invitations()
    assert invitation.status is InvitationStatus.ACCEPTED
    async with site.database.uow() as uow:
        identity = await uow.identities.get(platform="slack", external_id=MARIA)
    assert identity is not None
    # Ana is told, in her DM, through the outbox.
    await site.world.deliver()
    [note] = [m for m in site.world.sender.sent if m.destination == dm_of(ANA)]
    assert note.platform == "slack" and "Maria Ruiz accepted" in note.body


async def test_a_command_in_a_channel_continues_in_the_dm(site: Site) -> None:
    await head(site)
    await site.command(ANA, "/invite", "email Maria Ruiz maria@example.com", channel=CHANNEL)
    [pointer] = site.fake.calls_of("response_url")[-1:]
    assert pointer.params["response_type"] == "ephemeral"
    assert pointer.params["text"] == render.escape(msg.SLACK_CONTINUE_IN_DM)
    # The summary, with Maria's address, went to the DM and nowhere else.
    assert site.last_text(ANA).startswith(msg.SUMMARY_TITLE)
    posted = site.fake.calls_of("chat.postMessage", "chat.update")
    assert all(c.params["channel"] == dm_of(ANA) for c in posted)


async def test_household_cards_copy_resend_and_cancel_in_the_dm(site: Site) -> None:
    await head(site)
    await site.command(ANA, "/invite", "email Maria Ruiz maria@example.com")
    await site.press(ANA, "Send Invite")
    await site.command(ANA, "/household")
    card = site.shown(ANA)[-1]
    assert labels(card) == ["Copy Invite Link", "Resend", "Cancel Invite"]

    await site.press(ANA, "Copy Invite Link")
    copy, qr = site.shown(ANA)[-2:]
    assert copy.method == qr.method == "chat.postMessage"
    assert copy.params["unfurl_links"] is False and copy.params["unfurl_media"] is False
    [preformatted] = [b for b in copy.params["blocks"] if b["type"] == "rich_text"]
    [link] = preformatted["elements"][0]["elements"]
    assert link["type"] == "link" and _TOKEN.search(link["url"]) and link["text"] == link["url"]
    # The link is in the blocks only: the fallback text is what a push notification shows.
    assert not _TOKEN.search(copy.params["text"]) and not _TOKEN.search(qr.params["text"])
    assert "/i/" not in copy.params["text"] and "qr.png" not in qr.params["text"]

    await site.press(ANA, "Resend")
    assert "Sent the invitation to Maria Ruiz again" in site.last_text(ANA)

    # Cancel Invite asks in Slack's confirmation dialog, whose Yes cancels at once.
    element, ts = site.button(ANA, "Cancel Invite")
    assert element["style"] == "danger"
    assert element["confirm"]["title"]["text"] == msg.CONFIRM_CANCEL_TITLE
    assert element["confirm"]["text"]["text"] == msg.CONFIRM_CANCEL.format(name="Maria Ruiz")
    assert element["confirm"]["confirm"]["text"] == msg.BTN_CONFIRM_CANCEL
    assert element["confirm"]["deny"]["text"] == msg.BTN_KEEP
    assert element["confirm"]["style"] == "danger"
    assert element["value"].startswith("card:cancel_yes:")
    await site.press(ANA, "Cancel Invite")
    done = site.shown(ANA)[-1]
    assert done.method == "chat.update" and done.ts == ts
    assert done.params["text"] == msg.CANCELLED.format(name="Maria Ruiz")
    [invitation] = await site.invitations()
    assert invitation.status is InvitationStatus.CANCELLED


async def test_the_home_tab_is_my_household(site: Site) -> None:
    await site.open_home(ANA)
    stranger = site.home(ANA)
    assert stranger.params["view"]["type"] == "home"
    assert "/household join ACCESS-CODE" in view_text(stranger)
    assert msg.SLACK_BTN_INVITE not in labels_of_view(stranger)

    await head(site)
    await site.open_home(ANA)
    home = site.home(ANA)
    assert home.params["view"]["blocks"][0]["text"]["text"] == msg.SLACK_HOME_TITLE
    # + Invite, then the head's own member card (History, Rename): no invitation yet.
    assert labels_of_view(home) == [msg.SLACK_BTN_INVITE, msg.BTN_HISTORY, msg.BTN_RENAME]
    assert msg.MEMBERS_TITLE in view_text(home) and "Ana Lopez (head)" in view_text(home)

    # + Invite starts the flow in the DM, and a modal says so.
    await site.press_on_view(ANA, msg.SLACK_BTN_INVITE, view=home)
    assert site.last_text(ANA) == msg.ASK_METHOD
    [modal] = site.fake.calls_of("views.open")
    assert render.escape(msg.SLACK_INVITE_IN_DM) in view_text(modal)
    await site.press(ANA, "Email")
    await site.say(ANA, "Maria Ruiz")
    await site.say(ANA, "maria@example.com")
    await site.press(ANA, "Send Invite")

    # The invitation changed Ana's household: her home tab was published again.
    home = site.home(ANA)
    assert "Maria Ruiz" in view_text(home)
    assert labels_of_view(home) == [
        msg.SLACK_BTN_INVITE,
        msg.BTN_HISTORY,
        msg.BTN_RENAME,
        "Copy Invite Link",
        "Resend",
        "Cancel Invite",
    ]
    # Every event publishes it again, as the core shows it now: another server may have
    # published it since, so nothing this process remembers can tell it is up to date.
    before = len(site.fake.calls_of("views.publish"))
    await site.say(ANA, "hello?")
    assert len(site.fake.calls_of("views.publish")) == before + 1
    assert site.home(ANA).params["view"] == home.params["view"]


async def test_a_home_tab_another_server_published_is_brought_up_to_date(site: Site) -> None:
    await head(site)
    before_invite = site.home(ANA).params["view"]
    await site.command(ANA, "/invite", "email Maria Ruiz maria@example.com")
    await site.press(ANA, "Send Invite")
    current = site.home(ANA).params["view"]
    assert "Maria Ruiz" in json.dumps(current)
    # Another server, with a render it made before the invitation, publishes last.
    other_server = make_client(site.fake.token, api_base=site.fake.url)
    await other_server.views_publish(user_id=ANA, view=before_invite)
    # Ana's next event here publishes what is true now, though this server published it.
    await site.say(ANA, "hello?")
    assert site.home(ANA).params["view"] == current


async def test_refreshing_the_home_tab_writes_nothing(site: Site) -> None:
    """The home tab is asked of the core read-only: the conversation of someone midway
    through /invite is not saved again (another process may be taking their next step)."""
    await head(site)
    await site.command(ANA, "/invite", "email")
    async with site.database.uow() as uow:
        before = await uow.conversations.get(platform="slack", user_id=ANA)
    assert before is not None and before.state == "invite.name"
    site.world.clock.advance(hours=1)
    await site.open_home(ANA)
    assert "12 Oak Lane" in view_text(site.home(ANA))
    async with site.database.uow() as uow:
        after = await uow.conversations.get(platform="slack", user_id=ANA)
    assert after is not None
    assert (after.state, after.data, after.updated_at) == (
        before.state,
        before.data,
        before.updated_at,
    )


async def test_copy_resend_and_cancel_from_the_home_tab(site: Site) -> None:
    await head(site)
    await site.command(ANA, "/invite", "email Maria Ruiz maria@example.com")
    await site.press(ANA, "Send Invite")
    home = site.home(ANA)

    await site.press_on_view(ANA, "Copy Invite Link", view=home)
    [copy] = site.fake.calls_of("views.open")
    assert copy.params["view"]["type"] == "modal"
    assert _TOKEN.search(view_text(copy))
    assert any(b["type"] == "rich_text" for b in copy.params["view"]["blocks"])

    await site.press_on_view(ANA, "Resend", view=home)
    resent = site.fake.calls_of("views.open")[-1]
    assert "Sent the invitation to Maria Ruiz again" in view_text(resent)

    [cancel] = [e for e in buttons(home.params["view"]["blocks"]) if "confirm" in e]
    assert cancel["text"]["text"] == "Cancel Invite"
    await site.press_on_view(ANA, "Cancel Invite", view=home)
    cancelled = site.fake.calls_of("views.open")[-1]
    assert msg.CANCELLED.format(name="Maria Ruiz") in view_text(cancelled)
    [invitation] = await site.invitations()
    assert invitation.status is InvitationStatus.CANCELLED
    # The home tab no longer offers the cancelled invitation's buttons.
    assert labels_of_view(site.home(ANA)) == [
        msg.SLACK_BTN_INVITE,
        msg.BTN_HISTORY,
        msg.BTN_RENAME,
    ]


async def test_a_press_in_a_modal_updates_it(site: Site) -> None:
    await head(site)
    await site.command(ANA, "/invite", "email Maria Ruiz maria@example.com")
    await site.press(ANA, "Send Invite")
    site.world.clock.advance(hours=169)  # the invitation expires
    await site.open_home(ANA)
    await site.press_on_view(ANA, "Resend", view=site.home(ANA))
    [choice] = site.fake.calls_of("views.open")
    assert labels_of_view(choice) == [msg.BTN_RESEND_SAME, msg.BTN_RESEND_NEW]
    await site.press_on_view(ANA, msg.BTN_RESEND_NEW, view=choice)
    [updated] = site.fake.calls_of("views.update")
    assert updated.params["view_id"] == choice.view_id
    assert "Sent Maria Ruiz a new invitation link" in view_text(updated)


async def test_a_modal_slack_refuses_is_answered_in_the_dm(site: Site) -> None:
    await head(site)
    await site.command(ANA, "/invite", "email Maria Ruiz maria@example.com")
    await site.press(ANA, "Send Invite")
    site.fake.fail_next("views.open", "expired_trigger_id")
    await site.press_on_view(ANA, "Copy Invite Link", view=site.home(ANA))
    assert _TOKEN.search(json.dumps(site.shown(ANA)[-2].params["blocks"]))


async def test_a_card_that_can_no_longer_be_updated_is_posted_anew(site: Site) -> None:
    await head(site)
    await site.command(ANA, "/invite", "email Maria Ruiz maria@example.com")
    site.fake.fail_next("chat.update", "message_not_found")
    await site.press(ANA, "Send Invite")
    assert [c.method for c in site.shown(ANA)[-2:]] == ["chat.update", "chat.postMessage"]
    assert "Maria Ruiz" in site.last_text(ANA)


async def test_household_help_cancel_and_unknown_sub_commands(site: Site) -> None:
    await head(site)
    await site.command(ANA, "/household", "help")
    assert "/household join CODE" in site.last_text(ANA)
    assert "board@oakridge.example" in site.last_text(ANA)
    await site.command(ANA, "/invite")
    await site.command(ANA, "/household", "cancel")
    assert site.last_text(ANA) == msg.FLOW_CANCELLED
    await site.command(ANA, "/household", "frobnicate")
    assert site.last_text(ANA) == render.escape(msg.SLACK_HOUSEHOLD_USAGE)


# --- what must not work ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "forge",
    ["signature", "stale", "missing", "secret"],
)
async def test_a_forged_or_stale_request_gets_401_and_runs_nothing(site: Site, forge: str) -> None:
    code = await site.world.household()
    body = site.command_body(ANA, "/household", f"join {code}")
    headers = signed_headers(body, content_type="application/x-www-form-urlencoded")
    if forge == "signature":
        headers["X-Slack-Signature"] = "v0=" + "0" * 64
    elif forge == "stale":  # correctly signed, but more than five minutes old
        headers = signed_headers(
            body,
            content_type="application/x-www-form-urlencoded",
            timestamp=int(time.time()) - 301,
        )
    elif forge == "missing":
        del headers["X-Slack-Signature"], headers["X-Slack-Request-Timestamp"]
    else:  # signed with another app's secret
        stamp = headers["X-Slack-Request-Timestamp"]
        other = SignatureVerifier("another-apps-secret").generate_signature(
            timestamp=stamp, body=body
        )
        assert other is not None
        headers["X-Slack-Signature"] = other
    response = await site.client.post("/slack/events", content=body, headers=headers)
    await site.adapter.drain()
    assert response.status_code == 401
    assert site.fake.calls == []
    async with site.database.uow() as uow:
        [household] = await uow.households.list()
        assert not household.claimed
    # Nothing was recorded either: the real request with the same trigger still works.
    response = await site.post(body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert "You are now the head" in site.last_text(ANA)


async def test_a_tampered_body_with_a_replayed_signature_gets_401(site: Site) -> None:
    code = await site.world.household()
    body = site.command_body(ANA, "/household", f"join {code}")
    headers = signed_headers(body, content_type="application/x-www-form-urlencoded")
    tampered = body.replace(ANA, SAM)
    response = await site.client.post("/slack/events", content=tampered, headers=headers)
    assert response.status_code == 401
    assert site.fake.calls == []


async def test_slack_retries_and_repeated_event_ids_have_one_effect(site: Site) -> None:
    await head(site)
    await site.command(ANA, "/invite", "email Maria Ruiz")
    before = len(site.shown(ANA))
    ts = f"{int(time.time())}.000777"
    event = {
        "type": "message",
        "channel": dm_of(ANA),
        "channel_type": "im",
        "user": ANA,
        "text": "maria@example.com",
        "ts": ts,
        "event_ts": ts,
    }
    await site.event(event, event_id="Ev0REPEATED")
    await site.event(
        event,
        event_id="Ev0REPEATED",
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    await site.event(event, event_id="Ev0REPEATED")
    assert len(site.shown(ANA)) == before + 1
    assert site.last_text(ANA).startswith(msg.SUMMARY_TITLE)


async def test_the_same_interaction_twice_has_one_effect(site: Site) -> None:
    await head(site)
    await site.command(ANA, "/invite", "email Maria Ruiz maria@example.com")
    element, ts = site.button(ANA, "Send Invite")
    before = len(site.fake.effects)
    for _ in range(2):
        await site.press(
            ANA,
            value=element["value"],
            action_id=element["action_id"],
            ts=ts,
            trigger_id="1234.5678.samepress",
        )
    # One update of the card, one home tab: nothing twice.
    assert [c.method for c in site.fake.effects[before:]] == ["chat.update", "views.publish"]
    assert len(await site.invitations()) == 1
    await site.world.deliver()
    assert len(site.world.sender.sent) == 1


@pytest.mark.parametrize(
    ("value", "action_id"),
    [
        ("card:cancel_yes:" + "0" * 32, "invitebot.press.0"),  # no such invitation
        ("card:cancel_yes:not-an-id", "invitebot.press.1"),
        ("flow:delete_everything", "invitebot.press.0"),
        ("<!channel> " + "x" * 3000, "invitebot.press.2"),
        ("", "invitebot.press.0"),
        ("card:cancel_yes:" + "0" * 32, "something.else"),  # not one of our action ids
    ],
)
async def test_tampered_payloads_get_a_friendly_reply_and_change_nothing(
    site: Site, value: str, action_id: str
) -> None:
    await head(site)
    await site.command(ANA, "/invite", "email Maria Ruiz maria@example.com")
    await site.press(ANA, "Send Invite")
    before = len(site.shown(ANA))
    await site.press(ANA, value=value, action_id=action_id)
    assert len(site.shown(ANA)) == before + 1
    reply = site.shown(ANA)[-1]
    assert reply.method == "chat.postMessage" and reply.params["text"]
    assert "<!channel>" not in reply.params["text"]
    [invitation] = await site.invitations()
    assert invitation.status is InvitationStatus.PENDING


async def test_a_payload_naming_another_households_invitation_changes_nothing(
    site: Site,
) -> None:
    await head(site)
    await site.command(ANA, "/invite", "email Maria Ruiz maria@example.com")
    await site.press(ANA, "Send Invite")
    [invitation] = await site.invitations()
    code = await site.world.household(address="14 Oak Lane")
    await site.command(SAM, "/household", f"join {code}")
    await site.press(SAM, value=f"card:cancel_yes:{invitation.id}")
    assert site.last_text(SAM) == msg.NOT_YOUR_INVITATION
    [invitation] = await site.invitations()
    assert invitation.status is InvitationStatus.PENDING


async def test_a_member_who_is_not_the_head_pressing_the_heads_button_changes_nothing(
    site: Site,
) -> None:
    await head(site)
    await site.command(ANA, "/invite", "email Maria Ruiz maria@example.com")
    await site.press(ANA, "Send Invite")
    await site.world.deliver()
    found = _TOKEN.search(site.world.sender.sent[-1].body)
    assert found is not None
    await site.command(MARIA, "/household", f"join {found.group(1)}")
    await site.command(ANA, "/invite", "sms Sam Lee +1 202 555 0142")
    await site.press(ANA, "Send Invite")
    invitations = await site.invitations()
    pending = next(i for i in invitations if i.status is InvitationStatus.PENDING)

    # Maria, a member, presses the head's Cancel Invite (its value copied from Ana's card).
    await site.command(ANA, "/household")
    element, _ = site.button(ANA, "Cancel Invite")
    await site.press(MARIA, value=element["value"], action_id=element["action_id"])
    assert site.last_text(MARIA) == render.escape(render.slack_commands(msg.ONLY_HEAD))
    pending_after = next(i for i in await site.invitations() if i.id == pending.id)
    assert pending_after.status is InvitationStatus.PENDING
    # Her home tab shows the household, without the head's buttons: only Leave household.
    await site.open_home(MARIA)
    assert labels_of_view(site.home(MARIA)) == [msg.BTN_LEAVE]


async def test_text_from_people_never_becomes_mentions_or_links(site: Site) -> None:
    await head(site)
    await site.command(ANA, "/invite", "email")
    await site.say(ANA, "Maria &lt;!channel&gt; Ruiz")
    shown = json.dumps([c.params for c in site.shown(ANA)])
    assert "<!channel>" not in shown


async def test_the_bots_own_messages_and_edits_are_ignored(site: Site) -> None:
    await head(site)
    before = len(site.fake.effects)
    await site.say(ANA, "hello", bot_id="B0INVITEBOT")
    await site.say(ANA, "edited", subtype="message_changed")
    await site.say(BOT_USER_ID, "my own message")
    await site.event(
        {
            "type": "message",
            "channel": CHANNEL,
            "channel_type": "channel",
            "user": ANA,
            "text": "chatter",
            "ts": "1.2",
        }
    )
    assert site.fake.effects[before:] == []


# --- rendering -------------------------------------------------------------------------------


def test_replies_render_as_escaped_block_kit() -> None:
    reply = Reply(
        "Hi <@U0BOSS> & <!here> <https://evil.example|click>",
        title="A <title>",
        buttons=(
            Button("Send", "flow:send", Style.PRIMARY),
            Button(
                "Cancel Invite",
                "card:cancel:" + "a" * 32,
                Style.DANGER,
                confirm=Confirm("Sure?", "Sure?", "Yes", "No", "card:cancel_yes:" + "a" * 32),
            ),
            Button("Other", "flow:edit"),
        ),
        link="https://hoa.example/i/x",
        fields=(("Email", "a@b.example"),),
    )
    blocks = render.reply_blocks(reply)
    assert [b["type"] for b in blocks] == ["header", "section", "section", "rich_text", "actions"]
    assert blocks[0]["text"] == {"type": "plain_text", "text": "A <title>", "emoji": True}
    assert blocks[1]["text"]["text"] == (
        "Hi &lt;@U0BOSS&gt; &amp; &lt;!here&gt; &lt;https://evil.example|click&gt;"
    )
    send, cancel, other = blocks[-1]["elements"]
    assert send == {
        "type": "button",
        "action_id": "invitebot.press.0",
        "text": {"type": "plain_text", "text": "Send", "emoji": True},
        "value": "flow:send",
        "style": "primary",
    }
    assert cancel["value"] == "card:cancel_yes:" + "a" * 32 and cancel["style"] == "danger"
    assert cancel["confirm"]["style"] == "danger"
    assert "style" not in other and other["action_id"] == "invitebot.press.2"
    text = render.message(reply)["text"]
    assert "<" not in text and "&lt;!here&gt;" in text
    # The link stays out of the fallback text (push notifications, lock screens).
    assert "hoa.example/i/x" not in text and "hoa.example/i/x" in json.dumps(blocks)


def test_a_button_asks_in_slacks_dialog_only_when_the_engine_says_so() -> None:
    confirm = Confirm(
        title="Remove <b>?",
        text="Really? Type /cancel to stop.",
        yes="Remove",
        no="Keep",
        payload="card:cancel_yes:" + "b" * 32,
    )
    asks = render.button_element(
        Button("Remove", "card:cancel:" + "b" * 32, Style.DANGER, confirm=confirm), 0
    )
    assert asks["value"] == "card:cancel_yes:" + "b" * 32
    assert asks["confirm"] == {
        "title": {"type": "plain_text", "text": "Remove <b>?", "emoji": True},
        "text": {
            "type": "plain_text",
            "text": "Really? Type /household cancel to stop.",
            "emoji": True,
        },
        "confirm": {"type": "plain_text", "text": "Remove", "emoji": True},
        "deny": {"type": "plain_text", "text": "Keep", "emoji": True},
        "style": "danger",
    }
    primary = render.button_element(
        Button("Go", "flow:send", Style.PRIMARY, confirm=Confirm("T", "X", "Y", "N", "flow:go")), 1
    )
    assert primary["value"] == "flow:go" and primary["confirm"]["style"] == "primary"
    # The adapter knows no payload grammar: without a Confirm, no dialog, the payload as is.
    plain = render.button_element(Button("Cancel Invite", "card:cancel:" + "b" * 32), 2)
    assert "confirm" not in plain and plain["value"] == "card:cancel:" + "b" * 32
    # Slack's limits for the dialog's texts.
    long = render.button_element(
        Button("L", "p", confirm=Confirm("t" * 200, "x" * 400, "y" * 40, "n" * 40, "q")), 3
    )["confirm"]
    assert len(long["title"]["text"]) <= 100 and len(long["text"]["text"]) <= 300
    assert len(long["confirm"]["text"]) <= 30 and len(long["deny"]["text"]) <= 30
    assert "style" not in long


def test_long_text_is_cut_without_breaking_an_entity() -> None:
    blocks = render.reply_blocks(Reply("x" * 2997 + "<<<<"))
    text = blocks[0]["text"]["text"]
    assert len(text) <= render.MAX_SECTION_TEXT and text.endswith("…")
    assert not re.search(r"&[a-z]*…$", text)


def test_every_engine_payload_fits_a_button_value() -> None:
    for payload in ["card:resend_same:" + "f" * 32, "flow:resend_existing", "flow:edit:contact"]:
        assert render.button_value(payload) == payload
    with pytest.raises(ValueError):
        render.button_value("x" * 2001)


def test_engine_commands_are_shown_as_slack_types_them() -> None:
    assert render.slack_commands("Send /join CODE, or /cancel.") == (
        "Send /household join CODE, or /household cancel."
    )
    # Links and the app's own commands are left alone.
    assert render.slack_commands("https://hoa.example/join /invite /household") == (
        "https://hoa.example/join /invite /household"
    )


def test_typed_text_undoes_slacks_formatting() -> None:
    assert render.typed_text("<mailto:maria@example.org|maria@example.org>") == (
        "maria@example.org"
    )
    assert render.typed_text("<https://hoa.example/i/abc>") == "https://hoa.example/i/abc"
    assert render.typed_text("<tel:+12025550199|+1 202 555 0199>") == "+1 202 555 0199"
    assert render.typed_text("Maria &amp; Jo &lt;3") == "Maria & Jo <3"
    assert render.typed_text("hi <@U0ANA> <#C1|general> <!here>") == "hi @U0ANA #general @here"


def test_the_home_tab_never_outgrows_slacks_limit() -> None:
    cards = [
        Reply(f"card {n}", buttons=(Button("Resend", f"card:resend:{n:032x}"),)) for n in range(60)
    ]
    view = render.home_view(cards, can_invite=True, words=Words("en"))
    assert len(view["blocks"]) <= render.MAX_VIEW_BLOCKS
    assert view["blocks"][-1]["type"] == "context"
    assert render.escape(msg.SLACK_HOME_MORE) in json.dumps(view["blocks"][-1])


def _button(text: str = "Go", value: str = "v", action_id: str = "a.0") -> dict[str, object]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }


def _section(text: str = "hi") -> dict[str, object]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.mark.parametrize(
    ("method", "blocks"),
    [
        ("chat.postMessage", [_section()] * 51),
        ("views.publish", [_section()] * 101),
        (
            "chat.postMessage",
            [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
        ),
        ("chat.postMessage", [_section("s" * 3001)]),
        ("chat.update", [{"type": "actions", "elements": [_button(text="b" * 76)]}]),
        ("chat.postMessage", [{"type": "actions", "elements": [_button(value="v" * 2001)]}]),
        ("views.open", [{"type": "actions", "elements": [_button(action_id="a" * 256)]}]),
        ("chat.postMessage", [{"type": "actions", "elements": [_button(), _button()]}]),
    ],
)
async def test_the_fake_refuses_blocks_slack_refuses(
    fake: FakeSlack, method: str, blocks: list[dict[str, object]]
) -> None:
    client = make_client(fake.token, api_base=fake.url)
    if method.startswith("chat."):
        arguments: dict[str, object] = {"channel": dm_of(ANA), "text": "x", "blocks": blocks}
        if method == "chat.update":
            arguments["ts"] = "1700000000.000001"
    else:
        view: dict[str, object] = {"type": "home", "blocks": blocks}
        if method == "views.open":
            view = {**view, "type": "modal", "title": {"type": "plain_text", "text": "T"}}
        arguments = {"view": view, "user_id": ANA, "trigger_id": "1.2.3"}
        if method == "views.open":
            del arguments["user_id"]
        else:
            del arguments["trigger_id"]
    with pytest.raises(SlackApiError) as refused:
        await client.api_call(method, json=arguments)
    assert refused.value.response["error"] == "invalid_blocks"
    # Within the limits, the same kind of call is taken.
    ok = {**arguments}
    if "blocks" in ok:
        ok["blocks"] = [
            _section(),
            {"type": "actions", "elements": [_button(), _button(action_id="a.1")]},
        ]
    else:
        ok["view"] = {**arguments["view"], "blocks": [_section("s" * 3000)] * 100}  # type: ignore[dict-item]
    assert (await client.api_call(method, json=ok))["ok"] is True


async def test_what_the_adapter_renders_at_its_largest_slack_takes(fake: FakeSlack) -> None:
    client = make_client(fake.token, api_base=fake.url)
    many = tuple(Button("b" * 100, f"card:resend:{n:032x}") for n in range(40))
    huge = Reply(
        "x" * 5000, title="t" * 200, buttons=many, link="https://hoa.example/i/" + "a" * 43
    )
    await client.chat_postMessage(channel=dm_of(ANA), **render.message(huge))
    cards = [Reply(f"card {n}" * 400, title="c" * 300, buttons=many[:3]) for n in range(80)]
    await client.views_publish(
        user_id=ANA, view=render.home_view(cards, can_invite=True, words=Words("en"))
    )
    await client.views_open(trigger_id="1.2.3", view=render.modal_view(cards, words=Words("en")))
    assert [c.method for c in fake.calls] == ["chat.postMessage", "views.publish", "views.open"]


def test_slash_commands_map_to_the_engines_commands() -> None:
    def as_text(command: str, text: str) -> str | None:
        event = command_event(command, text)
        return None if event is None else f"{event.command}|{event.args}"

    assert as_text("/invite", "") == "invite|"
    assert as_text("/invite", "sms  Maria Ruiz +1 202 555 0199") == (
        "invite|sms Maria Ruiz +1 202 555 0199"
    )
    assert as_text("/household", "") == "household|"
    assert as_text("/household", "JOIN abcd-efgh-jkmn") == "join|abcd-efgh-jkmn"
    assert as_text("/household", "decline https://hoa.example/i/x") == (
        "decline|https://hoa.example/i/x"
    )
    assert as_text("/household", "help") == "help|"
    assert as_text("/household", "nonsense") is None
    assert as_text("/weather", "") is None


def test_receipt_keys() -> None:
    assert receipt_key({"type": "event_callback", "event_id": "Ev1"}) == "event:Ev1"
    assert receipt_key({"type": "block_actions", "trigger_id": "1.2.3"}) == "trigger:1.2.3"
    assert receipt_key({"command": "/invite", "trigger_id": "4.5.6"}) == "trigger:4.5.6"
    assert receipt_key({"type": "url_verification", "challenge": "x"}) is None


async def test_slacks_url_check_is_answered_with_its_challenge(site: Site) -> None:
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = json.dumps({"token": "x", "challenge": challenge, "type": "url_verification"})
    response = await site.post(body, content_type="application/json")
    assert response.status_code == 200 and challenge in response.text
    assert site.fake.calls == []


async def test_when_handling_fails_the_person_is_told(site: Site) -> None:
    await head(site)
    site.fake.fail_next("chat.postMessage", "internal_error")
    await site.command(ANA, "/household", "help")
    assert site.last_text(ANA) == render.escape(msg.SOMETHING_WENT_WRONG)
    # The next command works as ever.
    await site.command(ANA, "/household", "help")
    assert "/household join CODE" in site.last_text(ANA)


async def test_a_file_without_text_gets_the_question_again(site: Site) -> None:
    await head(site)
    await site.command(ANA, "/invite", "email")
    await site.say(ANA, "", subtype="file_share", files=[{"id": "F1"}])
    assert msg.ASK_NAME in site.last_text(ANA)


# --- in Spanish: a person whose Slack is set to Spanish (users.info's locale es-LA) -------


async def test_a_spanish_head_invites_end_to_end_in_spanish(site: Site) -> None:
    es = Words("es")
    site.fake.locales[ANA] = "es-LA"
    code = await site.world.household()
    await site.command(ANA, "/household", f"join {code}")
    assert site.last_text(ANA) == render.slack_commands(
        es(msg.CLAIMED, address="12 Oak Lane", community="Oak Ridge HOA")
    )
    # The app asked Slack for her locale once, and remembers it.
    asked = site.fake.calls_of("users.info")
    assert [c.params["user"] for c in asked] == [ANA]
    assert str(asked[0].params["include_locale"]).lower() in ("true", "1")

    await site.command(ANA, "/invite")
    ask = site.shown(ANA)[-1]
    assert ask.params["text"] == es(msg.ASK_METHOD) != msg.ASK_METHOD
    assert labels(ask) == [es(msg.BTN_EMAIL), es(msg.BTN_SMS), es(msg.BTN_CANCEL)]
    await site.press(ANA, es(msg.BTN_SMS))
    assert site.last_text(ANA) == es(msg.ASK_NAME)
    await site.say(ANA, "María Ruiz")
    await site.say(ANA, "<tel:+12025550199|+1 202 555 0199>")
    summary = site.shown(ANA)[-1]
    assert summary.params["blocks"][0]["text"]["text"] == es(msg.SUMMARY_TITLE)
    assert "Español" in json.dumps(summary.params["blocks"], ensure_ascii=False)
    await site.press(ANA, es(msg.BTN_SEND))
    [invitation] = await site.invitations()
    assert invitation.language == "es"
    sent = es(msg.SENT, name="María Ruiz", method=msg.BTN_SMS, expires=invitation.expires_at)
    assert site.last_text(ANA) == render.escape(render.slack_commands(sent))

    # The home tab speaks Spanish around the cards too.
    home = site.home(ANA).params["view"]
    assert home["blocks"][0]["text"]["text"] == es(msg.SLACK_HOME_TITLE) != msg.SLACK_HOME_TITLE
    assert labels_of_view(site.home(ANA))[0] == es(msg.SLACK_BTN_INVITE)
    assert len(site.fake.calls_of("users.info")) == 1

    await site.world.deliver()
    [sms] = [m.body for m in site.world.sender.sent if m.destination == "+12025550199"]
    assert "UNIRME" in sms


async def test_a_locale_slack_will_not_give_reads_english(site: Site) -> None:
    site.fake.fail_next("users.info", "missing_scope")
    await head(site)
    assert site.last_text(ANA).startswith("🏠 You are now the head")


async def test_a_slow_locale_is_not_waited_for(site: Site) -> None:
    """A home tab's press must be answered within three seconds: Slack's users.info gets one."""
    site.fake.locales[ANA] = "es-LA"
    site.fake.method_delays["users.info"] = 5.0
    await head(site)
    # English: the step went on without the locale (waited for, it would be Spanish).
    assert site.last_text(ANA).startswith("🏠 You are now the head")
