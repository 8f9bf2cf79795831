"""Cases: the deadlines panel of the overview, the case list, uploads, the reminder calendar, timelines.

The legal brigade uploads case lists (supervisors read); everyone sees only the cases of officers
in their scope (desk.scope).
"""

from __future__ import annotations

import asyncio
import calendar
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, HTTPException, Query, UploadFile
from fastapi.responses import FileResponse, HTMLResponse
from markupsafe import Markup
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.sql import ColumnElement
from starlette.background import BackgroundTask

from core.identity import Officer, Role, Unit
from core.outbox import OutboxMessage
from core.tabular import TableError, read_table
from desk.charts import Bar, Series, stacked_bars
from desk.registry import DeskModule, NavItem, OverviewPanel
from desk.rowerrors import translate_reason
from desk.scope import Scope
from desk.web import PageContext, page
from knowledge.curation import cited_articles
from reminders.cases import import_cases, write_template
from reminders.events import CaseType
from reminders.messages import REMINDER_KIND
from reminders.models import ACTIVE_STATUSES, Case, CaseEvent, Deadline
from reminders.planning import next_slot
from reminders.recipients import Directory, recipients_for
from reminders.rules import Rule, load_rules
from reminders.service import OUTCOMES

VIEW_ROLES = (Role.LEGAL, Role.SUPERVISOR)
UPLOAD_ROLES = (Role.LEGAL,)
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
UPLOAD_SUFFIXES = (".csv", ".xlsx", ".xlsm")
PAGE_SIZE = 50
ERRORS_SHOWN = 500
URGENT_LISTED = 12
CHART_BARS = 15
BUCKETS = ("overdue", "today", "soon", "week")
BUCKET_SERIES = (
    Series("Overdue", "seg-overdue"),
    Series("Due today", "seg-today"),
    Series("In 1-3 days", "seg-soon"),
    Series("In 4-7 days", "seg-week"),
)


def effective_due() -> ColumnElement[datetime]:
    """The deadline's running end: the extension if any, else the statutory due time."""
    return func.coalesce(Deadline.extended_to, Deadline.due_at)


def running_until(horizon: datetime) -> list[ColumnElement[bool]]:
    """Conditions for running deadlines that end by a moment, in a form the (status, due_at) index serves.

    An extension always ends later than the statutory due time (reminders.service.extend refuses
    an earlier one), so ``due_at <= horizon`` holds for every deadline that ends by the horizon.
    """
    return [Deadline.status.in_(ACTIVE_STATUSES), Deadline.due_at <= horizon, effective_due() <= horizon]


def _in_scope(scope: Scope, column: Any) -> list[ColumnElement[bool]]:
    return [] if scope.unit_ids is None else [column.in_(sorted(scope.unit_ids))]


# --- the overview panel ----------------------------------------------------------------------------


@dataclass
class Buckets:
    """Deadlines counted by how soon they run out."""

    overdue: int = 0
    today: int = 0
    soon: int = 0
    week: int = 0

    def add(self, other: Buckets) -> None:
        """Adds another unit's counts."""
        for name in BUCKETS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def values(self) -> tuple[int, int, int, int]:
        """The counts in chart order."""
        return (self.overdue, self.today, self.soon, self.week)

    @property
    def total(self) -> int:
        """All deadlines counted."""
        return sum(self.values)


def day_ends(now: datetime, ctx_tz: Any) -> tuple[datetime, datetime, datetime]:
    """The ends of today, of the third and of the seventh day from now (local time)."""
    today = now.astimezone(ctx_tz).date()
    return tuple(  # type: ignore[return-value]  # three items, by construction
        datetime.combine(today + timedelta(days=n), time(23, 59, 59), tzinfo=ctx_tz) for n in (0, 3, 7)
    )


async def deadline_buckets(ctx: PageContext) -> dict[int, Buckets]:
    """Counts running deadlines due within seven days or overdue, by the case officer's unit."""
    now = ctx.now
    end_today, end_3, end_7 = day_ends(now, ctx.settings.tz)
    due = effective_due()
    query = (
        select(
            Officer.unit_id,
            func.sum(case((due < now, 1), else_=0)),
            func.sum(case((and_(due >= now, due <= end_today), 1), else_=0)),
            func.sum(case((and_(due > end_today, due <= end_3), 1), else_=0)),
            func.sum(case((due > end_3, 1), else_=0)),
        )
        .select_from(Deadline)
        .join(Case, Case.id == Deadline.case_id)
        .join(Officer, Officer.id == Case.officer_id)
        .where(*running_until(end_7), *_in_scope(ctx.viewer.scope, Officer.unit_id))
        .group_by(Officer.unit_id)
    )
    return {
        row[0]: Buckets(int(row[1] or 0), int(row[2] or 0), int(row[3] or 0), int(row[4] or 0))
        for row in (await ctx.session.execute(query)).all()
    }


