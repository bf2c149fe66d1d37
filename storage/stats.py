"""Counts for monitoring (``GET /metrics``): invitations by state and the outbox by status.

Read straight from the tables, so every process reports the same figures however many serve
the app. Each is one ``GROUP BY`` over an indexed column, cheap enough for a scrape every few
seconds even with millions of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain import InvitationStatus, OutboxStatus

from .tables import InvitationRow, OutboxRow


@dataclass(frozen=True)
class StateCounts:
    invitations: dict[str, int]
    """By effective state: a pending invitation past its time counts as expired."""
    outbox: dict[str, int]
    """By status: pending, sent, failed."""
    outbox_due: int
    """Pending messages whose time to be sent has come: the queue's depth."""
    oldest_due: datetime | None
    """When the longest-waiting due message was due."""


async def state_counts(engine: AsyncEngine, *, now: datetime) -> StateCounts:
    invitation = InvitationRow.__table__.c  # type: ignore[attr-defined]
    outbox = OutboxRow.__table__.c  # type: ignore[attr-defined]
    async with engine.connect() as connection:
        by_status: dict[str, int] = dict(
            (
                await connection.execute(
                    select(invitation.status, func.count()).group_by(invitation.status)
                )
            ).all()
        )
        overdue = (
            await connection.execute(
                select(func.count()).where(
                    and_(
                        invitation.status == InvitationStatus.PENDING.value,
                        invitation.expires_at <= now,
                    )
                )
            )
        ).scalar_one()
        messages: dict[str, int] = dict(
            (
                await connection.execute(
                    select(outbox.status, func.count()).group_by(outbox.status)
                )
            ).all()
        )
        due, oldest = (
            await connection.execute(
                select(func.count(), func.min(outbox.next_attempt_at)).where(
                    and_(
                        outbox.status == OutboxStatus.PENDING.value,
                        outbox.next_attempt_at <= now,
                    )
                )
            )
        ).one()
    invitations = {status.value: int(by_status.get(status.value, 0)) for status in InvitationStatus}
    invitations[InvitationStatus.PENDING.value] -= overdue
    invitations[InvitationStatus.EXPIRED.value] += overdue
    return StateCounts(
        invitations=invitations,
        outbox={status.value: int(messages.get(status.value, 0)) for status in OutboxStatus},
        outbox_due=int(due),
        oldest_due=oldest,
    )
