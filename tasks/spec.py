"""What a task is made of and the rules about it that need no database: limits, parsing, checks,
who may give and manage tasks, and the facts a notice says about an occurrence."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import ClassVar

from core.identity import Officer, Role
from core.settings import Settings
from reminders.cases import parse_when
from tasks.models import AssignmentStatus, OccurrenceStatus, Priority, Source, TaskOccurrence, TaskSeries
from tasks.progress import TaskFacts
from tasks.recurrence import Recurrence, Repeat

MAX_TITLE = 200
MAX_DESCRIPTION = 2000
MAX_NOTE = 1000
MAX_REASON = 500
MAX_COUNT = 1000

DEFAULT_DUE_TIME = time(18, 0)  # a due day given without a time means the end of the working day
MAX_START_AGE = timedelta(days=31)  # how far back a repeating task may start (its missed times are made)
SNOOZE_CHOICES = ("1h", "3h", "tomorrow")
SNOOZE_MORNING = time(8, 0)
NUDGE_BUCKET = 600  # seconds: pressing "remind" twice within it reminds once

KIND_NOTICE = "task.notice"
KIND_REMIND = "task.remind"
KIND_NUDGE = "task.nudge"
KIND_ESCALATE = "task.escalate"
KIND_CARD = "task.card"
KIND_DONE = "task.done"
KIND_CHANGE = "task.change"

PRIORITY_ALIASES = {
    "": Priority.NORMAL,
    "紧急": Priority.HIGH,
    "高": Priority.HIGH,
    "urgent": Priority.HIGH,
    "普通": Priority.NORMAL,
    "一般": Priority.NORMAL,
    "中": Priority.NORMAL,
    "低": Priority.LOW,
}

SOURCE_ALIASES = {
    "": Source.OTHER,
    "执法问题整改": Source.RECTIFICATION,
    "整改": Source.RECTIFICATION,
    "案件跟进": Source.CASE,
    "跟进": Source.CASE,
    "培训": Source.TRAINING,
    "其他": Source.OTHER,
}


class TaskError(Exception):
    """A task request that cannot be carried out; ``code`` says why (the bot words it for the officer)."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "not_found": "no such task",
        "forbidden": "only the creator of the task or an administrator can do that",
        "not_creator_role": "only supervisors, the legal brigade and administrators can give tasks",
        "not_assignee": "only an officer the task is given to can complete it",
        "already_done": "already completed",
        "not_done": "not completed, so there is nothing to send back",
        "closed": "the task is cancelled or no longer open",
        "title_empty": "the title is empty",
        "title_long": f"the title is longer than {MAX_TITLE} characters",
        "description_long": f"the description is longer than {MAX_DESCRIPTION} characters",
        "due_past": "the due time has passed",
        "start_too_old": "a repeating task cannot start more than 31 days ago",
        "until_before_due": "the end date is before the first due date",
        "bad_count": f"the number of times must be between 1 and {MAX_COUNT}",
        "no_occurrence": "the rule gives no due date before the series ends",
        "unknown_case": "no case with this number",
        "unknown_assignee": "no officer, unit or role",
        "outside": "outside the units you can give tasks to",
        "inactive": "deactivated or without active officers",
        "nobody": "no active officer to give the task to",
        "reason_empty": "a reason is needed",
        "reason_long": f"the reason is longer than {MAX_REASON} characters",
        "note_long": f"the note is longer than {MAX_NOTE} characters",
        "bad_snooze": "a reminder must be set for a later time",
        "nothing_to_change": "nothing to change",
        "bad_state": "unknown state (open, overdue, done or cancelled)",
    }

    def __init__(self, code: str, detail: str = "") -> None:
        message = self.MESSAGES.get(code, code)
        super().__init__(f"{message}: {detail}" if detail else message)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class TaskSpec:
    """What a creator asks for."""

    title: str
    assignees: list[str]
    due: datetime
    repeat: Repeat = Repeat.NONE
    priority: Priority = Priority.NORMAL
    source: Source = Source.OTHER
    description: str | None = None
    until: date | None = None
    count: int | None = None
    case_number: str | None = None


@dataclass(frozen=True)
class Changes:
    """What a creator changes, for this and later occurrences (None: unchanged; "" clears a description)."""

    title: str | None = None
    description: str | None = None
    priority: Priority | None = None
    due: datetime | None = None  # a one-off task's new due time; a series' new time of day
    assignees: list[str] | None = None


