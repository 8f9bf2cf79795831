"""The desk's language: Chinese by default, English on request; dates in the configured time zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from core.i18n import LANGUAGES, gettext_for

LANGUAGE_COOKIE = "frontline_desk_lang"
LANGUAGE_NAMES = {"zh": "中文", "en": "English"}

Translate = Callable[[str], str]


def pick_language(*, cookie: str | None, officer_language: str | None, default: str) -> str:
    """Chooses the page language: the switch's cookie, else the officer's language, else the default."""
    for candidate in (cookie, officer_language, default):
        if candidate in LANGUAGES:
            return candidate
    return "zh"


def translator(language: str) -> Translate:
    """Returns the gettext function of a language (the catalogues hold every feature's strings)."""
    return gettext_for(language)


def local_time(value: datetime | None, tz: ZoneInfo, *, with_time: bool = True) -> str:
    """Writes an instant in local time (2026-03-15 08:00), or an empty string."""
    if value is None:
        return ""
    local = value.astimezone(tz)
    return local.strftime("%Y-%m-%d %H:%M") if with_time else local.strftime("%Y-%m-%d")


def due_text(value: datetime | None, tz: ZoneInfo) -> str:
    """Writes when a deadline runs out: the date alone for day limits (they end at 23:59:59)."""
    if value is None:
        return ""
    local = value.astimezone(tz)
    if (local.hour, local.minute, local.second) == (23, 59, 59):
        return local.strftime("%Y-%m-%d")
    return local.strftime("%Y-%m-%d %H:%M")


def day_text(value: date) -> str:
    """Writes a date as 2026-03-15."""
    return value.isoformat()


def age_text(seconds: float, _: Translate) -> str:
    """Says how old something is, in the largest whole unit (3 d, 5 h, 12 min)."""
    seconds = max(0.0, seconds)
    if seconds >= 86400:
        return _("{n} d").format(n=int(seconds // 86400))
    if seconds >= 3600:
        return _("{n} h").format(n=int(seconds // 3600))
    return _("{n} min").format(n=max(1, int(seconds // 60)))
