"""Broadcasts: the legal brigade writes a risk tip, picks its audience (all, units, roles) with a
live head count, previews it as officers will see it, sends it now or at a time; recent tips;
one tip's acknowledgements by unit, refreshing themselves while they come in.

Everything goes through :mod:`broadcasts.service` (the bot's own path): the recipients are
resolved when the tip is written, one push per officer goes to the outbox, the acknowledgements
are the officers' own presses of 已阅 in their chat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from broadcasts import audience as audiences
from broadcasts import figures as tallies
from broadcasts import service
from broadcasts.audience import AudienceError
from broadcasts.models import Broadcast, BroadcastStatus
from broadcasts.render import render_tip
from broadcasts.service import BroadcastError
from core.identity import Officer, Role
from desk.registry import DeskModule, NavItem, OverviewPanel
from desk.web import PageContext, page

ROLES = (Role.LEGAL,)
LISTED = 25
PANEL_SHOWN = 5
POLL_SENDING = 2  # seconds between refreshes while tips are on their way
POLL_FOLLOWING = 10  # afterwards, while acknowledgements come in
FOLLOW_FOR = timedelta(hours=24)
ROLE_CHOICES = ("officer", "supervisor", "legal", "rights", "admin")

ERROR_MESSAGES = {
    "empty": "Please choose who gets the tip: all officers, some units or some roles.",
    "no_unit": "There is no unit named {detail}.",
    "bad_role": "Unknown role: {detail}.",
    "bad_term": "The audience cannot be read: {detail}.",
    "too_long": "Too many units are chosen; please choose fewer.",
    "empty_text": "Please write the tip.",
    "text_too_long": "The tip is longer than {detail} characters; please shorten it.",
    "too_long_tip": "The tip is {detail} characters too long for one Telegram message; please shorten it.",
    "no_recipients": "No active officer is in that audience.",
    "in_past": "The send time {detail} has passed; choose a later time or send now.",
    "bad_time": "Please give the send time as a date and time.",
    "forbidden": "Only the legal brigade and administrators may send tips.",
    "not_active": "Your account is deactivated.",
    "already_cancelled": "The tip was already cancelled.",
    "nothing_to_cancel": "Everything has been sent already; nothing is left to cancel.",
    "reminders_used": "All {detail} reminder rounds have been used.",
    "too_soon": "Reminders are at least an hour apart; the next one is possible at {detail}.",
    "nobody_to_remind": "Everyone the tip reached has acknowledged it.",
    "not_released": "The tip has not been sent yet.",
    "failed": "The tip could not be sent: {detail}",
}
DONE_MESSAGES = {
    "sent": "The tip is on its way to {n} officer(s).",
    "scheduled": "The tip is scheduled; {n} officer(s) will get it at the time chosen.",
    "cancelled": "What was not yet sent has been withdrawn ({n} tip(s)).",
    "reminded": "A reminder went to {n} officer(s) who have not acknowledged.",
}
STATE_LABELS = {
    BroadcastStatus.SCHEDULED.value: "scheduled",
    BroadcastStatus.SENDING.value: "sending",
    BroadcastStatus.SENT.value: "sent",
    BroadcastStatus.CANCELLED.value: "cancelled",
    BroadcastStatus.FAILED.value: "not sent",
}


@dataclass
class Compose:
    """What the compose form holds (kept when it is sent back with an error)."""

    text: str = ""
    everyone: bool = False
    units: list[str] = field(default_factory=list)
    subunits: bool = True
    roles: list[str] = field(default_factory=list)
    roles_within: bool = True
    urgent: bool = False
    when: str = "now"
    send_at: str = ""

    @classmethod
    async def read(cls, request: Request) -> Compose:
        """Reads the form of a request (repeated fields for units and roles)."""
        form = await request.form()

        def one(name: str) -> str:
            value = form.get(name)
            return value if isinstance(value, str) else ""

        def many(name: str) -> list[str]:
            return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]

        return cls(
            text=one("text")[:10_000], everyone=one("everyone") == "1", units=many("units")[:200],
            subunits=one("subunits") == "1", roles=[r for r in many("roles") if r in ROLE_CHOICES],
            roles_within=one("roles_within") != "0", urgent=one("urgent") == "1",
            when="later" if one("when") == "later" else "now", send_at=one("send_at")[:32],
        )

    def audience(self) -> audiences.Audience:
        """The audience chosen; AudienceError("empty") when nothing is."""
        return audiences.build(
            everyone=self.everyone, units=[(name, self.subunits) for name in self.units], roles=self.roles,
            roles_within_units=self.roles_within,
        )

    def moment(self, ctx: PageContext) -> datetime | None:
        """The send time chosen (None: now); BroadcastError("bad_time") when it cannot be read."""
        if self.when != "later":
            return None
        try:
            return datetime.fromisoformat(self.send_at.strip()).replace(tzinfo=ctx.settings.tz)
        except ValueError:
            raise BroadcastError("bad_time") from None


def error_text(ctx: PageContext, exc: BroadcastError | AudienceError) -> str:
    """Says what went wrong, in the viewer's language."""
    code = "too_long_tip" if isinstance(exc, BroadcastError) and exc.code == "too_long" else exc.code
    return ctx._(ERROR_MESSAGES.get(code, "That did not work: {detail}")).format(detail=exc.detail)


