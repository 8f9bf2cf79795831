"""``frontline rights ...``: list, show, export, dossier, verify, time limits, retention.

The command line acts as an operator (``cli`` in the audit log): it sees every application, and
every listing, view, export and dossier it makes is audited like the bot's. ``list --json`` and
``show --json`` are a stable contract.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.cli_support import cli_errors, fail, run_in_session
from core.identity import IdentityError, Officer, Unit, get_unit
from core.settings import Settings, load_settings
from rights import service, sla
from rights.access import Operator, RightsError
from rights.custody import VerifyReport
from rights.law import LawError, plain_references
from rights.models import Status
from rights.views import ApplicationView

app = typer.Typer(help="Rights protection applications (维权): list, show, export, dossier, verify.", no_args_is_help=True)
limits_app = typer.Typer(help="The rights office's time limits, per unit.", no_args_is_help=True)
app.add_typer(limits_app, name="limits")

_errors = cli_errors(RightsError, LawError, IdentityError, ValueError)
OPERATOR = Operator(audit.CLI_ACTOR)


def _iso(moment: datetime | None, settings: Settings) -> str | None:
    return moment.astimezone(settings.tz).isoformat() if moment is not None else None


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{option}: expected a date like 2026-03-15, not {value!r}") from None


def _statuses(values: list[str] | None) -> list[str]:
    found: list[str] = []
    for value in values or []:
        for part in value.split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part not in {s.value for s in Status}:
                allowed = ", ".join(s.value for s in Status)
                raise ValueError(f"--status: unknown status {part!r} (allowed: {allowed})")
            found.append(part)
    return found


def detail_json(view: ApplicationView, settings: Settings) -> dict[str, Any]:
    """Returns everything about an application as JSON-ready data (``rights show --json``)."""
    app_ = view.application
    return {
        "number": app_.number,
        "type": app_.type,
        "status": app_.status,
        "unit": view.applicant_unit.name,
        "office_unit": view.office_unit.name if view.office_unit else None,
        "applicant_badge": view.applicant.badge,
        "applicant_name": view.applicant.name,
        "handler_badge": view.handler.badge if view.handler else None,
        "occurred_at": _iso(app_.occurred_at, settings),
        "occurred_precision": app_.occurred_precision,
        "place": app_.place,
        "latitude": app_.latitude,
        "longitude": app_.longitude,
        "account": app_.account,
        "people": app_.people,
        "help_wanted": list(app_.help_wanted),
        "submitted_at": _iso(app_.submitted_at, settings),
        "accepted_at": _iso(app_.accepted_at, settings),
        "investigating_at": _iso(app_.investigating_at, settings),
        "first_feedback_at": _iso(app_.first_feedback_at, settings),
        "decided_at": _iso(app_.decided_at, settings),
        "closed_at": _iso(app_.closed_at, settings),
        "rejected_at": _iso(app_.rejected_at, settings),
        "withdrawn_at": _iso(app_.withdrawn_at, settings),
        "reject_reason": app_.reject_reason,
        "due_at": _iso(sla.next_due(app_), settings),
        "due": {key: _iso(getattr(app_, f"{key}_due_at"), settings) for key in sla.LIMIT_KEYS},
        "paused": app_.status == Status.WAITING,
        "limits": dict(app_.limits or {}),
        "evidence_count": len(view.evidence),
        "evidence": [
            {
                "ordinal": e.ordinal,
                "kind": e.kind,
                "purpose": e.purpose,
                "status": e.status,
                "filename": e.filename,
                "size": e.size,
                "declared_size": e.declared_size,
                "sha256": e.sha256,
                "reference_reason": e.reference_reason,
                "received_at": _iso(e.received_at, settings),
            }
            for e in view.evidence
        ],
        "outcomes": [
            {"kind": o.kind, "detail": o.detail, "decided_by": o.decided_by, "at": _iso(o.at, settings)}
            for o in view.outcomes
        ],
        "timeline": [
            {
                "at": _iso(e.at, settings),
                "actor": e.actor,
                "kind": e.kind,
                "status_from": e.status_from,
                "status_to": e.status_to,
                "text": e.text,
                "to_applicant": e.to_applicant,
            }
            for e in view.events
        ],
        "law": plain_references(app_.type),
        "custody": {"entries": app_.custody_seq, "head": app_.custody_head},
    }


@app.command("list")
@_errors
def list_(
    status: Annotated[
        list[str] | None, typer.Option("--status", help="Only this status (repeatable, or comma-separated).")
    ] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="Only applicants of this unit or below it.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list (stable).")] = False,
) -> None:
    """Lists applications, oldest first: number, type, status, unit, applicant, evidence, next time limit."""
    settings = load_settings()
    statuses = _statuses(status)

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        found = await service.search(session=session, viewer=OPERATOR, via="cli", statuses=statuses, unit=unit)
        counts = await service.evidence_counts(session=session, application_ids=[a.id for a in found])
        units = {u.id: u.name for u in await session.scalars(select(Unit))}
        badges = await _badges(session, {a.applicant_id for a in found})
        return [
            {
                "number": a.number,
                "type": a.type,
                "status": a.status,
                "unit": units.get(a.applicant_unit_id),
                "applicant_badge": badges.get(a.applicant_id),
                "submitted_at": _iso(a.submitted_at, settings),
                "evidence_count": counts.get(a.id, 0),
                "due_at": _iso(sla.next_due(a), settings),
            }
            for a in found
        ]

    records = run_in_session(settings, work)
    if as_json:
        typer.echo(json.dumps(records, ensure_ascii=False, indent=2))
        return
    if not records:
        typer.echo("no applications")
        return
    for r in records:
        due = (r["due_at"] or "")[:10]
        typer.echo(
            f"{r['number']}  {r['type']:<16} {r['status']:<13} {r['unit']:<12} {r['applicant_badge']:<8} "
            f"{(r['submitted_at'] or '')[:16]}  evidence {r['evidence_count']:<3} due {due}"
        )


async def _badges(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(select(Officer.id, Officer.badge).where(Officer.id.in_(list(ids))))
    return dict(rows.all())


@app.command("show")
@_errors
def show(
    number: Annotated[str, typer.Argument(help="Application number, e.g. WQ-2026-000123.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (stable).")] = False,
) -> None:
    """Shows one application: facts, time limits, evidence with hashes, outcomes, timeline."""
    settings = load_settings()

    async def work(session: AsyncSession) -> dict[str, Any]:
        view = await service.open_application(
            session=session, viewer=OPERATOR, via="cli", number=number, with_events=True
        )
        return detail_json(view, settings)

    record = run_in_session(settings, work)
    if as_json:
        typer.echo(json.dumps(record, ensure_ascii=False, indent=2))
        return
    typer.echo(f"{record['number']}  {record['type']}  {record['status']}")
    typer.echo(f"applicant {record['applicant_name']} ({record['applicant_badge']}), {record['unit']}")
    typer.echo(f"office {record['office_unit'] or '-'}, handler {record['handler_badge'] or '-'}")
    typer.echo(f"submitted {record['submitted_at']}, next time limit {record['due_at'] or '-'}")
    typer.echo(f"what happened: {record['account'] or '(voice note)'}")
    for e in record["evidence"]:
        typer.echo(f"  evidence {e['ordinal']}: {e['kind']} {e['status']} {e['sha256'] or e['reference_reason']}")
    for o in record["outcomes"]:
        typer.echo(f"  outcome {o['kind']}: {o['detail'] or ''}")
    for t in record["timeline"]:
        typer.echo(f"  {t['at'][:16]} {t['actor']:<8} {t['kind']} {t['text'] or ''}")


@app.command("export")
@_errors
def export(
    start: Annotated[str, typer.Option("--from", help="First day of submission (YYYY-MM-DD, local).")],
    end: Annotated[str, typer.Option("--to", help="Last day of submission (YYYY-MM-DD, local).")],
    out: Annotated[Path, typer.Option("--out", help="The file to write.")],
    fmt: Annotated[str, typer.Option("--format", help="csv or xlsx.")] = "csv",
    language: Annotated[str | None, typer.Option(help="zh or en for labels (default: the default language).")] = None,
) -> None:
    """Writes statistics: counts by type, unit, status, outcome and time to acceptance."""
    settings = load_settings()
    fmt = fmt.lower()
    if fmt not in ("csv", "xlsx"):
        raise fail(f"--format: csv or xlsx, not {fmt!r}")
    first, last = _day(start, "--from"), _day(end, "--to")
    if last < first:
        raise fail("--to is before --from")
    out.parent.mkdir(parents=True, exist_ok=True)
    count = run_in_session(
        settings,
        lambda s: service.export_statistics(
            session=s, settings=settings, viewer=OPERATOR, start=first, end=last, fmt=fmt, path=out,
            language=language or settings.default_language, via="cli",
        ),
    )
    typer.echo(f"wrote {out}: {count} application(s) submitted {first} to {last}")


@app.command("dossier")
@_errors
def dossier(
    number: Annotated[str, typer.Argument(help="Application number.")],
    out: Annotated[Path, typer.Option("--out", help="The .docx file to write.")],
    language: Annotated[str | None, typer.Option(help="zh or en (default: the default language).")] = None,
) -> None:
    """Writes the printable dossier (.docx): facts, timeline, evidence with hashes, decisions."""
    settings = load_settings()
    if out.suffix.lower() != ".docx":
        raise fail("--out: the dossier is a .docx file")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = run_in_session(
        settings,
        lambda s: service.make_dossier(
            session=s, settings=settings, viewer=OPERATOR, number=number, path=out,
            language=language or settings.default_language, via="cli",
        ),
    )
    typer.echo(f"wrote {out}" + ("" if report.ok else f" (custody check found {len(report.problems)} problem(s))"))


def _print_report(report: VerifyReport) -> None:
    if report.ok:
        typer.echo(
            f"{report.number}: OK — {report.entries} custody entries chain correctly; {report.files_checked} "
            f"file(s) match their SHA-256; {report.references} reference(s), {report.purged} purged"
        )
        return
    typer.echo(f"{report.number}: MISMATCH — {len(report.problems)} problem(s):")
    for problem in report.problems:
        typer.echo(f"  {problem}")


@app.command("verify")
@_errors
def verify(number: Annotated[str, typer.Argument(help="Application number.")]) -> None:
    """Re-checks the custody log's hash chain and every stored file; exit 1 on any mismatch."""
    settings = load_settings()
    report = run_in_session(
        settings,
        lambda s: service.verify_application(session=s, settings=settings, viewer=OPERATOR, number=number, via="cli"),
    )
    _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