def roll_up(counts: dict[int, Buckets], scope: Scope, level: int | None) -> list[tuple[int, bool, Buckets]]:
    """Adds each unit's counts into the unit shown for it below ``level`` (None: the top units).

    Returns (unit, counted directly at that unit, counts) rows; a unit's own officers, when it
    also has units below it, make a row of their own.
    """
    shown = scope.roots() if level is None else scope.children(level)
    targets = set(shown)
    rows: dict[tuple[int, bool], Buckets] = defaultdict(Buckets)
    for unit_id, buckets in counts.items():
        chain = scope.chain(unit_id)
        target = next((u for u in chain if u in targets), None)
        if target is not None:
            rows[(target, False)].add(buckets)
        elif level is not None and unit_id == level:
            rows[(level, True)].add(buckets)
    return [(unit, direct, buckets) for (unit, direct), buckets in rows.items()]


async def unit_names(ctx: PageContext) -> dict[int, str]:
    """Every unit's name by id (read with the viewer's scope)."""
    return ctx.viewer.scope.names


async def urgent_deadlines(ctx: PageContext, *, limit: int = URGENT_LISTED) -> list[dict[str, Any]]:
    """The running deadlines that end soonest (overdue first), within scope."""
    due = effective_due()
    _, _3, end_7 = day_ends(ctx.now, ctx.settings.tz)
    scope = ctx.viewer.scope
    soonest = select(Deadline.id, Deadline.case_id, Deadline.measure, due.label("due")).where(*running_until(end_7))
    if scope.unit_ids is None:
        # Every unit: pick the few soonest from the deadlines alone, then look up only their cases.
        picked = soonest.order_by(due, Deadline.id).limit(limit).subquery()
    else:
        picked = (
            soonest.join(Case, Case.id == Deadline.case_id)
            .join(Officer, Officer.id == Case.officer_id)
            .where(*_in_scope(scope, Officer.unit_id))
            .order_by(due, Deadline.id)
            .limit(limit)
            .subquery()
        )
    rows = (
        await ctx.session.execute(
            select(
                picked.c.id, picked.c.measure, picked.c.due, Case.id.label("case_id"), Case.case_number, Case.title,
                Officer.name, Officer.badge, Officer.unit_id,
            )
            .join(Case, Case.id == picked.c.case_id)
            .join(Officer, Officer.id == Case.officer_id)
            .order_by(picked.c.due, picked.c.id)
        )
    ).all()
    names = await unit_names(ctx)
    return [dict(row._mapping) | {"unit": names.get(row.unit_id, "")} for row in rows]


async def deadlines_panel(ctx: PageContext) -> Markup:
    """Renders the overview's deadline figures: a chart by unit and the most urgent deadlines."""
    _ = ctx._
    scope = ctx.viewer.scope
    names = await unit_names(ctx)
    level_arg = ctx.request.query_params.get("unit")
    level = int(level_arg) if level_arg and level_arg.isdigit() and scope.sees(int(level_arg)) else None
    if level is None and len(scope.roots()) == 1 and scope.children(scope.roots()[0]):
        level = scope.roots()[0]  # one bureau: show its stations straight away
    async with ctx.desk.sessions() as other:  # the two queries at once, on two connections
        counts, urgent = await asyncio.gather(deadline_buckets(ctx), urgent_deadlines(replace(ctx, session=other)))
    totals = Buckets()
    for buckets in counts.values():
        totals.add(buckets)
    rows = roll_up(counts, scope, level)
    rows.sort(key=lambda r: (-r[2].overdue, -r[2].total, names.get(r[0], "")))
    bars: list[Bar] = []
    for unit_id, direct, buckets in rows[:CHART_BARS]:
        label = names.get(unit_id, str(unit_id))
        drill = not direct and bool(scope.children(unit_id))
        bars.append(
            Bar(
                label=_("{unit} (own officers)").format(unit=label) if direct else label,
                values=buckets.values,
                href=ctx.url("/", unit=unit_id) if drill else ctx.url("/cases", unit=unit_id),
            )
        )
    others = Buckets()
    for _unit, _direct, buckets in rows[CHART_BARS:]:
        others.add(buckets)
    if others.total:
        bars.append(Bar(label=_("Other units ({n})").format(n=len(rows) - CHART_BARS), values=others.values))
    series = [Series(_(s.label), s.css) for s in BUCKET_SERIES]
    chart = stacked_bars(bars, series, title=_("Case deadlines in the next 7 days and overdue, by unit"))
    trail = [(u, names.get(u, str(u))) for u in reversed(scope.chain(level))] if level is not None else []
    trail = [(u, n) for u, n in trail if scope.sees(u)]
    return ctx.fragment(
        "overview/deadlines.html",
        chart=chart,
        bars=bars,
        series=series,
        totals=totals,
        urgent=urgent,
        trail=trail,
        level=level,
        unit_count=len(rows),
    )


