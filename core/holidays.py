"""The statutory holiday calendar: which days are rest days and which are working days.

Deadlines (reminders), working-day task cycles (tasks) and the rights office's time limits
(rights) all count with it. The State Council's schedule of each year (放假 and 调休上班 days) is
data: ``core/holidays.yaml`` ships the years published so far, and an administrator enters a
newly published year in ``<FRONTLINE_DATA_DIR>/holidays.yaml`` (same format; a year given there
replaces the bundled one). Both files are validated on load and a bad one is refused with the
line of the problem.

For a year with no schedule, :meth:`HolidayCalendar.knows` is False and the weekday rule stands
in (Monday to Friday work). Callers whose result must never be later than the law (statutory
deadlines) check ``knows`` and never move a date on that guess.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from core.settings import Settings

log = logging.getLogger(__name__)

BUNDLED_HOLIDAYS = Path(__file__).resolve().parent / "holidays.yaml"
HOLIDAYS_FILE_NAME = "holidays.yaml"
# A festival's days off never run longer than this (the longest so far: 9 days); a longer range
# is a typo such as 2026-10-01 ~ 2026-11-07.
MAX_FESTIVAL_DAYS = 14
# The next year's notice may turn a late-December weekend into a make-up working day (e.g.
# 2018-12-29 for New Year 2019): those days are known only once the next year is known too.
LATE_DECEMBER_FROM = 20
_RANGE_MARKS = ("~", "..", "至")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class HolidaysError(Exception):
    """A holiday schedule file that cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class YearSchedule:
    """The State Council's schedule of one year: days off and weekend days made working days."""

    year: int
    off: frozenset[date]
    work: frozenset[date]
    source: str
    """The file the schedule was read from."""
    notice: str | None = None
    """The notice it was transcribed from, when the file names it (e.g. 国办发明电〔2025〕7号)."""
    festivals: tuple[str, ...] = field(default=())


class HolidayCalendar:
    """Answers whether a day is a working day, from the official schedules where they are known."""

    def __init__(self, years: Mapping[int, YearSchedule] | None = None) -> None:
        self._years = dict(bundled_schedules() if years is None else years)
        self._off = frozenset(d for y in self._years.values() for d in y.off)
        self._work = frozenset(d for y in self._years.values() for d in y.work)
        self._warned: set[int] = set()

    @property
    def years(self) -> list[YearSchedule]:
        """Lists the known years' schedules, oldest first."""
        return [self._years[y] for y in sorted(self._years)]

    def knows(self, day: date) -> bool:
        """Tells whether the official schedule of the day is known.

        A day late in December also needs the next year's schedule: that notice may make it a
        working day.
        """
        if day.year not in self._years:
            return False
        return not (day.month == 12 and day.day >= LATE_DECEMBER_FROM and day.year + 1 not in self._years)

    def is_working_day(self, day: date) -> bool:
        """Tells whether a day is a working day (weekdays, when the day is not known)."""
        if day in self._work:
            return True
        if day in self._off:
            return False
        if not self.knows(day) and day.year not in self._warned:
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


# --- the schedule files ------------------------------------------------------------------------


class _Reader:
    """Walks a composed YAML tree, raising HolidaysError with the file and line of a bad node."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: Node, message: str) -> HolidaysError:
        return HolidaysError(f"{self.source}: line {node.start_mark.line + 1}: {message}")

    def mapping(self, node: Node, what: str, allowed: Iterable[str] | None = None) -> dict[str, Node]:
        if not isinstance(node, MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        result: dict[str, Node] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, ScalarNode) else None
            if name is None:
                raise self.fail(key, f"{what}: a key must be a plain word or number")
            if name in result:
                raise self.fail(key, f"{what}: {name!r} is given twice")
            if allowed is not None and name not in allowed:
                raise self.fail(key, f"{what}: unknown key {name!r} (expected: {', '.join(allowed)})")
            result[name] = value
        return result

    def text(self, node: Node, what: str) -> str:
        if not isinstance(node, ScalarNode) or not str(node.value).strip():
            raise self.fail(node, f"{what} must be a non-empty text")
        return str(node.value).strip()

    def day(self, node: Node, text: str, what: str) -> date:
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            raise self.fail(node, f"{what}: {text.strip()!r} is not a date like 2026-10-01") from None

    def days(self, node: Node, what: str) -> list[tuple[Node, str]]:
        """Returns the scalar items of a value that is one scalar or a list of them."""
        items = node.value if isinstance(node, SequenceNode) else [node]
        result: list[tuple[Node, str]] = []
        for item in items:
            if not isinstance(item, ScalarNode) or not str(item.value).strip():
                raise self.fail(item, f"{what} must be a date, a range 'first ~ last', or a list of them")
            result.append((item, str(item.value)))
        return result


def _in_year(day: date, year: int) -> bool:
    """Tells whether a day may appear in a year's notice (that year, or the December before it)."""
    return day.year == year or (day.year == year - 1 and day.month == 12)


