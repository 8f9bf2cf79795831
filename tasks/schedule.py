"""The task scan: makes occurrences as they come due, reminds assignees, escalates overdue tasks.

One pass, every minute, does three set-based things, each on an indexed column:

1. every active series whose latest occurrence is due gets its next occurrence (a series whose
   rule has no more due dates ends); a missed occurrence stays, overdue, until it is completed
   or cancelled;
2. every open assignment whose ``next_remind_at`` has passed gets the latest reminder that fired
   (before the due time, on it, or after "remind me later");
3. every open occurrence whose ``next_escalate_at`` has passed is escalated: at the due time to
   its creator (to the assignees' supervisors when the task has no creator in the bot), and
   ``FRONTLINE_TASK_SUPERVISOR_ESCALATION_HOURS`` later to the creator's supervisors. Someone who
   is to hear of several overdue tasks in one pass gets them as one digest.

Pushes go to the outbox with dedupe keys, so a pass that crashed half-way and ran again sends
nothing twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import identity, outbox
from core.db import transaction, utcnow
from core.holidays import HolidayCalendar
from core.identity import Officer
from core.outbox import OutboxItem
from core.settings import Settings
from tasks import plan, service, texts
from tasks.models import (
    AssignmentStatus,
    OccurrenceStatus,
    Priority,
    SeriesStatus,
    TaskAssignment,
    TaskOccurrence,
    TaskSeries,
)
from tasks.progress import OccurrenceProgress, ScanReport

log = logging.getLogger(__name__)

SCAN_LIMIT = 2000  # rows of each kind looked at in one pass; the next pass takes the rest
DIGEST_BUTTONS = 8


async def scan(
    *, session: AsyncSession, now: datetime, settings: Settings, calendar: HolidayCalendar
) -> ScanReport:
    """Runs one pass: new occurrences, reminders, escalations."""
    report = ScanReport()
    await _make_occurrences(session=session, now=now, settings=settings, calendar=calendar, report=report)
    await _remind(session=session, now=now, settings=settings, report=report)
    await _escalate(session=session, now=now, settings=settings, report=report)
    return report


async def _make_occurrences(
    *, session: AsyncSession, now: datetime, settings: Settings, calendar: HolidayCalendar, report: ScanReport
) -> None:
    due_series = list(
        await session.scalars(
            select(TaskSeries)
            .where(TaskSeries.status == SeriesStatus.ACTIVE.value, TaskSeries.last_due_at <= now)
            .order_by(TaskSeries.last_due_at)
            .limit(SCAN_LIMIT)
        )
    )
    for series in due_series:
        made = await service.advance(session=session, series=series, settings=settings, calendar=calendar, now=now)
        report.occurrences_created += len(made)
        if series.status == SeriesStatus.ENDED.value:
            report.series_ended += 1


async def _remind(*, session: AsyncSession, now: datetime, settings: Settings, report: ScanReport) -> None:
    rows = (
        await session.execute(
            select(TaskAssignment, TaskOccurrence, TaskSeries)
            .join(TaskOccurrence, TaskOccurrence.id == TaskAssignment.occurrence_id)
            .join(TaskSeries, TaskSeries.id == TaskOccurrence.series_id)
            .where(TaskAssignment.next_remind_at <= now)
            .order_by(TaskAssignment.next_remind_at)
            .limit(SCAN_LIMIT)
        )
    ).all()
    if not rows:
        return
    wanted: set[int | None] = {a.officer_id for a, _o, _s in rows}
    wanted |= {s.creator_id for _a, _o, s in rows}
    officers = await _officers(session, wanted)
    leads = settings.task_remind_leads
    items: list[OutboxItem] = []
    for assignment, occurrence, series in rows:
        person = officers.get(assignment.officer_id)
        if (
            assignment.status != AssignmentStatus.OPEN.value
            or occurrence.status != OccurrenceStatus.OPEN.value
            or person is None
            or not person.active
        ):
            assignment.next_remind_at = None
            continue
        slots = plan.slots(occurrence.due_at, occurrence.opens_at, leads)
        slot = plan.fired(slots, now=now, snoozed_until=assignment.snoozed_until, last_at=assignment.last_reminded_at)
        if slot is not None:
            creator = officers.get(series.creator_id) if series.creator_id else None
            facts = service.facts_of(occurrence, series, creator, settings)
            items.append(
                OutboxItem(
                    officer_id=person.id,
                    text=texts.reminder_text(facts, slot.kind, person.language, settings.tz, now),
                    kind=service.KIND_REMIND,
                    dedupe_key=f"task-remind:{assignment.id}:{slot.label}:{int(slot.at.timestamp())}",
                    buttons=texts.assignee_buttons(assignment.id, person.language),
                    urgent=occurrence.priority == Priority.HIGH.value,
                    topic=service.topic(occurrence.id),
                )
            )
            assignment.last_reminded_at = slot.at
            report.reminders += 1
        if assignment.snoozed_until is not None and assignment.snoozed_until <= now:
            assignment.snoozed_until = None
        assignment.next_remind_at = plan.next_check(slots, now=now, snoozed_until=assignment.snoozed_until)
    report.messages += len(items)
    report.enqueued += await outbox.enqueue_many(session=session, items=items)
    await session.flush()


@dataclass(frozen=True)
class _Escalation:
    progress: OccurrenceProgress
    supervisor: bool
    key: str


async def _escalate(*, session: AsyncSession, now: datetime, settings: Settings, report: ScanReport) -> None:
    rows = (
        await session.execute(
            select(TaskOccurrence, TaskSeries)
            .join(TaskSeries, TaskSeries.id == TaskOccurrence.series_id)
            .where(TaskOccurrence.next_escalate_at <= now)
            .order_by(TaskOccurrence.next_escalate_at)
            .limit(SCAN_LIMIT)
        )
    ).all()
    if not rows:
        return
    delay = timedelta(hours=settings.task_supervisor_escalation_hours)
    creators = await _officers(session, {s.creator_id for _o, s in rows if s.creator_id})
    by_recipient: dict[int, list[_Escalation]] = defaultdict(list)
    for occurrence, series in rows:
        if occurrence.status != OccurrenceStatus.OPEN.value:
            occurrence.next_escalate_at = None
            continue
        progress = await service.occurrence_progress(
            session=session, occurrence_id=occurrence.id, settings=settings, now=now
        )
        waiting = progress.waiting
        if not waiting:
            occurrence.next_escalate_at = None
            continue
        creator = creators.get(series.creator_id) if series.creator_id else None
        while (
            occurrence.next_escalate_at is not None
            and occurrence.next_escalate_at <= now
            and occurrence.escalation_level < 2
        ):
            level = occurrence.escalation_level
            if level == 0:
                if creator is not None and creator.active:
                    recipients = [creator.id]
                else:
                    recipients = await _supervisors_of_units(session, {r.officer_id for r in waiting})
                supervisor = creator is None or not creator.active
            else:
                recipients = []
                if creator is not None:
                    recipients = [o.id for o in await identity.supervisors_of(session=session, officer=creator)]
                supervisor = True
            for recipient in recipients:
                by_recipient[recipient].append(
                    _Escalation(progress, supervisor, f"task-escalate:{occurrence.id}:{level}:{recipient}")
                )
            occurrence.escalation_level = level + 1
            occurrence.next_escalate_at = occurrence.due_at + delay if level == 0 else None
            report.escalations += 1
    people = await _officers(session, set(by_recipient))
    items: list[OutboxItem] = []
    for recipient, entries in by_recipient.items():
        person = people.get(recipient)
        if person is None or not person.active:
            continue
        items.append(_escalation_item(person, entries, settings))
    report.messages += len(items)
    report.enqueued += await outbox.enqueue_many(session=session, items=items)
    await session.flush()


def _escalation_item(person: Officer, entries: list[_Escalation], settings: Settings) -> OutboxItem:
    language = person.language
    managing = [e for e in entries if not e.supervisor]
    if len(entries) == 1:
        entry = entries[0]
        return OutboxItem(
            officer_id=person.id,
            text=texts.overdue_text(entry.progress, language, settings.tz, supervisor=entry.supervisor),
            kind=service.KIND_ESCALATE,
            dedupe_key=entry.key,
            buttons=texts.escalation_buttons(entry.progress.facts.occurrence_id, language) if managing else None,
        )
    supervisor = not managing
    text = texts.overdue_digest([e.progress for e in entries], language, settings.tz, supervisor=supervisor)
    digest = hashlib.sha1("\n".join(sorted(e.key for e in entries)).encode()).hexdigest()[:24]
    buttons = [
        [
            {
                "text": f"📋 {texts.cut(e.progress.facts.title, 24)}",
                "callback_data": texts.manage_callback("v", e.progress.facts.occurrence_id),
            }
        ]
        for e in sorted(managing, key=lambda e: e.progress.facts.due)[:DIGEST_BUTTONS]
    ]
    return OutboxItem(
        officer_id=person.id,
        text=text,
        kind=service.KIND_ESCALATE,
        dedupe_key=f"task-escalate-digest:{person.id}:{digest}",
        buttons=buttons or None,
    )


async def _officers(session: AsyncSession, ids: set[int | None]) -> dict[int, Officer]:
    wanted = sorted(i for i in ids if i is not None)
    if not wanted:
        return {}
    rows = await session.scalars(select(Officer).where(Officer.id.in_(wanted)))
    return {o.id: o for o in rows.all()}


async def _supervisors_of_units(session: AsyncSession, officer_ids: set[int]) -> list[int]:
    """Finds the supervisors nearest to each of some officers' units (for tasks without a creator)."""
    people = await _officers(session, set(officer_ids))
    found: list[int] = []
    for unit_id in sorted({p.unit_id for p in people.values()}):
        for supervisor in await identity.nearest_with_role(
            session=session, unit_id=unit_id, role=identity.Role.SUPERVISOR
        ):
            if supervisor.id not in found and supervisor.id not in officer_ids:
                found.append(supervisor.id)
    return found


Scan = Callable[..., Awaitable[ScanReport]]


async def run_task_loop(
    *,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    calendar: HolidayCalendar,
    stop: asyncio.Event,
    interval_seconds: float = 60.0,
    scan_once: Scan = scan,
) -> None:
    """Runs the scan every ``interval_seconds`` until ``stop`` (a failed pass is logged; the next catches up)."""
    while not stop.is_set():
        try:
            async with transaction(sessions) as session:
                report = await scan_once(session=session, now=utcnow(), settings=settings, calendar=calendar)
            if report.occurrences_created or report.messages:
                log.info(
                    "task scan: %d occurrences made, %d reminders, %d escalations, %d messages queued",
                    report.occurrences_created,
                    report.reminders,
                    report.escalations,
                    report.enqueued,
                )
        except Exception:
            log.exception("task scan failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
        except TimeoutError:
            continue
