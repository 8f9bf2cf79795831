"""Tasks as a service: give, complete, send back, snooze, remind, change and cancel; read progress.

Every function takes the caller's session and never commits (the bot's middleware, the CLI's
runner or the desk owns the transaction). Every push goes to the outbox in the same
transaction as the change that causes it, and every change is audited.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, outbox
from core.holidays import HolidayCalendar
from core.identity import Officer, Role
from core.outbox import OutboxItem
from core.settings import Settings
from reminders.cases import parse_when
from reminders.models import Case
from tasks import assignees as people
from tasks import plan, texts
from tasks.models import (
    AssignmentStatus,
    OccurrenceStatus,
    Priority,
    SeriesStatus,
    Source,
    TaskAssignment,
    TaskCard,
    TaskCompletion,
    TaskOccurrence,
    TaskReopening,
    TaskSeries,
)
from tasks.progress import (
    AssigneeRow,
    CreatedTask,
    MyTask,
    OccurrenceProgress,
    OccurrenceTally,
    OfficerTally,
    SeriesProgress,
    TaskFacts,
)
from tasks.recurrence import Recurrence, Repeat, next_due, upcoming

MAX_TITLE = 200
MAX_DESCRIPTION = 2000
MAX_NOTE = 1000
MAX_REASON = 500
MAX_COUNT = 1000
DEFAULT_DUE_TIME = time(18, 0)  # a due day given without a time means the end of the working day
MAX_START_AGE = timedelta(days=31)  # how far back a repeating task may start (its missed times are made)
CATCH_UP_LIMIT = 400  # occurrences one series may make in one pass
CARD_LIFETIME = timedelta(days=7)  # cards older than this are no longer edited in place
NUDGE_BUCKET = 600  # seconds: pressing "remind" twice within it reminds once
SNOOZE_CHOICES = ("1h", "3h", "tomorrow")
SNOOZE_MORNING = time(8, 0)

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


@dataclass
class Preview:
    """A spec checked against the database, before anything is written."""

    spec: TaskSpec
    resolution: people.Resolution
    scope_unit_id: int | None = None
    dues: list[datetime] = field(default_factory=list)
    problems: list[TaskError] = field(default_factory=list)


Resolved = dict[tuple[tuple[str, ...], int | None, int | None], people.Resolution]
"""Who assignee lists reach, by (tokens, reach, creator), kept for one pass."""


@dataclass(frozen=True)
class Created:
    """A task just given: its series, first occurrence and assignees."""

    series: TaskSeries
    occurrence: TaskOccurrence
    assignees: list[Officer]


# --- reading input -----------------------------------------------------------------------------


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


# --- giving a task -----------------------------------------------------------------------------


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


async def preview(
    *,
    session: AsyncSession,
    spec: TaskSpec,
    settings: Settings,
    calendar: HolidayCalendar,
    creator: Officer | None,
    now: datetime,
    past_ok: bool = False,
    upcoming_count: int = 3,
) -> Preview:
    """Checks a spec against the database and works out its first due times, writing nothing."""
    problems = check_spec(spec, settings=settings, now=now, past_ok=past_ok)
    if creator is not None and not may_give_tasks(creator):
        problems.append(TaskError("not_creator_role"))
    if spec.case_number:
        found = await session.scalar(select(Case.id).where(Case.case_number == spec.case_number.strip()))
        if found is None:
            problems.append(TaskError("unknown_case", spec.case_number))
    scope = await people.scope_unit(session=session, creator=creator)
    resolution = await people.resolve(
        session=session,
        tokens=spec.assignees,
        scope_unit_id=scope,
        creator_id=creator.id if creator is not None else None,
    )
    if resolution.unknown:
        problems.append(TaskError("unknown_assignee", ", ".join(resolution.unknown)))
    if resolution.outside:
        problems.append(TaskError("outside", ", ".join(resolution.outside)))
    if not resolution.officers and not (resolution.unknown or resolution.outside):
        problems.append(TaskError("nobody", ", ".join(resolution.empty)))
    dues: list[datetime] = []
    if not problems:
        rule = Recurrence.starting(spec.repeat, spec.due, settings.tz, until=spec.until, count=spec.count)
        dues = upcoming(rule, calendar=calendar, tz=settings.tz, count=upcoming_count)
        if not dues:
            problems.append(TaskError("no_occurrence"))
    return Preview(spec=spec, resolution=resolution, scope_unit_id=scope, dues=dues, problems=problems)


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


async def create_task(
    *,
    session: AsyncSession,
    spec: TaskSpec,
    settings: Settings,
    calendar: HolidayCalendar,
    creator: Officer | None,
    actor: str,
    now: datetime,
    past_ok: bool = False,
    fingerprint: str | None = None,
) -> Created:
    """Gives a task: its series and first occurrence, notices to every assignee, and the audit."""
    checked = await preview(
        session=session, spec=spec, settings=settings, calendar=calendar, creator=creator, now=now, past_ok=past_ok
    )
    if checked.problems:
        raise checked.problems[0]
    rule = Recurrence.starting(spec.repeat, spec.due, settings.tz, until=spec.until, count=spec.count)
    series = TaskSeries(
        title=spec.title.strip(),
        description=(spec.description or "").strip() or None,
        priority=spec.priority.value,
        source=spec.source.value,
        case_number=(spec.case_number or "").strip() or None,
        assignees=checked.resolution.tokens,
        scope_unit_id=checked.scope_unit_id,
        repeat=rule.repeat.value,
        start_date=rule.start,
        due_time=rule.at.strftime("%H:%M"),
        weekday=rule.weekday,
        month_day=rule.month_day,
        until_date=rule.until,
        max_count=rule.count,
        status=SeriesStatus.ACTIVE.value,
        occurrences_made=0,
        creator_id=creator.id if creator is not None else None,
        created_by=actor,
        import_key=fingerprint,
        created_at=now,
        updated_at=now,
    )
    session.add(series)
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="task.create",
        target_type="task_series",
        target_id=series.id,
        officer_id=creator.id if creator is not None else None,
        detail={
            "title": series.title,
            "assignees": series.assignees,
            "officers": [o.badge for o in checked.resolution.officers],
            "due": spec.due.isoformat(),
            "repeat": series.repeat,
            "until": series.until_date.isoformat() if series.until_date else None,
            "count": series.max_count,
            "priority": series.priority,
            "source": series.source,
            "case_number": series.case_number,
        },
        at=now,
    )
    seeded: Resolved = {(tuple(series.assignees), series.scope_unit_id, series.creator_id): checked.resolution}
    made = await advance(
        session=session, series=series, settings=settings, calendar=calendar, now=now, force=True, resolved=seeded
    )
    first = made[0]
    officers = checked.resolution.officers
    return Created(series=series, occurrence=first, assignees=list(officers))


async def advance(
    *,
    session: AsyncSession,
    series: TaskSeries,
    settings: Settings,
    calendar: HolidayCalendar,
    now: datetime,
    force: bool = False,
    resolved: Resolved | None = None,
) -> list[TaskOccurrence]:
    """Makes a series' next occurrences: one if ``force``, then every one whose predecessor is due.

    A series whose rule has no more due dates is marked ended. ``resolved`` keeps who the
    assignee lists reach for the length of one pass, as many series name the same units.
    """
    made: list[TaskOccurrence] = []
    rule = recurrence_of(series)
    for _round in range(CATCH_UP_LIMIT):
        if series.status != SeriesStatus.ACTIVE.value:
            break
        if not force and series.last_due_at is not None and series.last_due_at > now:
            break
        force = False
        due = next_due(
            rule, calendar=calendar, tz=settings.tz, previous=series.last_due_at, made=series.occurrences_made
        )
        if due is None:
            series.status = SeriesStatus.ENDED.value
            series.updated_at = now
            await audit.record(
                session=session,
                actor=audit.SYSTEM_ACTOR,
                action="task.series_ended",
                target_type="task_series",
                target_id=series.id,
                detail={"occurrences": series.occurrences_made},
                at=now,
            )
            break
        made.append(
            await _new_occurrence(
                session=session, series=series, due=due, settings=settings, now=now, resolved=resolved
            )
        )
    return made


async def _new_occurrence(
    *,
    session: AsyncSession,
    series: TaskSeries,
    due: datetime,
    settings: Settings,
    now: datetime,
    resolved: Resolved | None = None,
) -> TaskOccurrence:
    """Adds one occurrence with an assignment per officer the series reaches today, and notifies them."""
    previous_due = series.last_due_at
    occurrence = TaskOccurrence(
        series_id=series.id,
        seq=series.occurrences_made + 1,
        title=series.title,
        description=series.description,
        priority=series.priority,
        due_at=due,
        opens_at=previous_due if previous_due is not None and previous_due < due else now,
        status=OccurrenceStatus.OPEN.value,
        escalation_level=0,
        created_at=now,
        updated_at=now,
    )
    session.add(occurrence)
    series.occurrences_made += 1
    series.last_due_at = due
    series.updated_at = now
    await session.flush()
    key = (tuple(series.assignees), series.scope_unit_id, series.creator_id)
    resolution = resolved.get(key) if resolved is not None else None
    if resolution is None:
        resolution = await people.resolve(
            session=session, tokens=series.assignees, scope_unit_id=series.scope_unit_id, creator_id=series.creator_id
        )
        if resolved is not None:
            resolved[key] = resolution
    before: set[int] = set()
    if occurrence.seq > 1:
        before = set(
            await session.scalars(
                select(TaskAssignment.officer_id)
                .join(TaskOccurrence, TaskOccurrence.id == TaskAssignment.occurrence_id)
                .where(TaskOccurrence.series_id == series.id, TaskOccurrence.seq == occurrence.seq - 1)
            )
        )
    leads = settings.task_remind_leads
    slots = plan.slots(due, occurrence.opens_at, leads)
    for officer in resolution.officers:
        session.add(
            TaskAssignment(
                occurrence_id=occurrence.id,
                officer_id=officer.id,
                status=AssignmentStatus.OPEN.value,
                next_remind_at=plan.next_check(slots, now=now, snoozed_until=None),
                last_reminded_at=now,
                created_at=now,
                updated_at=now,
            )
        )
    occurrence.next_escalate_at = due if resolution.officers else None
    await session.flush()
    await audit.record(
        session=session,
        actor=audit.SYSTEM_ACTOR,
        action="task.occurrence",
        target_type="task_occurrence",
        target_id=occurrence.id,
        detail={
            "series": series.id,
            "seq": occurrence.seq,
            "due": due.isoformat(),
            "officers": [o.badge for o in resolution.officers],
        },
        at=now,
        flush=False,
    )
    # The first time everyone hears of the task; later times only those new to it (who joined a
    # unit, say). The others know it and are reminded before it is due.
    newcomers = [o for o in resolution.officers if o.id not in before]
    if newcomers and (occurrence.seq == 1 or due > now):
        creator = await _creator(session=session, series=series)
        facts = facts_of(occurrence, series, creator, settings)
        assignments = await _assignments_by_officer(session=session, occurrence_id=occurrence.id)
        await outbox.enqueue_many(
            session=session,
            items=[
                OutboxItem(
                    officer_id=officer.id,
                    text=texts.notice_text(facts, officer.language, settings.tz, now),
                    kind=KIND_NOTICE,
                    dedupe_key=f"task-notice:{occurrence.id}:{officer.id}",
                    buttons=texts.assignee_buttons(assignments[officer.id].id, officer.language),
                    urgent=occurrence.priority == Priority.HIGH.value,
                    topic=topic(occurrence.id),
                )
                for officer in newcomers
            ],
        )
    return occurrence


def topic(occurrence_id: int) -> str:
    """The outbox topic of an occurrence's pushes to its assignees."""
    return f"task:{occurrence_id}"


