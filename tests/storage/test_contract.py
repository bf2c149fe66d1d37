"""The repository contract: the same assertions on the in-memory twins and on SQL storage.

Every test takes the shared ``uow_factory`` (memory, SQLite and, when configured, PostgreSQL),
so a behaviour the core relies on in its fast in-memory tests holds on the real databases too.
Foreign keys are real on SQL, so parents are created before their children.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

from bot.domain import (
    Channel,
    ChannelIdentity,
    Community,
    Conversation,
    DeliveryStatus,
    Household,
    InboundReceipt,
    Invitation,
    InvitationStatus,
    Member,
    Method,
    OutboxMessage,
    OutboxStatus,
    PhoneStatus,
    Role,
    Route,
    ThrottleCount,
)
from bot.ports import UnitOfWork, UnitOfWorkFactory

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@dataclasses.dataclass
class Seed:
    community: Community
    household: Household
    head: Member


async def seed(uow: UnitOfWork, *, address: str = "12 Oak Lane") -> Seed:
    """A community (made on first use), one household in it, and the household's head."""
    community = await uow.communities.get_by_name("Oak Ridge HOA")
    if community is None:
        community = Community(name="Oak Ridge HOA", contact="board@oak.example", created_at=T0)
        await uow.communities.add(community)
    household = Household(
        community_id=community.id, address=address, access_code_hash=f"hash-of-{address}"
    )
    await uow.households.add(household)
    head = Member(household_id=household.id, name="Ana Lopez", role=Role.HEAD, joined_at=T0)
    await uow.members.add(head)
    return Seed(community, household, head)


async def seeded(uow_factory: UnitOfWorkFactory) -> Seed:
    async with uow_factory() as uow:
        found = await seed(uow)
        await uow.commit()
    return found


def invitation(s: Seed, **changes: object) -> Invitation:
    fields: dict[str, object] = {
        "household_id": s.household.id,
        "invited_by": s.head.id,
        "method": Method.SMS,
        "invitee_name": "Maria Ruiz",
        "contact": "+12025550199",
        "nonce": "0" * 32,
        "expires_at": at(60 * 24 * 7),
        "created_at": T0,
    }
    return Invitation(**(fields | changes))  # type: ignore[arg-type]


def message(**changes: object) -> OutboxMessage:
    fields: dict[str, object] = {
        "channel": Channel.SMS,
        "destination": "+12025550199",
        "body": "You are invited",
        "created_at": T0,
        "next_attempt_at": T0,
    }
    return OutboxMessage(**(fields | changes))  # type: ignore[arg-type]


# --- communities ---------------------------------------------------------------------------


async def test_a_community_round_trips(uow_factory: UnitOfWorkFactory) -> None:
    community = Community(name="Oak Ridge HOA", contact="board@oak.example", created_at=at(5))
    bare = Community(name="Elm Court")
    async with uow_factory() as uow:
        await uow.communities.add(community)
        await uow.communities.add(bare)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.communities.get(community.id) == community
        assert await uow.communities.get(bare.id) == bare
        assert await uow.communities.get("0" * 32) is None


async def test_communities_are_found_by_name_in_any_case(uow_factory: UnitOfWorkFactory) -> None:
    community = Community(name="Oak Ridge HOA")
    async with uow_factory() as uow:
        await uow.communities.add(community)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.communities.get_by_name("oak ridge hoa") == community
        assert await uow.communities.get_by_name("OAK RIDGE HOA") == community
        assert await uow.communities.get_by_name("Oak Ridge") is None


async def test_communities_are_listed_by_name(uow_factory: UnitOfWorkFactory) -> None:
    names = ["beta", "Alpha", "alpha 2", "Zed", "delta"]
    async with uow_factory() as uow:
        for name in names:
            await uow.communities.add(Community(name=name))
        await uow.commit()
    async with uow_factory() as uow:
        # Code-point order, as Python sorts str: capitals first.
        assert [c.name for c in await uow.communities.list()] == sorted(names)


# --- households ----------------------------------------------------------------------------


async def test_a_household_round_trips_and_updates(uow_factory: UnitOfWorkFactory) -> None:
    s = await seeded(uow_factory)
    async with uow_factory() as uow:
        assert await uow.households.get(s.household.id) == s.household
        claimed = dataclasses.replace(
            s.household, head_member_id=s.head.id, claimed_at=at(1), head_name="Ana L."
        )
        await uow.households.update(claimed)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.households.get(s.household.id) == claimed
        assert await uow.households.get("0" * 32) is None


async def test_a_household_is_read_with_its_community(uow_factory: UnitOfWorkFactory) -> None:
    s = await seeded(uow_factory)
    async with uow_factory() as uow:
        assert await uow.households.get_with_community(s.household.id) == (
            s.household,
            s.community,
        )
        assert await uow.households.get_with_community("0" * 32) is None


async def test_households_are_found_by_code_hash(uow_factory: UnitOfWorkFactory) -> None:
    s = await seeded(uow_factory)
    async with uow_factory() as uow:
        assert await uow.households.get_by_code_hash(s.household.access_code_hash) == s.household
        assert await uow.households.get_by_code_hash("no-such-hash") is None