EXTENSIONS = {"photo": ".jpg", "video": ".mp4", "voice": ".ogg", "document": ""}


@app.command("evidence")
@_errors
def evidence(
    number: Annotated[str, typer.Argument(help="Application number.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to copy the stored files into.")],
) -> None:
    """Copies an application's stored evidence files out (each copy goes into the custody log)."""
    settings = load_settings()
    out.mkdir(parents=True, exist_ok=True)

    async def work(session: AsyncSession) -> list[str]:
        application = await service.find(session=session, number=number)
        if application is None:
            raise RightsError("not_found", number)
        view = await service.open_application(session=session, viewer=OPERATOR, via="cli", number=number)
        copied: list[str] = []
        for item in view.evidence:
            if item.status != "stored":
                typer.echo(f"evidence #{item.ordinal}: not copied ({item.status}: {item.reference_reason or 'purged'})")
                continue
            row, source = await service.download_evidence(
                session=session, settings=settings, viewer=OPERATOR, application_id=application.id,
                ordinal=item.ordinal, via="cli",
            )
            suffix = Path(row.filename).suffix if row.filename else EXTENSIONS.get(row.kind, "")
            target = out / f"{application.number}-{row.ordinal:02d}-{row.kind}{suffix}"
            shutil.copyfile(source, target)
            copied.append(target.name)
        return copied

    copied = run_in_session(settings, work)
    typer.echo(f"copied {len(copied)} file(s) to {out}")


