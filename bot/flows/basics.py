"""``/help``, ``/cancel`` and the Cancel button every question carries."""

from __future__ import annotations

import re

from .. import messages as msg
from ..replies import Reply
from .common import CANCEL_PAYLOAD, IDLE, Flow, Turn

_CANCEL = re.compile(rf"^{CANCEL_PAYLOAD}$")


class Basics(Flow):
    async def help(self, turn: Turn, args: str) -> list[Reply]:
        hoa = self.ctx.hoa_contact
        if turn.who.household is not None:
            community = await turn.uow.communities.get(turn.who.household.community_id)
            if community is not None and community.contact:
                hoa = turn.words(msg.HOA_AT, community=community.name, contact=community.contact)
        return [Reply(turn.words(msg.HELP, hoa=hoa))]

    async def cancel(self, turn: Turn, args: str) -> list[Reply]:
        if turn.state == IDLE:
            return [Reply(turn.words(msg.NOTHING_TO_CANCEL))]
        turn.end()
        return [Reply(turn.words(msg.FLOW_CANCELLED))]

    @staticmethod
    def is_cancel(payload: str) -> bool:
        return _CANCEL.match(payload) is not None

    async def press_cancel(self, turn: Turn) -> list[Reply]:
        if turn.state == IDLE:
            return [Reply(turn.words(msg.STALE_BUTTON))]
        turn.end()
        return [Reply(turn.words(msg.FLOW_CANCELLED), replace_previous=True)]
