"""Which text of a law applies on a day, and what a question says about the day it concerns.

A revised law is bundled beside the text it replaces. Every record carries the days its text
applies (``ingest.statutes.Record``); the bundled marks come from ``corpus/supersessions.yaml``.
Officers are answered from the law in force on the day they ask, unless the question is about
the old law ("旧法", "修订前") or about conduct on an earlier day ("2025年12月发生的…"), which the
law of that day governs (行政处罚法第三十七条: the law at the time of the act, unless the new one
is lighter), and then the old text is always shown as superseded from its day.

When a law was renumbered, the same article number can mean something else in the other text:
``counterpart`` finds where an article's content went, by the overlap of the two texts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from ingest.pipeline import Supersession, supersession_key
from ingest.statutes import ARTICLE_RE, Record


class SupersessionsError(ValueError):
    """A supersessions file that cannot be read; the message names the entry."""


def load_supersessions(path: Path) -> dict[str, Supersession]:
    """Reads supersession marks keyed as the record store keys them (law or law@version)."""
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SupersessionsError(f"{path.name}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SupersessionsError(f"{path.name}: expected a mapping of law names")
    marks: dict[str, Supersession] = {}
    for law, entry in data.items():
        if isinstance(entry, str):
            marks[str(law)] = Supersession(by=entry)
            continue
        if not isinstance(entry, list):
            raise SupersessionsError(f"{path.name}: {law}: expected a label or a list of versions")
        for item in entry:
            if not isinstance(item, dict) or not item.get("version") or not item.get("by"):
                raise SupersessionsError(f"{path.name}: {law}: each entry needs version and by")
            from_day = _iso_day(item.get("from"), f"{path.name}: {law}: from")
            marks[supersession_key(str(law), str(item["version"]))] = Supersession(
                by=str(item["by"]), from_day=from_day, by_version=_text(item.get("by_version"))
            )
    return marks


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else str(value)


def _iso_day(value: Any, where: str) -> str | None:
    if value is None:
        return None
    text = _text(value) or ""
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise SupersessionsError(f"{where}: {text!r} is not a date (YYYY-MM-DD)") from exc


def in_force_on(record: Record, day: date) -> bool:
    """Tells whether a record's text is the one in force on a day."""
    if record.in_force_from is not None and day < date.fromisoformat(record.in_force_from):
        return False
    if record.superseded_by is None:
        return True
    return record.superseded_from is not None and day < date.fromisoformat(record.superseded_from)


def transition_days(records: Iterable[Record]) -> list[date]:
    """Returns the days on which some text stopped (and another started) being in force."""
    days = {record.superseded_from for record in records if record.superseded_from}
    return sorted(date.fromisoformat(day) for day in days)


# A question about the text before a revision, in the words officers use.
_OLD_LAW_RE = re.compile(
    r"旧法|老法|原法|旧的?治安|老的?治安|原(?:来的?)?《?治安|修订前|修改前|修正前|修法前|新法(?:实施|施行)前|"
    r"旧版|老版|旧条文|原条文|原来的规定|以前的规定|过去的规定|2012年?版|2012年修正|"
    r"\bold (?:law|text|version)\b|\bprevious (?:law|text|version)\b|\bformer (?:law|text)\b|"
    r"\bbefore the (?:revision|amendment|new law)\b|\b2012 (?:text|version|law)\b",
    re.IGNORECASE,
)
_CN_DATE_RE = re.compile(r"(?<!\d)(\d{4})\s*年(?:\s*(\d{1,2})\s*月(?:\s*(\d{1,2})\s*[日号])?)?")
_ISO_DATE_RE = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})(?:[-/.](\d{1,2}))?(?!\d)")
_EN_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
            ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
            ("october", "oct"), ("november", "nov"), ("december", "dec"),
        ],
        start=1,
    )
    for m in names
}
_EN_DATE_RE = re.compile(
    r"\b(?:(" + "|".join(sorted(_EN_MONTHS, key=len, reverse=True)) + r")\.?\s+(?:(\d{1,2})(?:st|nd|rd|th)?,?\s+)?)?"
    r"(?:in\s+)?((?:19|20)\d{2})\b",
    re.IGNORECASE,
)
_RELATIVE_YEARS = {"去年": 1, "前年": 2, "last year": 1}


