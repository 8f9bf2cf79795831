"""Bot: how many starts found an inbox update unfinished (an update that kills the process is given up).

Revision ID: 0006_inbox_recoveries
Revises: 0005_bot
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_inbox_recoveries"
down_revision = "0005_bot"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bot_inbox") as batch:
        batch.add_column(sa.Column("recoveries", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("bot_inbox") as batch:
        batch.drop_column("recoveries")
