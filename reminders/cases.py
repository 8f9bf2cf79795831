"""Case import from CSV/XLSX: cases and their events, from which reminders.derive gives the deadlines.

An import validates every row first and writes nothing if any row is bad (as the officer import
does), so a half-applied file never leaves a case with some of its events missing. Re-importing
the same file changes nothing: cases are matched by case number, events by (case, event, time);
a row with a new date for the same event is a new event (a second 传唤 is legal and common).

A case's type is its identity (it decides which law's time limits apply): a row that would
change it is refused. A new title or officer is applied and reported; the case's deadlines are
derived again, and a new officer is told of the case and its running deadlines.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.db import utcnow
from core.holidays import HolidayCalendar
from core.identity import Officer
from core.settings import Settings
from core.tabular import Row, RowError
from reminders.calendar import holiday_calendar
from reminders.derive import DeadlineChange, reconcile
from reminders.events import (
    CASE_TYPE_NAMES,
    EVENTS,
    canonical_case_type,
    canonical_event,
    is_ambiguous_case_type,
    parse_flags,
)
from reminders.models import Case, CaseEvent, Deadline
from reminders.notify import notify_handover, notify_reviews
from reminders.recipients import Directory
from reminders.rules import RuleSet, load_rules

REQUIRED_COLUMNS = ("case_number", "case_title", "case_type", "officer_badge", "event", "event_date")
OPTIONAL_COLUMNS = ("supervisor_badge", "note", "flags")
COLUMN_ALIASES = {
    "案件编号": "case_number",
    "案号": "case_number",
    "案件名称": "case_title",
    "title": "case_title",
    "案件类型": "case_type",
    "type": "case_type",
    "办案民警警号": "officer_badge",
    "警号": "officer_badge",
    "officer": "officer_badge",
    "事件": "event",
    "事件日期": "event_date",
    "日期": "event_date",
    "date": "event_date",
    "督办人警号": "supervisor_badge",
    "supervisor": "supervisor_badge",
    "备注": "note",
    "情节": "flags",
}
MAX_NOTE = 500
MAX_TITLE = 256
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d")
_DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
)
CASE_TYPES_HELP = "criminal (刑事) | public_order (治安) | other_admin (其他行政)"


@dataclass(frozen=True)
class CaseChange:
    """A field of an existing case that an import changed."""

    case_number: str
    field: str
    before: str
    after: str

    def __str__(self) -> str:
        return f"{self.case_number}: {self.field} {self.before!r} -> {self.after!r}"


@dataclass
class ImportReport:
    """What a case import did or, when any row was bad, why it did nothing."""

    cases_added: list[str] = field(default_factory=list)
    cases_updated: list[str] = field(default_factory=list)
    changes: list[CaseChange] = field(default_factory=list)
    events_added: int = 0
    events_unchanged: int = 0
    deadlines_added: int = 0
    deadlines_closed: int = 0
    deadline_changes: list[DeadlineChange] = field(default_factory=list)
    notified: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Tells whether the import was applied."""
        return not self.errors

    @property
    def deadlines_moved(self) -> list[DeadlineChange]:
        """Lists the running deadlines whose date the import moved (or paused, or resumed)."""
        return [c for c in self.deadline_changes if c.kind in ("moved", "paused", "resumed")]

    @property
    def deadlines_flagged(self) -> list[DeadlineChange]:
        """Lists the deadlines put to the legal brigade for review."""
        return [c for c in self.deadline_changes if c.kind == "flagged"]


@dataclass(frozen=True)
class _Parsed:
    line: int
    case_number: str
    title: str
    case_type: str
    officer_badge: str
    supervisor_badge: str | None
    event: str
    occurred_at: datetime
    note: str | None
    flags: list[str] | None


def parse_when(text: str, tz: ZoneInfo) -> tuple[datetime, bool] | None:
    """Parses an ISO date or date-time in local time; returns it (aware) and whether a time was given."""
    text = text.strip().replace("：", ":")
    text = re.sub(r"\s+", " ", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is not None:
        has_time = ("T" in text or " " in text or ":" in text) and len(text) > 10
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return parsed, has_time
    for fmt in _DATETIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=tz), True
        except ValueError:
            continue
    for fmt in _DATE_FORMATS:
        try:
            day = datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        return datetime.combine(day, time(0, 0), tzinfo=tz), False
    return None


