"""Reading tasks: lookups, an officer's list, a creator's list, progress per occurrence and per
series, and the stable rows of the command line. Nothing here writes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.holidays import HolidayCalendar
from core.identity import Officer
from core.settings import Settings
from tasks.models import (
    AssignmentStatus,
    OccurrenceStatus,
    SeriesStatus,
    TaskAssignment,
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
from tasks.recurrence import Repeat, next_due, upcoming
from tasks.spec import TaskError, facts_of, may_manage, recurrence_of, state_of


async def creator_of(*, session: AsyncSession, series: TaskSeries) -> Officer | None:
    if series.creator_id is None:
        return None
    return await session.get(Officer, series.creator_id)


async def officers_by_id(*, session: AsyncSession, ids: Iterable[int]) -> dict[int, Officer]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.scalars(select(Officer).where(Officer.id.in_(wanted)))
    return {o.id: o for o in rows.all()}


async def assignments_by_officer(*, session: AsyncSession, occurrence_id: int) -> dict[int, TaskAssignment]:
    rows = await session.scalars(select(TaskAssignment).where(TaskAssignment.occurrence_id == occurrence_id))
    return {a.officer_id: a for a in rows.all()}


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
    return facts_of(occurrence, series, await creator_of(session=session, series=series), settings)


async def managed(
    *, session: AsyncSession, occurrence_id: int, officer: Officer | None
) -> tuple[TaskOccurrence, TaskSeries]:
    found = await get_occurrence(session=session, occurrence_id=occurrence_id)
    if found is None:
        raise TaskError("not_found", str(occurrence_id))
    occurrence, series = found
    if officer is not None and not may_manage(officer, series):
        raise TaskError("forbidden")
    return occurrence, series


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
    creators = await officers_by_id(session=session, ids=[s.creator_id for _a, _o, s in rows if s.creator_id])
    items = [
        MyTask(
            assignment_id=a.id,
            facts=facts_of(o, s, creators.get(s.creator_id) if s.creator_id else None, settings),
            state=state_of(a.status, o, now),
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
    creator = await creator_of(session=session, series=series)
    return MyTask(
        assignment_id=assignment.id,
        facts=facts_of(occurrence, series, creator, settings),
        state=state_of(assignment.status, occurrence, now),
        snoozed_until=assignment.snoozed_until,
    )


async def occurrence_progress(
    *, session: AsyncSession, occurrence_id: int, settings: Settings, now: datetime, officer: Officer | None = None
) -> OccurrenceProgress:
    """Completion per assignee of one occurrence (``officer``: checked to be its creator or an admin)."""
    occurrence, series = await managed(session=session, occurrence_id=occurrence_id, officer=officer)
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
        state = state_of(row.status, occurrence, now)
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
            select(
                TaskAssignment.occurrence_id,
                TaskAssignment.status,
                TaskAssignment.completed_at,
                Officer.id,
                Officer.name,
                Officer.badge,
            )
            .join(Officer, Officer.id == TaskAssignment.officer_id)
            .join(TaskOccurrence, TaskOccurrence.id == TaskAssignment.occurrence_id)
            .where(TaskOccurrence.series_id == series.id)
        )
    ).all()
    tallies: dict[int, dict[str, Any]] = {}
    per_occurrence: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        occurrence = by_id[row.occurrence_id]
        state = state_of(row.status, occurrence, now)
        tally = tallies.setdefault(
            row.id, {"name": row.name, "badge": row.badge, "done": 0, "late": 0, "open": 0, "overdue": 0}
        )
        if state in ("done", "open", "overdue"):
            tally[state] += 1
            per_occurrence[occurrence.id][1] += 1
        if state == "done":
            per_occurrence[occurrence.id][0] += 1
            if row.completed_at is not None and row.completed_at > occurrence.due_at:
                tally["late"] += 1
    officers = sorted(
        (OfficerTally(officer_id=i, **t) for i, t in tallies.items()),
        key=lambda t: (-(t.overdue), -(t.late), t.badge),
    )
    creator = await creator_of(session=session, series=series)
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
    counts = await _done_and_due(session, [o.id for o, _s in rows])
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
            "status": state_of(assignment.status, occurrence, now),
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


OCCURRENCE_STATES = ("open", "overdue", "done", "cancelled")


async def occurrence_list(
    *,
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    creator_id: int | None,
    state: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[CreatedTask], int]:
    """Lists occurrences of the tasks one officer gave (None: everyone's), open ones by due time first; and how many.

    ``state`` narrows to open (not yet due), overdue (open past its due time), done or cancelled.
    """
    where: list[Any] = []
    if creator_id is not None:
        where.append(TaskSeries.creator_id == creator_id)
    if state == "open":
        where += [TaskOccurrence.status == OccurrenceStatus.OPEN.value, TaskOccurrence.due_at >= now]
    elif state == "overdue":
        where += [TaskOccurrence.status == OccurrenceStatus.OPEN.value, TaskOccurrence.due_at < now]
    elif state in ("done", "cancelled"):
        where.append(TaskOccurrence.status == state)
    elif state is not None:
        raise TaskError("bad_state", state)
    base = select(TaskOccurrence, TaskSeries).join(TaskSeries, TaskSeries.id == TaskOccurrence.series_id).where(*where)
    is_open = TaskOccurrence.status == OccurrenceStatus.OPEN.value
    rows = (
        await session.execute(
            base.order_by(~is_open, TaskOccurrence.due_at.desc() if state in ("done", "cancelled") else TaskOccurrence.due_at,
                          TaskOccurrence.id.desc())
            .offset(offset)
            .limit(limit)
        )
    ).all()
    total = await session.scalar(
        select(func.count()).select_from(TaskOccurrence).join(TaskSeries, TaskSeries.id == TaskOccurrence.series_id).where(*where)
    )
    counts = await _done_and_due(session, [o.id for o, _s in rows])
    creators = await officers_by_id(session=session, ids={s.creator_id for _o, s in rows if s.creator_id is not None})
    items = []
    for occurrence, series in rows:
        done, total_here = counts[occurrence.id]
        late = occurrence.due_at < now and occurrence.status == OccurrenceStatus.OPEN.value
        items.append(
            CreatedTask(
                facts=facts_of(occurrence, series, creators.get(series.creator_id or 0), settings),
                done=done, total=total_here, overdue=total_here - done if late else 0,
            )
        )
    return items, int(total or 0)


async def overdue_summary(
    *, session: AsyncSession, now: datetime, unit_ids: Iterable[int] | None, limit: int = 5
) -> tuple[int, int, list[tuple[TaskOccurrence, int]]]:
    """Counts open assignments past their due time of officers in some units (None: all).

    Returns (overdue assignments, occurrences they belong to, the occurrences with the most of them).
    """
    where: list[Any] = [
        TaskAssignment.status == AssignmentStatus.OPEN.value,
        TaskOccurrence.status == OccurrenceStatus.OPEN.value,
        TaskOccurrence.due_at < now,
    ]
    query = select(TaskAssignment.occurrence_id, TaskOccurrence.due_at, func.count()).join(
        TaskOccurrence, TaskOccurrence.id == TaskAssignment.occurrence_id
    )
    if unit_ids is not None:
        query = query.join(Officer, Officer.id == TaskAssignment.officer_id)
        where.append(Officer.unit_id.in_(sorted(unit_ids)))
    grouped = query.where(*where).group_by(TaskAssignment.occurrence_id, TaskOccurrence.due_at)
    counts = [(int(i), due, int(n)) for i, due, n in (await session.execute(grouped)).all()]
    worst = sorted(counts, key=lambda row: (-row[2], row[1], row[0]))[:limit]
    found = {
        o.id: o for o in await session.scalars(select(TaskOccurrence).where(TaskOccurrence.id.in_([i for i, _d, _n in worst])))
    } if worst else {}
    top = [(found[i], n) for i, _due, n in worst if i in found]
    return sum(n for _i, _d, n in counts), len(counts), top


async def _done_and_due(session: AsyncSession, occurrence_ids: list[int]) -> dict[int, list[int]]:
    """Per occurrence: [assignments done, assignments that count (done or open)]; cancelled ones do not."""
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    if not occurrence_ids:
        return counts
    for occurrence_id, status, n in (
        await session.execute(
            select(TaskAssignment.occurrence_id, TaskAssignment.status, func.count())
            .where(TaskAssignment.occurrence_id.in_(occurrence_ids))
            .group_by(TaskAssignment.occurrence_id, TaskAssignment.status)
        )
    ).all():
        if status == AssignmentStatus.DONE.value:
            counts[occurrence_id][0] += int(n)
        if status in (AssignmentStatus.DONE.value, AssignmentStatus.OPEN.value):
            counts[occurrence_id][1] += int(n)
    return counts
