"""Cases, their events, and the statutory deadlines derived from them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class DeadlineStatus(StrEnum):
    """Where a deadline stands."""

    OPEN = "open"
    DONE = "done"
    EXTENDED = "extended"
    CANCELLED = "cancelled"


# Deadlines still running: these are reminded about and listed.
ACTIVE_STATUSES = (DeadlineStatus.OPEN.value, DeadlineStatus.EXTENDED.value)


class Case(Base):
    """A criminal or administrative case handled by one officer."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_number: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(256))
    case_type: Mapped[str] = mapped_column(String(16))
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
    supervisor_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    # 流窜 / 多次 / 结伙: they allow the 30-day arrest-request period (刑事诉讼法第九十一条第二款).
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    in_custody: Mapped[bool] = mapped_column(Boolean, default=False)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseEvent(Base):
    """Something that happened in a case on a given date (受案, 刑事拘留, 取保候审...)."""

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("case_id", "event", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column()
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Deadline(Base):
    """A statutory time limit running in a case, and where its reminders stand."""

    __tablename__ = "deadlines"
    __table_args__ = (
        UniqueConstraint("case_id", "rule_id", "starts_at"),
        Index("ix_deadlines_next_remind_at", "next_remind_at"),
        # Running deadlines by due time (the desk's overview and calendar): a range on due_at
        # reads only those ending soon, however long the history of handled ones grows.
        Index("ix_deadlines_status_due_at", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[str] = mapped_column(String(32))
    measure: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column()
    due_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=DeadlineStatus.OPEN.value, index=True)
    extended_to: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(String(64))
    snoozed_until: Mapped[datetime | None] = mapped_column()
    article: Mapped[str] = mapped_column(String(128))
    in_custody: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the scan should look at this deadline next; NULL once it no longer runs.
    next_remind_at: Mapped[datetime | None] = mapped_column()
    # The last reminder offset enqueued (e.g. "d-3", "h-1", "s1767225600" for a snooze).
    last_planned: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def effective_due(self) -> datetime:
        """Returns when the deadline runs out now, after any extension."""
        return self.extended_to or self.due_at

    @property
    def active(self) -> bool:
        """Tells whether the deadline still runs."""
        return self.status in ACTIVE_STATUSES