def normalise(rows: Iterable[Row]) -> list[Row]:
    """Maps Chinese and short column names onto the canonical ones."""
    return [Row(line=r.line, values={COLUMN_ALIASES.get(k, k): v for k, v in r.values.items()}) for r in rows]


async def import_cases(
    *,
    session: AsyncSession,
    rows: Sequence[Row],
    settings: Settings,
    actor: str = audit.CLI_ACTOR,
    now: datetime | None = None,
    rules: RuleSet | None = None,
    calendar: HolidayCalendar | None = None,
) -> ImportReport:
    """Validates every row, then adds or updates cases and events and derives their deadlines.

    Writes nothing if any row is bad; every bad row is reported with its line number.
    """
    now = now or utcnow()
    rules = rules or load_rules(settings)
    calendar = calendar or holiday_calendar(settings)
    tz = settings.tz
    report = ImportReport()
    rows = normalise(rows)
    if not rows:
        report.errors.append(RowError(1, "no data rows"))
        return report
    missing = [c for c in REQUIRED_COLUMNS if c not in rows[0].values]
    if missing:
        report.errors.append(RowError(1, f"missing column(s): {', '.join(missing)}"))
        return report

    badges = {r.get("officer_badge") for r in rows} | {r.get("supervisor_badge") for r in rows}
    badges.discard("")
    officers = {
        o.badge: o
        for o in (await session.scalars(select(Officer).where(Officer.badge.in_(sorted(badges))))).all()
    }
    hour_events = rules.hour_events()
    parsed: list[_Parsed] = []
    first_seen: dict[str, _Parsed] = {}
    for row in rows:
        item = _parse_row(
            row, officers=officers, tz=tz, now=now, hour_events=hour_events, errors=report.errors
        )
        if item is None:
            continue
        earlier = first_seen.get(item.case_number)
        if earlier is None:
            first_seen[item.case_number] = item
        else:
            for what, mine, theirs in (
                ("case_title", item.title, earlier.title),
                ("case_type", item.case_type, earlier.case_type),
                ("officer_badge", item.officer_badge, earlier.officer_badge),
            ):
                if mine != theirs:
                    report.errors.append(
                        RowError(item.line, f"{what} {mine!r} differs from line {earlier.line} ({theirs!r})")
                    )
        parsed.append(item)
    existing = await _existing_cases(session=session, numbers=sorted(first_seen))
    for number, item in first_seen.items():
        stored = existing.get(number)
        if stored is not None and stored.case_type != item.case_type:
            report.errors.append(
                RowError(
                    item.line,
                    f"case {number} is a {CASE_TYPE_NAMES.get(_type(stored.case_type), {}).get('en', stored.case_type)} "
                    f"({stored.case_type}); its type cannot change to {item.case_type} by import "
                    f"(a case of another type needs a case number of its own)",
                )
            )
    if report.errors:
        report.errors.sort(key=lambda e: e.line)
        return report

    await _apply(
        session=session,
        items=parsed,
        existing=existing,
        officers=officers,
        rules=rules,
        calendar=calendar,
        settings=settings,
        now=now,
        actor=actor,
        report=report,
    )
    return report


def _type(value: str) -> Any:
    return canonical_case_type(value) or value


async def _existing_cases(*, session: AsyncSession, numbers: list[str]) -> dict[str, Case]:
    found: dict[str, Case] = {}
    for start in range(0, len(numbers), 500):
        chunk = numbers[start : start + 500]
        for case in (await session.scalars(select(Case).where(Case.case_number.in_(chunk)))).all():
            found[case.case_number] = case
    return found


