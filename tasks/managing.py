"""The creator's side: reminding those not done, sending a completion back with a reason,
cancelling, and changing a task from an occurrence on."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, outbox
from core.holidays import HolidayCalendar
from core.identity import Officer
from core.outbox import OutboxItem
from core.settings import Settings
from tasks import assignees as people
from tasks import plan, texts
from tasks.answers import escalation_time, settle
from tasks.cards import refresh_cards
from tasks.giving import advance
from tasks.models import (
    AssignmentStatus,
    OccurrenceStatus,
    Priority,
    SeriesStatus,
    TaskAssignment,
    TaskOccurrence,
    TaskReopening,
)
from tasks.reading import assignments_by_officer, creator_of, get_assignment, managed, officers_by_id
from tasks.recurrence import Repeat
from tasks.spec import (
    KIND_CHANGE,
    KIND_NOTICE,
    KIND_NUDGE,
    MAX_DESCRIPTION,
    MAX_REASON,
    MAX_TITLE,
    NUDGE_BUCKET,
    Changes,
    TaskError,
    facts_of,
    may_manage,
    topic,
)


async def nudge(
    *, session: AsyncSession, occurrence_id: int, officer: Officer, settings: Settings, now: datetime
) -> int:
    """Reminds every assignee who has not completed an occurrence; returns how many were reminded."""
    occurrence, series = await managed(session=session, occurrence_id=occurrence_id, officer=officer)
    if occurrence.status != OccurrenceStatus.OPEN.value:
        raise TaskError("closed")
    open_rows = list(
        await session.scalars(
            select(TaskAssignment).where(
                TaskAssignment.occurrence_id == occurrence.id, TaskAssignment.status == AssignmentStatus.OPEN.value
            )
        )
    )
    people_by_id = await officers_by_id(session=session, ids=[a.officer_id for a in open_rows])
    creator = await creator_of(session=session, series=series)
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
        facts = facts_of(occurrence, series, await creator_of(session=session, series=series), settings)
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
    await settle(session=session, occurrence=occurrence, series=series, settings=settings, calendar=calendar, now=now)
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
    occurrence, series = await managed(session=session, occurrence_id=occurrence_id, officer=officer)
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
    creator = await creator_of(session=session, series=series)
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
        people_by_id = await officers_by_id(session=session, ids=[a.officer_id for a in open_rows])
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
    for target in cancelled or [occurrence]:  # the series' card changes even when nothing open was left
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
    occurrence, series = await managed(session=session, occurrence_id=occurrence_id, officer=officer)
    if occurrence.status == OccurrenceStatus.CANCELLED.value or (
        occurrence.status != OccurrenceStatus.OPEN.value and series.status != SeriesStatus.ACTIVE.value
    ):
        raise TaskError("closed")
    if all(
        value is None
        for value in (changes.title, changes.description, changes.priority, changes.due, changes.assignees)
    ):
        raise TaskError("nothing_to_change")
    # Everything is checked before anything changes: a refused change leaves the task as it was.
    title = changes.title.strip() if changes.title is not None else None
    if title is not None and not title:
        raise TaskError("title_empty")
    if title is not None and len(title) > MAX_TITLE:
        raise TaskError("title_long")
    if changes.description is not None and len(changes.description) > MAX_DESCRIPTION:
        raise TaskError("description_long")
    new_time: time | None = None
    local_due: datetime | None = None
    if changes.due is not None:
        if changes.due.tzinfo is None:
            raise ValueError("a due time must be timezone-aware")
        local_due = changes.due.astimezone(settings.tz)
        new_time = local_due.time().replace(second=0, microsecond=0, tzinfo=None)
        if Repeat(series.repeat) is Repeat.NONE and changes.due <= now:
            raise TaskError("due_past", local_due.strftime("%Y-%m-%d %H:%M"))
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
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    if title is not None:
        before["title"], after["title"] = series.title, title
        series.title = title
    if changes.description is not None:
        description = changes.description.strip() or None
        before["description"], after["description"] = series.description, description
        series.description = description
    if changes.priority is not None:
        before["priority"], after["priority"] = series.priority, changes.priority.value
        series.priority = changes.priority.value
    if new_time is not None and local_due is not None:
        before["due_time"], after["due_time"] = series.due_time, new_time.strftime("%H:%M")
        if Repeat(series.repeat) is Repeat.NONE:
            before["start_date"], after["start_date"] = series.start_date.isoformat(), local_due.date().isoformat()
            series.start_date = local_due.date()
        series.due_time = new_time.strftime("%H:%M")
    if resolution is not None:
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
    creator = await creator_of(session=session, series=series)
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
        current = await assignments_by_officer(session=session, occurrence_id=target.id)
        slots = plan.slots(target.due_at, target.opens_at, leads)
        facts = facts_of(target, series, creator, settings)
        keep = {o.id for o in resolution.officers} if resolution is not None else None
        people_by_id = await officers_by_id(session=session, ids=[*current, *(keep or set())])
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
                target.next_escalate_at = escalation_time(target, settings)
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
