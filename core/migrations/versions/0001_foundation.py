"""Foundation: units, officers, roles, enrollment codes and attempts, append-only audit log.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision: str = "0001_foundation"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "units",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("units.id", name="fk_units_parent_id_units"), nullable=True),
        sa.Column("quiet_hours", sa.String(11), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_units"),
        sa.UniqueConstraint("name", name="uq_units_name"),
    )
    op.create_index("ix_units_parent_id", "units", ["parent_id"])
    op.create_table(
        "officers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("badge", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id", name="fk_officers_unit_id_units"), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=True),
        sa.Column("reachable", sa.Boolean(), nullable=False),
        sa.Column("enrolled_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_officers"),
        sa.UniqueConstraint("badge", name="uq_officers_badge"),
        sa.UniqueConstraint("telegram_user_id", name="uq_officers_telegram_user_id"),
    )
    op.create_index("ix_officers_unit_id", "officers", ["unit_id"])
    op.create_table(
        "officer_roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "officer_id",
            sa.Integer(),
            sa.ForeignKey("officers.id", name="fk_officer_roles_officer_id_officers", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("role", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_officer_roles"),
        sa.UniqueConstraint("officer_id", "role", name="uq_officer_roles_officer_id"),
    )
    op.create_index("ix_officer_roles_officer_id", "officer_roles", ["officer_id"])
    op.create_index("ix_officer_roles_role", "officer_roles", ["role"])
    op.create_table(
        "enrollment_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "officer_id", sa.Integer(), sa.ForeignKey("officers.id", name="fk_enrollment_codes_officer_id_officers"),
            nullable=False,
        ),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_enrollment_codes"),
        sa.UniqueConstraint("code_hash", name="uq_enrollment_codes_code_hash"),
    )
    op.create_index("ix_enrollment_codes_officer_id", "enrollment_codes", ["officer_id"])
    op.create_table(
        "enrollment_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_enrollment_attempts"),
    )
    op.create_index("ix_enrollment_attempts_telegram_user_id", "enrollment_attempts", ["telegram_user_id"])
    op.create_index("ix_enrollment_attempts_at", "enrollment_attempts", ["at"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column(
            "officer_id", sa.Integer(), sa.ForeignKey("officers.id", name="fk_audit_events_officer_id_officers"),
            nullable=True,
        ),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(64), nullable=True),
        sa.Column("target_id", sa.String(128), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_actor", "audit_events", ["actor"])
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_index("ix_audit_events_officer_id", "audit_events", ["officer_id"])

    # The audit log is append-only: the database itself refuses to change or remove a row.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'audit_events is append-only';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    for table in ("audit_events", "enrollment_attempts", "enrollment_codes", "officer_roles", "officers", "units"):
        op.drop_table(table)
