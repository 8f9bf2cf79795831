"""Statutory date arithmetic: 刑事诉讼法第一百零五条 and 最高法解释第二百零二条."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from reminders_helpers import TZ, local

from core.holidays import HolidayCalendar, parse_schedules
from core.settings import Settings
from reminders.calendar import Unit, add_months, holiday_calendar, last_day, move_past_rest_days, period_end

CAL = HolidayCalendar()


class TestAddMonths:
    def test_a_month_runs_to_the_same_date_of_the_next_month(self) -> None:
        """15 March + 1 month ends on 15 April."""
        assert add_months(date(2026, 3, 15), 1) == date(2026, 4, 15)

    def test_thirty_first_of_january_plus_one_month_is_the_end_of_february(self) -> None:
        """下月同日不存在的，自本月某日至下月最后一日为一个月."""
        assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
        assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)

    def test_a_start_on_a_month_end_runs_to_the_month_end(self) -> None:
        """期限起算日为本月最后一日的，至下月最后一日为一个月: 30 April + 1 month is 31 May."""
        assert add_months(date(2026, 4, 30), 1) == date(2026, 5, 31)
        assert add_months(date(2026, 2, 28), 1) == date(2026, 3, 31)

    def test_twenty_ninth_of_february_plus_twelve_months_is_the_twenty_eighth(self) -> None:
        """A leap day has no twin the next year; the period ends on the last day of February."""
        assert add_months(date(2028, 2, 29), 12) == date(2029, 2, 28)

    def test_twelve_months_from_a_february_end_reaches_the_leap_day(self) -> None:
        """28 Feb 2027 is a month end, so twelve months later is 29 Feb 2028."""
        assert add_months(date(2027, 2, 28), 12) == date(2028, 2, 29)

    def test_months_cross_the_year(self) -> None:
        """November + 3 months lands in February of the next year."""
        assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
        assert add_months(date(2026, 11, 15), 2) == date(2027, 1, 15)


class TestLastDay:
    def test_the_start_day_does_not_count(self) -> None:
        """Three days from 1 March end on 4 March (期间开始的日不算在期间以内)."""
        assert last_day(date(2026, 3, 1), 3, Unit.DAYS) == date(2026, 3, 4)

    def test_hour_periods_have_no_last_day(self) -> None:
        """Hours are counted from the event time, not by days."""
        with pytest.raises(ValueError):
            last_day(date(2026, 3, 1), 12, Unit.HOURS)


class TestHolidays:
    def test_the_day_after_the_national_day_week_is_the_next_working_day(self) -> None:
        """1 October 2026 moves to 8 October, the first working day after the holiday, for certain."""
        assert move_past_rest_days(date(2026, 10, 1), CAL) == (date(2026, 10, 8), False)

    def test_an_adjusted_working_saturday_does_not_move(self) -> None:
        """Saturday 28 February 2026 is a working day: a last day there stays."""
        assert move_past_rest_days(date(2026, 2, 28), CAL) == (date(2026, 2, 28), False)

    def test_a_day_of_an_unknown_year_never_moves_and_is_provisional(self) -> None:
        """Saturday 2031-03-01: no schedule, so no guess; the legal day is never earlier than it."""
        assert move_past_rest_days(date(2031, 3, 1), CAL) == (date(2031, 3, 1), True)

    def test_a_move_that_runs_into_an_unknown_year_stops_there(self) -> None:
        """A holiday on a known last day pushes into days not known yet (late December, the next year's
        notice missing): the move stops at the first of them, never later than the legal day."""
        calendar = HolidayCalendar(
            parse_schedules(
                "version: 1\nyears:\n  2030:\n    festivals:\n      - {name: 测试, off: 2030-12-18 ~ 2030-12-19}\n"
            )
        )
        assert move_past_rest_days(date(2030, 12, 18), calendar) == (date(2030, 12, 20), True)

    def test_the_calendar_comes_from_the_settings(self, settings: Settings) -> None:
        """The administrator's holidays.yaml in the data dir is the one deadlines count with."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        (settings.data_dir / "holidays.yaml").write_text(
            "version: 1\nyears:\n  2027:\n    festivals:\n      - {name: 国庆节, off: 2027-10-01 ~ 2027-10-07}\n",
            encoding="utf-8",
        )
        assert holiday_calendar(settings).knows(date(2027, 10, 1))
        end = period_end(local(2027, 9, 1), 30, Unit.DAYS, move=True, calendar=holiday_calendar(settings), tz=TZ)
        assert end.at.date() == date(2027, 10, 8) and not end.provisional


class TestPeriodEnd:
    def test_a_day_period_ends_at_the_end_of_its_last_day(self) -> None:
        """Detention on 1 March 10:00: three days run to 4 March 23:59:59 local time."""
        end = period_end(local(2026, 3, 1, 10), 3, Unit.DAYS, move=False, calendar=CAL, tz=TZ)
        assert end.at == datetime(2026, 3, 4, 23, 59, 59, tzinfo=TZ)

    def test_a_holiday_last_day_moves_on_when_the_rule_moves_it(self) -> None:
        """A 12-month period from 1 Oct 2025 ends on 1 Oct 2026, a holiday, so on 8 Oct (and says so)."""
        end = period_end(local(2025, 10, 1, 9), 12, Unit.MONTHS, move=True, calendar=CAL, tz=TZ)
        assert end.at.date() == date(2026, 10, 8)
        assert end.unmoved == date(2026, 10, 1) and not end.provisional

    def test_a_holiday_last_day_stays_while_the_person_is_in_custody(self) -> None:
        """在押期间，应当至期满之日为止: arrest on 1 Aug 2026 + 2 months ends on 1 Oct, holiday or not."""
        end = period_end(local(2026, 8, 1, 9), 2, Unit.MONTHS, move=False, calendar=CAL, tz=TZ)
        assert end.at.date() == date(2026, 10, 1)

    def test_hour_periods_count_hours_from_the_event(self) -> None:
        """A summons at 22:30 with a 12-hour limit ends at 10:30 the next day, holidays irrelevant."""
        start = local(2026, 9, 30, 22, 30)
        end = period_end(start, 12, Unit.HOURS, move=False, calendar=CAL, tz=TZ)
        assert end.at - start == timedelta(hours=12)
        assert end.at == local(2026, 10, 1, 10, 30)

    def test_excluded_days_come_before_the_holiday_move(self) -> None:
        """Days the law does not count push the last day first; then a rest day moves it."""
        end = period_end(local(2026, 9, 1), 25, Unit.DAYS, move=True, calendar=CAL, tz=TZ, excluded_days=5)
        assert end.at.date() == date(2026, 10, 8)

    def test_naive_start_times_are_refused(self) -> None:
        """A time without a zone could be off by eight hours; refuse it."""
        with pytest.raises(ValueError):
            period_end(datetime(2026, 3, 1), 3, Unit.DAYS, move=False, calendar=CAL, tz=TZ)
