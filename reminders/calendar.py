"""Statutory date arithmetic for case deadlines.

刑事诉讼法 第一百零五条: periods count in hours, days and months; the starting hour or day does not
count; a period whose last day is a holiday ends on the first day after the holiday, except while
the suspect is in custody, when it ends on the day itself. 最高人民法院关于适用《刑事诉讼法》的解释
第二百零二条: a month runs from a day to the same day of the next month; a period starting on the
last day of a month runs to the last day of the target month; when the target month has no such
day it runs to that month's last day. 公安机关办理行政案件程序规定 第三十五条 says the same for
administrative cases.

Holidays come from the calendar in force (``core.holidays.load_calendar``: the State Council's
schedule as data). A last day the calendar does not know (a year whose schedule is not entered
yet) is never moved on a guess: the unmoved date is never later than the legal one, and the
deadline is marked provisional until the schedule is entered and the deadlines recomputed.
"""

from __future__ import annotations

import calendar as _stdcal
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from core.holidays import HolidayCalendar, load_calendar
from core.settings import Settings


class Unit(StrEnum):
    """The unit a statutory period is counted in."""

    HOURS = "hours"
    DAYS = "days"
    MONTHS = "months"


class HolidayRule(StrEnum):
    """Whether a period's last day moves past rest days."""

    MOVE = "move"
    """A last day on a rest day ends on the first working day after it (刑诉法105④, 程序规定35)."""
    KEEP = "keep"
    """Never moved: the person is held, or the period is the maximum of a coercive measure."""
    KEEP_IF_HELD = "keep_if_held"
    """Moved unless the suspect is held when the period starts."""


@dataclass(frozen=True)
class PeriodEnd:
    """When a period runs out, and whether that could be checked against an official schedule."""

    at: datetime
    provisional: bool = False
    """The last day falls where the holiday schedule is not known yet: it was not moved."""
    unmoved: date | None = None
    """The last day before it was moved past rest days (None when it was not moved)."""


def holiday_calendar(settings: Settings) -> HolidayCalendar:
    """Returns the holiday calendar in force for these settings."""
    return load_calendar(settings)


def add_months(start: date, months: int) -> date:
    """Adds months the way 最高法解释 第二百零二条 counts them (month ends stick to month ends)."""
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    last = _stdcal.monthrange(year, month)[1]
    start_is_month_end = start.day == _stdcal.monthrange(start.year, start.month)[1]
    if start_is_month_end or start.day > last:
        return date(year, month, last)
    return date(year, month, start.day)


def last_day(start: date, amount: int, unit: Unit) -> date:
    """Returns the last day of a day- or month-counted period; the start day itself does not count."""
    if unit is Unit.DAYS:
        return start + timedelta(days=amount)
    if unit is Unit.MONTHS:
        return add_months(start, amount)
    raise ValueError("hour-counted periods have no last day; use period_end")


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """Returns the last second of a local day as an aware datetime."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=tz)


def move_past_rest_days(day: date, calendar: HolidayCalendar) -> tuple[date, bool]:
    """Returns the first day from ``day`` on that is not a rest day, and whether that is provisional.

    Stops at the first day the calendar does not know: moving further would be a guess, and the
    legal last day is never earlier than that day.
    """
    while calendar.knows(day) and calendar.is_holiday(day):
        day += timedelta(days=1)
    return day, not calendar.knows(day)


def period_end(
    start: datetime,
    amount: int,
    unit: Unit,
    *,
    move: bool,
    calendar: HolidayCalendar,
    tz: ZoneInfo,
    excluded_days: int = 0,
) -> PeriodEnd:
    """Returns when a period that began at ``start`` runs out (aware, in ``tz``).

    Hour periods run exactly ``amount`` hours from the event. Day and month periods end at the end
    of their last day, later by ``excluded_days`` (periods the law does not count, such as an
    expert examination); with ``move`` a last day on a rest day moves to the next working day.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if unit is Unit.HOURS:
        return PeriodEnd((start + timedelta(hours=amount)).astimezone(tz))
    day = last_day(start.astimezone(tz).date(), amount, unit) + timedelta(days=excluded_days)
    if not move:
        return PeriodEnd(end_of_day(day, tz))
    moved, provisional = move_past_rest_days(day, calendar)
    return PeriodEnd(end_of_day(moved, tz), provisional=provisional, unmoved=day if moved != day else None)
