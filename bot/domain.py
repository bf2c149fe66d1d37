"""The household-invitation domain: entities and the rules about them.

Only the standard library lives here. Entities are plain dataclasses; the storage layer maps
them to tables field by field (same names), so a field added here is a column added there.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from .messages import BTN_EMAIL, BTN_SMS, Sentence

_id_lock = threading.Lock()
_last_id_stamp = 0  # the time in the last id, in 1/4096 ms


def new_id() -> str:
    """A fresh identifier (32 hex characters): a UUIDv7 (RFC 9562).

    48 bits of Unix milliseconds and 12 bits of finer time lead, 62 random bits follow. Ids
    made one after another in a process sort in the order they were made (the time part
    steps forward even when the clock does not), so storage can break ties between equal
    timestamps by id, the way a list keeps insertion order.
    """
    global _last_id_stamp
    with _id_lock:
        _last_id_stamp = max(time.time_ns() * 4096 // 1_000_000, _last_id_stamp + 1)
        milliseconds, fraction = divmod(_last_id_stamp, 4096)
    value = (
        (milliseconds & ((1 << 48) - 1)) << 80
        | 0x7 << 76  # version 7
        | fraction << 64
        | 0b10 << 62  # the RFC 4122 variant
        | secrets.randbits(62)
    )
    return f"{value:032x}"


class Role(StrEnum):
    HEAD = "head"
    MEMBER = "member"


class Method(StrEnum):
    EMAIL = "email"
    SMS = "sms"

    @property
    def label(self) -> Sentence:
        """The button's words, which sentences about the method repeat."""
        return BTN_EMAIL if self is Method.EMAIL else BTN_SMS


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Channel(StrEnum):
    """Where an outbox message goes: to an invitee by SMS or email, to a chat user, or to
    the HOA's other systems (a signed webhook, see :mod:`bot.webhooks`)."""

    SMS = "sms"
    EMAIL = "email"
    CHAT = "chat"
    WEBHOOK = "webhook"
    GROUP = "group"
    """A change to who is in a community's residents' group (see :mod:`bot.group_access`)."""


@dataclass
class Community:
    name: str
    contact: str = ""
    id: str = field(default_factory=new_id)
    created_at: datetime | None = None
    telegram_group: str = ""
    """The residents' Telegram group (its numeric chat id), which admits the members of the
    community's active households and no one else; "" for none."""
    slack_channel: str = ""
    """The residents' Slack channel (its id), the same for Slack; "" for none."""
    timezone: str = ""
    """The IANA name of the community's time zone (``America/New_York``), in which its people
    read every time; "" for the server's default (``INVITEBOT_DEFAULT_TIMEZONE``)."""


class HouseholdStatus(StrEnum):
    """A household as the board's roster shows it."""

    ACTIVE = "active"
    """Claimed by its head."""
    NOT_ACTIVATED = "not activated"
    """Its access code has not been used yet."""
    INACTIVE = "inactive"
    """Deactivated by the board."""


@dataclass
class Household:
    community_id: str
    address: str
    access_code_hash: str
    head_name: str = ""
    head_contact: str = ""
    head_member_id: str | None = None
    claimed_at: datetime | None = None
    id: str = field(default_factory=new_id)
    created_at: datetime | None = None
    head_request_member_id: str | None = None
    """The member the head asked to take over the head role, until they answer, the head
    cancels, either leaves, or the request lapses (``HEAD_REQUEST_TTL`` after it was made)."""
    head_request_at: datetime | None = None
    deactivated_at: datetime | None = None
    """When the board deactivated the household (``None`` while it is active): its open
    invitations were cancelled, its head cannot invite, its access code admits no one."""

    @property
    def claimed(self) -> bool:
        return self.head_member_id is not None

    @property
    def status(self) -> HouseholdStatus:
        if self.deactivated_at is not None:
            return HouseholdStatus.INACTIVE
        return HouseholdStatus.ACTIVE if self.claimed else HouseholdStatus.NOT_ACTIVATED

    def open_head_request(self, now: datetime) -> str | None:
        """The member an unanswered, unexpired head request names, if any."""
        if self.head_request_member_id is None or self.head_request_at is None:
            return None
        if now >= self.head_request_at + HEAD_REQUEST_TTL:
            return None
        return self.head_request_member_id

    def clear_head_request(self) -> None:
        self.head_request_member_id = None
        self.head_request_at = None


HEAD_REQUEST_TTL = timedelta(days=7)
"""How long a member has to accept the head role before the request lapses."""


