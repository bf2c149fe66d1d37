"""Two processes acting on one household at the same moment: one head per access code, one
pending invitation per contact, never over the quota."""

from __future__ import annotations

import asyncio

from bot.domain import ChannelIdentity, InvitationStatus, Limits, Role
from bot.engine import Engine
from bot.replies import Actor, Event
from storage import Database
from tests.unit.conftest import World


def engine_on(database: Database, world: World) -> Engine:
    return Engine(uow_factory=database.uow, ctx=world.ctx)


async def test_one_access_code_makes_one_head(two_databases: tuple[Database, Database]) -> None:
    one, two = two_databases
    world = World(uow_factory=one.uow)
    for _ in range(5):
        code = await world.household(address=f"{_} Race Road")
        people = [Actor("console", f"p{_}-{n}", f"p{_}-{n}") for n in range(4)]
        engines = [engine_on(db, world) for db in (one, two, one, two)]
        await asyncio.gather(
            *(
                e.handle(p, Event.message(f"/join {code}"))
                for e, p in zip(engines, people, strict=True)
            )
        )
    async with one.uow() as uow:
        for household in await uow.households.list():
            members = await uow.members.list_for_household(household.id)
            assert [m.role for m in members] == [Role.HEAD], household.address


async def test_two_send_invite_presses_at_once_make_one_invitation(
    two_databases: tuple[Database, Database],
) -> None:
    one, two = two_databases
    world = World(uow_factory=one.uow)
    ana = await world.head()
    await ana.say("/invite sms Maria Ruiz +1 202 555 0199")
    send = ana.payload_of("Send Invite")
    # The same conversation pressed twice at once (two devices), through two processes.
    await asyncio.gather(
        engine_on(one, world).handle(ana.actor, Event.press(send)),
        engine_on(two, world).handle(ana.actor, Event.press(send)),
    )
    # And two conversations racing to the same contact.
    await ana.say("/invite email Tom Ruiz tom@example.org")
    first = ana.payload_of("Send Invite")
    results = await asyncio.gather(
        engine_on(one, world).handle(ana.actor, Event.press(first)),
        engine_on(two, world).handle(ana.actor, Event.press(first)),
    )
    assert any("Invitation sent" in r[0].text for r in results)
    async with one.uow() as uow:
        [household] = [h for h in await uow.households.list() if h.claimed]
        invitations = await uow.invitations.list_for_household(household.id)
    pending = sorted(i.contact for i in invitations if i.status is InvitationStatus.PENDING)
    assert pending == ["+12025550199", "tom@example.org"]


async def test_racing_heads_stay_within_the_hourly_quota(
    two_databases: tuple[Database, Database],
) -> None:
    one, two = two_databases
    world = World(uow_factory=one.uow, limits=Limits(invites_per_hour=3))
    await world.head()
    async with one.uow() as uow:
        head = await uow.identities.get(platform="console", external_id="ana")
        assert head is not None
        # Six devices of the same head, each with its own conversation.
        devices = [Actor("console", f"ana-device-{n}", "ana") for n in range(6)]
        for device in devices:
            await uow.identities.add(
                ChannelIdentity(
                    platform="console",
                    external_id=device.user_id,
                    chat_id="ana",
                    member_id=head.member_id,
                )
            )
        await uow.commit()
    engines = [engine_on(db, world) for db in (one, two) * 3]
    for n, device in enumerate(devices):
        await engines[n].handle(device, Event.message(f"/invite email Friend {n} f{n}@example.org"))
    await asyncio.gather(
        *(engines[n].handle(device, Event.press("flow:send")) for n, device in enumerate(devices))
    )
    async with one.uow() as uow:
        [household] = [h for h in await uow.households.list() if h.claimed]
        invitations = await uow.invitations.list_for_household(household.id)
    assert len(invitations) == 3
