"""How the desk is put together: each feature is a module with its routes, its menu entries and
the overview panels it fills.

A module is a :class:`DeskModule` returned by ``module()`` in a file under ``desk/modules/``
and listed in :func:`desk.modules.all_modules`. The application mounts every module's router,
builds the navigation from their :class:`NavItem` entries (shown to the roles they name) and
lays the overview out by :data:`OVERVIEW_SLOTS`: a module fills a slot with an
:class:`OverviewPanel`. Slots no module fills are simply left out, so the overview never shows
a figure it does not have.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import APIRouter
from markupsafe import Markup

from core.identity import Role

if TYPE_CHECKING:
    from desk.web import PageContext

# Where the overview shows each feature's figures, in this order. The rights office's
# applications by status and time limit, recent broadcasts with acknowledgement rates and
# overdue tasks have their slots ready for the modules that bring them.
OVERVIEW_SLOTS: tuple[str, ...] = ("deadlines", "questions", "rights", "broadcasts", "tasks")

PanelRenderer = Callable[["PageContext"], Awaitable[Markup]]
PanelKey = Callable[["PageContext"], Hashable]


@dataclass(frozen=True)
class NavItem:
    """One entry of the desk's menu."""

    key: str
    path: str
    label: str
    """An English msgid; the catalogue carries the Chinese."""
    roles: frozenset[Role]
    order: int


@dataclass(frozen=True)
class OverviewPanel:
    """A module's figures on the overview, in one of the slots."""

    slot: str
    roles: frozenset[Role]
    render: PanelRenderer
    key: PanelKey | None = None
    """What else the figures depend on beyond the viewer's units, roles and language (kept renderings
    are shared by viewers with the same key): a panel whose figures follow other access rules says so."""

    def __post_init__(self) -> None:
        if self.slot not in OVERVIEW_SLOTS:
            raise ValueError(f"unknown overview slot {self.slot!r}; known: {', '.join(OVERVIEW_SLOTS)}")


@dataclass(frozen=True)
class DeskModule:
    """A feature of the desk: its pages (a router), menu entries and overview panels."""

    name: str
    router: APIRouter
    nav: tuple[NavItem, ...] = ()
    panels: tuple[OverviewPanel, ...] = ()


@dataclass
class Registry:
    """Every module of one desk application."""

    modules: list[DeskModule] = field(default_factory=list)

    @classmethod
    def of(cls, modules: Iterable[DeskModule]) -> Registry:
        """Gathers modules, refusing two that claim one overview slot or menu key."""
        registry = cls(list(modules))
        slots: dict[str, str] = {}
        keys: dict[str, str] = {}
        for module in registry.modules:
            for panel in module.panels:
                if panel.slot in slots:
                    raise ValueError(f"overview slot {panel.slot!r} is claimed by {slots[panel.slot]} and {module.name}")
                slots[panel.slot] = module.name
            for item in module.nav:
                if item.key in keys:
                    raise ValueError(f"menu key {item.key!r} is claimed by {keys[item.key]} and {module.name}")
                keys[item.key] = module.name
        return registry

    def nav_for(self, allowed: Callable[[frozenset[Role]], bool]) -> list[NavItem]:
        """Lists the menu entries a viewer may open, in menu order."""
        items = [item for module in self.modules for item in module.nav if allowed(item.roles)]
        return sorted(items, key=lambda item: (item.order, item.key))

    def panels_for(self, allowed: Callable[[frozenset[Role]], bool]) -> list[OverviewPanel]:
        """Lists the overview panels a viewer may see, in slot order."""
        panels = [panel for module in self.modules for panel in module.panels if allowed(panel.roles)]
        return sorted(panels, key=lambda panel: OVERVIEW_SLOTS.index(panel.slot))
