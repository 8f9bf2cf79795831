"""The assignee's side: completing (with a note or a photo) and "remind me later", and what a
completion sets off: the occurrence closes when everyone is done, the next one is made, the
creator hears of it and their card follows."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, outbox
from core.holidays import HolidayCalendar
from core.identity import Officer
from core.settings import Settings
from tasks import plan, texts
from tasks.cards import refresh_cards
from tasks.giving import advance
from tasks.models import (
    AssignmentStatus,
    OccurrenceStatus,
    TaskAssignment,
    TaskCompletion,
    TaskOccurrence,
    TaskSeries,
)
from tasks.reading import creator_of, get_assignment, occurrence_progress
from tasks.spec import KIND_DONE, MAX_NOTE, SNOOZE_MORNING, TaskError


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
    await settle(session=session, occurrence=occurrence, series=series, settings=settings, calendar=calendar, now=now)
    return assignment


async def settle(
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
            occurrence.next_escalate_at = escalation_time(occurrence, settings)
            occurrence.updated_at = now
    await session.flush()
    await refresh_cards(
        session=session, occurrence=occurrence, series=series, settings=settings, calendar=calendar, now=now
    )


def escalation_time(occurrence: TaskOccurrence, settings: Settings) -> datetime | None:
    if occurrence.escalation_level <= 0:
        return occurrence.due_at
    if occurrence.escalation_level == 1:
        return occurrence.due_at + timedelta(hours=settings.task_supervisor_escalation_hours)
    return None


async def _tell_creator_all_done(
    *, session: AsyncSession, occurrence: TaskOccurrence, series: TaskSeries, settings: Settings, now: datetime
) -> None:
    creator = await creator_of(session=session, series=series)
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
