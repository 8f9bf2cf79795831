"""Puts the reasons an import refuses a row (written in English by the domains) into the viewer's language.

A reason is one or more problems joined by "; "; each problem is matched against the patterns
below, the values it names are kept as they are. A problem no pattern knows is shown as the
domain wrote it, so nothing is ever hidden.
"""

from __future__ import annotations

import re

from desk.i18n import Translate

COLUMN_NAMES = {
    "case_number": "case number",
    "case_title": "case title",
    "case_type": "case type",
    "officer_badge": "officer's badge",
    "supervisor_badge": "supervisor's badge",
    "event": "event",
    "event_date": "event date",
    "note": "note",
    "flags": "circumstances",
    "badge": "badge",
    "name": "name",
    "unit": "unit",
    "roles": "roles",
    "language": "language",
}

# (pattern, msgid); the msgid's {names} are the pattern's groups.
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), msgid)
    for pattern, msgid in (
        (r"^no data rows$", "the file has no data rows"),
        (r"^missing column\(s\): (?P<columns>.+)$", "missing column(s): {columns}"),
        (r"^more cells than columns$", "more cells than columns"),
        (r"^(?P<column>\w+) is empty$", "{column} is empty"),
        (r"^(?P<column>\w+) is longer than (?P<n>\d+) characters$", "{column} is longer than {n} characters"),
        (r"^unknown case_type '(?P<value>.*)' \(criminal .+\)$",
         "unknown case type {value} (criminal, public_order or other_admin)"),
        (r"^case_type '(?P<value>.*)' does not say whether it is a public-order case: .+$",
         "case type {value} does not say whether it is a public-order case: write public_order (治安, 30 days) or other_admin (其他行政, 90 days)"),
        (r"^case (?P<number>\S+) is an? .+ \((?P<stored>\w+)\); its type cannot change to (?P<new>\w+) by import .+$",
         "case {number} is of type {stored}; an import cannot change it to {new} (a case of another type needs a case number of its own)"),
        (r"^unknown officer badge '(?P<value>.*)'$", "no officer with badge {value}"),
        (r"^officer (?P<value>.+) is deactivated$", "officer {value} is deactivated"),
        (r"^unknown supervisor badge '(?P<value>.*)'$", "no supervisor with badge {value}"),
        (r"^unknown event '(?P<value>.*)' \(known: (?P<known>.+)\)$", "unknown event {value} (known: {known})"),
        (r"^bad event_date '(?P<value>.*)' \(use YYYY-MM-DD or YYYY-MM-DD HH:MM\)$",
         "event date {value} is not a date (use YYYY-MM-DD or YYYY-MM-DD HH:MM)"),
        (r"^event_date (?P<value>.+) is in the future$", "event date {value} is in the future"),
        (r"^(?P<event>\S+) is counted in hours: give event_date with a time \(YYYY-MM-DD HH:MM\)$",
         "{event} is counted in hours: give the event date with a time (YYYY-MM-DD HH:MM)"),
        (r"^unknown flag\(s\) (?P<value>.+) \(known: (?P<known>.+)\)$", "unknown circumstance(s) {value} (known: {known})"),
        (r"^(?P<column>\w+) '(?P<mine>.*)' differs from line (?P<line>\d+) \('(?P<theirs>.*)'\)$",
         "{column} {mine} differs from line {line} ({theirs})"),
        (r"^badge (?P<value>.+) repeats line (?P<line>\d+)$", "badge {value} repeats line {line}"),
        (r"^unknown unit '(?P<value>.*)' \(add it first: frontline units add\)$", "no unit named {value} (add it first)"),
        (r"^unknown language '(?P<value>.*)' \(allowed: .+\)$", "unknown language {value} (zh or en)"),
        (r"^unknown role '(?P<value>.*)' \(allowed: (?P<known>.+)\)$", "unknown role {value} (allowed: {known})"),
    )
)


def _column(name: str, _: Translate) -> str:
    return _(COLUMN_NAMES[name]) if name in COLUMN_NAMES else name


def _translated(problem: str, _: Translate) -> str | None:
    """One problem in the viewer's language, or None when no pattern knows it."""
    for pattern, msgid in PATTERNS:
        match = pattern.match(problem.strip())
        if match is None:
            continue
        values = dict(match.groupdict())
        if "column" in values:
            values["column"] = _column(values["column"], _)
        if "columns" in values:
            values["columns"] = _(", ").join(_column(c.strip(), _) for c in values["columns"].split(","))
        return _(msgid).format(**values)
    return None


def translate_problem(problem: str, _: Translate) -> str:
    """Translates one problem of a refused row, or returns it unchanged when no pattern knows it."""
    translated = _translated(problem, _)
    return problem if translated is None else translated


def translate_reason(reason: str, _: Translate) -> str:
    """Translates a refused row's reason: problems joined by "; ", where a problem may itself hold
    "; " (the longest run of parts a pattern knows is taken as one problem)."""
    parts = reason.split("; ")
    out: list[str] = []
    start = 0
    while start < len(parts):
        for end in range(len(parts), start, -1):
            translated = _translated("; ".join(parts[start:end]), _)
            if translated is not None:
                out.append(translated)
                start = end
                break
        else:
            out.append(parts[start])
            start += 1
    return _("; ").join(out)
