"""When a deadline's reminders fire: pure functions over a rule, a due time and a clock.

Day and month rules remind at 08:00 local time on the days given by the rule's offsets (T-7, T-3,
T-1, the due day), then every ``overdue_every`` days while overdue. Hour rules remind at the due
time plus the offsets in hours, then every ``overdue_every`` hours. A scan sends only the latest
reminder that is due, so a case imported late is not flooded with stale ones.
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


def _overdue_index(due: datetime, now: datetime, plan: ReminderPlan, *, hourly: bool, tz: ZoneInfo) -> int:
    """Returns how many overdue repeats have fired by ``now`` (0 when none)."""
    first = fire_time(due, 0, hourly=hourly, tz=tz)
    if now < first:
        return 0
    if hourly:
        elapsed = (now - first) / timedelta(hours=plan.overdue_every)
    else:
        elapsed = (now.astimezone(tz).date() - first.astimezone(tz).date()).days / plan.overdue_every
        if now.astimezone(tz).timetz().replace(tzinfo=None) < DAILY_REMINDER_TIME:
            elapsed -= 1 / plan.overdue_every
    return max(0, math.floor(elapsed + 1e-9))


def current_slot(
    due: datetime, now: datetime, plan: ReminderPlan, *, hourly: bool, tz: ZoneInfo
) -> Slot | None:
    """Returns the latest reminder that has fired by ``now``, or None before the first one."""
    if now >= fire_time(due, 0, hourly=hourly, tz=tz):
        offset = _overdue_index(due, now, plan, hourly=hourly, tz=tz) * plan.overdue_every
        return Slot(offset, fire_time(due, offset, hourly=hourly, tz=tz), hourly)
    best: Slot | None = None
    for offset in plan.offsets:
        at = fire_time(due, offset, hourly=hourly, tz=tz)
        if at <= now:
            best = Slot(offset, at, hourly)
    return best


def next_slot(
    due: datetime,
    after: datetime,
    plan: ReminderPlan,
    *,
    hourly: bool,
    tz: ZoneInfo,
    min_offset: int | None = None,
) -> Slot:
    """Returns the first reminder firing strictly after ``after`` (only offsets >= min_offset)."""
    for offset in plan.offsets:
        if min_offset is not None and offset < min_offset:
            continue
        at = fire_time(due, offset, hourly=hourly, tz=tz)
        if at > after:
            return Slot(offset, at, hourly)
    offset = (_overdue_index(due, after, plan, hourly=hourly, tz=tz) + 1) * plan.overdue_every
    if 0 not in plan.offsets and fire_time(due, 0, hourly=hourly, tz=tz) > after:
        offset = 0
    at = fire_time(due, offset, hourly=hourly, tz=tz)
    while at <= after:  # a clock exactly on a repeat: move to the following one
        offset += plan.overdue_every
        at = fire_time(due, offset, hourly=hourly, tz=tz)
    return Slot(offset, at, hourly)


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
) -> datetime:
    """Returns when the scan should next look at a deadline.

    A snooze postpones reminders before the due day, but never a due-day or overdue reminder:
    the legal brigade's promise is that no deadline passes unnoticed.
    """
    if snoozed_until is not None and snoozed_until > now:
        regular = next_slot(due, now, plan, hourly=hourly, tz=tz, min_offset=0)
        return min(snoozed_until, regular.at)
    return next_slot(due, now, plan, hourly=hourly, tz=tz).at


def time_left(due: datetime, now: datetime, *, hourly: bool, tz: ZoneInfo) -> int:
    """Returns whole days (or hours, rounded up) left until the due day/time; negative when overdue."""
    if hourly:
        return math.ceil((due - now) / timedelta(hours=1))
    return (due.astimezone(tz).date() - now.astimezone(tz).date()).days
