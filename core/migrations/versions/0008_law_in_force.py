"""Reminders: the law in force, complete deadline chains, holidays as data.

Deadlines remember what an extension button chose, whether their last day could be checked
against an official holiday schedule, the days the law does not count (鉴定, 听证) and whether
their clock is paused, why the legal brigade is asked to review them, and which version of the
rule computed them. Administrative cases, all of which were counted as public-order (治安) cases
until now, say so: ``public_order``; other administrative cases are ``other_admin``.

Revision ID: 0008_law_in_force
Revises: 0007_outbox_topic
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0008_law_in_force"
down_revision = "0007_outbox_topic"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deadlines") as batch:
        batch.add_column(sa.Column("extension_total", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("provisional", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("excluded_days", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("paused_since", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("review", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("reviewed_by", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("rule_version", sa.String(length=16), nullable=True))
    op.execute("UPDATE cases SET case_type = 'public_order' WHERE case_type = 'administrative'")


def downgrade() -> None:
    op.execute("UPDATE cases SET case_type = 'administrative' WHERE case_type IN ('public_order', 'other_admin')")
    with op.batch_alter_table("deadlines") as batch:
        batch.drop_column("rule_version")
        batch.drop_column("reviewed_by")
        batch.drop_column("review")
        batch.drop_column("paused_since")
        batch.drop_column("excluded_days")
        batch.drop_column("provisional")
        batch.drop_column("extension_total")
