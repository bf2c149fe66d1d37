"""``/household history`` and the History button: the household's last events, newest first,
each as one line a person reads (when, who, what). Only the head sees it: it names every
invitation's contact, masked."""

from __future__ import annotations

from collections.abc import Callable

from .. import messages as msg
from ..domain import EventActor, HouseholdEvent, HouseholdEventKind, Method
from ..membership import acting_head
from ..replies import Reply
from .common import Flow, Turn

HISTORY_LENGTH = 20

_VIA = {
    "sms": "by text message",
    "page": "on the invitation page",
    "telegram": "on Telegram",
    "slack": "on Slack",
    "console": "in the console",
}
_REASONS = {
    "time": "lapsed unanswered",
    "cancelled": "was cancelled",
    "left": "ended when they left",
    "removed": "ended when they were removed",
    "replaced": "ended when the board gave the head role to someone else",
}


def _who(event: HouseholdEvent) -> str:
    if event.actor is EventActor.BOARD:
        return "The HOA board"
    if event.actor is EventActor.SYSTEM or not event.actor_name:
        return "invitebot"
    return event.actor_name


def _via(event: HouseholdEvent) -> str:
    return f" {_VIA[event.via]}" if event.via in _VIA else ""


_BY = {Method.EMAIL: "email", Method.SMS: "text message"}


def _contact(event: HouseholdEvent) -> str:
    method = f" by {_BY[event.method]}" if event.method is not None else ""
    contact = f" ({event.masked_contact})" if event.masked_contact else ""
    return method + contact


_SENTENCES: dict[HouseholdEventKind, Callable[[HouseholdEvent], str]] = {
    HouseholdEventKind.INVITED: lambda e: f"{_who(e)} invited {e.subject_name}{_contact(e)}",
    HouseholdEventKind.RESENT: lambda e: (
        f"{_who(e)} resent the invitation to {e.subject_name}"
        + (" with a new link" if e.details.get("new_link") == "yes" else "")
    ),
    HouseholdEventKind.CANCELLED: lambda e: (
        f"{_who(e)} cancelled the invitation to {e.subject_name}"
    ),
    HouseholdEventKind.DELIVERED: lambda e: (
        f"The invitation to {e.subject_name} was delivered{_contact(e)}"
    ),
    HouseholdEventKind.DELIVERY_FAILED: lambda e: (
        f"The invitation to {e.subject_name} could not be delivered{_contact(e)}"
        + (f" (carrier error {e.details['error_code']})" if e.details.get("error_code") else "")
    ),
    HouseholdEventKind.ACCEPTED: lambda e: f"{e.subject_name} accepted the invitation{_via(e)}",
    HouseholdEventKind.DECLINED: lambda e: (
        f"{e.subject_name} declined the invitation{_via(e)}"
        + (" (wrong number)" if e.details.get("wrong_number") == "yes" else "")
    ),
    HouseholdEventKind.EXPIRED: lambda e: f"The invitation to {e.subject_name} expired",
    HouseholdEventKind.REMOVED: lambda e: f"{_who(e)} removed {e.subject_name}",
    HouseholdEventKind.LEFT: lambda e: f"{e.subject_name} left the household",
    HouseholdEventKind.HEAD_REQUESTED: lambda e: f"{_who(e)} asked {e.subject_name} to become head",
    HouseholdEventKind.HEAD_REQUEST_DECLINED: lambda e: f"{e.subject_name} declined to become head",
    HouseholdEventKind.HEAD_REQUEST_LAPSED: lambda e: (
        f"The request to {e.subject_name} to become head "
        + _REASONS.get(e.details.get("reason", ""), "ended")
    ),
    HouseholdEventKind.HEAD_HANDED_OVER: lambda e: (
        f"{_who(e)} handed the head role to {e.subject_name}"
    ),
    HouseholdEventKind.RENAMED: lambda e: (
        f"{_who(e)} renamed {e.details.get('previous_name', 'a member')} to {e.subject_name}"
    ),
    HouseholdEventKind.ACCESS_CODE_RESET: lambda e: "The HOA board issued a new access code",
    HouseholdEventKind.DEACTIVATED: lambda e: "The HOA board deactivated the household",
    HouseholdEventKind.ACTIVATED: lambda e: "The HOA board activated the household again",
    HouseholdEventKind.CLAIMED: lambda e: (
        f"{e.subject_name} claimed the household as head"
        + (
            f" with a new access code from the board ({e.details['replaced']} was head before)"
            if e.details.get("replaced")
            else ""
        )
    ),
}


def describe(event: HouseholdEvent) -> str:
    """One event as a line of the history."""
    sentence = _SENTENCES.get(event.kind)
    what = sentence(event) if sentence is not None else event.kind.value
    return msg.HISTORY_LINE.format(when=msg.when(event.at), what=what + ".")


class HistoryFlow(Flow):
    async def show(self, turn: Turn, args: str = "") -> list[Reply]:
        """The head's household history; who is head is checked on the household row, locked
        as for every change, so a head who just handed over no longer sees it."""
        acting = await acting_head(turn.uow, turn.who)
        household = acting.household
        events = await turn.uow.events.list_for_household(household.id, limit=HISTORY_LENGTH)
        title = msg.HISTORY_TITLE.format(address=household.address)
        if not events:
            return [Reply(msg.HISTORY_EMPTY, title=title)]
        lines = [describe(event) for event in events]
        if len(events) == HISTORY_LENGTH:
            lines.append(msg.HISTORY_MORE.format(count=HISTORY_LENGTH))
        return [Reply("\n".join(lines), title=title)]
