"""What an officer can do with a deadline from the phone.

Mark it handled, extend it (one step of its chain at a time, confirming the law's condition and
the approval where the rule names them), pause and resume a clock the law stops (鉴定, 听证:
recorded as case events, so that every later derivation agrees), snooze it; the legal brigade
confirms a flagged deadline after review. Every change is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.identity import Officer, Role
from core.settings import Settings
from reminders.calendar import end_of_day, holiday_calendar
from reminders.cases import parse_when
from reminders.derive import reconcile
from reminders.models import ACTIVE_STATUSES, Case, CaseEvent, Deadline, DeadlineStatus
from reminders.planning import DAILY_REMINDER_TIME, first_slot, next_check
from reminders.rules import OUTCOMES, Extension, Rule, load_rules

__all__ = ["OUTCOMES", "ReminderError"]


class ReminderError(Exception):
    """A deadline action that cannot be carried out; ``code`` says why (for the officer's message)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


SNOOZE_CHOICES = ("4h", "tomorrow")
# The events that stop and restart a clock, by the reason an officer picks on the phone.
PAUSE_REASONS = {"鉴定": ("鉴定开始", "鉴定结束"), "听证": ("听证开始", "听证结束")}


def outcomes_for(rule: Rule | None) -> tuple[str, ...]:
    """Lists the outcome codes that make sense for a rule."""
    return tuple(rule.outcomes) if rule is not None else ("other",)


@dataclass(frozen=True)
class DeadlineView:
    """A deadline with its case, for listing and buttons."""

    deadline: Deadline
    case: Case
    rule: Rule | None


async def get_deadline(*, session: AsyncSession, deadline_id: int) -> tuple[Deadline, Case] | None:
    """Gets a deadline and its case by the deadline's id."""
    row = (
        await session.execute(
            select(Deadline, Case).join(Case, Case.id == Deadline.case_id).where(Deadline.id == deadline_id)
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


def may_act(officer: Officer, case: Case) -> bool:
    """Tells whether an officer may answer a case's deadline (its officer, supervisor, legal, admin)."""
    return officer.id in (case.officer_id, case.supervisor_id) or officer.has_role(
        Role.LEGAL, Role.SUPERVISOR
    )


async def _require_active(
    *, session: AsyncSession, deadline_id: int, officer: Officer, settings: Settings
) -> tuple[Deadline, Case, Rule]:
    found = await get_deadline(session=session, deadline_id=deadline_id)
    if found is None:
        raise ReminderError("not_found")
    deadline, case = found
    if not may_act(officer, case):
        raise ReminderError("forbidden")
    if not deadline.active:
        raise ReminderError("not_active", deadline.status)
    rule = load_rules(settings).get(deadline.rule_id)
    if rule is None:
        raise ReminderError("unknown_rule", deadline.rule_id)
    return deadline, case, rule


def _audit_detail(deadline: Deadline, **extra: Any) -> dict[str, Any]:
    return {"rule": deadline.rule_id, "case_id": deadline.case_id, **extra}


async def mark_done(
    *,
    session: AsyncSession,
    deadline_id: int,
    officer: Officer,
    outcome: str,
    now: datetime,
    settings: Settings,
) -> Deadline:
    """Marks a deadline handled with an outcome; its reminders stop."""
    if outcome not in OUTCOMES:
        raise ReminderError("bad_outcome", outcome)
    deadline, _case, _rule = await _require_active(
        session=session, deadline_id=deadline_id, officer=officer, settings=settings
    )
    deadline.status = DeadlineStatus.DONE.value
    deadline.outcome = outcome
    deadline.next_remind_at = None
    deadline.snoozed_until = None
    deadline.updated_at = now
    await session.flush()
    await audit.record(
        session=session,
        actor=officer.badge,
        action="deadline.done",
        target_type="deadline",
        target_id=deadline.id,
        officer_id=officer.id,
        detail=_audit_detail(deadline, outcome=outcome),
        at=now,
    )
    return deadline


def extension_due(rule: Rule, deadline: Deadline, total: int, settings: Settings) -> datetime:
    """Returns the due time after extending a deadline to ``total`` units from its start."""
    return rule.due(
        deadline.starts_at,
        tz=settings.tz,
        calendar=holiday_calendar(settings),
        total=total,
        held=deadline.in_custody,
        excluded_days=deadline.excluded_days,
    ).at


def current_total(rule: Rule, deadline: Deadline, settings: Settings) -> int:
    """Returns the period a deadline now runs for, in the rule's unit (a typed date counts as the step it needs)."""
    if deadline.extension_total is not None:
        return deadline.extension_total
    if deadline.extended_to is not None:
        covering = sorted(
            e.total for e in rule.extensions if extension_due(rule, deadline, e.total, settings) >= deadline.extended_to
        )
        return covering[0] if covering else rule.duration
    return rule.duration


def extension_choices(rule: Rule, case: Case, deadline: Deadline, settings: Settings) -> list[Extension]:
    """Lists the extensions this deadline may take now: the next steps of its chain the case qualifies for."""
    return rule.next_extensions(current_total(rule, deadline, settings), list(case.flags or []))


async def extend(
    *,
    session: AsyncSession,
    deadline_id: int,
    officer: Officer,
    now: datetime,
    settings: Settings,
    total: int | None = None,
    new_due: datetime | None = None,
    confirmed: bool = False,
) -> Deadline:
    """Extends a deadline by one allowed step, or to a typed date within the next step's legal maximum.

    A step whose rule names a condition or an approval needs ``confirmed`` (the officer confirmed
    both); reminders are re-planned for the new due time.
    """
    deadline, case, rule = await _require_active(
        session=session, deadline_id=deadline_id, officer=officer, settings=settings
    )
    allowed = extension_choices(rule, case, deadline, settings)
    if not allowed:
        raise ReminderError("not_extendable")
    if (total is None) == (new_due is None):
        raise ReminderError("bad_extension", "give either total or new_due")
    if total is not None:
        chosen = next((e for e in allowed if e.total == total), None)
        if chosen is None:
            raise ReminderError("bad_extension", str(total))
        target = extension_due(rule, deadline, total, settings)
    else:
        assert new_due is not None  # exactly one of the two was checked above
        if new_due.tzinfo is None:
            raise ReminderError("bad_extension", "naive datetime")
        target = new_due if rule.hourly else end_of_day(new_due.astimezone(settings.tz).date(), settings.tz)
        chosen = covering_extension(rule, deadline, allowed, target, settings)
        if chosen is None:
            limit = max(extension_due(rule, deadline, e.total, settings) for e in allowed)
            raise ReminderError("beyond_limit", limit.isoformat())
    if target <= deadline.effective_due or target <= now:
        raise ReminderError("not_later", deadline.effective_due.isoformat())
    if chosen.needs_confirmation and not confirmed:
        raise ReminderError("needs_confirmation", str(chosen.total))
    before = deadline.effective_due
    deadline.status = DeadlineStatus.EXTENDED.value
    deadline.extended_to = target
    deadline.extension_total = total
    deadline.provisional = False if total is None else rule.due(
        deadline.starts_at,
        tz=settings.tz,
        calendar=holiday_calendar(settings),
        total=total,
        held=deadline.in_custody,
        excluded_days=deadline.excluded_days,
    ).provisional
    deadline.snoozed_until = None
    deadline.last_planned = None
    plan = rule.plan_for(deadline.starts_at, target, tz=settings.tz)
    deadline.next_remind_at = first_slot(target, plan, hourly=rule.hourly, tz=settings.tz).at
    deadline.updated_at = now
    await session.flush()
    await audit.record(
        session=session,
        actor=officer.badge,
        action="deadline.extend",
        target_type="deadline",
        target_id=deadline.id,
        officer_id=officer.id,
        detail=_audit_detail(
            deadline,
            before=before.isoformat(),
            after=target.isoformat(),
            total=total,
            step=chosen.total,
            condition=chosen.condition.zh if chosen.condition else None,
            approval=chosen.approval.zh if chosen.approval else None,
            confirmed=confirmed,
        ),
        at=now,
    )
    return deadline


def covering_extension(
    rule: Rule, deadline: Deadline, allowed: list[Extension], target: datetime, settings: Settings
) -> Extension | None:
    """Returns the shortest allowed step whose legal maximum reaches a typed date, or None."""
    for ext in sorted(allowed, key=lambda e: e.total):
        if target <= extension_due(rule, deadline, ext.total, settings):
            return ext
    return None


def snooze_until(choice: str, *, now: datetime, settings: Settings) -> datetime:
    """Turns a snooze choice (4h | tomorrow) into a time: four hours on, or tomorrow 08:00 local."""
    if choice == "4h":
        return now + timedelta(hours=4)
    if choice == "tomorrow":
        day = now.astimezone(settings.tz).date() + timedelta(days=1)
        return datetime.combine(day, DAILY_REMINDER_TIME, tzinfo=settings.tz)
    raise ReminderError("bad_snooze", choice)


async def snooze(
    *,
    session: AsyncSession,
    deadline_id: int,
    officer: Officer,
    until: datetime,
    now: datetime,
    settings: Settings,
) -> Deadline:
    """Postpones a deadline's reminders until a time (never past a due-day or overdue reminder)."""
    if until <= now:
        raise ReminderError("bad_snooze", until.isoformat())
    deadline, _case, rule = await _require_active(
        session=session, deadline_id=deadline_id, officer=officer, settings=settings
    )
    if deadline.paused:
        raise ReminderError("paused")
    deadline.snoozed_until = until
    plan = rule.plan_for(deadline.starts_at, deadline.effective_due, tz=settings.tz)
    deadline.next_remind_at = next_check(
        deadline.effective_due, now, plan, hourly=rule.hourly, tz=settings.tz, snoozed_until=until
    )
    deadline.updated_at = now
    await session.flush()
    await audit.record(
        session=session,
        actor=officer.badge,
        action="deadline.snooze",
        target_type="deadline",
        target_id=deadline.id,
        officer_id=officer.id,
        detail=_audit_detail(deadline, until=until.isoformat(), next=deadline.next_remind_at.isoformat() if deadline.next_remind_at else None),
        at=now,
    )
    return deadline


async def _rederive(*, session: AsyncSession, case: Case, settings: Settings, now: datetime) -> None:
    events = (await session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id))).all()
    deadlines = (await session.scalars(select(Deadline).where(Deadline.case_id == case.id))).all()
    await reconcile(
        session=session,
        case=case,
        events=events,
        rules=load_rules(settings),
        calendar=holiday_calendar(settings),
        tz=settings.tz,
        now=now,
        existing=deadlines,
    )
    await session.flush()


async def pause(
    *,
    session: AsyncSession,
    deadline_id: int,
    officer: Officer,
    reason: str,
    now: datetime,
    settings: Settings,
) -> Deadline:
    """Stops a deadline's clock for an expert examination or a hearing (recorded as the case event)."""
    deadline, case, rule = await _require_active(
        session=session, deadline_id=deadline_id, officer=officer, settings=settings
    )
    events = PAUSE_REASONS.get(reason)
    if events is None or events[0] not in rule.pause_on:
        raise ReminderError("not_pausable", reason)
    if deadline.paused:
        raise ReminderError("paused")
    session.add(CaseEvent(case_id=case.id, event=events[0], occurred_at=now, note=f"{officer.badge}（提醒按钮）", created_at=now))
    await session.flush()
    await _rederive(session=session, case=case, settings=settings, now=now)
    await audit.record(
        session=session,
        actor=officer.badge,
        action="deadline.pause",
        target_type="deadline",
        target_id=deadline.id,
        officer_id=officer.id,
        detail=_audit_detail(deadline, reason=reason, event=events[0]),
        at=now,
    )
    return deadline


async def resume(
    *, session: AsyncSession, deadline_id: int, officer: Officer, now: datetime, settings: Settings
) -> Deadline:
    """Starts a paused clock again (records the end of every open examination or hearing)."""
    deadline, case, rule = await _require_active(
        session=session, deadline_id=deadline_id, officer=officer, settings=settings
    )
    if not deadline.paused:
        raise ReminderError("not_paused")
    events = (
        await session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.occurred_at)
        )
    ).all()
    ended: list[str] = []
    for start_event, end_event in zip(rule.pause_on, rule.resume_on, strict=True):
        last_start = max((e.occurred_at for e in events if e.event == start_event), default=None)
        last_end = max((e.occurred_at for e in events if e.event == end_event), default=None)
        if last_start is not None and (last_end is None or last_end < last_start):
            session.add(CaseEvent(case_id=case.id, event=end_event, occurred_at=now, note=f"{officer.badge}（提醒按钮）", created_at=now))
            ended.append(end_event)
    await session.flush()
    await _rederive(session=session, case=case, settings=settings, now=now)
    await audit.record(
        session=session,
        actor=officer.badge,
        action="deadline.resume",
        target_type="deadline",
        target_id=deadline.id,
        officer_id=officer.id,
        detail=_audit_detail(deadline, events=ended, due=deadline.effective_due.isoformat()),
        at=now,
    )
    return deadline


