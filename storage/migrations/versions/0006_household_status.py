"""The board deactivates a household: ``households.deactivated_at``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

Written by hand and checked against autogenerate (no difference from the models on SQLite
and PostgreSQL):

- One nullable column, added in place (no table copy on SQLite): every existing household is
  active (claimed) or not activated yet, as before.
- The downgrade drops it in place (SQLite 3.35 or later can); a deactivated household would
  read as active again under 0005, so reactivate first or go back from a backup.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "households", sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("households", "deactivated_at")
