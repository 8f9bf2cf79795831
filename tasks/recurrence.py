"""When a task falls due: one-off, daily, working days (日结), weekly (周清), monthly (月结).

Pure functions over a rule, the holiday calendar and a time zone. Dates are worked out in the
configured time zone's local calendar and the time of day is applied last, so "every working day
at 18:00" stays at 18:00 local whatever the offset does.

- ``workdays`` follows the holiday calendar: public holidays are skipped and make-up working
  weekends count. For a year the official schedule does not cover yet, Monday to Friday stand
  in (the calendar's own fallback); occurrences are only worked out shortly before they are
  created, so a schedule published in the meantime is used for them.
- ``monthly`` keeps its day of the month without drifting: a task on the 31st falls on the last
  day of shorter months and comes back to the 31st (Jan 31 -> Feb 28 -> Mar 31); one on the
  29th falls on 29 February in a leap year and on the 28th otherwise.
- ``monthly-last-workday`` is the last working day of each month.
- ``weekly`` and ``monthly`` are calendar rules: they do not move for a holiday.

A series ends on a date (inclusive, local), after a number of occurrences, or never.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, rrule

from core.holidays import HolidayCalendar


class Repeat(StrEnum):
    """How a task repeats."""

    NONE = "none"
    DAILY = "daily"
    WORKDAYS = "workdays"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    MONTHLY_LAST_WORKDAY = "monthly-last-workday"


# What people type in a spreadsheet besides the canonical names.
REPEAT_ALIASES: dict[str, Repeat] = {
    "": Repeat.NONE,
    "no": Repeat.NONE,
    "once": Repeat.NONE,
    "不重复": Repeat.NONE,
    "一次": Repeat.NONE,
    "单次": Repeat.NONE,
    "每天": Repeat.DAILY,
    "每日": Repeat.DAILY,
    "working-days": Repeat.WORKDAYS,
    "weekdays": Repeat.WORKDAYS,
    "工作日": Repeat.WORKDAYS,
    "每个工作日": Repeat.WORKDAYS,
    "日结": Repeat.WORKDAYS,
    "每周": Repeat.WEEKLY,
    "周清": Repeat.WEEKLY,
    "每月": Repeat.MONTHLY,
    "月结": Repeat.MONTHLY,
    "last-workday": Repeat.MONTHLY_LAST_WORKDAY,
    "每月最后一个工作日": Repeat.MONTHLY_LAST_WORKDAY,
    "月末工作日": Repeat.MONTHLY_LAST_WORKDAY,
}

# Far enough for any practical series; stops a rule that can never match from looping for ever.
_HORIZON_DAYS = 366 * 5


def parse_repeat(text: str) -> Repeat | None:
    """Reads a repeat rule by its name or a Chinese alias; None if unknown."""
    value = text.strip().lower().replace("_", "-")
    try:
        return Repeat(value)
    except ValueError:
        return REPEAT_ALIASES.get(value)


@dataclass(frozen=True)
class Recurrence:
    """A task's rule: when the first one falls due, how it repeats, and when the series ends."""

    repeat: Repeat
    start: date  # the first due day as asked (the first occurrence is the first match on or after it)
    at: time  # time of day, local
    weekday: int | None = None  # 0 = Monday; weekly rules
    month_day: int | None = None  # 1-31; monthly rules
    until: date | None = None  # last day an occurrence may fall on (local, inclusive)
    count: int | None = None  # how many occurrences in all

    @classmethod
    def starting(
        cls,
        repeat: Repeat,
        first_due: datetime,
        tz: ZoneInfo,
        *,
        until: date | None = None,
        count: int | None = None,
    ) -> Recurrence:
        """Builds a rule whose weekday or day of the month is that of the first due time."""
        local = first_due.astimezone(tz)
        day = local.date()
        return cls(
            repeat=repeat,
            start=day,
            at=local.time().replace(tzinfo=None, second=0, microsecond=0),
            weekday=day.weekday() if repeat is Repeat.WEEKLY else None,
            month_day=day.day if repeat is Repeat.MONTHLY else None,
            until=until,
            count=count,
        )

    @property
    def repeats(self) -> bool:
        """Tells whether the rule gives more than one occurrence (in principle)."""
        return self.repeat is not Repeat.NONE and self.count != 1


