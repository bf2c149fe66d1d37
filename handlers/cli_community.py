"""``invitebot admin community set|show``: a community's residents' group, and what the bot
may do there. Registered on the admin app when this module is imported (``handlers.cli_admin``
imports it last).

``set --telegram-group`` looks the group up through the Bot API at once and reads the bot's
rights there; it stores the group only when the bot is an administrator with every right the
gate needs, and otherwise says exactly which are missing. It then makes the invite link to
share with residents: a link that creates join requests, which the bot answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from .cli_admin import _fail, _out, _run, community_app, load_settings
from .terminal import printable

if TYPE_CHECKING:
    from aiogram import Bot

    from .settings import Settings
    from .slack.group import ChannelCheck as SlackChannelCheck
    from .telegram.group import GroupCheck

Community = Annotated[str, typer.Option(help="The community's name.")]
LINK_NAME = "Residents (approved by invitebot)"


@community_app.command("set")
def community_set(
    ctx: typer.Context,
    community: Community,
    telegram_group: Annotated[
        str | None,
        typer.Option(
            help="The residents' Telegram group: its chat id (-100...) or @username. The bot "
            "must be an administrator there, allowed to invite users and to ban users."
        ),
    ] = None,
    clear_telegram_group: Annotated[
        bool, typer.Option("--clear-telegram-group", help="Stop gating the Telegram group.")
    ] = False,
    slack_channel: Annotated[
        str | None,
        typer.Option(
            help="The residents' Slack channel id (C... or G...). The app must be in it, with "
            "channels:manage (public) or groups:write (private)."
        ),
    ] = None,
    clear_slack_channel: Annotated[
        bool, typer.Option("--clear-slack-channel", help="Stop gating the Slack channel.")
    ] = False,
    timezone: Annotated[
        str | None,
        typer.Option(
            help='The community\'s time zone, an IANA name such as America/Los_Angeles ("" '
            "for INVITEBOT_DEFAULT_TIMEZONE): every time residents read is shown in it."
        ),
    ] = None,
) -> None:
    """Set the community's time zone, or gate its residents' group: only members of its
    active households get in."""
    settings = load_settings()
    if telegram_group is not None and clear_telegram_group:
        _fail("Give --telegram-group or --clear-telegram-group, not both.", code=2)
    if slack_channel is not None and clear_slack_channel:
        _fail("Give --slack-channel or --clear-slack-channel, not both.", code=2)
    if (
        telegram_group is None
        and slack_channel is None
        and not clear_telegram_group
        and not clear_slack_channel
        and timezone is None
    ):
        _fail(
            "Nothing to change: give --timezone, --telegram-group, --slack-channel, or a "
            "--clear- option.",
            code=2,
        )
    if timezone is not None:
        _set_timezone(ctx, settings, community, timezone)
    if telegram_group is not None or clear_telegram_group:
        _set_telegram(ctx, settings, community, telegram_group)
    if slack_channel is not None or clear_slack_channel:
        _set_slack(ctx, settings, community, slack_channel)


def _set_timezone(ctx: typer.Context, settings: Settings, community: str, timezone: str) -> None:
    from bot import admin

    done = _run(
        ctx,
        settings,
        lambda uow, clock: admin.set_timezone(uow, community_name=community, timezone=timezone),
    )
    zone = done.timezone or f"{settings.default_timezone} (INVITEBOT_DEFAULT_TIMEZONE)"
    _out().print(
        f"{escape(done.name)} is in {escape(zone)} time now: its residents read every time in "
        "it from their next message on."
    )


def _set_telegram(
    ctx: typer.Context, settings: Settings, community: str, telegram_group: str | None
) -> None:
    from bot import group_access

    if telegram_group is None:
        done = _run(
            ctx,
            settings,
            lambda uow, clock: group_access.set_telegram_group(
                uow, community_name=community, group=""
            ),
        )
        _out().print(
            f"{escape(done.name)} has no residents' Telegram group now: the bot answers no "
            "join requests for it."
        )
        return
    from .telegram.bot import bot_from_settings

    bot = bot_from_settings(settings)
    if bot is None:
        _fail("Set INVITEBOT_TELEGRAM_BOT_TOKEN first: the bot answers the group's requests.")
    import asyncio

    check, link = asyncio.run(_check_and_link(bot, telegram_group))
    if check.problem:
        _fail(f"{check.problem}. {_advice()}")
    if check.missing:
        lacking = "; ".join(_right_names(check.missing))
        _fail(f"The bot is an administrator of “{check.title}” but may not: {lacking}. {_advice()}")
    done = _run(
        ctx,
        settings,
        lambda uow, clock: group_access.set_telegram_group(
            uow, community_name=community, group=str(check.chat_id)
        ),
    )
    console = _out()
    title = escape(printable(check.title, limit=200))
    console.print(
        f"The residents' Telegram group of {escape(done.name)} is now “{title}” "
        f"({check.chat_id}). The bot lets in the members of its active households and "
        "declines anyone else.",
        soft_wrap=True,
    )
    if link:
        console.print(f"Share this link with residents (it asks the bot first): {link}")


def _set_slack(
    ctx: typer.Context, settings: Settings, community: str, slack_channel: str | None
) -> None:
    from bot import group_access

    channel = ""
    name = ""
    if slack_channel is not None:
        found = _check_slack(settings, slack_channel)
        if found.problem:
            _fail(f"{found.problem}, so it cannot gate the channel.")
        channel, name = found.channel_id, found.name
    done = _run(
        ctx,
        settings,
        lambda uow, clock: group_access.set_slack_channel(
            uow, community_name=community, channel=channel
        ),
    )
    if not channel:
        _out().print(f"{escape(done.name)} has no residents' Slack channel now.")
        return
    _out().print(
        f"The residents' Slack channel of {escape(done.name)} is now "
        f"{escape(printable(name, limit=100))} ({channel}). Members of its active households "
        "who use Slack are added when they join and removed when they leave.",
        soft_wrap=True,
    )


def _check_slack(settings: Settings, channel: str) -> SlackChannelCheck:
    from .slack.client import make_client
    from .slack.group import check_channel

    if settings.slack_bot_token is None:
        _fail("Set INVITEBOT_SLACK_BOT_TOKEN first: the app adds and removes people.")
    client = make_client(
        settings.slack_bot_token.get_secret_value(),
        api_base=settings.slack_api_base,
        wait_out_rate_limits=False,
    )
    import asyncio

    return asyncio.run(check_channel(client, channel))


@community_app.command("show")
def community_show(ctx: typer.Context, community: Community) -> None:
    """Show a community: its contact, its households by status, and its residents' group
    with what the bot may do there now."""
    from bot import roster

    settings = load_settings()
    overview = _run(
        ctx,
        settings,
        lambda uow, clock: roster.show_community(uow, community_name=community),
    )
    shown = overview.community
    counts = ", ".join(f"{count} {status.value}" for status, count in overview.households.items())
    lines = [
        f"[bold]{escape(shown.name)}[/]",
        f"HOA contact: {escape(shown.contact) or '(none: INVITEBOT_HOA_CONTACT is used)'}",
        f"Households: {counts}",
        "Time zone: "
        + escape(shown.timezone or f"{settings.default_timezone} (INVITEBOT_DEFAULT_TIMEZONE)"),
    ]
    if not shown.telegram_group:
        lines.append("Residents' Telegram group: none (invitebot admin community set)")
    else:
        lines.append(f"Residents' Telegram group: {escape(shown.telegram_group)}")
        lines.append(f"  {escape(printable(_rights_now(settings, shown.telegram_group)))}")
    if not shown.slack_channel:
        lines.append("Residents' Slack channel: none (invitebot admin community set)")
    else:
        lines.append(f"Residents' Slack channel: {escape(shown.slack_channel)}")
        lines.append(f"  {escape(printable(_slack_now(settings, shown.slack_channel)))}")
    _out().print("\n".join(lines), soft_wrap=True)


def _rights_now(settings: Settings, group: str) -> str:
    """What the bot may do in the group now, in one line (the board reads it when the log
    says the bot lost its rights)."""
    from .telegram.bot import bot_from_settings

    bot = bot_from_settings(settings)
    if bot is None:
        return "(set INVITEBOT_TELEGRAM_BOT_TOKEN to check the bot's rights there)"

    async def check() -> GroupCheck:
        from .telegram.group import check_group

        try:
            return await check_group(bot, group)
        finally:
            await bot.session.close()

    import asyncio

    found = asyncio.run(check())
    if found.problem:
        return f"Problem: {found.problem}. {_advice()}"
    if found.missing:
        return f"Problem: the bot may not: {'; '.join(_right_names(found.missing))}. {_advice()}"
    title = printable(found.title, limit=200)
    return f"“{title}”: the bot may approve, decline and take people out there."


def _slack_now(settings: Settings, channel: str) -> str:
    if settings.slack_bot_token is None:
        return "(set INVITEBOT_SLACK_BOT_TOKEN to check the app's rights there)"
    found = _check_slack(settings, channel)
    if found.problem:
        return f"Problem: {found.problem}."
    return f"{found.name}: the app may add and remove people there."


async def _check_and_link(bot: Bot, group: str) -> tuple[GroupCheck, str]:
    from .telegram.group import check_group, join_request_link

    try:
        check = await check_group(bot, group)
        link = await join_request_link(bot, check.chat_id, name=LINK_NAME) if check.usable else ""
        return check, link
    finally:
        await bot.session.close()


def _right_names(missing: tuple[str, ...]) -> list[str]:
    from .telegram.group import RIGHTS

    return [RIGHTS[right] for right in missing]


def _advice() -> str:
    return (
        "In Telegram: the group's settings, Administrators, add the bot (or edit it) and allow "
        "“Invite users via link” and “Ban users”; then run this again."
    )
