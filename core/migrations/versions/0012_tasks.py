"""Tasks: series, occurrences, assignees, completions.

Revision ID: 0012_tasks
Revises: 0011_broadcasts
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401  # used once this revision has its tables
from alembic import op  # noqa: F401

revision = "0012_tasks"
down_revision = "0011_broadcasts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
