"""Outbox messages that must leave one at a time, in order: a household's webhooks.

A message with an ``ordering_key`` gets its ``sequence`` when its unit of work commits, from
the ``outbox_sequences`` row of its key (one ``INSERT ... ON CONFLICT DO UPDATE ...
RETURNING`` a key). That row stays locked until the commit, so two transactions writing
messages of one key take their numbers in the order they commit, whatever order they began
or wrote their events in: a receiver learns what happened in the order it became true.

Why at the commit, and not when the message is written: a transaction locks rows as it goes
(a household, then an invitation), and a lock taken in the middle could close a cycle with
another transaction that holds the invitation and wants the counter. At the commit nothing
is taken after the counters, and they are taken in the order of their keys, so no cycle can
include them. SQLite runs one unit of work at a time anyway.

A dispatcher takes a message of a key only while no earlier one of that key is pending
(:func:`first_of_its_key`): while the first is being sent or waits to be retried, the rest
wait behind it, and the first one failed for good lets the next go.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Executable, Table, and_, bindparam, exists, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlmodel import col

from bot.domain import OutboxMessage, OutboxStatus

from .executors import BUILT_ONCE
from .tables import OutboxRow, OutboxSequenceRow

if TYPE_CHECKING:
    from .repositories import SqlUnitOfWork

_STATEMENTS: dict[str, Executable] = {}


def _take_numbers(dialect: str) -> Executable:
    statement = _STATEMENTS.get(dialect)
    if statement is None:
        table: Table = OutboxSequenceRow.__table__  # type: ignore[attr-defined]
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        upsert = insert(table).values(ordering_key=bindparam("key"), last=bindparam("count"))
        statement = upsert.on_conflict_do_update(
            index_elements=["ordering_key"],
            set_={"last": table.c["last"] + upsert.excluded["last"]},
        ).returning(table.c["last"])
        statement = statement.execution_options(**{BUILT_ONCE: True})
        _STATEMENTS[dialect] = statement
    return statement


async def assign_sequences(uow: SqlUnitOfWork, messages: list[OutboxMessage]) -> None:
    """Numbers ``messages`` within their keys (in the order they were written) and queues
    their inserts; called by the unit of work's commit, before its last writes go out."""
    held, messages[:] = list(messages), []
    by_key: dict[str, list[OutboxMessage]] = {}
    for message in held:
        by_key.setdefault(message.ordering_key, []).append(message)
    for key in sorted(by_key):  # one order for every transaction: no cycle among counters
        queued = by_key[key]
        rows = await uow.execute(_take_numbers(uow.dialect), {"key": key, "count": len(queued)})
        last = int(rows.scalar_one())
        for offset, message in enumerate(queued):
            message.sequence = last - len(queued) + 1 + offset
    outbox = uow.outbox
    for message in held:
        await outbox.add_sequenced(message)  # type: ignore[attr-defined]


def first_of_its_key() -> ColumnElement[bool]:
    """SQL: the message has no ordering key, or no earlier message of its key is pending."""
    earlier = aliased(OutboxRow)
    return or_(
        col(OutboxRow.ordering_key) == "",
        ~exists().where(
            and_(
                col(earlier.ordering_key) == col(OutboxRow.ordering_key),
                col(earlier.status) == OutboxStatus.PENDING.value,
                col(earlier.sequence) < col(OutboxRow.sequence),
            )
        ),
    )
