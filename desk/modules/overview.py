"""The overview: every module's panel, in the order of the overview's slots."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from desk.registry import DeskModule, NavItem
from desk.web import DESK_ROLES, PageContext, page


def create_router() -> APIRouter:
    """Builds the overview route."""
    router = APIRouter()

    @router.get("/")
    async def overview(ctx: Annotated[PageContext, Depends(page(*DESK_ROLES))]) -> HTMLResponse:
        """Shows the panels the viewer's roles open, each filled by its module."""
        panels = [
            (panel.slot, await panel.render(ctx))
            for panel in ctx.desk.registry.panels_for(ctx.viewer.can)
        ]
        return ctx.render("overview/page.html", panels=panels)

    return router


def module() -> DeskModule:
    """The overview page, first in the menu and open to every desk role."""
    return DeskModule(
        name="overview",
        router=create_router(),
        nav=(NavItem("overview", "/", "Overview", DESK_ROLES, 0),),
    )
