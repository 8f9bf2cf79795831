"""Rights applications: submit, read (through the access check), and the office's review workflow.

Every function is keyword-only and leaves the commit to the caller. Each change of an
application writes its timeline entry and audit record and queues the pushes it causes (to the
applicant, the handler or the office) in the same transaction. Reads go through
:mod:`rights.access`: a refusal is audited, and so is every view.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, identity
from core.db import utcnow
from core.holidays import load_calendar
from core.identity import Officer, Role, Unit
from core.settings import Settings
from rights import access, custody, notify, sla
from rights.access import RightsError, RightsForbidden, Viewer, actor_name, officer_id_of
from rights.dossier import write_dossier
from rights.evidence import EvidenceFetcher, EvidenceItem, ensure_stored, path_for
from rights.export import export_rows, summarize, write_csv, write_xlsx
from rights.models import (
    FINAL_STATUSES,
    EvidenceStatus,
    RightsApplication,
    RightsCounter,
    RightsEvent,
    RightsEvidence,
    RightsOutcome,
    Status,
)
from rights.views import ApplicationView, load_view
from rights.vocab import HELP, KINDS, N_, OUTCOME_DETAIL_REQUIRED, OUTCOMES, TYPES

__all__ = ["Draft", "RightsError", "RightsForbidden"]

MAX_EVIDENCE = 20  # per submission and per reply
MAX_TEXT = 3000  # anything typed: an account, a note, a reason, a clearance notice
NUMBER_PREFIX = "WQ"

# which actions each status allows
ALLOWED: dict[str, frozenset[Status]] = {
    "accept": frozenset({Status.SUBMITTED}),
    "reject": frozenset({Status.SUBMITTED}),
    "investigate": frozenset({Status.ACCEPTED}),
    "request": frozenset({Status.SUBMITTED, Status.ACCEPTED, Status.INVESTIGATING}),
    "resume": frozenset({Status.WAITING}),
    "decide": frozenset({Status.ACCEPTED, Status.INVESTIGATING, Status.WAITING, Status.DECIDED}),
    "close": frozenset({Status.DECIDED}),
    "note": frozenset(Status) - FINAL_STATUSES,
    "assign": frozenset(Status) - FINAL_STATUSES,
    "transfer": frozenset({Status.SUBMITTED, Status.ACCEPTED, Status.INVESTIGATING, Status.WAITING}),
    "withdraw": frozenset({Status.SUBMITTED, Status.ACCEPTED, Status.INVESTIGATING, Status.WAITING}),
    "reply": frozenset({Status.WAITING}),
}


@dataclass
class Draft:
    """An application being filled in (kept as JSON in the conversation state until submitted)."""

    type: str | None = None
    occurred_at: datetime | None = None
    occurred_precision: str = "minute"  # minute | day
    place: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    account: str | None = None
    people: str | None = None
    help_wanted: list[str] = field(default_factory=list)
    evidence: list[EvidenceItem] = field(default_factory=list)
    # names this draft: submitting it twice (a double tap) gives the one application
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_json(self) -> dict[str, Any]:
        """Returns the draft as plain JSON."""
        return {
            "key": self.key,
            "type": self.type,
            "occurred_at": self.occurred_at.isoformat() if self.occurred_at else None,
            "occurred_precision": self.occurred_precision,
            "place": self.place,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "account": self.account,
            "people": self.people,
            "help_wanted": list(self.help_wanted),
            "evidence": [item.to_json() for item in self.evidence],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Draft:
        """Builds a draft from :meth:`to_json` output (an empty draft from nothing)."""
        data = data or {}
        occurred = data.get("occurred_at")
        return cls(
            key=str(data.get("key") or uuid.uuid4().hex),
            type=data.get("type"),
            occurred_at=datetime.fromisoformat(occurred) if occurred else None,
            occurred_precision=data.get("occurred_precision") or "minute",
            place=data.get("place"),
            latitude=data.get("latitude"),
            longitude=data.get("longitude"),
            account=data.get("account"),
            people=data.get("people"),
            help_wanted=[str(code) for code in data.get("help_wanted") or [] if code in HELP],
            evidence=[EvidenceItem.from_json(item) for item in data.get("evidence") or []],
        )

    @property
    def files(self) -> list[EvidenceItem]:
        """The evidence proper (not the voice note telling what happened)."""
        return [item for item in self.evidence if item.purpose != "account"]

    def missing(self) -> list[str]:
        """Lists what must still be given before the draft can be submitted (msgids)."""
        missing = []
        if self.type not in TYPES:
            missing.append(N_("the type"))
        if not (self.account and self.account.strip()) and not any(i.purpose == "account" for i in self.evidence):
            missing.append(N_("what happened"))
        return missing


def _check_text(text: str | None, what: str, *, required: bool = True) -> str | None:
    text = (text or "").strip()
    if not text:
        if required:
            raise RightsError("empty", what)
        return None
    if len(text) > MAX_TEXT:
        raise RightsError("too_long", what)
    return text


def _insert_for(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def next_number(*, session: AsyncSession, year: int) -> str:
    """Gives out the next application number of a year: WQ-2026-000123."""
    insert = _insert_for(session)
    statement = (
        insert(RightsCounter)
        .values(year=year, last=1)
        .on_conflict_do_update(index_elements=["year"], set_={"last": RightsCounter.last + 1})
        .returning(RightsCounter.last)
    )
    last = (await session.execute(statement)).scalar_one()
    return f"{NUMBER_PREFIX}-{year}-{last:06d}"


def _event(
    session: AsyncSession,
    application: RightsApplication,
    viewer: Viewer,
    kind: str,
    *,
    at: datetime,
    status_from: str | None = None,
    status_to: str | None = None,
    text: str | None = None,
    to_applicant: bool = False,
    detail: dict[str, Any] | None = None,
) -> RightsEvent:
    event = RightsEvent(
        application_id=application.id,
        at=at,
        actor_id=officer_id_of(viewer),
        actor=actor_name(viewer),
        kind=kind,
        status_from=status_from,
        status_to=status_to,
        text=text,
        to_applicant=to_applicant,
        detail=detail or {},
    )
    session.add(event)
    return event


async def _audit(
    session: AsyncSession, viewer: Viewer, action: str, application: RightsApplication, at: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    await audit.record(
        session=session,
        actor=actor_name(viewer),
        action=f"rights.{action}",
        target_type="rights_application",
        target_id=application.number,
        officer_id=officer_id_of(viewer),
        detail=detail or {},
        at=at,
    )


def _require_state(application: RightsApplication, action: str) -> None:
    if Status(application.status) not in ALLOWED[action]:
        raise RightsError("bad_state", application.status)


def _move(application: RightsApplication, status: Status, at: datetime) -> str:
    before = application.status
    application.status = status.value
    application.updated_at = at
    return before


async def _add_evidence(
    *,
    session: AsyncSession,
    application: RightsApplication,
    items: Sequence[EvidenceItem],
    added_by: Officer,
    at: datetime,
    event_id: int | None = None,
) -> list[RightsEvidence]:
    """Writes evidence rows and their custody entries (received, then stored or reference)."""
    last = await session.scalar(
        select(func.max(RightsEvidence.ordinal)).where(RightsEvidence.application_id == application.id)
    )
    rows = []
    for offset, item in enumerate(items, start=1):
        if item.kind not in KINDS:
            raise RightsError("bad_kind", item.kind)
        row = RightsEvidence(
            application_id=application.id,
            ordinal=(last or 0) + offset,
            kind=item.kind,
            purpose=item.purpose if item.purpose in ("evidence", "account") else "evidence",
            file_id=item.file_id,
            file_unique_id=item.file_unique_id,
            filename=item.filename,
            mime_type=item.mime_type,
            declared_size=item.declared_size,
            size=item.size,
            sha256=item.sha256,
            status=EvidenceStatus.STORED.value if item.sha256 else EvidenceStatus.REFERENCE.value,
            reference_reason=None if item.sha256 else (item.reference_reason or "unavailable"),
            event_id=event_id,
            added_by_id=added_by.id,
            received_at=datetime.fromisoformat(item.received_at) if item.received_at else at,
        )
        session.add(row)
        rows.append(row)
    await session.flush()
    for row in rows:
        await custody.append(
            session=session, application=application, actor=added_by.badge, action=custody.RECEIVED,
            evidence_id=row.id, at=at,
            detail={
                "ordinal": row.ordinal, "kind": row.kind, "purpose": row.purpose, "file_id": row.file_id,
                "file_unique_id": row.file_unique_id, "filename": row.filename, "declared_size": row.declared_size,
                "received_at": row.received_at.isoformat(),
            },
        )
        if row.sha256:
            await custody.append(
                session=session, application=application, actor=audit.SYSTEM_ACTOR, action=custody.STORED,
                evidence_id=row.id, sha256=row.sha256, at=at, detail={"ordinal": row.ordinal, "size": row.size},
            )
        else:
            await custody.append(
                session=session, application=application, actor=audit.SYSTEM_ACTOR, action=custody.REFERENCE,
                evidence_id=row.id, at=at, detail={"ordinal": row.ordinal, "reason": row.reference_reason},
            )
    return rows


# --- the applicant's side ----------------------------------------------------------------------


async def submit(
    *,
    session: AsyncSession,
    settings: Settings,
    applicant: Officer,
    draft: Draft,
    fetcher: EvidenceFetcher | None = None,
    now: datetime | None = None,
) -> RightsApplication:
    """Submits an application: numbers it, stores its evidence, starts the clock and tells the office."""
    missing = draft.missing()
    if missing:
        raise RightsError("incomplete", ", ".join(missing))
    if len(draft.files) > MAX_EVIDENCE:
        raise RightsError("too_many", str(MAX_EVIDENCE))
    account = _check_text(draft.account, "account", required=False)
    people = _check_text(draft.people, "people", required=False)
    place = _check_text(draft.place, "place", required=False)
    # One submission per draft, even when it is sent twice at once: the applicant's row is the lock
    # (PostgreSQL; SQLite has one writer), and a draft already submitted gives its application back.
    await session.execute(select(Officer.id).where(Officer.id == applicant.id).with_for_update())
    existing = await session.scalar(select(RightsApplication).where(RightsApplication.draft_key == draft.key))
    if existing is not None:
        return existing
    now = now or utcnow()
    items = [await ensure_stored(settings=settings, fetcher=fetcher, item=item) for item in draft.evidence]
    office = await identity.nearest_with_role(
        session=session, unit_id=applicant.unit_id, role=Role.RIGHTS, exclude=applicant.id
    )
    office_unit_id = office[0].unit_id if office else None
    limits = await sla.limits_for(session=session, settings=settings, unit_id=office_unit_id)
    calendar = load_calendar(settings)
    number = await next_number(session=session, year=now.astimezone(settings.tz).year)
    application = RightsApplication(
        number=number,
        draft_key=draft.key,
        applicant_id=applicant.id,
        applicant_unit_id=applicant.unit_id,
        office_unit_id=office_unit_id,
        type=draft.type,
        status=Status.SUBMITTED.value,
        occurred_at=draft.occurred_at,
        occurred_precision=draft.occurred_precision if draft.occurred_precision in ("minute", "day") else "minute",
        place=place,
        latitude=draft.latitude,
        longitude=draft.longitude,
        account=account,
        people=people,
        help_wanted=[code for code in draft.help_wanted if code in HELP],
        submitted_at=now,
        accept_due_at=sla.due_after(now, key="accept", amount=limits.accept, calendar=calendar, tz=settings.tz),
        limits={"accept": limits.accept},
        sla_marks={},
        custody_seq=0,
        created_at=now,
        updated_at=now,
    )
    session.add(application)
    await session.flush()
    _event(session, application, applicant, "submitted", at=now, status_to=Status.SUBMITTED.value,
           detail={"office_unit_id": office_unit_id})
    await _add_evidence(session=session, application=application, items=items, added_by=applicant, at=now)
    await _audit(session, applicant, "submitted", application, now, {
        "type": application.type, "evidence": len(items), "office_unit_id": office_unit_id,
    })
    view = await load_view(session=session, application=application)
    if office:
        await notify.application_to_office(
            session=session, settings=settings, view=view, recipients=office, key="new"
        )
    else:
        admins = [o for o in await identity.officers_with_role(session=session, role=Role.ADMIN) if o.id != applicant.id]
        await notify.to_office(
            session=session, settings=settings, view=view, key="no-office", recipients=admins,
            headline=N_("submitted, but no unit above the applicant has a rights office: give someone the rights role."),
        )
    return application


async def reply(
    *,
    session: AsyncSession,
    settings: Settings,
    applicant: Officer,
    application_id: int,
    text: str | None,
    evidence: Sequence[EvidenceItem] = (),
    fetcher: EvidenceFetcher | None = None,
    now: datetime | None = None,
) -> RightsApplication:
    """Answers the office's request for more information; the clocks run again, moved by the pause."""
    application = await _get(session=session, application_id=application_id, lock=True)
    if application.applicant_id != applicant.id:
        raise await _refused(session, applicant, application, "reply")
    _require_state(application, "reply")
    text = _check_text(text, "reply", required=not evidence)
    if len(evidence) > MAX_EVIDENCE:
        raise RightsError("too_many", str(MAX_EVIDENCE))
    now = now or utcnow()
    items = [await ensure_stored(settings=settings, fetcher=fetcher, item=item) for item in evidence]
    moved = sla.resume_clocks(application, now=now, calendar=load_calendar(settings), tz=settings.tz)
    before = _move(application, Status(application.resume_status or Status.ACCEPTED), now)
    application.resume_status = None
    event = _event(session, application, applicant, "reply", at=now, status_from=before,
                   status_to=application.status, text=text, detail={"evidence": len(items), "moved": moved})
    await session.flush()
    rows = await _add_evidence(
        session=session, application=application, items=items, added_by=applicant, at=now, event_id=event.id
    )
    await _audit(session, applicant, "reply", application, now, {"evidence": len(rows), "moved": moved})
    view = await load_view(session=session, application=application)
    await notify.to_office(
        session=session, settings=settings, view=view, key=f"reply:{event.id}", text=text, evidence=rows,
        headline=N_("the applicant sent the information you asked for."),
    )
    return application


