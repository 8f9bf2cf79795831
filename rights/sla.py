"""The office's time limits: how long each step may take, per unit, paused while waiting for the applicant.

Three clocks: acceptance (from submission, in working days), first feedback to the applicant
(from acceptance, in working days) and the decision (from acceptance, in days; a last day that
falls on a rest day moves to the next working day). A limit of N runs to the end of the N-th
day after the day the clock started, counted with the holiday calendar (official make-up
working days included). The figures come from the settings, or from the nearest unit up the
office's chain that set its own; each clock keeps the figure it started with.

While the application waits for the applicant the clocks are paused: when it resumes, each
running limit moves by the working days (or days) that passed after the day the request went
out, up to and including the day it resumed.

The periodic scan reminds the handler a configurable number of hours before each limit and
escalates to the office's supervisor once it has passed; it also purges evidence files whose
retention period has ended and sweeps files no application refers to.
"""

from __future__ import annotations

import asyncio
import logging
import time as clock
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from core import audit, identity, outbox
from core.audit import AuditEvent
from core.db import transaction, utcnow
from core.holidays import HolidayCalendar, load_calendar
from core.identity import Officer, Role, Unit, unit_chain_ids, unit_parents, unit_subtree_ids
from core.outbox import OutboxItem
from core.settings import Settings
from rights import custody, notify
from rights.access import RightsError, RightsForbidden, Viewer, actor_name, is_admin, officer_id_of
from rights.evidence import remove_file, sweep_orphans
from rights.models import (
    EvidenceStatus,
    RightsApplication,
    RightsEvent,
    RightsEvidence,
    RightsUnitLimits,
    Status,
)

log = logging.getLogger(__name__)

LIMIT_KEYS = ("accept", "feedback", "decide")
WORKING_DAY_LIMITS = frozenset({"accept", "feedback"})
COLUMNS = {"accept": "accept_working_days", "feedback": "feedback_working_days", "decide": "decide_days"}
BOUNDS = {"accept": (1, 30), "feedback": (1, 60), "decide": (1, 365)}
ORPHAN_AGE_SECONDS = 7 * 24 * 3600  # a draft's files wait this long for it to be submitted


@dataclass(frozen=True)
class Limits:
    """The time limits in force for an office: figures, and where each comes from (unit name or None)."""

    accept: int
    feedback: int
    decide: int
    sources: dict[str, str | None] = field(default_factory=dict)

    def get(self, key: str) -> int:
        """Returns one limit by its key."""
        value: int = getattr(self, key)
        return value

    def as_dict(self) -> dict[str, int]:
        """Returns the figures by key."""
        return {key: self.get(key) for key in LIMIT_KEYS}


def setting_limits(settings: Settings) -> dict[str, int]:
    """Returns the limits the settings give."""
    return {
        "accept": settings.rights_accept_working_days,
        "feedback": settings.rights_feedback_working_days,
        "decide": settings.rights_decide_days,
    }


async def limits_for(*, session: AsyncSession, settings: Settings, unit_id: int | None) -> Limits:
    """Returns the limits for an office: each from the nearest unit up its chain that set it, else the setting."""
    rows = {row.unit_id: row for row in await session.scalars(select(RightsUnitLimits))}
    chain = unit_chain_ids(await unit_parents(session=session), unit_id) if unit_id is not None else []
    names = dict((await session.execute(select(Unit.id, Unit.name))).all()) if rows else {}
    values = setting_limits(settings)
    sources: dict[str, str | None] = dict.fromkeys(LIMIT_KEYS)
    for key in LIMIT_KEYS:
        for unit in chain:
            row = rows.get(unit)
            value = getattr(row, COLUMNS[key]) if row is not None else None
            if value is not None:
                values[key] = value
                sources[key] = names.get(unit)
                break
    return Limits(values["accept"], values["feedback"], values["decide"], sources)