def _parse_year(reader: _Reader, key: ScalarNode, node: Node) -> YearSchedule:
    try:
        year = int(key.value)
    except ValueError:
        raise reader.fail(key, f"a year must be a number like 2027, not {key.value!r}") from None
    if not 1990 <= year <= 2100:
        raise reader.fail(key, f"year {year} is out of range")
    fields = reader.mapping(node, str(year), ("festivals", "notice"))
    notice = reader.text(fields["notice"], f"{year}.notice") if "notice" in fields else None
    listed = fields.get("festivals")
    if not isinstance(listed, SequenceNode) or not listed.value:
        raise reader.fail(listed or node, f"{year}: festivals must be a list with at least one festival")
    off: dict[date, str] = {}
    work: dict[date, str] = {}
    names: list[str] = []
    for item in listed.value:
        festival = reader.mapping(item, f"{year} festival", ("name", "off", "work"))
        if "name" not in festival or "off" not in festival:
            raise reader.fail(item, f"{year}: every festival needs a name and its days off (off)")
        name = reader.text(festival["name"], f"{year} festival name")
        names.append(name)
        for day_node, text in reader.days(festival["off"], f"{year} {name} off"):
            mark = next((m for m in _RANGE_MARKS if m in text), None)
            if mark is None:
                first = last = reader.day(day_node, text, f"{year} {name} off")
            else:
                left, right = text.split(mark, 1)
                first = reader.day(day_node, left, f"{year} {name} off")
                last = reader.day(day_node, right, f"{year} {name} off")
            if last < first:
                raise reader.fail(day_node, f"{year} {name}: the range ends before it starts")
            if (last - first).days >= MAX_FESTIVAL_DAYS:
                raise reader.fail(day_node, f"{year} {name}: {(last - first).days + 1} days off is too long")
            day = first
            while day <= last:
                if not _in_year(day, year):
                    raise reader.fail(day_node, f"{year} {name}: {day} is not in {year}")
                if day in off:
                    raise reader.fail(day_node, f"{year} {name}: {day} is already a day off ({off[day]})")
                off[day] = name
                day += timedelta(days=1)
        for day_node, text in reader.days(festival["work"], f"{year} {name} work") if "work" in festival else []:
            day = reader.day(day_node, text, f"{year} {name} work")
            if not _in_year(day, year):
                raise reader.fail(day_node, f"{year} {name}: {day} is not in {year}")
            if day.weekday() < 5:
                raise reader.fail(day_node, f"{year} {name}: {day} is a weekday; work lists only Saturdays and Sundays")
            if day in off:
                raise reader.fail(day_node, f"{year} {name}: {day} is listed both off and work")
            work[day] = name
    clash = sorted(set(off) & set(work))
    if clash:
        raise reader.fail(listed, f"{year}: {clash[0]} is listed both off and work")
    return YearSchedule(
        year=year,
        off=frozenset(off),
        work=frozenset(work),
        source=reader.source,
        notice=notice,
        festivals=tuple(names),
    )


def parse_schedules(text: str, *, source: str = HOLIDAYS_FILE_NAME) -> dict[int, YearSchedule]:
    """Parses and validates a holiday schedule file, raising HolidaysError with the bad line."""
    reader = _Reader(source)
    try:
        root = yaml.compose(text, Loader=_LOADER)  # composes nodes only, never builds objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark is not None else ""
        raise HolidaysError(f"{source}:{where} not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if root is None:
        raise HolidaysError(f"{source}: the file is empty")
    fields = reader.mapping(root, "the file", ("version", "years"))
    version = fields.get("version")
    if version is None or not isinstance(version, ScalarNode) or version.value != "1":
        raise reader.fail(version or root, "version: 1 is expected")
    years_node = fields.get("years")
    if years_node is None:
        raise reader.fail(root, "years: is missing")
    if not isinstance(years_node, MappingNode) or not years_node.value:
        raise reader.fail(years_node, "years must map each year to its festivals")
    result: dict[int, YearSchedule] = {}
    for key, node in years_node.value:
        if not isinstance(key, ScalarNode):
            raise reader.fail(key, "a year must be a number like 2027")
        schedule = _parse_year(reader, key, node)
        if schedule.year in result:
            raise reader.fail(key, f"year {schedule.year} is given twice")
        result[schedule.year] = schedule
    return result


def read_schedules(path: Path) -> dict[int, YearSchedule]:
    """Reads and validates one schedule file."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise HolidaysError(f"{path}: not UTF-8 text") from None
    return parse_schedules(text, source=str(path))


def bundled_schedules() -> dict[int, YearSchedule]:
    """Returns the schedules shipped with Frontline."""
    return _cached(BUNDLED_HOLIDAYS)


def override_path(settings: Settings) -> Path:
    """Returns where an administrator enters newly published years."""
    return settings.data_dir / HOLIDAYS_FILE_NAME


_files: dict[Path, tuple[float, dict[int, YearSchedule]]] = {}
_calendars: dict[tuple[float, str, float | None], HolidayCalendar] = {}


def _cached(path: Path) -> dict[int, YearSchedule]:
    mtime = path.stat().st_mtime
    found = _files.get(path)
    if found is None or found[0] != mtime:
        found = (mtime, read_schedules(path))
        _files[path] = found
    return found[1]


def load_calendar(settings: Settings) -> HolidayCalendar:
    """Returns the calendar in force: the bundled years, each replaced by the data dir's if given there.

    Re-reads a file when it changes; a bad file raises HolidaysError naming its line.
    """
    override = override_path(settings)
    override_mtime = override.stat().st_mtime if override.exists() else None
    key = (BUNDLED_HOLIDAYS.stat().st_mtime, str(override), override_mtime)
    calendar = _calendars.get(key)
    if calendar is None:
        years = dict(bundled_schedules())
        if override_mtime is not None:
            years.update(_cached(override))
        calendar = HolidayCalendar(years)
        _calendars[key] = calendar
    return calendar
