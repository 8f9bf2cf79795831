"""Deadline derivation: a case's events, walked in order under the rules, give its statutory periods.

:func:`walk` is pure: events in, periods out (when each started, whether it was stopped,
restarted or paused, and what the legal brigade must look at). :func:`reconcile` brings the
stored deadlines of one case in line with them: it opens new deadlines, moves dates that changed
(a resumed clock, another rule or holiday schedule), closes the ones an event ended and cancels
the ones no rule gives any more. It never reopens a deadline an officer already handled. Every
change is returned, so that an import and ``reminders recompute`` can list each date that moves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from core.holidays import HolidayCalendar
from reminders.calendar import PeriodEnd
from reminders.events import CUSTODY_END, CUSTODY_START, event_order
from reminders.models import ACTIVE_STATUSES, Case, Deadline, DeadlineStatus
from reminders.planning import first_slot
from reminders.rules import Repeat, Rule, RuleSet

# A paused clock is not forgotten: the officer hears of it once a week until it runs again.
PAUSED_NUDGE = timedelta(days=7)
# An hour limit that ran out this long before it was imported (a summons or first-day duties of an
# old case) is recorded, not reminded: the person was released or the duty done long ago.
STALE_HOUR_LIMIT = timedelta(hours=24)


class EventLike(Protocol):
    """What derivation reads of a case event."""

    @property
    def event(self) -> str: ...

    @property
    def occurred_at(self) -> datetime: ...


class Review:
    """Why the legal brigade is asked to look at a deadline."""

    REPEAT = "repeat"
    """The measure was decided again while it ran; the first period still counts."""
    LIMIT = "limit"
    """The event happened more often than the law allows (补充侦查以二次为限)."""


@dataclass
class Period:
    """One rule's period in a case, as its events make it."""

    rule: Rule
    starts_at: datetime
    held: bool
    """The suspect was held when the period started (decides keep_if_held rules)."""
    excluded_days: int = 0
    paused_since: datetime | None = None
    open_pauses: dict[str, datetime] = field(default_factory=dict)
    ended_by: str | None = None
    review: str | None = None
    review_at: datetime | None = None

    @property
    def review_key(self) -> str | None:
        """Returns what is stored on the deadline: the reason and the event's time (a later event asks again)."""
        if self.review is None or self.review_at is None:
            return None
        return f"{self.review}@{int(self.review_at.timestamp())}"


def order_key(event: EventLike, tz: ZoneInfo) -> tuple[date, int, datetime]:
    """Orders events by local day, then procedure, then clock: a date without a time is midnight,
    and must not put a bail decision before the detention it replaces on the same day."""
    return event.occurred_at.astimezone(tz).date(), event_order(event.event), event.occurred_at


