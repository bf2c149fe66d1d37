"""The interfaces the core needs from the outside world.

Storage implements the repositories and the unit of work (``storage/``); tests use the
in-memory twins in ``tests/fakes.py``. Every call is keyword-only past the first argument so
that call sites read as sentences.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol, Self

from .domain import (
    ChannelIdentity,
    Community,
    Conversation,
    Household,
    HouseholdEvent,
    InboundReceipt,
    InboundUpdate,
    Invitation,
    Member,
    OutboxMessage,
    PhoneStatus,
    Route,
    ThrottleCount,
)


class InvitationWithHousehold(NamedTuple):
    """An invitation with the household it invites to, and that household's community."""

    invitation: Invitation
    household: Household
    community: Community | None


class IdentityWithOwner(NamedTuple):
    """A chat account with the member it belongs to and that member's household (``None``
    where the row is missing)."""

    identity: ChannelIdentity
    member: Member | None
    household: Household | None
    timezone: str = ""
    """The time zone of the household's community (``Community.timezone``): "" for the
    server's default, or when there is no household."""


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class CommunityRepository(Protocol):
    async def add(self, community: Community) -> None: ...
    async def update(self, community: Community) -> None: ...
    async def get(self, community_id: str) -> Community | None: ...
    async def get_by_name(self, name: str) -> Community | None: ...
    async def list(self) -> Sequence[Community]: ...


class HouseholdRepository(Protocol):
    async def add(self, household: Household) -> None: ...
    async def update(self, household: Household) -> None: ...
    async def get(self, household_id: str, *, for_update: bool = False) -> Household | None:
        """``for_update`` locks the row until the unit of work ends (where the database can):
        a household's claim and its invitations are decided one at a time."""
        ...

    async def get_with_community(
        self, household_id: str
    ) -> tuple[Household, Community | None] | None:
        """The household and its community, read together."""
        ...

    async def get_by_code_hash(self, code_hash: str) -> Household | None: ...
    async def find_by_address(self, *, community_id: str, address: str) -> Household | None:
        """Case-insensitive match on the address within one community."""
        ...

    async def list(self, *, community_id: str | None = None) -> Sequence[Household]: ...
    async def list_lapsing_head_requests(
        self, *, made_before: datetime, limit: int
    ) -> Sequence[Household]:
        """Households with a head request made before ``made_before``, locked for update
        (rows another transaction holds are skipped)."""
        ...


class MemberRepository(Protocol):
    async def add(self, member: Member) -> None: ...
    async def update(self, member: Member) -> None: ...
    async def get(self, member_id: str, *, for_update: bool = False) -> Member | None:
        """Any member, also one who has left (their name is still shown in places)."""
        ...

    async def list_for_household(self, household_id: str) -> Sequence[Member]:
        """The current members, head first."""
        ...

    async def find_by_contact(self, *, household_id: str, contact: str) -> Member | None:
        """A current member of the household whose email or phone equals ``contact``."""
        ...

    async def set_language(self, member_id: str, language: str) -> None:
        """The language the member reads, and nothing else of the row: a change another
        transaction makes to the member meanwhile is kept."""
        ...


class IdentityRepository(Protocol):
    async def add(self, identity: ChannelIdentity) -> None: ...
    async def get(self, *, platform: str, external_id: str) -> ChannelIdentity | None: ...
    async def get_with_owner(self, *, platform: str, external_id: str) -> IdentityWithOwner | None:
        """:meth:`get`, with the member and household it leads to, in one read."""
        ...

    async def list_for_member(self, member_id: str) -> Sequence[ChannelIdentity]: ...
    async def unlink_member(self, member_id: str) -> int:
        """Delete the member's chat accounts (they no longer act for the household)."""
        ...


