"""Recomputing stored deadlines after the rules or the holiday calendar changed.

Every case's events are walked again under the rules and calendar in force and its deadlines
reconciled (reminders.derive): dates move, provisional dates become certain once their year's
schedule is entered, deadlines no rule gives any more are cancelled. A new rule does not open
deadlines whose period is already over. The caller decides whether the result is kept (``frontline
reminders recompute --apply``) or rolled back (the default dry run, which lists every date that
would move).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.holidays import HolidayCalendar
from core.settings import Settings
from reminders.calendar import holiday_calendar
from reminders.derive import DeadlineChange, reconcile
from reminders.models import Case, CaseEvent, Deadline
from reminders.notify import notify_reviews
from reminders.recipients import Directory
from reminders.rules import RuleSet, load_rules

CHUNK = 500


@dataclass
class RecomputeReport:
    """What a recompute changed (or, in a dry run, would change)."""

    cases: int = 0
    changes: list[DeadlineChange] = field(default_factory=list)
    notified: int = 0

    def count(self, kind: str) -> int:
        """Counts the changes of a kind."""
        return sum(1 for c in self.changes if c.kind == kind)

    @property
    def moves(self) -> list[DeadlineChange]:
        """Lists every change to a running deadline's date (what the legal brigade checks first)."""
        return [c for c in self.changes if c.kind in ("moved", "paused", "resumed")]


async def recompute(
    *,
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    actor: str = audit.CLI_ACTOR,
    rules: RuleSet | None = None,
    calendar: HolidayCalendar | None = None,
    notify: bool = True,
) -> RecomputeReport:
    """Derives every case's deadlines again and reconciles the stored ones; the caller commits or not."""
    rules = rules or load_rules(settings)
    calendar = calendar or holiday_calendar(settings)
    report = RecomputeReport()
    flagged: list[tuple[Case, list[Deadline]]] = []
    last_id = 0
    while True:
        cases = (
            await session.scalars(select(Case).where(Case.id > last_id).order_by(Case.id).limit(CHUNK))
        ).all()
        if not cases:
            break
        last_id = cases[-1].id
        ids = [c.id for c in cases]
        events_of: dict[int, list[CaseEvent]] = defaultdict(list)
        deadlines_of: dict[int, list[Deadline]] = defaultdict(list)
        for event in (await session.scalars(select(CaseEvent).where(CaseEvent.case_id.in_(ids)))).all():
            events_of[event.case_id].append(event)
        for deadline in (await session.scalars(select(Deadline).where(Deadline.case_id.in_(ids)))).all():
            deadlines_of[deadline.case_id].append(deadline)
        for case in cases:
            derivation = await reconcile(
                session=session,
                case=case,
                events=events_of[case.id],
                rules=rules,
                calendar=calendar,
                tz=settings.tz,
                now=now,
                existing=deadlines_of[case.id],
                open_past=False,
            )
            report.changes.extend(derivation.changes)
            if derivation.flagged:
                flagged.append((case, derivation.flagged))
        report.cases += len(cases)
        await session.flush()
    if notify and flagged:
        directory = await Directory.load(session=session)
        for case, deadlines in flagged:
            report.notified += await notify_reviews(
                session=session,
                case=case,
                deadlines=deadlines,
                rules=rules,
                settings=settings,
                directory=directory,
                now=now,
            )
    counts = {
        kind: report.count(kind)
        for kind in ("opened", "closed", "moved", "paused", "resumed", "flagged", "cancelled", "skipped")
    }
    await audit.record(
        session=session,
        actor=actor,
        action="deadline.recompute",
        target_type="deadlines",
        detail={
            "cases": report.cases,
            **{k: v for k, v in counts.items() if v},
            "moves": [c.as_json() for c in report.moves[:200]],
        },
        at=now,
    )
    return report