def _parse_row(
    row: Row,
    *,
    officers: dict[str, Officer],
    tz: ZoneInfo,
    now: datetime,
    hour_events: set[tuple[str, str]],
    errors: list[RowError],
) -> _Parsed | None:
    problems: list[str] = []
    if row.values.get("__extra__"):
        problems.append("more cells than columns")
    for column in REQUIRED_COLUMNS:
        if not row.get(column):
            problems.append(f"{column} is empty")
    number, title = row.get("case_number"), row.get("case_title")
    if len(number) > 64:
        problems.append("case_number is longer than 64 characters")
    if len(title) > MAX_TITLE:
        problems.append(f"case_title is longer than {MAX_TITLE} characters")
    case_type = canonical_case_type(row.get("case_type")) if row.get("case_type") else None
    if row.get("case_type") and case_type is None:
        if is_ambiguous_case_type(row.get("case_type")):
            problems.append(
                f"case_type {row.get('case_type')!r} does not say whether it is a public-order case: "
                "write public_order (治安, 30 days) or other_admin (其他行政, 90 days)"
            )
        else:
            problems.append(f"unknown case_type {row.get('case_type')!r} ({CASE_TYPES_HELP})")
    badge = row.get("officer_badge")
    officer = officers.get(badge) if badge else None
    if badge and officer is None:
        problems.append(f"unknown officer badge {badge!r}")
    elif officer is not None and not officer.active:
        problems.append(f"officer {badge} is deactivated")
    supervisor = row.get("supervisor_badge") or None
    if supervisor and supervisor not in officers:
        problems.append(f"unknown supervisor badge {supervisor!r}")
    event = canonical_event(row.get("event")) if row.get("event") else None
    if row.get("event") and event is None:
        problems.append(f"unknown event {row.get('event')!r} (known: {', '.join(EVENTS)})")
    when = parse_when(row.get("event_date"), tz) if row.get("event_date") else None
    if row.get("event_date") and when is None:
        problems.append(f"bad event_date {row.get('event_date')!r} (use YYYY-MM-DD or YYYY-MM-DD HH:MM)")
    elif when is not None:
        if when[0].astimezone(tz).date() > now.astimezone(tz).date():
            problems.append(f"event_date {row.get('event_date')} is in the future")
        if (
            case_type is not None
            and event is not None
            and not when[1]
            and (case_type.value, event) in hour_events
        ):
            problems.append(f"{event} is counted in hours: give event_date with a time (YYYY-MM-DD HH:MM)")
    note = row.get("note") or None
    if note and len(note) > MAX_NOTE:
        problems.append(f"note is longer than {MAX_NOTE} characters")
    flags: list[str] | None = None
    if row.get("flags"):
        flags, unknown = parse_flags(row.get("flags"))
        if unknown:
            problems.append(f"unknown flag(s) {', '.join(unknown)} (known: 流窜, 多次, 结伙)")
    if problems:
        errors.append(RowError(row.line, "; ".join(problems)))
        return None
    assert case_type is not None and event is not None and when is not None  # every None was a problem above
    return _Parsed(
        line=row.line,
        case_number=number,
        title=title,
        case_type=case_type.value,
        officer_badge=badge,
        supervisor_badge=supervisor,
        event=event,
        occurred_at=when[0],
        note=note,
        flags=flags,
    )


