"""Languages and time zones: ``communities.timezone``; ``language`` on ``conversations``,
``members`` and ``invitations``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

Written by hand and checked against autogenerate (no difference from the models on SQLite
and PostgreSQL):

- Four columns, added in place with "" for every existing row: a community in the server's
  default zone (``INVITEBOT_DEFAULT_TIMEZONE``), people and invitations in the default
  language (English), as before.
- The downgrade drops them: everyone reads English in UTC again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LANGUAGE = ("conversations", "members", "invitations")


def upgrade() -> None:
    op.add_column(
        "communities",
        sa.Column("timezone", sa.String(length=64), server_default="", nullable=False),
    )
    for table in _LANGUAGE:
        op.add_column(
            table, sa.Column("language", sa.String(length=16), server_default="", nullable=False)
        )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN, also on SQLite (3.35+): batch mode would copy the table
    # and lose the expression index on communities' names.
    for table in reversed(_LANGUAGE):
        op.drop_column(table, "language")
    op.drop_column("communities", "timezone")