async def test_households_are_found_by_address_in_any_case_within_a_community(
    uow_factory: UnitOfWorkFactory,
) -> None:
    s = await seeded(uow_factory)
    other = Community(name="Elm Court")
    async with uow_factory() as uow:
        await uow.communities.add(other)
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.households.find_by_address(
            community_id=s.community.id, address="12 OAK lane"
        )
        assert found == s.household
        assert (
            await uow.households.find_by_address(community_id=other.id, address="12 Oak Lane")
            is None
        )
        assert (
            await uow.households.find_by_address(community_id=s.community.id, address="12 Oak")
            is None
        )


async def test_households_are_listed_by_address(uow_factory: UnitOfWorkFactory) -> None:
    addresses = ["9 Pine St", "10 Elm St", "apt 3", "Apt 2"]
    elsewhere = Community(name="Elm Court")
    async with uow_factory() as uow:
        await uow.communities.add(elsewhere)
        for address in addresses:
            await seed(uow, address=address)
        await uow.households.add(
            Household(community_id=elsewhere.id, address="1 Far Away", access_code_hash="far")
        )
        await uow.commit()
    async with uow_factory() as uow:
        community = await uow.communities.get_by_name("Oak Ridge HOA")
        assert community is not None
        listed = await uow.households.list(community_id=community.id)
        assert [h.address for h in listed] == sorted(addresses)
        everywhere = await uow.households.list()
        assert [h.address for h in everywhere] == sorted([*addresses, "1 Far Away"])


# --- members -------------------------------------------------------------------------------


async def test_a_member_round_trips(uow_factory: UnitOfWorkFactory) -> None:
    s = await seeded(uow_factory)
    member = Member(
        household_id=s.household.id,
        name="Maria Ruiz",
        role=Role.MEMBER,
        email="maria@example.org",
        phone="+12025550199",
        joined_at=at(3),
    )
    async with uow_factory() as uow:
        await uow.members.add(member)
        await uow.commit()
    async with uow_factory() as uow:
        got = await uow.members.get(member.id)
        assert got == member
        assert got is not None and got.role is Role.MEMBER
        assert await uow.members.get(s.head.id) == s.head  # None email, phone
        assert await uow.members.get("0" * 32) is None


async def test_members_are_listed_head_first_then_by_name(uow_factory: UnitOfWorkFactory) -> None:
    s = await seeded(uow_factory)
    async with uow_factory() as uow:
        for name in ["Zoe", "bob", "Carl"]:
            await uow.members.add(Member(household_id=s.household.id, name=name, role=Role.MEMBER))
        other = await seed(uow, address="14 Oak Lane")
        await uow.commit()
    async with uow_factory() as uow:
        listed = await uow.members.list_for_household(s.household.id)
        assert [m.name for m in listed] == ["Ana Lopez", "Carl", "Zoe", "bob"]
        assert [m.id for m in await uow.members.list_for_household(other.household.id)] == [
            other.head.id
        ]


async def test_members_are_found_by_email_or_phone(uow_factory: UnitOfWorkFactory) -> None:
    s = await seeded(uow_factory)
    maria = Member(
        household_id=s.household.id,
        name="Maria",
        role=Role.MEMBER,
        email="maria@example.org",
        phone="+12025550199",
    )
    async with uow_factory() as uow:
        await uow.members.add(maria)
        other = await seed(uow, address="14 Oak Lane")
        await uow.commit()
    async with uow_factory() as uow:
        find = uow.members.find_by_contact
        assert await find(household_id=s.household.id, contact="maria@example.org") == maria
        assert await find(household_id=s.household.id, contact="+12025550199") == maria
        assert await find(household_id=other.household.id, contact="+12025550199") is None
        assert await find(household_id=s.household.id, contact="+12025550100") is None


# --- identities ----------------------------------------------------------------------------


async def test_identities_round_trip_and_list_per_member(uow_factory: UnitOfWorkFactory) -> None:
    s = await seeded(uow_factory)
    slack = ChannelIdentity(
        platform="slack", external_id="U123", member_id=s.head.id, chat_id="D1", created_at=at(1)
    )
    telegram = ChannelIdentity(
        platform="telegram", external_id="42", member_id=s.head.id, created_at=at(2)
    )
    async with uow_factory() as uow:
        await uow.identities.add(slack)
        await uow.identities.add(telegram)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.identities.get(platform="slack", external_id="U123") == slack
        assert await uow.identities.get(platform="telegram", external_id="U123") is None
        assert await uow.identities.list_for_member(s.head.id) == [slack, telegram]
        assert await uow.identities.list_for_member("0" * 32) == []


async def test_an_identity_is_read_with_its_member_and_household(
    uow_factory: UnitOfWorkFactory,
) -> None:
    s = await seeded(uow_factory)
    slack = ChannelIdentity(platform="slack", external_id="U123", member_id=s.head.id)
    async with uow_factory() as uow:
        await uow.identities.add(slack)
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.identities.get_with_owner(platform="slack", external_id="U123")
        assert found == (slack, s.head, s.household, "")  # a community in the default zone
        assert found == (
            await uow.identities.get(platform="slack", external_id="U123"),
            await uow.members.get(s.head.id),
            await uow.households.get(s.household.id),
            "",
        )
        assert await uow.identities.get_with_owner(platform="telegram", external_id="U123") is None
        # What it read counts as read: an update writes only what changed since.
        assert found is not None and found[2] is not None
        renamed = dataclasses.replace(found[2], address="14 Oak Lane")
        await uow.households.update(renamed)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.households.get(s.household.id) == renamed


