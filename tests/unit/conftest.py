from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bot import messages as msg
from bot.context import CoreContext
from bot.delivery import Dispatcher, RetryPolicy
from bot.domain import Community, Household, Limits
from bot.engine import Engine
from bot.language import Words, language_of
from bot.ports import UnitOfWorkFactory
from bot.replies import Actor
from bot.secrets import new_access_code, normalise_access_code
from tests.chat import Person, RecordingSender, recording_routes
from tests.fakes import FakeClock

SECRET = b"test-secret-key-for-invitebot-0123456789"


@dataclass
class World:
    """A whole bot over one store: the engine, the outbox dispatcher and a recording sender."""

    uow_factory: UnitOfWorkFactory
    clock: FakeClock = field(default_factory=FakeClock)
    limits: Limits = field(default_factory=Limits)
    sender: RecordingSender = field(default_factory=RecordingSender)

    def __post_init__(self) -> None:
        self.ctx = CoreContext(
            clock=self.clock,
            secret_key=SECRET,
            public_base_url="https://hoa.example",
            hoa_contact="the Oak Ridge HOA board",
            limits=self.limits,
        )
        self.engine = Engine(uow_factory=self.uow_factory, ctx=self.ctx)
        self.dispatcher = Dispatcher(
            uow_factory=self.uow_factory,
            ctx=self.ctx,
            senders=recording_routes(self.sender),
            retry=RetryPolicy(max_attempts=3),
        )

    async def deliver(self) -> None:
        while await self.dispatcher.run_once():
            pass

    async def household(
        self,
        address: str = "12 Oak Lane",
        community: str = "Oak Ridge HOA",
        head_name: str = "Ana Lopez",
        timezone: str = "",
    ) -> str:
        """Create a household (and its community if new, in ``timezone``); return the
        head's access code."""
        code = new_access_code()
        async with self.uow_factory() as uow:
            found = await uow.communities.get_by_name(community)
            if found is None:
                found = Community(
                    name=community,
                    contact="board@oakridge.example",
                    created_at=self.clock.now(),
                    timezone=timezone,
                )
                await uow.communities.add(found)
            normalised = normalise_access_code(code)
            assert normalised is not None
            await uow.households.add(
                Household(
                    community_id=found.id,
                    address=address,
                    access_code_hash=self.ctx.code_hash(normalised),
                    head_name=head_name,
                    created_at=self.clock.now(),
                )
            )
            await uow.commit()
        return code

    def person(
        self, user_id: str, name: str = "", platform: str = "console", language: str = ""
    ) -> Person:
        """Someone chatting, whose app is set to ``language`` (a platform's tag, "" for none)."""
        return Person(
            self.engine,
            Actor(
                platform=platform,
                user_id=user_id,
                chat_id=user_id,
                display_name=name or user_id,
                language=language,
            ),
        )

    async def head(
        self,
        user_id: str = "ana",
        address: str = "12 Oak Lane",
        community: str = "Oak Ridge HOA",
        *,
        language: str = "",
        timezone: str = "",
    ) -> Person:
        code = await self.household(address=address, community=community, timezone=timezone)
        person = self.person(user_id, "Ana", language=language)
        await person.say(f"/join {code}")
        claimed = Words(language_of(language) or "en")(
            msg.CLAIMED, address=address, community=community
        )
        assert claimed in person.text, person.text
        return person


@pytest.fixture
def world(uow_factory: UnitOfWorkFactory) -> World:
    return World(uow_factory=uow_factory)
