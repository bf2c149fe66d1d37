"""Every sentence a person reads, in one place, so wording stays consistent and can be
translated. Templates use ``str.format`` fields; nothing else in the core writes prose."""

from __future__ import annotations

from datetime import datetime

# Conversation: /invite
ASK_METHOD = "How should we send the invitation?"
ASK_NAME = "What is the member's full name?"
ASK_EMAIL = "What is {name}'s email address?"
ASK_PHONE = "What is {name}'s mobile phone number? (for example {example})"
SUMMARY_TITLE = "Ready to send this invitation?"
SUMMARY = "To: {name}\nBy: {method}\n{contact_label}: {contact}\nHousehold: {household}"
EDIT_WHAT = "What would you like to change?"
SENT = (
    "✅ Invitation sent to {name} by {method}. "
    "It expires {expires}. You can follow it with /household."
)
SENT_OK = "Invitation to {name} sent."
FLOW_CANCELLED = "Okay, cancelled. Nothing was sent."
NOTHING_TO_CANCEL = "There is nothing to cancel. Type /invite to invite someone."
STALE_BUTTON = "That button belongs to a conversation that has ended. Type /invite to start again."
INVALID_BUTTON = "That button isn't valid any more. Type /household to see your invitations."
PICK_A_BUTTON = "Please choose one of the options: {options}."
NOT_UNDERSTOOD = "I didn't understand that. Type /help to see what I can do."
UNKNOWN_COMMAND = "I don't know the command /{command}. Type /help to see what I can do."
ALREADY_MEMBER = "{name} is already a member of your household, so there is no need to invite them."
DUPLICATE_PENDING = (
    "{name} already has a pending invitation to {contact} (sent {sent}). "
    "Would you like to send it again?"
)

# Refusals
ONLY_HEAD = (
    "Only the head of a household can do that. If you are the head, claim your household "
    "with /join followed by the access code from your HOA."
)
NOT_IN_HOUSEHOLD = (
    "You are not part of a household yet. The head of a household claims it with "
    "/join ACCESS-CODE; everyone else joins with the invite link they were sent."
)
NOT_YOUR_INVITATION = "That invitation is not one of your household's, so nothing was changed."
QUOTA_HOUR = (
    "You have sent {count} invitations in the last hour (each resend counts as one), the most "
    "allowed. Please try again later. Copy Invite Link on /household still works meanwhile."
)
QUOTA_DAY = (
    "You have sent {count} invitations in the last day (each resend counts as one), the most "
    "allowed. Please try again tomorrow. Copy Invite Link on /household still works meanwhile."
)
DESTINATION_CAP = (
    "We can't send {contact} another message today: we send at most {limit} a day to one "
    "person. Try again tomorrow, or share the link yourself with Copy Invite Link."
)

PHONE_OPTED_OUT = (
    "{contact} has opted out of text messages from us, so we can't text them. Invite them by "
    "email, or share the link yourself with Copy Invite Link."
)
PHONE_WRONG_NUMBER = (
    "{contact} told us it is the wrong number for our invitations, so we won't text it again. "
    "Please check the number with the person you are inviting."
)

# Invitation cards (/household)
HOUSEHOLD_TITLE = "🏠 {address} · {community}"
MEMBERS_TITLE = "Household Members"
MEMBER_LINE = "• {name}{head}{contact}"
HEAD_MARK = " (head)"
NO_INVITATIONS = "No invitations yet. Type /invite to invite someone."
CARD = "{name} · {method} · {contact}\nStatus: {status}{delivery}\nSent {sent} · {expiry}"
CARD_EXPIRES = "Expires {when}"
CARD_EXPIRED = "Expired {when}"
CARD_CLOSED = "{name} · {method} · {contact} · {status} {when}"
EARLIER_TITLE = "Earlier invitations"
COPY_LINK = "Invite link for {name}. Share it any way you like; it works until {expires}:"
COPY_QR = "Inviting {name} in person? Let them scan this QR code of the link:"
COPY_NOT_OPEN = "The invitation to {name} is {status}, so its link no longer works."
COPY_EXPIRED = "The invitation to {name} has expired. Press Resend to give it a new week."
CONFIRM_CANCEL_TITLE = "Cancel this invitation?"
CONFIRM_CANCEL = (
    "Cancel the invitation to {name}? The link and code we sent will stop working at once."
)
CANCELLED = "Invitation to {name} cancelled. Its link can no longer be used to join."
KEPT = "Okay, the invitation to {name} stays as it is."
ALREADY_CLOSED = "The invitation to {name} is already {status}, so there is nothing to change."
RESEND_CHOICE = (
    "The invitation to {name} has expired. Send it again with the same link or a new one?"
)
RESENT = "Sent the invitation to {name} again. It now expires {expires}."
RESENT_NEW_LINK = (
    "Sent {name} a new invitation link; earlier links no longer work. It expires {expires}."
)