def polling(broadcast: Broadcast, figures: tallies.Figures, now: datetime) -> int | None:
    """How often the figures refresh themselves (seconds), or None once they no longer change."""
    if broadcast.status in (BroadcastStatus.CANCELLED.value, BroadcastStatus.FAILED.value):
        return None
    if broadcast.status in (BroadcastStatus.SCHEDULED.value, BroadcastStatus.SENDING.value) or figures.in_flight:
        return POLL_SENDING
    released = broadcast.released_at or broadcast.send_at
    everyone = figures.acknowledged >= figures.recipients - figures.cancelled
    if everyone or now - released > FOLLOW_FOR:
        return None
    return POLL_FOLLOWING


def _unit_choices(ctx: PageContext) -> list[str]:
    scope = ctx.viewer.scope
    ids = scope.parents.keys() if scope.everything else (scope.unit_ids or ())
    return sorted(scope.names[u] for u in ids if u in scope.names)


async def broadcasts_panel(ctx: PageContext) -> Markup:
    """Renders the overview's recent broadcasts with the share acknowledged in the viewer's units."""
    units = ctx.viewer.scope.unit_ids
    recent = await tallies.recent_reaching(session=ctx.session, unit_ids=units, limit=PANEL_SHOWN)
    rates = await tallies.ack_rates(session=ctx.session, broadcast_ids=[b.id for b in recent], unit_ids=units)
    return ctx.fragment("overview/broadcasts.html", recent=recent, rates=rates)


