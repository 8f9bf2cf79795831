"""Rights applications: the rights office's list, one application with its evidence and custody log,
every step of the office's review as a form, and the overview's panel of applications by status
and time limit.

Who sees what follows :mod:`rights.access` (the rights office of the applicant's unit chain and
administrators; supervisors are not shown applications). Every read and step goes through
:mod:`rights.service`, which audits it, writes the custody log and tells the applicant through
the outbox exactly as the bot's own review buttons do. Evidence files are served only through
:func:`evidence_file`, which checks access and logs each copy; never from a public path.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import select

from core.identity import Role
from desk.charts import histogram
from desk.registry import DeskModule, NavItem, OverviewPanel
from desk.web import PageContext, page
from rights import access, custody, listing, service, sla
from rights.access import RightsError, RightsForbidden
from rights.listing import SLA_STATES, OfficeFilter
from rights.models import OPEN_STATUSES, EvidenceStatus, RightsEvidence, Status
from rights.render import fmt_due
from rights.vocab import HELP, KINDS, OFFICE_STATUSES, OUTCOME_DETAIL_REQUIRED, OUTCOMES, TYPES

ROLES = (Role.RIGHTS,)
PAGE_SIZE = 30
VIA = "desk"
ACTIONS = ("accept", "investigate", "request", "resume", "decide", "close", "reject", "note", "assign", "transfer")
# Shown inline only when the type is one a browser plays as media (never HTML or SVG from an applicant).
INLINE_TYPES = {
    "photo": {"image/jpeg", "image/png", "image/webp", "image/gif"},
    "video": {"video/mp4", "video/webm", "video/quicktime"},
    "voice": {"audio/ogg", "audio/mpeg", "audio/mp4"},
}
DEFAULT_TYPES = {"photo": "image/jpeg", "video": "video/mp4", "voice": "audio/ogg"}

SLA_LABELS = {
    "overdue": "Overdue",
    "due_soon": "Due within 2 days",
    "on_time": "On time",
    "paused": "Paused (waiting for the applicant)",
    "none": "No time limit running",
}
DONE_MESSAGES = {
    "accept": "Accepted; the applicant has been told.",
    "investigate": "Fact-checking started; the applicant has been told.",
    "request": "Your request went to the applicant; the time limits are paused until they reply.",
    "resume": "The office goes on without waiting; the time limits run again.",
    "decide": "The decision is recorded and sent to the applicant.",
    "close": "The application is closed; the applicant has been told.",
    "reject": "The application was not accepted; the applicant has been told why.",
    "note": "Note saved.",
    "note_shared": "Note saved and sent to the applicant.",
    "assign": "Handler assigned; they and the applicant have been told.",
    "transfer": "Passed to the other rights office, with its evidence.",
}
ERROR_MESSAGES = {
    "empty": "Please write the text this step needs.",
    "too_long": "The text is too long; please keep it under 3000 characters.",
    "bad_state": "That step is not possible now: the application is “{status}”.",
    "bad_outcome": "Please choose an outcome.",
    "outcome_conflict": "“Not supported” cannot stand beside other outcomes.",
    "bad_handler": "That officer cannot handle this application.",
    "bad_unit": "That unit has no rights office to transfer to.",
    "forbidden": "You may not act for the office on this application (it may be your own).",
    "not_stored": "This file is not held by Frontline (only a reference is kept, or it was purged).",
    "bad_status": "Unknown status.",
    "bad_type": "Unknown type of application.",
    "bad_sla": "Unknown state of the time limits.",
}
EVENT_LABELS = {
    "submitted": "Application submitted",
    "accepted": "Accepted",
    "investigating": "Fact-checking started",
    "request": "More information requested",
    "reply": "The applicant replied",
    "resumed": "Resumed without a reply",
    "decided": "Decided",
    "closed": "Closed",
    "rejected": "Not accepted",
    "withdrawn": "Withdrawn",
    "note": "Note",
    "assigned": "Handler assigned",
    "transferred": "Transferred",
}
CUSTODY_LABELS = {
    custody.RECEIVED: "received",
    custody.STORED: "stored",
    custody.REFERENCE: "kept as a reference",
    custody.VIEWED: "viewed",
    custody.DOWNLOADED: "downloaded",
    custody.EXPORTED: "exported",
    custody.PURGED: "purged",
}


def error_text(ctx: PageContext, exc: RightsError, status: str = "") -> str:
    """Says what went wrong with a step, in the viewer's language."""
    if exc.code == "bad_state":
        template = ERROR_MESSAGES[exc.code]
        return ctx._(template).format(status=ctx._(OFFICE_STATUSES.get(status, status)))
    return ctx._(ERROR_MESSAGES.get(exc.code, "That did not work: {detail}")).format(detail=exc.detail)


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()) if value.strip() else None
    except ValueError:
        return None