# Claiming a household and accepting
ASK_JOIN = "Please send the access code from your HOA (like ABCD-EFGH-JKMN), or your invite link."
BAD_JOIN_ARGUMENT = (
    "That doesn't look like an access code (like ABCD-EFGH-JKMN) or an invite link. "
    "Please check it and try again."
)
BAD_ACCESS_CODE = (
    "That access code doesn't match any household, or it has been used already. "
    "Please check it, or ask {hoa} for a new one."
)
CLAIMED = (
    "🏠 You are now the head of the household at {address} in {community}. "
    "Type /invite to invite the people you live with."
)
ALREADY_IN_HOUSEHOLD = "You are already a member of the household at {address}."
TOO_MANY_CODE_ATTEMPTS = (
    "That's too many tries with an access code or invite link that didn't work. To keep "
    "households safe, please wait {wait} and try again. If you're stuck, ask {hoa}."
)
INVITE_NOT_VALID = (
    "This invite link isn't valid. It may have expired, been cancelled or been used already. "
    "Please ask the person who invited you to send a new one."
)
WELCOME = "🎉 Welcome, {name}! You are now a member of the household at {address} in {community}."
DECLINED = "You declined the invitation to {address}. Thanks for letting us know."

# Notifications to the head
NOTIFY_ACCEPTED = "🎉 {name} accepted your invitation and is now a member of your household."
NOTIFY_DECLINED = "{name} declined your invitation."
NOTIFY_EXPIRED = (
    "The invitation to {name} expired without an answer. "
    "Press Resend on /household to send it again."
)
NOTIFY_DELIVERY_FAILED = (
    "We could not deliver the invitation to {name} by {method} ({reason}). "
    "You could invite them another way, or share the link yourself with Copy Invite Link."
)

# The invitation itself, as the invitee reads it
INVITE_SUBJECT = "{inviter} invited you to join {address} ({community})"
INVITE_BODY = (
    "Hi {name}, {inviter} invited you to join their household at {address} in {community}. "
    "Accept here: {link}\n"
    "Or, in a chat with the bot, send: /join {token}\n"
    "This invitation expires {expires}."
)

# SMS replies to invitees (kept short: each is one text message)
SMS_WELCOME = "Welcome, {name}! You are now a member of the household at {address} ({community})."
SMS_WELCOME_SHORT = "Welcome, {name}!"
SMS_WELCOME_BARE = "Welcome!"
SMS_GROUP_LINK = "Residents' group on Telegram: {link}"
SMS_DECLINED = (
    "Thanks, you declined the invitation to {address}. We won't bother you about it again."
)
SMS_WRONG = (
    "Sorry for the mix-up. We told the sender and won't text this number with invitations again."
)
SMS_NO_INVITATION = (
    "There is no open invitation for this number. It may have expired or been cancelled; "
    "ask the person who invited you to send a new one."
)
SMS_CHOOSE = "You have {count} invitations:\n{lines}\nReply {keyword} 1, {keyword} 2... to choose."
SMS_CHOICE_LINE = "{n}) {inviter}, {address} ({community})"
SMS_BAD_CHOICE = "Please reply {keyword} with a number from 1 to {count}."
SMS_HINT = "Reply JOIN to accept your household invitation, DECLINE to decline, or HELP for help."
SMS_HELP = (
    "invitebot: household invitations for {community}. Reply JOIN to accept, DECLINE to decline, "
    "WRONG if this isn't you, STOP to stop texts. Questions: {hoa}"
)
SMS_ALREADY_MEMBER = "This number already belongs to a member of the household at {address}."
NOTIFY_WRONG_NUMBER = (
    "The number you invited {name} at says it is the wrong number. Please check it with "
    "{name}, or invite them by email."
)