class InvitationRepository(Protocol):
    async def add(self, invitation: Invitation) -> None: ...
    async def update(self, invitation: Invitation) -> None: ...
    async def get(self, invitation_id: str, *, for_update: bool = False) -> Invitation | None:
        """``for_update`` locks the row until the unit of work ends (where the database can)."""
        ...

    async def list_for_household(self, household_id: str) -> Sequence[Invitation]: ...
    async def find_pending(self, *, household_id: str, contact: str) -> Invitation | None: ...
    async def list_pending_for_contact(
        self, contact: str, *, for_update: bool = False
    ) -> Sequence[Invitation]:
        """Pending invitations to this contact in every household, oldest first;
        ``for_update`` locks them until the unit of work ends (where the database can), and
        leaves out one that a transaction which held its lock meanwhile closed."""
        ...

    async def list_pending_with_households(
        self, contact: str, *, for_update: bool = False
    ) -> Sequence[InvitationWithHousehold]:
        """:meth:`list_pending_for_contact`, each with its household and community, read
        together; ``for_update`` locks the invitations (not their households)."""
        ...

    async def count_created_by(self, *, member_id: str, since: datetime) -> int: ...
    async def list_expiring(self, *, now: datetime, limit: int) -> Sequence[Invitation]:
        """Pending invitations whose time ran out at or before ``now``, locked until the unit
        of work ends (rows another transaction holds are skipped)."""
        ...


class OutboxRepository(Protocol):
    async def add(self, message: OutboxMessage) -> None: ...
    async def update(self, message: OutboxMessage) -> None: ...
    async def get(self, message_id: str) -> OutboxMessage | None: ...
    async def get_by_provider_id(self, provider_id: str) -> OutboxMessage | None: ...
    async def claim_due(
        self,
        *,
        now: datetime,
        routes: Sequence[Route],
        limit: int,
        lease_until: datetime,
    ) -> Sequence[OutboxMessage]:
        """Pending messages due at ``now`` on the given routes, leased until ``lease_until``.

        A message is on a route when ``route.matches(message)``. Leasing moves
        ``next_attempt_at`` forward so that another dispatcher does not take the same row
        while this one is sending it.
        """
        ...

    async def count_to_destination(self, *, destination: str, since: datetime) -> int: ...
    async def count_invitations_sent_for(self, *, household_id: str, since: datetime) -> int:
        """Invitation messages (the SMS or email to an invitee, first sends and resends alike)
        queued since ``since`` for the household's invitations, whoever made them: the head's
        quota (a head who took over resends the old head's invitations on the same count)."""
        ...

    async def list_for_invitation(self, invitation_id: str) -> Sequence[OutboxMessage]: ...
    async def list_for_ordering_key(self, key: str, *, since: datetime) -> Sequence[OutboxMessage]:
        """The messages of one ordering key created since ``since``, in their order."""
        ...


class PhoneStatusRepository(Protocol):
    async def get(self, phone: str) -> PhoneStatus | None: ...
    async def save(self, status: PhoneStatus) -> None: ...


class InboundReceiptRepository(Protocol):
    async def first_time(self, receipt: InboundReceipt) -> bool:
        """Record a delivery; ``False`` when the same (source, external_id) was recorded
        before. The record is part of the unit of work: a rollback forgets it, so a delivery
        whose handling failed is handled again when the provider retries."""
        ...

    async def purge(self, *, before: datetime, keep_sources: Sequence[str] = ()) -> int:
        """Forget receipts received before ``before``, except those of ``keep_sources``;
        returns how many."""
        ...


class InboundUpdateRepository(Protocol):
    """The chat updates taken in and not yet done with (:mod:`bot.intake`)."""

    async def add(self, update: InboundUpdate) -> int:
        """Store ``update`` and return its id: ids grow in the order updates are added."""
        ...

    async def take_in(self, update: InboundUpdate) -> bool:
        """Store ``update`` with its receipt (source, external id, time received), setting
        its id, unless that receipt is stored already (a delivery taken in before):
        ``False`` then, and nothing stored. The unit of work's first and only call: commit
        right after it (on some databases it has committed already)."""
        ...

    async def get(self, update_id: int, *, for_update: bool = False) -> InboundUpdate | None:
        """The update, or ``None`` once it is done with. ``for_update`` holds its row until
        the unit of work ends, so that two processes never take the same step of it."""
        ...

    async def lock_step(
        self, update_id: int, *, platform: str, user_id: str
    ) -> tuple[InboundUpdate | None, Conversation | None]:
        """``get(update_id, for_update=True)`` and, when the update is found, the person's
        conversation (``conversations.get(platform=, user_id=, for_update=True)``), both
        held until the unit of work ends, the update first: what a step locks first, in one
        round trip where the database allows."""
        ...

    async def earlier_unhandled(self, *, source: str, sender: str, before: int) -> bool:
        """Whether an update of ``sender`` older than ``before`` is still to be handled (has
        no replies yet)."""
        ...

    async def save(self, update: InboundUpdate) -> None:
        """Store a handled update's replies, lease and attempts."""
        ...

    async def finish(self, ids: Sequence[int], *, owner: str) -> int:
        """Forget the updates (done with) that ``owner`` still holds among ``ids``; returns
        how many. The unit of work's first and only call: commit right after it (on some
        databases it has committed already)."""
        ...

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
        """Take over, oldest first, up to ``limit`` updates of ``source`` whose lease ended by
        ``now`` (their process died, or gave them up): they become ``owner``'s until
        ``lease_until``, each with one attempt more. ``sender`` and ``before`` narrow it to one
        sender's updates older than ``before``. Updates another transaction holds are
        skipped, not waited for."""
        ...

    async def extend(
        self,
        ids: Sequence[int],
        *,
        owner: str,
        lease_until: datetime,
        skip_locked: bool = False,
    ) -> int:
        """Move the lease of the updates ``owner`` still holds among ``ids`` to
        ``lease_until``; returns how many. ``skip_locked``: leave out, instead of waiting
        for, the updates whose step is being taken right now (their row is held, so nobody
        can take them over meanwhile; the next renewal moves their lease)."""
        ...

    async def purge(self, *, before: datetime) -> int:
        """Forget the updates received before ``before`` (of a platform no process takes in
        any more); returns how many."""
        ...


