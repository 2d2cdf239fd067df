"""Who acted from which organisation: the user's own workspace, and the Enterprise Grid organisation."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("user_team_id", sa.String(32)))
        batch.add_column(sa.Column("enterprise_id", sa.String(32)))
