"""Every sentence a person reads, in one place, so wording stays consistent and can be
translated. Templates use ``str.format`` fields; nothing else in the core writes prose.

Each sentence is its English text, marked with ``N_`` so that Babel's extractor finds it; the
catalogs under ``bot/locales`` translate it (see ``bot/language.py``, which also formats times).
"""

from __future__ import annotations


class Sentence(str):
    """A sentence of the catalogs, in English: :class:`bot.language.Words` translates it, and
    translates one given as a field of another (a status in a card, a method's label)."""

    __slots__ = ()


def N_(text: str) -> Sentence:
    """Marks ``text`` for the catalogs; the words are looked up when a person reads them."""
    return Sentence(text)


def NP_(singular: str, plural: str) -> tuple[Sentence, Sentence]:
    """Marks a sentence whose words depend on a count (``ngettext``'s two English forms)."""
    return Sentence(singular), Sentence(plural)


# Conversation: /invite
ASK_METHOD = N_("How should we send the invitation?")
ASK_NAME = N_("What is the member's full name?")
ASK_EMAIL = N_("What is {name}'s email address?")
ASK_PHONE = N_("What is {name}'s mobile phone number? (for example {example})")
SUMMARY_TITLE = N_("Ready to send this invitation?")
SUMMARY = N_(
    "To: {name}\nBy: {method}\n{contact_label}: {contact}\nHousehold: {household}\n"
    "Language: {language}"
)
LABEL_EMAIL = N_("Email")
LABEL_MOBILE = N_("Mobile")
ASK_INVITATION_LANGUAGE = N_("Which language should the invitation to {name} be written in?")
EDIT_WHAT = N_("What would you like to change?")
SENT = N_(
    "✅ Invitation sent to {name} by {method}. "
    "It expires {expires}. You can follow it with /household."
)
SENT_OK = N_("Invitation to {name} sent.")
FLOW_CANCELLED = N_("Okay, cancelled. Nothing was sent.")
NOTHING_TO_CANCEL = N_("There is nothing to cancel. Type /invite to invite someone.")
STALE_BUTTON = N_(
    "That button belongs to a conversation that has ended. Type /invite to start again."
)
INVALID_BUTTON = N_("That button isn't valid any more. Type /household to see your invitations.")
PICK_A_BUTTON = N_("Please choose one of the options: {options}.")
NOT_UNDERSTOOD = N_("I didn't understand that. Type /help to see what I can do.")
UNKNOWN_COMMAND = N_("I don't know the command /{command}. Type /help to see what I can do.")
ALREADY_MEMBER = N_(
    "{name} is already a member of your household, so there is no need to invite them."
)
DUPLICATE_PENDING = N_(
    "{name} already has a pending invitation to {contact} (sent {sent}). "
    "Would you like to send it again?"
)

# Typing a name, an email address or a phone number (bot/contacts.py)
WHAT_NAME = N_("name")
WHAT_TEXT = N_("text")
# TRANSLATORS: {hint} is empty or FOR_EXAMPLE (which starts with a space); {what} is WHAT_NAME.
TEXT_TOO_LONG = N_("That {what} is too long: at most {max_length} characters, please.{hint}")
TEXT_EMPTY = N_("The {what} is empty.{hint}")
TEXT_INVISIBLE = N_(
    "The {what} contains an invisible or control character ({character}); please type it "
    "again.{hint}"
)
# TRANSLATORS: added after another sentence, so it starts with a space.
FOR_EXAMPLE = N_(" For example: {example}.")
NAME_NO_LETTER = N_("A name needs at least one letter. For example: {example}.")
EMAIL_TOO_LONG = N_(
    "That email address is too long (at most {max_length} characters). It should look like "
    "{example}."
)
EMAIL_EMPTY = N_("The email address is empty. It should look like {example}.")
# TRANSLATORS: {problem} is the email checker's own (English) sentence.
EMAIL_INVALID = N_("That is not a valid email address: {problem} It should look like {example}.")
PHONE_TOO_LONG = N_("That phone number is too long. Please type it like {example}.")
PHONE_NOT_A_NUMBER = N_("That is not a phone number. Please type it like {example}.")
PHONE_CHARACTERS = N_(
    "A phone number may contain only digits, spaces, a leading + and - ( ) . / (no letters or "
    "extensions). Please type it like {example}."
)
PHONE_NEEDS_COUNTRY = N_("Please include the country code, like {example}.")
PHONE_TOO_MANY_DIGITS = N_("That phone number has too many digits. Please type it like {example}.")
PHONE_TOO_SHORT = N_("That phone number is too short. Please type it like {example}.")
PHONE_NO_AREA_CODE = N_(
    "That phone number is too short; include the area code. Please type it like {example}."
)
PHONE_NO_SUCH_COUNTRY = N_("That country code does not exist. Please type it like {example}.")
PHONE_INVALID = N_("That is not a valid phone number. Please type it like {example}.")
PHONE_LANDLINE = N_(
    "That looks like a landline, which cannot receive text messages. Please give a mobile "
    "number, like {example}."
)
PHONE_TOLL_FREE = N_(
    "Toll-free numbers cannot receive text messages. Please give a mobile number, like {example}."
)
PHONE_NOT_MOBILE = N_(
    "That kind of number cannot receive text messages. Please give a mobile number, like {example}."
)
NOT_A_CONTACT = N_(
    "Please give an email address or a mobile phone number, like {email} or {phone}."
)

