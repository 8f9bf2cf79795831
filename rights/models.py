"""Rights-protection applications, their evidence, custody log, timeline, outcomes and time limits."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class Status(StrEnum):
    """Where an application stands."""

    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    INVESTIGATING = "investigating"
    WAITING = "waiting"  # for the applicant: the time limits are paused
    DECIDED = "decided"
    CLOSED = "closed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


FINAL_STATUSES = frozenset({Status.CLOSED, Status.REJECTED, Status.WITHDRAWN})
OPEN_STATUSES = frozenset(Status) - FINAL_STATUSES
# The office is working on it (the clocks run): not waiting, not decided, not final.
RUNNING_STATUSES = frozenset({Status.SUBMITTED, Status.ACCEPTED, Status.INVESTIGATING})


class EvidenceStatus(StrEnum):
    """What Frontline holds of one piece of evidence."""

    STORED = "stored"  # the file is in the evidence store, by its SHA-256
    REFERENCE = "reference"  # only the messenger's file id: the Bot API would not hand the file over
    PURGED = "purged"  # the retention period ended; the file is gone, its hash and log stay


class RightsApplication(Base):
    """One officer's application for protection (维权申请)."""

    __tablename__ = "rights_applications"
    __table_args__ = (
        Index("ix_rights_applications_status_submitted", "status", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)  # WQ-2026-000123
    # the draft it was submitted from: the same draft submitted twice is the one application
    draft_key: Mapped[str | None] = mapped_column(String(32), unique=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
    # the applicant's unit when they applied; the office of that unit chain handles it
    applicant_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    # the unit whose rights officers handle it now (None: no rights office up the chain)
    office_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    type: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16), default=Status.SUBMITTED.value)

    occurred_at: Mapped[datetime | None] = mapped_column()
    occurred_precision: Mapped[str] = mapped_column(String(8), default="minute")  # minute | day
    place: Mapped[str | None] = mapped_column(Text)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    account: Mapped[str | None] = mapped_column(Text)  # what happened, in the applicant's words
    people: Mapped[str | None] = mapped_column(Text)
    help_wanted: Mapped[list[str]] = mapped_column(JSON, default=list)

    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column()
    investigating_at: Mapped[datetime | None] = mapped_column()
    first_feedback_at: Mapped[datetime | None] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    rejected_at: Mapped[datetime | None] = mapped_column()
    withdrawn_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column(index=True)  # closed, rejected or withdrawn

    # time limits: the due moments of the clocks that run, in UTC (None: not running)
    accept_due_at: Mapped[datetime | None] = mapped_column()
    feedback_due_at: Mapped[datetime | None] = mapped_column()
    decide_due_at: Mapped[datetime | None] = mapped_column()
    # the limits the clocks were started with, e.g. {"accept": 1, "feedback": 3, "decide": 30}
    limits: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    waiting_since: Mapped[datetime | None] = mapped_column()
    resume_status: Mapped[str | None] = mapped_column(String(16))  # status to return to after waiting
    # reminders and escalations already sent, by "rem|esc:<limit>:<due>", so each goes out once
    sla_marks: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)

    reject_reason: Mapped[str | None] = mapped_column(Text)
    purged_at: Mapped[datetime | None] = mapped_column()

    # the head of the custody log: its length and the hash of its newest entry
    custody_seq: Mapped[int] = mapped_column(Integer, default=0)
    custody_head: Mapped[str | None] = mapped_column(String(64))

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def final(self) -> bool:
        """Tells whether the application is closed, rejected or withdrawn."""
        return self.status in FINAL_STATUSES


class RightsEvidence(Base):
    """One photo, video, voice note or document given with an application (never deleted)."""

    __tablename__ = "rights_evidence"
    __table_args__ = (UniqueConstraint("application_id", "ordinal"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("rights_applications.id"))
    ordinal: Mapped[int] = mapped_column(Integer)  # 1, 2, 3 … within the application
    kind: Mapped[str] = mapped_column(String(16))  # photo | video | voice | document
    purpose: Mapped[str] = mapped_column(String(16), default="evidence")  # evidence | account
    file_id: Mapped[str] = mapped_column(String(255))  # the messenger's id, to send it again
    file_unique_id: Mapped[str | None] = mapped_column(String(128))
    filename: Mapped[str | None] = mapped_column(String(255))
    mime_type: Mapped[str | None] = mapped_column(String(128))
    declared_size: Mapped[int | None] = mapped_column(BigInteger)  # as the messenger said
    size: Mapped[int | None] = mapped_column(BigInteger)  # bytes stored
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    reference_reason: Mapped[str | None] = mapped_column(String(32))  # too_big | unavailable | missing
    event_id: Mapped[int | None] = mapped_column(ForeignKey("rights_events.id"))  # the reply it came with
    added_by_id: Mapped[int] = mapped_column(ForeignKey("officers.id"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    purged_at: Mapped[datetime | None] = mapped_column()


class RightsCustodyEvent(Base):
    """One entry of an application's custody log, hash-chained to the one before (append-only)."""

    __tablename__ = "rights_custody"
    __table_args__ = (UniqueConstraint("application_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("rights_applications.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # received | stored | reference | viewed | downloaded | exported | purged
    evidence_id: Mapped[int | None] = mapped_column(ForeignKey("rights_evidence.id"))
    sha256: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class RightsEvent(Base):
    """One step of an application's timeline: a change of status, a note, a request, a reply …"""

    __tablename__ = "rights_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("rights_applications.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    status_from: Mapped[str | None] = mapped_column(String(16))
    status_to: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    to_applicant: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RightsOutcome(Base):
    """One outcome of the office's decision (澄清正名, 法律援助, 移送追责 …)."""

    __tablename__ = "rights_outcomes"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("rights_applications.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    # the clearance notice, the case number of the referral, the reason for no support, or a note
    detail: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    decided_by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class RightsUnitLimits(Base):
    """A unit's own time limits for its rights office (None: the setting, or the parent unit's)."""

    __tablename__ = "rights_unit_limits"

    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), primary_key=True)
    accept_working_days: Mapped[int | None] = mapped_column(Integer)
    feedback_working_days: Mapped[int | None] = mapped_column(Integer)
    decide_days: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64))


class RightsCounter(Base):
    """The last application number given out in a year."""

    __tablename__ = "rights_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)