async def may_set_limits(*, session: AsyncSession, viewer: Viewer, unit: Unit) -> bool:
    """Tells whether a viewer may set a unit's limits: administrators, and rights officers at or above it."""
    if is_admin(viewer):
        return True
    assert isinstance(viewer, Officer)
    if not viewer.has_role(Role.RIGHTS):
        return False
    return unit.id in await unit_subtree_ids(session=session, unit_ids=[viewer.unit_id])


async def set_unit_limits(
    *,
    session: AsyncSession,
    settings: Settings,
    viewer: Viewer,
    unit_name: str,
    accept: int | None = None,
    feedback: int | None = None,
    decide: int | None = None,
    clear: bool = False,
    now: datetime | None = None,
) -> tuple[Limits, Limits]:
    """Sets (or with clear=True removes) a unit's own time limits; audits who, when, old -> new.

    Returns the limits in force for the unit before and after. Running clocks keep the figures
    they started with.
    """
    unit = await identity.get_unit(session=session, name=unit_name.strip())
    if unit is None:
        raise RightsError("no_unit", f"no such unit: {unit_name}")
    if not await may_set_limits(session=session, viewer=viewer, unit=unit):
        await audit.record(
            session=session, actor=actor_name(viewer), action="rights.refused", target_type="unit",
            target_id=unit.name, officer_id=officer_id_of(viewer), detail={"attempted": "set limits"},
        )
        raise RightsForbidden(f"{actor_name(viewer)} may not set the limits of {unit.name}")
    changes = {"accept": accept, "feedback": feedback, "decide": decide}
    for key, value in changes.items():
        if value is not None:
            low, high = BOUNDS[key]
            if not low <= value <= high:
                raise RightsError("bad_limit", f"the {key} limit must be between {low} and {high}")
    if not clear and all(value is None for value in changes.values()):
        raise RightsError("bad_limit", "give at least one of accept, feedback, decide (or clear)")
    before = await limits_for(session=session, settings=settings, unit_id=unit.id)
    row = await session.get(RightsUnitLimits, unit.id)
    own_before = {key: getattr(row, COLUMNS[key]) for key in LIMIT_KEYS} if row else dict.fromkeys(LIMIT_KEYS)
    now = now or utcnow()
    if clear:
        if row is not None:
            await session.delete(row)
    else:
        if row is None:
            row = RightsUnitLimits(unit_id=unit.id, updated_by=actor_name(viewer), updated_at=now)
            session.add(row)
        for key, value in changes.items():
            if value is not None:
                setattr(row, COLUMNS[key], value)
        row.updated_by = actor_name(viewer)
        row.updated_at = now
    await session.flush()
    after = await limits_for(session=session, settings=settings, unit_id=unit.id)
    own_after = dict.fromkeys(LIMIT_KEYS) if clear else {key: getattr(row, COLUMNS[key]) for key in LIMIT_KEYS}
    await audit.record(
        session=session,
        actor=actor_name(viewer),
        action="rights.limits",
        target_type="unit",
        target_id=unit.name,
        officer_id=officer_id_of(viewer),
        at=now,
        detail={
            "unit": unit.name,
            "own": {"old": own_before, "new": own_after},
            "in_force": {"old": before.as_dict(), "new": after.as_dict()},
        },
    )
    return before, after