# Refusals
ONLY_HEAD = N_(
    "Only the head of a household can do that. If you are the head, claim your household "
    "with /join followed by the access code from your HOA."
)
NOT_IN_HOUSEHOLD = N_(
    "You are not part of a household yet. The head of a household claims it with "
    "/join ACCESS-CODE; everyone else joins with the invite link they were sent."
)
NOT_YOUR_INVITATION = N_("That invitation is not one of your household's, so nothing was changed.")
QUOTA_HOUR = N_(
    "You have sent {count} invitations in the last hour (each resend counts as one), the most "
    "allowed. Please try again later. Copy Invite Link on /household still works meanwhile."
)
QUOTA_DAY = N_(
    "You have sent {count} invitations in the last day (each resend counts as one), the most "
    "allowed. Please try again tomorrow. Copy Invite Link on /household still works meanwhile."
)
DESTINATION_CAP = N_(
    "We can't send {contact} another message today: we send at most {limit} a day to one "
    "person. Try again tomorrow, or share the link yourself with Copy Invite Link."
)

PHONE_OPTED_OUT = N_(
    "{contact} has opted out of text messages from us, so we can't text them. Invite them by "
    "email, or share the link yourself with Copy Invite Link."
)
PHONE_WRONG_NUMBER = N_(
    "{contact} told us it is the wrong number for our invitations, so we won't text it again. "
    "Please check the number with the person you are inviting."
)

# Invitation cards (/household)
HOUSEHOLD_TITLE = N_("🏠 {address} · {community}")
MEMBERS_TITLE = N_("Household Members")
MEMBER_LINE = N_("• {name}{head}{contact}")
HEAD_MARK = N_(" (head)")
NO_INVITATIONS = N_("No invitations yet. Type /invite to invite someone.")
CARD = N_("{name} · {method} · {contact}\nStatus: {status}{delivery}\nSent {sent} · {expiry}")
CARD_EXPIRES = N_("Expires {when}")
CARD_EXPIRED = N_("Expired {when}")
CARD_CLOSED = N_("{name} · {method} · {contact} · {status} {when}")
EARLIER_TITLE = N_("Earlier invitations")
COPY_LINK = N_("Invite link for {name}. Share it any way you like; it works until {expires}:")
COPY_QR = N_("Inviting {name} in person? Let them scan this QR code of the link:")
COPY_NOT_OPEN = N_("The invitation to {name} is {status}, so its link no longer works.")
COPY_EXPIRED = N_("The invitation to {name} has expired. Press Resend to give it a new week.")
CONFIRM_CANCEL_TITLE = N_("Cancel this invitation?")
CONFIRM_CANCEL = N_(
    "Cancel the invitation to {name}? The link and code we sent will stop working at once."
)
CANCELLED = N_("Invitation to {name} cancelled. Its link can no longer be used to join.")
KEPT = N_("Okay, the invitation to {name} stays as it is.")
ALREADY_CLOSED = N_("The invitation to {name} is already {status}, so there is nothing to change.")
RESEND_CHOICE = N_(
    "The invitation to {name} has expired. Send it again with the same link or a new one?"
)
RESENT = N_("Sent the invitation to {name} again. It now expires {expires}.")
RESENT_NEW_LINK = N_(
    "Sent {name} a new invitation link; earlier links no longer work. It expires {expires}."
)

