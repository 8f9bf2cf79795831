"""Which units' data a desk officer sees.

Admins see every unit. The legal brigade and the rights office serve their whole bureau (the top
unit above them, as reminders escalate to the legal brigade of the case's bureau); a supervisor
sees their own unit and the units below it. An officer with several roles sees the union.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.identity import Officer, Role, Unit, unit_chain_ids


@dataclass(frozen=True)
class Scope:
    """The units a viewer sees (None: all), with the unit tree for roll-ups and the units' names."""

    unit_ids: frozenset[int] | None
    parents: dict[int, int | None]
    names: dict[int, str] = field(default_factory=dict)
    below: dict[int, list[int]] = field(default_factory=dict, init=False, compare=False)

    def __post_init__(self) -> None:
        for unit, parent in sorted(self.parents.items()):
            if parent is not None:
                self.below.setdefault(parent, []).append(unit)

    @property
    def everything(self) -> bool:
        """Tells whether the viewer sees every unit."""
        return self.unit_ids is None

    def sees(self, unit_id: int | None) -> bool:
        """Tells whether a unit is in scope."""
        return self.unit_ids is None or (unit_id is not None and unit_id in self.unit_ids)

    def roots(self) -> list[int]:
        """The highest units in scope (those whose parent is out of scope)."""
        ids = self.parents.keys() if self.unit_ids is None else self.unit_ids
        return sorted(u for u in ids if not self.sees(self.parents.get(u)) or self.parents.get(u) is None)

    def children(self, unit_id: int) -> list[int]:
        """The units directly below a unit, within scope."""
        return [u for u in self.below.get(unit_id, []) if self.sees(u)]

    def subtree(self, unit_id: int) -> set[int]:
        """A unit and every unit below it."""
        found: set[int] = set()
        stack = [unit_id]
        while stack:
            current = stack.pop()
            if current not in found:
                found.add(current)
                stack.extend(self.below.get(current, []))
        return found

    def chain(self, unit_id: int) -> list[int]:
        """The unit and its parents up to the root."""
        return unit_chain_ids(self.parents, unit_id)


def _subtrees(parents: dict[int, int | None], tops: Iterable[int]) -> set[int]:
    scope = Scope(None, parents)
    found: set[int] = set()
    for top in tops:
        found |= scope.subtree(top)
    return found


async def scope_of(*, session: AsyncSession, officer: Officer) -> Scope:
    """Works out the units an officer's desk roles let them see (one read of the unit tree)."""
    rows = (await session.execute(select(Unit.id, Unit.parent_id, Unit.name))).all()
    parents = {row.id: row.parent_id for row in rows}
    names = {row.id: row.name for row in rows}
    roles = officer.roles
    if Role.ADMIN in roles:
        return Scope(None, parents, names)
    tops: set[int] = set()
    if roles & {Role.LEGAL, Role.RIGHTS}:
        chain = unit_chain_ids(parents, officer.unit_id)
        if chain:
            tops.add(chain[-1])
    if Role.SUPERVISOR in roles:
        tops.add(officer.unit_id)
    seen = _subtrees(parents, tops)
    # The whole tree (a city-level legal brigade) needs no unit filter in the queries.
    return Scope(None if seen >= parents.keys() else frozenset(seen), parents, names)
