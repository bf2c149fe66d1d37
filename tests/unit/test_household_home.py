"""The household page a platform shows beside the chat (Slack's home tab), asked of the core
read-only: ``Engine.household_home``; and whose pages to bring up to date after something
happened to an invitation (``households.head_accounts_for_invitation``)."""

from __future__ import annotations

from bot import messages as msg
from bot.households import head_accounts_for_invitation
from bot.ports import UnitOfWork, UnitOfWorkFactory
from tests.unit.conftest import World
from tests.unit.test_household_cards import invite


class CountingCommits:
    """A unit-of-work factory that counts the commits made through it."""

    def __init__(self, inner: UnitOfWorkFactory) -> None:
        self.inner = inner
        self.commits = 0

    def __call__(self) -> UnitOfWork:
        uow = self.inner()
        commit = uow.commit

        async def counted() -> None:
            self.commits += 1
            await commit()

        uow.commit = counted  # type: ignore[method-assign]
        return uow


async def test_a_heads_home_is_their_household_cards_with_buttons(world: World) -> None:
    ana = await world.head()
    await invite(world, ana, "sms Maria Ruiz +1 202 555 0199")
    await ana.say("/household")
    home = await world.engine.household_home(ana.actor)
    assert home.is_head
    assert list(home.replies) == ana.last
    assert [b.label for r in home.replies for b in r.buttons] == [
        "History",
        "Rename",  # Ana's own card: the head is never removed or made head
        "Copy Invite Link",
        "Resend",
        "Cancel Invite",
    ]


async def test_a_members_home_has_no_buttons_and_a_strangers_says_how_to_join(
    world: World,
) -> None:
    ana = await world.head()
    link = await invite(world, ana, "sms Maria Ruiz +1 202 555 0199")
    maria = world.person("maria", "Maria")
    await maria.say(f"/join {link}")
    home = await world.engine.household_home(maria.actor)
    assert not home.is_head
    assert "Ana Lopez (head)" in home.replies[0].text and "Maria Ruiz" in home.replies[0].text
    assert [b.label for r in home.replies for b in r.buttons] == ["Leave household"]

    stranger = await world.engine.household_home(world.person("sam").actor)
    assert not stranger.is_head
    assert [r.text for r in stranger.replies] == [msg.NOT_IN_HOUSEHOLD]


async def test_the_home_is_read_only(world: World) -> None:
    ana = await world.head()
    await ana.say("/invite sms")
    async with world.uow_factory() as uow:
        before = await uow.conversations.get(platform="console", user_id="ana")
    world.clock.advance(hours=1)
    counting = CountingCommits(world.uow_factory)
    world.engine.uow_factory = counting
    home = await world.engine.household_home(ana.actor)
    assert home.is_head and counting.commits == 0
    async with world.uow_factory() as uow:
        after = await uow.conversations.get(platform="console", user_id="ana")
    assert before is not None and after is not None
    assert (after.state, after.data, after.updated_at) == (
        before.state,
        before.data,
        before.updated_at,
    )
    # The flow goes on where it was.
    await ana.say("Maria Ruiz")
    assert "mobile" in ana.text.lower()


async def test_the_head_accounts_of_an_invitation_on_one_platform(world: World) -> None:
    ana = await world.head()
    await invite(world, ana, "sms Maria Ruiz +1 202 555 0199")
    async with world.uow_factory() as uow:
        [household] = await uow.households.list()
        [invitation] = await uow.invitations.list_for_household(household.id)
        [account] = await head_accounts_for_invitation(uow, invitation.id, platform="console")
        assert account.external_id == "ana" and account.chat_id == "ana"
        assert await head_accounts_for_invitation(uow, invitation.id, platform="slack") == []
        assert await head_accounts_for_invitation(uow, "0" * 32, platform="console") == []
