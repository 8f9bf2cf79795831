"""When a deadline's reminders fire: pure functions over a reminder plan, a due time and a clock.

Day and month rules remind at 08:00 local time on the days given by the plan's offsets (T-7,
T-3, T-1, the due day), then on its ``overdue`` days, then every ``overdue_every`` days. Hour
rules remind at the due time plus the offsets in hours, then after the listed overdue hours
every ``overdue_every`` hours (a bounded cadence: an hour limit that ran out escalates at once,
then does not wake five people every hour). A scan sends only the latest reminder that is due,
so a case imported late is not flooded with stale ones.

Everything is reckoned in offsets: the position of a clock is the latest offset whose reminder
has fired by then.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from reminders.rules import ReminderPlan

DAILY_REMINDER_TIME = time(8, 0)


@dataclass(frozen=True)
class Slot:
    """One reminder moment: its offset from the due day/hour and when it fires."""

    offset: int
    at: datetime
    hourly: bool

    @property
    def label(self) -> str:
        """Returns the offset as written in dedupe keys: d-7, d0, d+2, h-4."""
        sign = "+" if self.offset > 0 else ""
        return f"{'h' if self.hourly else 'd'}{sign}{self.offset}"


def fire_time(due: datetime, offset: int, *, hourly: bool, tz: ZoneInfo) -> datetime:
    """Returns when the reminder at an offset from the due day/hour fires."""
    if hourly:
        return due + timedelta(hours=offset)
    day = due.astimezone(tz).date() + timedelta(days=offset)
    return datetime.combine(day, DAILY_REMINDER_TIME, tzinfo=tz)


def position(due: datetime, now: datetime, *, hourly: bool, tz: ZoneInfo) -> int:
    """Returns the latest offset whose reminder has fired by ``now`` (whether or not the plan has one)."""
    if hourly:
        return math.floor((now - due) / timedelta(hours=1))
    local = now.astimezone(tz)
    day = local.date() if local.time() >= DAILY_REMINDER_TIME else local.date() - timedelta(days=1)
    return (day - due.astimezone(tz).date()).days


def _explicit(plan: ReminderPlan) -> list[int]:
    return sorted({*plan.offsets, 0, *plan.overdue})


def _at_or_before(pos: int, plan: ReminderPlan) -> int | None:
    explicit = _explicit(plan)
    last = explicit[-1]
    if pos >= last:
        return last + (pos - last) // plan.overdue_every * plan.overdue_every
    earlier = [o for o in explicit if o <= pos]
    return earlier[-1] if earlier else None


def _after(pos: int, plan: ReminderPlan, min_offset: int | None) -> int | None:
    floor = pos + 1 if min_offset is None else max(pos + 1, min_offset)
    found: int | None = next((o for o in _explicit(plan) if o >= floor), None)
    if found is None:
        last = _explicit(plan)[-1]
        found = last + max(1, math.ceil((floor - last) / plan.overdue_every)) * plan.overdue_every
    if plan.overdue_until is not None and found > plan.overdue_until:
        return None
    return found


def current_slot(
    due: datetime, now: datetime, plan: ReminderPlan, *, hourly: bool, tz: ZoneInfo
) -> Slot | None:
    """Returns the latest reminder that has fired by ``now``, or None before the first one."""
    pos = position(due, now, hourly=hourly, tz=tz)
    if plan.overdue_until is not None:
        pos = min(pos, plan.overdue_until)
    offset = _at_or_before(pos, plan)
    if offset is None:
        return None
    return Slot(offset, fire_time(due, offset, hourly=hourly, tz=tz), hourly)


def next_slot(
    due: datetime,
    after: datetime,
    plan: ReminderPlan,
    *,
    hourly: bool,
    tz: ZoneInfo,
    min_offset: int | None = None,
) -> Slot | None:
    """Returns the first reminder firing strictly after ``after`` (only offsets >= min_offset), if any."""
    offset = _after(position(due, after, hourly=hourly, tz=tz), plan, min_offset)
    if offset is None:
        return None
    return Slot(offset, fire_time(due, offset, hourly=hourly, tz=tz), hourly)


def first_slot(due: datetime, plan: ReminderPlan, *, hourly: bool, tz: ZoneInfo) -> Slot:
    """Returns the earliest reminder of a deadline."""
    offset = plan.offsets[0]
    return Slot(offset, fire_time(due, offset, hourly=hourly, tz=tz), hourly)


def next_check(
    due: datetime,
    now: datetime,
    plan: ReminderPlan,
    *,
    hourly: bool,
    tz: ZoneInfo,
    snoozed_until: datetime | None,
) -> datetime | None:
    """Returns when the scan should next look at a deadline (None once its plan has ended).

    A snooze postpones reminders before the due day, but never a due-day or overdue reminder:
    the legal brigade's promise is that no deadline passes unnoticed.
    """
    if snoozed_until is not None and snoozed_until > now:
        regular = next_slot(due, now, plan, hourly=hourly, tz=tz, min_offset=0)
        return snoozed_until if regular is None else min(snoozed_until, regular.at)
    following = next_slot(due, now, plan, hourly=hourly, tz=tz)
    return None if following is None else following.at


def time_left(due: datetime, now: datetime, *, hourly: bool, tz: ZoneInfo) -> int:
    """Returns whole days (or hours, rounded up) left until the due day/time; negative when overdue."""
    if hourly:
        return math.ceil((due - now) / timedelta(hours=1))
    return (due.astimezone(tz).date() - now.astimezone(tz).date()).days
