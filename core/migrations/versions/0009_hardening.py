"""Hardening: fixes to identity, cases and operations.

Revision ID: 0009_hardening
Revises: 0008_law_in_force
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401  # used once this revision has its tables
from alembic import op  # noqa: F401

revision = "0009_hardening"
down_revision = "0008_law_in_force"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