# --- computing due moments ---------------------------------------------------------------------


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """Returns the end of a local day (the next midnight), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)


def last_day(due: datetime, tz: ZoneInfo) -> date:
    """Returns the local day a limit ends on."""
    return (due.astimezone(tz) - timedelta(microseconds=1)).date()


def due_after(start: datetime, *, key: str, amount: int, calendar: HolidayCalendar, tz: ZoneInfo) -> datetime:
    """Returns when a limit of ``amount`` started at ``start`` ends."""
    day = start.astimezone(tz).date()
    if key in WORKING_DAY_LIMITS:
        day = calendar.add_working_days(day, amount)
    else:
        day = calendar.next_working_day(day + timedelta(days=amount))
    return end_of_day(day, tz)


def shifted(
    due: datetime, *, key: str, paused_from: datetime, resumed_at: datetime, calendar: HolidayCalendar, tz: ZoneInfo
) -> datetime:
    """Moves a limit by the time it was paused (working days or days after the day it paused)."""
    first = paused_from.astimezone(tz).date()
    last = resumed_at.astimezone(tz).date()
    day = last_day(due, tz)
    if key in WORKING_DAY_LIMITS:
        paused = calendar.working_days_between(first, last)
        return end_of_day(calendar.add_working_days(day, paused), tz) if paused else due
    paused_days = max(0, (last - first).days)
    if not paused_days:
        return due
    return end_of_day(calendar.next_working_day(day + timedelta(days=paused_days)), tz)


def resume_clocks(application: RightsApplication, *, now: datetime, calendar: HolidayCalendar, tz: ZoneInfo) -> dict[str, Any]:
    """Moves every running limit of an application that stops waiting; returns what moved (old -> new)."""
    moved: dict[str, Any] = {}
    if application.waiting_since is None:
        return moved
    for key in LIMIT_KEYS:
        column = f"{key}_due_at"
        due: datetime | None = getattr(application, column)
        if due is None:
            continue
        new = shifted(due, key=key, paused_from=application.waiting_since, resumed_at=now, calendar=calendar, tz=tz)
        if new != due:
            setattr(application, column, new)
            moved[key] = {"old": due.isoformat(), "new": new.isoformat()}
    application.waiting_since = None
    return moved


def next_due(application: RightsApplication) -> datetime | None:
    """Returns the earliest running limit (None while waiting, decided or final)."""
    if application.status not in (Status.SUBMITTED, Status.ACCEPTED, Status.INVESTIGATING):
        return None
    dues = [getattr(application, f"{key}_due_at") for key in LIMIT_KEYS]
    running = [due for due in dues if due is not None]
    return min(running) if running else None


# --- the periodic scan -------------------------------------------------------------------------


@dataclass
class ScanReport:
    """What one scan did."""

    checked: int = 0
    reminders: int = 0
    escalations: int = 0
    purged: list[str] = field(default_factory=list)
    purged_hashes: set[str] = field(default_factory=set)


@dataclass
class _Directory:
    """Who the scan may push to, loaded once per scan (not once per application)."""

    officers: dict[int, Officer]
    units: dict[int, str]
    parents: dict[int, int | None]
    rights: dict[int, list[Officer]]  # unit id -> active rights officers (by the role itself)
    supervisors: dict[int, list[Officer]]
    admins: list[Officer]

    @classmethod
    async def load(cls, session: AsyncSession) -> _Directory:
        officers = {
            o.id: o for o in await session.scalars(
                select(Officer).options(selectinload(Officer.role_rows)).where(Officer.active.is_(True))
            )
        }
        rights: dict[int, list[Officer]] = {}
        supervisors: dict[int, list[Officer]] = {}
        admins: list[Officer] = []
        for officer in officers.values():
            held = {row.role for row in officer.role_rows}
            if Role.RIGHTS.value in held:
                rights.setdefault(officer.unit_id, []).append(officer)
            if Role.SUPERVISOR.value in held:
                supervisors.setdefault(officer.unit_id, []).append(officer)
            if Role.ADMIN.value in held:
                admins.append(officer)
        units = {unit.id: unit.name for unit in await session.scalars(select(Unit))}
        return cls(officers, units, await unit_parents(session=session), rights, supervisors, admins)

    def office(self, application: RightsApplication) -> list[Officer]:
        """The handler if assigned and active, else the office's rights officers (never the applicant)."""
        handler = self.officers.get(application.handler_id) if application.handler_id else None
        if handler is not None:
            return [handler]
        unit = application.office_unit_id
        return [o for o in self.rights.get(unit, []) if o.id != application.applicant_id] if unit else []

    def supervisors_of(self, application: RightsApplication) -> list[Officer]:
        """The supervisors of the nearest unit up the office's chain that has any, else the administrators."""
        for unit in unit_chain_ids(self.parents, application.office_unit_id):
            found = [o for o in self.supervisors.get(unit, []) if o.id != application.applicant_id]
            if found:
                return found
        return [o for o in self.admins if o.id != application.applicant_id]


