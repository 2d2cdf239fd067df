"""Protected environments: requests for approval, and who approved each audited move."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("user_team_id", sa.String(32)),
        sa.Column("enterprise_id", sa.String(32)),
        sa.Column("channel_id", sa.String(32)),
        sa.Column("surface", sa.String(16), nullable=False),
        sa.Column("input", sa.Text, nullable=False),
        sa.Column("thread_ts", sa.String(32)),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("runs", sa.Text, nullable=False),
        sa.Column("when_at", sa.DateTime(timezone=True)),
        sa.Column("reason", sa.Text),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(32)),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_channel", sa.String(32)),
        sa.Column("message_ts", sa.String(32)),
        sa.Column("check_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("lease_token", sa.String(32)),
    )
    op.create_index("ux_approval_requests_key", "approval_requests", ["key"], unique=True)
    op.create_index("ix_approval_requests_state_check_at", "approval_requests", ["state", "check_at"])
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("approved_by", sa.String(32)))