# --- the overview panel ------------------------------------------------------------------------------


async def rights_panel(ctx: PageContext) -> Markup:
    """Renders the overview's rights applications: open ones by status, overdue and due soon."""
    _ = ctx._
    figures = await listing.office_figures(session=ctx.session, viewer=ctx.viewer.officer, now=ctx.now)
    shown = [status for status in Status if status in OPEN_STATUSES]
    chart = histogram(
        [(_(OFFICE_STATUSES[s]), figures.by_status.get(s.value, 0)) for s in shown],
        title=_("Open rights applications by status"), css="seg-rights", width=420,
    )
    return ctx.fragment(
        "overview/rights.html", figures=figures, chart=chart, types=ctx.labels(TYPES),
        state=lambda a: listing.sla_state(a, ctx.now), next_due=sla.next_due,
        sla_labels=ctx.labels(SLA_LABELS), limit_day=lambda due: fmt_due(due, ctx.settings.tz),
    )


def _panel_key(ctx: PageContext) -> tuple[int, int]:
    # A rights officer sees the applications of their own unit's subtree (rights.access), never their own.
    return (ctx.viewer.officer.id, ctx.viewer.officer.unit_id)


# --- pages -------------------------------------------------------------------------------------------


def create_router() -> APIRouter:
    """Builds the rights office's pages."""
    router = APIRouter()

    @router.get("/rights")
    async def applications(
        ctx: Annotated[PageContext, Depends(page(*ROLES))],
        status: Annotated[str, Query(max_length=16)] = "",
        kind: Annotated[str, Query(max_length=24)] = "",
        unit: int | None = None,
        since: Annotated[str, Query(max_length=10)] = "",
        until: Annotated[str, Query(max_length=10)] = "",
        sla_wanted: Annotated[str, Query(alias="sla", max_length=16)] = "",
        page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
        done: str | None = None,
    ) -> HTMLResponse:
        """Lists the applications the viewer's office handles, overdue first; filtered and paged."""
        _ = ctx._
        tz = ctx.settings.tz
        problems: list[str] = []
        scope = ctx.viewer.scope
        if unit is not None and not scope.sees(unit):
            unit = None
        since_day, until_day = _day(since), _day(until)
        if (since and since_day is None) or (until and until_day is None):
            problems.append(_("Please give dates as YYYY-MM-DD."))
        if since_day and until_day and until_day < since_day:
            problems.append(_("The period ends before it starts."))
            until_day = None
        statuses = [status] if status in {s.value for s in Status} else []
        narrowed = OfficeFilter(
            statuses=statuses,
            kind=kind if kind in TYPES else None,
            unit_ids=sorted(scope.subtree(unit)) if unit is not None else None,
            submitted_from=datetime.combine(since_day, time(0), tzinfo=tz) if since_day else None,
            submitted_to=datetime.combine(until_day + timedelta(days=1), time(0), tzinfo=tz) if until_day else None,
            sla_state=sla_wanted if sla_wanted in SLA_STATES else None,
        )
        found = await listing.office_page(
            session=ctx.session, viewer=ctx.viewer.officer, via=VIA, now=ctx.now, narrowed=narrowed,
            offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE,
        )
        units = sorted(
            ((u, scope.names.get(u, str(u))) for u in (scope.parents if scope.everything else scope.unit_ids or ())),
            key=lambda pair: pair[1],
        )
        flash = {"kind": "bad", "text": " ".join(problems)} if problems else None
        query = {"status": status, "kind": kind, "unit": unit, "since": since, "until": until, "sla": sla_wanted}
        template = "rights/rows.html" if ctx.request.headers.get("hx-target") == "rights-rows" else "rights/list.html"
        return ctx.render(
            template, status_code=400 if problems else 200, page=found, query=query, units=units,
            page_no=page_no, pages=max(1, -(-found.total // PAGE_SIZE)), flash=flash,
            statuses=ctx.labels(OFFICE_STATUSES), types=ctx.labels(TYPES), sla_labels=ctx.labels(SLA_LABELS),
            state=lambda a: listing.sla_state(a, ctx.now), next_due=sla.next_due,
            unit_name=lambda unit_id: scope.names.get(unit_id, ""), limit_day=lambda due: fmt_due(due, tz),
        )

    async def render_application(
        ctx: PageContext, application_id: int, *, flash: dict[str, str] | None = None, status_code: int = 200,
        draft: dict[str, str] | None = None,
    ) -> HTMLResponse:
        try:
            view = await service.open_application(
                session=ctx.session, viewer=ctx.viewer.officer, via=VIA, application_id=application_id, with_events=True
            )
        except RightsError:  # out of reach, or no such application: the same answer
            raise HTTPException(status_code=404) from None
        application = view.application
        handles = await access.may_handle(session=ctx.session, viewer=ctx.viewer.officer, application=application)
        allowed = {a for a in ACTIONS if Status(application.status) in service.ALLOWED[a]} if handles else set()
        handlers = await service.handlers_for(session=ctx.session, application=application) if "assign" in allowed else []
        targets = await service.transfer_targets(session=ctx.session, application=application) if "transfer" in allowed else []
        log = await custody.entries(session=ctx.session, application_id=application.id)
        outcome_kinds = {o.kind for o in view.outcomes}
        return ctx.render(
            "rights/application.html", status_code=status_code, view=view, app=application, flash=flash,
            allowed=allowed, handlers=handlers, targets=targets, log=log, draft=draft or {},
            statuses=ctx.labels(OFFICE_STATUSES), types=ctx.labels(TYPES), helps=ctx.labels(HELP),
            outcomes=ctx.labels(OUTCOMES), outcome_needs=ctx.labels(OUTCOME_DETAIL_REQUIRED),
            outcome_kinds=outcome_kinds, kinds=ctx.labels(KINDS), events=ctx.labels(EVENT_LABELS),
            custody_labels=ctx.labels(CUSTODY_LABELS), inline=lambda item: _inline_type(item) is not None,
            state=listing.sla_state(application, ctx.now), sla_labels=ctx.labels(SLA_LABELS),
            next_due=sla.next_due(application), stored=EvidenceStatus.STORED.value,
            dues=_dues(ctx, application), limit_day=lambda due: fmt_due(due, ctx.settings.tz),
        )

    @router.get("/rights/{application_id}")
    async def application(
        application_id: int, ctx: Annotated[PageContext, Depends(page(*ROLES))], done: str | None = None
    ) -> HTMLResponse:
        """Shows one application: the account, the evidence inline, hashes, custody log and the office's steps."""
        flash = {"kind": "good", "text": ctx._(DONE_MESSAGES[done])} if done in DONE_MESSAGES else None
        return await render_application(ctx, application_id, flash=flash)

    @router.get("/rights/{application_id}/evidence/{ordinal}")
    async def evidence_file(
        application_id: int, ordinal: int, ctx: Annotated[PageContext, Depends(page(*ROLES))], download: bool = False
    ) -> Response:
        """Serves one stored evidence file to a viewer who may see it; each copy goes into the custody log."""
        kind = await ctx.session.scalar(
            select(RightsEvidence.kind).where(RightsEvidence.application_id == application_id,
                                              RightsEvidence.ordinal == ordinal)
        )
        shown_inline = not download and kind in INLINE_TYPES
        try:
            item, path = await service.download_evidence(
                session=ctx.session, settings=ctx.settings, viewer=ctx.viewer.officer, application_id=application_id,
                ordinal=ordinal, via=VIA, inline=shown_inline,
            )
        except RightsError:
            raise HTTPException(status_code=404) from None
        media_type = _inline_type(item)
        if not shown_inline or media_type is None:
            name = item.filename or f"evidence-{ordinal}"
            return FileResponse(path, media_type="application/octet-stream", filename=name)
        return FileResponse(path, media_type=media_type, content_disposition_type="inline",
                            filename=item.filename or f"evidence-{ordinal}")

    @router.post("/rights/{application_id}/{action}")
    async def step(
        application_id: int,
        action: str,
        ctx: Annotated[PageContext, Depends(page(*ROLES))],
        text: Annotated[str, Form()] = "",
        outcome: Annotated[str, Form()] = "",
        handler: Annotated[int | None, Form()] = None,
        unit: Annotated[int | None, Form()] = None,
        to_applicant: Annotated[bool, Form()] = False,
    ) -> Response:
        """Takes one step of the office's review; the applicant is told through the outbox."""
        if action not in ACTIONS:
            raise HTTPException(status_code=404)
        common: dict[str, Any] = {
            "session": ctx.session, "settings": ctx.settings, "viewer": ctx.viewer.officer,
            "application_id": application_id, "via": VIA,
        }
        try:
            if action == "accept":
                application = await service.accept(**common)
            elif action == "investigate":
                application = await service.start_investigation(**common)
            elif action == "request":
                application = await service.request_more(**common, text=text)
            elif action == "resume":
                application = await service.resume(**common)
            elif action == "decide":
                application = await service.decide(**common, outcome=outcome, detail=text or None)
            elif action == "close":
                application = await service.close(**common)
            elif action == "reject":
                application = await service.reject(**common, reason=text)
            elif action == "note":
                application = await service.add_note(**common, text=text, to_applicant=to_applicant)
            elif action == "assign":
                if handler is None:
                    raise RightsError("bad_handler", "")
                application = await service.assign(**common, handler_id=handler)
            else:
                if unit is None:
                    raise RightsError("bad_unit", "")
                application = await service.transfer(**common, unit_id=unit, reason=text)
        except RightsForbidden as exc:
            await ctx.audit("desk.rights_refused", target_type="rights_application", target_id=application_id,
                            detail={"action": action})
            return await render_application(ctx, application_id, status_code=403, draft={"action": action, "text": text},
                                            flash={"kind": "bad", "text": error_text(ctx, exc)})
        except RightsError as exc:
            if exc.code == "not_found":
                raise HTTPException(status_code=404) from None
            await ctx.audit("desk.rights_step_refused", target_type="rights_application", target_id=application_id,
                            detail={"action": action, "code": exc.code})
            return await render_application(
                ctx, application_id, status_code=409 if exc.code == "bad_state" else 400,
                draft={"action": action, "text": text, "outcome": outcome},
                flash={"kind": "bad", "text": error_text(ctx, exc, exc.detail)},
            )
        await ctx.audit("desk.rights_step", target_type="rights_application", target_id=application.number,
                        detail={"action": action, "status": application.status})
        done = "note_shared" if action == "note" and to_applicant else action
        return RedirectResponse(ctx.url(f"/rights/{application_id}", done=done), status_code=303)

    return router


def _inline_type(item: Any) -> str | None:
    if item.status != EvidenceStatus.STORED.value:
        return None
    allowed = INLINE_TYPES.get(item.kind)
    if not allowed:
        return None
    mime = (item.mime_type or DEFAULT_TYPES[item.kind]).lower()
    return mime if mime in allowed else None


def _dues(ctx: PageContext, application: Any) -> list[tuple[str, datetime, bool]]:
    """The running limits of an application: (what, when, passed)."""
    labels = {"accept": ctx._("acceptance"), "feedback": ctx._("first feedback"), "decide": ctx._("the decision")}
    found = []
    for key, label in labels.items():
        due = getattr(application, f"{key}_due_at")
        if due is not None:
            found.append((label, due, due < ctx.now))
    return found


def module() -> DeskModule:
    """The rights office's applications and the overview's panel of them."""
    return DeskModule(
        name="rights",
        router=create_router(),
        nav=(NavItem("rights", "/rights", "Rights applications", frozenset(ROLES), 30),),
        panels=(OverviewPanel("rights", frozenset(ROLES), rights_panel, key=_panel_key),),
    )
