"""``/household history`` and the History button: the household's last events, newest first,
each as one line a person reads (when, who, what). Only the head sees it: it names every
invitation's contact, masked."""

from __future__ import annotations

from .. import messages as msg
from ..domain import EventActor, HouseholdEvent, HouseholdEventKind, Method
from ..language import Words
from ..membership import acting_head
from ..replies import Reply
from .common import Flow, Turn

HISTORY_LENGTH = 20

_VIA = {
    "sms": msg.HISTORY_VIA_SMS,
    "page": msg.HISTORY_VIA_PAGE,
    "telegram": msg.HISTORY_VIA_TELEGRAM,
    "slack": msg.HISTORY_VIA_SLACK,
    "console": msg.HISTORY_VIA_CONSOLE,
}
_LAPSED = {
    "time": msg.HISTORY_HEAD_REQUEST_LAPSED,
    "cancelled": msg.HISTORY_HEAD_REQUEST_CANCELLED,
    "left": msg.HISTORY_HEAD_REQUEST_LEFT,
    "removed": msg.HISTORY_HEAD_REQUEST_REMOVED,
    "replaced": msg.HISTORY_HEAD_REQUEST_REPLACED,
}
_BY = {Method.EMAIL: msg.HISTORY_BY_EMAIL, Method.SMS: msg.HISTORY_BY_SMS}


def _who(event: HouseholdEvent) -> str:
    if event.actor is EventActor.BOARD:
        return msg.HISTORY_BOARD
    if event.actor is EventActor.SYSTEM or not event.actor_name:
        return "invitebot"
    return event.actor_name


def _with(sentence: str, *tails: str) -> str:
    """``sentence`` with the phrases that say more about it, each after a space."""
    return " ".join([sentence, *(tail for tail in tails if tail)])


def _via(words: Words, event: HouseholdEvent) -> str:
    return words(_VIA[event.via]) if event.via in _VIA else ""


def _contact(words: Words, event: HouseholdEvent) -> str:
    method = words(_BY[event.method]) if event.method is not None else ""
    contact = f"({event.masked_contact})" if event.masked_contact else ""
    return _with(method, contact).strip()


def _sentence(words: Words, e: HouseholdEvent) -> str:
    """What ``e`` was, as one sentence (without its full stop). mypy checks that every kind
    has its case."""
    who, name, kind = _who(e), e.subject_name, e.kind
    match kind:
        case HouseholdEventKind.INVITED:
            return _with(words(msg.HISTORY_INVITED, who=who, name=name), _contact(words, e))
        case HouseholdEventKind.RESENT:
            new_link = e.details.get("new_link") == "yes"
            sentence = msg.HISTORY_RESENT_NEW_LINK if new_link else msg.HISTORY_RESENT
            return words(sentence, who=who, name=name)
        case HouseholdEventKind.CANCELLED:
            return words(msg.HISTORY_CANCELLED, who=who, name=name)
        case HouseholdEventKind.DELIVERED:
            return _with(words(msg.HISTORY_DELIVERED, name=name), _contact(words, e))
        case HouseholdEventKind.DELIVERY_FAILED:
            code = e.details.get("error_code", "")
            error = words(msg.HISTORY_CARRIER_ERROR, code=code) if code else ""
            return _with(words(msg.HISTORY_NOT_DELIVERED, name=name), _contact(words, e), error)
        case HouseholdEventKind.ACCEPTED:
            return _with(words(msg.HISTORY_ACCEPTED, name=name), _via(words, e))
        case HouseholdEventKind.DECLINED:
            wrong = (
                words(msg.HISTORY_WRONG_NUMBER) if e.details.get("wrong_number") == "yes" else ""
            )
            return _with(words(msg.HISTORY_DECLINED, name=name), _via(words, e), wrong)
        case HouseholdEventKind.EXPIRED:
            return words(msg.HISTORY_EXPIRED, name=name)
        case HouseholdEventKind.REMOVED:
            return words(msg.HISTORY_REMOVED, who=who, name=name)
        case HouseholdEventKind.LEFT:
            return words(msg.HISTORY_LEFT, name=name)
        case HouseholdEventKind.HEAD_REQUESTED:
            return words(msg.HISTORY_HEAD_REQUESTED, who=who, name=name)
        case HouseholdEventKind.HEAD_REQUEST_DECLINED:
            return words(msg.HISTORY_HEAD_REQUEST_DECLINED, name=name)
        case HouseholdEventKind.HEAD_REQUEST_LAPSED:
            reason = _LAPSED.get(e.details.get("reason", ""), msg.HISTORY_HEAD_REQUEST_ENDED)
            return words(reason, name=name)
        case HouseholdEventKind.HEAD_HANDED_OVER:
            return words(msg.HISTORY_HANDED_OVER, who=who, name=name)
        case HouseholdEventKind.RENAMED:
            old = e.details.get("previous_name") or words(msg.HISTORY_A_MEMBER)
            return words(msg.HISTORY_RENAMED, who=who, old=old, name=name)
        case HouseholdEventKind.ACCESS_CODE_RESET:
            return words(msg.HISTORY_ACCESS_CODE_RESET)
        case HouseholdEventKind.DEACTIVATED:
            return words(msg.HISTORY_DEACTIVATED)
        case HouseholdEventKind.ACTIVATED:
            return words(msg.HISTORY_ACTIVATED)
        case HouseholdEventKind.CLAIMED:
            replaced = e.details.get("replaced")
            if replaced:
                return words(msg.HISTORY_CLAIMED_REPLACING, name=name, replaced=replaced)
            return words(msg.HISTORY_CLAIMED, name=name)


def describe(words: Words, event: HouseholdEvent) -> str:
    """One event as a line of the history, in the reader's words and time zone."""
    return words(msg.HISTORY_LINE, when=event.at, what=_sentence(words, event) + ".")


class HistoryFlow(Flow):
    async def show(self, turn: Turn, args: str = "") -> list[Reply]:
        """The head's household history; who is head is checked on the household row, locked
        as for every change, so a head who just handed over no longer sees it."""
        acting = await acting_head(turn.uow, turn.who)
        household = acting.household
        events = await turn.uow.events.list_for_household(household.id, limit=HISTORY_LENGTH)
        words = turn.words
        title = words(msg.HISTORY_TITLE, address=household.address)
        if not events:
            return [Reply(words(msg.HISTORY_EMPTY), title=title)]
        lines = [describe(words, event) for event in events]
        if len(events) == HISTORY_LENGTH:
            lines.append(words(msg.HISTORY_MORE, count=HISTORY_LENGTH))
        return [Reply("\n".join(lines), title=title)]