def _event_row(application: RightsApplication, at: datetime, kind: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "application_id": application.id, "at": at, "actor_id": None, "actor": audit.SYSTEM_ACTOR, "kind": kind,
        "status_from": None, "status_to": None, "text": None, "to_applicant": False, "detail": detail,
    }


async def scan(*, session: AsyncSession, settings: Settings, now: datetime | None = None) -> ScanReport:
    """Sends the reminders and escalations that are due; each once per limit and due moment.

    Only applications with a limit inside the reminder window are read; the people to push to are
    loaded once; all pushes go to the outbox in one batch.
    """
    now = now or utcnow()
    report = ScanReport()
    before = timedelta(hours=settings.rights_remind_before_hours)
    horizon = now + before
    running = list(
        await session.scalars(
            select(RightsApplication).where(
                RightsApplication.status.in_([Status.SUBMITTED, Status.ACCEPTED, Status.INVESTIGATING]),
                or_(
                    RightsApplication.accept_due_at <= horizon,
                    RightsApplication.feedback_due_at <= horizon,
                    RightsApplication.decide_due_at <= horizon,
                ),
            )
        )
    )
    if not running:
        return report
    directory = await _Directory.load(session)
    items: list[OutboxItem] = []
    events: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    marked: list[dict[str, Any]] = []
    for application in running:
        report.checked += 1
        marks = dict(application.sla_marks or {})
        for key in LIMIT_KEYS:
            due: datetime | None = getattr(application, f"{key}_due_at")
            if due is None:
                continue
            stamp = f"{key}:{due.isoformat()}"
            if now >= due and f"esc:{stamp}" not in marks:
                office = directory.office(application)
                items += notify.reminder_items(
                    settings=settings, application=application, key=key, due=due, overdue=True, recipients=office
                )
                supervisors = directory.supervisors_of(application)
                handler = directory.officers.get(application.handler_id) if application.handler_id else None
                items += notify.escalation_items(
                    settings=settings, application=application, key=key, due=due,
                    office=directory.units.get(application.office_unit_id) if application.office_unit_id else None,
                    handler=handler.name if handler else None, recipients=supervisors,
                )
                detail = {"limit": key, "due": due.isoformat(), "to": [o.badge for o in supervisors]}
                events.append(_event_row(application, now, "escalated", detail))
                audits.append({
                    "at": now, "actor": audit.SYSTEM_ACTOR, "officer_id": None, "action": "rights.escalated",
                    "target_type": "rights_application", "target_id": application.number, "detail": detail,
                })
                marks[f"esc:{stamp}"] = now.isoformat()
                marks.setdefault(f"rem:{stamp}", now.isoformat())
                report.escalations += 1
            elif due - before <= now < due and f"rem:{stamp}" not in marks:
                items += notify.reminder_items(
                    settings=settings, application=application, key=key, due=due, overdue=False,
                    recipients=directory.office(application),
                )
                events.append(_event_row(application, now, "reminded", {"limit": key, "due": due.isoformat()}))
                marks[f"rem:{stamp}"] = now.isoformat()
                report.reminders += 1
        if marks != (application.sla_marks or {}):
            marked.append({"id": application.id, "sla_marks": marks})
            set_committed_value(application, "sla_marks", marks)  # the bulk UPDATE below writes it
    # A bad morning after an outage may pass thousands of limits at once: one executemany per table
    # instead of the unit of work's row-by-row flush (bench/rights_scan.py).
    if marked:
        await session.execute(update(RightsApplication), marked)
    if events:
        await session.execute(insert(RightsEvent), events)
    if audits:
        await session.execute(insert(AuditEvent), audits)
    await outbox.enqueue_many(session=session, items=items)
    await session.flush()
    return report


