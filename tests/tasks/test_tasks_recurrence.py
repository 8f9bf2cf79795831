"""Recurrence rules: 日结 on the holiday calendar, 周清, 月结 without drift, and how a series ends."""

from __future__ import annotations

from datetime import date, time

from tasks_helpers import TZ, local

from core.holidays import HolidayCalendar
from tasks.recurrence import Recurrence, Repeat, guessed, next_due, parse_repeat, upcoming


def _dues(rec: Recurrence, calendar: HolidayCalendar, count: int) -> list[str]:
    return [d.strftime("%Y-%m-%d %H:%M") for d in upcoming(rec, calendar=calendar, tz=TZ, count=count)]


class TestWorkingDays:
    def test_skips_the_national_day_week_and_keeps_the_make_up_saturday(self, calendar: HolidayCalendar) -> None:
        """From Mon 2026-09-28: 28, 29, 30 Sep, then 8, 9, 10 (a make-up working Saturday) and 12 Oct."""
        rec = Recurrence.starting(Repeat.WORKDAYS, local(2026, 9, 28, 18), TZ)
        assert _dues(rec, calendar, 7) == [
            "2026-09-28 18:00",
            "2026-09-29 18:00",
            "2026-09-30 18:00",
            "2026-10-08 18:00",
            "2026-10-09 18:00",
            "2026-10-10 18:00",
            "2026-10-12 18:00",
        ]

    def test_counts_a_make_up_sunday_and_skips_the_mid_autumn_friday(self, calendar: HolidayCalendar) -> None:
        """Sun 2026-09-20 is worked; Fri 2026-09-25 to Sun 27 are rest days."""
        rec = Recurrence.starting(Repeat.WORKDAYS, local(2026, 9, 19, 9), TZ)
        assert _dues(rec, calendar, 6) == [
            "2026-09-20 09:00",
            "2026-09-21 09:00",
            "2026-09-22 09:00",
            "2026-09-23 09:00",
            "2026-09-24 09:00",
            "2026-09-28 09:00",
        ]

    def test_a_start_on_a_holiday_moves_to_the_next_working_day(self, calendar: HolidayCalendar) -> None:
        """A 日结 task first due on National Day starts on 8 October."""
        rec = Recurrence.starting(Repeat.WORKDAYS, local(2026, 10, 1, 17, 30), TZ)
        assert _dues(rec, calendar, 1) == ["2026-10-08 17:30"]

    def test_a_year_without_official_data_falls_back_to_monday_to_friday_and_says_so(
        self, calendar: HolidayCalendar
    ) -> None:
        """2099 has no schedule: weekdays stand in, and guessed() tells the caller."""
        rec = Recurrence.starting(Repeat.WORKDAYS, local(2099, 3, 6, 18), TZ)  # a Friday
        dues = upcoming(rec, calendar=calendar, tz=TZ, count=2)
        assert [d.date() for d in dues] == [date(2099, 3, 6), date(2099, 3, 9)]
        assert guessed([d.date() for d in dues], calendar)
        assert not guessed([date(2026, 10, 8)], calendar)


class TestWeekly:
    def test_keeps_the_weekday_of_the_first_due_time_and_ignores_holidays(self, calendar: HolidayCalendar) -> None:
        """周清 on Fridays at 17:00 from 2026-09-18, National Day Friday included (a calendar rule)."""
        rec = Recurrence.starting(Repeat.WEEKLY, local(2026, 9, 18, 17), TZ)
        assert rec.weekday == 4
        assert _dues(rec, calendar, 4) == [
            "2026-09-18 17:00",
            "2026-09-25 17:00",
            "2026-10-02 17:00",
            "2026-10-09 17:00",
        ]