# Claiming a household and accepting
ASK_JOIN = N_(
    "Please send the access code from your HOA (like ABCD-EFGH-JKMN), or your invite link."
)
BAD_JOIN_ARGUMENT = N_(
    "That doesn't look like an access code (like ABCD-EFGH-JKMN) or an invite link. "
    "Please check it and try again."
)
BAD_ACCESS_CODE = N_(
    "That access code doesn't match any household, or it has been used already. "
    "Please check it, or ask {hoa} for a new one."
)
CLAIMED = N_(
    "🏠 You are now the head of the household at {address} in {community}. "
    "Type /invite to invite the people you live with."
)
ALREADY_IN_HOUSEHOLD = N_("You are already a member of the household at {address}.")
TOO_MANY_CODE_ATTEMPTS = N_(
    "That's too many tries with an access code or invite link that didn't work. To keep "
    "households safe, please wait {wait} and try again. If you're stuck, ask {hoa}."
)
INVITE_NOT_VALID = N_(
    "This invite link isn't valid. It may have expired, been cancelled or been used already. "
    "Please ask the person who invited you to send a new one."
)
WELCOME = N_(
    "🎉 Welcome, {name}! You are now a member of the household at {address} in {community}."
)
DECLINED = N_("You declined the invitation to {address}. Thanks for letting us know.")

# Notifications to the head
NOTIFY_ACCEPTED = N_("🎉 {name} accepted your invitation and is now a member of your household.")
NOTIFY_DECLINED = N_("{name} declined your invitation.")
NOTIFY_EXPIRED = N_(
    "The invitation to {name} expired without an answer. "
    "Press Resend on /household to send it again."
)
NOTIFY_DELIVERY_FAILED = N_(
    "We could not deliver the invitation to {name} by {method} ({reason}). "
    "You could invite them another way, or share the link yourself with Copy Invite Link."
)

# The invitation itself, as the invitee reads it
INVITE_SUBJECT = N_("{inviter} invited you to join {address} ({community})")
INVITE_BODY = N_(
    "Hi {name}, {inviter} invited you to join their household at {address} in {community}. "
    "Accept here: {link}\n"
    "Or, in a chat with the bot, send: /join {token}\n"
    "This invitation expires {expires}."
)

# The invitation by text message (bot/sms.py puts it together from these parts, dropping and
# shortening what it must to fit two segments): "Hi Maria Ruiz, Ana Lopez invited you to join
# their household at 12 Oak Lane in Oak Ridge HOA on invitebot. Accept: <link> Reply JOIN to
# accept, DECLINE to decline. Expires Dec 1, 2026." or at its tersest "Join Ana Lopez at 12
# Oak Lane (Oak Ridge HOA): <link> Reply JOIN to accept, DECLINE to decline."
SMS_JOIN_SENTENCE = N_("Reply JOIN to accept, DECLINE to decline.")
SMS_JOIN_AT = N_("Join {inviter} at {address}")
SMS_JOIN = N_("Join {who}")
SMS_YOU_ARE_INVITED = N_("You are invited")
SMS_INVITED_BY = N_("{inviter} invited you to join their household")
SMS_INVITED = N_("You are invited to join a household")
# TRANSLATORS: after SMS_HI's "Hi {name}, ", so it starts in lower case.
SMS_INVITED_AFTER_HI = N_("you are invited to join a household")
SMS_AT_ADDRESS = N_("{place} at {address}")
SMS_IN_COMMUNITY = N_("{place} in {community}")
SMS_ON_BRAND = N_("{place} on {brand}")
SMS_ACCEPT = N_("Accept: {link}")
SMS_HI = N_("Hi {name}, {text}")
SMS_EXPIRES = N_("Expires {expires}")

# The invitation by email (handlers/templates/invitation_email.*: the same sentences in the
# plain-text and the HTML part)
EMAIL_TITLE = N_("{inviter} invites you to join their household")
EMAIL_HEADING = N_("You're invited to join a household")
EMAIL_HI = N_("Hi {name},")
EMAIL_INVITED = N_("{inviter} invited you to join their household at {address}.")
EMAIL_INVITED_IN = N_("{inviter} invited you to join their household at {address} in {community}.")
EMAIL_ACCEPT = N_("Accept the invitation:")
EMAIL_BUTTON_FALLBACK = N_("If the button does not work, copy this link into your browser:")
EMAIL_OR_IN_CHAT = N_("Or, in a chat with the bot, send: {command}")
EMAIL_EXPIRES = N_("This invitation expires {expires}.")
EMAIL_WHY = N_(
    "You received this because {inviter} of {address} invited this address. If you don't "
    "know them, you can ignore this email; nothing happens unless you accept. Questions: {hoa}"
)
EMAIL_WHY_IN = N_(
    "You received this because {inviter} of {address} ({community}) invited this address. If "
    "you don't know them, you can ignore this email; nothing happens unless you accept. "
    "Questions: {hoa}"
)
EMAIL_FROM_NAME = N_("invitebot for {community}")

