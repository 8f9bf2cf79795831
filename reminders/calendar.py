"""Statutory date arithmetic for case deadlines.

刑事诉讼法 第一百零五条: periods count in hours, days and months; the starting hour or day does not
count; a period whose last day is a holiday ends on the first day after the holiday, except while
the suspect is in custody, when it ends on the day itself. 最高人民法院关于适用《刑事诉讼法》的解释
第二百零二条: a month runs from a day to the same day of the next month; a period starting on the
last day of a month runs to the last day of the target month; when the target month has no such
day it runs to that month's last day. 公安机关办理行政案件程序规定 第三十五条 says the same for
administrative cases.

Holidays come from the ``chinese_calendar`` package (the State Council's calendar, including the
weekend days that are made working days). For a year it does not cover yet, Saturdays and Sundays
are treated as the only holidays and a warning is logged once per year, so that a deadline is never
silently pushed by a guess about a future holiday.
"""

from __future__ import annotations

import calendar as _stdcal
import logging
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from core.holidays import HolidayCalendar

log = logging.getLogger(__name__)

_calendar = HolidayCalendar()


class Unit(StrEnum):
    """The unit a statutory period is counted in."""

    HOURS = "hours"
    DAYS = "days"
    MONTHS = "months"


def is_holiday(day: date) -> bool:
    """Tells whether a day is a statutory rest day (official calendar, weekends as fallback)."""
    return _calendar.is_holiday(day)


def next_working_day(day: date) -> date:
    """Returns the day itself if it is a working day, else the first working day after it."""
    return _calendar.next_working_day(day)


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


def period_end(start: datetime, amount: int, unit: Unit, *, in_custody: bool, tz: ZoneInfo) -> datetime:
    """Returns when a period that began at ``start`` runs out (aware, in ``tz``).

    Hour periods run exactly ``amount`` hours from the event. Day and month periods end at the end
    of their last day; that day moves past holidays unless the person is in custody.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if unit is Unit.HOURS:
        return (start + timedelta(hours=amount)).astimezone(tz)
    day = last_day(start.astimezone(tz).date(), amount, unit)
    if not in_custody:
        day = next_working_day(day)
    return end_of_day(day, tz)