async def withdraw(
    *, session: AsyncSession, settings: Settings, applicant: Officer, application_id: int, now: datetime | None = None
) -> RightsApplication:
    """Withdraws an application at the applicant's request."""
    application = await _get(session=session, application_id=application_id, lock=True)
    if application.applicant_id != applicant.id:
        raise await _refused(session, applicant, application, "withdraw")
    _require_state(application, "withdraw")
    now = now or utcnow()
    before = _move(application, Status.WITHDRAWN, now)
    _end(application, now)
    application.withdrawn_at = now
    event = _event(session, application, applicant, "withdrawn", at=now, status_from=before,
                   status_to=Status.WITHDRAWN.value)
    await session.flush()
    await _audit(session, applicant, "withdrawn", application, now)
    view = await load_view(session=session, application=application)
    await notify.to_office(
        session=session, settings=settings, view=view, key=f"withdrawn:{event.id}",
        headline=N_("the applicant withdrew the application."),
    )
    return application


def _end(application: RightsApplication, at: datetime) -> None:
    application.ended_at = at
    application.accept_due_at = application.feedback_due_at = application.decide_due_at = None
    application.waiting_since = None
    application.resume_status = None


# --- reading -----------------------------------------------------------------------------------


async def find(*, session: AsyncSession, number: str) -> RightsApplication | None:
    """Gets an application by its number (no access check: for callers that check next)."""
    return await session.scalar(select(RightsApplication).where(RightsApplication.number == number.strip().upper()))


