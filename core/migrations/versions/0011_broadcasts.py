"""Risk-tip broadcasts: messages, recipients, acknowledgements.

Revision ID: 0011_broadcasts
Revises: 0010_rights
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0011_broadcasts"
down_revision = "0010_rights"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("audience", sa.String(length=1000), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("media_kind", sa.String(length=16), nullable=True),
        sa.Column("media_file_id", sa.String(length=255), nullable=True),
        sa.Column("media_path", sa.String(length=1000), nullable=True),
        sa.Column("media_filename", sa.String(length=255), nullable=True),
        sa.Column("articles", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("send_at", UTCDateTime(), nullable=False),
        sa.Column("retry_at", UTCDateTime(), nullable=True),
        sa.Column("failure", sa.String(length=500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        sa.Column("status_message_id", sa.BigInteger(), nullable=True),
        sa.Column("status_edits", sa.Integer(), nullable=False),
        sa.Column("status_edited_at", UTCDateTime(), nullable=True),
        sa.Column("status_shown", sa.String(length=64), nullable=True),
        sa.Column("reminder_rounds", sa.Integer(), nullable=False),
        sa.Column("last_reminded_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["sender_id"], ["officers.id"], name=op.f("fk_broadcasts_sender_id_officers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
    )
    op.create_index(op.f("ix_broadcasts_sender_id"), "broadcasts", ["sender_id"], unique=False)
    op.create_index(op.f("ix_broadcasts_created_at"), "broadcasts", ["created_at"], unique=False)
    op.create_index("ix_broadcasts_status_send_at", "broadcasts", ["status", "send_at"], unique=False)
    op.create_table(
        "broadcast_recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name=op.f("fk_broadcast_recipients_broadcast_id_broadcasts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["officers.id"], name=op.f("fk_broadcast_recipients_officer_id_officers")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_broadcast_recipients_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_recipients")),
        sa.UniqueConstraint("broadcast_id", "officer_id", name=op.f("uq_broadcast_recipients_broadcast_id")),
    )
    op.create_index(
        op.f("ix_broadcast_recipients_officer_id"), "broadcast_recipients", ["officer_id"], unique=False
    )
    op.create_table(
        "broadcast_acks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name=op.f("fk_broadcast_acks_broadcast_id_broadcasts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["officer_id"], ["officers.id"], name=op.f("fk_broadcast_acks_officer_id_officers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_acks")),
        sa.UniqueConstraint("broadcast_id", "officer_id", name=op.f("uq_broadcast_acks_broadcast_id")),
    )
    op.create_index(op.f("ix_broadcast_acks_officer_id"), "broadcast_acks", ["officer_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_broadcast_acks_officer_id"), table_name="broadcast_acks")
    op.drop_table("broadcast_acks")
    op.drop_index(op.f("ix_broadcast_recipients_officer_id"), table_name="broadcast_recipients")
    op.drop_table("broadcast_recipients")
    op.drop_index("ix_broadcasts_status_send_at", table_name="broadcasts")
    op.drop_index(op.f("ix_broadcasts_created_at"), table_name="broadcasts")
    op.drop_index(op.f("ix_broadcasts_sender_id"), table_name="broadcasts")
    op.drop_table("broadcasts")
