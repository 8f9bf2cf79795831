"""Quiet hours: non-urgent pushes wait for the end of the officer's unit's quiet window."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo


def parse_window(text: str) -> tuple[dtime, dtime]:
    """Parses "HH:MM-HH:MM" into start and end times."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text or "")
    if not match:
        raise ValueError(f"quiet hours must look like 22:00-07:00, not {text!r}")
    sh, sm, eh, em = (int(g) for g in match.groups())
    if sh > 23 or eh > 23 or sm > 59 or em > 59:
        raise ValueError(f"quiet hours must look like 22:00-07:00, not {text!r}")
    return dtime(sh, sm), dtime(eh, em)


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

