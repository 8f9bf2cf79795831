"""Reading when something happened, as officers type it: 2026-03-15 14:30, 3月15日14时30分, 昨天 20:00."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_DAY_WORDS = {"今天": 0, "今日": 0, "昨天": 1, "昨日": 1, "前天": 2, "today": 0, "yesterday": 1}
_NUMERIC = re.compile(
    r"^(?:(?P<y>\d{4})[-/.年])?(?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})日?(?:号)?"
    r"(?:\s*(?:T|\s)?\s*(?P<rest>.+))?$"
)
_TIME = re.compile(
    r"^(?P<ampm>上午|早上|凌晨|中午|下午|晚上|傍晚)?\s*(?P<h>\d{1,2})\s*(?:[:：]|时|点)\s*(?P<min>\d{1,2})?\s*(?:分)?$"
    r"|^(?P<ampm2>上午|早上|凌晨|中午|下午|晚上|傍晚)?\s*(?P<h2>\d{1,2})\s*(?:时|点)(?P<half>半)?$"
)
_AFTERNOON = ("下午", "晚上", "傍晚")


def _time(text: str) -> time | None:
    match = _TIME.match(text.strip())
    if match is None:
        return None
    if match.group("h") is not None:
        hour, minute, ampm = int(match.group("h")), int(match.group("min") or 0), match.group("ampm")
    else:
        hour, minute, ampm = int(match.group("h2")), 30 if match.group("half") else 0, match.group("ampm2")
    if ampm in _AFTERNOON and hour < 12:
        hour += 12
    if ampm == "中午" and hour < 6:
        hour += 12
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return time(hour, minute)


def parse_when(text: str, *, now: datetime, tz: ZoneInfo) -> tuple[datetime, str] | None:
    """Reads a typed date (and time): returns (moment, "minute" | "day"), or None when it cannot.

    A date without a year is this year's; a bare time is today's. Times in the future are refused
    (None) — it has already happened.
    """
    text = " ".join(text.strip().split())
    if not text:
        return None
    local_now = now.astimezone(tz)
    day: date | None = None
    rest: str | None = None
    for word, back in _DAY_WORDS.items():
        if text.lower().startswith(word):
            day = local_now.date() - timedelta(days=back)
            rest = text[len(word) :].strip() or None
            break
    if day is None:
        match = _NUMERIC.match(text)
        if match is not None:
            year = int(match.group("y")) if match.group("y") else local_now.year
            try:
                day = date(year, int(match.group("m")), int(match.group("d")))
            except ValueError:
                return None
            rest = match.group("rest")
        else:
            moment = _time(text)
            if moment is None:
                return None
            day, rest = local_now.date(), text
    if rest:
        moment = _time(rest)
        if moment is None:
            return None
        result = datetime.combine(day, moment, tzinfo=tz)
        precision = "minute"
    else:
        result = datetime.combine(day, time(0), tzinfo=tz)
        precision = "day"
    if (precision == "minute" and result > local_now + timedelta(minutes=5)) or day > local_now.date():
        return None
    return result, precision
