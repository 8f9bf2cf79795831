"""The statutory holiday calendar: which days are rest days and which are working days.

Deadlines (reminders), working-day task cycles (tasks) and the rights office's time limits
(rights) all count with it. Data comes from the ``chinese_calendar`` package (the State
Council's schedule, including the weekend days made working days). For a year the data does not
cover, :meth:`HolidayCalendar.knows` is False and the weekday rule stands in (Monday to Friday
work): callers whose result must never be later than the law (statutory deadlines) check
``knows`` and do not move a date on a guess.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import chinese_calendar

from core.settings import Settings

log = logging.getLogger(__name__)


class HolidayCalendar:
    """Answers whether a day is a working day, from the official data where it is known."""

    def __init__(self) -> None:
        self._warned: set[int] = set()

    def knows(self, day: date) -> bool:
        """Tells whether the official schedule of the day's year is known."""
        try:
            chinese_calendar.is_workday(day)
        except NotImplementedError:
            return False
        return True

    def is_working_day(self, day: date) -> bool:
        """Tells whether a day is a working day (weekdays, when the year is not known)."""
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self._warned:
                self._warned.add(day.year)
                log.warning("no holiday schedule for %s; counting Monday to Friday as working days", day.year)
            return day.weekday() < 5

    def is_holiday(self, day: date) -> bool:
        """Tells whether a day is a rest day (a weekend or a public holiday not made a working day)."""
        return not self.is_working_day(day)

    def next_working_day(self, day: date) -> date:
        """Returns the day itself if it is a working day, else the first working day after it."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, day: date, count: int) -> date:
        """Returns the working day ``count`` working days after ``day`` (which itself does not count)."""
        if count < 0:
            raise ValueError("count must not be negative")
        while count:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Counts the working days after ``start`` up to and including ``end`` (0 if end <= start)."""
        count = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count


def load_calendar(settings: Settings) -> HolidayCalendar:
    """Returns the holiday calendar in force for these settings."""
    del settings  # the schedule entered by administrators (holidays.yaml) is read from the data dir later
    return HolidayCalendar()
