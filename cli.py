"""The ``frontline`` command line: database, identity, audit, and every domain's commands."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.commands import app as broadcasts_app
from core import audit, identity, roster
from core.cli_support import cli_errors, explain, fail, run_in_session
from core.commands_outbox import Job, outbox_app
from core.db import make_engine, make_sessionmaker
from core.identity import IdentityError
from core.settings import Settings, load_settings
from core.tabular import TableError, read_table
from desk.commands import app as desk_app
from knowledge.commands import app as kb_app
from reminders.commands import calendar_app, cases_app, create_reminders_app
from reminders.schedule import RiskTips
from rights.commands import app as rights_app
from tasks.commands import app as tasks_app

P = ParamSpec("P")
T = TypeVar("T")

app = typer.Typer(
    name="frontline",
    help="Frontline: the messaging assistant for frontline police officers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
units_app = typer.Typer(help="Units (bureau -> brigade / station -> team).", no_args_is_help=True)
officers_app = typer.Typer(help="Officers, roles and enrollment codes.", no_args_is_help=True)
audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(units_app, name="units")
app.add_typer(officers_app, name="officers")
app.add_typer(audit_app, name="audit")


identity_errors = cli_errors(IdentityError, TableError)


def get_settings() -> Settings:
    """Builds the settings for a command (a bad value is reported by cli_errors, exit 2)."""
    return load_settings()


# --- db ----------------------------------------------------------------------------------------


@db_app.command("upgrade")
@identity_errors
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Migrates the database to the newest schema (or REVISION)."""
    from core import migrate

    settings = get_settings()
    migrate.upgrade(settings, revision)
    typer.echo(f"database at {revision}: {settings.effective_database_url.split('@')[-1]}")


# --- units -------------------------------------------------------------------------------------


@units_app.command("add")
@identity_errors
def units_add(
    name: Annotated[str, typer.Argument(help="Unit name, e.g. 城关派出所.")],
    parent: Annotated[str | None, typer.Option(help="Parent unit name.")] = None,
) -> None:
    """Adds a unit, optionally under a parent unit."""
    unit = run_in_session(get_settings(), lambda s: identity.add_unit(session=s, name=name, parent=parent))
    typer.echo(f"unit added: {unit.name}")


@units_app.command("list")
@identity_errors
def units_list() -> None:
    """Lists units as a tree."""

    async def work(session: AsyncSession) -> list[str]:
        units = await identity.list_units(session=session)
        children: dict[int | None, list[identity.Unit]] = {}
        for unit in units:
            children.setdefault(unit.parent_id, []).append(unit)
        lines: list[str] = []

        def walk(parent: int | None, depth: int) -> None:
            for unit in children.get(parent, []):
                quiet = f"  (quiet hours {unit.quiet_hours})" if unit.quiet_hours else ""
                lines.append("  " * depth + unit.name + quiet)
                walk(unit.id, depth + 1)

        walk(None, 0)
        return lines

    for line in run_in_session(get_settings(), work):
        typer.echo(line)