async def test_an_identity_is_read_with_its_communitys_time_zone(
    uow_factory: UnitOfWorkFactory,
) -> None:
    s = await seeded(uow_factory)
    async with uow_factory() as uow:
        await uow.identities.add(
            ChannelIdentity(platform="slack", external_id="U9", member_id=s.head.id)
        )
        community = await uow.communities.get(s.household.community_id)
        assert community is not None
        community.timezone = "America/Los_Angeles"
        await uow.communities.update(community)
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.identities.get_with_owner(platform="slack", external_id="U9")
        assert found is not None and found.timezone == "America/Los_Angeles"


async def test_a_members_language_is_set_alone(uow_factory: UnitOfWorkFactory) -> None:
    """set_language writes the language and nothing else: a rename another transaction
    committed meanwhile is kept."""
    s = await seeded(uow_factory)
    async with uow_factory() as uow:
        stale = await uow.members.get(s.head.id)
        assert stale is not None and stale.language == ""
    async with uow_factory() as uow:
        renamed = dataclasses.replace(stale, name="Ana María Lopez")
        await uow.members.update(renamed)
        await uow.commit()
    async with uow_factory() as uow:
        await uow.members.set_language(s.head.id, "es")
        await uow.commit()
    async with uow_factory() as uow:
        member = await uow.members.get(s.head.id)
    assert member is not None and member.language == "es" and member.name == "Ana María Lopez"


# --- invitations ---------------------------------------------------------------------------


async def test_an_invitation_round_trips_every_field(uow_factory: UnitOfWorkFactory) -> None:
    s = await seeded(uow_factory)
    fresh = invitation(s)
    answered = invitation(
        s,
        method=Method.EMAIL,
        contact="tom@example.org",
        status=InvitationStatus.ACCEPTED,
        delivery_status=DeliveryStatus.DELIVERED,
        sent_at=at(1),
        responded_at=at(2),
        member_id=s.head.id,
        origin_platform="telegram",
        origin_chat_id="-100123",
        send_count=2,
        # An email's Message-ID (email.utils.make_msgid) is longer than an SMS id.
        provider_message_id="<179548301634.30239.17233431500754290621@mail.oak-ridge-hoa.example.org>",
    )
    async with uow_factory() as uow:
        await uow.invitations.add(fresh)
        await uow.invitations.add(answered)
        await uow.commit()
    async with uow_factory() as uow:
        for original in (fresh, answered):
            got = await uow.invitations.get(original.id)
            assert got == original
            assert got is not None
            assert type(got.method) is Method and type(got.status) is InvitationStatus
            assert type(got.delivery_status) is DeliveryStatus
            assert got.created_at.tzinfo is not None
        assert await uow.invitations.get("0" * 32) is None


async def test_an_invitation_updates(uow_factory: UnitOfWorkFactory) -> None:
    s = await seeded(uow_factory)
    original = invitation(s)
    async with uow_factory() as uow:
        await uow.invitations.add(original)
        await uow.commit()
    async with uow_factory() as uow:
        got = await uow.invitations.get(original.id, for_update=True)
        assert got is not None
        got.status = InvitationStatus.CANCELLED
        got.nonce = "1" * 32
        got.send_count += 1
        await uow.invitations.update(got)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.invitations.get(original.id) == got


async def test_invitations_are_listed_per_household_by_creation(
    uow_factory: UnitOfWorkFactory,
) -> None:
    s = await seeded(uow_factory)
    later, earlier = invitation(s, created_at=at(5)), invitation(s, created_at=at(1))
    # Equal times keep the order the invitations were made in.
    tied = [invitation(s, created_at=at(9), invitee_name=f"Tied {n}") for n in range(3)]
    async with uow_factory() as uow:
        other = await seed(uow, address="14 Oak Lane")
        elsewhere = invitation(other)
        for each in [later, earlier, *tied, elsewhere]:
            await uow.invitations.add(each)
        await uow.commit()
    async with uow_factory() as uow:
        listed = await uow.invitations.list_for_household(s.household.id)
        assert listed == [earlier, later, *tied]
        assert await uow.invitations.list_for_household(other.household.id) == [elsewhere]


async def test_find_pending_only_finds_a_pending_invitation(
    uow_factory: UnitOfWorkFactory,
) -> None:
    s = await seeded(uow_factory)
    contact = "+12025550199"
    async with uow_factory() as uow:
        for status in InvitationStatus:
            if status is not InvitationStatus.PENDING:
                await uow.invitations.add(invitation(s, contact=contact, status=status))
        await uow.commit()
    async with uow_factory() as uow:
        assert (
            await uow.invitations.find_pending(household_id=s.household.id, contact=contact) is None
        )
        pending = invitation(s, contact=contact)
        await uow.invitations.add(pending)
        other = await seed(uow, address="14 Oak Lane")
        await uow.commit()
    async with uow_factory() as uow:
        find = uow.invitations.find_pending
        assert await find(household_id=s.household.id, contact=contact) == pending
        assert await find(household_id=other.household.id, contact=contact) is None
        assert await find(household_id=s.household.id, contact="+12025550100") is None


