"""Knowledge: questions referred to the legal brigade and answer feedback.

Revision ID: 0002_knowledge
Revises: 0001_foundation
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision: str = "0002_knowledge"
down_revision: str | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kb_unanswered_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "officer_id",
            sa.Integer(),
            sa.ForeignKey("officers.id", name="fk_kb_unanswered_questions_officer_id_officers"),
            nullable=False,
        ),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column(
            "answered_by_id",
            sa.Integer(),
            sa.ForeignKey("officers.id", name="fk_kb_unanswered_questions_answered_by_id_officers"),
            nullable=True,
        ),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("saved_as_guidance", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kb_unanswered_questions"),
    )
    op.create_index("ix_kb_unanswered_questions_officer_id", "kb_unanswered_questions", ["officer_id"])
    op.create_index(
        "ix_kb_unanswered_questions_status_created", "kb_unanswered_questions", ["status", "created_at"]
    )
    op.create_table(
        "kb_answer_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "officer_id",
            sa.Integer(),
            sa.ForeignKey("officers.id", name="fk_kb_answer_feedback_officer_id_officers"),
            nullable=False,
        ),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("helpful", sa.Boolean(), nullable=False),
        sa.Column("record_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kb_answer_feedback"),
    )
    op.create_index("ix_kb_answer_feedback_officer_id", "kb_answer_feedback", ["officer_id"])
    op.create_index("ix_kb_answer_feedback_created_at", "kb_answer_feedback", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_kb_answer_feedback_created_at", table_name="kb_answer_feedback")
    op.drop_index("ix_kb_answer_feedback_officer_id", table_name="kb_answer_feedback")
    op.drop_table("kb_answer_feedback")
    op.drop_index("ix_kb_unanswered_questions_status_created", table_name="kb_unanswered_questions")
    op.drop_index("ix_kb_unanswered_questions_officer_id", table_name="kb_unanswered_questions")
    op.drop_table("kb_unanswered_questions")
