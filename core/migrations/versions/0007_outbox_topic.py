"""Outbox: the topic a push belongs to (a broadcast, a task, an application), to count its deliveries.

Revision ID: 0007_outbox_topic
Revises: 0006_inbox_recoveries
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_outbox_topic"
down_revision = "0006_inbox_recoveries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("topic", sa.String(64), nullable=True))
        batch.create_index("ix_outbox_topic_status", ["topic", "status"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_topic_status")
        batch.drop_column("topic")