@dataclass
class Member:
    household_id: str
    name: str
    role: Role
    email: str | None = None
    phone: str | None = None
    id: str = field(default_factory=new_id)
    joined_at: datetime | None = None
    left_at: datetime | None = None
    """When the member left or was removed: the row stays (invitations and the history name
    it), but the member is no longer in the household and has no chat account linked."""
    language: str = ""
    """The language the member reads (``"es"``): the one they last chatted in, or their
    invitation's; what notifications to them are written in. "" for the default."""

    @property
    def is_head(self) -> bool:
        return self.role is Role.HEAD

    @property
    def is_current(self) -> bool:
        return self.left_at is None


@dataclass
class ChannelIdentity:
    """A chat account (platform + the platform's user id) linked to a member."""

    platform: str
    external_id: str
    member_id: str
    chat_id: str = ""
    id: str = field(default_factory=new_id)
    created_at: datetime | None = None


@dataclass
class Invitation:
    household_id: str
    invited_by: str
    method: Method
    invitee_name: str
    contact: str
    nonce: str
    expires_at: datetime
    created_at: datetime
    status: InvitationStatus = InvitationStatus.PENDING
    delivery_status: DeliveryStatus = DeliveryStatus.QUEUED
    sent_at: datetime | None = None
    responded_at: datetime | None = None
    member_id: str | None = None
    origin_platform: str = ""
    origin_chat_id: str = ""
    send_count: int = 0
    provider_message_id: str = ""
    language: str = ""
    """The language the invitation is written in (the text, email and page), which the
    member then reads; chosen by the head, "" for the default."""
    id: str = field(default_factory=new_id)

    def effective_status(self, now: datetime) -> InvitationStatus:
        """The status as a person sees it: a pending invitation past its time is expired."""
        if self.status is InvitationStatus.PENDING and now >= self.expires_at:
            return InvitationStatus.EXPIRED
        return self.status

    def is_open(self, now: datetime) -> bool:
        """Whether this invitation can still admit someone."""
        return self.effective_status(now) is InvitationStatus.PENDING


@dataclass
class OutboxMessage:
    """One outbound message, written in the same transaction as the change that causes it."""

    channel: Channel
    destination: str
    body: str
    created_at: datetime
    next_attempt_at: datetime
    subject: str = ""
    platform: str = ""
    invitation_id: str | None = None
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    last_error: str = ""
    sent_at: datetime | None = None
    provider_id: str = ""
    data: dict[str, str] = field(default_factory=dict)
    """Structured fields a sender may render richly (an email's HTML part): for an
    invitation, ``kind="invitation"`` with name, inviter, address, community, link, expires,
    hoa; the plain ``body`` always says the same in text."""
    ordering_key: str = ""
    """Messages with the same key go out one at a time, in the order their transactions
    committed (a household's webhooks); "" for a message that waits for nothing."""
    sequence: int | None = None
    """The place in its key's order, given by the storage when the transaction commits."""
    id: str = field(default_factory=new_id)


class HouseholdEventKind(StrEnum):
    """What happened to a household: one kind for each change its history shows."""

    INVITED = "invited"
    RESENT = "resent"
    CANCELLED = "cancelled"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    REMOVED = "removed"
    LEFT = "left"
    HEAD_REQUESTED = "head_requested"
    """The head asked a member to take over (the member accepts or declines)."""
    HEAD_REQUEST_DECLINED = "head_request_declined"
    HEAD_REQUEST_LAPSED = "head_request_lapsed"
    """Not answered in time, cancelled by the head, or void because either of them left."""
    HEAD_HANDED_OVER = "head_handed_over"
    RENAMED = "renamed"
    ACCESS_CODE_RESET = "access_code_reset"
    CLAIMED = "claimed"
    DEACTIVATED = "deactivated"
    """The board deactivated the household (its open invitations cancelled with it)."""
    ACTIVATED = "activated"


class EventActor(StrEnum):
    """Who made a household event happen."""

    MEMBER = "member"
    """A member of the household (``actor_member_id``), the head or another."""
    INVITEE = "invitee"
    """The person an invitation was for, answering it before being a member (a decline)."""
    BOARD = "board"
    SYSTEM = "system"
    """invitebot itself: an invitation's time ran out, a provider reported a delivery."""


