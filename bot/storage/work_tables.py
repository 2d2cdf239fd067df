"""The tables of durable work: what a process has promised to carry out, kept so that another process can finish
it after a deploy or a crash. Created by the Alembic revision 0011 (bot/storage/migrations/versions/).

- `move_intents` (bot/storage/intents.py): a move written down before its request goes to Trigger.dev, deleted once
  its outcome is recorded; one left behind by a process that died is read back by the next one.
- `set_works` and `set_work_runs` (bot/storage/set_work.py): a confirmed set and a row per run with its state.
- `message_updates` (bot/storage/message_updates.py): "message X should show this", for a channel message Slack
  could not update when it was asked to.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

move_intents = Table(
    "move_intents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("environment", String(64), nullable=False),
    Column("task", String(255)),
    Column("previous_time", DateTime(timezone=True)),  # the run's start time before the move
    Column("new_time", DateTime(timezone=True)),  # the time asked for (none: start now)
    Column("actor", Text, nullable=False),  # JSON: who asked, from where (bot/storage/intents.py)
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True)),
    Column("lease_token", String(32)),
    Index("ix_move_intents_lease_until", "lease_until"),
)

set_works = Table(
    "set_works",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("actor", Text, nullable=False),  # JSON: who confirmed it, from where
    Column("when_at", DateTime(timezone=True)),  # the time every run goes to (none: an Undo or a push, each its own)
    Column("shift_ms", BigInteger),  # a push: how far each run goes back from its own time
    Column("thread_ts", String(32)),
    Column("summary_channel", String(32)),  # the set's one message in the channel, once posted
    Column("summary_ts", String(32)),
    Column("total", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # running, done
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True)),
    Column("lease_token", String(32)),
    Index("ix_set_works_due_at", "due_at"),
)

set_work_runs = Table(
    "set_work_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("set_id", Integer, nullable=False),
    Column("position", Integer, nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("environment", String(64), nullable=False),
    Column("back_time", DateTime(timezone=True)),  # an Undo: the time this run goes back to
    Column("given_time", DateTime(timezone=True)),  # an Undo: the time the move gave it (still there, or skipped)
    Column("target_time", DateTime(timezone=True)),  # a push: this run's own new time
    Column("state", String(16), nullable=False),  # pending, sending, done
    Column("outcome", String(32)),
    Column("env_title", String(64)),
    Column("detail", Text),
    Column("previous_time", DateTime(timezone=True)),
    Column("new_time", DateTime(timezone=True)),
    Index("ix_set_work_runs_set", "set_id", "position", unique=True),
)

message_updates = Table(
    "message_updates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(32), nullable=False),
    Column("ts", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("blocks", Text),  # JSON
    Column("error", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("lease_until", DateTime(timezone=True)),
    Column("lease_token", String(32)),
    Index("ux_message_updates_message", "channel", "ts", unique=True),
    Index("ix_message_updates_next_attempt_at", "next_attempt_at"),
)