# SMS replies to invitees (kept short: each is one text message)
SMS_WELCOME = N_(
    "Welcome, {name}! You are now a member of the household at {address} ({community})."
)
SMS_WELCOME_SHORT = N_("Welcome, {name}!")
SMS_WELCOME_BARE = N_("Welcome!")
SMS_GROUP_LINK = N_("Residents' group on Telegram: {link}")
SMS_DECLINED = N_(
    "Thanks, you declined the invitation to {address}. We won't bother you about it again."
)
SMS_WRONG = N_(
    "Sorry for the mix-up. We told the sender and won't text this number with invitations again."
)
SMS_NO_INVITATION = N_(
    "There is no open invitation for this number. It may have expired or been cancelled; "
    "ask the person who invited you to send a new one."
)
SMS_CHOOSE = N_(
    "You have {count} invitations:\n{lines}\nReply {keyword} 1, {keyword} 2... to choose."
)
SMS_CHOICE_LINE = N_("{n}) {inviter}, {address} ({community})")
SMS_BAD_CHOICE = N_("Please reply {keyword} with a number from 1 to {count}.")
SMS_HINT = N_(
    "Reply JOIN to accept your household invitation, DECLINE to decline, or HELP for help."
)
# TRANSLATORS: names the other language's keywords too ("En español: ..." in English, "In
# English: JOIN, DECLINE, WRONG, STOP." in Spanish).
SMS_HELP = N_(
    "invitebot: household invitations for {community}. Reply JOIN to accept, DECLINE to decline, "
    "WRONG if this isn't you, STOP to stop texts. En español: UNIRME, RECHAZAR, EQUIVOCADO, "
    "PARAR. Questions: {hoa}"
)
SMS_YOUR_HOA = N_("your HOA")
SMS_ALREADY_MEMBER = N_("This number already belongs to a member of the household at {address}.")
NOTIFY_WRONG_NUMBER = N_(
    "The number you invited {name} at says it is the wrong number. Please check it with "
    "{name}, or invite them by email."
)

