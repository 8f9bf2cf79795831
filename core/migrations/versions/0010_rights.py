"""Rights protection: applications, evidence and its custody log, the office's review.

Revision ID: 0010_rights
Revises: 0009_hardening
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401  # used once this revision has its tables
from alembic import op  # noqa: F401

revision = "0010_rights"
down_revision = "0009_hardening"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
