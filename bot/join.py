"""Joining with a secret someone typed in chat: a household's access code (the head claims
it) or an invitation link or token (accept it, or decline it).

Both secrets are guessable in principle, so every try goes through
:func:`bot.throttles.attempt_secret`: an account (or everyone together) that got too many
wrong lately is asked to wait, and a wrong try is counted even though it changes nothing
else. That is why a wrong or throttled try comes back as an answer to show rather than a
raised refusal: the engine commits it with the conversation, and the count holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import messages as msg
from .context import CoreContext
from .history import claimed
from .households import Claim, claim_household
from .invitations import accept_invitation, decline_invitation
from .language import Words
from .ports import UnitOfWork
from .replies import Actor, Reply
from .rules import Refused
from .secrets import TOKEN_LENGTH, normalise_access_code
from .throttles import attempt_secret

_TOKEN_IN_TEXT = re.compile(
    rf"(?:/i/|[?&]start=)([A-Za-z0-9_-]{{{TOKEN_LENGTH}}})(?![A-Za-z0-9_-])"
)
_BARE_TOKEN = re.compile(rf"^[A-Za-z0-9_-]{{{TOKEN_LENGTH}}}$")


def find_token(text: str) -> str | None:
    """The invitation token in a pasted link (``…/i/<token>``, ``…?start=<token>``) or alone."""
    text = text.strip()
    if _BARE_TOKEN.match(text):
        return text
    found = _TOKEN_IN_TEXT.search(text)
    return found.group(1) if found else None


@dataclass(frozen=True)
class Joined:
    """What a try with a secret gave: the answer to show, and whether it worked (the
    conversation then ends)."""

    reply: Reply
    done: bool


async def join_with(
    uow: UnitOfWork, ctx: CoreContext, *, actor: Actor, text: str, words: Words
) -> Joined | None:
    """Accept the invitation a link or token in ``text`` names, or claim the household an
    access code names; ``None`` when ``text`` holds neither. The answer is in ``words``."""
    token = find_token(text)
    if token is not None:
        accepted = await attempt_secret(
            uow,
            ctx,
            actor=actor,
            attempt=lambda: accept_invitation(uow, ctx, token=token, actor=actor),
        )
        if isinstance(accepted, Refused):
            return Joined(Reply(words.say(accepted.say)), done=False)
        community = accepted.community.name if accepted.community else ""
        return Joined(
            Reply(
                words(
                    msg.WELCOME,
                    name=accepted.member.name,
                    address=accepted.household.address,
                    community=community,
                )
            ),
            done=True,
        )
    if normalise_access_code(text) is None:
        return None
    claim = await attempt_secret(
        uow,
        ctx,
        actor=actor,
        attempt=lambda: _claim(uow, ctx, actor=actor, code=text),
    )
    if isinstance(claim, Refused):
        return Joined(Reply(words.say(claim.say)), done=False)
    community = claim.community.name if claim.community else ""
    return Joined(
        Reply(words(msg.CLAIMED, address=claim.household.address, community=community)),
        done=True,
    )


async def _claim(uow: UnitOfWork, ctx: CoreContext, *, actor: Actor, code: str) -> Claim:
    """Claim the household ``code`` names, and record it in the household's history."""
    claim = await claim_household(uow, ctx, actor=actor, code=code)
    await uow.events.append(
        claimed(
            claim.household,
            claim.head,
            at=ctx.clock.now(),
            via=actor.platform,
            joined=claim.joined,
            replaced=claim.replaced,
        )
    )
    return claim


async def decline_with(
    uow: UnitOfWork, ctx: CoreContext, *, actor: Actor, text: str, words: Words
) -> Joined:
    """Decline the invitation a link or token in ``text`` names; the answer in ``words``."""
    token = find_token(text)
    if token is None:
        # Nothing that could be a secret: nothing looked up, nothing counted.
        return Joined(Reply(words(msg.INVITE_NOT_VALID)), done=False)
    declined = await attempt_secret(
        uow,
        ctx,
        actor=actor,
        attempt=lambda: decline_invitation(uow, ctx, token=token, via=actor.platform),
    )
    if isinstance(declined, Refused):
        return Joined(Reply(words.say(declined.say)), done=False)
    _, household = declined
    return Joined(Reply(words(msg.DECLINED, address=household.address)), done=True)
