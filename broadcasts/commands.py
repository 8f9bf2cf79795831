"""``frontline broadcasts``: send a risk tip, follow its figures, list and search past ones.

The output of ``send`` (the broadcast id alone on the last line), ``stats --json`` and
``list --json`` is a stable contract for scripts.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts import service
from broadcasts.articles import ArticleError, load_index, resolve
from broadcasts.audience import AudienceError, head_count, parse
from broadcasts.figures import Figures, figures, unit_figures
from broadcasts.media import MediaError, store_file
from broadcasts.models import Broadcast
from broadcasts.render import first_line
from broadcasts.service import BroadcastError
from core import audit, identity
from core.cli_support import cli_errors, run_in_session
from core.outbox import Media
from core.settings import Settings, load_settings

app = typer.Typer(
    help="Risk-tip broadcasts: send one, follow its figures, list and search past ones.",
    no_args_is_help=True,
)

_errors = cli_errors(BroadcastError, AudienceError, ArticleError, MediaError, ValueError)

AUDIENCE_HELP = (
    "Comma-separated: all, unit:NAME (with sub-units), unit-only:NAME, role:ROLE; "
    "join conditions with + to require all of them (role:supervisor+unit:城关分局)."
)


def _when(value: str, settings: Settings, option: str) -> datetime:
    """Parses an ISO date-time (local time unless it names its offset)."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{option}: expected a date and time like 2026-12-01 08:30, not {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=settings.tz)


def _day(value: str, settings: Settings, option: str) -> datetime:
    """Parses a date (or a date-time) as the start of that day, local time."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return _when(value, settings, option)
    return datetime.combine(day, datetime.min.time(), tzinfo=settings.tz)


def _read_text(text: str | None, text_file: Path | None) -> str:
    if (text is None) == (text_file is None):
        raise ValueError("give the tip as --text TEXT or --text-file FILE (one of them)")
    if text_file is not None:
        if str(text_file) == "-":
            return sys.stdin.read()
        return text_file.read_text(encoding="utf-8-sig")
    assert text is not None
    return text


@app.command("send")
@_errors
def send(
    sender: Annotated[str, typer.Option("--from", help="Badge of the sending officer (legal or admin role).")],
    audience: Annotated[str, typer.Option("--audience", help=AUDIENCE_HELP)],
    text: Annotated[str | None, typer.Option("--text", help="The tip's text.")] = None,
    text_file: Annotated[
        Path | None, typer.Option("--text-file", help="Read the tip's text from a UTF-8 file (- for stdin).")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="A photo (jpg, png, webp) or document to attach.")
    ] = None,
    article: Annotated[
        list[str] | None,
        typer.Option("--article", help='An article to quote under the tip, e.g. "刑事诉讼法:第七十九条" (repeatable).'),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Send later: a date and time like 2026-12-01 08:30 (local time).")
    ] = None,
    urgent: Annotated[bool, typer.Option("--urgent", help="Urgent: quiet hours do not hold it back.")] = False,
) -> None:
    """Sends (or schedules) a risk tip; the broadcast id is printed alone on the last line."""
    settings = load_settings()
    body = _read_text(text, text_file)
    parsed = parse(audience)
    quotes = resolve(load_index(settings), article or []) if article else []
    send_at = _when(at, settings, "--at") if at else None
    media: Media | None = None
    if file is not None:
        kind, stored = store_file(settings, file)
        media = Media(kind=kind, path=str(stored), filename=file.name)

    async def work(session: AsyncSession) -> tuple[Broadcast, int, int, int]:
        officer = await identity.get_officer(session=session, badge=sender)
        if officer is None:
            raise BroadcastError("no_officer", sender)
        count = await head_count(session=session, audience=parsed, exclude_officer_id=officer.id)
        broadcast = await service.create(
            session=session,
            sender=officer,
            text=body,
            audience=parsed.spec(),
            settings=settings,
            articles=quotes,
            media=media,
            send_at=send_at,
            urgent=urgent,
        )
        return broadcast, count.total, count.not_enrolled, count.unreachable

    broadcast, total, not_enrolled, unreachable = run_in_session(settings, work)
    extra = []
    if not_enrolled:
        extra.append(f"{not_enrolled} not yet enrolled, who get it when they enroll")
    if unreachable:
        extra.append(f"{unreachable} unreachable")
    who = f"{total} officer(s)" + (f" ({'; '.join(extra)})" if extra else "")
    if broadcast.status == "scheduled":
        when = broadcast.send_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
        if send_at is None:
            typer.echo(f"broadcast {broadcast.id} to {who}: its attachment is uploaded once, then it is sent")
        else:
            typer.echo(f"broadcast {broadcast.id} to {who}: scheduled for {when} ({settings.timezone})")
    else:
        typer.echo(f"broadcast {broadcast.id} to {who}: queued for delivery")
    typer.echo(str(broadcast.id))


def _figure_lines(f: Figures) -> list[str]:
    return [
        f"recipients    {f.recipients}",
        f"sent          {f.sent}",
        f"acknowledged  {f.acknowledged} ({f.ack_percent}% of sent)",
        f"unreachable   {f.unreachable}",
        f"pending       {f.pending}" + (f" ({f.awaiting_enrollment} not yet enrolled)" if f.awaiting_enrollment else ""),
        f"cancelled     {f.cancelled}",
    ]


@app.command("stats")
@_errors
def stats(
    broadcast_id: Annotated[int, typer.Argument(help="The broadcast id.")],
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"id","recipients","sent","acknowledged","unreachable","pending","cancelled"}.')
    ] = False,
    by_unit: Annotated[bool, typer.Option("--by-unit", help="Also the figures of each unit.")] = False,
) -> None:
    """Shows a broadcast's figures: recipients, sent, acknowledged, unreachable, pending, cancelled."""
    settings = load_settings()

    async def work(session: AsyncSession) -> tuple[Broadcast, Figures, list[tuple[str, Figures]]]:
        broadcast = await service.require(session=session, broadcast_id=broadcast_id)
        units = await unit_figures(session=session, broadcast_id=broadcast_id) if by_unit else []
        total = await figures(session=session, broadcast_id=broadcast_id)
        return broadcast, total, [(u.unit_name, u.figures) for u in units]

    broadcast, total, units = run_in_session(settings, work, commit=False)
    if as_json:
        data: dict[str, Any] = total.as_json()
        if by_unit:
            data = {**data, "units": [{"unit": name, **f.as_json()} for name, f in units]}
        typer.echo(json.dumps(data, ensure_ascii=False))
        return
    typer.echo(f"broadcast {broadcast.id} ({broadcast.status}): {first_line(broadcast.text)}")
    for line in _figure_lines(total):
        typer.echo(line)
    for name, f in units:
        typer.echo(
            f"  {name}: {f.recipients} recipients, {f.sent} sent, {f.acknowledged} acknowledged, "
            f"{f.unreachable} unreachable, {f.pending} pending, {f.cancelled} cancelled"
        )