@dataclass(frozen=True)
class AppliedDay:
    """The day whose law answers a question, and why."""

    day: date
    reason: str  # "today", "old_law" (the question asks about the old text) or "conduct" (an earlier date)


def _last_day(year: int, month: int | None, day: int | None) -> date | None:
    try:
        if month is None:
            return date(year, 12, 31)
        if day is None:
            following = date(year + (month == 12), month % 12 + 1, 1)
            return following - timedelta(days=1)
        return date(year, month, day)
    except ValueError:
        return None


def dates_in(question: str, today: date) -> list[date]:
    """Returns the days a question names (a year or month alone counts as its last day)."""
    found: list[date] = []
    for match in _CN_DATE_RE.finditer(question):
        month = int(match.group(2)) if match.group(2) else None
        day = int(match.group(3)) if match.group(3) else None
        found.append(_last_day(int(match.group(1)), month, day) or today)
    for match in _ISO_DATE_RE.finditer(question):
        day = int(match.group(3)) if match.group(3) else None
        found.append(_last_day(int(match.group(1)), int(match.group(2)), day) or today)
    if question.isascii():
        for match in _EN_DATE_RE.finditer(question):
            month = _EN_MONTHS.get((match.group(1) or "").lower())
            day = int(match.group(2)) if match.group(2) and month else None
            found.append(_last_day(int(match.group(3)), month, day) or today)
    lowered = question.lower()
    for word, years in _RELATIVE_YEARS.items():
        if word in lowered:
            found.append(date(today.year - years, 12, 31))
    return [d for d in found if d.year > 1949 and d <= today]


def without_dates(question: str) -> str:
    """Returns the question with the days it names taken out (what remains is what it asks about)."""
    text = _CN_DATE_RE.sub("", question)
    text = _ISO_DATE_RE.sub("", text)
    for word in _RELATIVE_YEARS:
        text = text.replace(word, "")
    text = re.sub(r"^[\s，,的]*(?:发生的?|做的|实施的)?", "", text)
    return text.strip() or question


def applied_day(question: str, today: date, transitions: Iterable[date]) -> AppliedDay:
    """Returns the day whose law answers the question: today, unless it asks about an earlier text."""
    passed = sorted(t for t in transitions if t <= today)
    if not passed:
        return AppliedDay(today, "today")
    if _OLD_LAW_RE.search(question):
        return AppliedDay(passed[-1] - timedelta(days=1), "old_law")
    earlier = [d for d in dates_in(question, today) if d < passed[-1]]
    if earlier:
        return AppliedDay(min(earlier), "conduct")
    return AppliedDay(today, "today")


def body(record: Record) -> str:
    """Returns an article's text without its number."""
    match = ARTICLE_RE.match(record.text)
    return record.text[match.end() :] if match else record.text


def _bigrams(text: str) -> set[str]:
    chars = [c for c in text if "\u4e00" <= c <= "\u9fff" or c.isalnum()]
    return {chars[i] + chars[i + 1] for i in range(len(chars) - 1)}


def similarity(a: Record, b: Record) -> float:
    """Rates 0..1 how much two articles say the same (Dice overlap of their character bigrams)."""
    x, y = _bigrams(body(a)), _bigrams(body(b))
    if not x or not y:
        return 0.0
    return 2 * len(x & y) / (len(x) + len(y))


SAME_MEANING = 0.6  # two texts of one number above this say the same thing (checked on 治安管理处罚法)
COUNTERPART_MIN = 0.35  # below this no article of the other text carries the content


def counterpart(record: Record, candidates: Iterable[Record]) -> Record | None:
    """Returns the article of another text that carries a record's content, if one clearly does."""
    best: tuple[float, Record] | None = None
    for other in candidates:
        score = similarity(record, other)
        if best is None or score > best[0]:
            best = (score, other)
    return best[1] if best is not None and best[0] >= COUNTERPART_MIN else None
