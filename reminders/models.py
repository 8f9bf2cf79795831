"""Cases, their events, and the statutory deadlines derived from them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, false
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
    # criminal | public_order (治安案件) | other_admin (其他行政案件); it never changes after import.
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
    # The person is held during the period (or was held when it started: keep_if_held rules).
    in_custody: Mapped[bool] = mapped_column(Boolean, default=False)
    # The total (in the rule's unit) an extension button chose; NULL: the rule's duration, or a typed date.
    extension_total: Mapped[int | None] = mapped_column(Integer)
    # The last day falls where the holiday schedule is not known yet, so it was not moved past holidays.
    provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Days the law does not count (鉴定, 听证) already added to due_at; the clock stopped at paused_since.
    excluded_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    paused_since: Mapped[datetime | None] = mapped_column()
    # Why the legal brigade is asked to look at this deadline (repeat | limit, @ the event's epoch
    # seconds: a later such event asks again), and who has.
    review: Mapped[str | None] = mapped_column(String(32))
    reviewed_by: Mapped[str | None] = mapped_column(String(32))
    # A fingerprint of the rule that computed due_at (reminders.rules.Rule.version).
    rule_version: Mapped[str | None] = mapped_column(String(16))
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
    def paused(self) -> bool:
        """Tells whether the clock is stopped (an expert examination or a hearing is under way)."""
        return self.paused_since is not None

    @property
    def review_code(self) -> str | None:
        """Returns why the deadline was put to the legal brigade (repeat | limit), or None."""
        return self.review.split("@", 1)[0] if self.review else None

    @property
    def under_review(self) -> bool:
        """Tells whether the legal brigade has yet to look at this deadline."""
        return self.review is not None and self.reviewed_by is None

    @property
    def active(self) -> bool:
        """Tells whether the deadline still runs."""
        return self.status in ACTIVE_STATUSES
