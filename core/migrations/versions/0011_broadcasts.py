"""Risk-tip broadcasts: messages, audiences, recipients, acknowledgements.

Revision ID: 0011_broadcasts
Revises: 0010_rights
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401  # used once this revision has its tables
from alembic import op  # noqa: F401

revision = "0011_broadcasts"
down_revision = "0010_rights"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