REASON_OPTED_OUT = "the number has opted out of text messages"
# Members (/household): remove, leave, rename, hand over the head role
BTN_REMOVE = "Remove"
BTN_MAKE_HEAD = "Make head"
BTN_RENAME = "Rename"
BTN_HISTORY = "History"
BTN_LEAVE = "Leave household"
BTN_CONFIRM_REMOVE = "Yes, remove"
BTN_CONFIRM_LEAVE = "Yes, leave"
BTN_KEEP_MEMBER = "Keep"
BTN_STAY = "Stay"
BTN_ACCEPT_HEAD = "Accept"
BTN_DECLINE_HEAD = "Decline"
BTN_CANCEL_HEAD_REQUEST = "Cancel request"
CONFIRM_REMOVE_TITLE = "Remove member?"
CONFIRM_REMOVE = (
    "Remove {name} from {address}? Their chat accounts will no longer act for the household "
    "and the invitation they accepted stops working. You can invite them again later."
)
CONFIRM_LEAVE_TITLE = "Leave household?"
CONFIRM_LEAVE = (
    "Leave the household at {address}? You will no longer be a member, and {head} will be "
    "told. To come back you would need a new invitation."
)
REMOVED = "{name} is no longer a member of {address}."
KEPT_MEMBER = "{name} stays a member of {address}."
STAYED = "You are still a member of {address}."
LEFT = "You have left the household at {address}."
NOTIFY_REMOVED = (
    "{head} removed you from the household at {address} ({community}). If that is a "
    "mistake, ask them to invite you again."
)
NOTIFY_LEFT = "{name} has left your household at {address}."
HEAD_CANNOT_LEAVE = (
    "You are the head of {address}, so you can't leave or remove yourself. Hand the head role "
    "to another member first (Make head on /household), or ask {hoa} for a new access code."
)
NOTIFY_HEAD_REPLACED = (
    "With a new access code from the HOA board, {name} is now the head of {address}; you are "
    "a member of the household (you can leave it with /household)."
)
HOUSEHOLD_INACTIVE = (
    "The HOA board has deactivated the household at {address}, so invitations can't be sent "
    "from it. Please contact {hoa}."
)
CLAIM_INACTIVE = (
    "The household at {address} has been deactivated by the HOA board, so it can't be claimed "
    "now. Please contact {hoa}."
)
NOTIFY_DEACTIVATED = (
    "The HOA board has deactivated your household at {address}: its open invitations were "
    "cancelled, and you can't invite anyone until it is active again. Questions: {hoa}."
)
NOTIFY_ACTIVATED = "The HOA board has activated your household at {address} again."
NOTIFY_REMOVED_BY_BOARD = (
    "The HOA board removed you from the household at {address} ({community}). Questions: {hoa}."
)
NOTIFY_BOARD_REMOVED = "The HOA board removed {name} from your household at {address}."
GROUP_REQUEST_DECLINED = (
    "The {community} residents' group is for the members of its households. To get in, ask "
    "the head of your household to invite you (or open the link from your invitation), then "
    "ask to join again. Questions: {hoa}."
)
GROUP_INVITE = (
    "You can join the {community} residents' group now: the button below lets you in. It "
    "works once, for you, for a day."
)
BTN_JOIN_GROUP = "Join the residents' group"
GROUP_REMOVED_LEFT = (
    "You have left the household at {address}, so you are no longer in the {community} "
    "residents' group."
)
GROUP_REMOVED_REMOVED = (
    "You are no longer a member of the household at {address}, so you have been taken out of "
    "the {community} residents' group."
)
GROUP_REMOVED_DEACTIVATED = (
    "The HOA board has deactivated the household at {address}, so you have been taken out of "
    "the {community} residents' group. You can ask to join again once it is active."
)
NOT_YOUR_MEMBER = "That is not a member of your household, so nothing was changed."
NOT_A_MEMBER_NOW = "{name} is no longer a member of your household, so nothing was changed."
ASK_NEW_NAME = "What is {name}'s full name? (It is shown to your household and the HOA.)"
RENAMED = "Renamed {old} to {new}."
RENAME_SAME = "That is already {name}'s name, so nothing was changed."
ALREADY_HEAD = "You are already the head of {address}."
HEAD_NEEDS_CHAT = (
    "{name} has no chat account with us yet, so they can't be asked to become head. Once they "
    "have joined on Telegram or Slack (or linked an account), try again."
)
HEAD_ASKED = (
    "Asked {name} to become head of {address}. The request lapses {expires}; you stay head "
    "until they accept."
)
HEAD_REQUEST_OPEN = "Waiting for {name} to accept the head role (lapses {expires})."
HEAD_REQUEST_ALREADY = (
    "You have already asked {name} to become head; cancel that request first to ask someone else."
)
HEAD_REQUEST = (
    "{head} asks you to become head of household at {address} ({community}). As head you "
    "invite and remove members; {head} stays a member. The request lapses {expires}."
)
HEAD_REQUEST_NOT_OPEN = "That request to become head is no longer open, so nothing was changed."
HEAD_ACCEPTED = "You are now the head of household at {address}. {head} is a member now."
NOTIFY_HEAD_ACCEPTED = "{name} accepted: they are now the head of {address}, and you a member."
HEAD_DECLINED = "You declined to become head of {address}; {head} stays head."
NOTIFY_HEAD_DECLINED = "{name} declined to become head of {address}; you stay head."
HEAD_REQUEST_CANCELLED = "Cancelled your request to {name}: you stay head of {address}."
NOTIFY_HEAD_REQUEST_CANCELLED = "{head} withdrew the request to become head of {address}."
NOTIFY_HEAD_REQUEST_LAPSED = (
    "Your request to {name} to become head of {address} lapsed without an answer; you stay head."
)
MEMBER_VIEW_NOTE = "{head} is the head of this household. Only the head invites and removes."