def _local_day(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def walk(*, case_type: str, events: Sequence[EventLike], rules: RuleSet, tz: ZoneInfo) -> tuple[list[Period], bool]:
    """Walks a case's events in order; returns every period they start and whether the suspect is held now."""
    periods: list[Period] = []
    running: list[Period] = []
    counts: Counter[str] = Counter()
    held = False
    for event in sorted(events, key=lambda e: order_key(e, tz)):
        name, at = event.event, event.occurred_at
        for period in running:
            rule = period.rule
            if name in rule.pause_on:
                reason = rule.resume_on[rule.pause_on.index(name)]
                period.open_pauses.setdefault(reason, at)
                if period.paused_since is None:
                    period.paused_since = at
            elif name in rule.resume_on and name in period.open_pauses:
                del period.open_pauses[name]
                if not period.open_pauses and period.paused_since is not None:
                    period.excluded_days += max(0, (_local_day(at, tz) - _local_day(period.paused_since, tz)).days)
                    period.paused_since = None
        for period in list(running):
            if name in period.rule.stop:
                running.remove(period)
                period.ended_by = f"event:{name}"
            elif name in period.rule.restart_on:
                running.remove(period)
                period.ended_by = f"restarted:{name}"
                fresh = Period(period.rule, at, held)
                periods.append(fresh)
                running.append(fresh)
        for rule in rules.triggered_by(case_type, name):
            if rule.requires_held and not held:
                continue
            counts[rule.id] += 1
            current = [p for p in running if p.rule.id == rule.id]
            if current and rule.repeat is not Repeat.RESTART:
                if rule.repeat is Repeat.FLAG:
                    current[0].review, current[0].review_at = Review.REPEAT, at
                continue
            for period in current:
                running.remove(period)
                period.ended_by = "superseded"
            fresh = Period(rule, at, held)
            if rule.max_triggers is not None and counts[rule.id] > rule.max_triggers:
                fresh.review, fresh.review_at = Review.LIMIT, at
            periods.append(fresh)
            running.append(fresh)
        if name in CUSTODY_START:
            held = True
        elif name in CUSTODY_END:
            held = False
    return periods, held


@dataclass(frozen=True)
class DeadlineChange:
    """One thing a derivation did to a stored deadline."""

    case_number: str
    rule_id: str
    measure: str
    starts_at: datetime
    kind: str
    """opened | closed | moved | paused | resumed | flagged | cancelled | skipped"""
    before: datetime | None = None
    after: datetime | None = None
    provisional: bool = False
    detail: str = ""

    def as_json(self) -> dict[str, object]:
        """Returns the change as a JSON-ready dict."""
        return {
            "case_number": self.case_number,
            "rule": self.rule_id,
            "measure": self.measure,
            "starts_at": self.starts_at.isoformat(),
            "change": self.kind,
            "before": self.before.isoformat() if self.before else None,
            "after": self.after.isoformat() if self.after else None,
            "provisional": self.provisional,
            "detail": self.detail,
        }


@dataclass
class Derivation:
    """What reconciling one case did."""

    changes: list[DeadlineChange] = field(default_factory=list)
    flagged: list[Deadline] = field(default_factory=list)
    """Deadlines newly put to the legal brigade (the caller tells them)."""

    def count(self, kind: str) -> int:
        """Counts the changes of a kind."""
        return sum(1 for c in self.changes if c.kind == kind)


def period_ends(
    period: Period, total: int | None, *, tz: ZoneInfo, calendar: HolidayCalendar
) -> PeriodEnd:
    """Returns when a period (extended to ``total`` if given) runs out, after its excluded days."""
    return period.rule.due(
        period.starts_at,
        tz=tz,
        calendar=calendar,
        total=total,
        held=period.held,
        excluded_days=period.excluded_days,
    )


def _replan(deadline: Deadline, rule: Rule, *, tz: ZoneInfo, now: datetime) -> None:
    """Points the scan at a deadline whose dates just changed: its current reminder goes out again."""
    if deadline.paused_since is not None:
        deadline.next_remind_at = max(now, deadline.paused_since) + PAUSED_NUDGE
        return
    due = deadline.effective_due
    plan = rule.plan_for(deadline.starts_at, due, tz=tz)
    deadline.next_remind_at = first_slot(due, plan, hourly=rule.hourly, tz=tz).at
    deadline.last_planned = None
    deadline.snoozed_until = None


def close(deadline: Deadline, outcome: str, now: datetime, status: DeadlineStatus = DeadlineStatus.DONE) -> None:
    """Stops a deadline: its reminders end."""
    deadline.status = status.value
    deadline.outcome = outcome
    deadline.next_remind_at = None
    deadline.snoozed_until = None
    deadline.updated_at = now


async def reconcile(
    *,
    session: AsyncSession,
    case: Case,
    events: Sequence[EventLike],
    rules: RuleSet,
    calendar: HolidayCalendar,
    tz: ZoneInfo,
    now: datetime,
    existing: Sequence[Deadline],
    open_past: bool = True,
) -> Derivation:
    """Brings one case's stored deadlines in line with its events under the rules in force.

    ``open_past=False`` (a recompute) does not open a new rule's deadline whose period is already
    over or ended: nobody can act on it any more. The caller flushes.
    """
    result = Derivation()
    periods, held = walk(case_type=case.case_type, events=events, rules=rules, tz=tz)
    stored = {(d.rule_id, d.starts_at): d for d in existing}
    matched: set[int] = set()
    for period in periods:
        rule = period.rule
        deadline = stored.get((rule.id, period.starts_at))
        base = period_ends(period, None, tz=tz, calendar=calendar)
        if deadline is None:
            if not open_past and (period.ended_by is not None or base.at <= now):
                result.changes.append(_change(case, rule, period, "skipped", after=base.at, detail="over before it was derived"))
                continue
            deadline = _new_deadline(case, period, base, now=now, tz=tz)
            session.add(deadline)
            stored[(rule.id, period.starts_at)] = deadline
            result.changes.append(_change(case, rule, period, "opened", after=base.at, provisional=base.provisional))
            if period.ended_by is None and rule.hourly and base.at < now - STALE_HOUR_LIMIT:
                close(deadline, "over_before_import", now, DeadlineStatus.CANCELLED)
                result.changes.append(_change(case, rule, period, "closed", after=base.at, detail="over_before_import"))
            elif period.ended_by is not None:
                close(deadline, period.ended_by, now)
                result.changes.append(_change(case, rule, period, "closed", after=base.at, detail=period.ended_by))
            elif period.review is not None:
                result.flagged.append(deadline)
                result.changes.append(_change(case, rule, period, "flagged", detail=period.review))
            continue
        matched.add(id(deadline))
        if deadline.status not in ACTIVE_STATUSES:
            continue
        if period.ended_by is not None:
            close(deadline, period.ended_by, now)
            result.changes.append(_change(case, rule, period, "closed", before=deadline.effective_due, detail=period.ended_by))
            continue
        _update(deadline, period, base, rule=rule, case=case, tz=tz, calendar=calendar, now=now, result=result)
    for deadline in existing:
        if id(deadline) in matched or deadline.status not in ACTIVE_STATUSES:
            continue
        missing = rules.get(deadline.rule_id) is None
        close(deadline, "rule_removed" if missing else "no_longer_applies", now, DeadlineStatus.CANCELLED)
        result.changes.append(
            DeadlineChange(
                case.case_number,
                deadline.rule_id,
                deadline.measure,
                deadline.starts_at,
                "cancelled",
                before=deadline.effective_due,
                detail=deadline.outcome or "",
            )
        )
    case.in_custody = held
    case.closed = any(e.event == "结案" for e in events)
    return result


def _new_deadline(case: Case, period: Period, base: PeriodEnd, *, now: datetime, tz: ZoneInfo) -> Deadline:
    rule = period.rule
    deadline = Deadline(
        case_id=case.id,
        rule_id=rule.id,
        measure=rule.measure.zh,
        starts_at=period.starts_at,
        due_at=base.at,
        status=DeadlineStatus.OPEN.value,
        article=rule.article,
        in_custody=rule.held or period.held,
        provisional=base.provisional,
        excluded_days=period.excluded_days,
        paused_since=period.paused_since,
        review=period.review_key,
        rule_version=rule.version,
        created_at=now,
        updated_at=now,
    )
    _replan(deadline, rule, tz=tz, now=now)
    return deadline


def _update(
    deadline: Deadline,
    period: Period,
    base: PeriodEnd,
    *,
    rule: Rule,
    case: Case,
    tz: ZoneInfo,
    calendar: HolidayCalendar,
    now: datetime,
    result: Derivation,
) -> None:
    before = deadline.effective_due
    was_paused = deadline.paused_since is not None
    extended = (
        period_ends(period, deadline.extension_total, tz=tz, calendar=calendar)
        if deadline.extension_total is not None
        else None
    )
    if extended is not None:
        provisional = extended.provisional
    elif deadline.extended_to is not None:
        provisional = False  # a date the officer typed, within the legal maximum
    else:
        provisional = base.provisional
    deadline.due_at = base.at
    if extended is not None:
        deadline.extended_to = extended.at
    deadline.provisional = provisional
    deadline.excluded_days = period.excluded_days
    deadline.paused_since = period.paused_since
    deadline.article = rule.article
    deadline.measure = rule.measure.zh
    deadline.in_custody = rule.held or period.held
    deadline.rule_version = rule.version
    if period.review_key is not None and period.review_key != deadline.review:
        deadline.review, deadline.reviewed_by = period.review_key, None
        result.flagged.append(deadline)
        result.changes.append(_change(case, rule, period, "flagged", detail=period.review or ""))
    now_paused = period.paused_since is not None
    if was_paused and not now_paused:
        kind = "resumed"
    elif now_paused and not was_paused:
        kind = "paused"
    elif deadline.effective_due != before:
        kind = "moved"
    else:
        return
    deadline.updated_at = now
    _replan(deadline, rule, tz=tz, now=now)
    result.changes.append(
        _change(case, rule, period, kind, before=before, after=deadline.effective_due, provisional=deadline.provisional)
    )


def _change(
    case: Case,
    rule: Rule,
    period: Period,
    kind: str,
    *,
    before: datetime | None = None,
    after: datetime | None = None,
    provisional: bool = False,
    detail: str = "",
) -> DeadlineChange:
    return DeadlineChange(
        case.case_number, rule.id, rule.measure.zh, period.starts_at, kind, before, after, provisional, detail
    )
