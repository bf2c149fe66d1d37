"""The initial schema: communities, households, members, chat identities, invitations, the
outbox and conversation state.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Generated with autogenerate against an empty SQLite database, then tidied by hand:

- ``households.head_member_id -> members.id`` closes a cycle (members refer to households), so
  that key is added once both tables exist (batch mode: SQLite cannot add a constraint in
  place).
- The expression indexes on ``lower(...)`` are written out here: autogenerate cannot see them
  on SQLite. They come last, because a SQLite batch operation re-creates a table from what it
  reflects, and SQLite reflection leaves expression indexes out; a later batch migration of
  ``communities`` or ``households`` must create them again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "communities",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("contact", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_communities")),
    )
    op.create_table(
        "households",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("access_code_hash", sa.String(length=64), nullable=False),
        sa.Column("head_name", sa.String(length=100), nullable=False),
        sa.Column("head_contact", sa.String(length=320), nullable=False),
        sa.Column("head_member_id", sa.String(length=32), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_households_community_id_communities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_households")),
        sa.UniqueConstraint("access_code_hash", name=op.f("uq_households_access_code_hash")),
    )
    op.create_table(
        "members",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("household_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_members_household_id_households")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
    )
    op.create_index(op.f("ix_members_household_id"), "members", ["household_id"])
    with op.batch_alter_table("households") as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_households_head_member_id_members"), "members", ["head_member_id"], ["id"]
        )

    op.create_table(
        "channel_identities",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=320), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("chat_id", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_channel_identities_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_identities")),
        sa.UniqueConstraint(
            "platform", "external_id", name=op.f("uq_channel_identities_platform_external_id")
        ),
    )
    op.create_index(op.f("ix_channel_identities_member_id"), "channel_identities", ["member_id"])

    op.create_table(
        "invitations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("household_id", sa.String(length=32), nullable=False),
        sa.Column("invited_by", sa.String(length=32), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("invitee_name", sa.String(length=100), nullable=False),
        sa.Column("contact", sa.String(length=320), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("delivery_status", sa.String(length=16), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("member_id", sa.String(length=32), nullable=True),
        sa.Column("origin_platform", sa.String(length=32), nullable=False),
        sa.Column("origin_chat_id", sa.String(length=320), nullable=False),
        sa.Column("send_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_invitations_household_id_households")
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"], ["members.id"], name=op.f("fk_invitations_invited_by_members")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_invitations_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
    )
    op.create_index(
        op.f("ix_invitations_household_id_contact_status"),
        "invitations",
        ["household_id", "contact", "status"],
    )
    op.create_index(
        op.f("ix_invitations_invited_by_created_at"), "invitations", ["invited_by", "created_at"]
    )
    op.create_index(
        op.f("ix_invitations_status_expires_at"), "invitations", ["status", "expires_at"]
    )

    op.create_table(
        "outbox",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("destination", sa.String(length=320), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("invitation_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provider_id", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["invitation_id"], ["invitations.id"], name=op.f("fk_outbox_invitation_id_invitations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(
        op.f("ix_outbox_destination_created_at"), "outbox", ["destination", "created_at"]
    )
    op.create_index(op.f("ix_outbox_invitation_id"), "outbox", ["invitation_id"])
    op.create_index(
        op.f("ix_outbox_status_next_attempt_at"), "outbox", ["status", "next_attempt_at"]
    )

    op.create_table(
        "conversations",
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=320), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("platform", "user_id", name=op.f("pk_conversations")),
    )

    op.create_index(
        "uq_communities_lower_name", "communities", [sa.text("lower(name)")], unique=True
    )
    op.create_index(
        "ix_households_community_id_lower_address",
        "households",
        ["community_id", sa.text("lower(address)")],
    )


def downgrade() -> None:
    op.drop_table("conversations")
    op.drop_table("outbox")
    op.drop_table("invitations")
    op.drop_table("channel_identities")
    with op.batch_alter_table("households") as batch_op:
        batch_op.drop_constraint(op.f("fk_households_head_member_id_members"), type_="foreignkey")
    op.drop_table("members")
    op.drop_table("households")
    op.drop_table("communities")
