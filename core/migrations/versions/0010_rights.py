"""Rights protection: applications, evidence and its hash-chained custody log, timeline, outcomes,
per-unit time limits and the yearly number counter. The custody log is append-only and evidence
rows are never deleted: the database refuses it, on SQLite and PostgreSQL alike.

Revision ID: 0010_rights
Revises: 0009_hardening
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0010_rights"
down_revision = "0009_hardening"
branch_labels = None
depends_on = None

# (table, statements refused)
GUARDED = (("rights_custody", ("UPDATE", "DELETE")), ("rights_evidence", ("DELETE",)))


def upgrade() -> None:
    op.create_table(
        "rights_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_rights_counters")),
    )
    op.create_table(
        "rights_unit_limits",
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("accept_working_days", sa.Integer(), nullable=True),
        sa.Column("feedback_working_days", sa.Integer(), nullable=True),
        sa.Column("decide_days", sa.Integer(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_rights_unit_limits_unit_id_units"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("unit_id", name=op.f("pk_rights_unit_limits")),
    )
    op.create_table(
        "rights_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("draft_key", sa.String(length=32), nullable=True),
        sa.Column("applicant_id", sa.Integer(), nullable=False),
        sa.Column("applicant_unit_id", sa.Integer(), nullable=False),
        sa.Column("office_unit_id", sa.Integer(), nullable=True),
        sa.Column("handler_id", sa.Integer(), nullable=True),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=True),
        sa.Column("occurred_precision", sa.String(length=8), nullable=False),
        sa.Column("place", sa.Text(), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("account", sa.Text(), nullable=True),
        sa.Column("people", sa.Text(), nullable=True),
        sa.Column("help_wanted", sa.JSON(), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
        sa.Column("accepted_at", UTCDateTime(), nullable=True),
        sa.Column("investigating_at", UTCDateTime(), nullable=True),
        sa.Column("first_feedback_at", UTCDateTime(), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("rejected_at", UTCDateTime(), nullable=True),
        sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("accept_due_at", UTCDateTime(), nullable=True),
        sa.Column("feedback_due_at", UTCDateTime(), nullable=True),
        sa.Column("decide_due_at", UTCDateTime(), nullable=True),
        sa.Column("limits", sa.JSON(), nullable=False),
        sa.Column("waiting_since", UTCDateTime(), nullable=True),
        sa.Column("resume_status", sa.String(length=16), nullable=True),
        sa.Column("sla_marks", sa.JSON(), nullable=False),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("purged_at", UTCDateTime(), nullable=True),
        sa.Column("custody_seq", sa.Integer(), nullable=False),
        sa.Column("custody_head", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["applicant_id"], ["officers.id"], name=op.f("fk_rights_applications_applicant_id_officers")
        ),
        sa.ForeignKeyConstraint(
            ["applicant_unit_id"], ["units.id"], name=op.f("fk_rights_applications_applicant_unit_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["handler_id"], ["officers.id"], name=op.f("fk_rights_applications_handler_id_officers")
        ),
        sa.ForeignKeyConstraint(
            ["office_unit_id"], ["units.id"], name=op.f("fk_rights_applications_office_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_applications")),
        sa.UniqueConstraint("number", name=op.f("uq_rights_applications_number")),
        sa.UniqueConstraint("draft_key", name=op.f("uq_rights_applications_draft_key")),
    )
    op.create_index(
        op.f("ix_rights_applications_applicant_id"), "rights_applications", ["applicant_id"], unique=False
    )
    op.create_index(
        op.f("ix_rights_applications_applicant_unit_id"), "rights_applications", ["applicant_unit_id"], unique=False
    )
    op.create_index(
        op.f("ix_rights_applications_office_unit_id"), "rights_applications", ["office_unit_id"], unique=False
    )
    op.create_index(op.f("ix_rights_applications_ended_at"), "rights_applications", ["ended_at"], unique=False)
    op.create_index(
        "ix_rights_applications_status_submitted", "rights_applications", ["status", "submitted_at"], unique=False
    )
    op.create_table(
        "rights_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status_from", sa.String(length=16), nullable=True),
        sa.Column("status_to", sa.String(length=16), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("to_applicant", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["officers.id"], name=op.f("fk_rights_events_actor_id_officers")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["rights_applications.id"],
            name=op.f("fk_rights_events_application_id_rights_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_events")),
    )
    op.create_index(op.f("ix_rights_events_application_id"), "rights_events", ["application_id"], unique=False)
    op.create_table(
        "rights_outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["rights_applications.id"],
            name=op.f("fk_rights_outcomes_application_id_rights_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["officers.id"], name=op.f("fk_rights_outcomes_decided_by_id_officers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_outcomes")),
    )
    op.create_index(op.f("ix_rights_outcomes_application_id"), "rights_outcomes", ["application_id"], unique=False)
    op.create_table(
        "rights_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("file_id", sa.String(length=255), nullable=False),
        sa.Column("file_unique_id", sa.String(length=128), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("mime_type", sa.String(length=128), nullable=True),
        sa.Column("declared_size", sa.BigInteger(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reference_reason", sa.String(length=32), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("added_by_id", sa.Integer(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("purged_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["added_by_id"], ["officers.id"], name=op.f("fk_rights_evidence_added_by_id_officers")
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["rights_applications.id"],
            name=op.f("fk_rights_evidence_application_id_rights_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["rights_events.id"], name=op.f("fk_rights_evidence_event_id_rights_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_evidence")),
        sa.UniqueConstraint("application_id", "ordinal", name=op.f("uq_rights_evidence_application_id")),
    )
    op.create_index(op.f("ix_rights_evidence_sha256"), "rights_evidence", ["sha256"], unique=False)
    op.create_table(
        "rights_custody",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("evidence_id", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["rights_applications.id"],
            name=op.f("fk_rights_custody_application_id_rights_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["evidence_id"], ["rights_evidence.id"], name=op.f("fk_rights_custody_evidence_id_rights_evidence")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_custody")),
        sa.UniqueConstraint("application_id", "seq", name=op.f("uq_rights_custody_application_id")),
    )

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION rights_refuse_change() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        for table, verbs in GUARDED:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE {' OR '.join(verbs)} ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION rights_refuse_change()"
            )
    else:
        for table, verbs in GUARDED:
            for verb in verbs:
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, _verbs in GUARDED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS rights_refuse_change()")
    else:
        for table, verbs in GUARDED:
            for verb in verbs:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb.lower()}")
    op.drop_table("rights_custody")
    op.drop_index(op.f("ix_rights_evidence_sha256"), table_name="rights_evidence")
    op.drop_table("rights_evidence")
    op.drop_index(op.f("ix_rights_outcomes_application_id"), table_name="rights_outcomes")
    op.drop_table("rights_outcomes")
    op.drop_index(op.f("ix_rights_events_application_id"), table_name="rights_events")
    op.drop_table("rights_events")
    op.drop_index("ix_rights_applications_status_submitted", table_name="rights_applications")
    op.drop_index(op.f("ix_rights_applications_ended_at"), table_name="rights_applications")
    op.drop_index(op.f("ix_rights_applications_office_unit_id"), table_name="rights_applications")
    op.drop_index(op.f("ix_rights_applications_applicant_unit_id"), table_name="rights_applications")
    op.drop_index(op.f("ix_rights_applications_applicant_id"), table_name="rights_applications")
    op.drop_table("rights_applications")
    op.drop_table("rights_unit_limits")
    op.drop_table("rights_counters")
