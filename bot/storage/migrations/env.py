"""Alembic's environment: runs the revisions on the connection bot.storage.db.migrate hands over (in
`config.attributes["connection"]`, already in the transaction that holds the migration lock)."""

from __future__ import annotations

import logging

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy.engine import Connection

from bot.storage.db import metadata

log = logging.getLogger("bot.storage.db")


def _applied(ctx: MigrationContext, step: MigrationInfo, heads: object, run_args: object) -> None:
    if not step.is_stamp:
        log.info("applied database migration %s", step.up_revision_id)


connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("the migrations run through bot.storage.db.migrate (reschedule-bot migrate), on its connection")
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters a table by copying it: revisions use op.batch_alter_table
    on_version_apply=_applied,
)
with context.begin_transaction():
    context.run_migrations()
