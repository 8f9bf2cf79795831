"""Command line of the reminders domain: ``frontline cases``, ``frontline reminders`` and ``frontline calendar``.

The reminders app is built by :func:`create_reminders_app` with the risk tips to send: the
top-level wiring (cli.py) passes the knowledge base's, which this domain may not import.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from core.cli_support import cli_errors, fail, run_in_session
from core.db import is_sqlite, utcnow
from core.holidays import BUNDLED_HOLIDAYS, HolidaysError, override_path
from core.identity import Officer
from core.outbox import OutboxMessage
from core.settings import Settings, load_settings
from core.tabular import TableError, read_table
from reminders.calendar import holiday_calendar
from reminders.cases import ImportReport, import_cases, write_template
from reminders.derive import DeadlineChange
from reminders.messages import REMINDER_KIND, short_left
from reminders.models import ACTIVE_STATUSES, Case, Deadline
from reminders.planning import time_left
from reminders.recompute import RecomputeReport, recompute
from reminders.rules import RulesError, load_rules
from reminders.schedule import RiskTips, ScanReport, no_risk_tips, scan
from reminders.service import ReminderError

RiskTipsFor = Callable[[Settings], RiskTips]
"""Builds the risk tips for a command from its settings (opened only when a reminder needs them)."""

cases_app = typer.Typer(
    help="Cases and their events (the source of statutory deadlines).", no_args_is_help=True
)
calendar_app = typer.Typer(help="The holiday calendar deadlines are counted with.", no_args_is_help=True)


@calendar_app.callback()
def calendar_group() -> None:
    """The holiday calendar deadlines are counted with (core/holidays.yaml and <data dir>/holidays.yaml)."""

_errors = cli_errors(TableError, RulesError, ReminderError, HolidaysError, ValueError)


def _when(value: datetime, settings: Settings, *, hourly: bool = False) -> str:
    local = value.astimezone(settings.tz)
    return local.strftime("%Y-%m-%d %H:%M") if hourly else local.strftime("%Y-%m-%d")


def _change_line(change: DeadlineChange, settings: Settings) -> str:
    before = _when(change.before, settings) if change.before else "-"
    after = _when(change.after, settings) if change.after else "-"
    mark = " (provisional)" if change.provisional else ""
    detail = f" [{change.detail}]" if change.detail else ""
    return f"{change.case_number}\t{change.measure}\t{change.kind}\t{before} -> {after}{mark}{detail}"


@cases_app.command("import")
@_errors
def cases_import(
    path: Annotated[Path, typer.Argument(help="A .csv or .xlsx file (see `frontline cases template`).")],
) -> None:
    """Imports cases and events; writes nothing unless every row is valid."""
    settings = load_settings()
    load_rules(settings)  # a broken rules file is reported before the file is read
    holiday_calendar(settings)  # and so is a broken holiday schedule
    table = read_table(path)

    async def work(session: AsyncSession) -> ImportReport:
        report = await import_cases(session=session, rows=table, settings=settings, actor="cli")
        if not report.ok:
            await session.rollback()
        return report

    report = run_in_session(settings, work, commit=True)
    if not report.ok:
        for error in report.errors:
            typer.echo(f"{path.name}: {error}", err=True)
        raise fail(f"nothing imported: {len(report.errors)} bad row(s)")
    for change in report.changes:
        typer.echo(f"changed {change}")
    for moved in report.deadlines_moved:
        typer.echo(f"deadline {_change_line(moved, settings)}")
    for flagged in report.deadlines_flagged:
        typer.echo(f"for the legal brigade to review: {flagged.case_number} {flagged.measure} ({flagged.detail})")
    typer.echo(
        f"cases added {len(report.cases_added)}, updated {len(report.cases_updated)}; "
        f"events added {report.events_added}, unchanged {report.events_unchanged}; "
        f"deadlines opened {report.deadlines_added}, closed {report.deadlines_closed}, "
        f"moved {len(report.deadlines_moved)}; officers told {report.notified}"
    )


@cases_app.command("template")
@_errors
def cases_template(path: Annotated[Path, typer.Argument(help="Where to write (.csv or .xlsx).")]) -> None:
    """Writes an example case file to fill in (an .xlsx also explains what each event's date must be)."""
    if path.exists():
        raise fail(f"{path} exists; not overwriting it")
    write_template(path, load_rules(load_settings()))
    typer.echo(f"wrote {path}")
    typer.echo("event_date of 传唤/拘传 is the time of arrival (到案时间); hour-counted events need HH:MM")


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--at must be a date like 2026-03-15, not {value!r}") from None


def create_reminders_app(*, risk_tips_for: RiskTipsFor = lambda _settings: no_risk_tips) -> typer.Typer:
    """Builds ``frontline reminders``; ``risk_tips_for`` gives the tips ``scan`` sends with each reminder."""
    app = typer.Typer(help="Case deadline reminders.", no_args_is_help=True)

    @app.command("preview")
    @_errors
    def reminders_preview(
        at: Annotated[str, typer.Option("--at", help="The day to preview (YYYY-MM-DD, local time).")],
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    ) -> None:
        """Shows what the scan would send on a day (the latest reminder of each deadline), sending nothing."""
        settings = load_settings()
        day = _parse_day(at)
        end = datetime.combine(day, time(23, 59, 59), tzinfo=settings.tz)

        async def work(session: AsyncSession) -> ScanReport:
            return await scan(session=session, now=end, settings=settings, risk_tips=no_risk_tips, dry_run=True)

        report = run_in_session(settings, work, commit=False)
        planned = sorted(report.planned, key=lambda p: (p.deadline, p.case_number))
        if as_json:
            typer.echo(json.dumps([p.as_json() for p in planned], ensure_ascii=False, indent=2))
            return
        if not planned:
            typer.echo(f"no reminders on {day.isoformat()}")
            return
        for p in planned:
            left = f"{p.hours_left} h" if p.hours_left is not None else f"{p.days_left} d"
            due = p.deadline.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
            marks = "".join([" provisional" if p.provisional else "", " paused" if p.paused else ""])
            typer.echo(
                f"{p.case_number}\t{p.measure}\t{due}\t{left}\t{p.offset}\t{','.join(p.recipients)}\t{p.article}{marks}"
            )
        typer.echo(f"{len(planned)} deadline(s), {report.messages} message(s)")

    @app.command("scan")
    @_errors
    def reminders_scan(
        at: Annotated[
            str | None, typer.Option("--at", help="Pretend it is this ISO time (default: now).")
        ] = None,
    ) -> None:
        """Queues every reminder due now through the outbox, with its risk tips (the bot's loop does this every 15 minutes)."""
        settings = load_settings()
        now = utcnow()
        if at is not None:
            try:
                now = datetime.fromisoformat(at)
            except ValueError:
                raise ValueError(f"--at must be an ISO time like 2026-03-15T08:00, not {at!r}") from None
            if now.tzinfo is None:
                now = now.replace(tzinfo=settings.tz)
        tips = risk_tips_for(settings)

        async def work(session: AsyncSession) -> ScanReport:
            return await scan(session=session, now=now, settings=settings, risk_tips=tips)

        report = run_in_session(settings, work, commit=True)
        typer.echo(
            f"checked {report.checked} deadline(s); queued {report.enqueued} message(s), "
            f"{report.duplicates} already queued"
        )

    @app.command("status")
    @_errors
    def reminders_status(
        limit: Annotated[int, typer.Option(help="How many open deadlines to list.")] = 20,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Lists open deadlines by urgency (hours for hour limits) and counts the reminders queued and sent."""
        settings = load_settings()
        rules = load_rules(settings)

        async def work(session: AsyncSession) -> dict[str, Any]:
            due = func.coalesce(Deadline.extended_to, Deadline.due_at)
            rows = (
                await session.execute(
                    select(Deadline, Case.case_number, Officer.badge)
                    .join(Case, Case.id == Deadline.case_id)
                    .join(Officer, Officer.id == Case.officer_id)
                    .where(Deadline.status.in_(ACTIVE_STATUSES))
                    .order_by(due, Deadline.id)
                    .limit(limit)
                )
            ).all()
            active = Deadline.status.in_(ACTIVE_STATUSES)
            total = await session.scalar(select(func.count()).select_from(Deadline).where(active))
            provisional = await session.scalar(
                select(func.count()).select_from(Deadline).where(active, Deadline.provisional.is_(True))
            )
            paused = await session.scalar(
                select(func.count()).select_from(Deadline).where(active, Deadline.paused_since.is_not(None))
            )
            review = await session.scalar(
                select(func.count())
                .select_from(Deadline)
                .where(active, Deadline.review.is_not(None), Deadline.reviewed_by.is_(None))
            )
            counts = {
                status: int(n)
                for status, n in (
                    await session.execute(
                        select(OutboxMessage.status, func.count())
                        .where(OutboxMessage.kind == REMINDER_KIND)
                        .group_by(OutboxMessage.status)
                    )
                ).all()
            }
            now = utcnow()
            listed = []
            for d, number, badge in rows:
                rule = rules.get(d.rule_id)
                hourly = rule.hourly if rule else False
                left = time_left(d.effective_due, now, hourly=hourly, tz=settings.tz)
                listed.append(
                    {
                        "case_number": number,
                        "officer": badge,
                        "rule": d.rule_id,
                        "measure": d.measure,
                        "deadline": d.effective_due.astimezone(settings.tz).isoformat(),
                        "days_left": time_left(d.effective_due, now, hourly=False, tz=settings.tz),
                        "hours_left": left if hourly else None,
                        "left": short_left(left, hourly=hourly),
                        "status": d.status,
                        "provisional": d.provisional,
                        "paused_since": d.paused_since.astimezone(settings.tz).isoformat() if d.paused_since else None,
                        "review": d.review_code if d.under_review else None,
                        "article": d.article,
                    }
                )
            return {
                "open_deadlines": int(total or 0),
                "provisional": int(provisional or 0),
                "paused": int(paused or 0),
                "under_review": int(review or 0),
                "reminders": {"queued": sum(counts.values()), **counts},
                "most_urgent": listed,
            }

        data = run_in_session(settings, work, commit=False)
        if as_json:
            typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
            return
        typer.echo(f"open deadlines: {data['open_deadlines']}")
        if data["provisional"]:
            typer.echo(
                f"provisional: {data['provisional']} (their year has no holiday schedule yet, so they were "
                "not moved past holidays; see `frontline calendar check`)"
            )
        if data["paused"]:
            typer.echo(f"paused (expert examination or hearing): {data['paused']}")
        if data["under_review"]:
            typer.echo(f"for the legal brigade to review: {data['under_review']}")
        typer.echo("reminders: " + ", ".join(f"{k} {v}" for k, v in data["reminders"].items()))
        for item in data["most_urgent"]:
            marks = [
                mark
                for mark, on in (
                    ("provisional", item["provisional"]),
                    ("paused", item["paused_since"]),
                    (f"review:{item['review']}", item["review"]),
                )
                if on
            ]
            typer.echo(
                f"{item['case_number']}\t{item['measure']}\t{item['deadline'][:16].replace('T', ' ')}\t"
                f"{item['left']}\t{item['officer']}\t{item['status']}" + (f"\t{' '.join(marks)}" if marks else "")
            )

    @app.command("recompute")
    @_errors
    def reminders_recompute(
        apply: Annotated[bool, typer.Option("--apply", help="Write the changes (audited); without it nothing is written.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the changes as JSON.")] = False,
    ) -> None:
        """Recomputes stored deadlines under the rules and holiday calendar in force, listing every date that moves."""
        settings = load_settings()
        load_rules(settings)
        holiday_calendar(settings)
        now = utcnow()

        async def work(session: AsyncSession) -> RecomputeReport:
            return await recompute(session=session, settings=settings, now=now, notify=apply)

        report = run_in_session(settings, work, commit=apply)
        listed = [c for c in report.changes if c.kind != "skipped"]
        if as_json:
            typer.echo(
                json.dumps(
                    {"applied": apply, "cases": report.cases, "changes": [c.as_json() for c in listed]},
                    ensure_ascii=False,
                    indent=2,
                )
            )
            return
        for change in listed:
            typer.echo(_change_line(change, settings))
        kinds = ("moved", "opened", "closed", "cancelled", "paused", "resumed", "flagged")
        summary = ", ".join(f"{k} {report.count(k)}" for k in kinds if report.count(k))
        typer.echo(f"{report.cases} case(s): {summary or 'nothing changes'}")
        if not apply and listed:
            typer.echo("dry run: nothing was written; run again with --apply to write these changes")

    return app


def _year_ranges(years: list[int]) -> str:
    parts: list[str] = []
    start = prev = None
    for year in years:
        if start is None:
            start = prev = year
        elif prev is not None and year == prev + 1:
            prev = year
        else:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = year
    if start is not None:
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ", ".join(parts)


def _provisional_count(settings: Settings) -> int | None:
    """Counts the open provisional deadlines, or None when there is no database yet."""
    url = settings.effective_database_url
    database = make_url(url).database if is_sqlite(url) else None
    if database and database != ":memory:" and not Path(database).exists():
        return None

    async def count(session: AsyncSession) -> int:
        found = await session.scalar(
            select(func.count())
            .select_from(Deadline)
            .where(Deadline.status.in_(ACTIVE_STATUSES), Deadline.provisional.is_(True))
        )
        return int(found or 0)

    try:
        return run_in_session(settings, count, commit=False)
    except SQLAlchemyError:  # tables not created yet: the calendar is still worth checking
        return None


@calendar_app.command("check")
@_errors
def calendar_check(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Says which years the holiday schedule covers; fails when this year is not covered."""
    settings = load_settings()
    calendar = holiday_calendar(settings)
    today = utcnow().astimezone(settings.tz).date()
    by_source: dict[str, list[int]] = {}
    for schedule in calendar.years:
        by_source.setdefault(schedule.source, []).append(schedule.year)
    covered = {s.year for s in calendar.years}
    provisional = _provisional_count(settings)
    data = {
        "years": sorted(covered),
        "sources": {source: _year_ranges(years) for source, years in by_source.items()},
        "this_year": today.year,
        "this_year_covered": today.year in covered,
        "next_year_covered": today.year + 1 in covered,
        "provisional_deadlines": provisional,
        "override": str(override_path(settings)),
    }
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        for source, years in by_source.items():
            where = "bundled" if source == str(BUNDLED_HOLIDAYS) else source
            typer.echo(f"{_year_ranges(years)}: {where}")
        for year in (today.year, today.year + 1):
            state = "covered" if year in covered else f"NOT covered: enter the State Council's schedule in {override_path(settings)}"
            typer.echo(f"{year}: {state}")
        if provisional:
            typer.echo(
                f"{provisional} open deadline(s) are provisional (not moved past holidays); after entering a "
                "schedule run `frontline reminders recompute`"
            )
    if today.year not in covered:
        raise fail(f"the holiday schedule of {today.year} is not entered: deadlines this year are provisional")
