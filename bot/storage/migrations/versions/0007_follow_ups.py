"""Summary cards that follow their run: one row per posted card of a DELAYED run, claimed with a lease."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("ts", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("shown_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shown_status", sa.String(32), nullable=False),
        sa.Column("card", sa.Text, nullable=False),
        sa.Column("check_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("lease_token", sa.String(32)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ux_follow_ups_message", "follow_ups", ["channel", "ts"], unique=True)
    op.create_index("ix_follow_ups_check_at", "follow_ups", ["check_at"])
    op.create_index("ix_follow_ups_run", "follow_ups", ["run_id"])
