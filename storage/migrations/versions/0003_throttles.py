"""Throttles: counters in fixed windows for wrong access codes and invitation links typed in
chat, requests to the invitation page per client address, and automatic text replies per
number, shared by every process through the database.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

Written by hand and checked against autogenerate (no difference from the models on SQLite
and PostgreSQL):

- One new table, nothing else touched: no table of an earlier revision is copied on SQLite.
- ``ix_throttles_window_started_at`` serves the dispatcher's hourly purge of old counters.
- The key is the primary key, so counting is one ``INSERT ... ON CONFLICT (key) DO UPDATE``
  (see ``storage.repositories.SqlThrottles.hit``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "throttles",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_throttles")),
    )
    op.create_index(op.f("ix_throttles_window_started_at"), "throttles", ["window_started_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_throttles_window_started_at"), table_name="throttles")
    op.drop_table("throttles")