REASON_OPTED_OUT = N_("the number has opted out of text messages")
# Members (/household): remove, leave, rename, hand over the head role
BTN_REMOVE = N_("Remove")
BTN_MAKE_HEAD = N_("Make head")
BTN_RENAME = N_("Rename")
BTN_HISTORY = N_("History")
BTN_LEAVE = N_("Leave household")
BTN_CONFIRM_REMOVE = N_("Yes, remove")
BTN_CONFIRM_LEAVE = N_("Yes, leave")
BTN_KEEP_MEMBER = N_("Keep")
BTN_STAY = N_("Stay")
BTN_ACCEPT_HEAD = N_("Accept")
BTN_DECLINE_HEAD = N_("Decline")
BTN_CANCEL_HEAD_REQUEST = N_("Cancel request")
CONFIRM_REMOVE_TITLE = N_("Remove member?")
CONFIRM_REMOVE = N_(
    "Remove {name} from {address}? Their chat accounts will no longer act for the household "
    "and the invitation they accepted stops working. You can invite them again later."
)
YOUR_HEAD = N_("your head")
CONFIRM_LEAVE_TITLE = N_("Leave household?")
CONFIRM_LEAVE = N_(
    "Leave the household at {address}? You will no longer be a member, and {head} will be "
    "told. To come back you would need a new invitation."
)
REMOVED = N_("{name} is no longer a member of {address}.")
KEPT_MEMBER = N_("{name} stays a member of {address}.")
STAYED = N_("You are still a member of {address}.")
LEFT = N_("You have left the household at {address}.")
NOTIFY_REMOVED = N_(
    "{head} removed you from the household at {address} ({community}). If that is a "
    "mistake, ask them to invite you again."
)
NOTIFY_LEFT = N_("{name} has left your household at {address}.")
HEAD_CANNOT_LEAVE = N_(
    "You are the head of {address}, so you can't leave or remove yourself. Hand the head role "
    "to another member first (Make head on /household), or ask {hoa} for a new access code."
)
NOTIFY_HEAD_REPLACED = N_(
    "With a new access code from the HOA board, {name} is now the head of {address}; you are "
    "a member of the household (you can leave it with /household)."
)
HOUSEHOLD_INACTIVE = N_(
    "The HOA board has deactivated the household at {address}, so invitations can't be sent "
    "from it. Please contact {hoa}."
)
CLAIM_INACTIVE = N_(
    "The household at {address} has been deactivated by the HOA board, so it can't be claimed "
    "now. Please contact {hoa}."
)
NOTIFY_DEACTIVATED = N_(
    "The HOA board has deactivated your household at {address}: its open invitations were "
    "cancelled, and you can't invite anyone until it is active again. Questions: {hoa}."
)
NOTIFY_ACTIVATED = N_("The HOA board has activated your household at {address} again.")
NOTIFY_REMOVED_BY_BOARD = N_(
    "The HOA board removed you from the household at {address} ({community}). Questions: {hoa}."
)
NOTIFY_BOARD_REMOVED = N_("The HOA board removed {name} from your household at {address}.")
GROUP_REQUEST_DECLINED = N_(
    "The {community} residents' group is for the members of its households. To get in, ask "
    "the head of your household to invite you (or open the link from your invitation), then "
    "ask to join again. Questions: {hoa}."
)
GROUP_INVITE = N_(
    "You can join the {community} residents' group now: the button below lets you in. It "
    "works once, for you, for a day."
)
BTN_JOIN_GROUP = N_("Join the residents' group")
GROUP_REMOVED_LEFT = N_(
    "You have left the household at {address}, so you are no longer in the {community} "
    "residents' group."
)
GROUP_REMOVED_REMOVED = N_(
    "You are no longer a member of the household at {address}, so you have been taken out of "
    "the {community} residents' group."
)
GROUP_REMOVED_DEACTIVATED = N_(
    "The HOA board has deactivated the household at {address}, so you have been taken out of "
    "the {community} residents' group. You can ask to join again once it is active."
)
NOT_YOUR_MEMBER = N_("That is not a member of your household, so nothing was changed.")
NOT_A_MEMBER_NOW = N_("{name} is no longer a member of your household, so nothing was changed.")
ASK_NEW_NAME = N_("What is {name}'s full name? (It is shown to your household and the HOA.)")
RENAMED = N_("Renamed {old} to {new}.")
RENAME_SAME = N_("That is already {name}'s name, so nothing was changed.")
ALREADY_HEAD = N_("You are already the head of {address}.")
HEAD_NEEDS_CHAT = N_(
    "{name} has no chat account with us yet, so they can't be asked to become head. Once they "
    "have joined on Telegram or Slack (or linked an account), try again."
)
HEAD_ASKED = N_(
    "Asked {name} to become head of {address}. The request lapses {expires}; you stay head "
    "until they accept."
)
HEAD_REQUEST_OPEN = N_("Waiting for {name} to accept the head role (lapses {expires}).")
HEAD_REQUEST_ALREADY = N_(
    "You have already asked {name} to become head; cancel that request first to ask someone else."
)
HEAD_REQUEST = N_(
    "{head} asks you to become head of household at {address} ({community}). As head you "
    "invite and remove members; {head} stays a member. The request lapses {expires}."
)
HEAD_REQUEST_NOT_OPEN = N_("That request to become head is no longer open, so nothing was changed.")
HEAD_ACCEPTED = N_("You are now the head of household at {address}. {head} is a member now.")
NOTIFY_HEAD_ACCEPTED = N_("{name} accepted: they are now the head of {address}, and you a member.")
HEAD_DECLINED = N_("You declined to become head of {address}; {head} stays head.")
NOTIFY_HEAD_DECLINED = N_("{name} declined to become head of {address}; you stay head.")
HEAD_REQUEST_CANCELLED = N_("Cancelled your request to {name}: you stay head of {address}.")
NOTIFY_HEAD_REQUEST_CANCELLED = N_("{head} withdrew the request to become head of {address}.")
NOTIFY_HEAD_REQUEST_LAPSED = N_(
    "Your request to {name} to become head of {address} lapsed without an answer; you stay head."
)
MEMBER_VIEW_NOTE = N_("{head} is the head of this household. Only the head invites and removes.")