class ThrottleRepository(Protocol):
    """Counters in fixed windows, shared by every process (see :class:`ThrottleCount`)."""

    async def hit(
        self, key: str, *, now: datetime, window: timedelta, weight: int = 1
    ) -> ThrottleCount:
        """Add ``weight`` to ``key``'s count and return the count it now has, in one atomic
        step. A window that ended by ``now`` is over: the count starts again from ``weight``
        in a window starting ``now``. The counter stays locked until the unit of work ends
        (where the database can), so two processes counting at once are counted one after
        the other and cannot both slip under a limit. A negative ``weight`` gives back."""
        ...

    async def forget(self, key: str) -> None:
        """Drop ``key``'s counter (a success wipes the slate)."""
        ...

    async def purge(self, *, before: datetime) -> int:
        """Drop counters whose window started before ``before``; returns how many."""
        ...


class HouseholdEventRepository(Protocol):
    """The households' event log: append-only, read newest first."""

    async def append(self, event: HouseholdEvent) -> None:
        """Add ``event`` to the log, with the unit of work's other changes (a rollback
        forgets it with them)."""
        ...

    async def list_for_household(
        self, household_id: str, *, limit: int = 20
    ) -> Sequence[HouseholdEvent]:
        """The household's latest ``limit`` events, newest first; events at the same time
        in the order they were made (by id, newest first: ids are time-ordered)."""
        ...


class EventListener(Protocol):
    async def __call__(self, uow: UnitOfWork, event: HouseholdEvent) -> None:
        """Called by ``uow.events.append`` for each event, in the event's unit of work: what
        it writes commits or rolls back with the event (the webhooks of
        :mod:`bot.webhooks`)."""
        ...


class ConversationRepository(Protocol):
    async def get(
        self, *, platform: str, user_id: str, for_update: bool = False
    ) -> Conversation | None:
        """``for_update``: hold the conversation until the unit of work ends, so no other
        step of it runs meanwhile."""
        ...

    async def save(self, conversation: Conversation) -> None: ...
    async def lock_new(self, conversation: Conversation) -> Conversation:
        """Add ``conversation`` unless one is stored under its key by now, and return the
        stored one, held until the unit of work ends like ``get(for_update=True)``. A read
        cannot lock a row that does not exist yet, so without this a new person's first two
        messages, taken by two processes at once, would run side by side, taking the rows
        after it (a throttle's counter) in any order."""
        ...


class UnitOfWork(Protocol):
    """One transaction. ``async with uow:`` opens it; leaving without ``commit`` rolls back."""

    communities: CommunityRepository
    households: HouseholdRepository
    members: MemberRepository
    identities: IdentityRepository
    invitations: InvitationRepository
    outbox: OutboxRepository
    conversations: ConversationRepository
    phones: PhoneStatusRepository
    receipts: InboundReceiptRepository
    updates: InboundUpdateRepository
    throttles: ThrottleRepository
    events: HouseholdEventRepository

    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc_info: object) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...