async def _apply(
    *,
    session: AsyncSession,
    items: list[_Parsed],
    existing: dict[str, Case],
    officers: dict[str, Officer],
    rules: RuleSet,
    calendar: HolidayCalendar,
    settings: Settings,
    now: datetime,
    actor: str,
    report: ImportReport,
) -> None:
    tz = settings.tz
    by_case: dict[str, list[_Parsed]] = defaultdict(list)
    for item in items:
        by_case[item.case_number].append(item)
    numbers = sorted(by_case)
    badge_of = {o.id: o.badge for o in officers.values()}

    # Cases first, all in one flush, so that thousands of rows cost a few statements, not a
    # round trip per case.
    cases: dict[str, Case] = {}
    details: dict[str, dict[str, Any]] = {}
    handovers: dict[str, int] = {}
    for number in numbers:
        case_items = by_case[number]
        head = case_items[0]
        officer = officers[head.officer_badge]
        supervisor_badge = next((i.supervisor_badge for i in case_items if i.supervisor_badge), None)
        flag_cells = [i.flags for i in case_items if i.flags is not None]
        found_case = existing.get(number)
        if found_case is None:
            case = Case(
                case_number=number,
                title=head.title,
                case_type=head.case_type,
                officer_id=officer.id,
                supervisor_id=officers[supervisor_badge].id if supervisor_badge else None,
                flags=sorted({f for cell in flag_cells for f in cell}),
                in_custody=False,
                closed=False,
                created_at=now,
                updated_at=now,
            )
            session.add(case)
            report.cases_added.append(number)
            details[number] = {"added": {"title": head.title, "type": head.case_type}}
        else:
            case = found_case
            changes: list[CaseChange] = []
            if case.title != head.title:
                changes.append(CaseChange(number, "title", case.title, head.title))
                case.title = head.title
            if case.officer_id != officer.id:
                previous = badge_of.get(case.officer_id) or await _badge(session, case.officer_id)
                changes.append(CaseChange(number, "officer", previous, officer.badge))
                handovers[number] = case.officer_id
                case.officer_id = officer.id
            if supervisor_badge and case.supervisor_id != officers[supervisor_badge].id:
                previous = await _badge(session, case.supervisor_id) if case.supervisor_id else ""
                changes.append(CaseChange(number, "supervisor", previous, supervisor_badge))
                case.supervisor_id = officers[supervisor_badge].id
            if flag_cells:
                flags = sorted({f for cell in flag_cells for f in cell})
                if flags != sorted(case.flags or []):
                    changes.append(CaseChange(number, "flags", "、".join(case.flags or []), "、".join(flags)))
                    case.flags = flags
            details[number] = {}
            if changes:
                case.updated_at = now
                report.cases_updated.append(number)
                report.changes.extend(changes)
                details[number]["changed"] = {c.field: {"before": c.before, "after": c.after} for c in changes}
        cases[number] = case
    await session.flush()

    ids = [c.id for c in cases.values()]
    events_of: dict[int, list[CaseEvent]] = defaultdict(list)
    deadlines_of: dict[int, list[Deadline]] = defaultdict(list)
    for first in range(0, len(ids), 500):
        id_chunk = ids[first : first + 500]
        for event in (await session.scalars(select(CaseEvent).where(CaseEvent.case_id.in_(id_chunk)))).all():
            events_of[event.case_id].append(event)
        for deadline in (await session.scalars(select(Deadline).where(Deadline.case_id.in_(id_chunk)))).all():
            deadlines_of[deadline.case_id].append(deadline)

    flagged: dict[str, list[Deadline]] = {}
    for number in numbers:
        case = cases[number]
        events = events_of[case.id]
        known = {(e.event, e.occurred_at): e for e in events}
        added: list[dict[str, str]] = []
        for item in by_case[number]:
            event_key = (item.event, item.occurred_at)
            found = known.get(event_key)
            if found is None:
                new = CaseEvent(
                    case_id=case.id,
                    event=item.event,
                    occurred_at=item.occurred_at,
                    note=item.note,
                    created_at=now,
                )
                session.add(new)
                known[event_key] = new
                events.append(new)
                report.events_added += 1
                added.append({"event": item.event, "at": item.occurred_at.isoformat()})
            elif item.note and found.note != item.note:
                found.note = item.note
            else:
                report.events_unchanged += 1
        derivation = await reconcile(
            session=session,
            case=case,
            events=events,
            rules=rules,
            calendar=calendar,
            tz=tz,
            now=now,
            existing=deadlines_of[case.id],
        )
        report.deadline_changes.extend(derivation.changes)
        opened, closed = derivation.count("opened"), derivation.count("closed")
        report.deadlines_added += opened
        report.deadlines_closed += closed
        if derivation.flagged:
            flagged[number] = derivation.flagged
        detail = details[number]
        if added:
            detail["events"] = added
        counted = {k: derivation.count(k) for k in ("opened", "closed", "moved", "paused", "resumed", "flagged")}
        if any(counted.values()):
            detail["deadlines"] = {k: v for k, v in counted.items() if v}
    await session.flush()
    if flagged or handovers:
        directory = await Directory.load(session=session)
        for number, deadlines in flagged.items():
            report.notified += await notify_reviews(
                session=session,
                case=cases[number],
                deadlines=deadlines,
                rules=rules,
                settings=settings,
                directory=directory,
                now=now,
            )
        for number, previous_id in handovers.items():
            report.notified += await notify_handover(
                session=session,
                case=cases[number],
                previous_officer_id=previous_id,
                rules=rules,
                settings=settings,
                directory=directory,
                now=now,
            )
    # One audit row per case that changed, written with one flush (audit.record flushes per call,
    # which would cost a round trip per case on a large file).
    for number in numbers:
        detail = details[number]
        if not detail:
            continue
        case = cases[number]
        session.add(
            audit.AuditEvent(
                actor=actor,
                action="case.add" if "added" in detail else "case.update",
                target_type="case",
                target_id=number,
                officer_id=case.officer_id,
                detail=detail,
                at=now,
            )
        )
    await session.flush()


