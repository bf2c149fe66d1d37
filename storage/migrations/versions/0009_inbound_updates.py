"""Durable intake: ``inbound_updates``, the chat updates taken in and not yet done with.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

Written by hand and checked against autogenerate (no difference from the models on SQLite
and PostgreSQL):

- A new table; its rows live from the answer to the platform until the update's replies are
  sent, so it starts empty and stays near empty.
- The downgrade drops it, with whatever updates a crashed process left to handle in it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Defined here, not imported from storage.tables: a migration keeps the schema of its day.
UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inbound_updates",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=320), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", UTC_DATETIME, nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("lease_until", UTC_DATETIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("replies", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_updates")),
        sa.UniqueConstraint(
            "source", "external_id", name=op.f("uq_inbound_updates_source_external_id")
        ),
        # SQLite: AUTOINCREMENT, so an id is never given again once its row is gone.
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_inbound_updates_source_sender_id"),
        "inbound_updates",
        ["source", "sender", "id"],
    )
    op.create_index(
        op.f("ix_inbound_updates_source_lease_until"),
        "inbound_updates",
        ["source", "lease_until"],
    )
    op.create_index(op.f("ix_inbound_updates_received_at"), "inbound_updates", ["received_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_inbound_updates_received_at"), table_name="inbound_updates")
    op.drop_index(op.f("ix_inbound_updates_source_lease_until"), table_name="inbound_updates")
    op.drop_index(op.f("ix_inbound_updates_source_sender_id"), table_name="inbound_updates")
    op.drop_table("inbound_updates")