async def purge_expired(*, session: AsyncSession, settings: Settings, now: datetime | None = None) -> ScanReport:
    """Marks the evidence of applications ended longer ago than the retention period as purged.

    The files themselves are removed after the commit (:func:`remove_purged_files`), so a rollback
    never leaves rows saying "stored" for files that are gone. The custody log and hashes stay.
    """
    now = now or utcnow()
    report = ScanReport()
    cutoff = now - timedelta(days=settings.rights_retention_days)
    expired = await session.scalars(
        select(RightsApplication).where(
            RightsApplication.ended_at.is_not(None),
            RightsApplication.ended_at <= cutoff,
            RightsApplication.purged_at.is_(None),
        )
    )
    for application in list(expired):
        items = await session.scalars(
            select(RightsEvidence).where(
                RightsEvidence.application_id == application.id,
                RightsEvidence.status == EvidenceStatus.STORED.value,
            )
        )
        purged = 0
        for item in list(items):
            item.status = EvidenceStatus.PURGED.value
            item.purged_at = now
            await custody.append(
                session=session, application=application, actor=audit.SYSTEM_ACTOR, action=custody.PURGED,
                evidence_id=item.id, sha256=item.sha256, at=now,
                detail={"retention_days": settings.rights_retention_days},
            )
            if item.sha256:
                report.purged_hashes.add(item.sha256)
            purged += 1
        application.purged_at = now
        await audit.record(
            session=session, actor=audit.SYSTEM_ACTOR, action="rights.purged", target_type="rights_application",
            target_id=application.number, at=now,
            detail={"files": purged, "ended_at": application.ended_at.isoformat() if application.ended_at else None,
                    "retention_days": settings.rights_retention_days},
        )
        report.purged.append(application.number)
    await session.flush()
    return report


async def remove_purged_files(*, session: AsyncSession, settings: Settings, hashes: set[str]) -> int:
    """Deletes the files of purged evidence that no stored evidence still refers to; returns how many."""
    if not hashes:
        return 0
    still = set(
        await session.scalars(
            select(RightsEvidence.sha256).where(
                RightsEvidence.sha256.in_(list(hashes)), RightsEvidence.status == EvidenceStatus.STORED.value
            )
        )
    )
    removed = 0
    for sha in sorted(hashes - still):
        if remove_file(settings, sha):
            removed += 1
    return removed


async def sweep(*, session: AsyncSession, settings: Settings, older_than_seconds: float = ORPHAN_AGE_SECONDS) -> list[str]:
    """Removes stored files no stored evidence refers to (drafts never submitted, purges left half done)."""
    referenced = set(
        await session.scalars(
            select(RightsEvidence.sha256).where(
                RightsEvidence.sha256.is_not(None), RightsEvidence.status == EvidenceStatus.STORED.value
            )
        )
    )
    return await asyncio.to_thread(sweep_orphans, settings, {s for s in referenced if s}, older_than_seconds=older_than_seconds)


async def run_sla_loop(
    *,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    stop: asyncio.Event,
    interval_seconds: float = 300.0,
    sweep_every_seconds: float = 6 * 3600.0,
) -> None:
    """Scans the time limits, purges expired evidence and sweeps orphan files until ``stop`` is set."""
    last_sweep = 0.0
    while not stop.is_set():
        try:
            async with transaction(sessions) as session:
                report = await scan(session=session, settings=settings)
                purged = await purge_expired(session=session, settings=settings)
            if report.reminders or report.escalations or purged.purged:
                log.info(
                    "rights time limits: %d reminders, %d escalations; evidence purged for %s",
                    report.reminders, report.escalations, ", ".join(purged.purged) or "none",
                )
            if purged.purged_hashes:
                async with sessions() as session:
                    await remove_purged_files(session=session, settings=settings, hashes=purged.purged_hashes)
            if clock.monotonic() - last_sweep >= sweep_every_seconds:
                async with sessions() as session:
                    removed = await sweep(session=session, settings=settings)
                last_sweep = clock.monotonic()
                if removed:
                    log.info("rights evidence store: %d unreferenced file(s) removed", len(removed))
        except Exception:
            # One failed pass must not end the loop; the marks keep the next one from repeating itself.
            log.exception("rights time-limit scan failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
        except TimeoutError:
            continue


def calendar_for(settings: Settings) -> HolidayCalendar:
    """Returns the holiday calendar the limits are counted with."""
    return load_calendar(settings)
