"""Households for the roster's tests (``bot.roster``, ``invitebot admin household show`` and
``export``), written through the repositories as the chat would have left them: each person
with the household event they joined by, so how they joined is known.

Names go in as they are, not through the chat's checks, so a test can store a name a
spreadsheet would run as a formula.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot import history
from bot.domain import (
    Community,
    DeliveryStatus,
    EventActor,
    Household,
    HouseholdEventKind,
    Invitation,
    InvitationStatus,
    Member,
    Method,
    Role,
)
from bot.ports import UnitOfWork, UnitOfWorkFactory

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
"""What ``tests.fakes.FakeClock`` says at first."""


def day(n: int) -> datetime:
    """``n`` days before :data:`NOW`, at 10:00."""
    return (NOW - timedelta(days=n)).replace(hour=10)


async def add_community(tx: UnitOfWork, name: str) -> Community:
    community = Community(name=name, contact="board@example.org", created_at=day(60))
    await tx.communities.add(community)
    return community


async def add_household(
    tx: UnitOfWork, community: Community, address: str, *, head_name: str = ""
) -> Household:
    household = Household(
        community_id=community.id,
        address=address,
        access_code_hash=f"hash-{address}",
        head_name=head_name,
        created_at=day(50),
    )
    await tx.households.add(household)
    return household


async def join(
    tx: UnitOfWork,
    household: Household,
    name: str,
    *,
    via: str,
    at: datetime,
    role: Role = Role.MEMBER,
    email: str | None = None,
    phone: str | None = None,
) -> Member:
    """Someone joins ``household``: the head by claiming it (a CLAIMED event), anyone else by
    accepting an invitation from the head (an accepted invitation and its ACCEPTED event)."""
    member = Member(
        household_id=household.id, name=name, role=role, email=email, phone=phone, joined_at=at
    )
    await tx.members.add(member)
    if role is Role.HEAD:
        household.head_member_id = member.id
        household.claimed_at = at
        await tx.households.update(household)
        await tx.events.append(history.claimed(household, member, at=at, via=via, joined=True))
        return member
    assert household.head_member_id is not None, "the head joins first"
    invitation = Invitation(
        household_id=household.id,
        invited_by=household.head_member_id,
        method=Method.EMAIL if email else Method.SMS,
        invitee_name=name,
        contact=email or phone or "",
        nonce="0" * 32,
        expires_at=at + timedelta(days=6),
        created_at=at - timedelta(hours=1),
        status=InvitationStatus.ACCEPTED,
        delivery_status=DeliveryStatus.DELIVERED,
        responded_at=at,
        member_id=member.id,
    )
    await tx.invitations.add(invitation)
    await tx.events.append(
        history.about_invitation(
            HouseholdEventKind.ACCEPTED,
            invitation,
            at=at,
            actor=EventActor.MEMBER,
            by=member,
            via=via,
        )
    )
    return member


async def invite(
    tx: UnitOfWork,
    household: Household,
    name: str,
    contact: str,
    *,
    at: datetime,
    status: InvitationStatus = InvitationStatus.PENDING,
    delivery: DeliveryStatus = DeliveryStatus.QUEUED,
    expires_in: timedelta = timedelta(days=7),
) -> Invitation:
    """The head invites ``name`` (recorded as an INVITED event)."""
    assert household.head_member_id is not None
    head = await tx.members.get(household.head_member_id)
    invitation = Invitation(
        household_id=household.id,
        invited_by=household.head_member_id,
        method=Method.EMAIL if "@" in contact else Method.SMS,
        invitee_name=name,
        contact=contact,
        nonce="1" * 32,
        expires_at=at + expires_in,
        created_at=at,
        status=status,
        delivery_status=delivery,
    )
    await tx.invitations.add(invitation)
    await tx.events.append(
        history.about_invitation(
            HouseholdEventKind.INVITED, invitation, at=at, actor=EventActor.MEMBER, by=head
        )
    )
    return invitation


@dataclass
class OakRidge:
    """What :func:`seed_oak_ridge` made."""

    households: dict[str, Household] = field(default_factory=dict)
    people: dict[str, Member] = field(default_factory=dict)
    invitations: dict[str, Invitation] = field(default_factory=dict)


async def seed_oak_ridge(uow_factory: UnitOfWorkFactory) -> OakRidge:
    """Two communities, five households (each status, one with nobody in it), with people who
    joined every way there is.

    - Oak Ridge HOA, 12 Oak Lane (active): José Núñez (head, telegram), Ana López (page),
      Luis Ruiz (sms); Old Member left. Open invitations: Maria Ruiz (delivered) and Ken Ito
      (queued); one cancelled, one past its time.
    - Oak Ridge HOA, 3 Elm Road (not activated): Zoë Adams is expected.
    - Oak Ridge HOA, 7 Pine Court (inactive): Bob Stone (head, slack).
    - Birch Hill, 1 Birch Way (active): Chloé Martin (head, console), Dan Martin (slack).
    """
    made = OakRidge()
    async with uow_factory() as tx:
        oak = await add_community(tx, "Oak Ridge HOA")
        birch = await add_community(tx, "Birch Hill")

        lane = await add_household(tx, oak, "12 Oak Lane", head_name="José Núñez")
        jose = await join(
            tx,
            lane,
            "José Núñez",
            via="telegram",
            at=day(30),
            role=Role.HEAD,
            email="jose@example.org",
            phone="+12025550101",
        )
        ana = await join(tx, lane, "Ana López", via="page", at=day(20), email="ana@example.org")
        luis = await join(tx, lane, "Luis Ruiz", via="sms", at=day(10), phone="+12025550103")
        gone = await join(tx, lane, "Old Member", via="page", at=day(25), email="old@example.org")
        gone.left_at = day(15)
        await tx.members.update(gone)
        made.invitations["Maria Ruiz"] = await invite(
            tx, lane, "Maria Ruiz", "+12025550199", at=day(2), delivery=DeliveryStatus.DELIVERED
        )
        made.invitations["Ken Ito"] = await invite(
            tx, lane, "Ken Ito", "ken@example.org", at=day(1)
        )
        made.invitations["Cancelled"] = await invite(
            tx,
            lane,
            "Cancelled Person",
            "c@example.org",
            at=day(3),
            status=InvitationStatus.CANCELLED,
        )
        made.invitations["Expired"] = await invite(
            tx, lane, "Late Person", "late@example.org", at=day(9), expires_in=timedelta(days=1)
        )

        elm = await add_household(tx, oak, "3 Elm Road", head_name="Zoë Adams")

        pine = await add_household(tx, oak, "7 Pine Court")
        bob = await join(
            tx, pine, "Bob Stone", via="slack", at=day(40), role=Role.HEAD, email="bob@example.org"
        )
        pine.deactivated_at = day(5)
        await tx.households.update(pine)

        way = await add_household(tx, birch, "1 Birch Way")
        chloe = await join(
            tx,
            way,
            "Chloé Martin",
            via="console",
            at=day(12),
            role=Role.HEAD,
            phone="+12025550120",
        )
        dan = await join(tx, way, "Dan Martin", via="slack", at=day(11), email="dan@example.org")
        await tx.commit()

    made.households = {h.address: h for h in (lane, elm, pine, way)}
    made.people = {m.name: m for m in (jose, ana, luis, gone, bob, chloe, dan)}
    return made


async def seed_many(uow_factory: UnitOfWorkFactory, *, households: int, per_household: int) -> None:
    """``households`` active households in "Big Park" ("House 00001" ...), each with a head
    and ``per_household - 1`` members, every one with their join event: written in one unit of
    work, as quickly as the repositories allow."""
    async with uow_factory() as tx:
        park = await add_community(tx, "Big Park")
        for number in range(1, households + 1):
            house = await add_household(tx, park, f"House {number:05d}")
            for index in range(per_household):
                await join(
                    tx,
                    house,
                    f"Person {number:05d}-{index}",
                    via="page" if index else "telegram",
                    at=day(1) + timedelta(minutes=index),
                    role=Role.MEMBER if index else Role.HEAD,
                    email=f"p{number}-{index}@example.org",
                )
        await tx.commit()
