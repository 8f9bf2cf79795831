"""The overview: every module's panel, in the order of the overview's slots.

Panels are figures over the whole unit tree (100,000 cases on a large deployment) and the page
refreshes itself every two minutes on every supervisor's screen, so a panel's rendering is kept
for ``FRONTLINE_DESK_OVERVIEW_CACHE_SECONDS`` per viewer scope, language and drill-down, and
dropped at once when this desk changes anything (an answer, an import). Changes made elsewhere (a
question referred from the bot, a CLI import) show at the latest when the kept figures expire;
the page says how old its figures are.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from core.db import utcnow
from desk.registry import DeskModule, NavItem, OverviewPanel
from desk.web import DESK_ROLES, PageContext, page

CACHE_LIMIT = 512  # kept renderings at most (scopes x languages x drill-downs)


@dataclass
class PanelCache:
    """Rendered panels kept for a short while, forgotten when the desk writes anything."""

    seconds: float
    entries: dict[tuple[object, ...], tuple[float, datetime, Markup]] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic

    async def render(self, panel: OverviewPanel, ctx: PageContext) -> tuple[datetime, Markup]:
        """Returns the panel's rendering and when it was made, from the cache when fresh."""
        if self.seconds <= 0:
            return utcnow(), await panel.render(ctx)
        scope = ctx.viewer.scope.unit_ids
        key = (panel.slot, ctx.desk.writes, ctx.language, str(ctx.request.query_params),
               None if scope is None else hash(scope), frozenset(ctx.viewer.officer.roles),
               panel.key(ctx) if panel.key is not None else None)
        kept = self.entries.get(key)
        now = self.clock()
        if kept is not None and now - kept[0] < self.seconds:
            return kept[1], kept[2]
        made = utcnow()
        html = await panel.render(ctx)
        if len(self.entries) >= CACHE_LIMIT:
            self.entries = {k: v for k, v in self.entries.items() if now - v[0] < self.seconds}
            if len(self.entries) >= CACHE_LIMIT:
                self.entries.clear()
        self.entries[key] = (now, made, html)
        return made, html


def create_router() -> APIRouter:
    """Builds the overview route."""
    router = APIRouter()

    @router.get("/")
    async def overview(ctx: Annotated[PageContext, Depends(page(*DESK_ROLES))]) -> HTMLResponse:
        """Shows the panels the viewer's roles open, each filled by its module."""
        cache: PanelCache = ctx.desk.extras.setdefault(
            "overview_cache", PanelCache(ctx.settings.desk_overview_cache_seconds)
        )
        async def rendered(panel: OverviewPanel) -> tuple[datetime, Markup]:
            # Each panel on a connection of its own: their queries run at the same time.
            async with ctx.desk.sessions() as session:
                return await cache.render(panel, replace(ctx, session=session))

        shown = ctx.desk.registry.panels_for(ctx.viewer.can)
        made = await asyncio.gather(*(rendered(panel) for panel in shown))
        panels = [(panel.slot, html) for panel, (_at, html) in zip(shown, made, strict=True)]
        oldest = min((at for at, _html in made), default=utcnow())
        return ctx.render("overview/page.html", panels=panels, figures_at=oldest)

    return router


def module() -> DeskModule:
    """The overview page, first in the menu and open to every desk role."""
    return DeskModule(
        name="overview",
        router=create_router(),
        nav=(NavItem("overview", "/", "Overview", DESK_ROLES, 0),),
    )
