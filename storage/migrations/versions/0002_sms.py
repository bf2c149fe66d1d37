"""SMS: phone statuses (STOP, WRONG), inbound webhook receipts, an outbox message's structured
data, an invitation's provider message id, and the indexes their lookups use.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Written by hand and checked against autogenerate (no difference from the models on SQLite
and PostgreSQL):

- The new NOT NULL columns carry a server default (``'{}'`` and ``''``), so adding them to a
  table that has rows fills those rows in; SQLite adds such a column in place, no batch copy.
- ``ix_invitations_contact_status`` serves ``list_pending_for_contact``, which looks across
  households: the existing ``(household_id, contact, status)`` index cannot, as its first
  column is the household.
- The downgrade drops the two columns in batch mode (a table copy on SQLite). Only
  ``outbox`` and ``invitations`` are copied, neither of which has an expression index (see
  the note in 0001 about ``communities`` and ``households``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "phone_statuses",
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("wrong_number", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_phone_statuses")),
    )
    op.create_table(
        "inbound_receipts",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=320), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "external_id", name=op.f("pk_inbound_receipts")),
    )
    op.create_index(op.f("ix_inbound_receipts_received_at"), "inbound_receipts", ["received_at"])

    op.add_column("outbox", sa.Column("data", sa.JSON(), server_default="{}", nullable=False))
    op.create_index(op.f("ix_outbox_provider_id"), "outbox", ["provider_id"])

    op.add_column(
        "invitations",
        sa.Column("provider_message_id", sa.String(length=255), server_default="", nullable=False),
    )
    op.create_index(op.f("ix_invitations_contact_status"), "invitations", ["contact", "status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_invitations_contact_status"), table_name="invitations")
    with op.batch_alter_table("invitations") as batch_op:
        batch_op.drop_column("provider_message_id")

    op.drop_index(op.f("ix_outbox_provider_id"), table_name="outbox")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("data")

    op.drop_index(op.f("ix_inbound_receipts_received_at"), table_name="inbound_receipts")
    op.drop_table("inbound_receipts")
    op.drop_table("phone_statuses")
