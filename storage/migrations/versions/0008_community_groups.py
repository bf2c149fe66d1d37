"""A community's residents' group: ``communities.telegram_group`` and ``slack_channel``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

Written by hand and checked against autogenerate (no difference from the models on SQLite
and PostgreSQL):

- Two columns, added in place with "" for every existing community (no group yet).
- The downgrade drops them; the groups then stop being gated (set them again after).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for column in ("telegram_group", "slack_channel"):
        op.add_column(
            "communities",
            sa.Column(column, sa.String(length=320), server_default="", nullable=False),
        )


def downgrade() -> None:
    op.drop_column("communities", "slack_channel")
    op.drop_column("communities", "telegram_group")