async def _get(*, session: AsyncSession, application_id: int, lock: bool = False) -> RightsApplication:
    """Gets an application; ``lock`` takes its row for the rest of the transaction (PostgreSQL) and reads it
    fresh, so a second tap racing the first sees what the first did (and is refused) instead of doing it again."""
    if not lock:
        application = await session.get(RightsApplication, application_id)
    else:
        application = await session.scalar(
            select(RightsApplication)
            .where(RightsApplication.id == application_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    if application is None:
        raise RightsError("not_found", str(application_id))
    return application


async def _refused(session: AsyncSession, viewer: Viewer, application: RightsApplication, action: str) -> RightsForbidden:
    await audit.record(
        session=session, actor=actor_name(viewer), action="rights.refused", target_type="rights_application",
        target_id=application.number, officer_id=officer_id_of(viewer), detail={"attempted": action},
    )
    return RightsForbidden(f"{actor_name(viewer)} may not {action} {application.number}")


async def open_application(
    *,
    session: AsyncSession,
    viewer: Viewer,
    via: str,
    number: str | None = None,
    application_id: int | None = None,
    with_events: bool = False,
) -> ApplicationView:
    """Opens an application for a viewer: checks access, audits the view, loads what is shown with it."""
    application = (
        await find(session=session, number=number)
        if number is not None
        else await session.get(RightsApplication, application_id)
    )
    if application is None:
        raise RightsError("not_found", number or str(application_id))
    await access.require_view(session=session, viewer=viewer, application=application, via=via)
    return await load_view(session=session, application=application, with_events=with_events)


async def list_own(*, session: AsyncSession, applicant: Officer, via: str, limit: int = 20) -> list[RightsApplication]:
    """Lists an officer's own applications, newest first (the listing is audited)."""
    rows = list(
        await session.scalars(
            select(RightsApplication)
            .where(RightsApplication.applicant_id == applicant.id)
            .order_by(RightsApplication.id.desc())
            .limit(limit)
        )
    )
    await access.audit_listing(session=session, viewer=applicant, numbers=[r.number for r in rows], via=via)
    return rows


async def search(
    *,
    session: AsyncSession,
    viewer: Viewer,
    via: str,
    statuses: Sequence[str] | None = None,
    unit: str | None = None,
    submitted_from: datetime | None = None,
    submitted_to: datetime | None = None,
    limit: int | None = None,
) -> list[RightsApplication]:
    """Lists the applications a viewer may see as the office, oldest first, optionally filtered.

    ``unit`` keeps those of applicants in that unit or below it. The listing is audited.
    """
    query = select(RightsApplication)
    condition = await access.visible_filter(session=session, viewer=viewer, office=True)
    if condition is not None:
        query = query.where(condition)
    if statuses:
        unknown = [s for s in statuses if s not in {status.value for status in Status}]
        if unknown:
            raise RightsError("bad_status", ", ".join(unknown))
        query = query.where(RightsApplication.status.in_(list(statuses)))
    if unit is not None:
        found = await identity.get_unit(session=session, name=unit.strip())
        if found is None:
            raise RightsError("no_unit", f"no such unit: {unit}")
        below = await identity.unit_subtree_ids(session=session, unit_ids=[found.id])
        query = query.where(RightsApplication.applicant_unit_id.in_(below))
    if submitted_from is not None:
        query = query.where(RightsApplication.submitted_at >= submitted_from)
    if submitted_to is not None:
        query = query.where(RightsApplication.submitted_at < submitted_to)
    query = query.order_by(RightsApplication.submitted_at, RightsApplication.id)
    if limit is not None:
        query = query.limit(limit)
    rows = list(await session.scalars(query))
    await access.audit_listing(
        session=session, viewer=viewer, numbers=[r.number for r in rows], via=via,
        detail={"statuses": list(statuses or []), "unit": unit},
    )
    return rows


async def evidence_counts(*, session: AsyncSession, application_ids: Sequence[int]) -> dict[int, int]:
    """Counts the evidence of several applications."""
    if not application_ids:
        return {}
    rows = await session.execute(
        select(RightsEvidence.application_id, func.count())
        .where(RightsEvidence.application_id.in_(list(application_ids)))
        .group_by(RightsEvidence.application_id)
    )
    return {app_id: int(count) for app_id, count in rows}


async def show_evidence(
    *,
    session: AsyncSession,
    viewer: Viewer,
    application_id: int,
    via: str,
    send_to: Officer | None = None,
) -> tuple[ApplicationView, list[RightsEvidence]]:
    """Shows an application's evidence to a viewer (sent again to ``send_to``'s chat); each item viewed
    goes into the custody log."""
    application = await _get(session=session, application_id=application_id)
    await access.require_view(session=session, viewer=viewer, application=application, via=via, what="view_evidence")
    view = await load_view(session=session, application=application)
    shown = [item for item in view.evidence if item.status != EvidenceStatus.PURGED]
    now = utcnow()
    for item in shown:
        await custody.append(
            session=session, application=application, actor=actor_name(viewer), action=custody.VIEWED,
            evidence_id=item.id, sha256=item.sha256, at=now, detail={"ordinal": item.ordinal, "via": via},
        )
    if send_to is not None and shown:
        await notify.evidence_to_viewer(session=session, view=view, evidence=shown, officer=send_to)
    return view, shown


async def download_evidence(
    *, session: AsyncSession, settings: Settings, viewer: Viewer, application_id: int, ordinal: int, via: str,
    now: datetime | None = None, inline: bool = False,
) -> tuple[RightsEvidence, Path]:
    """Hands a viewer one stored evidence file (for the desk or the command line to copy out); the download
    goes into the custody log and the audit log. RightsError("not_stored") for a reference or a purged item.

    ``inline``: the file is only shown (a photo or video on the desk's page), logged as viewed."""
    application = await _get(session=session, application_id=application_id)
    await access.require_view(
        session=session, viewer=viewer, application=application, via=via,
        what="view_file" if inline else "download", detail={"ordinal": ordinal},
    )
    item = await session.scalar(
        select(RightsEvidence).where(RightsEvidence.application_id == application.id, RightsEvidence.ordinal == ordinal)
    )
    if item is None:
        raise RightsError("not_found", f"{application.number} evidence #{ordinal}")
    if item.status != EvidenceStatus.STORED or item.sha256 is None:
        raise RightsError("not_stored", f"{application.number} evidence #{ordinal} ({item.status})")
    path = path_for(settings, item.sha256)
    if not path.is_file():
        raise RightsError("not_stored", f"{application.number} evidence #{ordinal} (missing from the store)")
    await custody.append(
        session=session, application=application, actor=actor_name(viewer),
        action=custody.VIEWED if inline else custody.DOWNLOADED,
        evidence_id=item.id, sha256=item.sha256, at=now or utcnow(), detail={"ordinal": ordinal, "via": via},
    )
    return item, path


# --- the office's side -------------------------------------------------------------------------


async def _for_office(
    session: AsyncSession, viewer: Viewer, application_id: int, action: str, via: str
) -> RightsApplication:
    application = await _get(session=session, application_id=application_id, lock=True)
    await access.require_handle(session=session, viewer=viewer, application=application, action=action, via=via)
    _require_state(application, action)
    return application


def _first_feedback(application: RightsApplication, at: datetime) -> None:
    if application.first_feedback_at is None and application.accepted_at is not None:
        application.first_feedback_at = at
    if application.accepted_at is not None:
        application.feedback_due_at = None


async def accept(
    *, session: AsyncSession, settings: Settings, viewer: Viewer, application_id: int, via: str,
    now: datetime | None = None,
) -> RightsApplication:
    """Accepts an application: starts the feedback and decision clocks; the accepting officer handles it
    unless someone already does."""
    application = await _for_office(session, viewer, application_id, "accept", via)
    now = now or utcnow()
    limits = await sla.limits_for(session=session, settings=settings, unit_id=application.office_unit_id)
    calendar = load_calendar(settings)
    before = _move(application, Status.ACCEPTED, now)
    due = application.accept_due_at
    on_time = {"due": due.isoformat(), "on_time": now <= due} if due is not None else {}
    application.accepted_at = now
    application.accept_due_at = None
    application.feedback_due_at = sla.due_after(now, key="feedback", amount=limits.feedback, calendar=calendar, tz=settings.tz)
    application.decide_due_at = sla.due_after(now, key="decide", amount=limits.decide, calendar=calendar, tz=settings.tz)
    application.limits = {**(application.limits or {}), "feedback": limits.feedback, "decide": limits.decide}
    if application.handler_id is None and isinstance(viewer, Officer):
        application.handler_id = viewer.id
    event = _event(session, application, viewer, "accepted", at=now, status_from=before,
                   status_to=Status.ACCEPTED.value, detail=on_time)
    await session.flush()
    await _audit(session, viewer, "accepted", application, now)
    view = await load_view(session=session, application=application)
    await notify.to_applicant(
        session=session, settings=settings, view=view, key=f"accepted:{event.id}",
        headline=N_("your application has been accepted."),
    )
    return application


async def start_investigation(
    *, session: AsyncSession, settings: Settings, viewer: Viewer, application_id: int, via: str,
    now: datetime | None = None,
) -> RightsApplication:
    """Starts checking the facts (核查)."""
    application = await _for_office(session, viewer, application_id, "investigate", via)
    now = now or utcnow()
    before = _move(application, Status.INVESTIGATING, now)
    application.investigating_at = now
    event = _event(session, application, viewer, "investigating", at=now, status_from=before,
                   status_to=Status.INVESTIGATING.value)
    await session.flush()
    await _audit(session, viewer, "investigating", application, now)
    view = await load_view(session=session, application=application)
    await notify.to_applicant(
        session=session, settings=settings, view=view, key=f"investigating:{event.id}",
        headline=N_("the office has started checking the facts."),
    )
    return application


async def handlers_for(*, session: AsyncSession, application: RightsApplication) -> list[Officer]:
    """Lists who may be made handler: the active rights officers of the office."""
    return await notify.office_officers(session=session, application=application)


async def assign(
    *, session: AsyncSession, settings: Settings, viewer: Viewer, application_id: int, handler_id: int, via: str,
    now: datetime | None = None,
) -> RightsApplication:
    """Makes a rights officer of the office the handler; tells them and the applicant."""
    application = await _for_office(session, viewer, application_id, "assign", via)
    candidates = {o.id: o for o in await handlers_for(session=session, application=application)}
    handler = candidates.get(handler_id)
    if handler is None:
        raise RightsError("bad_handler", str(handler_id))
    now = now or utcnow()
    previous = application.handler_id
    application.handler_id = handler.id
    application.updated_at = now
    event = _event(session, application, viewer, "assigned", at=now,
                   detail={"handler": handler.badge, "previous_handler_id": previous})
    await session.flush()
    await _audit(session, viewer, "assigned", application, now, {"handler": handler.badge})
    view = await load_view(session=session, application=application)
    await notify.to_applicant(
        session=session, settings=settings, view=view, key=f"assigned:{event.id}",
        headline=N_("a handler has been assigned to your application."),
    )
    if not isinstance(viewer, Officer) or viewer.id != handler.id:
        await notify.to_office(
            session=session, settings=settings, view=view, key=f"assigned:{event.id}", recipients=[handler],
            headline=N_("you have been made the handler of this application."),
        )
    return application


async def add_note(
    *, session: AsyncSession, settings: Settings, viewer: Viewer, application_id: int, text: str,
    to_applicant: bool, via: str, now: datetime | None = None,
) -> RightsApplication:
    """Records a progress note; one shared with the applicant counts as feedback and is pushed to them."""
    application = await _for_office(session, viewer, application_id, "note", via)
    checked = _check_text(text, "note")
    now = now or utcnow()
    if to_applicant:
        _first_feedback(application, now)
    application.updated_at = now
    event = _event(session, application, viewer, "note", at=now, text=checked, to_applicant=to_applicant)
    await session.flush()
    await _audit(session, viewer, "note", application, now, {"to_applicant": to_applicant})
    if to_applicant:
        view = await load_view(session=session, application=application)
        await notify.to_applicant(
            session=session, settings=settings, view=view, key=f"note:{event.id}", text=checked,
            headline=N_("progress from the office:"),
        )
    return application


async def request_more(
    *, session: AsyncSession, settings: Settings, viewer: Viewer, application_id: int, text: str, via: str,
    now: datetime | None = None,
) -> RightsApplication:
    """Asks the applicant for more information: the clocks pause until they reply (or the office resumes)."""
    application = await _for_office(session, viewer, application_id, "request", via)
    checked = _check_text(text, "request")
    now = now or utcnow()
    _first_feedback(application, now)
    application.resume_status = application.status
    application.waiting_since = now
    before = _move(application, Status.WAITING, now)
    event = _event(session, application, viewer, "request", at=now, status_from=before,
                   status_to=Status.WAITING.value, text=checked, to_applicant=True)
    await session.flush()
    await _audit(session, viewer, "request", application, now)
    view = await load_view(session=session, application=application)
    await notify.to_applicant(
        session=session, settings=settings, view=view, key=f"request:{event.id}", text=checked,
        headline=N_("the office asks you for more information:"),
    )
    return application


async def resume(
    *, session: AsyncSession, settings: Settings, viewer: Viewer, application_id: int, via: str,
    now: datetime | None = None,
) -> RightsApplication:
    """Stops waiting for the applicant without a reply; the clocks run again, moved by the pause."""
    application = await _for_office(session, viewer, application_id, "resume", via)
    now = now or utcnow()
    moved = sla.resume_clocks(application, now=now, calendar=load_calendar(settings), tz=settings.tz)
    before = _move(application, Status(application.resume_status or Status.ACCEPTED), now)
    application.resume_status = None
    event = _event(session, application, viewer, "resumed", at=now, status_from=before,
                   status_to=application.status, detail={"moved": moved})
    await session.flush()
    await _audit(session, viewer, "resumed", application, now, {"moved": moved})
    view = await load_view(session=session, application=application)
    await notify.to_applicant(
        session=session, settings=settings, view=view, key=f"resumed:{event.id}",
        headline=N_("the office is going on without waiting for more information."),
    )
    return application


async def decide(
    *, session: AsyncSession, settings: Settings, viewer: Viewer, application_id: int, outcome: str,
    detail: str | None, via: str, now: datetime | None = None,
) -> RightsApplication:
    """Records an outcome of the decision (several may be given, except with 不予支持) and tells the applicant."""
    application = await _for_office(session, viewer, application_id, "decide", via)
    if outcome not in OUTCOMES:
        raise RightsError("bad_outcome", outcome)
    text = _check_text(detail, "detail", required=outcome in OUTCOME_DETAIL_REQUIRED)
    existing = {
        row.kind for row in await session.scalars(
            select(RightsOutcome).where(RightsOutcome.application_id == application.id)
        )
    }
    if existing and (outcome == "not_supported") != ("not_supported" in existing):
        raise RightsError("outcome_conflict", outcome)
    now = now or utcnow()
    if application.status == Status.WAITING:
        sla.resume_clocks(application, now=now, calendar=load_calendar(settings), tz=settings.tz)
        application.resume_status = None
    _first_feedback(application, now)
    before = _move(application, Status.DECIDED, now)
    if application.decided_at is None:
        application.decided_at = now
    application.decide_due_at = None
    session.add(
        RightsOutcome(
            application_id=application.id, kind=outcome, detail=text, decided_by_id=officer_id_of(viewer),
            decided_by=actor_name(viewer), at=now,
        )
    )
    event = _event(session, application, viewer, "decided", at=now, status_from=before,
                   status_to=Status.DECIDED.value, text=text, to_applicant=True, detail={"outcome": outcome})
    await session.flush()
    await _audit(session, viewer, "decided", application, now, {"outcome": outcome})
    view = await load_view(session=session, application=application)
    await notify.to_applicant(
        session=session, settings=settings, view=view, key=f"decided:{event.id}", with_outcomes=True,
        headline=N_("the office has decided:"),
    )
    return application


async def close(
    *, session: AsyncSession, settings: Settings, viewer: Viewer, application_id: int, via: str,
    now: datetime | None = None,
) -> RightsApplication:
    """Closes a decided application; the retention period of its evidence starts."""
    application = await _for_office(session, viewer, application_id, "close", via)
    now = now or utcnow()
    before = _move(application, Status.CLOSED, now)
    application.closed_at = now
    _end(application, now)
    event = _event(session, application, viewer, "closed", at=now, status_from=before, status_to=Status.CLOSED.value)
    await session.flush()
    await _audit(session, viewer, "closed", application, now)
    view = await load_view(session=session, application=application)
    await notify.to_applicant(
        session=session, settings=settings, view=view, key=f"closed:{event.id}", with_outcomes=True,
        headline=N_("your application is closed."),
    )
    return application


async def reject(
    *, session: AsyncSession, settings: Settings, viewer: Viewer, application_id: int, reason: str, via: str,
    now: datetime | None = None,
) -> RightsApplication:
    """Rejects an application that is not for the office to take (with the reason, told to the applicant)."""
    application = await _for_office(session, viewer, application_id, "reject", via)
    checked = _check_text(reason, "reason")
    now = now or utcnow()
    before = _move(application, Status.REJECTED, now)
    application.rejected_at = now
    application.reject_reason = checked
    _end(application, now)
    event = _event(session, application, viewer, "rejected", at=now, status_from=before,
                   status_to=Status.REJECTED.value, text=checked, to_applicant=True)
    await session.flush()
    await _audit(session, viewer, "rejected", application, now)
    view = await load_view(session=session, application=application)
    await notify.to_applicant(
        session=session, settings=settings, view=view, key=f"rejected:{event.id}", text=checked,
        headline=N_("your application was not accepted. Reason:"),
    )
    return application


async def transfer_targets(*, session: AsyncSession, application: RightsApplication) -> list[Unit]:
    """Lists the units with a rights office an application could be transferred to."""
    holders = await identity.officers_with_role(session=session, role=Role.RIGHTS)
    ids = {o.unit_id for o in holders if o.id != application.applicant_id} - {application.office_unit_id}
    if not ids:
        return []
    return list(await session.scalars(select(Unit).where(Unit.id.in_(ids)).order_by(Unit.name)))


async def transfer(
    *, session: AsyncSession, settings: Settings, viewer: Viewer, application_id: int, unit_id: int, reason: str,
    via: str, now: datetime | None = None,
) -> RightsApplication:
    """Passes an application to another unit's rights office, with its evidence; the clocks keep running."""
    application = await _for_office(session, viewer, application_id, "transfer", via)
    checked = _check_text(reason, "reason")
    targets = {unit.id: unit for unit in await transfer_targets(session=session, application=application)}
    target = targets.get(unit_id)
    if target is None:
        raise RightsError("bad_unit", str(unit_id))
    now = now or utcnow()
    previous = application.office_unit_id
    application.office_unit_id = target.id
    application.handler_id = None
    application.updated_at = now
    event = _event(session, application, viewer, "transferred", at=now, text=checked,
                   detail={"from_unit_id": previous, "to_unit": target.name})
    await session.flush()
    await _audit(session, viewer, "transferred", application, now, {"from_unit_id": previous, "to": target.name})
    view = await load_view(session=session, application=application)
    recipients = await notify.office_officers(session=session, application=application)
    await notify.application_to_office(
        session=session, settings=settings, view=view, recipients=recipients, key=f"transfer:{event.id}",
        transferred=True, note=checked,
    )
    await notify.to_applicant(
        session=session, settings=settings, view=view, key=f"transferred:{event.id}",
        headline=N_("your application has been passed to another rights office."),
    )
    return application


# --- dossier, statistics, verification ---------------------------------------------------------


async def verify_application(
    *, session: AsyncSession, settings: Settings, viewer: Viewer, number: str, via: str
) -> custody.VerifyReport:
    """Re-checks an application's custody log and stored files (the check itself is audited)."""
    application = await find(session=session, number=number)
    if application is None:
        raise RightsError("not_found", number)
    await access.require_view(session=session, viewer=viewer, application=application, via=via, what="verify")
    report = await custody.verify(session=session, settings=settings, application=application)
    await audit.record(
        session=session, actor=actor_name(viewer), action="rights.verified", target_type="rights_application",
        target_id=application.number, officer_id=officer_id_of(viewer),
        detail={"ok": report.ok, "entries": report.entries, "files": report.files_checked, "problems": report.problems},
    )
    return report


async def make_dossier(
    *,
    session: AsyncSession,
    settings: Settings,
    viewer: Viewer,
    number: str,
    path: Path,
    language: str,
    via: str,
    now: datetime | None = None,
) -> custody.VerifyReport:
    """Writes the printable dossier of an application; the export goes into the audit and custody logs."""
    application = await find(session=session, number=number)
    if application is None:
        raise RightsError("not_found", number)
    await access.require_view(
        session=session, viewer=viewer, application=application, via=via, what="dossier", detail={"file": path.name}
    )
    now = now or utcnow()
    report = await custody.verify(session=session, settings=settings, application=application)
    view = await load_view(session=session, application=application, with_events=True)
    write_dossier(path, view, language=language, tz=settings.tz, verified=report, made_by=actor_name(viewer), made_at=now)
    await custody.append(
        session=session, application=application, actor=actor_name(viewer), action=custody.EXPORTED, at=now,
        detail={"dossier": path.name, "evidence": [item.ordinal for item in view.evidence], "via": via},
    )
    return report


async def export_statistics(
    *,
    session: AsyncSession,
    settings: Settings,
    viewer: Viewer,
    start: date,
    end: date,
    fmt: str,
    path: Path,
    language: str,
    via: str,
) -> int:
    """Writes the statistics of the applications submitted from ``start`` to ``end`` (local days,
    inclusive) that the viewer may see; returns how many went in."""
    if fmt not in ("csv", "xlsx"):
        raise RightsError("bad_format", fmt)
    if end < start:
        raise RightsError("bad_period", f"{start} > {end}")
    tz = settings.tz
    begin = datetime.combine(start, time(0), tzinfo=tz)
    finish = datetime.combine(end + timedelta(days=1), time(0), tzinfo=tz)
    applications = await search(session=session, viewer=viewer, via=via, submitted_from=begin, submitted_to=finish)
    rows = await export_rows(session=session, applications=applications)
    summary = summarize(rows, language)
    if fmt == "csv":
        write_csv(path, summary)
    else:
        write_xlsx(path, summary, rows, tz)
    await audit.record(
        session=session, actor=actor_name(viewer), action="rights.export", target_type="rights_export",
        target_id=path.name, officer_id=officer_id_of(viewer),
        detail={"from": start.isoformat(), "to": end.isoformat(), "format": fmt, "applications": len(rows), "via": via},
    )
    return len(rows)