def create_router() -> APIRouter:
    """Builds the broadcast pages."""
    router = APIRouter()

    async def render_compose(ctx: PageContext, form: Compose, *, flash: dict[str, str] | None = None,
                             status_code: int = 200) -> HTMLResponse:
        preview = await _preview(ctx, form)
        return ctx.render("broadcasts/compose.html", status_code=status_code, form=form, flash=flash,
                          unit_choices=_unit_choices(ctx), role_choices=ROLE_CHOICES, **preview)

    @router.get("/broadcasts")
    async def recent(
        ctx: Annotated[PageContext, Depends(page(*ROLES))],
        q: Annotated[str, Query(max_length=64)] = "",
        page_no: Annotated[int, Query(alias="page", ge=1, le=1000)] = 1,
    ) -> HTMLResponse:
        """Lists recent tips, newest first, with their acknowledgement rates."""
        found = await service.search(session=ctx.session, text=q or None, limit=LISTED + 1, offset=(page_no - 1) * LISTED)
        more = len(found) > LISTED
        found = found[:LISTED]
        rates = await tallies.ack_rates(session=ctx.session, broadcast_ids=[b.id for b in found])
        senders = await _senders(ctx, found)
        return ctx.render("broadcasts/list.html", items=found, rates=rates, senders=senders, q=q, page_no=page_no,
                          more=more, states=ctx.labels(STATE_LABELS), describe=lambda spec: audiences.describe_spec(spec, ctx._))

    @router.get("/broadcasts/new")
    async def compose(ctx: Annotated[PageContext, Depends(page(*ROLES))]) -> HTMLResponse:
        """Shows the compose form: the tip, its audience with a live head count, and the preview."""
        return await render_compose(ctx, Compose())

    @router.post("/broadcasts/preview")
    async def preview(ctx: Annotated[PageContext, Depends(page(*ROLES))]) -> HTMLResponse:
        """Answers the compose form's live part: who the audience is, how many, and the tip as they see it."""
        form = await Compose.read(ctx.request)
        return ctx.render("broadcasts/preview.html", **await _preview(ctx, form))

    @router.post("/broadcasts")
    async def send(ctx: Annotated[PageContext, Depends(page(*ROLES))]) -> Response:
        """Writes the tip and sends it now (through the outbox) or schedules it."""
        form = await Compose.read(ctx.request)
        try:
            chosen = form.audience()
            send_at = form.moment(ctx)
            made = await service.create(
                session=ctx.session, sender=ctx.viewer.officer, text=form.text, audience=chosen.spec(),
                settings=ctx.settings, send_at=send_at, urgent=form.urgent, now=ctx.now,
            )
        except (BroadcastError, AudienceError) as exc:
            await ctx.audit("desk.broadcast_refused", target_type="broadcast",
                            detail={"code": exc.code, "units": form.units, "roles": form.roles, "everyone": form.everyone})
            return await render_compose(ctx, form, flash={"kind": "bad", "text": error_text(ctx, exc)}, status_code=400)
        rate = (await tallies.ack_rates(session=ctx.session, broadcast_ids=[made.id]))[made.id]
        await ctx.audit("desk.broadcast_sent", target_type="broadcast", target_id=made.id,
                        detail={"audience": made.audience, "recipients": rate.recipients, "status": made.status})
        done = "scheduled" if made.status == BroadcastStatus.SCHEDULED.value else "sent"
        return RedirectResponse(ctx.url(f"/broadcasts/{made.id}", done=done, n=rate.recipients), status_code=303)

    async def shown(ctx: PageContext, broadcast_id: int) -> Broadcast:
        try:
            return await service.visible_to(session=ctx.session, broadcast_id=broadcast_id, officer=ctx.viewer.officer)
        except BroadcastError:
            raise HTTPException(status_code=404) from None

    @router.get("/broadcasts/{broadcast_id}")
    async def one(
        broadcast_id: int, ctx: Annotated[PageContext, Depends(page(*ROLES))], done: str | None = None,
        n: int = 0,
    ) -> HTMLResponse:
        """Shows one tip: its text, audience and acknowledgement figures by unit (refreshing while they change)."""
        broadcast = await shown(ctx, broadcast_id)
        flash = {"kind": "good", "text": ctx._(DONE_MESSAGES[done]).format(n=n)} if done in DONE_MESSAGES else None
        return ctx.render("broadcasts/one.html", b=broadcast, flash=flash, **await _figures(ctx, broadcast))

    @router.get("/broadcasts/{broadcast_id}/figures")
    async def figures(
        broadcast_id: int, ctx: Annotated[PageContext, Depends(page(*ROLES, audit_view=False))]
    ) -> HTMLResponse:
        """The figures alone, for the page's own refresh (every 2 s: the page's view is the one audited)."""
        broadcast = await shown(ctx, broadcast_id)
        return ctx.render("broadcasts/figures.html", b=broadcast, **await _figures(ctx, broadcast))

    @router.post("/broadcasts/{broadcast_id}/cancel")
    async def cancel(broadcast_id: int, ctx: Annotated[PageContext, Depends(page(*ROLES))]) -> Response:
        """Withdraws what is not yet sent of a tip."""
        broadcast = await shown(ctx, broadcast_id)
        try:
            withdrawn = await service.cancel(session=ctx.session, broadcast_id=broadcast.id,
                                             actor=ctx.viewer.officer.badge, actor_id=ctx.viewer.officer.id)
        except BroadcastError as exc:
            flash = {"kind": "bad", "text": error_text(ctx, exc)}
            return ctx.render("broadcasts/one.html", status_code=409, b=broadcast, flash=flash,
                              **await _figures(ctx, broadcast))
        return RedirectResponse(ctx.url(f"/broadcasts/{broadcast_id}", done="cancelled", n=withdrawn), status_code=303)

    @router.post("/broadcasts/{broadcast_id}/remind")
    async def remind(broadcast_id: int, ctx: Annotated[PageContext, Depends(page(*ROLES))]) -> Response:
        """Sends a reminder round to those who got the tip and have not acknowledged it."""
        broadcast = await shown(ctx, broadcast_id)
        try:
            sent = await service.remind(session=ctx.session, broadcast_id=broadcast.id, actor=ctx.viewer.officer.badge,
                                        actor_id=ctx.viewer.officer.id, settings=ctx.settings)
        except BroadcastError as exc:
            flash = {"kind": "bad", "text": error_text(ctx, exc)}
            return ctx.render("broadcasts/one.html", status_code=409, b=broadcast, flash=flash,
                              **await _figures(ctx, broadcast))
        return RedirectResponse(ctx.url(f"/broadcasts/{broadcast_id}", done="reminded", n=sent), status_code=303)

    return router