@app.command("purge")
@_errors
def purge() -> None:
    """Deletes now the evidence files whose retention period has ended (the periodic job does it too)."""
    settings = load_settings()

    async def work(session: AsyncSession) -> sla.ScanReport:
        return await sla.purge_expired(session=session, settings=settings)

    report = run_in_session(settings, work)

    async def remove(session: AsyncSession) -> int:
        return await sla.remove_purged_files(session=session, settings=settings, hashes=report.purged_hashes)

    removed = run_in_session(settings, remove, commit=False)
    typer.echo(f"purged the evidence of {len(report.purged)} application(s); {removed} file(s) deleted")


def _limits_lines(unit_name: str, limits: sla.Limits) -> list[str]:
    lines = []
    for key, label, unit_word in (
        ("accept", "accept within", "working day(s)"),
        ("feedback", "first feedback within", "working day(s)"),
        ("decide", "decide within", "day(s)"),
    ):
        source = limits.sources.get(key)
        origin = f"set by {source}" if source else "setting"
        lines.append(f"{unit_name}: {label} {limits.get(key)} {unit_word} ({origin})")
    return lines


@limits_app.command("show")
@_errors
def limits_show(unit: Annotated[str, typer.Option("--unit", help="Unit name.")]) -> None:
    """Shows the time limits in force for a unit's rights office, and where each comes from."""
    settings = load_settings()

    async def work(session: AsyncSession) -> sla.Limits:
        found = await get_unit(session=session, name=unit.strip())
        if found is None:
            raise RightsError("no_unit", f"no such unit: {unit}")
        return await sla.limits_for(session=session, settings=settings, unit_id=found.id)

    for line in _limits_lines(unit, run_in_session(settings, work, commit=False)):
        typer.echo(line)


@limits_app.command("set")
@_errors
def limits_set(
    unit: Annotated[str, typer.Option("--unit", help="Unit name.")],
    accept: Annotated[int | None, typer.Option(help="Working days to accept.")] = None,
    feedback: Annotated[int | None, typer.Option(help="Working days to the first feedback.")] = None,
    decide: Annotated[int | None, typer.Option(help="Days to decide.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the unit's own limits.")] = False,
) -> None:
    """Sets a unit's own time limits (audited: who, when, old -> new); running clocks keep theirs."""
    settings = load_settings()

    async def work(session: AsyncSession) -> tuple[sla.Limits, sla.Limits]:
        return await sla.set_unit_limits(
            session=session, settings=settings, viewer=OPERATOR, unit_name=unit, accept=accept, feedback=feedback,
            decide=decide, clear=clear,
        )

    before, after = run_in_session(settings, work)
    for old, new in zip(_limits_lines(unit, before), _limits_lines(unit, after), strict=True):
        typer.echo(new if old == new else f"{new}  (was: {old.split(': ', 1)[1]})")
