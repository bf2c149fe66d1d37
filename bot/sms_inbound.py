"""Text messages from invitees: keywords, opt-outs, and exactly-once handling.

Carriers and Twilio treat STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT (opt-out), START,
UNSTOP, YES (opt-in) and HELP, INFO specially, so invitees accept with JOIN (ACCEPT and YES
too) and decline with DECLINE (or NO). WRONG means "not me": it declines, tells the head and
blocks further invitations to the number. In Spanish: UNIRME (SI, ACEPTAR), RECHAZAR (NO),
EQUIVOCADO, AYUDA, and the opt-out words Twilio's Advanced Opt-Out lets a sender add (PARAR,
ALTO, CANCELAR, DETENER, BAJA), honoured like STOP. No word means one thing in one language
and another in the other. Keywords are matched case-, accent- and space-insensitively
(``sí`` is SI), trailing punctuation ignored; with several open invitations, ``JOIN 2``
picks one. The answer is in the language of the keyword, or, for a word both languages
share (NO) or none, in that of the number's invitation (or membership).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from . import messages as msg
from .context import CoreContext
from .domain import Household, InboundReceipt, Invitation, PhoneStatus
from .invitation_page import account_link_token
from .invitations import admit, decline
from .language import Words
from .ports import InvitationWithHousehold, UnitOfWork
from .replies import Actor
from .rules import Refused
from .sms import gsm7_spelling, segment_info
from .throttles import may_reply_by_sms

SMS_PLATFORM = "sms"
RECEIPT_SOURCE = "twilio-sms"
MAX_BODY = 1600  # Twilio's longest inbound message


@dataclass(frozen=True)
class Keywords:
    """One language's keywords, by what they do."""

    accept: frozenset[str]
    decline: frozenset[str]
    wrong: frozenset[str]
    opt_out: frozenset[str]
    opt_in: frozenset[str]
    help: frozenset[str]

    def all(self) -> frozenset[str]:
        return self.accept | self.decline | self.wrong | self.opt_out | self.opt_in | self.help


KEYWORDS = {
    "en": Keywords(
        accept=frozenset({"JOIN", "ACCEPT", "YES"}),
        decline=frozenset({"DECLINE", "NO"}),
        wrong=frozenset({"WRONG"}),
        opt_out=frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}),
        opt_in=frozenset({"START", "UNSTOP", "YES"}),
        help=frozenset({"HELP", "INFO"}),
    ),
    "es": Keywords(
        accept=frozenset({"UNIRME", "SI", "ACEPTAR"}),
        decline=frozenset({"RECHAZAR", "NO"}),
        wrong=frozenset({"EQUIVOCADO"}),
        opt_out=frozenset({"PARAR", "ALTO", "CANCELAR", "DETENER", "BAJA"}),
        opt_in=frozenset(),
        help=frozenset({"AYUDA"}),
    ),
}
"""Every language's keywords (``tests/unit/test_sms_inbound.py`` checks that none means one
thing in one language and another in the other)."""

ACCEPT_WORDS = frozenset().union(*(k.accept for k in KEYWORDS.values()))
DECLINE_WORDS = frozenset().union(*(k.decline for k in KEYWORDS.values()))
WRONG_WORDS = frozenset().union(*(k.wrong for k in KEYWORDS.values()))
OPT_OUT_WORDS = frozenset().union(*(k.opt_out for k in KEYWORDS.values()))
OPT_IN_WORDS = frozenset().union(*(k.opt_in for k in KEYWORDS.values()))
HELP_WORDS = frozenset().union(*(k.help for k in KEYWORDS.values()))

_FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
"""Fullwidth ASCII (U+FF01 to U+FF5E) to ASCII."""

_KEYWORD = re.compile(r"^([A-Z]+)(?:\s*#?\s*(\d{1,3}))?$")


def language_of_word(word: str) -> str | None:
    """The one language ``word`` is a keyword of; ``None`` for none, or one they share."""
    languages = [code for code, keywords in KEYWORDS.items() if word in keywords.all()]
    return languages[0] if len(languages) == 1 else None


@dataclass(frozen=True)
class InboundSms:
    """One text message as the provider reported it; ``sender`` is an E.164 number."""

    sender: str
    body: str
    message_id: str


@dataclass(frozen=True)
class Keyword:
    word: str
    choice: int | None = None