# History (/household history)
HOUSEHOLD_USAGE = (
    "/household shows your household; /household history its recent events (for the head); "
    "/household leave to leave it (for a member)."
)
HISTORY_TITLE = "🕘 History of {address}"
HISTORY_EMPTY = "Nothing has happened in this household yet."
HISTORY_LINE = "{when} · {what}"
HISTORY_MORE = "Showing the last {count} events."

REASON_CARRIER = "the carrier reported error {code}"
REASON_UNEXPECTED = "an unexpected error; we will keep trying for a while"

# Help
HELP = (
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
    "/help: this message\n"
    "Questions about your household or access code? Contact {hoa}."
)
WELCOME_START = (
    "Hi! I help the head of a household in your HOA community invite the people they live "
    "with.\n"
    "Head of a household? Send /join with the access code from your HOA.\n"
    "Invited by someone? Open the invite link they sent you, or send it to me.\n"
    "Type /help to see everything I can do."
)
SOMETHING_WENT_WRONG = (
    "Sorry, something went wrong on our side, and that message was not handled. "
    "Please try again in a moment."
)

# Telegram
TELEGRAM_CONTINUE_IN_PRIVATE = (
    "Invitations are personal, so let's continue in a private chat: tap the button below."
)
TELEGRAM_OPEN_PRIVATE_CHAT = "Open a private chat"
TELEGRAM_SECRET_IN_GROUP = (
    "Please don't post access codes or invite links in a group: anyone here could use them. "
    "If that was an access code, ask your HOA board for a new one. If it was an invite link, "
    "cancel it with /household in a private chat and send a new one. Let's continue in a "
    "private chat: tap the button below."
)
TELEGRAM_COPY_LINK = "📋 Copy link"
TELEGRAM_COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "Start, or open an invitation"),
    ("invite", "Invite someone to your household"),
    ("household", "See your household and invitations"),
    ("join", "Claim your household with the HOA's access code"),
    ("help", "What this bot does"),
    ("cancel", "Leave the current step"),
)
"""The command menu Telegram shows beside the message box, with each command's description."""

# Labels
BTN_EMAIL = "Email"
BTN_SMS = "SMS Text"
BTN_SEND = "Send Invite"
BTN_EDIT = "Edit"
BTN_CANCEL = "Cancel"
BTN_OK = "OK"
BTN_BACK = "Back"
BTN_EDIT_METHOD = "How to send"
BTN_EDIT_NAME = "Name"
BTN_EDIT_CONTACT = "Contact"
BTN_COPY = "Copy Invite Link"
BTN_RESEND = "Resend"
BTN_CANCEL_INVITE = "Cancel Invite"
BTN_CONFIRM_CANCEL = "Yes, cancel it"
BTN_KEEP = "Keep it"
BTN_RESEND_SAME = "Same link"
BTN_RESEND_NEW = "New link"
BTN_RESEND_EXISTING = "Send it again"

STATUS_LABELS = {
    "pending": "pending",
    "accepted": "accepted",
    "declined": "declined",
    "cancelled": "cancelled",
    "expired": "expired",
}
DELIVERY_LABELS = {
    "queued": "waiting to be sent",
    "sent": "sent",
    "delivered": "delivered",
    "failed": "could not be delivered",
}


def when(moment: datetime | None) -> str:
    """A time as people read it in every message: ``1 Dec 2026, 12:00 UTC``."""
    if moment is None:
        return "not yet"
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


