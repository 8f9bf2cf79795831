"""Bot: conversation state, the update inbox and handled update ids.

Revision ID: 0005_bot
Revises: 0004_reminders
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0005_bot"
down_revision = "0004_reminders"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fsm_states",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=255), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_fsm_states")),
    )
    op.create_table(
        "bot_processed_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("bot_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("update_id", "bot_id", name=op.f("pk_bot_processed_updates")),
    )
    op.create_index(op.f("ix_bot_processed_updates_at"), "bot_processed_updates", ["at"], unique=False)
    op.create_table(
        "bot_inbox",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("bot_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("update_id", "bot_id", name=op.f("pk_bot_inbox")),
    )
    op.create_index(op.f("ix_bot_inbox_received_at"), "bot_inbox", ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_bot_inbox_received_at"), table_name="bot_inbox")
    op.drop_table("bot_inbox")
    op.drop_index(op.f("ix_bot_processed_updates_at"), table_name="bot_processed_updates")
    op.drop_table("bot_processed_updates")
    op.drop_table("fsm_states")
