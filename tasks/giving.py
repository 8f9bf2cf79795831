"""Giving a task: checking it, making its series and first occurrence, and every occurrence after
that, one at a time, as the previous one falls due or is done; the assignees are notified."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, outbox
from core.holidays import HolidayCalendar
from core.identity import Officer
from core.outbox import OutboxItem
from core.settings import Settings
from reminders.models import Case
from tasks import assignees as people
from tasks import plan, texts
from tasks.models import (
    AssignmentStatus,
    OccurrenceStatus,
    Priority,
    SeriesStatus,
    TaskAssignment,
    TaskOccurrence,
    TaskSeries,
)
from tasks.reading import assignments_by_officer, creator_of
from tasks.recurrence import Recurrence, next_due, upcoming
from tasks.spec import (
    KIND_NOTICE,
    TaskError,
    TaskSpec,
    check_spec,
    facts_of,
    may_give_tasks,
    recurrence_of,
    topic,
)

CATCH_UP_LIMIT = 400  # occurrences one series may make in one pass


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
        creator = await creator_of(session=session, series=series)
        facts = facts_of(occurrence, series, creator, settings)
        assignments = await assignments_by_officer(session=session, occurrence_id=occurrence.id)
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
