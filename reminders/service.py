"""What an officer can do with a deadline from the phone: mark it handled, extend it, snooze it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.identity import Officer, Role
from core.settings import Settings
from reminders.calendar import end_of_day
from reminders.cases import parse_when
from reminders.models import ACTIVE_STATUSES, Case, Deadline, DeadlineStatus
from reminders.planning import DAILY_REMINDER_TIME, first_slot, next_check
from reminders.rules import Extension, Rule, Text, load_rules


class ReminderError(Exception):
    """A deadline action that cannot be carried out; ``code`` says why (for the officer's message)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


# Why a deadline was handled. Codes go in callback data, so they stay short.
OUTCOMES: dict[str, Text] = {
    "arrest": Text(zh="已提请批准逮捕", en="arrest approval requested"),
    "changed": Text(zh="已变更强制措施", en="measure changed"),
    "released": Text(zh="已解除", en="measure lifted"),
    "prosecution": Text(zh="已移送起诉", en="sent for prosecution"),
    "closed": Text(zh="已结案", en="case closed"),
    "other": Text(zh="其他", en="other"),
}
_OUTCOMES_BY_RULE = {
    "detention_arrest_request": ("arrest", "changed", "released", "other"),
    "custody_after_arrest": ("prosecution", "changed", "released", "other"),
    "public_order_case": ("closed", "other"),
}
SNOOZE_CHOICES = ("4h", "tomorrow")


def outcomes_for(rule_id: str) -> tuple[str, ...]:
    """Lists the outcome codes that make sense for a rule."""
    return _OUTCOMES_BY_RULE.get(rule_id, ("changed", "released", "prosecution", "closed", "other"))


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


def extension_choices(rule: Rule, case: Case) -> list[Extension]:
    """Lists the extensions this case may use under its rule (flags decide the 30-day one)."""
    return rule.extensions_for(list(case.flags or []))


def extension_due(rule: Rule, deadline: Deadline, total: int, settings: Settings) -> datetime:
    """Returns the due time after extending a deadline to ``total`` units from its start."""
    return rule.due(deadline.starts_at, tz=settings.tz, total=total)


async def extend(
    *,
    session: AsyncSession,
    deadline_id: int,
    officer: Officer,
    now: datetime,
    settings: Settings,
    total: int | None = None,
    new_due: datetime | None = None,
) -> Deadline:
    """Extends a deadline to one of its rule's allowed totals, or to a typed date within the legal maximum.

    Reminders are re-planned for the new due time.
    """
    deadline, case, rule = await _require_active(
        session=session, deadline_id=deadline_id, officer=officer, settings=settings
    )
    allowed = extension_choices(rule, case)
    if not allowed:
        raise ReminderError("not_extendable")
    if (total is None) == (new_due is None):
        raise ReminderError("bad_extension", "give either total or new_due")
    if total is not None:
        if total not in {e.total for e in allowed}:
            raise ReminderError("bad_extension", str(total))
        target = extension_due(rule, deadline, total, settings)
    else:
        assert new_due is not None  # exactly one of the two was checked above
        if new_due.tzinfo is None:
            raise ReminderError("bad_extension", "naive datetime")
        limit = max(extension_due(rule, deadline, e.total, settings) for e in allowed)
        target = new_due if rule.hourly else end_of_day(new_due.astimezone(settings.tz).date(), settings.tz)
        if target > limit:
            raise ReminderError("beyond_limit", limit.isoformat())
    if target <= deadline.effective_due or target <= now:
        raise ReminderError("not_later", deadline.effective_due.isoformat())
    before = deadline.effective_due
    deadline.status = DeadlineStatus.EXTENDED.value
    deadline.extended_to = target
    deadline.snoozed_until = None
    deadline.last_planned = None
    deadline.next_remind_at = first_slot(target, rule.reminders, hourly=rule.hourly, tz=settings.tz).at
    deadline.updated_at = now
    await session.flush()
    await audit.record(
        session=session,
        actor=officer.badge,
        action="deadline.extend",
        target_type="deadline",
        target_id=deadline.id,
        officer_id=officer.id,
        detail=_audit_detail(deadline, before=before.isoformat(), after=target.isoformat(), total=total),
        at=now,
    )
    return deadline


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
    deadline.snoozed_until = until
    deadline.next_remind_at = next_check(
        deadline.effective_due, now, rule.reminders, hourly=rule.hourly, tz=settings.tz, snoozed_until=until
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
        detail=_audit_detail(deadline, until=until.isoformat(), next=deadline.next_remind_at.isoformat()),
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
