"""The desk: sign-in links and web sessions.

Revision ID: 0013_desk
Revises: 0012_tasks
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401  # used once this revision has its tables
from alembic import op  # noqa: F401

revision = "0013_desk"
down_revision = "0012_tasks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