async def test_count_created_by_counts_one_inviter_since_a_time(
    uow_factory: UnitOfWorkFactory,
) -> None:
    s = await seeded(uow_factory)
    async with uow_factory() as uow:
        other = await seed(uow, address="14 Oak Lane")
        for minutes in [0, 10, 20, 30]:
            await uow.invitations.add(invitation(s, created_at=at(minutes)))
        await uow.invitations.add(invitation(other, invited_by=other.head.id, created_at=at(30)))
        await uow.commit()
    async with uow_factory() as uow:
        count = uow.invitations.count_created_by
        assert await count(member_id=s.head.id, since=at(10)) == 3  # the boundary counts
        assert await count(member_id=s.head.id, since=at(31)) == 0
        assert await count(member_id=other.head.id, since=T0) == 1
        # The same instant in another zone is the same instant.
        eastern = timezone(timedelta(hours=-5))
        assert await count(member_id=s.head.id, since=at(10).astimezone(eastern)) == 3


async def test_list_expiring_lists_pending_invitations_past_their_time(
    uow_factory: UnitOfWorkFactory,
) -> None:
    s = await seeded(uow_factory)
    expired_late = invitation(s, expires_at=at(30))
    expired_early = invitation(s, expires_at=at(10))
    expires_now = invitation(s, expires_at=at(40))
    async with uow_factory() as uow:
        for each in [
            expired_late,
            expired_early,
            expires_now,
            invitation(s, expires_at=at(41)),
            invitation(s, expires_at=at(5), status=InvitationStatus.ACCEPTED),
            invitation(s, expires_at=at(5), status=InvitationStatus.CANCELLED),
        ]:
            await uow.invitations.add(each)
        await uow.commit()
    async with uow_factory() as uow:
        expiring = uow.invitations.list_expiring
        assert await expiring(now=at(40), limit=10) == [expired_early, expired_late, expires_now]
        assert await expiring(now=at(40), limit=2) == [expired_early, expired_late]
        assert await expiring(now=at(9), limit=10) == []


async def test_pending_invitations_to_a_contact_are_listed_across_households_oldest_first(
    uow_factory: UnitOfWorkFactory,
) -> None:
    s = await seeded(uow_factory)
    contact = "+12025550199"
    async with uow_factory() as uow:
        other = await seed(uow, address="14 Oak Lane")
        newest = invitation(s, contact=contact, created_at=at(30))
        oldest = invitation(other, contact=contact, created_at=at(10))
        # Equal times keep the order the invitations were made in, across households too.
        tied = [invitation(h, contact=contact, created_at=at(20)) for h in [s, other, s]]
        for each in [newest, oldest, *tied]:
            await uow.invitations.add(each)
        for status in InvitationStatus:
            if status is not InvitationStatus.PENDING:
                await uow.invitations.add(invitation(s, contact=contact, status=status))
        await uow.invitations.add(invitation(s, contact="+12025550100"))
        await uow.commit()
    async with uow_factory() as uow:
        listed = await uow.invitations.list_pending_for_contact(contact)
        assert listed == [oldest, *tied, newest]
        assert len(await uow.invitations.list_pending_for_contact("+12025550100")) == 1
        assert await uow.invitations.list_pending_for_contact("+12025550101") == []
        # Exact match only: contacts are stored normalized (E.164, lower-case email).
        assert await uow.invitations.list_pending_for_contact("12025550199") == []
        for for_update in (False, True):
            together = await uow.invitations.list_pending_with_households(
                contact, for_update=for_update
            )
            assert [t.invitation for t in together] == [oldest, *tied, newest]
            homes = {s.household.id: s.household, other.household.id: other.household}
            for found in together:
                assert found.household == homes[found.invitation.household_id]
                assert found.community == s.community
        assert await uow.invitations.list_pending_with_households("+12025550101") == []


# --- outbox --------------------------------------------------------------------------------


async def test_an_outbox_message_round_trips_and_updates(uow_factory: UnitOfWorkFactory) -> None:
    s = await seeded(uow_factory)
    invite = invitation(s)
    plain = message()
    full = message(
        channel=Channel.CHAT,
        destination="U123",
        body="Maria accepted\nwith a second line ✓",
        subject="Invitation",
        platform="slack",
        invitation_id=invite.id,
        status=OutboxStatus.SENT,
        attempts=2,
        last_error="timeout",
        sent_at=at(2),
        provider_id="SM123",
        data={
            "kind": "invitation",
            "name": "María Ruiz",
            "link": "https://oak.example/i/abc?x=1&y=2",
            "quote": 'say "hi" \\ {}',
        },
    )
    async with uow_factory() as uow:
        await uow.invitations.add(invite)
        await uow.outbox.add(plain)
        await uow.outbox.add(full)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.outbox.get(plain.id) == plain
        got = await uow.outbox.get(full.id)
        assert got == full
        assert got is not None and type(got.channel) is Channel
        assert await uow.outbox.get("0" * 32) is None
        got.status, got.attempts, got.last_error = OutboxStatus.FAILED, 3, "rejected"
        await uow.outbox.update(got)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.outbox.get(full.id) == got


