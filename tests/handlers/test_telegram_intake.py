"""Telegram updates survive the process that took them in (:mod:`handlers.intake`): answered
updates that were never handled are taken over when their lease ends, a step is never taken
twice, lost replies are sent, and a person's updates keep their order across processes. The
processes here are two intakes with their own adapters on one database and one clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiogram.types import Update
from sqlalchemy import text

from bot import messages as msg
from bot.delivery import Dispatcher
from bot.domain import InboundUpdate
from bot.intake import Inbound
from handlers.intake import MAX_AGE
from handlers.telegram.bot import TelegramAdapter, make_bot
from handlers.telegram.updates import UpdateIntake
from tests.handlers import test_telegram
from tests.handlers.test_telegram import ANA, MARIA, SAM, Site, head, message_update
from tests.handlers.test_telegram_group import outbox as outbox_fixture
from tests.handlers.test_telegram_group import with_group
from tests.handlers.test_telegram_members import home_of_two

fake = test_telegram.fake
site = test_telegram.site
outbox = outbox_fixture

LEASE = timedelta(seconds=15)


@pytest.fixture
async def other(site: Site) -> AsyncIterator[UpdateIntake]:
    """Another serve process on the same database: its own bot session and intake."""
    adapter = TelegramAdapter(site.world.engine, make_bot(site.fake.token, api_base=site.fake.url))
    intake = UpdateIntake(
        adapter=adapter, uow_factory=site.database.uow, clock=site.world.clock, lease=LEASE
    )
    try:
        yield intake
    finally:
        await intake.drain()
        await adapter.close()


async def taken_in(intake: UpdateIntake, data: dict[str, Any]) -> InboundUpdate:
    """What the webhook does before it answers 200: the update stored, not yet handled."""
    update = Update.model_validate(data, context={"bot": intake.adapter.bot})
    stored = await intake.accept(update, None)
    assert stored is not None
    return stored


async def left(site: Site) -> list[InboundUpdate]:
    async with site.database.uow() as uow:
        found = [await uow.updates.get(n) for n in range(1, 50)]
    return [u for u in found if u is not None]


def texts(site: Site, chat_id: int) -> list[str]:
    """What the chat shows: the messages the Bot API took (a failed call has no id)."""
    return [str(c.params["text"]) for c in site.shown(chat_id) if c.message_id is not None]


async def test_updates_answered_but_never_handled_are_taken_over_after_the_lease(
    site: Site, other: UpdateIntake
) -> None:
    """The process answered Telegram 200 for Ana's two messages and died before handling
    them: another takes them over once the lease ends, and handles them in order, once."""
    await head(site)
    dying = site.hook.intake
    await taken_in(dying, message_update(ANA, "/invite"))
    await taken_in(dying, message_update(ANA, "Email"))
    await taken_in(dying, message_update(MARIA, "/help"))
    assert await other.durable.take_over() == 0  # still held: the process may be alive
    site.world.clock.advance(seconds=LEASE.total_seconds())
    assert await other.durable.take_over() == 3
    await other.drain()
    assert texts(site, ANA)[-2:] == [msg.ASK_METHOD, msg.ASK_NAME]
    assert len(texts(site, MARIA)) == 1
    assert await left(site) == []
    # Telegram never sends them again, and if it did, nothing would happen twice.
    await site.post(message_update(ANA, "Email", update_id=None))
    site.world.clock.advance(seconds=LEASE.total_seconds())
    assert await other.durable.take_over() == 0


async def test_replies_lost_after_the_step_committed_are_sent_and_the_step_not_taken_again(
    site: Site, other: UpdateIntake
) -> None:
    """The step committed, then sendMessage failed (as if the process died right there):
    taken over, the update sends the replies its step stored, and the conversation moves
    once."""
    await head(site)
    await site.say(ANA, "/invite")
    site.fake.fail_next("sendMessage", "Internal Server Error", 500)
    stored = await taken_in(site.hook.intake, message_update(ANA, "Email"))
    await site.hook.intake.handle(stored)
    assert texts(site, ANA)[-1] == msg.ASK_METHOD  # the question never reached Ana
    [kept] = await left(site)
    assert kept.replies is not None and msg.ASK_NAME in kept.replies
    site.world.clock.advance(seconds=LEASE.total_seconds())
    assert await other.durable.take_over() == 1
    await other.drain()
    assert texts(site, ANA)[-1] == msg.ASK_NAME
    assert await left(site) == []
    # "Email" was taken as the method once, not also as Maria's name.
    await site.say(ANA, "Maria Ruiz")
    assert "Maria Ruiz" in texts(site, ANA)[-1]


async def test_a_later_update_in_another_process_waits_for_the_earlier_one(
    site: Site, other: UpdateIntake
) -> None:
    """Ana's "/invite" reached one process and "Email" another: the second waits until the
    first has taken its step, then answers; the order holds."""
    await head(site)
    first = await taken_in(site.hook.intake, message_update(ANA, "/invite"))
    second = await taken_in(other, message_update(ANA, "Email"))
    waiting = asyncio.create_task(other.handle(second))
    await asyncio.sleep(0.3)
    assert not waiting.done() and texts(site, ANA)[-1] != msg.ASK_NAME
    await site.hook.intake.handle(first)
    await asyncio.wait_for(waiting, timeout=10)
    assert texts(site, ANA)[-2:] == [msg.ASK_METHOD, msg.ASK_NAME]
    assert await left(site) == []


async def test_an_earlier_update_whose_process_died_is_taken_over_by_the_later_ones(
    site: Site, other: UpdateIntake
) -> None:
    """The process holding Ana's "/invite" died; her "Email" came to a live process. Once
    the dead lease ends, the live one takes "/invite" over and handles it first."""
    await head(site)
    await taken_in(site.hook.intake, message_update(ANA, "/invite"))
    second = await taken_in(other, message_update(ANA, "Email"))
    site.world.clock.advance(seconds=LEASE.total_seconds())
    await other.durable.renew()  # the live process keeps "Email"
    await other.handle(second)
    assert texts(site, ANA)[-2:] == [msg.ASK_METHOD, msg.ASK_NAME]
    assert await left(site) == []


async def test_an_update_that_keeps_failing_waits_longer_each_time_then_is_given_up(
    site: Site, other: UpdateIntake, caplog: pytest.LogCaptureFixture
) -> None:
    """The Bot API answering 500 again and again: the update is taken again after a lease,
    then after twice that, and so on, and given up once too old to matter."""
    await head(site)
    for _ in range(10):
        site.fake.fail_next("sendMessage", "Internal Server Error", 500)
    stored = await taken_in(site.hook.intake, message_update(ANA, "/help"))
    await site.hook.intake.handle(stored)  # fails: put off by one lease
    for wait in (LEASE, 2 * LEASE, 4 * LEASE):
        site.world.clock.advance(seconds=wait.total_seconds() - 1)
        assert await other.durable.take_over() == 0  # not yet
        site.world.clock.advance(seconds=1)
        assert await other.durable.take_over() == 1  # and it fails again
        await other.drain()
        assert len(await left(site)) == 1
    site.world.clock.advance(seconds=MAX_AGE.total_seconds())
    assert await other.durable.take_over() == 1
    assert await left(site) == []
    assert "gave up telegram update" in caplog.text


async def test_a_live_process_keeps_what_it_holds(site: Site, other: UpdateIntake) -> None:
    await head(site)
    stored = await taken_in(site.hook.intake, message_update(ANA, "/help"))
    for _ in range(4):
        site.world.clock.advance(seconds=LEASE.total_seconds() / 2)
        await site.hook.intake.durable.renew()
        assert await other.durable.take_over() == 0
    await site.hook.intake.handle(stored)
    assert await left(site) == []


async def test_a_reply_telegram_refuses_for_good_is_not_retried(site: Site) -> None:
    """Telegram refusing a message for good (the person blocked the bot: 403) is not worth
    another try: the update is done with."""
    await head(site)
    site.fake.fail_next("sendMessage", "Forbidden: bot was blocked by the user", 403)
    stored = await taken_in(site.hook.intake, message_update(ANA, "/help"))
    await site.hook.intake.handle(stored)
    assert await left(site) == []


async def test_a_join_request_taken_again_is_answered_once(
    site: Site, other: UpdateIntake, outbox: Dispatcher
) -> None:
    """The answer committed, then the process died before forgetting the update: taken
    over, the request is not answered a second time."""
    await home_of_two(site, outbox)
    group = await with_group(site)
    stored = await taken_in(site.hook.intake, site.fake.join_request(group, SAM, update_id=7001))
    await site.hook.intake.durable.handler(stored, Inbound.of(stored))  # ... and no finish
    once = await outbox_size(site)
    site.world.clock.advance(seconds=LEASE.total_seconds())
    assert await other.durable.take_over() == 1
    await other.drain()
    assert await outbox_size(site) == once and await left(site) == []


async def outbox_size(site: Site) -> int:
    async with site.database.engine.connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM outbox"))).scalar_one())
