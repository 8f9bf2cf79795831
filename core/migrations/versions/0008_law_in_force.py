"""Knowledge and reminders: the law in force, complete deadline chains, holidays as data.

Revision ID: 0008_law_in_force
Revises: 0007_outbox_topic
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401  # used once this revision has its tables
from alembic import op  # noqa: F401

revision = "0008_law_in_force"
down_revision = "0007_outbox_topic"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