async def acknowledge_review(
    *, session: AsyncSession, deadline_id: int, officer: Officer, now: datetime
) -> Deadline:
    """Records that the legal brigade reviewed a flagged deadline and the period stands."""
    if not officer.has_role(Role.LEGAL):
        raise ReminderError("forbidden")
    found = await get_deadline(session=session, deadline_id=deadline_id)
    if found is None:
        raise ReminderError("not_found")
    deadline, _case = found
    if deadline.review is None:
        raise ReminderError("not_under_review")
    if deadline.reviewed_by is not None:
        raise ReminderError("already_reviewed", deadline.reviewed_by)
    deadline.reviewed_by = officer.badge
    deadline.updated_at = now
    await session.flush()
    await audit.record(
        session=session,
        actor=officer.badge,
        action="deadline.review",
        target_type="deadline",
        target_id=deadline.id,
        officer_id=officer.id,
        detail=_audit_detail(deadline, review=deadline.review_code, outcome="stands"),
        at=now,
    )
    return deadline


async def open_deadlines_for(
    *, session: AsyncSession, officer: Officer, settings: Settings, limit: int = 20
) -> list[DeadlineView]:
    """Lists the running deadlines of the officer's cases (and cases they supervise), most urgent first."""
    rules = load_rules(settings)
    due = func.coalesce(Deadline.extended_to, Deadline.due_at)
    rows = (
        await session.execute(
            select(Deadline, Case)
            .join(Case, Case.id == Deadline.case_id)
            .where(
                Deadline.status.in_(ACTIVE_STATUSES),
                or_(Case.officer_id == officer.id, Case.supervisor_id == officer.id),
            )
            .order_by(due, Deadline.id)
            .limit(limit)
        )
    ).all()
    return [DeadlineView(d, c, rules.get(d.rule_id)) for d, c in rows]


async def count_open_for(*, session: AsyncSession, officer: Officer) -> int:
    """Counts the running deadlines of the officer's cases (and cases they supervise)."""
    total = await session.scalar(
        select(func.count())
        .select_from(Deadline)
        .join(Case, Case.id == Deadline.case_id)
        .where(
            Deadline.status.in_(ACTIVE_STATUSES),
            or_(Case.officer_id == officer.id, Case.supervisor_id == officer.id),
        )
    )
    return int(total or 0)


def typed_due(text: str, *, rule: Rule, settings: Settings) -> datetime | None:
    """Parses a typed new deadline: a date (YYYY-MM-DD) or, for hour limits, a date and time."""
    parsed = parse_when(text, settings.tz)
    if parsed is None:
        return None
    when, has_time = parsed
    if rule.hourly and not has_time:
        return None
    if not rule.hourly:
        return datetime.combine(when.date(), time(23, 59, 59), tzinfo=settings.tz)
    return when
