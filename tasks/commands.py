"""Command line of the tasks domain: ``frontline tasks ...``.

``import``, ``list --json``, ``occurrences --json`` and ``done`` are a stable contract: scripts
and acceptance checks read their output.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, identity
from core.cli_support import cli_errors, fail, run_in_session
from core.db import utcnow
from core.holidays import load_calendar
from core.identity import IdentityError
from core.settings import load_settings
from core.tabular import TableError, read_table
from tasks import service
from tasks.importer import ImportReport, import_tasks, write_template
from tasks.progress import ScanReport
from tasks.schedule import scan
from tasks.service import TaskError

app = typer.Typer(help="Tasks given to officers, one-off or in 日结/周清/月结 cycles.", no_args_is_help=True)

_errors = cli_errors(TableError, TaskError, IdentityError, ValueError)
STATUSES = ("open", "done", "overdue")


@app.command("import")
@_errors
def tasks_import(
    path: Annotated[Path, typer.Argument(help="A .csv or .xlsx file (see `frontline tasks template`).")],
    creator: Annotated[
        str | None,
        typer.Option(help="Badge of the officer the tasks come from (overdue tasks are escalated to them)."),
    ] = None,
) -> None:
    """Imports tasks and notifies their assignees; writes nothing unless every row is valid."""
    settings = load_settings()
    calendar = load_calendar(settings)
    table = read_table(path)

    async def work(session: AsyncSession) -> ImportReport:
        giver = None
        if creator is not None:
            giver = await identity.get_officer(session=session, badge=creator)
            if giver is None:
                raise IdentityError(f"no such officer: {creator}")
        report = await import_tasks(
            session=session, rows=table, settings=settings, calendar=calendar, now=utcnow(), creator=giver
        )
        if not report.ok:
            await session.rollback()
        return report

    report = run_in_session(settings, work, commit=True)
    if not report.ok:
        for error in report.errors:
            typer.echo(f"{path.name}: {error}", err=True)
        raise fail(f"nothing imported: {len(report.errors)} bad row(s)")
    assigned = sum(len(c.assignees) for c in report.created)
    typer.echo(
        f"tasks added {len(report.created)}, unchanged {len(report.unchanged)}; "
        f"{assigned} assignment(s) notified"
    )


@app.command("template")
@_errors
def tasks_template(path: Annotated[Path, typer.Argument(help="Where to write (.csv or .xlsx).")]) -> None:
    """Writes an example task file to fill in."""
    if path.exists():
        raise fail(f"{path} exists; not overwriting it")
    write_template(path)
    typer.echo(f"wrote {path}")


@app.command("list")
@_errors
def tasks_list(
    badge: Annotated[str | None, typer.Option("--badge", help="Only this officer's tasks.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="open, done or overdue.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Lists tasks, one line per assignee, by due time."""
    if status is not None and status not in STATUSES:
        raise fail(f"--status must be one of {', '.join(STATUSES)}, not {status!r}")
    settings = load_settings()

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        if badge is not None and await identity.get_officer(session=session, badge=badge) is None:
            raise IdentityError(f"no such officer: {badge}")
        return await service.list_rows(session=session, settings=settings, now=utcnow(), badge=badge, status=status)

    rows = run_in_session(settings, work, commit=False)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo("no tasks")
        return
    for row in rows:
        series = f"series {row['series']}" if row["series"] is not None else "one-off"
        typer.echo(
            f"{row['id']}\t{row['due'][:16].replace('T', ' ')}\t{row['status']}\t{row['assignee_badge']}\t"
            f"{row['title']}\t{series}"
        )


@app.command("occurrences")
@_errors
def tasks_occurrences(
    task_id: Annotated[int, typer.Argument(metavar="ID", help="A task id (from `frontline tasks list`).")],
    count: Annotated[int, typer.Option("--count", min=1, max=1000, help="How many due times.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Shows the next due times of a task's series, from that task on."""
    settings = load_settings()
    calendar = load_calendar(settings)

    async def work(session: AsyncSession) -> list[datetime]:
        return await service.upcoming_dues(
            session=session, occurrence_id=task_id, count=count, settings=settings, calendar=calendar
        )

    dues = run_in_session(settings, work, commit=False)
    if as_json:
        typer.echo(json.dumps([d.isoformat() for d in dues], ensure_ascii=False, indent=2))
        return
    for due in dues:
        guess = "" if calendar.knows(due.date()) else "\t(no official holiday schedule yet: Monday to Friday assumed)"
        typer.echo(f"{due:%Y-%m-%d %a %H:%M}{guess}")


@app.command("done")
@_errors
def tasks_done(
    task_id: Annotated[int, typer.Argument(metavar="ID", help="A task id (from `frontline tasks list`).")],
    badge: Annotated[str, typer.Option("--badge", help="The assignee it is done for.")],
    note: Annotated[str | None, typer.Option("--note", help="A note kept with the completion.")] = None,
) -> None:
    """Marks a task done for an assignee, as an administrator (audited as such)."""
    settings = load_settings()
    calendar = load_calendar(settings)

    async def work(session: AsyncSession) -> str:
        assignment_id = await service.find_assignment(session=session, occurrence_id=task_id, badge=badge)
        await service.complete(
            session=session,
            assignment_id=assignment_id,
            officer=None,
            settings=settings,
            calendar=calendar,
            now=utcnow(),
            note=note,
            actor=audit.CLI_ACTOR,
        )
        return badge

    run_in_session(settings, work, commit=True)
    typer.echo(f"task {task_id} done for {badge} (recorded as done by an administrator)")


@app.command("scan")
@_errors
def tasks_scan(
    at: Annotated[str | None, typer.Option("--at", help="Pretend it is this ISO time (default: now).")] = None,
) -> None:
    """Runs one task scan now: new occurrences, reminders, escalations (the worker does it every minute)."""
    settings = load_settings()
    calendar = load_calendar(settings)
    now = utcnow()
    if at is not None:
        try:
            now = datetime.fromisoformat(at)
        except ValueError:
            raise ValueError(f"--at must be an ISO time like 2026-03-15T08:00, not {at!r}") from None
        if now.tzinfo is None:
            now = now.replace(tzinfo=settings.tz)

    async def work(session: AsyncSession) -> ScanReport:
        return await scan(session=session, now=now, settings=settings, calendar=calendar)

    report = run_in_session(settings, work, commit=True)
    typer.echo(
        f"occurrences made {report.occurrences_created}, series ended {report.series_ended}; "
        f"reminders {report.reminders}, escalations {report.escalations}; messages queued {report.enqueued}"
    )