@units_app.command("quiet-hours")
@identity_errors
def units_quiet_hours(
    name: Annotated[str, typer.Argument(help="Unit name.")],
    window: Annotated[
        str | None, typer.Argument(help="HH:MM-HH:MM, e.g. 08:00-16:00 for a night shift; 00:00-00:00: never quiet.")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Drop the unit's own hours: it follows its parent's.")] = False,
) -> None:
    """Sets a unit's own quiet hours (non-urgent pushes wait), for it and the units below it."""
    if (window is None) == (not clear):
        raise fail("give the hours (e.g. 08:00-16:00) or --clear", 2)
    unit = run_in_session(
        get_settings(), lambda s: identity.set_quiet_hours(session=s, name=name, window=None if clear else window)
    )
    if unit.quiet_hours:
        typer.echo(f"quiet hours of {unit.name}: {unit.quiet_hours}")
    else:
        typer.echo(f"quiet hours of {unit.name}: its parent's (or the default)")


# --- officers ----------------------------------------------------------------------------------


@officers_app.command("add")
@identity_errors
def officers_add(
    badge: Annotated[str, typer.Option(help="Badge number (警号).")],
    name: Annotated[str, typer.Option(help="Full name.")],
    unit: Annotated[str, typer.Option(help="Unit name.")],
    role: Annotated[list[str], typer.Option(help="Role: officer/民警, legal/法制, rights/维权, supervisor/督导, admin/管理员 (repeatable).")] = [  # noqa: B006  # Typer reads the default, never mutates it
        "officer"
    ],
    language: Annotated[str, typer.Option(help="zh or en.")] = "zh",
) -> None:
    """Adds an officer."""
    officer = run_in_session(
        get_settings(),
        lambda s: identity.add_officer(session=s, badge=badge, name=name, unit=unit, roles=role, language=language),
    )
    typer.echo(f"officer added: {officer.badge} {officer.name} ({', '.join(sorted(r.value for r in officer.roles))})")


@officers_app.command("import")
@identity_errors
def officers_import(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX with columns badge, name, unit[, roles, language].")],
) -> None:
    """Imports officers from CSV/XLSX; nothing is written unless every row is valid."""
    rows = read_table(file)
    report = run_in_session(
        get_settings(), lambda s: roster.import_officers(session=s, rows=rows, header=rows.header)
    )
    if not report.ok:
        for error in report.errors:
            typer.echo(f"{file.name}: {error}", err=True)
        raise fail(f"{len(report.errors)} bad row(s); nothing was imported")
    typer.echo(f"imported: {len(report.added)} added, {len(report.updated)} updated")


@officers_app.command("list")
@identity_errors
def officers_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Lists officers with unit, roles, status and enrollment."""
    officers = run_in_session(get_settings(), lambda s: identity.list_officers(session=s))
    records = [
        {
            "badge": o.badge,
            "name": o.name,
            "unit": o.unit.name,
            "roles": sorted(r.value for r in o.roles),
            "active": o.active,
            "enrolled": o.telegram_user_id is not None,
            "language": o.language,
        }
        for o in officers
    ]
    if as_json:
        typer.echo(json.dumps(records, ensure_ascii=False, indent=2))
        return
    for r in records:
        status = "active" if r["active"] else "DEACTIVATED"
        enrolled = "enrolled" if r["enrolled"] else "not enrolled"
        typer.echo(f"{r['badge']:<10} {r['name']:<8} {r['unit']:<12} {','.join(r['roles']):<24} {status}, {enrolled}")  # type: ignore[arg-type]  # values are lists of str


@officers_app.command("set-roles")
@identity_errors
def officers_set_roles(
    badge: Annotated[str, typer.Argument(help="Badge number.")],
    role: Annotated[
        list[str], typer.Option(help="Role: officer/民警, legal/法制, rights/维权, supervisor/督导, admin/管理员 (repeatable).")
    ],
) -> None:
    """Replaces an officer's roles."""
    officer = run_in_session(get_settings(), lambda s: identity.set_roles(session=s, badge=badge, roles=role))
    typer.echo(f"roles of {officer.badge}: {', '.join(sorted(r.value for r in officer.roles))}")


@officers_app.command("deactivate")
@identity_errors
def officers_deactivate(badge: Annotated[str, typer.Argument(help="Badge number.")]) -> None:
    """Deactivates an officer: access stops at once."""
    run_in_session(get_settings(), lambda s: identity.deactivate(session=s, badge=badge))
    typer.echo(f"officer {badge} deactivated")


@officers_app.command("enroll-code")
@identity_errors
def officers_enroll_code(
    badge: Annotated[str, typer.Argument(help="Badge number.")],
    hours: Annotated[float, typer.Option(help="Hours until the code expires.")] = 72,
) -> None:
    """Issues a one-time enrollment code; the code alone is printed on the last line."""
    code = run_in_session(get_settings(), lambda s: identity.issue_code(session=s, badge=badge, hours=hours))
    typer.echo(f"one-time enrollment code for {badge}, valid {hours:g} h; send it to the bot or use /start CODE:")
    typer.echo(code)


# --- audit -------------------------------------------------------------------------------------


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"--since: expected an ISO date or date-time, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=get_settings().tz)


@audit_app.command("tail")
@identity_errors
def audit_tail(
    officer: Annotated[
        str | None, typer.Option(help="Actions by this badge or about this officer (--actor / --subject: one side).")
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Only actions done by this badge (or cli, system).")] = None,
    subject: Annotated[str | None, typer.Option(help="Only actions about the officer with this badge.")] = None,
    since: Annotated[str | None, typer.Option(help="ISO date or date-time.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. enroll.success.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Shows the newest audit events, oldest first."""
    if officer is not None and (actor is not None or subject is not None):
        raise fail("--officer means --actor or --subject; give either --officer, or --actor and/or --subject", 2)
    start = _parse_since(since)
    settings = get_settings()

    async def work(session: AsyncSession) -> Sequence[audit.AuditEvent]:
        about_badge = officer if officer is not None else subject
        about = None
        if about_badge is not None:
            found = await identity.get_officer(session=session, badge=about_badge)
            about = audit.about_officer(officer_id=found.id if found else None, badge=about_badge)
        return await audit.tail(
            session=session,
            limit=limit,
            actor=officer if officer is not None else actor,
            about=about,
            actor_or_about=officer is not None,
            since=start,
            action=action,
        )

    for e in run_in_session(settings, work, commit=False):
        if as_json:
            typer.echo(json.dumps({
                "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
                "target_type": e.target_type, "target_id": e.target_id, "officer_id": e.officer_id,
                "detail": e.detail,
            }, ensure_ascii=False))
        else:
            when = e.at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M:%S")
            target = f"{e.target_type}:{e.target_id}" if e.target_type else ""
            detail = json.dumps(e.detail, ensure_ascii=False) if e.detail else ""
            typer.echo(f"{when}  {e.actor:<12} {e.action:<22} {target:<24} {detail}")


# --- health ----------------------------------------------------------------------------------


PROCESSES = ("bot", "worker")  # the long-running processes that beat a heartbeat


def _known_process(value: str) -> str:
    if value not in PROCESSES:
        raise typer.BadParameter(f"{value!r} is not a process that beats; choose bot or worker")
    return value


@app.command("health")
@identity_errors
def health(
    process: Annotated[str, typer.Argument(help="bot or worker.", callback=_known_process)],
    max_age: Annotated[float, typer.Option(help="Seconds since the last heartbeat.")] = 120,
) -> None:
    """Exits 0 when the process kind beat recently (for container health checks)."""
    from core import heartbeat

    age = heartbeat.age_seconds(get_settings().data_dir, process)
    if age is None:
        raise fail(f"{process}: no heartbeat (not started yet, or stopped)")
    if age > max_age:
        raise fail(f"{process}: last heartbeat {age:.0f} s ago")
    typer.echo(f"{process}: alive ({age:.0f} s ago)")


# --- worker ----------------------------------------------------------------------------------


@app.command("worker")
@identity_errors
def worker(
    worker_id: Annotated[str | None, typer.Option(help="Name in leases and logs; default host:pid.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows claimed per round.")] = 50,
    lease_seconds: Annotated[float, typer.Option(min=5, help="How long a claimed row stays ours.")] = 60.0,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Sends in flight at once; 1 bounds a crash to one duplicate.")
    ] = 8,
    scan: Annotated[bool, typer.Option(help="Also run the periodic jobs (reminder scan and the like).")] = True,
) -> None:
    """Delivers queued pushes to Telegram and runs every periodic job, until Ctrl-C or SIGTERM."""
    import logging

    # The wiring point may name every package: the core and the domains may not import the bot.
    from bot.messenger import telegram_messenger
    from core.commands_outbox import run_worker
    from core.outbox import DeliveryOptions, MessengerUnavailable

    settings = get_settings()
    if not settings.bot_token_value:
        raise fail("FRONTLINE_BOT_TOKEN is not set; the worker has nothing to send with", 2)
    # The delivery loop rides out a database outage; one that is down at start is a setup to fix.
    run_in_session(settings, lambda session: session.execute(text("SELECT 1")), commit=False)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = DeliveryOptions(batch_size=batch_size, lease_seconds=lease_seconds, concurrency=concurrency)

    async def _main() -> None:
        jobs = await _periodic_jobs(settings) if scan else []
        report = await run_worker(
            settings, extra_jobs=jobs, messenger_factory=telegram_messenger, worker_id=worker_id, options=options
        )
        logging.getLogger("frontline.worker").info(
            "worker stopped: %s sent, %s dead, %s held", report.sent, report.dead, report.held
        )

    try:
        asyncio.run(_main())
    except MessengerUnavailable as exc:
        raise fail(str(exc), 2) from None


async def _periodic_jobs(settings: Settings) -> list[Job]:
    """Builds every domain's periodic loop on its own database engine and knowledge base."""
    from jobs import periodic_jobs
    from knowledge.service import KnowledgeBase

    kb = await asyncio.to_thread(KnowledgeBase.open, settings)
    engine = make_engine(settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    loops = periodic_jobs(settings, sessions=sessions, kb=kb)
    running = len(loops)

    def disposing(job: Job) -> Job:
        async def run(stop: asyncio.Event) -> None:
            nonlocal running
            try:
                await job(stop)
            finally:
                running -= 1
                if running == 0:
                    await engine.dispose()

        return run

    return [disposing(loop.run) for loop in loops]


# --- domains -----------------------------------------------------------------------------------


app.add_typer(kb_app, name="kb")
app.add_typer(cases_app, name="cases")
app.add_typer(calendar_app, name="calendar")


def knowledge_risk_tips(settings: Settings) -> RiskTips:
    """Gives reminders the knowledge base's risk tips; the base is opened only when a reminder needs one."""
    opened: list[RiskTips] = []

    def tips(topic: str) -> list[str]:
        if not opened:
            from knowledge.risk import risk_tip_texts
            from knowledge.service import KnowledgeBase

            opened.append(risk_tip_texts(KnowledgeBase.open(settings)))
        return opened[0](topic)

    return tips


app.add_typer(create_reminders_app(risk_tips_for=knowledge_risk_tips), name="reminders")
app.add_typer(outbox_app, name="outbox")
app.add_typer(rights_app, name="rights")
app.add_typer(tasks_app, name="tasks")
app.add_typer(desk_app, name="desk")
app.add_typer(broadcasts_app, name="broadcasts")


# The bot is imported only when one of its commands runs: importing aiogram takes seconds, which
# every admin command and every --help would otherwise pay.
@app.command("run")
def run() -> None:
    """Starts Frontline: the Telegram bot and its workers, or a console demo when no bot token is set."""
    from bot.commands import run as run_bot
    from desk.server import beside_demo

    run_bot(beside_demo=beside_demo)


@app.command("chat")
def chat(
    badge: Annotated[str, typer.Option("--badge", help="Badge number of the officer to chat as.")],
) -> None:
    """Chats with the bot from this terminal as an officer (no Telegram needed)."""
    from bot.commands import chat as chat_as

    chat_as(badge)


def main() -> None:
    """Entry point of the ``frontline`` script: operator errors are one line, a closed pipe is quiet."""
    code: int | str | None = 0
    try:
        app(prog_name="frontline")
    except SystemExit as done:
        code = done.code
    except BrokenPipeError:
        code = 1  # the reader went away (`| head`): what it wanted, it has
    except Exception as exc:
        known = explain(exc)
        if known is None:
            raise
        message, code = known
        typer.echo(f"frontline: {message}", err=True)
    finally:
        _flush_stdout()
    raise SystemExit(code)


def _flush_stdout() -> None:
    """Flushes stdout now; if its reader is gone, points it at /dev/null so the exit stays quiet."""
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    main()
