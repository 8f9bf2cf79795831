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
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
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

SCAN_LIMIT = 2000  # rows of each kind looked at in one pass (one transaction); more passes follow at once
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
    if len(due_series) == SCAN_LIMIT:
        report.more = True
    resolved: service.Resolved = {}
    for series in due_series:
        made = await service.advance(
            session=session, series=series, settings=settings, calendar=calendar, now=now, resolved=resolved
        )
        report.occurrences_created += len(made)
        if series.status == SeriesStatus.ENDED.value:
            report.series_ended += 1


async def _remind(*, session: AsyncSession, now: datetime, settings: Settings, report: ScanReport) -> None:
    rows = (
        await session.execute(
            select(
                TaskAssignment.id,
                TaskAssignment.officer_id,
                TaskAssignment.status,
                TaskAssignment.snoozed_until,
                TaskAssignment.last_reminded_at,
                TaskOccurrence.id.label("occurrence_id"),
                Officer.language,
                Officer.active,
            )
            .join(TaskOccurrence, TaskOccurrence.id == TaskAssignment.occurrence_id)
            .join(Officer, Officer.id == TaskAssignment.officer_id)
            .where(TaskAssignment.next_remind_at <= now)
            .order_by(TaskAssignment.next_remind_at)
            .limit(SCAN_LIMIT)
        )
    ).all()
    if not rows:
        return
    if len(rows) == SCAN_LIMIT:
        report.more = True
    pairs = await _occurrences(session, {row.occurrence_id for row in rows})
    creators = await _names(session, {series.creator_id for _o, series in pairs.values()})
    leads = settings.task_remind_leads
    items: list[OutboxItem] = []
    changes: list[dict[str, Any]] = []
    # Everyone reminded of the same occurrence, at the same moment, in the same language reads the
    # same text: render it once.
    rendered: dict[tuple[int, str, str], str] = {}
    for row in rows:
        occurrence, series = pairs[row.occurrence_id]
        if (
            row.status != AssignmentStatus.OPEN.value
            or occurrence.status != OccurrenceStatus.OPEN.value
            or not row.active
        ):
            changes.append({"id": row.id, "next_remind_at": None})
            continue
        slots = plan.slots(occurrence.due_at, occurrence.opens_at, leads)
        slot = plan.fired(slots, now=now, snoozed_until=row.snoozed_until, last_at=row.last_reminded_at)
        change: dict[str, Any] = {"id": row.id, "last_reminded_at": row.last_reminded_at}
        if slot is not None:
            key = (occurrence.id, slot.kind, row.language)
            if key not in rendered:
                facts = service.facts_of(occurrence, series, None, settings)
                name, badge = creators.get(series.creator_id or 0, (None, None))
                facts = replace(facts, creator_name=name, creator_badge=badge)
                rendered[key] = texts.reminder_text(facts, slot.kind, row.language, settings.tz, now)
            items.append(
                OutboxItem(
                    officer_id=row.officer_id,
                    text=rendered[key],
                    kind=service.KIND_REMIND,
                    dedupe_key=f"task-remind:{row.id}:{slot.label}:{int(slot.at.timestamp())}",
                    buttons=texts.assignee_buttons(row.id, row.language),
                    urgent=occurrence.priority == Priority.HIGH.value,
                    topic=service.topic(occurrence.id),
                )
            )
            change["last_reminded_at"] = slot.at
            report.reminders += 1
        snoozed = row.snoozed_until if row.snoozed_until is not None and row.snoozed_until > now else None
        change["snoozed_until"] = snoozed
        change["next_remind_at"] = plan.next_check(slots, now=now, snoozed_until=snoozed)
        changes.append(change)
    report.messages += len(items)
    report.enqueued += await outbox.enqueue_many(session=session, items=items)
    # One executemany per shape of change, not an ORM flush per row.
    for shape in {tuple(sorted(c)) for c in changes}:
        batch = [c for c in changes if tuple(sorted(c)) == shape]
        await session.execute(update(TaskAssignment), batch)


async def _occurrences(
    session: AsyncSession, ids: set[int]
) -> dict[int, tuple[TaskOccurrence, TaskSeries]]:
    rows = await session.execute(
        select(TaskOccurrence, TaskSeries)
        .join(TaskSeries, TaskSeries.id == TaskOccurrence.series_id)
        .where(TaskOccurrence.id.in_(sorted(ids)))
    )
    return {occurrence.id: (occurrence, series) for occurrence, series in rows.all()}


async def _names(session: AsyncSession, ids: set[int | None]) -> dict[int, tuple[str | None, str | None]]:
    wanted = sorted(i for i in ids if i is not None)
    if not wanted:
        return {}
    rows = await session.execute(select(Officer.id, Officer.name, Officer.badge).where(Officer.id.in_(wanted)))
    return {row.id: (row.name, row.badge) for row in rows.all()}


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
    if len(rows) == SCAN_LIMIT:
        report.more = True
    delay = timedelta(hours=settings.task_supervisor_escalation_hours)
    creators = await _officers(session, {s.creator_id for _o, s in rows if s.creator_id})
    open_pairs = [(o, s) for o, s in rows if o.status == OccurrenceStatus.OPEN.value]
    progress_by_id = await service.progress_many(session=session, pairs=open_pairs, settings=settings, now=now)
    by_recipient: dict[int, list[_Escalation]] = defaultdict(list)
    above: dict[int, list[int]] = {}  # a creator's supervisors, looked up once a pass
    for occurrence, series in rows:
        if occurrence.status != OccurrenceStatus.OPEN.value:
            occurrence.next_escalate_at = None
            continue
        progress = progress_by_id[occurrence.id]
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
                    if creator.id not in above:
                        found = await identity.supervisors_of(session=session, officer=creator)
                        above[creator.id] = [o.id for o in found]
                    recipients = above[creator.id]
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
    """Runs the scan every ``interval_seconds`` until ``stop`` (a failed pass is logged; the next catches up).

    A pass that had more to do than one transaction takes is followed by the next at once.
    """
    while not stop.is_set():
        more = False
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
            more = report.more
        except Exception:
            log.exception("task scan failed")
        if more:
            await asyncio.sleep(0)
            continue
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
        except TimeoutError:
            continue
