"""Knowledge: tables the answers need beyond the referral queue and feedback.

Revision ID: 0014_knowledge
Revises: 0013_desk
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401  # used once this revision has its tables
from alembic import op  # noqa: F401

revision = "0014_knowledge"
down_revision = "0013_desk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
