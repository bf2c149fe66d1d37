"""In-memory twins of the core's ports: a unit of work with all-or-nothing commits, a clock
that tests move by hand, and a recording sender."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Self, TypeVar

from bot.domain import (
    Channel,
    ChannelIdentity,
    Community,
    Conversation,
    Household,
    HouseholdEvent,
    InboundReceipt,
    InboundUpdate,
    Invitation,
    InvitationStatus,
    Member,
    OutboxMessage,
    OutboxStatus,
    PhoneStatus,
    Route,
    ThrottleCount,
)
from bot.ports import (
    Clock,
    CommunityRepository,
    ConversationRepository,
    EventListener,
    HouseholdEventRepository,
    HouseholdRepository,
    IdentityRepository,
    IdentityWithOwner,
    InboundReceiptRepository,
    InboundUpdateRepository,
    InvitationRepository,
    InvitationWithHousehold,
    MemberRepository,
    OutboxRepository,
    PhoneStatusRepository,
    ThrottleRepository,
    UnitOfWork,
    UnitOfWorkFactory,
)


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)


@dataclass
class MemoryStore:
    communities: dict[str, Community] = field(default_factory=dict)
    households: dict[str, Household] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)
    identities: dict[str, ChannelIdentity] = field(default_factory=dict)
    invitations: dict[str, Invitation] = field(default_factory=dict)
    outbox: dict[str, OutboxMessage] = field(default_factory=dict)
    conversations: dict[str, Conversation] = field(default_factory=dict)
    phones: dict[str, PhoneStatus] = field(default_factory=dict)
    receipts: dict[tuple[str, str], InboundReceipt] = field(default_factory=dict)
    updates: dict[int, InboundUpdate] = field(default_factory=dict)
    last_update_id: int = 0
    throttles: dict[str, ThrottleCount] = field(default_factory=dict)
    events: list[HouseholdEvent] = field(default_factory=list)
    sequences: dict[str, int] = field(default_factory=dict)


class _Repo:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    @property
    def _s(self) -> MemoryStore:
        assert self._uow.working is not None, "used outside 'async with uow'"
        return self._uow.working


_T = TypeVar("_T")


def _copy(obj: _T) -> _T:
    return copy.deepcopy(obj)


class MemoryCommunities(_Repo):
    async def add(self, community: Community) -> None:
        self._s.communities[community.id] = _copy(community)

    async def update(self, community: Community) -> None:
        self._s.communities[community.id] = _copy(community)

    async def get(self, community_id: str) -> Community | None:
        return _copy(self._s.communities.get(community_id))

    async def get_by_name(self, name: str) -> Community | None:
        for c in self._s.communities.values():
            if c.name.casefold() == name.casefold():
                return _copy(c)
        return None

    async def list(self) -> Sequence[Community]:
        return sorted((_copy(c) for c in self._s.communities.values()), key=lambda c: c.name)


class MemoryHouseholds(_Repo):
    async def add(self, household: Household) -> None:
        self._s.households[household.id] = _copy(household)

    async def update(self, household: Household) -> None:
        self._s.households[household.id] = _copy(household)

    async def get(self, household_id: str, *, for_update: bool = False) -> Household | None:
        return _copy(self._s.households.get(household_id))

    async def get_with_community(
        self, household_id: str
    ) -> tuple[Household, Community | None] | None:
        household = self._s.households.get(household_id)
        if household is None:
            return None
        return _copy(household), _copy(self._s.communities.get(household.community_id))

    async def get_by_code_hash(self, code_hash: str) -> Household | None:
        for h in self._s.households.values():
            if h.access_code_hash == code_hash:
                return _copy(h)
        return None

    async def find_by_address(self, *, community_id: str, address: str) -> Household | None:
        for h in self._s.households.values():
            if h.community_id == community_id and h.address.casefold() == address.casefold():
                return _copy(h)
        return None

    async def list_lapsing_head_requests(
        self, *, made_before: datetime, limit: int
    ) -> Sequence[Household]:
        found = [
            _copy(h)
            for h in self._s.households.values()
            if h.head_request_at is not None and h.head_request_at < made_before
        ]
        return sorted(found, key=lambda h: (h.head_request_at, h.id))[:limit]

    async def list(self, *, community_id: str | None = None) -> Sequence[Household]:
        found = [
            _copy(h)
            for h in self._s.households.values()
            if community_id is None or h.community_id == community_id
        ]
        return sorted(found, key=lambda h: h.address)


class MemoryMembers(_Repo):
    async def add(self, member: Member) -> None:
        self._s.members[member.id] = _copy(member)

    async def update(self, member: Member) -> None:
        self._s.members[member.id] = _copy(member)

    async def get(self, member_id: str, *, for_update: bool = False) -> Member | None:
        return _copy(self._s.members.get(member_id))

    async def list_for_household(self, household_id: str) -> Sequence[Member]:
        found = [
            _copy(m)
            for m in self._s.members.values()
            if m.household_id == household_id and m.left_at is None
        ]
        return sorted(found, key=lambda m: (m.role != "head", m.name, m.id))

    async def find_by_contact(self, *, household_id: str, contact: str) -> Member | None:
        for m in self._s.members.values():
            if (
                m.household_id == household_id
                and m.left_at is None
                and contact in (m.email, m.phone)
            ):
                return _copy(m)
        return None

    async def set_language(self, member_id: str, language: str) -> None:
        member = self._s.members.get(member_id)
        if member is not None:
            member.language = language


class MemoryIdentities(_Repo):
    async def add(self, identity: ChannelIdentity) -> None:
        self._s.identities[identity.id] = _copy(identity)

    async def get(self, *, platform: str, external_id: str) -> ChannelIdentity | None:
        for i in self._s.identities.values():
            if i.platform == platform and i.external_id == external_id:
                return _copy(i)
        return None

    async def get_with_owner(self, *, platform: str, external_id: str) -> IdentityWithOwner | None:
        identity = await self.get(platform=platform, external_id=external_id)
        if identity is None:
            return None
        member = _copy(self._s.members.get(identity.member_id))
        household = _copy(self._s.households.get(member.household_id)) if member else None
        community = self._s.communities.get(household.community_id) if household else None
        return IdentityWithOwner(
            identity, member, household, community.timezone if community else ""
        )

    async def list_for_member(self, member_id: str) -> Sequence[ChannelIdentity]:
        return [_copy(i) for i in self._s.identities.values() if i.member_id == member_id]

    async def unlink_member(self, member_id: str) -> int:
        gone = [k for k, i in self._s.identities.items() if i.member_id == member_id]
        for key in gone:
            del self._s.identities[key]
        return len(gone)


class MemoryInvitations(_Repo):
    async def add(self, invitation: Invitation) -> None:
        self._s.invitations[invitation.id] = _copy(invitation)

    async def update(self, invitation: Invitation) -> None:
        self._s.invitations[invitation.id] = _copy(invitation)

    async def get(self, invitation_id: str, *, for_update: bool = False) -> Invitation | None:
        return _copy(self._s.invitations.get(invitation_id))

    async def list_for_household(self, household_id: str) -> Sequence[Invitation]:
        found = [_copy(i) for i in self._s.invitations.values() if i.household_id == household_id]
        return sorted(found, key=lambda i: i.created_at)

    async def find_pending(self, *, household_id: str, contact: str) -> Invitation | None:
        for i in self._s.invitations.values():
            if (
                i.household_id == household_id
                and i.contact == contact
                and i.status is InvitationStatus.PENDING
            ):
                return _copy(i)
        return None

    async def list_pending_for_contact(
        self, contact: str, *, for_update: bool = False
    ) -> Sequence[Invitation]:
        found = [
            _copy(i)
            for i in self._s.invitations.values()
            if i.contact == contact and i.status is InvitationStatus.PENDING
        ]
        return sorted(found, key=lambda i: i.created_at)

    async def list_pending_with_households(
        self, contact: str, *, for_update: bool = False
    ) -> Sequence[InvitationWithHousehold]:
        found = []
        for invitation in await self.list_pending_for_contact(contact):
            household = self._s.households.get(invitation.household_id)
            if household is not None:
                community = self._s.communities.get(household.community_id)
                found.append(
                    InvitationWithHousehold(invitation, _copy(household), _copy(community))
                )
        return found

    async def count_created_by(self, *, member_id: str, since: datetime) -> int:
        return sum(
            1
            for i in self._s.invitations.values()
            if i.invited_by == member_id and i.created_at >= since
        )

    async def list_expiring(self, *, now: datetime, limit: int) -> Sequence[Invitation]:
        found = [
            _copy(i)
            for i in self._s.invitations.values()
            if i.status is InvitationStatus.PENDING and i.expires_at <= now
        ]
        return sorted(found, key=lambda i: i.expires_at)[:limit]


class MemoryOutbox(_Repo):
    async def add(self, message: OutboxMessage) -> None:
        if message.ordering_key and message.sequence is None:
            # One transaction at a time here: the order of writing is the order of commits.
            last = self._s.sequences.get(message.ordering_key, 0) + 1
            self._s.sequences[message.ordering_key] = message.sequence = last
        self._s.outbox[message.id] = _copy(message)

    async def update(self, message: OutboxMessage) -> None:
        self._s.outbox[message.id] = _copy(message)

    async def get(self, message_id: str) -> OutboxMessage | None:
        return _copy(self._s.outbox.get(message_id))

    async def get_by_provider_id(self, provider_id: str) -> OutboxMessage | None:
        for m in self._s.outbox.values():
            if provider_id and m.provider_id == provider_id:
                return _copy(m)
        return None

    async def claim_due(
        self,
        *,
        now: datetime,
        routes: Sequence[Route],
        limit: int,
        lease_until: datetime,
    ) -> Sequence[OutboxMessage]:
        def routed(m: OutboxMessage) -> bool:
            return any(route.matches(m) for route in routes)

        pending = [m for m in self._s.outbox.values() if m.status is OutboxStatus.PENDING]

        def first_of_its_key(m: OutboxMessage) -> bool:
            return not m.ordering_key or not any(
                o.ordering_key == m.ordering_key and (o.sequence or 0) < (m.sequence or 0)
                for o in pending
            )

        due = sorted(
            (m for m in pending if m.next_attempt_at <= now and routed(m) and first_of_its_key(m)),
            key=lambda m: (m.next_attempt_at, m.created_at),
        )[:limit]
        for m in due:
            m.next_attempt_at = lease_until
        return [_copy(m) for m in due]

    async def count_to_destination(self, *, destination: str, since: datetime) -> int:
        return sum(
            1
            for m in self._s.outbox.values()
            if m.destination == destination and m.created_at >= since
        )

    async def count_invitations_sent_for(self, *, household_id: str, since: datetime) -> int:
        invitations = self._s.invitations
        return sum(
            1
            for m in self._s.outbox.values()
            if m.channel is not Channel.CHAT
            and m.created_at >= since
            and m.invitation_id in invitations
            and invitations[m.invitation_id].household_id == household_id
        )

    async def list_for_invitation(self, invitation_id: str) -> Sequence[OutboxMessage]:
        found = [_copy(m) for m in self._s.outbox.values() if m.invitation_id == invitation_id]
        return sorted(found, key=lambda m: m.created_at)

    async def list_for_ordering_key(self, key: str, *, since: datetime) -> Sequence[OutboxMessage]:
        found = [
            _copy(m)
            for m in self._s.outbox.values()
            if m.ordering_key == key and m.created_at >= since
        ]
        return sorted(found, key=lambda m: (m.sequence or 0, m.id))


class MemoryPhones(_Repo):
    async def get(self, phone: str) -> PhoneStatus | None:
        return _copy(self._s.phones.get(phone))

    async def save(self, status: PhoneStatus) -> None:
        self._s.phones[status.phone] = _copy(status)


class MemoryReceipts(_Repo):
    async def first_time(self, receipt: InboundReceipt) -> bool:
        key = (receipt.source, receipt.external_id)
        if key in self._s.receipts:
            return False
        self._s.receipts[key] = _copy(receipt)
        return True

    async def purge(self, *, before: datetime, keep_sources: Sequence[str] = ()) -> int:
        old = [
            key
            for key, receipt in self._s.receipts.items()
            if receipt.received_at < before and receipt.source not in keep_sources
        ]
        for key in old:
            del self._s.receipts[key]
        return len(old)


class MemoryUpdates(_Repo):
    async def add(self, update: InboundUpdate) -> int:
        self._s.last_update_id += 1
        update.id = self._s.last_update_id
        self._s.updates[update.id] = _copy(update)
        return update.id

    async def get(self, update_id: int, *, for_update: bool = False) -> InboundUpdate | None:
        # Nothing to lock in memory: one step at a time.
        return _copy(self._s.updates.get(update_id))

    async def lock_step(
        self, update_id: int, *, platform: str, user_id: str
    ) -> tuple[InboundUpdate | None, Conversation | None]:
        found = self._s.updates.get(update_id)
        if found is None:
            return None, None
        return _copy(found), _copy(self._s.conversations.get(f"{platform}:{user_id}"))

    async def earlier_unhandled(self, *, source: str, sender: str, before: int) -> bool:
        return any(
            u.source == source and u.sender == sender and u.replies is None
            for i, u in self._s.updates.items()
            if i < before
        )

    async def save(self, update: InboundUpdate) -> None:
        assert update.id is not None and update.id in self._s.updates
        self._s.updates[update.id] = _copy(update)

    async def take_in(self, update: InboundUpdate) -> bool:
        key = (update.source, update.external_id)
        if key in self._s.receipts:
            return False
        self._s.receipts[key] = InboundReceipt(
            update.source, update.external_id, update.received_at
        )
        await self.add(update)
        return True

    async def finish(self, ids: Sequence[int], *, owner: str) -> int:
        done = 0
        for update_id in ids:
            found = self._s.updates.get(update_id)
            if found is not None and found.owner == owner:
                del self._s.updates[update_id]
                done += 1
        return done

    async def claim(
        self,
        *,
        source: str,
        now: datetime,
        owner: str,
        lease_until: datetime,
        limit: int,
        sender: str | None = None,
        before: int | None = None,
    ) -> Sequence[InboundUpdate]:
        taken: list[InboundUpdate] = []
        for update_id in sorted(self._s.updates):
            update = self._s.updates[update_id]
            if len(taken) >= max(limit, 0):
                break
            if update.source != source or update.lease_until > now:
                continue
            if sender is not None and update.sender != sender:
                continue
            if before is not None and update_id >= before:
                continue
            update.owner, update.lease_until = owner, lease_until
            update.attempts += 1
            taken.append(_copy(update))
        return taken

    async def purge(self, *, before: datetime) -> int:
        old = [i for i, u in self._s.updates.items() if u.received_at < before]
        for update_id in old:
            del self._s.updates[update_id]
        return len(old)

    async def extend(
        self,
        ids: Sequence[int],
        *,
        owner: str,
        lease_until: datetime,
        skip_locked: bool = False,  # nothing is held in memory: one step at a time
    ) -> int:
        moved = 0
        for update_id in ids:
            update = self._s.updates.get(update_id)
            if update is not None and update.owner == owner:
                update.lease_until = lease_until
                moved += 1
        return moved


class MemoryThrottles(_Repo):
    async def hit(
        self, key: str, *, now: datetime, window: timedelta, weight: int = 1
    ) -> ThrottleCount:
        # Nothing to lock in memory: one step at a time (the SQL twin's upsert locks the row).
        found = self._s.throttles.get(key)
        if found is None or found.window_started_at <= now - window:
            found = ThrottleCount(key=key, count=weight, window_started_at=now)
        else:
            found = ThrottleCount(key, found.count + weight, found.window_started_at)
        self._s.throttles[key] = found
        return _copy(found)

    async def forget(self, key: str) -> None:
        self._s.throttles.pop(key, None)

    async def purge(self, *, before: datetime) -> int:
        old = [k for k, t in self._s.throttles.items() if t.window_started_at < before]
        for key in old:
            del self._s.throttles[key]
        return len(old)


class MemoryEvents(_Repo):
    async def append(self, event: HouseholdEvent) -> None:
        self._s.events.append(_copy(event))
        if self._uow.on_event is not None:
            await self._uow.on_event(self._uow, event)

    async def list_for_household(
        self, household_id: str, *, limit: int = 20
    ) -> Sequence[HouseholdEvent]:
        found = [_copy(e) for e in self._s.events if e.household_id == household_id]
        return sorted(found, key=lambda e: (e.at, e.id), reverse=True)[: max(limit, 0)]


class MemoryConversations(_Repo):
    async def get(
        self, *, platform: str, user_id: str, for_update: bool = False
    ) -> Conversation | None:
        # Nothing to lock in memory: the tests drive a store one step at a time.
        return _copy(self._s.conversations.get(f"{platform}:{user_id}"))

    async def save(self, conversation: Conversation) -> None:
        self._s.conversations[conversation.key] = _copy(conversation)

    async def lock_new(self, conversation: Conversation) -> Conversation:
        return _copy(self._s.conversations.setdefault(conversation.key, _copy(conversation)))


class MemoryUnitOfWork:
    """A transaction over a :class:`MemoryStore`: changes land only on ``commit``."""

    def __init__(self, store: MemoryStore, *, on_event: EventListener | None = None) -> None:
        self.store = store
        self.on_event = on_event
        self.working: MemoryStore | None = None
        # Typed as the ports, so that mypy holds each fake repository to its port.
        self.communities: CommunityRepository = MemoryCommunities(self)
        self.households: HouseholdRepository = MemoryHouseholds(self)
        self.members: MemberRepository = MemoryMembers(self)
        self.identities: IdentityRepository = MemoryIdentities(self)
        self.invitations: InvitationRepository = MemoryInvitations(self)
        self.outbox: OutboxRepository = MemoryOutbox(self)
        self.conversations: ConversationRepository = MemoryConversations(self)
        self.phones: PhoneStatusRepository = MemoryPhones(self)
        self.receipts: InboundReceiptRepository = MemoryReceipts(self)
        self.updates: InboundUpdateRepository = MemoryUpdates(self)
        self.throttles: ThrottleRepository = MemoryThrottles(self)
        self.events: HouseholdEventRepository = MemoryEvents(self)

    async def __aenter__(self) -> Self:
        self.working = copy.deepcopy(self.store)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.working = None

    async def commit(self) -> None:
        assert self.working is not None
        for name in self.store.__dataclass_fields__:
            setattr(self.store, name, copy.deepcopy(getattr(self.working, name)))

    async def rollback(self) -> None:
        self.working = copy.deepcopy(self.store)


class MemoryUnitOfWorkFactory:
    def __init__(self, *, on_event: EventListener | None = None) -> None:
        self.store = MemoryStore()
        self.on_event = on_event

    def __call__(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.store, on_event=self.on_event)


if TYPE_CHECKING:
    # mypy checks that each fake implements its port (the repositories above, in
    # MemoryUnitOfWork.__init__): a fake that drifts from bot/ports.py fails tests/test_types.py.
    _clock: Clock = FakeClock()
    _uow: UnitOfWork = MemoryUnitOfWork(MemoryStore())
    _uow_factory: UnitOfWorkFactory = MemoryUnitOfWorkFactory()
