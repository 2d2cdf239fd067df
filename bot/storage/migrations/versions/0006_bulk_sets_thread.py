"""A set from a shortcut on a message: its summary goes in that message's thread."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bulk_sets") as batch:
        batch.add_column(sa.Column("thread_ts", sa.String(32)))
