"""What must hold after any input: replies are text, logs hold no failure, and everything
stored is something the validators in ``bot.contacts`` would accept as it is."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from bot import contacts
from bot.domain import Conversation, Household, Invitation, Member, Method
from bot.ports import UnitOfWorkFactory
from bot.replies import Reply

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
REGION = "US"


def assert_valid_name(name: str) -> None:
    assert contacts.normalise_name(name) == name, name


def assert_valid_email(email: str) -> None:
    assert contacts.normalise_email(email) == email, email


def assert_valid_phone(phone: str) -> None:
    assert E164.match(phone), phone
    assert contacts.normalise_phone(phone, region=REGION) == phone, phone


def assert_valid_contact(contact: str, method: Method | str | None = None) -> None:
    """A normalised email address or E.164 mobile number (of the given method, if any)."""
    is_email = Method(method) is Method.EMAIL if method is not None else "@" in contact
    if is_email:
        assert_valid_email(contact)
    else:
        assert_valid_phone(contact)
    # What the adapters show of it never fails either.
    assert contacts.display_contact(contact)
    assert contacts.mask_contact(contact)


def assert_replies(replies: list[Reply]) -> None:
    """Every reply is non-empty text, and its buttons carry labels and payloads."""
    for reply in replies:
        assert isinstance(reply.text, str) and reply.text.strip(), reply
        for button in reply.buttons:
            assert button.label.strip() and button.payload, button


def assert_no_failure_logged(caplog: pytest.LogCaptureFixture) -> None:
    """No ERROR record, nor any record with a traceback, from our loggers (or the server's)."""
    bad = [
        r
        for r in caplog.records
        if (r.levelno >= logging.ERROR or r.exc_info)
        and (r.name.startswith(("invitebot", "handlers", "bot", "storage", "uvicorn", "starlette")))
    ]
    assert not bad, [f"{r.name}: {r.getMessage()}" for r in bad]
    caplog.clear()


@dataclass
class Stored:
    households: list[Household]
    members: list[Member]
    invitations: list[Invitation]
    conversations: list[Conversation]


async def stored(
    uow_factory: UnitOfWorkFactory, conversation_keys: list[tuple[str, str]]
) -> Stored:
    """Every household, member and invitation, and the named conversations."""
    async with uow_factory() as uow:
        households = list(await uow.households.list())
        members = [m for h in households for m in await uow.members.list_for_household(h.id)]
        invitations = [
            i for h in households for i in await uow.invitations.list_for_household(h.id)
        ]
        conversations = [
            c
            for platform, user_id in conversation_keys
            if (c := await uow.conversations.get(platform=platform, user_id=user_id)) is not None
        ]
    return Stored(households, members, invitations, conversations)


def assert_stored_valid(state: Stored) -> None:
    for household in state.households:
        assert household.address.strip(), household
        if household.head_name:
            assert_valid_name(household.head_name)
        if household.head_contact:
            assert_valid_contact(household.head_contact)
    for member in state.members:
        assert_valid_name(member.name)
        if member.email:
            assert_valid_email(member.email)
        if member.phone:
            assert_valid_phone(member.phone)
    for invitation in state.invitations:
        assert_valid_name(invitation.invitee_name)
        assert_valid_contact(invitation.contact, invitation.method)
    for conversation in state.conversations:
        data = conversation.data
        if "method" in data:
            Method(str(data["method"]))
        if "name" in data:
            assert_valid_name(str(data["name"]))
        if "contact" in data:
            assert_valid_contact(str(data["contact"]), data.get("method"))  # type: ignore[arg-type]


async def assert_all_stored_valid(
    uow_factory: UnitOfWorkFactory, conversation_keys: Sequence[tuple[str, str]] = ()
) -> Stored:
    state = await stored(uow_factory, list(conversation_keys))
    assert_stored_valid(state)
    return state
