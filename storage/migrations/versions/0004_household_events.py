"""Household events: the append-only log of what happened to each household (invited,
delivered, accepted, declined, expired, claimed, access code reset, ...), written in the same
transaction as the change, read by the head's history and the board.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

Written by hand and checked against autogenerate (no difference from the models on SQLite
and PostgreSQL):

- One new table, nothing else touched: no table of an earlier revision is copied on SQLite.
- ``ix_household_events_household_id_at_id`` serves a household's latest events, newest
  first (``storage.events.SqlHouseholdEvents.list_for_household``).
- Only ``household_id`` is a foreign key: the member and invitation ids name what an event
  was about, and the event keeps the names it shows, so it outlives those rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "household_events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("household_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=16), nullable=False),
        sa.Column("actor_member_id", sa.String(length=32), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("subject_member_id", sa.String(length=32), nullable=True),
        sa.Column("subject_invitation_id", sa.String(length=32), nullable=True),
        sa.Column("subject_name", sa.String(length=100), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=True),
        sa.Column("masked_contact", sa.String(length=320), nullable=False),
        sa.Column("via", sa.String(length=32), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["households.id"],
            name=op.f("fk_household_events_household_id_households"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household_events")),
    )
    op.create_index(
        op.f("ix_household_events_household_id_at_id"),
        "household_events",
        ["household_id", "at", "id"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_household_events_household_id_at_id"), table_name="household_events")
    op.drop_table("household_events")
