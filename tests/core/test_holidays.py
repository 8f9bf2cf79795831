"""The holiday calendar: official schedules as data, the administrator's override, and unknown years."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest

from core.holidays import (
    BUNDLED_HOLIDAYS,
    HolidayCalendar,
    HolidaysError,
    load_calendar,
    parse_schedules,
)
from core.settings import Settings

SCHEDULE_2027 = """\
version: 1
years:
  2027:
    notice: 国办发明电〔2026〕1号
    festivals:
      - {name: 元旦, off: 2027-01-01 ~ 2027-01-03}
      - name: 国庆节
        off: 2027-10-01 ~ 2027-10-07
        work: [2027-09-26, 2027-10-09]
"""


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

    def test_late_december_is_known_only_with_the_next_years_schedule(self) -> None:
        """Saturday 2018-12-29 was made a working day by the notice for 2019: late December waits for it."""
        calendar = HolidayCalendar()
        assert calendar.is_working_day(date(2018, 12, 29))
        assert calendar.knows(date(2026, 12, 19))
        assert not calendar.knows(date(2026, 12, 20))  # no schedule for 2027 yet

    def test_the_bundled_schedules_match_the_published_ones_day_by_day(self) -> None:
        """Every day from 2004 to 2026 is a working day in the bundled file exactly when it was officially."""
        calendar = HolidayCalendar()
        assert [y.year for y in calendar.years] == list(range(2004, 2027))
        day = date(2004, 1, 1)
        while day <= date(2026, 12, 31):
            assert calendar.is_working_day(day) == chinese_calendar.is_workday(day), day
            day += timedelta(days=1)


class TestAdministratorsSchedule:
    def test_a_year_entered_in_the_data_dir_becomes_known(self, settings: Settings) -> None:
        """The administrator adds 2027 from the State Council's notice; its days count at once."""
        assert not load_calendar(settings).knows(date(2027, 10, 1))
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        (settings.data_dir / "holidays.yaml").write_text(SCHEDULE_2027, encoding="utf-8")
        calendar = load_calendar(settings)
        assert calendar.knows(date(2027, 10, 1)) and calendar.is_holiday(date(2027, 10, 1))
        assert calendar.is_working_day(date(2027, 9, 26))  # a Sunday made a working day
        assert calendar.knows(date(2026, 12, 28))  # late 2026 is now known too
        assert calendar.is_holiday(date(2026, 10, 1))  # the bundled years stay
        assert [y.notice for y in calendar.years if y.year == 2027] == ["国办发明电〔2026〕1号"]

    def test_a_year_in_the_data_dir_replaces_the_bundled_one(self, settings: Settings) -> None:
        """A correction to a bundled year wins over the package's data for that whole year."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path = settings.data_dir / "holidays.yaml"
        path.write_text(
            "version: 1\nyears:\n  2026:\n    festivals:\n      - {name: 国庆节, off: 2026-10-01 ~ 2026-10-03}\n",
            encoding="utf-8",
        )
        calendar = load_calendar(settings)
        assert calendar.is_working_day(date(2026, 10, 8))
        assert calendar.is_working_day(date(2026, 2, 16))  # the replaced year has no Spring Festival now
        assert calendar.years[-1].source == str(path)

    def test_a_changed_file_is_read_again(self, settings: Settings) -> None:
        """Editing holidays.yaml takes effect without a restart."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path = settings.data_dir / "holidays.yaml"
        path.write_text(SCHEDULE_2027, encoding="utf-8")
        assert load_calendar(settings).is_holiday(date(2027, 10, 7))
        path.write_text(SCHEDULE_2027.replace("2027-10-07", "2027-10-06"), encoding="utf-8")
        stat = path.stat()
        os.utime(path, (stat.st_atime, stat.st_mtime + 5))
        assert load_calendar(settings).is_working_day(date(2027, 10, 7))

    def test_a_bad_file_in_the_data_dir_is_refused_with_its_line(self, settings: Settings) -> None:
        """A typo in the administrator's file stops the calendar from loading, naming the line."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        (settings.data_dir / "holidays.yaml").write_text(
            SCHEDULE_2027.replace("2027-09-26", "2027-09-27"), encoding="utf-8"
        )
        with pytest.raises(HolidaysError, match=r"holidays.yaml: line 9: .*2027-09-27 is a weekday"):
            load_calendar(settings)


class TestScheduleValidation:
    @pytest.mark.parametrize(
        ("change", "message"),
        [
            (("2027-10-01 ~ 2027-10-07", "2027-10-01 ~ 2027-11-07"), "line 8: 2027 国庆节: 38 days off is too long"),
            (("2027-10-01 ~ 2027-10-07", "2027-10-07 ~ 2027-10-01"), "line 8: 2027 国庆节: the range ends before it starts"),
            (("2027-10-01 ~ 2027-10-07", "2027-13-01"), "line 8: 2027 国庆节 off: '2027-13-01' is not a date"),
            (("2027-10-01 ~ 2027-10-07", "2028-10-01"), "line 8: 2027 国庆节: 2028-10-01 is not in 2027"),
            (("[2027-09-26, 2027-10-09]", "[2027-10-12]"), "line 9: 2027 国庆节: 2027-10-12 is a weekday"),
            (("2027-01-01 ~ 2027-01-03", "2027-10-03"), "line 8: 2027 国庆节: 2027-10-03 is already a day off (元旦)"),
            (("name: 国庆节", "nmae: 国庆节"), "line 7: 2027 festival: unknown key 'nmae'"),
            (("version: 1", "version: 2"), "line 1: version: 1 is expected"),
            (("  2027:", "  twenty:"), "line 3: a year must be a number like 2027, not 'twenty'"),
            (("festivals:", "holidays:"), "line 5: 2027: unknown key 'holidays'"),
        ],
    )
    def test_a_mistake_is_refused_naming_its_line(self, change: tuple[str, str], message: str) -> None:
        """Each kind of typo an administrator can make is caught, with the line and what is expected."""
        with pytest.raises(HolidaysError) as caught:
            parse_schedules(SCHEDULE_2027.replace(*change), source="holidays.yaml")
        assert str(caught.value).startswith("holidays.yaml: ")
        assert message in str(caught.value)

    def test_a_year_given_twice_is_refused(self) -> None:
        """Two entries for one year would leave it unclear which is the notice."""
        body = SCHEDULE_2027.split("years:\n", 1)[1]
        with pytest.raises(HolidaysError, match="line 10: year 2027 is given twice"):
            parse_schedules(SCHEDULE_2027 + body)

    def test_broken_yaml_names_the_line(self) -> None:
        """A YAML syntax error reports its line."""
        with pytest.raises(HolidaysError, match="line 3"):
            parse_schedules("version: 1\nyears:\n  2027: {festivals: [}\n")

    def test_the_bundled_file_is_valid(self) -> None:
        """The shipped schedules pass the same validation as an administrator's file."""
        years = parse_schedules(Path(BUNDLED_HOLIDAYS).read_text(encoding="utf-8"))
        assert min(years) == 2004 and max(years) == 2026
