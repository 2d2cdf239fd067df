"""Durable work: moves written down before their request, confirmed sets with a row per run, and channel messages
Slack could not update, each claimed with a lease so another process can finish what a stopped one began."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "move_intents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("task", sa.String(255)),
        sa.Column("previous_time", sa.DateTime(timezone=True)),
        sa.Column("new_time", sa.DateTime(timezone=True)),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("lease_token", sa.String(32)),
    )
    op.create_index("ix_move_intents_lease_until", "move_intents", ["lease_until"])
    op.create_table(
        "set_works",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("when_at", sa.DateTime(timezone=True)),
        sa.Column("shift_ms", sa.BigInteger),
        sa.Column("thread_ts", sa.String(32)),
        sa.Column("summary_channel", sa.String(32)),
        sa.Column("summary_ts", sa.String(32)),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("lease_token", sa.String(32)),
    )
    op.create_index("ix_set_works_due_at", "set_works", ["due_at"])
    op.create_table(
        "set_work_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("set_id", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("back_time", sa.DateTime(timezone=True)),
        sa.Column("given_time", sa.DateTime(timezone=True)),
        sa.Column("target_time", sa.DateTime(timezone=True)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(32)),
        sa.Column("env_title", sa.String(64)),
        sa.Column("detail", sa.Text),
        sa.Column("previous_time", sa.DateTime(timezone=True)),
        sa.Column("new_time", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_set_work_runs_set", "set_work_runs", ["set_id", "position"], unique=True)
    op.create_table(
        "message_updates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("ts", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("blocks", sa.Text),
        sa.Column("error", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("lease_token", sa.String(32)),
    )
    op.create_index("ux_message_updates_message", "message_updates", ["channel", "ts"], unique=True)
    op.create_index("ix_message_updates_next_attempt_at", "message_updates", ["next_attempt_at"])