# History (/household history)
HOUSEHOLD_USAGE = N_(
    "/household shows your household; /household history its recent events (for the head); "
    "/household leave to leave it (for a member)."
)
HISTORY_TITLE = N_("🕘 History of {address}")
HISTORY_EMPTY = N_("Nothing has happened in this household yet.")
HISTORY_LINE = N_("{when} · {what}")
# Each event of the history, as one sentence without its full stop ({who}: a person's name,
# HISTORY_BOARD or "invitebot"); the phrases after them say more (by whom, how).
HISTORY_BOARD = N_("The HOA board")
HISTORY_A_MEMBER = N_("a member")
HISTORY_INVITED = N_("{who} invited {name}")
HISTORY_RESENT = N_("{who} resent the invitation to {name}")
HISTORY_RESENT_NEW_LINK = N_("{who} resent the invitation to {name} with a new link")
HISTORY_CANCELLED = N_("{who} cancelled the invitation to {name}")
HISTORY_DELIVERED = N_("The invitation to {name} was delivered")
HISTORY_NOT_DELIVERED = N_("The invitation to {name} could not be delivered")
HISTORY_CARRIER_ERROR = N_("(carrier error {code})")
HISTORY_ACCEPTED = N_("{name} accepted the invitation")
HISTORY_DECLINED = N_("{name} declined the invitation")
HISTORY_WRONG_NUMBER = N_("(wrong number)")
HISTORY_EXPIRED = N_("The invitation to {name} expired")
HISTORY_REMOVED = N_("{who} removed {name}")
HISTORY_LEFT = N_("{name} left the household")
HISTORY_HEAD_REQUESTED = N_("{who} asked {name} to become head")
HISTORY_HEAD_REQUEST_DECLINED = N_("{name} declined to become head")
HISTORY_HEAD_REQUEST_LAPSED = N_("The request to {name} to become head lapsed unanswered")
HISTORY_HEAD_REQUEST_CANCELLED = N_("The request to {name} to become head was cancelled")
HISTORY_HEAD_REQUEST_LEFT = N_("The request to {name} to become head ended when they left")
HISTORY_HEAD_REQUEST_REMOVED = N_(
    "The request to {name} to become head ended when they were removed"
)
HISTORY_HEAD_REQUEST_REPLACED = N_(
    "The request to {name} to become head ended when the board gave the head role to someone else"
)
HISTORY_HEAD_REQUEST_ENDED = N_("The request to {name} to become head ended")
HISTORY_HANDED_OVER = N_("{who} handed the head role to {name}")
HISTORY_RENAMED = N_("{who} renamed {old} to {name}")
HISTORY_ACCESS_CODE_RESET = N_("The HOA board issued a new access code")
HISTORY_DEACTIVATED = N_("The HOA board deactivated the household")
HISTORY_ACTIVATED = N_("The HOA board activated the household again")
HISTORY_CLAIMED = N_("{name} claimed the household as head")
HISTORY_CLAIMED_REPLACING = N_(
    "{name} claimed the household as head with a new access code from the board ({replaced} "
    "was head before)"
)
HISTORY_BY_EMAIL = N_("by email")
HISTORY_BY_SMS = N_("by text message")
HISTORY_VIA_SMS = N_("by text message")
HISTORY_VIA_PAGE = N_("on the invitation page")
HISTORY_VIA_TELEGRAM = N_("on Telegram")
HISTORY_VIA_SLACK = N_("on Slack")
HISTORY_VIA_CONSOLE = N_("in the console")
HISTORY_MORE = N_("Showing the last {count} events.")

# Why a provider would not take an invitation for good (what NOTIFY_DELIVERY_FAILED's {reason}
# says; handlers/smtp_email.py and handlers/twilio_sms.py raise them)
REASON_EMAIL_NOT_VALID = N_("the email address is not valid")
REASON_MAIL_REJECTED_ADDRESS = N_("the mail server rejected the address")
REASON_MAIL_REJECTED_MESSAGE = N_("the mail server rejected the message")
REASON_SMS_OPTED_OUT = N_("the number has opted out of texts")
REASON_SMS_NOT_VALID = N_("the phone number is not valid")
REASON_SMS_NOT_MOBILE = N_("the number is not a mobile number")
REASON_SMS_LANDLINE = N_("the number is a landline")
REASON_SMS_CANNOT_RECEIVE = N_("the number cannot receive texts from us")
REASON_SMS_COUNTRY = N_("texts to that country are not enabled")
REASON_SMS_OUR_NUMBER = N_("our sending number cannot text that number")
REASON_SMS_TOO_LONG = N_("the message is too long")
REASON_SMS_EMPTY = N_("the message was empty")
REASON_SMS_CREDENTIALS = N_("the SMS service refused our credentials")
REASON_CARRIER = N_("the carrier reported error {code}")
REASON_UNEXPECTED = N_("an unexpected error; we will keep trying for a while")

