"""The audit trail: one row per attempt to move a run, whatever its outcome."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32)),
        sa.Column("surface", sa.String(16), nullable=False),
        sa.Column("environment", sa.String(64)),
        sa.Column("run_id", sa.String(64)),
        sa.Column("task", sa.String(255)),
        sa.Column("previous_time", sa.DateTime(timezone=True)),
        sa.Column("new_time", sa.DateTime(timezone=True)),
        sa.Column("input", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_audit_events_user_at", "audit_events", ["user_id", "at"])
    op.create_index("ix_audit_events_run_at", "audit_events", ["run_id", "at"])
