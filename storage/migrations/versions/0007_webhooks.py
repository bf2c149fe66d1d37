"""Signed webhooks leave through the outbox, in order per household.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

Written by hand and checked against autogenerate (no difference from the models on SQLite
and PostgreSQL):

- ``outbox.ordering_key`` (the household, for a webhook; "" for every existing message, which
  waits for nothing) and ``outbox.sequence`` (its place in the key's order), added in place,
  with the index a dispatcher reads to find whether an earlier message of the key is pending.
- ``outbox_sequences``: the last sequence given to each key.
- The downgrade drops them; webhooks still pending then go out in no particular order.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "outbox",
        sa.Column("ordering_key", sa.String(length=32), server_default="", nullable=False),
    )
    op.add_column("outbox", sa.Column("sequence", sa.BigInteger(), nullable=True))
    op.create_index(
        op.f("ix_outbox_ordering_key_status_sequence"),
        "outbox",
        ["ordering_key", "status", "sequence"],
    )
    op.create_table(
        "outbox_sequences",
        sa.Column("ordering_key", sa.String(length=32), nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("ordering_key", name=op.f("pk_outbox_sequences")),
    )


def downgrade() -> None:
    op.drop_table("outbox_sequences")
    op.drop_index(op.f("ix_outbox_ordering_key_status_sequence"), table_name="outbox")
    op.drop_column("outbox", "sequence")
    op.drop_column("outbox", "ordering_key")