async def _preview(ctx: PageContext, form: Compose) -> dict[str, Any]:
    """The audience in words, its head count and the tip as officers will see it (or why not)."""
    _ = ctx._
    values: dict[str, Any] = {"count": None, "described": "", "audience_problem": None, "tip_html": None,
                              "tip_problem": None}
    try:
        chosen = form.audience()
        values["described"] = audiences.describe(chosen, _)
        values["count"] = await audiences.head_count(session=ctx.session, audience=chosen,
                                                     exclude_officer_id=ctx.viewer.officer.id)
    except AudienceError as exc:
        values["audience_problem"] = error_text(ctx, exc)
    if form.text.strip():
        try:
            tip = service.check_draft(text=form.text, sender=ctx.viewer.officer, settings=ctx.settings, urgent=form.urgent)
            # The tip as Telegram shows it: the officer's words were escaped by the renderer.
            values["tip_html"] = Markup(render_tip(tip, ctx.language, ctx.settings.tz))
        except BroadcastError as exc:
            values["tip_problem"] = error_text(ctx, exc)
    return values


async def _figures(ctx: PageContext, broadcast: Broadcast) -> dict[str, Any]:
    units = await tallies.unit_figures(session=ctx.session, broadcast_id=broadcast.id)
    total = tallies.total(broadcast.id, units)
    sender = await ctx.session.get(Officer, broadcast.sender_id)
    return {
        "units": sorted(units, key=lambda u: (-u.figures.recipients, u.unit_name)), "total": total,
        "poll": polling(broadcast, total, ctx.now), "sender": sender, "states": ctx.labels(STATE_LABELS),
        "described": audiences.describe_spec(broadcast.audience, ctx._),
        "percent": lambda f: round(100 * f.acknowledged / f.recipients) if f.recipients else 0,
    }


async def _senders(ctx: PageContext, found: list[Broadcast]) -> dict[int, str]:
    ids = {b.sender_id for b in found}
    return {i: (o.name if (o := await ctx.session.get(Officer, i)) is not None else "") for i in ids}


def module() -> DeskModule:
    """The legal brigade's broadcasts and the overview's panel of recent ones."""
    return DeskModule(
        name="broadcasts",
        router=create_router(),
        nav=(NavItem("broadcasts", "/broadcasts", "Broadcasts", frozenset(ROLES), 32),),
        panels=(OverviewPanel("broadcasts", frozenset(ROLES), broadcasts_panel),),
    )