async def test_a_message_is_found_by_its_provider_id(uow_factory: UnitOfWorkFactory) -> None:
    unsent = message()  # provider_id "": never matched
    sms = message(status=OutboxStatus.SENT, provider_id="SM123")
    email = message(
        channel=Channel.EMAIL, destination="tom@example.org", provider_id="<a@mail.example>"
    )
    async with uow_factory() as uow:
        for each in [unsent, sms, email]:
            await uow.outbox.add(each)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.outbox.get_by_provider_id("SM123") == sms
        assert await uow.outbox.get_by_provider_id("<a@mail.example>") == email
        assert await uow.outbox.get_by_provider_id("") is None
        assert await uow.outbox.get_by_provider_id("sm123") is None
        assert await uow.outbox.get_by_provider_id("SM999") is None


async def test_outbox_data_is_a_copy(uow_factory: UnitOfWorkFactory) -> None:
    queued = message(data={"kind": "invitation"})
    async with uow_factory() as uow:
        await uow.outbox.add(queued)
        queued.data["kind"] = "changed after add"
        got = await uow.outbox.get(queued.id)
        assert got is not None and got.data == {"kind": "invitation"}
        got.data["kind"] = "never passed to update"
        again = await uow.outbox.get(queued.id)
        assert again is not None and again.data == {"kind": "invitation"}
        await uow.commit()
    async with uow_factory() as uow:
        got = await uow.outbox.get(queued.id)
        assert got is not None and got.data == {"kind": "invitation"}
        got.data["name"] = "Maria"  # changed in place, then passed to update
        await uow.outbox.update(got)
        await uow.commit()
    async with uow_factory() as uow:
        got = await uow.outbox.get(queued.id)
        assert got is not None and got.data == {"kind": "invitation", "name": "Maria"}


async def test_claim_due_takes_due_pending_messages_on_the_routes(
    uow_factory: UnitOfWorkFactory,
) -> None:
    sms = message(channel=Channel.SMS, next_attempt_at=at(2))
    email = message(channel=Channel.EMAIL, destination="tom@example.org", next_attempt_at=at(1))
    slack = message(channel=Channel.CHAT, platform="slack", destination="U1")
    telegram = message(channel=Channel.CHAT, platform="telegram", destination="42")
    console = message(channel=Channel.CHAT, platform="console", destination="ana")
    later = message(channel=Channel.SMS, next_attempt_at=at(11))
    sent = message(channel=Channel.SMS, status=OutboxStatus.SENT)
    failed = message(channel=Channel.SMS, status=OutboxStatus.FAILED)
    async with uow_factory() as uow:
        for each in [sms, email, slack, telegram, console, later, sent, failed]:
            await uow.outbox.add(each)
        await uow.commit()
    lease = at(30)
    async with uow_factory() as uow:
        claim = uow.outbox.claim_due
        assert await claim(now=at(10), routes=[], limit=10, lease_until=lease) == []
        claimed = await claim(
            now=at(10),
            routes=[
                Route(Channel.SMS),
                Route(Channel.CHAT, platform="slack"),
                Route(Channel.CHAT, platform="console", destination="ana"),
            ],
            limit=10,
            lease_until=lease,
        )
        # Oldest due first: by next attempt, then by creation.
        assert [m.id for m in claimed] == [slack.id, console.id, sms.id]
        assert all(m.next_attempt_at == lease for m in claimed)
        assert [
            m.id
            for m in await claim(
                now=at(10), routes=[Route(Channel.CHAT)], limit=10, lease_until=lease
            )
        ] == [telegram.id]
        assert [
            m.id
            for m in await claim(
                now=at(10), routes=[Route(Channel.EMAIL)], limit=10, lease_until=lease
            )
        ] == [email.id]
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.outbox.get(sms.id)
        assert stored == dataclasses.replace(sms, next_attempt_at=lease)


async def test_claim_due_honours_the_limit_oldest_first(uow_factory: UnitOfWorkFactory) -> None:
    messages = [message(created_at=at(-n)) for n in range(5)]  # newest made first
    async with uow_factory() as uow:
        for each in messages:
            await uow.outbox.add(each)
        await uow.commit()
    async with uow_factory() as uow:
        claimed = await uow.outbox.claim_due(
            now=T0, routes=[Route(Channel.SMS)], limit=2, lease_until=at(5)
        )
        assert [m.id for m in claimed] == [messages[4].id, messages[3].id]
        assert (
            await uow.outbox.claim_due(
                now=T0, routes=[Route(Channel.SMS)], limit=0, lease_until=at(5)
            )
            == []
        )


async def test_a_claimed_message_waits_for_its_lease_to_end(uow_factory: UnitOfWorkFactory) -> None:
    queued = message()
    routes = [Route(Channel.SMS)]
    async with uow_factory() as uow:
        await uow.outbox.add(queued)
        await uow.commit()
    async with uow_factory() as uow:
        first = await uow.outbox.claim_due(now=T0, routes=routes, limit=10, lease_until=at(2))
        assert [m.id for m in first] == [queued.id]
        await uow.commit()
    async with uow_factory() as uow:
        assert (
            await uow.outbox.claim_due(now=at(1), routes=routes, limit=10, lease_until=at(3)) == []
        )
        again = await uow.outbox.claim_due(now=at(2), routes=routes, limit=10, lease_until=at(4))
        assert [m.id for m in again] == [queued.id]
        assert again[0].next_attempt_at == at(4)


