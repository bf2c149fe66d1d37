"""Issue 13, point 13: a signed Twilio request captured on the wire can be sent again. Twilio's
signature carries no timestamp, so only the receipt of its MessageSid tells a replay from a
new text: receipts are kept 30 days (``bot.delivery.RECEIPT_RETENTION``), and the risk beyond
is written down in docs/security.md."""

from __future__ import annotations

from bot.domain import InvitationStatus
from tests.handlers.test_twilio_webhooks import MARIA, Site, sid, site, twiml_text

__all__ = ["site"]


async def invitations(site: Site) -> list[InvitationStatus]:
    async with site.database.uow() as uow:
        [household] = await uow.households.list()
        found = await uow.invitations.list_for_household(household.id)
    return [i.status for i in sorted(found, key=lambda i: i.created_at)]


async def test_a_decline_replayed_weeks_later_does_not_decline_the_new_invitation(
    site: Site,
) -> None:
    ana = await site.world.head()
    await ana.say(f"/invite sms Maria Ruiz {MARIA}")
    await ana.press("Send Invite")
    await site.world.deliver()
    captured = sid()
    declined = await site.text("DECLINE", message_sid=captured)
    assert declined.status_code == 200 and twiml_text(declined)
    assert await invitations(site) == [InvitationStatus.DECLINED]

    # Three weeks on, Ana asks Maria again; the dispatcher has purged receipts every hour.
    for _ in range(3):
        site.world.clock.advance(days=7)
        await site.world.dispatcher.run_once()
    await ana.say(f"/invite sms Maria Ruiz {MARIA}")
    await ana.press("Send Invite")
    await site.world.deliver()
    site.world.clock.advance(days=1)
    await site.world.dispatcher.run_once()

    replayed = await site.text("DECLINE", message_sid=captured)  # the same signed request
    assert replayed.status_code == 200
    assert twiml_text(replayed) == []  # a redelivery: no reply, no effect
    assert await invitations(site) == [InvitationStatus.DECLINED, InvitationStatus.PENDING]