class TestMonthly:
    def test_the_31st_falls_on_shorter_months_last_day_without_drifting(self, calendar: HolidayCalendar) -> None:
        """Jan 31 -> Feb 28 -> Mar 31 -> Apr 30 -> May 31."""
        rec = Recurrence.starting(Repeat.MONTHLY, local(2026, 1, 31, 17), TZ)
        assert _dues(rec, calendar, 5) == [
            "2026-01-31 17:00",
            "2026-02-28 17:00",
            "2026-03-31 17:00",
            "2026-04-30 17:00",
            "2026-05-31 17:00",
        ]

    def test_the_29th_is_29_february_in_a_leap_year_and_the_28th_otherwise(self, calendar: HolidayCalendar) -> None:
        """2027: Jan 29, Feb 28, Mar 29; 2028: Jan 29, Feb 29, Mar 29."""
        plain = Recurrence.starting(Repeat.MONTHLY, local(2027, 1, 29, 9), TZ)
        assert _dues(plain, calendar, 3) == ["2027-01-29 09:00", "2027-02-28 09:00", "2027-03-29 09:00"]
        leap = Recurrence.starting(Repeat.MONTHLY, local(2028, 1, 29, 9), TZ)
        assert _dues(leap, calendar, 3) == ["2028-01-29 09:00", "2028-02-29 09:00", "2028-03-29 09:00"]

    def test_a_daily_task_passes_29_february(self, calendar: HolidayCalendar) -> None:
        """Every day from 2028-02-28: the 28th, the 29th, then 1 March."""
        rec = Recurrence.starting(Repeat.DAILY, local(2028, 2, 28, 8), TZ)
        assert _dues(rec, calendar, 3) == ["2028-02-28 08:00", "2028-02-29 08:00", "2028-03-01 08:00"]

    def test_the_last_working_day_follows_holidays_and_make_up_saturdays(self, calendar: HolidayCalendar) -> None:
        """2026: Jan 30 (31st a Saturday), Feb 28 (a make-up working Saturday), Mar 31; May 29 (31st a Sunday)."""
        rec = Recurrence.starting(Repeat.MONTHLY_LAST_WORKDAY, local(2026, 1, 5, 17), TZ)
        assert _dues(rec, calendar, 5) == [
            "2026-01-30 17:00",
            "2026-02-28 17:00",
            "2026-03-31 17:00",
            "2026-04-30 17:00",
            "2026-05-29 17:00",
        ]

    def test_the_last_working_day_already_past_in_the_first_month_starts_the_month_after(
        self, calendar: HolidayCalendar
    ) -> None:
        """Asked on Sunday 2026-05-31, after May's last working day (the 29th): June 30 first."""
        rec = Recurrence.starting(Repeat.MONTHLY_LAST_WORKDAY, local(2026, 5, 31, 17), TZ)
        assert _dues(rec, calendar, 1) == ["2026-06-30 17:00"]


class TestEndings:
    def test_a_series_ends_after_its_count(self, calendar: HolidayCalendar) -> None:
        """Three times in all: the fourth asks for nothing."""
        rec = Recurrence.starting(Repeat.DAILY, local(2026, 3, 2, 9), TZ, count=3)
        assert len(upcoming(rec, calendar=calendar, tz=TZ, count=10)) == 3
        assert next_due(rec, calendar=calendar, tz=TZ, previous=local(2026, 3, 4, 9), made=3) is None

    def test_a_series_ends_on_its_end_date_inclusive(self, calendar: HolidayCalendar) -> None:
        """Weekly until 2026-03-16 (a Monday): 2, 9 and 16 March."""
        rec = Recurrence.starting(Repeat.WEEKLY, local(2026, 3, 2, 9), TZ, until=date(2026, 3, 16))
        assert _dues(rec, calendar, 10) == ["2026-03-02 09:00", "2026-03-09 09:00", "2026-03-16 09:00"]

    def test_a_one_off_task_has_exactly_one_due_time(self, calendar: HolidayCalendar) -> None:
        """No repeat: the due time given, then nothing."""
        rec = Recurrence.starting(Repeat.NONE, local(2026, 3, 2, 9, 30), TZ)
        assert _dues(rec, calendar, 5) == ["2026-03-02 09:30"]
        assert not rec.repeats

    def test_the_next_due_time_follows_the_previous_one_not_the_clock(self, calendar: HolidayCalendar) -> None:
        """The occurrence after 2026-09-30 is 2026-10-08, whatever day it is now."""
        rec = Recurrence(repeat=Repeat.WORKDAYS, start=date(2026, 9, 1), at=time(18, 0))
        after = next_due(rec, calendar=calendar, tz=TZ, previous=local(2026, 9, 30, 18), made=22)
        assert after == local(2026, 10, 8, 18)


class TestParsing:
    def test_reads_names_and_chinese_aliases(self) -> None:
        """workdays / 日结, weekly / 周清, monthly / 月结, monthly-last-workday, empty for none."""
        assert parse_repeat("workdays") is Repeat.WORKDAYS
        assert parse_repeat("日结") is Repeat.WORKDAYS
        assert parse_repeat("周清") is Repeat.WEEKLY
        assert parse_repeat("月结") is Repeat.MONTHLY
        assert parse_repeat("Monthly-Last-Workday") is Repeat.MONTHLY_LAST_WORKDAY
        assert parse_repeat("") is Repeat.NONE
        assert parse_repeat("fortnightly") is None
