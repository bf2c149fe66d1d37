"""Households change: a member who left or was removed keeps their row (``left_at``), and a
household holds the head request its head made (``head_request_member_id``,
``head_request_at``) until it is answered, cancelled or lapses.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

Written by hand and checked against autogenerate (no difference from the models on SQLite
and PostgreSQL):

- Three nullable columns, added in place (no table copy on SQLite); existing members are
  current (``left_at`` NULL) and no household has a head request.
- A claimed household's access code is spent (its hash replaced by ``used:<id>``, which no
  code hashes to): from 0005 on, a code the board issues for a claimed household hands the
  household over to whoever types it, so the old, used codes must admit no one.
- ``ix_households_head_request_at`` serves the dispatcher's sweep of lapsed requests.
- ``head_request_member_id`` is not a foreign key (like the event log's member ids): it is
  cleared whenever the member it names leaves.
- The downgrade drops them in place (SQLite 3.35 or later can). 0004 has no way to say
  that a member left, so under it a member who had left shows as a member again (without a
  chat account): go back only from a backup, or knowing that.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("members", sa.Column("left_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "households", sa.Column("head_request_member_id", sa.String(length=32), nullable=True)
    )
    op.add_column(
        "households", sa.Column("head_request_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(op.f("ix_households_head_request_at"), "households", ["head_request_at"])
    # An access code is spent once it admitted a head (bot/households.py USED_CODE): from
    # now on a code the board issues for a claimed household hands it over, so the codes
    # claimed households still hold must stop working.
    op.execute(
        "UPDATE households SET access_code_hash = 'used:' || id WHERE head_member_id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_households_head_request_at"), table_name="households")
    # ALTER TABLE ... DROP COLUMN in place (SQLite 3.35 and later): a batch copy of
    # households would lose its expression index on lower(address).
    op.drop_column("households", "head_request_at")
    op.drop_column("households", "head_request_member_id")
    op.drop_column("members", "left_at")
