"""The desk: single-use sign-in links, desk sessions (tokens stored hashed), running deadlines by due time.

Revision ID: 0013_desk
Revises: 0012_tasks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0013_desk"
down_revision = "0012_tasks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desk_signin_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "officer_id",
            sa.Integer(),
            sa.ForeignKey("officers.id", name="fk_desk_signin_links_officer_id_officers"),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("issued_via", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("voided_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_desk_signin_links"),
        sa.UniqueConstraint("token_hash", name="uq_desk_signin_links_token_hash"),
    )
    op.create_index("ix_desk_signin_links_officer_id", "desk_signin_links", ["officer_id"])
    op.create_table(
        "desk_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "officer_id",
            sa.Integer(),
            sa.ForeignKey("officers.id", name="fk_desk_sessions_officer_id_officers"),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column(
            "link_id",
            sa.Integer(),
            sa.ForeignKey("desk_signin_links.id", name="fk_desk_sessions_link_id_desk_signin_links"),
            nullable=True,
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_desk_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_desk_sessions_token_hash"),
    )
    op.create_index("ix_desk_sessions_officer_id", "desk_sessions", ["officer_id"])
    # The overview and the reminder calendar read the running deadlines that end soon.
    op.create_index("ix_deadlines_status_due_at", "deadlines", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_deadlines_status_due_at", table_name="deadlines")
    op.drop_index("ix_desk_sessions_officer_id", table_name="desk_sessions")
    op.drop_table("desk_sessions")
    op.drop_index("ix_desk_signin_links_officer_id", table_name="desk_signin_links")
    op.drop_table("desk_signin_links")
