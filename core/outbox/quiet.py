"""Quiet hours: non-urgent pushes wait for the end of the officer's unit's quiet window."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.settings import parse_window

__all__ = ["parse_window", "quiet_until"]


def quiet_until(now: datetime, window: str, tz: ZoneInfo) -> datetime | None:
    """Returns when a quiet window that `now` falls in ends (aware UTC), or None outside it."""
    start, end = parse_window(window)
    if start == end:
        return None  # "00:00-00:00" switches quiet hours off
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    today = local.date()
    if start < end:
        if not start <= t < end:
            return None
        end_day = today
    else:  # the window crosses midnight, e.g. 22:00-07:00
        if end <= t < start:
            return None
        end_day = today if t < end else today + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=tz).astimezone(now.tzinfo or tz)