@dataclass
class HouseholdEvent:
    """One entry of a household's history, written in the same transaction as the change.

    Append-only: nothing updates or deletes it. It keeps what the history shows later (names
    as they were then) so that showing it joins no row that may have changed since; the ids
    only say which member or invitation it was. A contact is kept masked (``m•••@example.org``,
    ``+1 ••• ••• 0199``), never whole: the log is read by more people, and for longer, than
    the invitation it describes. ``bot.history`` makes the events the services write.
    """

    household_id: str
    kind: HouseholdEventKind
    at: datetime
    actor: EventActor
    actor_member_id: str | None = None
    actor_name: str = ""
    """The actor's name at the time ("" for the board and the system)."""
    subject_member_id: str | None = None
    """The member the event is about (who joined, was removed, renamed, became head)."""
    subject_invitation_id: str | None = None
    subject_name: str = ""
    """The subject's name at the time: the invitee's, or the member's."""
    method: Method | None = None
    masked_contact: str = ""
    via: str = ""
    """Where it was done: ``sms``, ``page`` (the invitation page), or a chat platform
    (``telegram``, ``slack``, ``console``)."""
    details: dict[str, str] = field(default_factory=dict)
    """Small facts of one kind (``new_link`` on a resend, a carrier's ``error_code``, a
    ``previous_name``); never a contact, a link or a code."""
    id: str = field(default_factory=new_id)

    def __post_init__(self) -> None:
        if self.masked_contact and MASK not in self.masked_contact:
            raise ValueError("a household event keeps a contact only masked")


MASK = "•••"
"""What stands for the hidden part of a masked contact (see ``bot.contacts.mask_contact``)."""


@dataclass
class PhoneStatus:
    """What a phone number told us by SMS: STOP (opted out until START) or WRONG (not the
    person the head meant: no more invitations to it)."""

    phone: str
    opted_out: bool = False
    wrong_number: bool = False
    updated_at: datetime | None = None


@dataclass
class InboundReceipt:
    """A webhook delivery already handled (Twilio MessageSid, Telegram update_id, Slack event
    id), so a provider's retry of it has no second effect."""

    source: str
    external_id: str
    received_at: datetime


@dataclass
class InboundUpdate:
    """A chat platform's update (a Telegram update, a Slack event, command or button press)
    that was answered 2xx, kept until it is handled and its replies are sent: it was stored with
    its :class:`InboundReceipt` before the answer, so a crash loses nothing (see
    :mod:`bot.intake`).

    ``owner`` is the process handling it, until ``lease_until``; after that any process may
    take it over. ``replies`` holds the step's replies (:func:`bot.intake.dump_replies`), set in
    the step's own transaction: an update with replies was handled, and only its replies are
    left to send."""

    source: str
    external_id: str
    sender: str
    """Whose update it is, within ``source``: one sender's updates are handled in ``id``
    order."""
    payload: str
    received_at: datetime
    owner: str
    lease_until: datetime
    id: int | None = None
    """The order of arrival, given by storage."""
    attempts: int = 0
    replies: str | None = None


@dataclass
class ThrottleCount:
    """How many times something limited (a wrong access code from one chat account, a page
    request from one address, an automatic text to one number) happened in the current
    window, which started at ``window_started_at``. Kept in the database, so every process
    counts against the same number."""

    key: str
    count: int
    window_started_at: datetime

    def retry_after(self, *, now: datetime, window: timedelta) -> timedelta:
        """How long until this window ends (never less than a second)."""
        return max(self.window_started_at + window - now, timedelta(seconds=1))


@dataclass(frozen=True)
class Route:
    """Which outbox messages a sender takes: a channel, optionally only one platform and one
    destination (a terminal chat serves only the user sitting at it)."""

    channel: Channel
    platform: str | None = None
    destination: str | None = None

    def matches(self, message: OutboxMessage) -> bool:
        return (
            message.channel == self.channel
            and (self.platform is None or message.platform == self.platform)
            and (self.destination is None or message.destination == self.destination)
        )


@dataclass
class Conversation:
    """Where one chat user is in a flow; stored so any process can take the next message."""

    platform: str
    user_id: str
    state: str = "idle"
    data: dict[str, object] = field(default_factory=dict)
    updated_at: datetime | None = None
    language: str = ""
    """The language the person chose with ``/language``; "" follows their app's."""

    @property
    def key(self) -> str:
        return conversation_key(self.platform, self.user_id)

    def reset(self) -> None:
        self.state = "idle"
        self.data = {}


def conversation_key(platform: str, user_id: str) -> str:
    return f"{platform}:{user_id}"


@dataclass(frozen=True)
class Limits:
    """The configurable caps the core enforces."""

    invite_ttl: timedelta = timedelta(hours=168)
    invites_per_hour: int = 10
    invites_per_day: int = 30
    messages_per_destination_per_day: int = 3
    code_attempts_per_account: int = 5
    """Wrong access codes or invitation links one chat account may type per window."""
    code_attempts_everyone: int = 50
    """Wrong ones all chat accounts together may type per window before an account that
    already got one wrong must wait (a first try is always looked at: see bot/throttles.py)."""
    code_attempt_window: timedelta = timedelta(minutes=15)
    page_requests_per_address: int = 30
    """Requests to the invitation page (and its QR code) one client address may make per
    ``page_request_window``."""
    page_request_window: timedelta = timedelta(minutes=1)
    sms_replies_per_sender_per_hour: int = 5
    """Automatic text replies to one number an hour: two auto-responders cannot loop."""
