"""The holiday calendar: official rest and make-up working days, and what it does not know."""

from __future__ import annotations

from datetime import date

from core.holidays import HolidayCalendar


class TestHolidayCalendar:
    def test_knows_a_public_holiday_and_a_made_up_working_weekend(self) -> None:
        """2026-10-01 is National Day; Sunday 2026-09-20 is a make-up working day."""
        calendar = HolidayCalendar()
        assert calendar.is_holiday(date(2026, 10, 1))
        assert calendar.is_working_day(date(2026, 9, 20))
        assert calendar.knows(date(2026, 10, 1))

    def test_counts_working_days_across_a_holiday_week(self) -> None:
        """Three working days after 2026-09-30 skip the National Day week."""
        calendar = HolidayCalendar()
        assert calendar.add_working_days(date(2026, 9, 30), 1) == calendar.next_working_day(date(2026, 10, 1))
        end = calendar.add_working_days(date(2026, 9, 30), 3)
        assert calendar.working_days_between(date(2026, 9, 30), end) == 3
        assert all(calendar.is_holiday(date(2026, 10, d)) for d in range(1, 8))
        assert end > date(2026, 10, 8)

    def test_an_unknown_year_uses_the_weekday_rule_and_says_so(self) -> None:
        """Far in the future there is no schedule: weekdays work, and knows() is False."""
        calendar = HolidayCalendar()
        day = date(2099, 3, 2)  # a Monday
        assert not calendar.knows(day)
        assert calendar.is_working_day(day)
        assert calendar.is_holiday(date(2099, 3, 1))  # a Sunday