# /language
LANGUAGE_NOW = N_("You are reading {language}. Which language would you like?")
LANGUAGE_SET = N_("Done: from now on I'll write to you in {language}.")
LANGUAGE_AUTO = N_("Done: I'll follow your app's language ({language} now).")
LANGUAGE_UNKNOWN = N_("I don't speak “{language}” yet. Please choose one of these:")
BTN_LANGUAGE_AUTO = N_("My app's language")

# Help
# TRANSLATORS: who to ask ({hoa}) when the board named no contact.
YOUR_HOA_BOARD = N_("your HOA board")
# TRANSLATORS: who to ask, in HELP's "Contact {hoa}": "Oak Ridge HOA at board@oakridge.org".
HOA_AT = N_("{community} at {contact}")
HELP = N_(
    "I help the head of a household invite the people they live with.\n"
    "/invite: invite someone by email or text message (or in one go: "
    "/invite sms Maria Ruiz +1 202 555 0199)\n"
    "/household: your household's members and invitations; the head removes, renames and "
    "hands over the head role from there, and a member can leave\n"
    "/household history: what happened in your household lately (for the head)\n"
    "/join CODE: claim your household with the access code from your HOA, "
    "or accept an invitation with its link\n"
    "/decline LINK: decline an invitation\n"
    "/cancel: stop what we are doing\n"
    "/language: choose the language I write in (English, Español)\n"
    "/help: this message\n"
    "Questions about your household or access code? Contact {hoa}."
)
WELCOME_START = N_(
    "Hi! I help the head of a household in your HOA community invite the people they live "
    "with.\n"
    "Head of a household? Send /join with the access code from your HOA.\n"
    "Invited by someone? Open the invite link they sent you, or send it to me.\n"
    "Type /help to see everything I can do."
)
SOMETHING_WENT_WRONG = N_(
    "Sorry, something went wrong on our side, and that message was not handled. "
    "Please try again in a moment."
)

# Telegram
TELEGRAM_CONTINUE_IN_PRIVATE = N_(
    "Invitations are personal, so let's continue in a private chat: tap the button below."
)
TELEGRAM_OPEN_PRIVATE_CHAT = N_("Open a private chat")
TELEGRAM_SECRET_IN_GROUP = N_(
    "Please don't post access codes or invite links in a group: anyone here could use them. "
    "If that was an access code, ask your HOA board for a new one. If it was an invite link, "
    "cancel it with /household in a private chat and send a new one. Let's continue in a "
    "private chat: tap the button below."
)
COPY_LINK_BUTTON = N_("📋 Copy link")
TELEGRAM_COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", N_("Start, or open an invitation")),
    ("invite", N_("Invite someone to your household")),
    ("household", N_("See your household and invitations")),
    ("join", N_("Claim your household with the HOA's access code")),
    ("help", N_("What this bot does")),
    ("cancel", N_("Leave the current step")),
    ("language", N_("Choose the language I write in")),
)
"""The command menu Telegram shows beside the message box, with each command's description."""

# Labels
BTN_EMAIL = N_("Email")
BTN_SMS = N_("SMS Text")
BTN_SEND = N_("Send Invite")
BTN_EDIT = N_("Edit")
BTN_CANCEL = N_("Cancel")
BTN_OK = N_("OK")
BTN_BACK = N_("Back")
BTN_EDIT_METHOD = N_("How to send")
BTN_EDIT_NAME = N_("Name")
BTN_EDIT_CONTACT = N_("Contact")
BTN_EDIT_LANGUAGE = N_("Language")
BTN_COPY = N_("Copy Invite Link")
BTN_RESEND = N_("Resend")
BTN_CANCEL_INVITE = N_("Cancel Invite")
BTN_CONFIRM_CANCEL = N_("Yes, cancel it")
BTN_KEEP = N_("Keep it")
BTN_RESEND_SAME = N_("Same link")
BTN_RESEND_NEW = N_("New link")
BTN_RESEND_EXISTING = N_("Send it again")

STATUS_LABELS = {
    "pending": N_("pending"),
    "accepted": N_("accepted"),
    "declined": N_("declined"),
    "cancelled": N_("cancelled"),
    "expired": N_("expired"),
}
DELIVERY_LABELS = {
    "queued": N_("waiting to be sent"),
    "sent": N_("sent"),
    "delivered": N_("delivered"),
    "failed": N_("could not be delivered"),
}


NOT_YET = N_("not yet")
MINUTES = NP_("{count} minute", "{count} minutes")