async def test_count_to_destination_counts_messages_since_a_time(
    uow_factory: UnitOfWorkFactory,
) -> None:
    async with uow_factory() as uow:
        for minutes in [0, 10, 20]:
            await uow.outbox.add(message(created_at=at(minutes)))
        await uow.outbox.add(message(destination="+12025550100", created_at=at(20)))
        await uow.commit()
    async with uow_factory() as uow:
        count = uow.outbox.count_to_destination
        assert await count(destination="+12025550199", since=at(10)) == 2
        assert await count(destination="+12025550199", since=at(21)) == 0
        assert await count(destination="+12025550100", since=T0) == 1
        assert await count(destination="nobody", since=T0) == 0


async def test_messages_are_listed_per_invitation_by_creation(
    uow_factory: UnitOfWorkFactory,
) -> None:
    s = await seeded(uow_factory)
    invite, other = invitation(s), invitation(s)
    second, first = (
        message(invitation_id=invite.id, created_at=at(2)),
        message(invitation_id=invite.id, created_at=at(1)),
    )
    tied = [message(invitation_id=invite.id, created_at=at(3), body=f"{n}") for n in range(3)]
    async with uow_factory() as uow:
        await uow.invitations.add(invite)
        await uow.invitations.add(other)
        for each in [second, first, *tied, message(invitation_id=other.id), message()]:
            await uow.outbox.add(each)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.outbox.list_for_invitation(invite.id) == [first, second, *tied]
        assert len(await uow.outbox.list_for_invitation(other.id)) == 1


# --- conversations -------------------------------------------------------------------------


async def test_a_conversation_is_saved_and_replaced(uow_factory: UnitOfWorkFactory) -> None:
    conversation = Conversation(
        platform="telegram",
        user_id="42",
        state="invite.contact",
        data={
            "method": "sms",
            "name": "Maria Ruiz",
            "tries": 2,
            "seen": [1, "two", None],
            "nested": {"ok": True},
        },
        updated_at=at(1),
    )
    async with uow_factory() as uow:
        assert await uow.conversations.get(platform="telegram", user_id="42") is None
        await uow.conversations.save(conversation)
        await uow.conversations.save(Conversation(platform="slack", user_id="42"))
        await uow.commit()
    async with uow_factory() as uow:
        got = await uow.conversations.get(platform="telegram", user_id="42")
        assert got == conversation
        assert got is not None
        got.reset()
        got.updated_at = at(2)
        await uow.conversations.save(got)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.conversations.get(platform="telegram", user_id="42") == got
        assert await uow.conversations.get(platform="slack", user_id="42") == Conversation(
            platform="slack", user_id="42"
        )


# --- phone statuses ------------------------------------------------------------------------


async def test_a_phone_status_is_saved_and_replaced(uow_factory: UnitOfWorkFactory) -> None:
    stopped = PhoneStatus("+12025550199", opted_out=True, updated_at=at(1))
    async with uow_factory() as uow:
        assert await uow.phones.get("+12025550199") is None
        await uow.phones.save(stopped)
        await uow.phones.save(PhoneStatus("+12025550100"))
        await uow.commit()
    async with uow_factory() as uow:
        got = await uow.phones.get("+12025550199")
        assert got == stopped
        assert got is not None and got.opted_out is True and got.wrong_number is False
        assert await uow.phones.get("+12025550100") == PhoneStatus("+12025550100")
        assert await uow.phones.get("+12025550101") is None
        got.opted_out, got.wrong_number, got.updated_at = False, True, at(2)
        await uow.phones.save(got)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.phones.get("+12025550199") == got
        assert await uow.phones.get("+12025550100") == PhoneStatus("+12025550100")


async def test_a_phone_status_saved_twice_in_one_unit_of_work_keeps_the_last(
    uow_factory: UnitOfWorkFactory,
) -> None:
    async with uow_factory() as uow:
        await uow.phones.save(PhoneStatus("+12025550199", opted_out=True, updated_at=at(1)))
        await uow.phones.save(PhoneStatus("+12025550199", opted_out=False, updated_at=at(2)))
        assert await uow.phones.get("+12025550199") == PhoneStatus(
            "+12025550199", opted_out=False, updated_at=at(2)
        )
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.phones.get("+12025550199") == PhoneStatus(
            "+12025550199", opted_out=False, updated_at=at(2)
        )


# --- inbound receipts ----------------------------------------------------------------------


async def test_old_receipts_are_forgotten_but_kept_sources_stay(
    uow_factory: UnitOfWorkFactory,
) -> None:
    old = [InboundReceipt(source, f"old-{source}", received_at=at(1)) for source in ("a", "b")]
    kept = InboundReceipt("web-page", "old-answer", received_at=at(1))
    new = InboundReceipt("a", "new", received_at=at(10))
    async with uow_factory() as uow:
        for receipt in [*old, kept, new]:
            assert await uow.receipts.first_time(receipt)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.receipts.purge(before=at(5), keep_sources=("web-page",)) == 2
        await uow.commit()
    async with uow_factory() as uow:
        # Forgotten: the same delivery now counts as new; the kept and the recent ones do not.
        assert [await uow.receipts.first_time(r) for r in old] == [True, True]
        assert await uow.receipts.first_time(kept) is False
        assert await uow.receipts.first_time(new) is False
        assert await uow.receipts.purge(before=at(5)) == 3  # no source kept: the old ones


