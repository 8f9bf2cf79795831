"""Read models of tasks: what an officer, a creator's card or the desk shows, as plain data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tasks.recurrence import Recurrence


@dataclass(frozen=True)
class TaskFacts:
    """One occurrence of a task with what a notice says about it."""

    occurrence_id: int
    series_id: int
    seq: int
    title: str
    description: str | None
    priority: str
    source: str
    case_number: str | None
    due: datetime
    rule: Recurrence
    status: str  # the occurrence's status
    series_status: str
    creator_name: str | None
    creator_badge: str | None

    @property
    def repeats(self) -> bool:
        """Tells whether the task belongs to a repeating series."""
        return self.rule.repeats


@dataclass(frozen=True)
class AssigneeRow:
    """One officer's part of an occurrence, for a progress card."""

    assignment_id: int
    officer_id: int
    name: str
    badge: str
    state: str  # done | open | overdue | cancelled | removed
    completed_at: datetime | None = None
    note: str | None = None
    photo_file_id: str | None = None
    on_behalf: bool = False
    late: bool = False
    reopened: int = 0
    enrolled: bool = True


@dataclass(frozen=True)
class OccurrenceProgress:
    """Completion per assignee of one occurrence."""

    facts: TaskFacts
    rows: list[AssigneeRow]
    now: datetime

    def count(self, state: str) -> int:
        """Counts the assignees in a state."""
        return sum(1 for row in self.rows if row.state == state)

    @property
    def counted(self) -> list[AssigneeRow]:
        """The assignees on the task (not those taken off it); all of them "cancelled" once it is."""
        return [row for row in self.rows if row.state in ("done", "open", "overdue", "cancelled")]

    @property
    def done(self) -> int:
        """How many have completed it."""
        return self.count("done")

    @property
    def total(self) -> int:
        """How many are on it."""
        return len(self.counted)

    @property
    def waiting(self) -> list[AssigneeRow]:
        """The assignees who have not completed it, overdue first."""
        return sorted(
            (row for row in self.rows if row.state in ("open", "overdue")),
            key=lambda row: (row.state != "overdue", row.badge),
        )


@dataclass(frozen=True)
class OfficerTally:
    """One officer's record across a series."""

    officer_id: int
    name: str
    badge: str
    done: int = 0
    late: int = 0
    open: int = 0
    overdue: int = 0


@dataclass(frozen=True)
class OccurrenceTally:
    """One occurrence of a series in a line: when it was due and how many completed it."""

    occurrence_id: int
    seq: int
    due: datetime
    done: int
    total: int
    status: str


@dataclass(frozen=True)
class SeriesProgress:
    """Completion per assignee across a whole series."""

    facts: TaskFacts  # the latest occurrence
    officers: list[OfficerTally]
    recent: list[OccurrenceTally]
    made: int
    next_due: datetime | None
    now: datetime
    current_occurrence_id: int = 0


@dataclass(frozen=True)
class MyTask:
    """A task in an officer's list."""

    assignment_id: int
    facts: TaskFacts
    state: str  # open | overdue | done
    snoozed_until: datetime | None = None


@dataclass(frozen=True)
class CreatedTask:
    """A task in its creator's list: the current occurrence and how far it is."""

    facts: TaskFacts
    done: int
    total: int
    overdue: int


@dataclass
class ScanReport:
    """What one pass of the task scan did."""

    occurrences_created: int = 0
    series_ended: int = 0
    reminders: int = 0
    escalations: int = 0
    messages: int = 0
    enqueued: int = 0
    more: bool = False  # some query hit the pass's limit: run another pass at once
