"""Digest slots already posted: the process whose insert returns the slot posts it, the others don't."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_posts",
        sa.Column("slot", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("posted_by", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
