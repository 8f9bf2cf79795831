"""Task import from CSV/XLSX: every row checked first, nothing written unless every row is good.

Columns ``title, assignee, due, repeat, priority, source, description[, until, count,
case_number]`` (Chinese headers too: 标题, 承办人, 截止时间, 重复, 优先级, 来源, 说明, 结束日期,
次数, 案件编号). ``assignee`` is a badge, ``unit:NAME`` (with its sub-units) or ``role:ROLE``, or
several of them separated by ``;``. ``due`` is a local date and time (a date alone means 18:00).
A row imported before (same values) is skipped, so importing the same file twice gives each task
once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import openpyxl
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.holidays import HolidayCalendar
from core.identity import Officer
from core.settings import Settings
from core.tabular import Row, RowError
from tasks import assignees as people
from tasks.models import SeriesStatus, TaskSeries
from tasks.recurrence import parse_repeat
from tasks.service import (
    Created,
    TaskError,
    TaskSpec,
    create_task,
    import_key,
    parse_due,
    parse_priority,
    parse_source,
    preview,
)

REQUIRED_COLUMNS = ("title", "assignee", "due")
OPTIONAL_COLUMNS = ("repeat", "priority", "source", "description", "until", "count", "case_number")
COLUMN_ALIASES = {
    "标题": "title",
    "任务": "title",
    "任务名称": "title",
    "承办人": "assignee",
    "责任人": "assignee",
    "assignees": "assignee",
    "截止时间": "due",
    "截止": "due",
    "重复": "repeat",
    "周期": "repeat",
    "优先级": "priority",
    "来源": "source",
    "说明": "description",
    "描述": "description",
    "结束日期": "until",
    "次数": "count",
    "案件编号": "case_number",
    "案号": "case_number",
}
TEMPLATE_ROWS = (
    ("title", "assignee", "due", "repeat", "priority", "source", "description", "until", "count", "case_number"),
    ("上传当日执法记录仪视频", "unit:一中队", "2026-12-01 18:00", "workdays", "normal", "其他", "日结", "", "", ""),
    ("本周案件清理", "role:supervisor", "2026-12-04 17:00", "weekly", "normal", "案件跟进", "周清", "", "", ""),
    ("月度执法质量自查", "1001;1002", "2026-12-31 17:00", "monthly-last-workday", "high", "执法问题整改", "月结", "2027-06-30", "", ""),
)


@dataclass
class ImportReport:
    """What a task import did or, when any row was bad, why it did nothing."""

    created: list[Created] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)  # line numbers of rows imported before
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Tells whether the import was applied."""
        return not self.errors


def normalise(rows: Sequence[Row]) -> list[Row]:
    """Maps Chinese column names onto the canonical ones."""
    return [Row(line=r.line, values={COLUMN_ALIASES.get(k, k): v for k, v in r.values.items()}) for r in rows]


def _parse_until(text: str, settings: Settings) -> date | None:
    parsed = parse_due(text, settings)
    return parsed.astimezone(settings.tz).date() if parsed is not None else None


def parse_row(row: Row, settings: Settings) -> tuple[TaskSpec | None, list[str]]:
    """Reads one row into a spec; returns the problems found instead when it cannot."""
    problems: list[str] = []
    if row.values.get("__extra__"):
        problems.append("more cells than columns")
    for column in REQUIRED_COLUMNS:
        if not row.get(column):
            problems.append(f"{column} is empty")
    due: datetime | None = None
    if row.get("due"):
        due = parse_due(row.get("due"), settings)
        if due is None:
            problems.append(f"bad due {row.get('due')!r} (use YYYY-MM-DD HH:MM)")
    repeat = parse_repeat(row.get("repeat"))
    if repeat is None:
        problems.append(
            f"unknown repeat {row.get('repeat')!r} (none, daily, workdays, weekly, monthly, monthly-last-workday)"
        )
    priority = parse_priority(row.get("priority"))
    if priority is None:
        problems.append(f"unknown priority {row.get('priority')!r} (high, normal, low)")
    source = parse_source(row.get("source"))
    if source is None:
        problems.append(
            f"unknown source {row.get('source')!r} (rectification/执法问题整改, case/案件跟进, training/培训, other/其他)"
        )
    until: date | None = None
    if row.get("until"):
        until = _parse_until(row.get("until"), settings)
        if until is None:
            problems.append(f"bad until {row.get('until')!r} (use YYYY-MM-DD)")
    count: int | None = None
    if row.get("count"):
        text = row.get("count")
        if not text.isdigit():
            problems.append(f"bad count {text!r} (a whole number)")
        else:
            count = int(text)
    tokens = people.split_tokens(row.get("assignee"))
    if row.get("assignee") and not tokens:
        problems.append("assignee is empty")
    if problems:
        return None, problems
    assert due is not None and repeat is not None and priority is not None and source is not None
    return (
        TaskSpec(
            title=row.get("title"),
            assignees=tokens,
            due=due,
            repeat=repeat,
            priority=priority,
            source=source,
            description=row.get("description") or None,
            until=until,
            count=count,
            case_number=row.get("case_number") or None,
        ),
        [],
    )