async def _badge(session: AsyncSession, officer_id: int | None) -> str:
    if officer_id is None:
        return ""
    return await session.scalar(select(Officer.badge).where(Officer.id == officer_id)) or str(officer_id)


TEMPLATE_ROWS: list[list[str]] = [
    [*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS],
    ["A2026-001", "孙某某涉嫌盗窃案", "criminal", "1001", "受案", "2026-03-01", "", "", ""],
    ["A2026-001", "孙某某涉嫌盗窃案", "criminal", "1001", "刑事拘留", "2026-03-02 10:00", "2001", "执行拘留的时间", "流窜"],
    ["A2026-001", "孙某某涉嫌盗窃案", "criminal", "1001", "取保候审", "2026-03-05", "", "提请逮捕前变更", ""],
    ["A2026-002", "周某某涉嫌诈骗案", "criminal", "1001", "传唤", "2026-03-05 09:30", "", "event_date 填到案时间（传唤证上的到案时间）", ""],
    ["X2026-015", "李某某殴打他人案", "public_order", "1002", "立案", "2026-03-05", "", "治安案件：受理后立即立案", ""],
    ["X2026-015", "李某某殴打他人案", "public_order", "1002", "传唤", "2026-03-05 14:30", "", "event_date 填到案时间", ""],
]


def template_notes(rules: RuleSet) -> list[list[str]]:
    """Lists, for the template's second sheet, what each column and each event's date must be."""
    rows = [
        ["column / 列", "meaning / 说明"],
        ["case_type", "criminal（刑事）| public_order（治安案件）| other_admin（其他行政案件）"],
        ["event_date", "YYYY-MM-DD；按小时计算的事件必须写到时分 YYYY-MM-DD HH:MM"],
        ["flags", "流窜、多次、结伙（允许提请批准逮捕延长至三十日）"],
        [],
        ["event / 事件", "event_date 应当填写 / what event_date must be", "rule / 规则"],
    ]
    for event in EVENTS:
        for rule in rules.rules:
            if event in rule.trigger and rule.starts is not None:
                rows.append([event, rule.starts.zh, f"{rule.measure.zh}（{rule.article}）"])
    return rows


def write_template(path: Path, rules: RuleSet | None = None) -> None:
    """Writes an example case file (.csv, or .xlsx with a sheet of what each event's date means)."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None  # a new workbook always has one sheet
        sheet.title = "cases"
        for row in TEMPLATE_ROWS:
            sheet.append(row)
        if rules is not None:
            notes = book.create_sheet("填写说明")
            for row in template_notes(rules):
                notes.append(row)
        book.save(path)
        return
    if suffix != ".csv":
        raise ValueError(f"unsupported file type {suffix or '(none)'}: use .csv or .xlsx")
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(TEMPLATE_ROWS)


def today_in(tz: ZoneInfo, now: datetime | None = None) -> date:
    """Returns today's local date."""
    return (now or utcnow()).astimezone(tz).date()
