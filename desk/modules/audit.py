"""Audit: search the append-only log by actor, subject, action and time; export what was found as CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy import Select, or_, select

from core.audit import AuditEvent
from core.identity import Officer, Role
from desk.registry import DeskModule, NavItem
from desk.web import PageContext, page

ROLES = (Role.ADMIN,)
PAGE_SIZE = 100
EXPORT_CHUNK = 2000
EXPORT_MAX = 500_000


@dataclass(frozen=True)
class AuditFilter:
    """What the search asked for; empty fields do not filter."""

    actor: str = ""
    subject: str = ""
    action: str = ""
    since: str = ""
    until: str = ""

    def query(self) -> dict[str, str]:
        """The filter as query parameters."""
        return {k: v for k, v in self.__dict__.items() if v}


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()) if value.strip() else None
    except ValueError:
        return None


async def build_query(ctx: PageContext, search: AuditFilter) -> tuple[Select[AuditEvent], list[str]]:
    """Turns the search into a query, newest first; returns it with the problems found in the search."""
    problems: list[str] = []
    query = select(AuditEvent)
    if search.actor.strip():
        query = query.where(AuditEvent.actor == search.actor.strip())
    subject = search.subject.strip()
    if subject:
        conditions = [AuditEvent.target_id == subject]
        if ":" in subject:
            kind, _sep, ident = subject.partition(":")
            conditions.append((AuditEvent.target_type == kind) & (AuditEvent.target_id == ident))
        officer_id = await ctx.session.scalar(select(Officer.id).where(Officer.badge == subject))
        if officer_id is not None:
            conditions.append(AuditEvent.officer_id == officer_id)
        query = query.where(or_(*conditions))
    if search.action.strip():
        action = search.action.strip()
        query = query.where(AuditEvent.action.startswith(action.rstrip("*"), autoescape=True) if action.endswith((".", "*"))
                            else AuditEvent.action == action)
    tz = ctx.settings.tz
    since, until = _day(search.since), _day(search.until)
    if search.since and since is None:
        problems.append("since")
    if search.until and until is None:
        problems.append("until")
    if since is not None:
        query = query.where(AuditEvent.at >= datetime.combine(since, time(0, 0), tzinfo=tz))
    if until is not None:
        query = query.where(AuditEvent.at < datetime.combine(until + timedelta(days=1), time(0, 0), tzinfo=tz))
    return query.order_by(AuditEvent.id.desc()), problems


def _detail(value: dict[str, Any] | None) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""


def create_router() -> APIRouter:
    """Builds the audit pages."""
    router = APIRouter()

    @router.get("/audit")
    async def audit_page(
        ctx: Annotated[PageContext, Depends(page(*ROLES))],
        actor: Annotated[str, Query(max_length=64)] = "",
        subject: Annotated[str, Query(max_length=160)] = "",
        action: Annotated[str, Query(max_length=64)] = "",
        since: Annotated[str, Query(max_length=10)] = "",
        until: Annotated[str, Query(max_length=10)] = "",
        before: Annotated[int | None, Query(ge=1)] = None,
    ) -> HTMLResponse:
        """Searches the audit log, newest first, a page at a time."""
        search = AuditFilter(actor, subject, action, since, until)
        query, problems = await build_query(ctx, search)
        if before is not None:
            query = query.where(AuditEvent.id < before)
        events = (await ctx.session.scalars(query.limit(PAGE_SIZE + 1))).all()
        more = len(events) > PAGE_SIZE
        events = events[:PAGE_SIZE]
        template = "audit/rows.html" if ctx.request.headers.get("hx-target") == "audit-rows" else "audit/page.html"
        return ctx.render(
            template, events=events, search=search, problems=problems, detail=_detail,
            next_before=events[-1].id if more and events else None, before=before,
        )

    @router.get("/audit/export.csv")
    async def export(
        ctx: Annotated[PageContext, Depends(page(*ROLES))],
        actor: Annotated[str, Query(max_length=64)] = "",
        subject: Annotated[str, Query(max_length=160)] = "",
        action: Annotated[str, Query(max_length=64)] = "",
        since: Annotated[str, Query(max_length=10)] = "",
        until: Annotated[str, Query(max_length=10)] = "",
    ) -> StreamingResponse:
        """Exports every event the search finds as CSV (UTF-8 with BOM, so Excel reads the Chinese)."""
        search = AuditFilter(actor, subject, action, since, until)
        query, _problems = await build_query(ctx, search)
        await ctx.audit("desk.audit_export", target_type="audit", detail={"filter": search.query()})
        await ctx.session.commit()
        sessions = ctx.desk.sessions
        tz = ctx.settings.tz

        async def rows() -> AsyncIterator[str]:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            yield "\ufeff"
            writer.writerow(["id", "at", "actor", "action", "target_type", "target_id", "officer_id", "detail"])
            sent = 0
            last: int | None = None
            # Its own session: the request's is closed before the body streams.
            async with sessions() as session:
                while sent < EXPORT_MAX:
                    chunk_query = query if last is None else query.where(AuditEvent.id < last)
                    chunk = (await session.scalars(chunk_query.limit(EXPORT_CHUNK))).all()
                    if not chunk:
                        break
                    for e in chunk:
                        writer.writerow([e.id, e.at.astimezone(tz).isoformat(), e.actor, e.action, e.target_type or "",
                                         e.target_id or "", e.officer_id or "", _detail(e.detail)])
                    sent += len(chunk)
                    last = chunk[-1].id
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()

        stamp = ctx.now.astimezone(tz).strftime("%Y%m%d-%H%M")
        return StreamingResponse(
            rows(), media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="frontline-audit-{stamp}.csv"'},
        )

    return router


def module() -> DeskModule:
    """The audit log, for administrators."""
    return DeskModule(
        name="audit",
        router=create_router(),
        nav=(NavItem("audit", "/audit", "Audit", frozenset(ROLES), 90),),
    )
