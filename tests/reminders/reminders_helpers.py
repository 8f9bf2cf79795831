"""Helpers of the reminders tests: local times and table rows."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from core.tabular import Row

TZ = ZoneInfo("Asia/Shanghai")
COLUMNS = ("case_number", "case_title", "case_type", "officer_badge", "event", "event_date")


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """Builds an aware Asia/Shanghai time."""
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


def rows(*cells: tuple[str, ...], extra: dict[int, dict[str, str]] | None = None) -> list[Row]:
    """Builds table rows from tuples in COLUMNS order; line numbers start at 2 as in a file."""
    result = []
    for index, values in enumerate(cells):
        data = dict(zip(COLUMNS, values, strict=True))
        data.update((extra or {}).get(index, {}))
        result.append(Row(line=index + 2, values=data))
    return result