async def test_a_receipt_is_new_only_the_first_time(uow_factory: UnitOfWorkFactory) -> None:
    receipt = InboundReceipt("twilio", "SM0123456789abcdef", received_at=at(1))
    async with uow_factory() as uow:
        assert await uow.receipts.first_time(receipt) is True
        assert await uow.receipts.first_time(receipt) is False  # in the same unit of work
        # The key is (source, external id); the time of a retry does not matter.
        retry = InboundReceipt("twilio", receipt.external_id, received_at=at(2))
        assert await uow.receipts.first_time(retry) is False
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.receipts.first_time(receipt) is False
        # The same id from another source is another delivery.
        other_source = dataclasses.replace(receipt, source="telegram")
        assert await uow.receipts.first_time(other_source) is True
        # Ids are compared exactly, case included (Slack and Twilio ids are case-sensitive).
        other_case = dataclasses.replace(receipt, external_id="SM0123456789ABCDEF")
        assert await uow.receipts.first_time(other_case) is True
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.receipts.first_time(other_source) is False
        assert await uow.receipts.first_time(other_case) is False


async def test_a_rolled_back_receipt_is_forgotten(uow_factory: UnitOfWorkFactory) -> None:
    receipt = InboundReceipt("slack", "Ev01ABC", received_at=at(1))
    async with uow_factory() as uow:
        assert await uow.receipts.first_time(receipt) is True
        await uow.rollback()  # handling the delivery failed
        assert await uow.receipts.first_time(receipt) is True
        # Leaving without commit forgets it too.
    async with uow_factory() as uow:
        assert await uow.receipts.first_time(receipt) is True
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.receipts.first_time(receipt) is False


# --- the unit of work ----------------------------------------------------------------------


async def test_leaving_without_commit_discards_the_changes(
    uow_factory: UnitOfWorkFactory,
) -> None:
    community = Community(name="Oak Ridge HOA")
    async with uow_factory() as uow:
        await uow.communities.add(community)
        assert await uow.communities.get(community.id) == community  # seen inside
    async with uow_factory() as uow:
        assert await uow.communities.get(community.id) is None


async def test_an_exception_discards_the_changes(uow_factory: UnitOfWorkFactory) -> None:
    community = Community(name="Oak Ridge HOA")
    try:
        async with uow_factory() as uow:
            await uow.communities.add(community)
            raise LookupError("a use case failed")
    except LookupError:
        pass
    async with uow_factory() as uow:
        assert await uow.communities.list() == []


async def test_rollback_discards_and_the_unit_of_work_goes_on(
    uow_factory: UnitOfWorkFactory,
) -> None:
    dropped, kept = Community(name="Dropped"), Community(name="Kept")
    async with uow_factory() as uow:
        await uow.communities.add(dropped)
        await uow.rollback()
        assert await uow.communities.get(dropped.id) is None
        await uow.communities.add(kept)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.communities.list() == [kept]


async def test_commit_keeps_what_came_before_a_later_rollback(
    uow_factory: UnitOfWorkFactory,
) -> None:
    first, second = Community(name="First"), Community(name="Second")
    async with uow_factory() as uow:
        await uow.communities.add(first)
        await uow.commit()
        await uow.communities.add(second)
        await uow.rollback()
    async with uow_factory() as uow:
        assert await uow.communities.list() == [first]


async def test_entities_are_copies_not_live_rows(uow_factory: UnitOfWorkFactory) -> None:
    s = await seeded(uow_factory)
    added = invitation(s)
    async with uow_factory() as uow:
        await uow.invitations.add(added)
        added.invitee_name = "Changed after add"
        got = await uow.invitations.get(added.id)
        assert got is not None and got.invitee_name == "Maria Ruiz"
        got.status = InvitationStatus.CANCELLED  # never passed to update
        assert (await uow.invitations.list_for_household(s.household.id))[0].status is (
            InvitationStatus.PENDING
        )
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.invitations.get(added.id)
        assert stored is not None
        assert stored.invitee_name == "Maria Ruiz"
        assert stored.status is InvitationStatus.PENDING


async def test_conversation_data_is_a_copy(uow_factory: UnitOfWorkFactory) -> None:
    conversation = Conversation(platform="console", user_id="ana", data={"steps": ["a"]})
    async with uow_factory() as uow:
        await uow.conversations.save(conversation)
        conversation.data["steps"].append("b")  # type: ignore[attr-defined]
        got = await uow.conversations.get(platform="console", user_id="ana")
        assert got is not None and got.data == {"steps": ["a"]}
        got.data["steps"].append("c")  # type: ignore[attr-defined]
        await uow.commit()
    async with uow_factory() as uow:
        got = await uow.conversations.get(platform="console", user_id="ana")
        assert got is not None and got.data == {"steps": ["a"]}


# --- throttles -----------------------------------------------------------------------------