# The invitation page (GET /i/<token>), as the invitee reads it in a browser
PAGE_INVITED_TITLE = "You're invited to join {address}"
PAGE_INVITED = "{inviter} invited you to join their household at {address} in {community}."
PAGE_LABEL_HOUSEHOLD = "Household"
PAGE_LABEL_COMMUNITY = "Community"
PAGE_LABEL_INVITED_BY = "Invited by"
PAGE_LABEL_EXPIRES = "Invitation expires"
PAGE_JOINING_AS = "You will join as {name}."
PAGE_ACCEPT = "Accept invitation"
PAGE_DECLINE = "Decline"
PAGE_NOT_FOR_YOU = (
    "Not {name}, or you don't want to join? Press Decline and we'll let {inviter} know."
)
PAGE_QUESTIONS = "Questions about the household or community? Contact {hoa}."
PAGE_WELCOME_TITLE = "Welcome, {name}!"
PAGE_WELCOME = "You are now a member of the household at {address} in {community}."
PAGE_NEXT_TITLE = "What to do next"
PAGE_TELEGRAM = "Link your Telegram account, so the bot knows you and can keep you up to date."
PAGE_OPEN_TELEGRAM = "Open in Telegram"
PAGE_HOA_CONTACT = "For anything about your household or community, contact {hoa}."
PAGE_NOTHING_ELSE = "There is nothing else you need to do. You can close this page."
PAGE_DECLINED_TITLE = "Invitation declined"
PAGE_DECLINED_TOLD = (
    "We have let {inviter} know. If you change your mind, ask them to invite you again."
)
PAGE_CLOSED = {
    "accepted": (
        "This invitation has already been used",
        "Someone has already accepted it, so this link can't be used again. If that was you, "
        "you are a member already and there is nothing more to do.",
        "If it wasn't you, please ask {inviter} to send you a new invitation.",
    ),
    "declined": (
        "This invitation was declined",
        "It has been declined, so this link can't be used any more.",
        "If you would like to join after all, please ask {inviter} to send you a new invitation.",
    ),
    "cancelled": (
        "This invitation was cancelled",
        "{inviter} cancelled it, so this link no longer works.",
        "If you think that was a mistake, please ask {inviter} to send you a new invitation.",
    ),
    "expired": (
        "This invitation has expired",
        "It expired on {expired}, so this link no longer works.",
        "Please ask {inviter} to send it to you again.",
    ),
}
PAGE_NOT_VALID_TITLE = "This link isn't valid"
PAGE_FORM_TITLE = "Please try again"
PAGE_FORM_PROBLEM = (
    "We couldn't take that answer: the page was open for a long time, or the form came from "
    "another website. Nothing was changed."
)
PAGE_FORM_AGAIN = "Open your invitation again"
PAGE_TOO_MANY_TITLE = "Please wait a moment"
PAGE_TOO_MANY = (
    "We've had a lot of requests from your connection in a short time. Please wait {wait} "
    "and open your invitation again. Nothing was changed."
)

# Linking a chat account after joining on the web page ("Open in Telegram")
ACCOUNT_LINKED = "✅ {name}, your chat account is now linked to the household at {address}."
ACCOUNT_LINK_NOT_VALID = (
    "This link to connect your chat account isn't valid any more. Open your invitation link "
    "again in the browser where you accepted it for a fresh one."
)
ACCOUNT_LINK_USED = (
    "A chat account on this app is already linked to that membership, so nothing was changed."
)

# Slack
SLACK_CONTINUE_IN_DM = (
    "Invitations are personal, so let's continue in our direct messages: "
    "I've sent you a message there."
)
SLACK_HOUSEHOLD_USAGE = (
    "Type /household to see your household and invitations, /household join CODE to claim "
    "your household with the access code from your HOA, /household history for what happened "
    "lately, /household leave to leave it, or /household help."
)
SLACK_HOME_TITLE = "My Household"
SLACK_HOME_MORE = "Not every invitation fits here. Type /household to see them all."
SLACK_BTN_INVITE = "+ Invite"
SLACK_INVITE_IN_DM = (
    "I've asked the first question in the Messages tab: answer it there, and we'll set up "
    "the invitation together."
)
SLACK_MODAL_TITLE = "My Household"
SLACK_BTN_CLOSE = "Close"


def wait_for(minutes: int) -> str:
    """``1`` → "1 minute", ``5`` → "5 minutes": how long someone should wait."""
    return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"
