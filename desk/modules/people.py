"""People: units and officers, officer imports, enrollment codes printed with a QR code for roll call.

Administrators manage everything; supervisors see their own units and hand out enrollment codes
to their officers.
"""

from __future__ import annotations

import asyncio
import html
import tempfile
from pathlib import Path
from typing import Annotated, Any

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy import case, func, or_, select

from core import identity, roster
from core.identity import IdentityError, Officer, OfficerRole, Role, Unit
from core.tabular import TableError, read_table
from desk.registry import DeskModule, NavItem
from desk.rowerrors import translate_reason
from desk.web import PageContext, page

VIEW_ROLES = (Role.SUPERVISOR,)  # and admins, who hold every role
ADMIN_ROLES = (Role.ADMIN,)
PAGE_SIZE = 100
MAX_CODES = 200
CODE_HOURS = 72.0
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
ERRORS_SHOWN = 500


def deep_link(username: str, code: str) -> str:
    """The t.me link that opens the bot with the enrollment code filled in."""
    return f"https://t.me/{username}?start={code}"


def qr_svg(data: str) -> Markup:
    """Draws a QR code as inline SVG (no Pillow), scaled by the page's stylesheet."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    svg: str = image.to_string(encoding="unicode")
    # Size comes from CSS; the fixed millimetre size would fight the print layout.
    svg = svg.replace('width="', 'data-w="', 1).replace('height="', 'data-h="', 1)
    return Markup(svg.replace("<svg ", f'<svg class="qr" role="img" aria-label="{html.escape(data)}" ', 1))


async def unit_rows(ctx: PageContext) -> list[dict[str, Any]]:
    """Lists the units in scope as a tree (depth-first), with officer counts."""
    scope = ctx.viewer.scope
    names = scope.names
    counts = {
        row.unit_id: row
        for row in (
            await ctx.session.execute(
                select(
                    Officer.unit_id,
                    func.count().label("total"),
                    func.sum(case((Officer.active.is_(True), 1), else_=0)).label("active"),
                    func.sum(case((Officer.telegram_user_id.is_not(None) & Officer.active.is_(True), 1), else_=0)).label("enrolled"),
                ).group_by(Officer.unit_id)
            )
        ).all()
    }
    rows: list[dict[str, Any]] = []

    def walk(unit_id: int, depth: int) -> None:
        count = counts.get(unit_id)
        rows.append({
            "id": unit_id, "name": names.get(unit_id, str(unit_id)), "depth": depth,
            "total": int(count.total) if count else 0, "active": int(count.active or 0) if count else 0,
            "enrolled": int(count.enrolled or 0) if count else 0,
        })
        for child in sorted(scope.children(unit_id), key=lambda u: names.get(u, "")):
            walk(child, depth + 1)

    for root in sorted(scope.roots(), key=lambda u: names.get(u, "")):
        walk(root, 0)
    return rows


async def officer_rows(
    ctx: PageContext, *, unit: int | None, q: str, status: str, page_no: int
) -> tuple[list[dict[str, Any]], int]:
    """Lists officers in scope, filtered by unit (and below), search text and status."""
    scope = ctx.viewer.scope
    where: list[Any] = [] if scope.unit_ids is None else [Officer.unit_id.in_(sorted(scope.unit_ids))]
    if unit is not None:
        where.append(Officer.unit_id.in_(sorted(scope.subtree(unit))))
    if q:
        where.append(or_(Officer.badge == q, Officer.name.contains(q)))
    if status == "unenrolled":
        where += [Officer.active.is_(True), Officer.telegram_user_id.is_(None)]
    elif status == "enrolled":
        where += [Officer.active.is_(True), Officer.telegram_user_id.is_not(None)]
    elif status == "deactivated":
        where.append(Officer.active.is_(False))
    total = await ctx.session.scalar(select(func.count()).select_from(Officer).where(*where))
    officers = (
        await ctx.session.execute(
            select(Officer.id, Officer.badge, Officer.name, Officer.active, Officer.telegram_user_id, Officer.reachable,
                   Officer.language, Unit.name.label("unit"))
            .join(Unit, Unit.id == Officer.unit_id)
            .where(*where)
            .order_by(Officer.badge)
            .offset((page_no - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    ).all()
    ids = [o.id for o in officers]
    roles: dict[int, list[str]] = {}
    if ids:
        for officer_id, role in (
            await ctx.session.execute(select(OfficerRole.officer_id, OfficerRole.role).where(OfficerRole.officer_id.in_(ids)))
        ).all():
            roles.setdefault(officer_id, []).append(role)
    return [dict(o._mapping) | {"roles": sorted(roles.get(o.id, []))} for o in officers], int(total or 0)


def create_router() -> APIRouter:
    """Builds the people pages."""
    router = APIRouter()

    async def render_people(ctx: PageContext, *, unit: int | None = None, q: str = "", status: str = "all",
                            page_no: int = 1, flash: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:
        if unit is not None and not ctx.viewer.scope.sees(unit):
            unit = None
        units = await unit_rows(ctx)
        officers, total = await officer_rows(ctx, unit=unit, q=q, status=status, page_no=page_no)
        template = "people/officers.html" if ctx.request.headers.get("hx-target") == "officers" else "people/page.html"
        return ctx.render(
            template, status_code=status_code, units=units, officers=officers, total=total, unit=unit, q=q,
            status=status, page_no=page_no, pages=max(1, -(-total // PAGE_SIZE)), flash=flash,
            is_admin=Role.ADMIN in ctx.viewer.officer.roles,
            unit_names={u["id"]: u["name"] for u in units},
        )

    @router.get("/people")
    async def people(
        ctx: Annotated[PageContext, Depends(page(*VIEW_ROLES))],
        unit: int | None = None,
        q: Annotated[str, Query(max_length=64)] = "",
        status: Annotated[str, Query(pattern="^(all|enrolled|unenrolled|deactivated)$")] = "all",
        page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
    ) -> HTMLResponse:
        """Shows the unit tree and the officers, with their enrollment."""
        return await render_people(ctx, unit=unit, q=q.strip(), status=status, page_no=page_no)

    @router.post("/people/units")
    async def add_unit(ctx: Annotated[PageContext, Depends(page(*ADMIN_ROLES))], name: Annotated[str, Form()] = "",
                       parent: Annotated[str, Form()] = "") -> HTMLResponse:
        """Adds a unit under a parent unit (or at the top)."""
        _ = ctx._
        try:
            unit = await identity.add_unit(session=ctx.session, name=name, parent=parent or None,
                                           actor=ctx.viewer.officer.badge)
        except IdentityError as exc:
            text = str(exc)
            message = (
                _("A unit named {name} already exists.").format(name=name.strip()) if "already exists" in text
                else _("Please give the unit a name.") if "empty" in text
                else _("There is no parent unit named {name}.").format(name=parent)
            )
            return await render_people(ctx, flash={"kind": "bad", "text": message}, status_code=400)
        await ctx.session.flush()
        # A new unit is in the admin's scope at once (the scope was read before it existed).
        ctx.viewer.scope.parents[unit.id] = unit.parent_id
        ctx.viewer.scope.names[unit.id] = unit.name
        if unit.parent_id is not None:
            ctx.viewer.scope.below.setdefault(unit.parent_id, []).append(unit.id)
        return await render_people(ctx, flash={"kind": "good", "text": _("Unit {name} added.").format(name=unit.name)})

    @router.get("/people/import")
    async def import_form(ctx: Annotated[PageContext, Depends(page(*ADMIN_ROLES))]) -> HTMLResponse:
        """Shows the officer import form."""
        return ctx.render("people/import.html", report=None, errors=[], problem=None, filename=None, rows=0)

    @router.post("/people/import")
    async def import_officers(ctx: Annotated[PageContext, Depends(page(*ADMIN_ROLES))], file: Annotated[UploadFile, File()]) -> HTMLResponse:
        """Imports officers from CSV/XLSX; nothing is written unless every row is good."""
        _ = ctx._
        filename = Path(file.filename or "upload").name
        suffix = Path(filename).suffix.lower()
        raw = await file.read(MAX_UPLOAD_BYTES + 1)
        problem: str | None = None
        table = None
        if suffix not in (".csv", ".xlsx", ".xlsm"):
            problem = _("Please upload a .csv or .xlsx file.")
        elif len(raw) > MAX_UPLOAD_BYTES:
            problem = _("The file is larger than {n} MB.").format(n=MAX_UPLOAD_BYTES // (1024 * 1024))
        else:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / f"upload{suffix}"
                path.write_bytes(raw)
                try:
                    table = await asyncio.to_thread(read_table, path)
                except TableError as exc:
                    problem = _("The file cannot be read as a table: {reason}").format(reason=str(exc))
        if table is None:
            await ctx.audit("desk.officers_import", target_type="file", target_id=filename[:128], detail={"refused": problem})
            return ctx.render("people/import.html", status_code=400, report=None, errors=[], problem=problem,
                              filename=filename, rows=0)
        async with ctx.desk.sessions() as session:
            report = await roster.import_officers(session=session, rows=table, header=table.header,
                                                  actor=ctx.viewer.officer.badge)
            if report.ok:
                await session.commit()
            else:
                await session.rollback()
        errors = [(e.line, translate_reason(e.reason, _)) for e in report.errors[:ERRORS_SHOWN]]
        await ctx.audit("desk.officers_import", target_type="file", target_id=filename[:128], detail={
            "rows": len(table), "ok": report.ok, "bad_rows": len(report.errors), "added": len(report.added),
            "updated": len(report.updated),
        })
        return ctx.render("people/import.html", status_code=200 if report.ok else 422, report=report, errors=errors,
                          problem=None, filename=filename, rows=len(table))

    @router.post("/people/codes")
    async def codes(
        ctx: Annotated[PageContext, Depends(page(*VIEW_ROLES))],
        badge: Annotated[list[str] | None, Form()] = None,
        unit: Annotated[str, Form()] = "",
    ) -> HTMLResponse:
        """Issues one-time enrollment codes (for chosen officers, or a unit's unenrolled ones) to print."""
        _ = ctx._
        scope = ctx.viewer.scope
        where: list[Any] = [Officer.active.is_(True)]
        if unit.isdigit():
            unit_id = int(unit)
            if not scope.sees(unit_id):
                raise HTTPException(status_code=404)
            where += [Officer.unit_id.in_(sorted(scope.subtree(unit_id))), Officer.telegram_user_id.is_(None)]
        elif badge:
            where.append(Officer.badge.in_([b.strip() for b in badge if b.strip()]))
        else:
            return await render_people(ctx, flash={"kind": "bad", "text": _("Choose officers or a unit first.")},
                                       status_code=400)
        chosen = (
            await ctx.session.execute(
                select(Officer.badge, Officer.name, Officer.unit_id, Unit.name.label("unit"))
                .join(Unit, Unit.id == Officer.unit_id).where(*where).order_by(Unit.name, Officer.badge)
                .limit(MAX_CODES + 1)
            )
        ).all()
        chosen = [row for row in chosen if scope.sees(row.unit_id)]
        if not chosen:
            return await render_people(ctx, flash={"kind": "warn", "text": _("Every chosen officer is already enrolled or deactivated.")},
                                       status_code=400)
        if len(chosen) > MAX_CODES:
            return await render_people(ctx, flash={"kind": "bad", "text": _("At most {n} codes at a time; choose a smaller unit.").format(n=MAX_CODES)},
                                       status_code=400)
        username = await ctx.desk.bot_username()
        cards = []
        for row in chosen:
            code = await identity.issue_code(session=ctx.session, badge=row.badge, hours=CODE_HOURS,
                                             actor=ctx.viewer.officer.badge)
            link = deep_link(username, code) if username else None
            cards.append({"badge": row.badge, "name": row.name, "unit": row.unit, "code": code, "link": link,
                          "qr": qr_svg(link) if link else None})
        await ctx.audit("desk.codes_printed", target_type="unit" if unit.isdigit() else "officers",
                        target_id=unit if unit.isdigit() else None, detail={"badges": [c["badge"] for c in cards]})
        return ctx.render("people/codes.html", cards=cards, hours=int(CODE_HOURS), username=username)

    return router


def module() -> DeskModule:
    """People: units, officers, imports, enrollment codes."""
    return DeskModule(
        name="people",
        router=create_router(),
        nav=(NavItem("people", "/people", "People", frozenset(VIEW_ROLES), 40),),
    )