async def import_tasks(
    *,
    session: AsyncSession,
    rows: Sequence[Row],
    settings: Settings,
    calendar: HolidayCalendar,
    now: datetime,
    creator: Officer | None = None,
    actor: str = audit.CLI_ACTOR,
) -> ImportReport:
    """Checks every row, then gives every new task; writes nothing if any row is bad.

    A due time in the past is allowed (the task is overdue at once), as the file may record work
    already late; a repeating task may start at most 31 days ago.
    """
    report = ImportReport()
    rows = normalise(rows)
    if not rows:
        report.errors.append(RowError(1, "no data rows"))
        return report
    missing = [c for c in REQUIRED_COLUMNS if c not in rows[0].values]
    if missing:
        report.errors.append(RowError(1, f"missing column(s): {', '.join(missing)}"))
        return report
    planned: list[tuple[Row, TaskSpec, str]] = []
    seen: dict[str, int] = {}
    for row in rows:
        spec, problems = parse_row(row, settings)
        if spec is not None:
            checked = await preview(
                session=session, spec=spec, settings=settings, calendar=calendar, creator=creator, now=now, past_ok=True
            )
            problems = [_describe(p) for p in checked.problems]
        if problems:
            report.errors.append(RowError(row.line, "; ".join(problems)))
            continue
        assert spec is not None
        key = import_key(spec, creator.id if creator is not None else None)
        if key in seen:
            report.errors.append(RowError(row.line, f"same task as line {seen[key]}"))
            continue
        seen[key] = row.line
        planned.append((row, spec, key))
    if report.errors:
        return report
    known = set(
        await session.scalars(
            select(TaskSeries.import_key).where(
                TaskSeries.import_key.in_([key for _r, _s, key in planned]),
                TaskSeries.status != SeriesStatus.CANCELLED.value,
            )
        )
    )
    for row, spec, key in planned:
        if key in known:
            report.unchanged.append(row.line)
            continue
        report.created.append(
            await create_task(
                session=session,
                spec=spec,
                settings=settings,
                calendar=calendar,
                creator=creator,
                actor=actor,
                now=now,
                past_ok=True,
                fingerprint=key,
            )
        )
    await audit.record(
        session=session,
        actor=actor,
        action="task.import",
        target_type="task_series",
        detail={"created": [c.series.id for c in report.created], "unchanged_lines": report.unchanged},
        at=now,
    )
    return report


def _describe(problem: TaskError) -> str:
    if problem.code == "unknown_assignee":
        return f"unknown assignee {problem.detail} (a badge, unit:NAME or role:ROLE)"
    if problem.code == "nobody":
        return f"assignee {problem.detail or ''} has no active officer".replace("  ", " ")
    if problem.code == "unknown_case":
        return f"unknown case_number {problem.detail!r}"
    if problem.code == "due_past":
        return f"due {problem.detail} has passed"
    return str(problem)


def write_template(path: Path) -> None:
    """Writes an example task file (.csv or .xlsx) to fill in."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        import csv

        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            csv.writer(handle).writerows(TEMPLATE_ROWS)
        return
    if suffix != ".xlsx":
        raise ValueError(f"unsupported file type {suffix or '(none)'}: use .csv or .xlsx")
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = "tasks"
    for values in TEMPLATE_ROWS:
        sheet.append(list(values))
    book.save(path)