def parse_keyword(body: str) -> Keyword | None:
    """``" join 2! "`` → ``Keyword("JOIN", 2)``, ``"¡Sí!"`` → ``Keyword("SI")``; anything
    that is not one word (and an optional number) → ``None``."""
    # Accents go (NFD, then the marks), and fullwidth letters become ASCII (a phone's
    # keyboard in CJK mode); compatibility characters do not ("№" is no "No").
    folded = "".join(
        char
        for char in unicodedata.normalize("NFD", body[:MAX_BODY]).translate(_FULLWIDTH)
        if not unicodedata.combining(char)
    )
    cleaned = " ".join(folded.split()).upper().lstrip("¡¿ ").rstrip(".!?,;:)( ")
    match = _KEYWORD.match(cleaned)
    if match is None:
        return None
    return Keyword(match.group(1), int(match.group(2)) if match.group(2) else None)


async def handle_inbound_sms(uow: UnitOfWork, ctx: CoreContext, sms: InboundSms) -> str | None:
    """Apply one text message; return the reply to text back (``""``: none), or ``None`` when
    this message was handled before (a provider's retry: no second effect, no second reply).
    The caller commits.

    Automatic replies to one number are capped (``Limits.sms_replies_per_sender_per_hour``):
    past the cap the message still takes effect (a JOIN admits, a STOP opts out), only the
    reply is dropped, so an auto-responder answering our hint cannot start an endless loop."""
    now = ctx.clock.now()
    receipt = InboundReceipt(source=RECEIPT_SOURCE, external_id=sms.message_id, received_at=now)
    if not await uow.receipts.first_time(receipt):
        return None
    reply = await _apply(uow, ctx, sms, now=now)
    if reply and not await may_reply_by_sms(uow, ctx, phone=sms.sender):
        return ""
    # Names and addresses in GSM-7 where they have a Latin spelling: one "í" would make the
    # whole text UCS-2, less than half as long per segment.
    return gsm7_spelling(reply)


async def _apply(uow: UnitOfWork, ctx: CoreContext, sms: InboundSms, *, now: datetime) -> str:
    """What one text message does, and the reply it deserves."""
    keyword = parse_keyword(sms.body)
    word = keyword.word if keyword else ""
    if word in OPT_OUT_WORDS:
        await _set_phone(uow, sms.sender, opted_out=True, now=now)
        return ""  # the carrier or Twilio confirms the opt-out itself
    if word in OPT_IN_WORDS:
        await _set_phone(uow, sms.sender, opted_out=False, now=now)
        if word != "YES":
            return ""
    if word in HELP_WORDS:
        return await _help(uow, ctx, sms.sender, word)
    if keyword is None or word not in ACCEPT_WORDS | DECLINE_WORDS | WRONG_WORDS:
        return (await _words(uow, ctx, sms.sender, word))(msg.SMS_HINT)
    found = await _open_invitations(uow, ctx, sms.sender)
    invitations = [f.invitation for f in found]
    words = await _words(uow, ctx, sms.sender, word, invitations)
    if not invitations:
        home = await _home_of(uow, sms.sender)
        if home is not None and word in ACCEPT_WORDS:
            return words(msg.SMS_ALREADY_MEMBER, address=home.address)
        return words(msg.SMS_NO_INVITATION)
    if word in WRONG_WORDS:
        await _wrong_number(uow, ctx, sms.sender, invitations, now=now)
        return words(msg.SMS_WRONG)
    picked = await _choose(uow, found, keyword, words)
    if isinstance(picked, str):
        return picked
    chosen = picked.invitation
    if word in DECLINE_WORDS:
        _, household = await decline(uow, ctx, invitation=chosen, via=SMS_PLATFORM)
        return words(msg.SMS_DECLINED, address=household.address)
    # Their language from now on: the one they answered in, else their invitation's.
    language = language_of_word(word) or chosen.language
    actor = Actor(platform=SMS_PLATFORM, user_id=sms.sender, chat_id=sms.sender, language=language)
    home = await _home_of(uow, sms.sender)
    if home is not None:
        return words(msg.SMS_ALREADY_MEMBER, address=home.address)
    try:
        accepted = await admit(
            uow, ctx, invitation=chosen, actor=actor, home=(picked.household, picked.community)
        )
    except Refused as refusal:
        return words.say(refusal.say)
    community = accepted.community.name if accepted.community else ""
    welcome = words(
        msg.SMS_WELCOME,
        name=accepted.member.name,
        address=accepted.household.address,
        community=community,
    )
    if accepted.community is not None and accepted.community.telegram_group:
        username = ctx.telegram_bot_username
        if username:
            # Their way into the residents' group: the link links a Telegram account to them
            # (as the page's "Open in Telegram" does), then the bot hands them the group.
            token = account_link_token(ctx, accepted.member.id)
            link = words(msg.SMS_GROUP_LINK, link=f"https://t.me/{username}?start={token}")
            welcome = _within_two_segments(
                [
                    words(
                        msg.SMS_WELCOME,
                        name=gsm7_spelling(accepted.member.name),
                        address=gsm7_spelling(accepted.household.address),
                        community=gsm7_spelling(community),
                    ),
                    words(msg.SMS_WELCOME_SHORT, name=gsm7_spelling(accepted.member.name)),
                    words(msg.SMS_WELCOME_BARE),
                ],
                link,
            )
    return welcome


