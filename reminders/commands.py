"""Command line of the reminders domain: ``frontline cases ...`` and ``frontline reminders ...``."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.cli_support import cli_errors, fail, run_in_session
from core.db import utcnow
from core.identity import Officer
from core.outbox import OutboxMessage
from core.settings import load_settings
from core.tabular import TableError, read_table
from reminders.cases import ImportReport, import_cases, write_template
from reminders.models import ACTIVE_STATUSES, Case, Deadline
from reminders.rules import RulesError, load_rules
from reminders.schedule import REMINDER_KIND, ScanReport, scan
from reminders.service import ReminderError

P = ParamSpec("P")
T = TypeVar("T")

cases_app = typer.Typer(
    help="Cases and their events (the source of statutory deadlines).", no_args_is_help=True
)
reminders_app = typer.Typer(help="Case deadline reminders.", no_args_is_help=True)


_errors = cli_errors(TableError, RulesError, ReminderError, ValueError)


def _no_tips(_topic: str) -> list[str]:
    return []


@cases_app.command("import")
@_errors
def cases_import(
    path: Annotated[Path, typer.Argument(help="A .csv or .xlsx file (see `frontline cases template`).")],
) -> None:
    """Imports cases and events; writes nothing unless every row is valid."""
    settings = load_settings()
    load_rules(settings)  # a broken rules file is reported before the file is read
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
    typer.echo(
        f"cases added {len(report.cases_added)}, updated {len(report.cases_updated)}; "
        f"events added {report.events_added}, unchanged {report.events_unchanged}; "
        f"deadlines opened {report.deadlines_added}, closed {report.deadlines_closed}"
    )


@cases_app.command("template")
@_errors
def cases_template(path: Annotated[Path, typer.Argument(help="Where to write (.csv or .xlsx).")]) -> None:
    """Writes an example case file to fill in."""
    if path.exists():
        raise fail(f"{path} exists; not overwriting it")
    write_template(path)
    typer.echo(f"wrote {path}")


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--at must be a date like 2026-03-15, not {value!r}") from None


@reminders_app.command("preview")
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
        return await scan(session=session, now=end, settings=settings, risk_tips=_no_tips, dry_run=True)

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
        typer.echo(
            f"{p.case_number}\t{p.measure}\t{due}\t{left}\t{p.offset}\t{','.join(p.recipients)}\t{p.article}"
        )
    typer.echo(f"{len(planned)} deadline(s), {report.messages} message(s)")


@reminders_app.command("scan")
@_errors
def reminders_scan(
    at: Annotated[
        str | None, typer.Option("--at", help="Pretend it is this ISO time (default: now).")
    ] = None,
) -> None:
    """Queues every reminder due now through the outbox (the bot's loop does this every 15 minutes)."""
    settings = load_settings()
    now = utcnow()
    if at is not None:
        try:
            now = datetime.fromisoformat(at)
        except ValueError:
            raise ValueError(f"--at must be an ISO time like 2026-03-15T08:00, not {at!r}") from None
        if now.tzinfo is None:
            now = now.replace(tzinfo=settings.tz)

    async def work(session: AsyncSession) -> ScanReport:
        return await scan(session=session, now=now, settings=settings, risk_tips=_no_tips)

    report = run_in_session(settings, work, commit=True)
    typer.echo(
        f"checked {report.checked} deadline(s); queued {report.enqueued} message(s), "
        f"{report.duplicates} already queued"
    )


@reminders_app.command("status")
@_errors
def reminders_status(
    limit: Annotated[int, typer.Option(help="How many open deadlines to list.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Lists open deadlines by urgency and counts the reminders queued and sent."""
    settings = load_settings()

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
        total = await session.scalar(
            select(func.count()).select_from(Deadline).where(Deadline.status.in_(ACTIVE_STATUSES))
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
        return {
            "open_deadlines": int(total or 0),
            "reminders": {"queued": sum(counts.values()), **counts},
            "most_urgent": [
                {
                    "case_number": number,
                    "officer": badge,
                    "rule": d.rule_id,
                    "measure": d.measure,
                    "deadline": d.effective_due.astimezone(settings.tz).isoformat(),
                    "days_left": (
                        d.effective_due.astimezone(settings.tz).date() - now.astimezone(settings.tz).date()
                    ).days,
                    "status": d.status,
                    "article": d.article,
                }
                for d, number, badge in rows
            ],
        }

    data = run_in_session(settings, work, commit=False)
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    typer.echo(f"open deadlines: {data['open_deadlines']}")
    typer.echo("reminders: " + ", ".join(f"{k} {v}" for k, v in data["reminders"].items()))
    for item in data["most_urgent"]:
        typer.echo(
            f"{item['case_number']}\t{item['measure']}\t{item['deadline'][:16]}\t{item['days_left']} d\t"
            f"{item['officer']}\t{item['status']}"
        )
