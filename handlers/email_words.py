"""The words of an invitation email, in the invitation's language, for its two templates.

``handlers/templates/invitation_email.{txt,html}`` hold only layout; every sentence comes
from :mod:`bot.messages` through :class:`bot.language.Words`. In the HTML part a translated
sentence is escaped as text, and then its fields are filled in, each escaped too unless it is
markup we made (a name in ``<strong><bdi>``): no name, address or translation can add a tag.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from bot import messages as msg
from bot.language import Words

_CODE = (
    '<code style="font-family:Consolas, Menlo, monospace; background-color:#f3f4f6; '
    'padding:2px 4px;">{}</code>'
)


def email_helpers(language: str) -> dict[str, Any]:
    """What the templates call: ``say`` (plain text), ``say_html`` (markup), ``strong`` and
    ``bdi`` (a person's text, isolated for right-to-left scripts), ``msg`` and the language
    code for ``<html lang>``."""
    words = Words(language)

    def say(sentence: str, /, **fields: object) -> str:
        return words(sentence, **fields)

    def say_html(sentence: str, /, **fields: object) -> Markup:
        shown = {k: v if isinstance(v, Markup) else words.field(v) for k, v in fields.items()}
        return Markup(escape(words(sentence))).format(**shown)

    def bdi(text: str) -> Markup:
        return Markup("<bdi>{}</bdi>").format(text)

    def strong(text: str) -> Markup:
        return Markup("<strong><bdi>{}</bdi></strong>").format(text)

    def code(text: str) -> Markup:
        return Markup(_CODE).format(text)

    return {
        "say": say,
        "say_html": say_html,
        "bdi": bdi,
        "strong": strong,
        "code": code,
        "msg": msg,
        "language": words.language,
    }


def sender_name(language: str, community: str) -> str:
    """The From header's display name when the operator set none: ``invitebot for Oak
    Ridge HOA``."""
    return Words(language)(msg.EMAIL_FROM_NAME, community=community)