def _record(broadcast: Broadcast, sender: str, f: Figures, settings: Settings) -> dict[str, Any]:
    return {
        "id": broadcast.id,
        "status": broadcast.status,
        "sender": sender,
        "audience": broadcast.audience,
        "urgent": broadcast.urgent,
        "send_at": broadcast.send_at.astimezone(settings.tz).isoformat(),
        "created_at": broadcast.created_at.astimezone(settings.tz).isoformat(),
        "text": broadcast.text,
        "articles": [f"{a['law']}:{a['article']}" for a in broadcast.articles or []],
        "media": broadcast.media_kind,
        "reminder_rounds": broadcast.reminder_rounds,
        **{k: v for k, v in f.as_json().items() if k != "id"},
    }


@app.command("list")
@_errors
def list_broadcasts(
    search: Annotated[str | None, typer.Option("--search", help="Words the tip's text contains.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Sent on or after this date (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Sent before the end of this date (YYYY-MM-DD).")] = None,
    audience: Annotated[
        str | None, typer.Option("--audience", help="A unit the tips reached, or part of an audience spec.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list, each with its figures.")] = False,
) -> None:
    """Lists broadcasts, newest first, with their figures; searches by text, date and audience."""
    settings = load_settings()
    start = _day(since, settings, "--since") if since else None
    end = None
    if until:
        end = _day(until, settings, "--until")
        if len(until.strip()) == 10:  # a date: up to the end of that day
            end += timedelta(days=1)

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        found = await service.search(
            session=session, text=search, since=start, until=end, audience=audience, limit=limit
        )
        records = []
        for broadcast in found:
            sender = await identity.get_officer_by_id(session=session, officer_id=broadcast.sender_id)
            counted = await figures(session=session, broadcast_id=broadcast.id)
            records.append(_record(broadcast, sender.badge if sender else "", counted, settings))
        return records

    records = run_in_session(settings, work, commit=False)
    if as_json:
        typer.echo(json.dumps(records, ensure_ascii=False, indent=2))
        return
    if not records:
        typer.echo("no broadcasts")
        return
    for r in records:
        when = str(r["send_at"])[:16].replace("T", " ")
        typer.echo(
            f"#{r['id']:<5} {when}  {r['status']:<9} {r['audience'][:30]:<30} "
            f"{r['sent']}/{r['recipients']} sent, {r['acknowledged']} ack, {r['unreachable']} unreachable  "
            f"{first_line(str(r['text']))}"
        )


@app.command("cancel")
@_errors
def cancel(
    broadcast_id: Annotated[int, typer.Argument(help="The broadcast id.")],
    by: Annotated[str | None, typer.Option("--by", help="Badge of the officer cancelling (for the audit log).")] = None,
) -> None:
    """Withdraws what a broadcast has not sent yet (a scheduled one entirely)."""
    settings = load_settings()

    async def work(session: AsyncSession) -> int:
        actor, actor_id = audit.CLI_ACTOR, None
        if by:
            officer = await identity.get_officer(session=session, badge=by)
            if officer is None:
                raise BroadcastError("no_officer", by)
            if not service.may_broadcast(officer):
                raise BroadcastError("forbidden", by)
            actor, actor_id = officer.badge, officer.id
        return await service.cancel(session=session, broadcast_id=broadcast_id, actor=actor, actor_id=actor_id)

    withdrawn = run_in_session(settings, work)
    typer.echo(f"broadcast {broadcast_id} cancelled: {withdrawn} tip(s) withdrawn before sending")


@app.command("remind")
@_errors
def remind(
    broadcast_id: Annotated[int, typer.Argument(help="The broadcast id.")],
    by: Annotated[str | None, typer.Option("--by", help="Badge of the officer reminding (for the audit log).")] = None,
) -> None:
    """Reminds the officers who got a tip and have not acknowledged it (limited rounds, an hour apart)."""
    settings = load_settings()

    async def work(session: AsyncSession) -> int:
        actor, actor_id = audit.CLI_ACTOR, None
        if by:
            officer = await identity.get_officer(session=session, badge=by)
            if officer is None:
                raise BroadcastError("no_officer", by)
            if not service.may_broadcast(officer):
                raise BroadcastError("forbidden", by)
            actor, actor_id = officer.badge, officer.id
        return await service.remind(
            session=session, broadcast_id=broadcast_id, actor=actor, actor_id=actor_id, settings=settings
        )

    reminded = run_in_session(settings, work)
    typer.echo(f"broadcast {broadcast_id}: reminder queued for {reminded} officer(s)")
