"""Tasks: series, occurrences, assignees, completions, reopenings and live progress cards.

Revision ID: 0012_tasks
Revises: 0011_broadcasts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0012_tasks"
down_revision = "0011_broadcasts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_cards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["officer_id"],
            ["officers.id"],
            name=op.f("fk_task_cards_officer_id_officers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_cards")),
        sa.UniqueConstraint("officer_id", "scope", "target_id", name=op.f("uq_task_cards_officer_id")),
    )
    op.create_index(op.f("ix_task_cards_officer_id"), "task_cards", ["officer_id"], unique=False)
    op.create_index(op.f("ix_task_cards_target_id"), "task_cards", ["target_id"], unique=False)
    op.create_table(
        "task_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("case_number", sa.String(length=64), nullable=True),
        sa.Column("assignees", sa.JSON(), nullable=False),
        sa.Column("scope_unit_id", sa.Integer(), nullable=True),
        sa.Column("repeat", sa.String(length=24), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("due_time", sa.String(length=5), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=True),
        sa.Column("month_day", sa.Integer(), nullable=True),
        sa.Column("until_date", sa.Date(), nullable=True),
        sa.Column("max_count", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("occurrences_made", sa.Integer(), nullable=False),
        sa.Column("last_due_at", UTCDateTime(), nullable=True),
        sa.Column("creator_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("import_key", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["creator_id"], ["officers.id"], name=op.f("fk_task_series_creator_id_officers")
        ),
        sa.ForeignKeyConstraint(
            ["scope_unit_id"], ["units.id"], name=op.f("fk_task_series_scope_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_series")),
    )
    op.create_index(op.f("ix_task_series_creator_id"), "task_series", ["creator_id"], unique=False)
    op.create_index(op.f("ix_task_series_import_key"), "task_series", ["import_key"], unique=False)
    op.create_index("ix_task_series_status_last_due", "task_series", ["status", "last_due_at"], unique=False)
    op.create_table(
        "task_occurrences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("opens_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("next_escalate_at", UTCDateTime(), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["task_series.id"],
            name=op.f("fk_task_occurrences_series_id_task_series"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_occurrences")),
        sa.UniqueConstraint("series_id", "seq", name=op.f("uq_task_occurrences_series_id")),
    )
    op.create_index(op.f("ix_task_occurrences_due_at"), "task_occurrences", ["due_at"], unique=False)
    op.create_index(
        "ix_task_occurrences_next_escalate_at", "task_occurrences", ["next_escalate_at"], unique=False
    )
    op.create_index(op.f("ix_task_occurrences_series_id"), "task_occurrences", ["series_id"], unique=False)
    op.create_table(
        "task_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurrence_id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("completion_id", sa.Integer(), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("snoozed_until", UTCDateTime(), nullable=True),
        sa.Column("next_remind_at", UTCDateTime(), nullable=True),
        sa.Column("last_reminded_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["occurrence_id"],
            ["task_occurrences.id"],
            name=op.f("fk_task_assignments_occurrence_id_task_occurrences"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["officers.id"], name=op.f("fk_task_assignments_officer_id_officers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_assignments")),
        sa.UniqueConstraint("occurrence_id", "officer_id", name=op.f("uq_task_assignments_occurrence_id")),
    )
    op.create_index(
        "ix_task_assignments_next_remind_at", "task_assignments", ["next_remind_at"], unique=False
    )
    op.create_index(
        op.f("ix_task_assignments_occurrence_id"), "task_assignments", ["occurrence_id"], unique=False
    )
    op.create_index(
        "ix_task_assignments_officer_status", "task_assignments", ["officer_id", "status"], unique=False
    )
    op.create_table(
        "task_completions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("on_behalf", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("photo_file_id", sa.String(length=256), nullable=True),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["task_assignments.id"],
            name=op.f("fk_task_completions_assignment_id_task_assignments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_completions")),
    )
    op.create_index(
        op.f("ix_task_completions_assignment_id"), "task_completions", ["assignment_id"], unique=False
    )
    op.create_table(
        "task_reopenings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("completion_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["task_assignments.id"],
            name=op.f("fk_task_reopenings_assignment_id_task_assignments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["completion_id"],
            ["task_completions.id"],
            name=op.f("fk_task_reopenings_completion_id_task_completions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_reopenings")),
    )
    op.create_index(
        op.f("ix_task_reopenings_assignment_id"), "task_reopenings", ["assignment_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_task_reopenings_assignment_id"), table_name="task_reopenings")
    op.drop_table("task_reopenings")
    op.drop_index(op.f("ix_task_completions_assignment_id"), table_name="task_completions")
    op.drop_table("task_completions")
    op.drop_index("ix_task_assignments_officer_status", table_name="task_assignments")
    op.drop_index(op.f("ix_task_assignments_occurrence_id"), table_name="task_assignments")
    op.drop_index("ix_task_assignments_next_remind_at", table_name="task_assignments")
    op.drop_table("task_assignments")
    op.drop_index(op.f("ix_task_occurrences_series_id"), table_name="task_occurrences")
    op.drop_index("ix_task_occurrences_next_escalate_at", table_name="task_occurrences")
    op.drop_index(op.f("ix_task_occurrences_due_at"), table_name="task_occurrences")
    op.drop_table("task_occurrences")
    op.drop_index("ix_task_series_status_last_due", table_name="task_series")
    op.drop_index(op.f("ix_task_series_import_key"), table_name="task_series")
    op.drop_index(op.f("ix_task_series_creator_id"), table_name="task_series")
    op.drop_table("task_series")
    op.drop_index(op.f("ix_task_cards_target_id"), table_name="task_cards")
    op.drop_index(op.f("ix_task_cards_officer_id"), table_name="task_cards")
    op.drop_table("task_cards")
