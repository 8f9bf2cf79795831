"""Statistics of applications over a period: counts by type, unit, status, outcome and time to acceptance.

CSV gets the summary table (``group,key,label,count,median_hours_to_acceptance``); XLSX gets the
same summary and a sheet with one row per application (no names, no accounts: numbers, units,
dates and outcomes only).
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.identity import Unit
from rights.models import RightsApplication, RightsEvent, RightsEvidence, RightsOutcome
from rights.vocab import OUTCOMES, STATUSES, TYPES, translator

SUMMARY_COLUMNS = ("group", "key", "label", "count", "median_hours_to_acceptance")
ROW_COLUMNS = (
    "number", "type", "unit", "office", "status", "submitted_at", "accepted_at", "hours_to_acceptance",
    "accepted_on_time", "decided_at", "ended_at", "outcomes", "evidence_count",
)
BUCKETS = (
    (4.0, "within 4 h"),
    (24.0, "4-24 h"),
    (72.0, "1-3 days"),
    (float("inf"), "over 3 days"),
)


@dataclass(frozen=True)
class ExportRow:
    """One application as the statistics see it."""

    number: str
    type: str
    unit: str
    office: str
    status: str
    submitted_at: datetime
    accepted_at: datetime | None
    accepted_on_time: bool | None
    decided_at: datetime | None
    ended_at: datetime | None
    outcomes: tuple[str, ...]
    evidence_count: int

    @property
    def hours_to_acceptance(self) -> float | None:
        """Hours from submission to acceptance (None if never accepted)."""
        if self.accepted_at is None:
            return None
        return round((self.accepted_at - self.submitted_at).total_seconds() / 3600, 2)


async def export_rows(*, session: AsyncSession, applications: Sequence[RightsApplication]) -> list[ExportRow]:
    """Gathers the statistics rows of some applications (the caller has checked access)."""
    ids = [a.id for a in applications]
    if not ids:
        return []
    units = dict((await session.execute(select(Unit.id, Unit.name))).all())
    outcomes: dict[int, list[str]] = defaultdict(list)
    for app_id, kind in (
        await session.execute(
            select(RightsOutcome.application_id, RightsOutcome.kind)
            .where(RightsOutcome.application_id.in_(ids))
            .order_by(RightsOutcome.id)
        )
    ):
        outcomes[app_id].append(kind)
    on_time: dict[int, bool | None] = {}
    for app_id, detail in (
        await session.execute(
            select(RightsEvent.application_id, RightsEvent.detail).where(
                RightsEvent.application_id.in_(ids), RightsEvent.kind == "accepted"
            )
        )
    ):
        on_time[app_id] = detail.get("on_time")
    evidence: dict[int, int] = defaultdict(int)
    for (app_id,) in (
        await session.execute(select(RightsEvidence.application_id).where(RightsEvidence.application_id.in_(ids)))
    ):
        evidence[app_id] += 1
    return [
        ExportRow(
            number=a.number,
            type=a.type,
            unit=units.get(a.applicant_unit_id, "?"),
            office=units.get(a.office_unit_id, "") if a.office_unit_id else "",
            status=a.status,
            submitted_at=a.submitted_at,
            accepted_at=a.accepted_at,
            accepted_on_time=on_time.get(a.id),
            decided_at=a.decided_at,
            ended_at=a.ended_at,
            outcomes=tuple(outcomes.get(a.id, ())),
            evidence_count=evidence.get(a.id, 0),
        )
        for a in applications
    ]


def bucket(hours: float | None) -> str:
    """Puts a time to acceptance into its bucket."""
    if hours is None:
        return "not accepted"
    for limit, name in BUCKETS:
        if hours <= limit:
            return name
    return BUCKETS[-1][1]


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else ""


def summarize(rows: Sequence[ExportRow], language: str) -> list[tuple[str, str, str, int, str]]:
    """Counts applications by type, unit, status, outcome and time to acceptance (with median hours)."""
    _ = translator(language)
    table: list[tuple[str, str, str, int, str]] = []
    accepted_hours = [r.hours_to_acceptance for r in rows if r.hours_to_acceptance is not None]
    table.append(("total", "all", "", len(rows), _median([h for h in accepted_hours if h is not None])))

    def grouped(group: str, keys: dict[str, list[ExportRow]], labels: dict[str, str] | None) -> None:
        for key in sorted(keys):
            members = keys[key]
            hours = [r.hours_to_acceptance for r in members if r.hours_to_acceptance is not None]
            label = _(labels[key]) if labels and key in labels else ""
            table.append((group, key, label, len(members), _median([h for h in hours if h is not None])))

    by_type: dict[str, list[ExportRow]] = defaultdict(list)
    by_unit: dict[str, list[ExportRow]] = defaultdict(list)
    by_status: dict[str, list[ExportRow]] = defaultdict(list)
    by_outcome: dict[str, list[ExportRow]] = defaultdict(list)
    by_bucket: dict[str, list[ExportRow]] = defaultdict(list)
    by_on_time: dict[str, list[ExportRow]] = defaultdict(list)
    for row in rows:
        by_type[row.type].append(row)
        by_unit[row.unit].append(row)
        by_status[row.status].append(row)
        for outcome in row.outcomes or ("none",):
            by_outcome[outcome].append(row)
        by_bucket[bucket(row.hours_to_acceptance)].append(row)
        if row.accepted_on_time is not None:
            by_on_time["yes" if row.accepted_on_time else "no"].append(row)
    grouped("type", by_type, TYPES)
    grouped("unit", by_unit, None)
    grouped("status", by_status, STATUSES)
    grouped("outcome", by_outcome, OUTCOMES)
    order = [name for _limit, name in BUCKETS] + ["not accepted"]
    for name in order:
        if name in by_bucket:
            members = by_bucket[name]
            hours = [r.hours_to_acceptance for r in members if r.hours_to_acceptance is not None]
            table.append(("time_to_acceptance", name, "", len(members), _median([h for h in hours if h is not None])))
    grouped("accepted_on_time", by_on_time, None)
    return table


def _when(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).isoformat(timespec="minutes") if moment else ""


def row_values(row: ExportRow, tz: ZoneInfo) -> list[object]:
    """One application as a sheet row."""
    return [
        row.number, row.type, row.unit, row.office, row.status, _when(row.submitted_at, tz),
        _when(row.accepted_at, tz), row.hours_to_acceptance if row.hours_to_acceptance is not None else "",
        "" if row.accepted_on_time is None else ("yes" if row.accepted_on_time else "no"),
        _when(row.decided_at, tz), _when(row.ended_at, tz), ",".join(row.outcomes), row.evidence_count,
    ]


def write_csv(path: Path, summary: Sequence[tuple[str, str, str, int, str]]) -> None:
    """Writes the summary as CSV (UTF-8 with a byte-order mark, so spreadsheet programs read Chinese)."""
    with path.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(SUMMARY_COLUMNS)
        writer.writerows(summary)


def write_xlsx(
    path: Path, summary: Sequence[tuple[str, str, str, int, str]], rows: Sequence[ExportRow], tz: ZoneInfo
) -> None:
    """Writes the summary and one row per application as an Excel workbook."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = "summary"
    sheet.append(list(SUMMARY_COLUMNS))
    for line in summary:
        sheet.append([line[0], line[1], line[2], line[3], float(line[4]) if line[4] else None])
    details = book.create_sheet("applications")
    details.append(list(ROW_COLUMNS))
    for row in rows:
        details.append(row_values(row, tz))
    book.save(path)