# The invitation page (GET /i/<token>), as the invitee reads it in a browser
# TRANSLATORS: the name of the page's list of languages, for screen readers.
PAGE_LANGUAGES = N_("Languages")
PAGE_INVITED_TITLE = N_("You're invited to join {address}")
PAGE_INVITED = N_("{inviter} invited you to join their household at {address} in {community}.")
PAGE_LABEL_HOUSEHOLD = N_("Household")
PAGE_LABEL_COMMUNITY = N_("Community")
PAGE_LABEL_INVITED_BY = N_("Invited by")
PAGE_LABEL_EXPIRES = N_("Invitation expires")
PAGE_JOINING_AS = N_("You will join as {name}.")
PAGE_ACCEPT = N_("Accept invitation")
PAGE_DECLINE = N_("Decline")
PAGE_NOT_FOR_YOU = N_(
    "Not {name}, or you don't want to join? Press Decline and we'll let {inviter} know."
)
PAGE_QUESTIONS = N_("Questions about the household or community? Contact {hoa}.")
PAGE_WELCOME_TITLE = N_("Welcome, {name}!")
PAGE_WELCOME = N_("You are now a member of the household at {address} in {community}.")
PAGE_NEXT_TITLE = N_("What to do next")
PAGE_TELEGRAM = N_("Link your Telegram account, so the bot knows you and can keep you up to date.")
PAGE_OPEN_TELEGRAM = N_("Open in Telegram")
PAGE_HOA_CONTACT = N_("For anything about your household or community, contact {hoa}.")
PAGE_NOTHING_ELSE = N_("There is nothing else you need to do. You can close this page.")
PAGE_DECLINED_TITLE = N_("Invitation declined")
PAGE_DECLINED_TOLD = N_(
    "We have let {inviter} know. If you change your mind, ask them to invite you again."
)
PAGE_CLOSED = {
    "accepted": (
        N_("This invitation has already been used"),
        N_(
            "Someone has already accepted it, so this link can't be used again. If that was you, "
            "you are a member already and there is nothing more to do."
        ),
        N_("If it wasn't you, please ask {inviter} to send you a new invitation."),
    ),
    "declined": (
        N_("This invitation was declined"),
        N_("It has been declined, so this link can't be used any more."),
        N_(
            "If you would like to join after all, please ask {inviter} to send you a new "
            "invitation."
        ),
    ),
    "cancelled": (
        N_("This invitation was cancelled"),
        N_("{inviter} cancelled it, so this link no longer works."),
        N_("If you think that was a mistake, please ask {inviter} to send you a new invitation."),
    ),
    "expired": (
        N_("This invitation has expired"),
        N_("It expired on {expired}, so this link no longer works."),
        N_("Please ask {inviter} to send it to you again."),
    ),
}
PAGE_NOT_VALID_TITLE = N_("This link isn't valid")
PAGE_FORM_TITLE = N_("Please try again")
PAGE_FORM_PROBLEM = N_(
    "We couldn't take that answer: the page was open for a long time, or the form came from "
    "another website. Nothing was changed."
)
PAGE_FORM_AGAIN = N_("Open your invitation again")
PAGE_TOO_MANY_TITLE = N_("Please wait a moment")
PAGE_TOO_MANY = N_(
    "We've had a lot of requests from your connection in a short time. Please wait {wait} "
    "and open your invitation again. Nothing was changed."
)

# Linking a chat account after joining on the web page ("Open in Telegram")
ACCOUNT_LINKED = N_("✅ {name}, your chat account is now linked to the household at {address}.")
ACCOUNT_LINK_NOT_VALID = N_(
    "This link to connect your chat account isn't valid any more. Open your invitation link "
    "again in the browser where you accepted it for a fresh one."
)
ACCOUNT_LINK_USED = N_(
    "A chat account on this app is already linked to that membership, so nothing was changed."
)

# Slack
SLACK_CONTINUE_IN_DM = N_(
    "Invitations are personal, so let's continue in our direct messages: "
    "I've sent you a message there."
)
SLACK_HOUSEHOLD_USAGE = N_(
    "Type /household to see your household and invitations, /household join CODE to claim "
    "your household with the access code from your HOA, /household history for what happened "
    "lately, /household leave to leave it, or /household help."
)
SLACK_HOME_TITLE = N_("My Household")
SLACK_HOME_MORE = N_("Not every invitation fits here. Type /household to see them all.")
SLACK_BTN_INVITE = N_("+ Invite")
SLACK_INVITE_IN_DM = N_(
    "I've asked the first question in the Messages tab: answer it there, and we'll set up "
    "the invitation together."
)
SLACK_MODAL_TITLE = N_("My Household")
SLACK_BTN_CLOSE = N_("Close")