def _within_two_segments(welcomes: list[str], link: str) -> str:
    """The first of ``welcomes`` (longest first) that fits two SMS segments with ``link``."""
    for welcome in welcomes:
        text = f"{welcome} {link}"
        if segment_info(text).segments <= 2:
            return text
    return link


async def _open_invitations(
    uow: UnitOfWork, ctx: CoreContext, phone: str
) -> list[InvitationWithHousehold]:
    now = ctx.clock.now()
    # Locked until commit, so a concurrent accept through the web page or a duplicate text
    # cannot admit the same invitation twice.
    pending = await uow.invitations.list_pending_with_households(phone, for_update=True)
    return [p for p in pending if p.invitation.is_open(now)]


async def _choose(
    uow: UnitOfWork, invitations: list[InvitationWithHousehold], keyword: Keyword, words: Words
) -> InvitationWithHousehold | str:
    """The invitation a reply means, or the text asking which one."""
    if len(invitations) == 1 and keyword.choice in (None, 1):
        return invitations[0]
    if keyword.choice is not None:
        if 1 <= keyword.choice <= len(invitations):
            return invitations[keyword.choice - 1]
        return words(msg.SMS_BAD_CHOICE, keyword=keyword.word, count=len(invitations))
    lines = []
    for n, (invitation, household, community) in enumerate(invitations, start=1):
        inviter = await uow.members.get(invitation.invited_by)
        lines.append(
            words(
                msg.SMS_CHOICE_LINE,
                n=n,
                inviter=inviter.name if inviter else "",
                address=household.address,
                community=community.name if community else "",
            )
        )
    return words(
        msg.SMS_CHOOSE, count=len(invitations), lines="\n".join(lines), keyword=keyword.word
    )


async def _wrong_number(
    uow: UnitOfWork, ctx: CoreContext, phone: str, invitations: list[Invitation], *, now: datetime
) -> None:
    for invitation in invitations:
        await decline(uow, ctx, invitation=invitation, via=SMS_PLATFORM, wrong_number=True)
    await _set_phone(uow, phone, wrong_number=True, now=now)


async def _words(
    uow: UnitOfWork,
    ctx: CoreContext,
    phone: str,
    word: str,
    invitations: list[Invitation] | None = None,
) -> Words:
    """The language to answer ``phone`` in: the keyword's, else that of its (first open)
    invitation, else that of the member it belongs to, else the default."""
    language = language_of_word(word)
    if language is None:
        if invitations is None:
            invitations = [
                i
                for i in await uow.invitations.list_pending_for_contact(phone)
                if i.is_open(ctx.clock.now())
            ]
        if invitations:
            language = invitations[0].language
        else:
            linked = await uow.identities.get_with_owner(platform=SMS_PLATFORM, external_id=phone)
            language = linked.member.language if linked and linked.member else ""
    return ctx.words(language or "")


async def _home_of(uow: UnitOfWork, phone: str) -> Household | None:
    """The household this number already belongs to, if it joined one by text."""
    linked = await uow.identities.get_with_owner(platform=SMS_PLATFORM, external_id=phone)
    return linked.household if linked else None


async def _help(uow: UnitOfWork, ctx: CoreContext, phone: str, word: str) -> str:
    words = await _words(uow, ctx, phone, word)
    community_name, hoa = words(msg.SMS_YOUR_HOA), ctx.hoa_contact
    home = await _home_of(uow, phone)
    households: list[Household | None] = [home] if home else []
    for invitation in await uow.invitations.list_pending_for_contact(phone):
        households.append(await uow.households.get(invitation.household_id))
    for household in households:
        community = await uow.communities.get(household.community_id) if household else None
        if community is not None:
            community_name = community.name
            hoa = community.contact or hoa
            break
    return words(msg.SMS_HELP, community=community_name, hoa=hoa)


async def _set_phone(
    uow: UnitOfWork,
    phone: str,
    *,
    now: datetime,
    opted_out: bool | None = None,
    wrong_number: bool | None = None,
) -> None:
    status = await uow.phones.get(phone) or PhoneStatus(phone=phone)
    if opted_out is not None:
        status.opted_out = opted_out
    if wrong_number is not None:
        status.wrong_number = wrong_number
    status.updated_at = now
    await uow.phones.save(status)