def _rule(rec: Recurrence, dtstart: datetime) -> rrule:
    if rec.repeat is Repeat.WEEKLY:
        weekday = rec.start.weekday() if rec.weekday is None else rec.weekday
        return rrule(WEEKLY, dtstart=dtstart, byweekday=weekday)
    if rec.repeat is Repeat.MONTHLY:
        day = rec.start.day if rec.month_day is None else rec.month_day
        # (day, -1) with bysetpos=1 picks the earlier of "the day" and "the month's last day":
        # the day itself where the month has it, the last day where it does not, with no drift.
        days = (day, -1) if day > 28 else (day,)
        return rrule(MONTHLY, dtstart=dtstart, bymonthday=days, bysetpos=1)
    if rec.repeat is Repeat.MONTHLY_LAST_WORKDAY:
        return rrule(MONTHLY, dtstart=dtstart.replace(day=1), bymonthday=-1)
    return rrule(DAILY, dtstart=dtstart)


def _last_working_day(month_end: date, calendar: HolidayCalendar) -> date:
    day = month_end
    while not calendar.is_working_day(day) and day.day > 1:
        day -= timedelta(days=1)
    return day


def matching_days(rec: Recurrence, calendar: HolidayCalendar, after: date | None = None) -> Iterator[date]:
    """Yields the days the rule falls on, from its start on (strictly after ``after`` when given)."""
    if rec.repeat is Repeat.NONE:
        if after is None or rec.start > after:
            yield rec.start
        return
    dtstart = datetime.combine(rec.start, time())
    rule = _rule(rec, dtstart)
    limit = (after or rec.start) + timedelta(days=_HORIZON_DAYS)
    source = rule.xafter(datetime.combine(after, time()), inc=False) if after is not None else iter(rule)
    for moment in source:
        day = moment.date()
        if day > limit:
            return
        if rec.repeat is Repeat.WORKDAYS and not calendar.is_working_day(day):
            continue
        if rec.repeat is Repeat.MONTHLY_LAST_WORKDAY:
            day = _last_working_day(day, calendar)
            if day < rec.start or (after is not None and day <= after):
                continue
        yield day


def next_due(
    rec: Recurrence,
    *,
    calendar: HolidayCalendar,
    tz: ZoneInfo,
    previous: datetime | None = None,
    made: int = 0,
) -> datetime | None:
    """Returns the due time of occurrence ``made + 1``, following the one due at ``previous``.

    None when the series has ended (by its count or its end date) or the rule has no more days.
    """
    if rec.count is not None and made >= rec.count:
        return None
    after = previous.astimezone(tz).date() if previous is not None else None
    for day in matching_days(rec, calendar, after):
        if rec.until is not None and day > rec.until:
            return None
        return datetime.combine(day, rec.at, tzinfo=tz)
    return None


def upcoming(
    rec: Recurrence,
    *,
    calendar: HolidayCalendar,
    tz: ZoneInfo,
    count: int,
    previous: datetime | None = None,
    made: int = 0,
) -> list[datetime]:
    """Lists the next ``count`` due times after occurrence ``made`` (due at ``previous``)."""
    found: list[datetime] = []
    while len(found) < count:
        due = next_due(rec, calendar=calendar, tz=tz, previous=previous, made=made)
        if due is None:
            break
        found.append(due)
        previous, made = due, made + 1
    return found


def guessed(days: list[date], calendar: HolidayCalendar) -> bool:
    """Tells whether any of these days lies in a year without an official holiday schedule."""
    return any(not calendar.knows(day) for day in days)
