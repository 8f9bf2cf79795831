"""Tasks: a series (its rule and template), its occurrences, one assignment per officer per
occurrence, the completions and reopenings of assignments, and the creators' live progress cards.

A one-off task is a series with the rule ``none`` and one occurrence. Occurrences are created one
at a time, when the previous one falls due or is done (tasks.schedule), never far ahead; each
keeps its own title, description, priority and due time, so changing a series changes this and
later occurrences and leaves the earlier ones as they were.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class SeriesStatus(StrEnum):
    """Whether a series still makes occurrences."""

    ACTIVE = "active"
    ENDED = "ended"  # its rule has no more occurrences
    CANCELLED = "cancelled"  # cancelled from some occurrence on


class OccurrenceStatus(StrEnum):
    """Where one occurrence of a task stands (overdue is open past its due time)."""

    OPEN = "open"
    DONE = "done"  # every assignee has completed it
    CANCELLED = "cancelled"


class AssignmentStatus(StrEnum):
    """Where one officer's part of an occurrence stands."""

    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"  # the occurrence was cancelled while this was open
    REMOVED = "removed"  # the officer was taken off the task while this was open


class Priority(StrEnum):
    """How pressing a task is; high-priority pushes are not held back by quiet hours."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class Source(StrEnum):
    """Where a task comes from."""

    RECTIFICATION = "rectification"  # 执法问题整改
    CASE = "case"  # 案件跟进
    TRAINING = "training"  # 培训
    OTHER = "other"  # 其他


class TaskSeries(Base):
    """A task as its creator gave it: the template of its occurrences and its rule."""

    __tablename__ = "task_series"
    __table_args__ = (
        # The scan asks "active series whose latest occurrence is due": status, then the time.
        Index("ix_task_series_status_last_due", "status", "last_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16), default=Priority.NORMAL.value)
    source: Mapped[str] = mapped_column(String(32), default=Source.OTHER.value)
    case_number: Mapped[str | None] = mapped_column(String(64))
    # Who the task is for, as given: badges, "unit:NAME" (with sub-units), "role:ROLE". Resolved
    # again for every occurrence, so officers who join or leave a unit are followed.
    assignees: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Units and roles are expanded within this unit's subtree (the creator's reach); NULL: everywhere.
    scope_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    repeat: Mapped[str] = mapped_column(String(24))
    start_date: Mapped[date] = mapped_column(Date)
    due_time: Mapped[str] = mapped_column(String(5))  # HH:MM, local
    weekday: Mapped[int | None] = mapped_column(Integer)
    month_day: Mapped[int | None] = mapped_column(Integer)
    until_date: Mapped[date | None] = mapped_column(Date)
    max_count: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=SeriesStatus.ACTIVE.value)
    occurrences_made: Mapped[int] = mapped_column(Integer, default=0)
    last_due_at: Mapped[datetime | None] = mapped_column()
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"), index=True)
    created_by: Mapped[str] = mapped_column(String(64))  # the audit actor: a badge or "cli"
    # A fingerprint of the imported row, so importing the same file again adds nothing.
    import_key: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaskOccurrence(Base):
    """One due time of a series, with its own copy of the template."""

    __tablename__ = "task_occurrences"
    __table_args__ = (
        UniqueConstraint("series_id", "seq"),
        Index("ix_task_occurrences_next_escalate_at", "next_escalate_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("task_series.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(index=True)
    # Reminders before the due time start after this: the previous occurrence's due time, or the
    # creation of the task, so that a daily task is not reminded a day ahead.
    opens_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=OccurrenceStatus.OPEN.value)
    # When the scan escalates next (to the creator at the due time, later to their supervisor).
    next_escalate_at: Mapped[datetime | None] = mapped_column()
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    completed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaskAssignment(Base):
    """One officer's part of one occurrence."""

    __tablename__ = "task_assignments"
    __table_args__ = (
        UniqueConstraint("occurrence_id", "officer_id"),
        Index("ix_task_assignments_next_remind_at", "next_remind_at"),
        Index("ix_task_assignments_officer_status", "officer_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(ForeignKey("task_occurrences.id", ondelete="CASCADE"), index=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"))
    status: Mapped[str] = mapped_column(String(16), default=AssignmentStatus.OPEN.value)
    completion_id: Mapped[int | None] = mapped_column(Integer)  # the completion in force (no FK: a cycle)
    completed_at: Mapped[datetime | None] = mapped_column()
    snoozed_until: Mapped[datetime | None] = mapped_column()
    # When the scan looks at this assignment's reminders next; NULL when none are left.
    next_remind_at: Mapped[datetime | None] = mapped_column()
    # The moment of the last reminder queued (a slot's time, not the sending time): older slots are done.
    last_reminded_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaskCompletion(Base):
    """An assignment marked done, with the officer's note or photo; kept when it is reopened."""

    __tablename__ = "task_completions"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("task_assignments.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by: Mapped[str] = mapped_column(String(64))  # the assignee's badge, or "cli" for an administrator
    on_behalf: Mapped[bool] = mapped_column(default=False)  # an administrator marked it done
    note: Mapped[str | None] = mapped_column(Text)
    photo_file_id: Mapped[str | None] = mapped_column(String(256))


class TaskReopening(Base):
    """A completion sent back by the creator, and why."""

    __tablename__ = "task_reopenings"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("task_assignments.id", ondelete="CASCADE"), index=True
    )
    completion_id: Mapped[int] = mapped_column(ForeignKey("task_completions.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)


class TaskCard(Base):
    """A progress card shown to a creator, kept up to date in place as assignees answer."""

    __tablename__ = "task_cards"
    __table_args__ = (UniqueConstraint("officer_id", "scope", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(16))  # "occurrence" or "series"
    target_id: Mapped[int] = mapped_column(Integer, index=True)
    message_id: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