def parse_priority(text: str) -> Priority | None:
    """Reads a priority by name or Chinese alias."""
    value = text.strip().lower()
    try:
        return Priority(value)
    except ValueError:
        return PRIORITY_ALIASES.get(value)


def parse_source(text: str) -> Source | None:
    """Reads where a task comes from, by name or Chinese name."""
    value = text.strip().lower()
    try:
        return Source(value)
    except ValueError:
        return SOURCE_ALIASES.get(value)


def parse_due(text: str, settings: Settings) -> datetime | None:
    """Reads a due date and time in local time; a date alone means 18:00 that day."""
    parsed = parse_when(text, settings.tz)
    if parsed is None:
        return None
    when, has_time = parsed
    if not has_time:
        return datetime.combine(when.date(), DEFAULT_DUE_TIME, tzinfo=settings.tz)
    return when.replace(second=0, microsecond=0)


def recurrence_of(series: TaskSeries) -> Recurrence:
    """Returns a series' rule."""
    hour, minute = (int(part) for part in series.due_time.split(":"))
    return Recurrence(
        repeat=Repeat(series.repeat),
        start=series.start_date,
        at=time(hour, minute),
        weekday=series.weekday,
        month_day=series.month_day,
        until=series.until_date,
        count=series.max_count,
    )


def may_give_tasks(officer: Officer) -> bool:
    """Tells whether an officer may give tasks (supervisors, the legal brigade, administrators)."""
    return officer.has_role(Role.SUPERVISOR, Role.LEGAL)


def may_manage(officer: Officer, series: TaskSeries) -> bool:
    """Tells whether an officer may see and manage a task's progress (its creator or an administrator)."""
    return officer.id == series.creator_id or Role.ADMIN in officer.roles


def topic(occurrence_id: int) -> str:
    """The outbox topic of an occurrence's pushes to its assignees."""
    return f"task:{occurrence_id}"


def facts_of(
    occurrence: TaskOccurrence, series: TaskSeries, creator: Officer | None, settings: Settings
) -> TaskFacts:
    return TaskFacts(
        occurrence_id=occurrence.id,
        series_id=series.id,
        seq=occurrence.seq,
        title=occurrence.title,
        description=occurrence.description,
        priority=occurrence.priority,
        source=series.source,
        case_number=series.case_number,
        due=occurrence.due_at,
        rule=recurrence_of(series),
        status=occurrence.status,
        series_status=series.status,
        creator_name=creator.name if creator is not None else None,
        creator_badge=creator.badge if creator is not None else None,
    )


def state_of(status: str, occurrence: TaskOccurrence, now: datetime) -> str:
    """An assignment's state as people see it: open, overdue (open past the due time), done ..."""
    if status == AssignmentStatus.OPEN.value:
        if occurrence.status == OccurrenceStatus.CANCELLED.value:
            return "cancelled"
        return "overdue" if occurrence.due_at < now else "open"
    return status


def check_spec(spec: TaskSpec, *, settings: Settings, now: datetime, past_ok: bool) -> list[TaskError]:
    """Checks a spec on its own (no database); returns every problem found."""
    problems: list[TaskError] = []
    title = spec.title.strip()
    if not title:
        problems.append(TaskError("title_empty"))
    elif len(title) > MAX_TITLE:
        problems.append(TaskError("title_long"))
    if spec.description and len(spec.description) > MAX_DESCRIPTION:
        problems.append(TaskError("description_long"))
    if spec.due.tzinfo is None:
        raise ValueError("a due time must be timezone-aware")
    if not past_ok and spec.due <= now:
        problems.append(TaskError("due_past", spec.due.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")))
    elif spec.repeat is not Repeat.NONE and spec.due < now - MAX_START_AGE:
        problems.append(TaskError("start_too_old"))
    if spec.count is not None and not 1 <= spec.count <= MAX_COUNT:
        problems.append(TaskError("bad_count", str(spec.count)))
    if spec.until is not None and spec.until < spec.due.astimezone(settings.tz).date():
        problems.append(TaskError("until_before_due", spec.until.isoformat()))
    return problems


def import_key(spec: TaskSpec, creator_id: int | None) -> str:
    """Fingerprints an imported task, so that importing the same file again adds nothing."""
    parts = [
        spec.title.strip(),
        ",".join(spec.assignees),
        spec.due.isoformat(),
        spec.repeat.value,
        spec.priority.value,
        spec.source.value,
        spec.description or "",
        spec.until.isoformat() if spec.until else "",
        str(spec.count or ""),
        spec.case_number or "",
        str(creator_id or ""),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