# --- lookups -----------------------------------------------------------------------------------


async def _creator(*, session: AsyncSession, series: TaskSeries) -> Officer | None:
    if series.creator_id is None:
        return None
    return await session.get(Officer, series.creator_id)


async def _officers(*, session: AsyncSession, ids: Iterable[int]) -> dict[int, Officer]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.scalars(select(Officer).where(Officer.id.in_(wanted)))
    return {o.id: o for o in rows.all()}


async def _assignments_by_officer(*, session: AsyncSession, occurrence_id: int) -> dict[int, TaskAssignment]:
    rows = await session.scalars(select(TaskAssignment).where(TaskAssignment.occurrence_id == occurrence_id))
    return {a.officer_id: a for a in rows.all()}


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


async def get_occurrence(
    *, session: AsyncSession, occurrence_id: int
) -> tuple[TaskOccurrence, TaskSeries] | None:
    """Gets an occurrence and its series."""
    row = (
        await session.execute(
            select(TaskOccurrence, TaskSeries)
            .join(TaskSeries, TaskSeries.id == TaskOccurrence.series_id)
            .where(TaskOccurrence.id == occurrence_id)
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


async def get_assignment(
    *, session: AsyncSession, assignment_id: int
) -> tuple[TaskAssignment, TaskOccurrence, TaskSeries] | None:
    """Gets an assignment with its occurrence and series."""
    row = (
        await session.execute(
            select(TaskAssignment, TaskOccurrence, TaskSeries)
            .join(TaskOccurrence, TaskOccurrence.id == TaskAssignment.occurrence_id)
            .join(TaskSeries, TaskSeries.id == TaskOccurrence.series_id)
            .where(TaskAssignment.id == assignment_id)
        )
    ).first()
    return (row[0], row[1], row[2]) if row is not None else None


async def find_assignment(*, session: AsyncSession, occurrence_id: int, badge: str) -> int:
    """Finds the assignment of an officer (by badge) on an occurrence; raises TaskError if none."""
    found = await session.scalar(
        select(TaskAssignment.id)
        .join(Officer, Officer.id == TaskAssignment.officer_id)
        .where(TaskAssignment.occurrence_id == occurrence_id, Officer.badge == badge.strip())
    )
    if found is None:
        if await session.get(TaskOccurrence, occurrence_id) is None:
            raise TaskError("not_found", str(occurrence_id))
        raise TaskError("not_assignee", badge)
    return int(found)


async def facts_for(
    *, session: AsyncSession, occurrence: TaskOccurrence, series: TaskSeries, settings: Settings
) -> TaskFacts:
    """Returns what a notice says about an occurrence."""
    return facts_of(occurrence, series, await _creator(session=session, series=series), settings)


async def _managed(
    *, session: AsyncSession, occurrence_id: int, officer: Officer | None
) -> tuple[TaskOccurrence, TaskSeries]:
    found = await get_occurrence(session=session, occurrence_id=occurrence_id)
    if found is None:
        raise TaskError("not_found", str(occurrence_id))
    occurrence, series = found
    if officer is not None and not may_manage(officer, series):
        raise TaskError("forbidden")
    return occurrence, series


# --- the assignee's side -----------------------------------------------------------------------


def _state(status: str, occurrence: TaskOccurrence, now: datetime) -> str:
    """An assignment's state as people see it: open, overdue (open past the due time), done ..."""
    if status == AssignmentStatus.OPEN.value:
        if occurrence.status == OccurrenceStatus.CANCELLED.value:
            return "cancelled"
        return "overdue" if occurrence.due_at < now else "open"
    return status


async def complete(
    *,
    session: AsyncSession,
    assignment_id: int,
    officer: Officer | None,
    settings: Settings,
    calendar: HolidayCalendar,
    now: datetime,
    note: str | None = None,
    photo_file_id: str | None = None,
    actor: str | None = None,
) -> TaskAssignment:
    """Marks an officer's part of a task done, with an optional note or photo.

    Only the assignee can complete it; with ``officer=None`` an administrator does it on their
    behalf (the command line), audited as such under ``actor``.
    """
    found = await get_assignment(session=session, assignment_id=assignment_id)
    if found is None:
        raise TaskError("not_found", str(assignment_id))
    assignment, occurrence, series = found
    on_behalf = officer is None
    if officer is not None and officer.id != assignment.officer_id:
        raise TaskError("not_assignee")
    if assignment.status == AssignmentStatus.DONE.value:
        raise TaskError("already_done")
    if assignment.status != AssignmentStatus.OPEN.value or occurrence.status == OccurrenceStatus.CANCELLED.value:
        raise TaskError("closed")
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise TaskError("note_long")
    who = actor or (officer.badge if officer is not None else audit.CLI_ACTOR)
    completion = TaskCompletion(
        assignment_id=assignment.id, at=now, by=who, on_behalf=on_behalf, note=note, photo_file_id=photo_file_id
    )
    session.add(completion)
    await session.flush()
    assignment.status = AssignmentStatus.DONE.value
    assignment.completion_id = completion.id
    assignment.completed_at = now
    assignment.next_remind_at = None
    assignment.snoozed_until = None
    assignment.updated_at = now
    assignee = await session.get(Officer, assignment.officer_id)
    await audit.record(
        session=session,
        actor=who,
        action="task.done",
        target_type="task_assignment",
        target_id=assignment.id,
        officer_id=officer.id if officer is not None else None,
        detail={
            "occurrence": occurrence.id,
            "series": series.id,
            "assignee": assignee.badge if assignee is not None else None,
            "on_behalf": on_behalf,
            "as": "admin" if on_behalf else "assignee",
            "late": now > occurrence.due_at,
            "note": note is not None,
            "photo": photo_file_id is not None,
        },
        at=now,
    )
    await _settle(session=session, occurrence=occurrence, series=series, settings=settings, calendar=calendar, now=now)
    return assignment


async def _settle(
    *,
    session: AsyncSession,
    occurrence: TaskOccurrence,
    series: TaskSeries,
    settings: Settings,
    calendar: HolidayCalendar,
    now: datetime,
) -> None:
    """Brings an occurrence's status in line with its assignments; the next occurrence once all are done."""
    statuses = list(
        await session.scalars(select(TaskAssignment.status).where(TaskAssignment.occurrence_id == occurrence.id))
    )
    live = [s for s in statuses if s in (AssignmentStatus.OPEN.value, AssignmentStatus.DONE.value)]
    was_done = occurrence.status == OccurrenceStatus.DONE.value
    all_done = bool(live) and all(s == AssignmentStatus.DONE.value for s in live)
    if occurrence.status != OccurrenceStatus.CANCELLED.value:
        if all_done and not was_done:
            occurrence.status = OccurrenceStatus.DONE.value
            occurrence.completed_at = now
            occurrence.next_escalate_at = None
            occurrence.updated_at = now
            await _tell_creator_all_done(session=session, occurrence=occurrence, series=series, settings=settings, now=now)
            if occurrence.seq == series.occurrences_made:
                await advance(session=session, series=series, settings=settings, calendar=calendar, now=now, force=True)
        elif not all_done and was_done:
            occurrence.status = OccurrenceStatus.OPEN.value
            occurrence.completed_at = None
            occurrence.next_escalate_at = _escalation_time(occurrence, settings)
            occurrence.updated_at = now
    await session.flush()
    await refresh_cards(
        session=session, occurrence=occurrence, series=series, settings=settings, calendar=calendar, now=now
    )


def _escalation_time(occurrence: TaskOccurrence, settings: Settings) -> datetime | None:
    if occurrence.escalation_level <= 0:
        return occurrence.due_at
    if occurrence.escalation_level == 1:
        return occurrence.due_at + timedelta(hours=settings.task_supervisor_escalation_hours)
    return None


async def _tell_creator_all_done(
    *, session: AsyncSession, occurrence: TaskOccurrence, series: TaskSeries, settings: Settings, now: datetime
) -> None:
    creator = await _creator(session=session, series=series)
    if creator is None or not creator.active:
        return
    progress = await occurrence_progress(session=session, occurrence_id=occurrence.id, settings=settings, now=now)
    await outbox.enqueue(
        session=session,
        officer_id=creator.id,
        text=texts.all_done_text(progress, creator.language, settings.tz),
        kind=KIND_DONE,
        dedupe_key=f"task-all-done:{occurrence.id}:{int(now.timestamp())}",
        buttons=texts.view_buttons(occurrence.id, creator.language),
    )


def snooze_until(choice: str, *, now: datetime, settings: Settings) -> datetime:
    """Turns a "remind me later" choice into a time: in 1 or 3 hours, or tomorrow 08:00 local."""
    if choice == "1h":
        return now + timedelta(hours=1)
    if choice == "3h":
        return now + timedelta(hours=3)
    if choice == "tomorrow":
        day = now.astimezone(settings.tz).date() + timedelta(days=1)
        return datetime.combine(day, SNOOZE_MORNING, tzinfo=settings.tz)
    raise TaskError("bad_snooze", choice)


async def snooze(
    *,
    session: AsyncSession,
    assignment_id: int,
    officer: Officer,
    until: datetime,
    settings: Settings,
    now: datetime,
) -> TaskAssignment:
    """Reminds the assignee again at a later time (the reminder on the due time still comes)."""
    if until <= now:
        raise TaskError("bad_snooze", until.isoformat())
    found = await get_assignment(session=session, assignment_id=assignment_id)
    if found is None:
        raise TaskError("not_found", str(assignment_id))
    assignment, occurrence, _series = found
    if officer.id != assignment.officer_id:
        raise TaskError("not_assignee")
    if assignment.status == AssignmentStatus.DONE.value:
        raise TaskError("already_done")
    if assignment.status != AssignmentStatus.OPEN.value or occurrence.status == OccurrenceStatus.CANCELLED.value:
        raise TaskError("closed")
    assignment.snoozed_until = until
    slots = plan.slots(occurrence.due_at, occurrence.opens_at, settings.task_remind_leads)
    assignment.next_remind_at = plan.next_check(slots, now=now, snoozed_until=until)
    assignment.updated_at = now
    await audit.record(
        session=session,
        actor=officer.badge,
        action="task.snooze",
        target_type="task_assignment",
        target_id=assignment.id,
        officer_id=officer.id,
        detail={"occurrence": occurrence.id, "until": until.isoformat()},
        at=now,
    )
    return assignment


async def my_tasks(
    *, session: AsyncSession, officer: Officer, settings: Settings, now: datetime, limit: int = 10
) -> tuple[list[MyTask], int]:
    """Lists an officer's open tasks by due time (overdue ones first, as they are due earliest); and how many."""
    where = (
        TaskAssignment.officer_id == officer.id,
        TaskAssignment.status == AssignmentStatus.OPEN.value,
        TaskOccurrence.status != OccurrenceStatus.CANCELLED.value,
    )
    rows = (
        await session.execute(
            select(TaskAssignment, TaskOccurrence, TaskSeries)
            .join(TaskOccurrence, TaskOccurrence.id == TaskAssignment.occurrence_id)
            .join(TaskSeries, TaskSeries.id == TaskOccurrence.series_id)
            .where(*where)
            .order_by(TaskOccurrence.due_at, TaskOccurrence.id)
            .limit(limit)
        )
    ).all()
    total = await session.scalar(
        select(func.count())
        .select_from(TaskAssignment)
        .join(TaskOccurrence, TaskOccurrence.id == TaskAssignment.occurrence_id)
        .where(*where)
    )
    creators = await _officers(session=session, ids=[s.creator_id for _a, _o, s in rows if s.creator_id])
    items = [
        MyTask(
            assignment_id=a.id,
            facts=facts_of(o, s, creators.get(s.creator_id) if s.creator_id else None, settings),
            state=_state(a.status, o, now),
            snoozed_until=a.snoozed_until,
        )
        for a, o, s in rows
    ]
    return items, int(total or 0)


async def assignment_view(
    *, session: AsyncSession, assignment_id: int, officer: Officer, settings: Settings, now: datetime
) -> MyTask:
    """Gets one of an officer's own tasks."""
    found = await get_assignment(session=session, assignment_id=assignment_id)
    if found is None:
        raise TaskError("not_found", str(assignment_id))
    assignment, occurrence, series = found
    if assignment.officer_id != officer.id:
        raise TaskError("not_assignee")
    creator = await _creator(session=session, series=series)
    return MyTask(
        assignment_id=assignment.id,
        facts=facts_of(occurrence, series, creator, settings),
        state=_state(assignment.status, occurrence, now),
        snoozed_until=assignment.snoozed_until,
    )


# --- the creator's side ------------------------------------------------------------------------


async def occurrence_progress(
    *, session: AsyncSession, occurrence_id: int, settings: Settings, now: datetime, officer: Officer | None = None
) -> OccurrenceProgress:
    """Completion per assignee of one occurrence (``officer``: checked to be its creator or an admin)."""
    occurrence, series = await _managed(session=session, occurrence_id=occurrence_id, officer=officer)
    found = await progress_many(session=session, pairs=[(occurrence, series)], settings=settings, now=now)
    return found[occurrence.id]


async def progress_many(
    *,
    session: AsyncSession,
    pairs: Sequence[tuple[TaskOccurrence, TaskSeries]],
    settings: Settings,
    now: datetime,
) -> dict[int, OccurrenceProgress]:
    """Completion per assignee of many occurrences at once (a handful of queries, whatever their number)."""
    if not pairs:
        return {}
    ids = [occurrence.id for occurrence, _series in pairs]
    rows = (
        await session.execute(
            select(
                TaskAssignment.id,
                TaskAssignment.occurrence_id,
                TaskAssignment.status,
                TaskAssignment.completion_id,
                TaskAssignment.completed_at,
                Officer.id.label("officer_id"),
                Officer.name,
                Officer.badge,
                Officer.telegram_user_id,
            )
            .join(Officer, Officer.id == TaskAssignment.officer_id)
            .where(TaskAssignment.occurrence_id.in_(ids))
            .order_by(Officer.badge)
        )
    ).all()
    completion_ids = [row.completion_id for row in rows if row.completion_id is not None]
    completions: dict[int, TaskCompletion] = {}
    if completion_ids:
        completions = {
            c.id: c for c in (await session.scalars(select(TaskCompletion).where(TaskCompletion.id.in_(completion_ids))))
        }
    reopened: dict[int, int] = {}
    if rows:
        counted = await session.execute(
            select(TaskReopening.assignment_id, func.count())
            .where(TaskReopening.assignment_id.in_([row.id for row in rows]))
            .group_by(TaskReopening.assignment_id)
        )
        reopened = {assignment_id: int(n) for assignment_id, n in counted.all()}
    creator_ids = {series.creator_id for _occurrence, series in pairs if series.creator_id is not None}
    creators: dict[int, tuple[str, str]] = {}
    if creator_ids:
        found = await session.execute(select(Officer.id, Officer.name, Officer.badge).where(Officer.id.in_(creator_ids)))
        creators = {row.id: (row.name, row.badge) for row in found.all()}
    by_occurrence: dict[int, list[AssigneeRow]] = defaultdict(list)
    occurrences = {occurrence.id: occurrence for occurrence, _series in pairs}
    for row in rows:
        occurrence = occurrences[row.occurrence_id]
        completion = completions.get(row.completion_id or 0)
        state = _state(row.status, occurrence, now)
        by_occurrence[row.occurrence_id].append(
            AssigneeRow(
                assignment_id=row.id,
                officer_id=row.officer_id,
                name=row.name,
                badge=row.badge,
                state=state,
                completed_at=row.completed_at,
                note=completion.note if completion else None,
                photo_file_id=completion.photo_file_id if completion else None,
                on_behalf=completion.on_behalf if completion else False,
                late=row.completed_at is not None and row.completed_at > occurrence.due_at,
                reopened=reopened.get(row.id, 0),
                enrolled=row.telegram_user_id is not None,
            )
        )
    result: dict[int, OccurrenceProgress] = {}
    for occurrence, series in pairs:
        name, badge = creators.get(series.creator_id or 0, (None, None))
        facts = replace(facts_of(occurrence, series, None, settings), creator_name=name, creator_badge=badge)
        result[occurrence.id] = OccurrenceProgress(facts=facts, rows=by_occurrence[occurrence.id], now=now)
    return result


async def series_progress(
    *,
    session: AsyncSession,
    series_id: int,
    settings: Settings,
    calendar: HolidayCalendar,
    now: datetime,
    officer: Officer | None = None,
    recent: int = 8,
) -> SeriesProgress:
    """Completion per assignee across a series, and its most recent occurrences."""
    series = await session.get(TaskSeries, series_id)
    if series is None:
        raise TaskError("not_found", str(series_id))
    if officer is not None and not may_manage(officer, series):
        raise TaskError("forbidden")
    occurrences = list(
        await session.scalars(
            select(TaskOccurrence).where(TaskOccurrence.series_id == series.id).order_by(TaskOccurrence.seq)
        )
    )
    by_id = {o.id: o for o in occurrences}
    rows = (
        await session.execute(
            select(TaskAssignment, Officer)
            .join(Officer, Officer.id == TaskAssignment.officer_id)
            .join(TaskOccurrence, TaskOccurrence.id == TaskAssignment.occurrence_id)
            .where(TaskOccurrence.series_id == series.id)
        )
    ).all()
    tallies: dict[int, dict[str, Any]] = {}
    per_occurrence: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for assignment, person in rows:
        occurrence = by_id[assignment.occurrence_id]
        state = _state(assignment.status, occurrence, now)
        tally = tallies.setdefault(
            person.id, {"name": person.name, "badge": person.badge, "done": 0, "late": 0, "open": 0, "overdue": 0}
        )
        if state in ("done", "open", "overdue"):
            tally[state] += 1
            per_occurrence[occurrence.id][1] += 1
        if state == "done":
            per_occurrence[occurrence.id][0] += 1
            if assignment.completed_at is not None and assignment.completed_at > occurrence.due_at:
                tally["late"] += 1
    officers = sorted(
        (OfficerTally(officer_id=i, **t) for i, t in tallies.items()),
        key=lambda t: (-(t.overdue), -(t.late), t.badge),
    )
    creator = await _creator(session=session, series=series)
    latest = occurrences[-1]
    current = next(
        (o for o in occurrences if o.status == OccurrenceStatus.OPEN.value and o.due_at >= now), latest
    )
    upcoming_due = None
    if series.status == SeriesStatus.ACTIVE.value:
        upcoming_due = next_due(
            recurrence_of(series),
            calendar=calendar,
            tz=settings.tz,
            previous=series.last_due_at,
            made=series.occurrences_made,
        )
        if latest.due_at > now and latest.status == OccurrenceStatus.OPEN.value:
            upcoming_due = latest.due_at
    return SeriesProgress(
        facts=facts_of(latest, series, creator, settings),
        officers=officers,
        recent=[
            OccurrenceTally(
                occurrence_id=o.id,
                seq=o.seq,
                due=o.due_at,
                done=per_occurrence[o.id][0],
                total=per_occurrence[o.id][1],
                status=o.status,
            )
            for o in reversed(occurrences[-recent:])
        ],
        made=series.occurrences_made,
        next_due=upcoming_due,
        now=now,
        current_occurrence_id=current.id,
    )


async def created_tasks(
    *, session: AsyncSession, officer: Officer, settings: Settings, now: datetime, limit: int = 10
) -> tuple[list[CreatedTask], int]:
    """Lists the open occurrences of the tasks an officer gave, by due time; and how many."""
    where = (
        TaskSeries.creator_id == officer.id,
        TaskOccurrence.status == OccurrenceStatus.OPEN.value,
    )
    rows = (
        await session.execute(
            select(TaskOccurrence, TaskSeries)
            .join(TaskSeries, TaskSeries.id == TaskOccurrence.series_id)
            .where(*where)
            .order_by(TaskOccurrence.due_at, TaskOccurrence.id)
            .limit(limit)
        )
    ).all()
    total = await session.scalar(
        select(func.count())
        .select_from(TaskOccurrence)
        .join(TaskSeries, TaskSeries.id == TaskOccurrence.series_id)
        .where(*where)
    )
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    ids = [o.id for o, _s in rows]
    if ids:
        for occurrence_id, status, n in (
            await session.execute(
                select(TaskAssignment.occurrence_id, TaskAssignment.status, func.count())
                .where(TaskAssignment.occurrence_id.in_(ids))
                .group_by(TaskAssignment.occurrence_id, TaskAssignment.status)
            )
        ).all():
            if status == AssignmentStatus.DONE.value:
                counts[occurrence_id][0] += int(n)
            if status in (AssignmentStatus.DONE.value, AssignmentStatus.OPEN.value):
                counts[occurrence_id][1] += int(n)
    items = []
    for occurrence, series in rows:
        done, total_here = counts[occurrence.id]
        overdue = total_here - done if occurrence.due_at < now else 0
        items.append(
            CreatedTask(
                facts=facts_of(occurrence, series, officer, settings), done=done, total=total_here, overdue=overdue
            )
        )
    return items, int(total or 0)


async def nudge(
    *, session: AsyncSession, occurrence_id: int, officer: Officer, settings: Settings, now: datetime
) -> int:
    """Reminds every assignee who has not completed an occurrence; returns how many were reminded."""
    occurrence, series = await _managed(session=session, occurrence_id=occurrence_id, officer=officer)
    if occurrence.status != OccurrenceStatus.OPEN.value:
        raise TaskError("closed")
    open_rows = list(
        await session.scalars(
            select(TaskAssignment).where(
                TaskAssignment.occurrence_id == occurrence.id, TaskAssignment.status == AssignmentStatus.OPEN.value
            )
        )
    )
    people_by_id = await _officers(session=session, ids=[a.officer_id for a in open_rows])
    creator = await _creator(session=session, series=series)
    facts = facts_of(occurrence, series, creator, settings)
    bucket = int(now.timestamp()) // NUDGE_BUCKET
    items = [
        OutboxItem(
            officer_id=a.officer_id,
            text=texts.nudge_text(facts, people_by_id[a.officer_id].language, settings.tz, now),
            kind=KIND_NUDGE,
            dedupe_key=f"task-nudge:{a.id}:{bucket}",
            buttons=texts.assignee_buttons(a.id, people_by_id[a.officer_id].language),
            urgent=occurrence.priority == Priority.HIGH.value,
            topic=topic(occurrence.id),
        )
        for a in open_rows
        if people_by_id[a.officer_id].active
    ]
    added = await outbox.enqueue_many(session=session, items=items)
    await audit.record(
        session=session,
        actor=officer.badge,
        action="task.nudge",
        target_type="task_occurrence",
        target_id=occurrence.id,
        officer_id=officer.id,
        detail={"reminded": [people_by_id[a.officer_id].badge for a in open_rows], "queued": added},
        at=now,
    )
    return len(items)


async def reopen(
    *,
    session: AsyncSession,
    assignment_id: int,
    officer: Officer,
    reason: str,
    settings: Settings,
    calendar: HolidayCalendar,
    now: datetime,
) -> TaskAssignment:
    """Sends a completion back to its assignee with a reason (the creator or an administrator)."""
    found = await get_assignment(session=session, assignment_id=assignment_id)
    if found is None:
        raise TaskError("not_found", str(assignment_id))
    assignment, occurrence, series = found
    if not may_manage(officer, series):
        raise TaskError("forbidden")
    reason = reason.strip()
    if not reason:
        raise TaskError("reason_empty")
    if len(reason) > MAX_REASON:
        raise TaskError("reason_long")
    if assignment.status != AssignmentStatus.DONE.value or assignment.completion_id is None:
        raise TaskError("not_done")
    if occurrence.status == OccurrenceStatus.CANCELLED.value:
        raise TaskError("closed")
    session.add(
        TaskReopening(
            assignment_id=assignment.id, completion_id=assignment.completion_id, at=now, by=officer.badge, reason=reason
        )
    )
    assignment.status = AssignmentStatus.OPEN.value
    assignment.completion_id = None
    assignment.completed_at = None
    assignment.snoozed_until = None
    slots = plan.slots(occurrence.due_at, occurrence.opens_at, settings.task_remind_leads)
    assignment.next_remind_at = plan.next_check(slots, now=now, snoozed_until=None)
    assignment.last_reminded_at = now
    assignment.updated_at = now
    assignee = await session.get(Officer, assignment.officer_id)
    await audit.record(
        session=session,
        actor=officer.badge,
        action="task.reopen",
        target_type="task_assignment",
        target_id=assignment.id,
        officer_id=officer.id,
        detail={
            "occurrence": occurrence.id,
            "series": series.id,
            "assignee": assignee.badge if assignee is not None else None,
            "reason": reason,
        },
        at=now,
    )
    if assignee is not None and assignee.active:
        facts = facts_of(occurrence, series, await _creator(session=session, series=series), settings)
        await outbox.enqueue(
            session=session,
            officer_id=assignee.id,
            text=texts.reopened_text(facts, reason, assignee.language, settings.tz, now),
            kind=KIND_CHANGE,
            dedupe_key=f"task-reopen:{assignment.id}:{int(now.timestamp())}",
            buttons=texts.assignee_buttons(assignment.id, assignee.language),
            urgent=occurrence.priority == Priority.HIGH.value,
            topic=topic(occurrence.id),
        )
    await _settle(session=session, occurrence=occurrence, series=series, settings=settings, calendar=calendar, now=now)
    return assignment


async def cancel(
    *,
    session: AsyncSession,
    occurrence_id: int,
    officer: Officer | None,
    following: bool,
    settings: Settings,
    calendar: HolidayCalendar,
    now: datetime,
    actor: str | None = None,
) -> list[TaskOccurrence]:
    """Cancels an occurrence, or it and every later one (the series makes no more); returns those cancelled."""
    occurrence, series = await _managed(session=session, occurrence_id=occurrence_id, officer=officer)
    targets = [occurrence]
    if following:
        targets = list(
            await session.scalars(
                select(TaskOccurrence)
                .where(TaskOccurrence.series_id == series.id, TaskOccurrence.seq >= occurrence.seq)
                .order_by(TaskOccurrence.seq)
            )
        )
    cancelled = [o for o in targets if o.status == OccurrenceStatus.OPEN.value]
    if not cancelled and not (following and series.status == SeriesStatus.ACTIVE.value):
        raise TaskError("closed")
    who = actor or (officer.badge if officer is not None else audit.CLI_ACTOR)
    creator = await _creator(session=session, series=series)
    items: list[OutboxItem] = []
    for target in cancelled:
        target.status = OccurrenceStatus.CANCELLED.value
        target.next_escalate_at = None
        target.updated_at = now
        open_rows = list(
            await session.scalars(
                select(TaskAssignment).where(
                    TaskAssignment.occurrence_id == target.id, TaskAssignment.status == AssignmentStatus.OPEN.value
                )
            )
        )
        people_by_id = await _officers(session=session, ids=[a.officer_id for a in open_rows])
        facts = facts_of(target, series, creator, settings)
        for a in open_rows:
            a.status = AssignmentStatus.CANCELLED.value
            a.next_remind_at = None
            a.updated_at = now
            person = people_by_id[a.officer_id]
            if person.active:
                items.append(
                    OutboxItem(
                        officer_id=person.id,
                        text=texts.cancelled_text(facts, person.language, settings.tz, following=following),
                        kind=KIND_CHANGE,
                        dedupe_key=f"task-cancel:{a.id}",
                        topic=topic(target.id),
                    )
                )
    if following and series.status == SeriesStatus.ACTIVE.value:
        series.status = SeriesStatus.CANCELLED.value
        series.updated_at = now
    await session.flush()
    await outbox.enqueue_many(session=session, items=items)
    await audit.record(
        session=session,
        actor=who,
        action="task.cancel",
        target_type="task_occurrence",
        target_id=occurrence.id,
        officer_id=officer.id if officer is not None else None,
        detail={"series": series.id, "following": following, "cancelled": [o.id for o in cancelled]},
        at=now,
    )
    if (
        not following
        and series.status == SeriesStatus.ACTIVE.value
        and occurrence.seq == series.occurrences_made
    ):
        # A cancelled time counts as finished: the next one is made now, as after a completion.
        await advance(session=session, series=series, settings=settings, calendar=calendar, now=now, force=True)
    for target in cancelled:
        await refresh_cards(
            session=session, occurrence=target, series=series, settings=settings, calendar=calendar, now=now
        )
    return cancelled


async def change(
    *,
    session: AsyncSession,
    occurrence_id: int,
    officer: Officer,
    changes: Changes,
    settings: Settings,
    calendar: HolidayCalendar,
    now: datetime,
) -> list[TaskOccurrence]:
    """Changes a task from an occurrence on: the series' template and this and later open occurrences.

    Earlier occurrences keep what they were. A new time of day moves this and later due times;
    new assignees are given the task, and those taken off are told.
    """
    occurrence, series = await _managed(session=session, occurrence_id=occurrence_id, officer=officer)
    if occurrence.status == OccurrenceStatus.CANCELLED.value or (
        occurrence.status != OccurrenceStatus.OPEN.value and series.status != SeriesStatus.ACTIVE.value
    ):
        raise TaskError("closed")
    if all(
        value is None
        for value in (changes.title, changes.description, changes.priority, changes.due, changes.assignees)
    ):
        raise TaskError("nothing_to_change")
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    if changes.title is not None:
        title = changes.title.strip()
        if not title:
            raise TaskError("title_empty")
        if len(title) > MAX_TITLE:
            raise TaskError("title_long")
        before["title"], after["title"] = series.title, title
        series.title = title
    if changes.description is not None:
        if len(changes.description) > MAX_DESCRIPTION:
            raise TaskError("description_long")
        before["description"], after["description"] = series.description, changes.description.strip() or None
        series.description = changes.description.strip() or None
    if changes.priority is not None:
        before["priority"], after["priority"] = series.priority, changes.priority.value
        series.priority = changes.priority.value
    new_time: time | None = None
    if changes.due is not None:
        if changes.due.tzinfo is None:
            raise ValueError("a due time must be timezone-aware")
        local = changes.due.astimezone(settings.tz)
        new_time = local.time().replace(second=0, microsecond=0, tzinfo=None)
        before["due_time"], after["due_time"] = series.due_time, new_time.strftime("%H:%M")
        if Repeat(series.repeat) is Repeat.NONE:
            if changes.due <= now:
                raise TaskError("due_past", local.strftime("%Y-%m-%d %H:%M"))
            before["start_date"], after["start_date"] = series.start_date.isoformat(), local.date().isoformat()
            series.start_date = local.date()
        series.due_time = new_time.strftime("%H:%M")
    resolution: people.Resolution | None = None
    if changes.assignees is not None:
        resolution = await people.resolve(
            session=session,
            tokens=changes.assignees,
            scope_unit_id=series.scope_unit_id,
            creator_id=series.creator_id,
        )
        if resolution.unknown:
            raise TaskError("unknown_assignee", ", ".join(resolution.unknown))
        if resolution.outside:
            raise TaskError("outside", ", ".join(resolution.outside))
        if not resolution.officers:
            raise TaskError("nobody", ", ".join(resolution.empty))
        before["assignees"], after["assignees"] = series.assignees, resolution.tokens
        series.assignees = resolution.tokens
    series.updated_at = now
    targets = [
        o
        for o in await session.scalars(
            select(TaskOccurrence)
            .where(TaskOccurrence.series_id == series.id, TaskOccurrence.seq >= occurrence.seq)
            .order_by(TaskOccurrence.seq)
        )
        if o.status != OccurrenceStatus.CANCELLED.value
    ]
    creator = await _creator(session=session, series=series)
    items: list[OutboxItem] = []
    leads = settings.task_remind_leads
    following = Repeat(series.repeat) is not Repeat.NONE
    for target in targets:
        target.title = series.title
        target.description = series.description
        target.priority = series.priority
        if target.status != OccurrenceStatus.OPEN.value:
            target.updated_at = now
            continue
        if new_time is not None:
            if following:
                local_day = target.due_at.astimezone(settings.tz).date()
                target.due_at = datetime.combine(local_day, new_time, tzinfo=settings.tz)
            else:
                assert changes.due is not None  # new_time comes from it
                target.due_at = changes.due.astimezone(settings.tz).replace(second=0, microsecond=0)
            target.escalation_level = 0
            target.next_escalate_at = target.due_at
            if target.seq == series.occurrences_made:
                series.last_due_at = target.due_at
        target.updated_at = now
        current = await _assignments_by_officer(session=session, occurrence_id=target.id)
        slots = plan.slots(target.due_at, target.opens_at, leads)
        facts = facts_of(target, series, creator, settings)
        keep = {o.id for o in resolution.officers} if resolution is not None else None
        people_by_id = await _officers(
            session=session, ids=[*current, *(keep or set())]
        )
        for officer_id, assignment in current.items():
            person = people_by_id[officer_id]
            if assignment.status != AssignmentStatus.OPEN.value:
                continue
            if keep is not None and officer_id not in keep:
                assignment.status = AssignmentStatus.REMOVED.value
                assignment.next_remind_at = None
                assignment.updated_at = now
                if person.active:
                    items.append(
                        OutboxItem(
                            officer_id=person.id,
                            text=texts.removed_text(facts, person.language, settings.tz),
                            kind=KIND_CHANGE,
                            dedupe_key=f"task-removed:{assignment.id}:{int(now.timestamp())}",
                            topic=topic(target.id),
                        )
                    )
                continue
            if new_time is not None:
                assignment.next_remind_at = plan.next_check(slots, now=now, snoozed_until=assignment.snoozed_until)
                assignment.last_reminded_at = now
            assignment.updated_at = now
            if person.active:
                items.append(
                    OutboxItem(
                        officer_id=person.id,
                        text=texts.changed_text(facts, person.language, settings.tz, now, following=following),
                        kind=KIND_CHANGE,
                        dedupe_key=f"task-change:{assignment.id}:{int(now.timestamp())}",
                        buttons=texts.assignee_buttons(assignment.id, person.language),
                        urgent=target.priority == Priority.HIGH.value,
                        topic=topic(target.id),
                    )
                )
        for officer_id in sorted((keep or set()) - set(current)):
            person = people_by_id[officer_id]
            assignment = TaskAssignment(
                occurrence_id=target.id,
                officer_id=officer_id,
                status=AssignmentStatus.OPEN.value,
                next_remind_at=plan.next_check(slots, now=now, snoozed_until=None),
                last_reminded_at=now,
                created_at=now,
                updated_at=now,
            )
            session.add(assignment)
            await session.flush()
            if target.next_escalate_at is None and target.escalation_level < 2:
                target.next_escalate_at = _escalation_time(target, settings)
            items.append(
                OutboxItem(
                    officer_id=officer_id,
                    text=texts.notice_text(facts, person.language, settings.tz, now),
                    kind=KIND_NOTICE,
                    dedupe_key=f"task-notice:{target.id}:{officer_id}",
                    buttons=texts.assignee_buttons(assignment.id, person.language),
                    urgent=target.priority == Priority.HIGH.value,
                    topic=topic(target.id),
                )
            )
    await session.flush()
    await outbox.enqueue_many(session=session, items=items)
    await audit.record(
        session=session,
        actor=officer.badge,
        action="task.change",
        target_type="task_occurrence",
        target_id=occurrence.id,
        officer_id=officer.id,
        detail={"series": series.id, "before": before, "after": after, "occurrences": [o.id for o in targets]},
        at=now,
    )
    for target in targets:
        await _settle_status_only(session=session, occurrence=target, now=now)
        await refresh_cards(
            session=session, occurrence=target, series=series, settings=settings, calendar=calendar, now=now
        )
    return targets


async def _settle_status_only(*, session: AsyncSession, occurrence: TaskOccurrence, now: datetime) -> None:
    """After assignees were added or taken off: done when every remaining one is done."""
    if occurrence.status != OccurrenceStatus.OPEN.value:
        return
    statuses = list(
        await session.scalars(select(TaskAssignment.status).where(TaskAssignment.occurrence_id == occurrence.id))
    )
    live = [s for s in statuses if s in (AssignmentStatus.OPEN.value, AssignmentStatus.DONE.value)]
    if live and all(s == AssignmentStatus.DONE.value for s in live):
        occurrence.status = OccurrenceStatus.DONE.value
        occurrence.completed_at = now
        occurrence.next_escalate_at = None


# --- live cards --------------------------------------------------------------------------------


async def remember_card(
    *, session: AsyncSession, officer: Officer, scope: str, target_id: int, message_id: int, now: datetime
) -> None:
    """Records a progress card shown to an officer, so that it is kept up to date in place.

    A message shows one card at a time: whatever it showed before is no longer kept up to date.
    """
    for other in await session.scalars(
        select(TaskCard).where(TaskCard.officer_id == officer.id, TaskCard.message_id == message_id)
    ):
        if (other.scope, other.target_id) != (scope, target_id):
            await session.delete(other)
    card = await session.scalar(
        select(TaskCard).where(
            TaskCard.officer_id == officer.id, TaskCard.scope == scope, TaskCard.target_id == target_id
        )
    )
    if card is None:
        session.add(
            TaskCard(officer_id=officer.id, scope=scope, target_id=target_id, message_id=message_id, version=0, updated_at=now)
        )
    else:
        card.message_id = message_id
        card.updated_at = now
    await session.flush()


async def refresh_cards(
    *,
    session: AsyncSession,
    occurrence: TaskOccurrence,
    series: TaskSeries,
    settings: Settings,
    calendar: HolidayCalendar,
    now: datetime,
) -> int:
    """Queues an in-place edit of every recent card showing this occurrence or its series; returns how many."""
    cards = list(
        await session.scalars(
            select(TaskCard).where(
                TaskCard.updated_at >= now - CARD_LIFETIME,
                ((TaskCard.scope == "occurrence") & (TaskCard.target_id == occurrence.id))
                | ((TaskCard.scope == "series") & (TaskCard.target_id == series.id)),
            )
        )
    )
    if not cards:
        return 0
    owners = await _officers(session=session, ids=[c.officer_id for c in cards])
    items: list[OutboxItem] = []
    occurrence_view: OccurrenceProgress | None = None
    series_view: SeriesProgress | None = None
    for card in cards:
        owner = owners.get(card.officer_id)
        if owner is None or not owner.active or not may_manage(owner, series):
            continue
        if card.scope == "occurrence":
            if occurrence_view is None:
                occurrence_view = await occurrence_progress(
                    session=session, occurrence_id=occurrence.id, settings=settings, now=now
                )
            text = texts.progress_text(occurrence_view, owner.language, settings.tz)
            buttons = texts.progress_buttons(occurrence_view, owner.language)
        else:
            if series_view is None:
                series_view = await series_progress(
                    session=session, series_id=series.id, settings=settings, calendar=calendar, now=now
                )
            text = texts.series_text(series_view, owner.language, settings.tz)
            buttons = texts.series_buttons(series_view, owner.language)
        card.version += 1
        items.append(
            OutboxItem(
                officer_id=owner.id,
                text=text,
                kind=KIND_CARD,
                dedupe_key=f"task-card:{card.id}:{card.version}",
                buttons=buttons,
                # An edit makes no sound, and a creator looking at the card wants it now.
                urgent=True,
                edit_message_id=card.message_id,
            )
        )
    await session.flush()
    return await outbox.enqueue_many(session=session, items=items)


# --- listings for the command line and the desk ------------------------------------------------


async def list_rows(
    *,
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    badge: str | None = None,
    status: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Lists assignments as the stable rows of ``frontline tasks list --json``, by due time."""
    query = (
        select(TaskAssignment, TaskOccurrence, TaskSeries, Officer.badge)
        .join(TaskOccurrence, TaskOccurrence.id == TaskAssignment.occurrence_id)
        .join(TaskSeries, TaskSeries.id == TaskOccurrence.series_id)
        .join(Officer, Officer.id == TaskAssignment.officer_id)
        .where(
            TaskAssignment.status.in_([AssignmentStatus.OPEN.value, AssignmentStatus.DONE.value]),
            TaskOccurrence.status != OccurrenceStatus.CANCELLED.value,
        )
        .order_by(TaskOccurrence.due_at, TaskOccurrence.id, Officer.badge)
    )
    if badge is not None:
        query = query.where(Officer.badge == badge.strip())
    if status == "done":
        query = query.where(TaskAssignment.status == AssignmentStatus.DONE.value)
    elif status == "open":
        query = query.where(TaskAssignment.status == AssignmentStatus.OPEN.value, TaskOccurrence.due_at >= now)
    elif status == "overdue":
        query = query.where(TaskAssignment.status == AssignmentStatus.OPEN.value, TaskOccurrence.due_at < now)
    elif status is not None:
        raise ValueError(f"unknown status {status!r} (open, done or overdue)")
    if limit is not None:
        query = query.limit(limit)
    rows = (await session.execute(query)).all()
    return [
        {
            "id": occurrence.id,
            "title": occurrence.title,
            "assignee_badge": officer_badge,
            "due": occurrence.due_at.astimezone(settings.tz).isoformat(),
            "status": _state(assignment.status, occurrence, now),
            "series": series.id if Repeat(series.repeat) is not Repeat.NONE else None,
        }
        for assignment, occurrence, series, officer_badge in rows
    ]


async def upcoming_dues(
    *, session: AsyncSession, occurrence_id: int, count: int, settings: Settings, calendar: HolidayCalendar
) -> list[datetime]:
    """Lists the due times of an occurrence's series from that occurrence on: made ones, then to come."""
    found = await get_occurrence(session=session, occurrence_id=occurrence_id)
    if found is None:
        raise TaskError("not_found", str(occurrence_id))
    occurrence, series = found
    made = [
        o
        for o in await session.scalars(
            select(TaskOccurrence)
            .where(TaskOccurrence.series_id == series.id, TaskOccurrence.seq >= occurrence.seq)
            .order_by(TaskOccurrence.seq)
        )
        if o.status != OccurrenceStatus.CANCELLED.value or o.id == occurrence.id
    ]
    dues = [o.due_at.astimezone(settings.tz) for o in made][:count]
    if len(dues) < count and series.status == SeriesStatus.ACTIVE.value:
        dues += upcoming(
            recurrence_of(series),
            calendar=calendar,
            tz=settings.tz,
            count=count - len(dues),
            previous=series.last_due_at,
            made=series.occurrences_made,
        )
    return dues


def describe(errors: Sequence[TaskError]) -> str:
    """Joins errors into one line."""
    return "; ".join(str(e) for e in errors)