async def test_a_throttle_counts_in_fixed_windows(uow_factory: UnitOfWorkFactory) -> None:
    window = timedelta(minutes=15)
    async with uow_factory() as uow:
        first = await uow.throttles.hit("code:account:telegram:1", now=at(0), window=window)
        assert first == ThrottleCount("code:account:telegram:1", 1, at(0))
        assert (await uow.throttles.hit("code:account:telegram:1", now=at(1), window=window)) == (
            ThrottleCount("code:account:telegram:1", 2, at(0))
        )
        other = await uow.throttles.hit("code:account:telegram:2", now=at(2), window=window)
        assert other.count == 1  # keys count apart
        await uow.commit()
    async with uow_factory() as uow:
        # A later unit of work adds to what was committed; the window keeps its start.
        third = await uow.throttles.hit("code:account:telegram:1", now=at(14), window=window)
        assert third == ThrottleCount("code:account:telegram:1", 3, at(0))
        assert third.retry_after(now=at(14), window=window) == timedelta(minutes=1)
        # A negative weight gives back.
        back = await uow.throttles.hit(
            "code:account:telegram:1", now=at(14), window=window, weight=-1
        )
        assert back.count == 2
        # Once the window is over, counting starts again in a new one.
        fresh = await uow.throttles.hit("code:account:telegram:1", now=at(15), window=window)
        assert fresh == ThrottleCount("code:account:telegram:1", 1, at(15))
        await uow.commit()


async def test_a_throttle_count_rolls_back_with_its_unit_of_work(
    uow_factory: UnitOfWorkFactory,
) -> None:
    window = timedelta(hours=1)
    async with uow_factory() as uow:
        await uow.throttles.hit("sms-reply:+12025550199", now=at(0), window=window)
        await uow.commit()
    async with uow_factory() as uow:
        await uow.throttles.hit("sms-reply:+12025550199", now=at(1), window=window, weight=5)
        await uow.rollback()
    async with uow_factory() as uow:
        counted = await uow.throttles.hit("sms-reply:+12025550199", now=at(2), window=window)
        assert counted.count == 2


async def test_forgetting_and_purging_throttles(uow_factory: UnitOfWorkFactory) -> None:
    window = timedelta(minutes=15)
    async with uow_factory() as uow:
        for key, minute in [("a", 0), ("b", 0), ("c", 10), ("d", 20)]:
            await uow.throttles.hit(key, now=at(minute), window=window)
        await uow.throttles.forget("b")
        await uow.throttles.forget("never-counted")  # nothing to forget: no error
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.throttles.hit("b", now=at(1), window=window) == ThrottleCount(
            "b", 1, at(1)
        )
        # Purged: counters whose window started before the time given ("b" restarted at 1).
        assert await uow.throttles.purge(before=at(5)) == 2
        await uow.commit()
    async with uow_factory() as uow:
        assert (await uow.throttles.hit("a", now=at(21), window=window)).count == 1
        assert (await uow.throttles.hit("c", now=at(21), window=window)).count == 2
        assert (await uow.throttles.hit("d", now=at(21), window=window)).count == 2
        long_key = "code:account:slack:" + "U" * 300  # platform ids can be long
        assert (await uow.throttles.hit(long_key, now=at(21), window=window)).count == 1
        await uow.commit()


async def test_count_invitations_sent_for_counts_every_message_to_an_invitee(
    uow_factory: UnitOfWorkFactory,
) -> None:
    async with uow_factory() as uow:
        s = await seed(uow)
        other = await seed(uow, address="14 Oak Lane")
        mine = invitation(s)
        theirs = invitation(other, contact="+12025550100")
        for invite in (mine, theirs):
            await uow.invitations.add(invite)
        for minute in (0, 30, 50):  # a send and two resends
            await uow.outbox.add(message(invitation_id=mine.id, created_at=at(minute)))
        await uow.outbox.add(
            message(invitation_id=mine.id, channel=Channel.EMAIL, created_at=at(55))
        )
        # A chat note to the head about the invitation is no invitation message.
        await uow.outbox.add(
            message(
                invitation_id=mine.id, channel=Channel.CHAT, platform="console", created_at=at(56)
            )
        )
        await uow.outbox.add(message(invitation_id=theirs.id, created_at=at(57)))
        await uow.outbox.add(message(created_at=at(58)))  # no invitation at all
        await uow.commit()
    async with uow_factory() as uow:
        count = uow.outbox.count_invitations_sent_for
        assert await count(household_id=s.household.id, since=T0) == 4
        assert await count(household_id=s.household.id, since=at(30)) == 3
        assert await count(household_id=s.household.id, since=at(60)) == 0
        assert await count(household_id=other.household.id, since=T0) == 1
        assert await count(household_id="0" * 32, since=T0) == 0


async def test_lock_new_adds_a_conversation_only_when_there_is_none(
    uow_factory: UnitOfWorkFactory,
) -> None:
    async with uow_factory() as uow:
        fresh = Conversation(platform="telegram", user_id="42", updated_at=at(1))
        assert await uow.conversations.lock_new(fresh) == fresh
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.conversations.get(platform="telegram", user_id="42")
        assert stored == fresh
        stored.state, stored.data = "join.code", {"n": 1}
        await uow.conversations.save(stored)
        await uow.commit()
    async with uow_factory() as uow:
        # Another process's idle default does not replace what was stored meanwhile.
        again = await uow.conversations.lock_new(Conversation(platform="telegram", user_id="42"))
        assert again == stored
        await uow.rollback()
    async with uow_factory() as uow:
        await uow.conversations.lock_new(Conversation(platform="slack", user_id="U1"))
        await uow.rollback()  # a rolled-back step leaves no conversation behind
    async with uow_factory() as uow:
        assert await uow.conversations.get(platform="slack", user_id="U1") is None