# --- the case list -------------------------------------------------------------------------------


def _filters(scope: Scope, unit: int | None, q: str) -> list[ColumnElement[bool]]:
    found = _in_scope(scope, Officer.unit_id)
    if unit is not None:
        found.append(Officer.unit_id.in_(sorted(scope.subtree(unit))))
    if q:
        like = f"%{q}%"
        found.append(or_(Case.case_number.ilike(like), Case.title.ilike(like), Officer.badge == q, Officer.name == q))
    return found


async def case_rows(ctx: PageContext, *, unit: int | None, q: str, page_no: int) -> tuple[list[dict[str, Any]], int]:
    """Lists cases in scope, those with the soonest running deadline first."""
    due = effective_due()
    running = (
        select(Deadline.case_id, func.min(due).label("next_due"), func.count().label("running"))
        .where(Deadline.status.in_(ACTIVE_STATUSES))
        .group_by(Deadline.case_id)
        .subquery()
    )
    where = _filters(ctx.viewer.scope, unit, q)
    total = await ctx.session.scalar(
        select(func.count()).select_from(Case).join(Officer, Officer.id == Case.officer_id).where(*where)
    )
    rows = (
        await ctx.session.execute(
            select(
                Case.id, Case.case_number, Case.title, Case.case_type, Case.closed, Officer.name, Officer.badge,
                Unit.name.label("unit"), running.c.next_due, running.c.running,
            )
            .join(Officer, Officer.id == Case.officer_id)
            .join(Unit, Unit.id == Officer.unit_id)
            .outerjoin(running, running.c.case_id == Case.id)
            .where(*where)
            .order_by(running.c.next_due.is_(None), running.c.next_due, Case.id.desc())
            .offset((page_no - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    ).all()
    return [dict(row._mapping) for row in rows], int(total or 0)


# --- the reminder calendar ---------------------------------------------------------------------------


@dataclass
class CalendarEntry:
    """One reminder the scan would send, or a deadline that runs out, on a day."""

    at: datetime
    deadline_id: int
    rule_id: str
    case_id: int
    case_number: str
    title: str
    measure: str
    due: datetime
    offset: int | None
    hourly: bool
    officer: str
    recipients: list[str] = field(default_factory=list)


def reminder_moments(due: datetime, rule: Rule, start: datetime, end: datetime, tz: Any) -> list[tuple[datetime, int]]:
    """Lists when a deadline's reminders fire within [start, end), as the scan plans them."""
    found: list[tuple[datetime, int]] = []
    after = start - timedelta(microseconds=1)
    while (slot := next_slot(due, after, rule.reminders, hourly=rule.hourly, tz=tz)) is not None and slot.at < end:
        found.append((slot.at, slot.offset))
        after = slot.at
    return found


async def calendar_entries(ctx: PageContext, start: datetime, end: datetime) -> list[CalendarEntry]:
    """Plans every reminder of running deadlines in scope between two instants (nothing is sent)."""
    rules = load_rules(ctx.settings)
    tz = ctx.settings.tz
    lead_days = max((-min(r.reminders.offsets) for r in rules.rules if not r.hourly), default=7) + 1
    due = effective_due()
    rows = (
        await ctx.session.execute(
            select(
                Deadline.id, Deadline.rule_id, Deadline.measure, due.label("due"), Case.id.label("case_id"),
                Case.case_number, Case.title, Officer.name,
            )
            .join(Case, Case.id == Deadline.case_id)
            .join(Officer, Officer.id == Case.officer_id)
            .where(*running_until(end + timedelta(days=lead_days)), *_in_scope(ctx.viewer.scope, Officer.unit_id))
        )
    ).all()
    entries: list[CalendarEntry] = []
    for row in rows:
        rule = rules.get(row.rule_id)
        if rule is None:
            continue
        for at, offset in reminder_moments(row.due, rule, start, end, tz):
            entries.append(
                CalendarEntry(at, row.id, row.rule_id, row.case_id, row.case_number, row.title, row.measure, row.due, offset,
                              rule.hourly, row.name)
            )
    entries.sort(key=lambda e: (e.at, e.case_number))
    return entries


def month_of(value: str | None, today: date) -> date:
    """Reads YYYY-MM (default: this month) as the month's first day."""
    if value:
        try:
            year, month = (int(part) for part in value.split("-", 1))
            return date(year, month, 1)
        except ValueError:
            pass
    return today.replace(day=1)


# --- the case timeline -------------------------------------------------------------------------------


async def case_in_scope(ctx: PageContext, case_id: int) -> tuple[Case, Officer]:
    """Gets a case the viewer may see, or answers 404 (a case out of scope does not exist for them)."""
    row = (
        await ctx.session.execute(select(Case, Officer).join(Officer, Officer.id == Case.officer_id).where(Case.id == case_id))
    ).first()
    if row is None or not ctx.viewer.scope.sees(row[1].unit_id):
        raise HTTPException(status_code=404)
    return row[0], row[1]


async def reminders_sent(ctx: PageContext, deadline_ids: list[int]) -> dict[int, dict[str, int]]:
    """Counts each deadline's reminders in the outbox by status."""
    if not deadline_ids:
        return {}
    found: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = await ctx.session.execute(
        select(OutboxMessage.dedupe_key, OutboxMessage.status).where(
            OutboxMessage.kind == REMINDER_KIND,
            or_(*[OutboxMessage.dedupe_key.like(f"reminder:{d}:%") for d in deadline_ids]),
        )
    )
    for key, status in rows.all():
        parts = key.split(":")
        if len(parts) > 1 and parts[1].isdigit():
            found[int(parts[1])][status] += 1
    return found


def _statuses(ctx: PageContext) -> dict[str, str]:
    _ = ctx._
    return {"open": _("running"), "extended": _("extended"), "done": _("handled"), "cancelled": _("ended")}


def _outcome(ctx: PageContext, code: str) -> str:
    """Says why a deadline stopped: the officer's answer, the event that ended it, or a new decision."""
    _ = ctx._
    if code in OUTCOMES:
        return OUTCOMES[code].get(ctx.language)
    if code.startswith("event:"):
        return _("ended by the event {event}").format(event=code.removeprefix("event:"))
    if code == "superseded":
        return _("replaced by a new decision")
    return code


def _types(ctx: PageContext) -> dict[str, str]:
    return {
        CaseType.CRIMINAL.value: ctx._("criminal"),
        CaseType.PUBLIC_ORDER.value: ctx._("public order (治安)"),
        CaseType.OTHER_ADMIN.value: ctx._("other administrative"),
    }


def create_router() -> APIRouter:
    """Builds the case pages."""
    router = APIRouter()

    @router.get("/cases")
    async def cases(
        ctx: Annotated[PageContext, Depends(page(*VIEW_ROLES))],
        q: Annotated[str, Query(max_length=64)] = "",
        unit: int | None = None,
        page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
    ) -> HTMLResponse:
        """Lists the cases in scope, the most urgent first; searchable by number, title, badge."""
        if unit is not None and not ctx.viewer.scope.sees(unit):
            unit = None
        rows, total = await case_rows(ctx, unit=unit, q=q.strip(), page_no=page_no)
        names = await unit_names(ctx)
        template = "cases/rows.html" if ctx.request.headers.get("hx-target") == "case-rows" else "cases/list.html"
        return ctx.render(
            template, rows=rows, total=total, q=q, unit=unit, unit_name=names.get(unit) if unit else None,
            page_no=page_no, pages=max(1, -(-total // PAGE_SIZE)), types=_types(ctx),
            can_upload=ctx.viewer.can(UPLOAD_ROLES),
        )

    @router.get("/cases/upload")
    async def upload_form(ctx: Annotated[PageContext, Depends(page(*UPLOAD_ROLES))]) -> HTMLResponse:
        """Shows the upload form and the columns a case file has."""
        return ctx.render("cases/upload.html", report=None, errors=[], problem=None, filename=None)

    @router.post("/cases/upload")
    async def upload(ctx: Annotated[PageContext, Depends(page(*UPLOAD_ROLES))], file: Annotated[UploadFile, File()]) -> HTMLResponse:
        """Imports a CSV/XLSX case file: every bad row is listed by line, nothing is written unless all are good."""
        _ = ctx._
        filename = Path(file.filename or "upload").name
        suffix = Path(filename).suffix.lower()
        problem: str | None = None
        raw = await file.read(MAX_UPLOAD_BYTES + 1)
        if suffix not in UPLOAD_SUFFIXES:
            problem = _("Please upload a .csv or .xlsx file.")
        elif len(raw) > MAX_UPLOAD_BYTES:
            problem = _("The file is larger than {n} MB.").format(n=MAX_UPLOAD_BYTES // (1024 * 1024))
        elif not raw:
            problem = _("The file is empty.")
        if problem is not None:
            await ctx.audit("desk.cases_import", target_type="file", target_id=filename[:128], detail={"refused": problem})
            return ctx.render("cases/upload.html", status_code=400, report=None, errors=[], problem=problem, filename=filename)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"upload{suffix}"
            path.write_bytes(raw)
            try:
                table = await asyncio.to_thread(read_table, path)
            except TableError as exc:
                table = None
                problem = _("The file cannot be read as a table: {reason}").format(reason=str(exc))
        if table is None:
            await ctx.audit("desk.cases_import", target_type="file", target_id=filename[:128], detail={"refused": problem})
            return ctx.render("cases/upload.html", status_code=400, report=None, errors=[], problem=problem, filename=filename)
        # Its own transaction: a refused file is rolled back whole, while this request's audit stays.
        async with ctx.desk.sessions() as session:
            report = await import_cases(session=session, rows=table, settings=ctx.settings, actor=ctx.viewer.officer.badge)
            if report.ok:
                await session.commit()
            else:
                await session.rollback()
        errors = [(e.line, translate_reason(e.reason, _)) for e in report.errors[:ERRORS_SHOWN]]
        await ctx.audit(
            "desk.cases_import", target_type="file", target_id=filename[:128],
            detail={
                "rows": len(table), "ok": report.ok, "bad_rows": len(report.errors),
                "cases_added": len(report.cases_added), "cases_updated": len(report.cases_updated),
                "events_added": report.events_added, "deadlines_opened": report.deadlines_added,
            },
        )
        return ctx.render(
            "cases/upload.html", status_code=200 if report.ok else 422, report=report, errors=errors, problem=None,
            filename=filename, rows=len(table),
        )

    @router.get("/cases/template.{kind}")
    async def template(kind: str, ctx: Annotated[PageContext, Depends(page(*UPLOAD_ROLES))]) -> FileResponse:
        """Downloads an example case file to fill in (csv or xlsx)."""
        if kind not in ("csv", "xlsx"):
            raise HTTPException(status_code=404)
        folder = tempfile.mkdtemp()
        path = Path(folder) / f"cases-template.{kind}"
        write_template(path)

        def cleanup() -> None:
            path.unlink(missing_ok=True)
            Path(folder).rmdir()

        return FileResponse(path, filename=path.name, background=BackgroundTask(cleanup))

    @router.get("/cases/calendar")
    async def reminder_calendar(ctx: Annotated[PageContext, Depends(page(*VIEW_ROLES))], month: str | None = None) -> HTMLResponse:
        """Shows a month of planned reminders: how many the scan will send each day, and deadlines due."""
        tz = ctx.settings.tz
        today = ctx.now.astimezone(tz).date()
        first = month_of(month, today)
        days_in = calendar.monthrange(first.year, first.month)[1]
        start = max(datetime.combine(first, time(0, 0), tzinfo=tz), ctx.now)
        end = datetime.combine(first + timedelta(days=days_in), time(0, 0), tzinfo=tz)
        entries = await calendar_entries(ctx, start, end) if start < end else []
        per_day: dict[date, int] = defaultdict(int)
        for entry in entries:
            per_day[entry.at.astimezone(tz).date()] += 1
        due_rows = (
            await ctx.session.execute(
                select(effective_due())
                .select_from(Deadline)
                .join(Case, Case.id == Deadline.case_id)
                .join(Officer, Officer.id == Case.officer_id)
                .where(
                    *running_until(end),
                    effective_due() < end,
                    effective_due() >= datetime.combine(first, time(0, 0), tzinfo=tz),
                    *_in_scope(ctx.viewer.scope, Officer.unit_id),
                )
            )
        ).scalars().all()
        due_per_day: dict[date, int] = defaultdict(int)
        for value in due_rows:
            due_per_day[value.astimezone(tz).date()] += 1
        weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month)
        previous = (first - timedelta(days=1)).replace(day=1)
        following = first + timedelta(days=days_in)
        template = "cases/calendar_grid.html" if ctx.request.headers.get("hx-target") == "calendar" else "cases/calendar.html"
        return ctx.render(
            template, first=first, weeks=weeks, per_day=per_day, due_per_day=due_per_day, today=today,
            previous=previous.strftime("%Y-%m"), following=following.strftime("%Y-%m"),
            busiest=max(per_day.values(), default=0),
        )

    @router.get("/cases/calendar/{day}")
    async def calendar_day(day: str, ctx: Annotated[PageContext, Depends(page(*VIEW_ROLES))]) -> HTMLResponse:
        """Lists one day's planned reminders with who will get each (as the scan would send them)."""
        try:
            chosen = date.fromisoformat(day)
        except ValueError:
            raise HTTPException(status_code=404) from None
        tz = ctx.settings.tz
        start = max(datetime.combine(chosen, time(0, 0), tzinfo=tz), ctx.now)
        end = datetime.combine(chosen + timedelta(days=1), time(0, 0), tzinfo=tz)
        entries = await calendar_entries(ctx, start, end) if start < end else []
        if entries:
            directory = await Directory.load(session=ctx.session)
            rules = load_rules(ctx.settings)
            cases = {
                row.id: (row.officer_id, row.supervisor_id)
                for row in (
                    await ctx.session.execute(
                        select(Case.id, Case.officer_id, Case.supervisor_id).where(Case.id.in_({e.case_id for e in entries}))
                    )
                ).all()
            }
            for entry in entries:
                rule = rules.get(entry.rule_id)
                officer_id, supervisor_id = cases[entry.case_id]
                if rule is None:
                    continue
                entry.recipients = [
                    directory.people[person].name
                    for person, _audience in recipients_for(
                        rule=rule, offset=entry.offset, officer_id=officer_id, supervisor_id=supervisor_id,
                        directory=directory,
                    )
                ]
        template = "cases/day_rows.html" if ctx.request.headers.get("hx-target") == "day" else "cases/day.html"
        return ctx.render(template, day=chosen, entries=entries)

    @router.get("/cases/{case_id}")
    async def timeline(case_id: int, ctx: Annotated[PageContext, Depends(page(*VIEW_ROLES))]) -> HTMLResponse:
        """Shows one case: its events and deadlines on a timeline, with the articles they rest on."""
        found_case, officer = await case_in_scope(ctx, case_id)
        events = (
            await ctx.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.occurred_at))
        ).all()
        deadlines = (
            await ctx.session.scalars(select(Deadline).where(Deadline.case_id == case_id).order_by(Deadline.starts_at))
        ).all()
        supervisor = await ctx.session.get(Officer, found_case.supervisor_id) if found_case.supervisor_id else None
        unit = await ctx.session.get(Unit, officer.unit_id)
        rules = load_rules(ctx.settings)
        sent = await reminders_sent(ctx, [d.id for d in deadlines])
        items: list[tuple[datetime, str, Any]] = [(e.occurred_at, "event", e) for e in events]
        items += [(d.effective_due, "due", d) for d in deadlines]
        items.sort(key=lambda item: (item[0], item[1] != "event"))
        articles = {d.id: await asyncio.to_thread(cited_articles, d.article) for d in deadlines}
        return ctx.render(
            "cases/timeline.html", case=found_case, officer=officer, supervisor=supervisor, unit=unit,
            items=items, deadlines=deadlines, rules=rules, sent=sent, articles=articles, types=_types(ctx),
            active_statuses=ACTIVE_STATUSES, statuses=_statuses(ctx), outcome=lambda code: _outcome(ctx, code),
        )

    return router


def module() -> DeskModule:
    """Cases and deadlines: the legal brigade's and supervisors' view, the overview's deadline panel."""
    return DeskModule(
        name="cases",
        router=create_router(),
        nav=(
            NavItem("cases", "/cases", "Cases", frozenset(VIEW_ROLES), 10),
            NavItem("calendar", "/cases/calendar", "Reminder calendar", frozenset(VIEW_ROLES), 11),
        ),
        panels=(OverviewPanel("deadlines", frozenset(VIEW_ROLES), deadlines_panel),),
    )
