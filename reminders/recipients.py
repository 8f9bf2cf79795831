"""Who hears of a deadline: the case officer, then the supervisor, then the legal brigade.

The officer directory is loaded once per scan (officers, the unit tree through
``core.identity.unit_parents``, who holds the supervisor and legal roles), so that 100,000
deadlines cost no query each. Escalation walks up the unit chain the way
``core.identity.nearest_with_role`` does: the nearest unit, from the officer's own upward, that has
holders of the role.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.identity import Officer, OfficerRole, Role, unit_chain_ids, unit_parents
from reminders.messages import Audience
from reminders.rules import Rule


@dataclass(frozen=True)
class Person:
    """The few officer fields a scan needs."""

    id: int
    badge: str
    name: str
    language: str
    unit_id: int


@dataclass
class Directory:
    """Officers, units and roles, loaded once per scan so recipients cost no query each."""

    people: dict[int, Person]
    """The active officers: only they receive reminders."""
    parents: dict[int, int | None]
    holders: dict[str, dict[int, list[int]]]
    """Role -> unit -> the active officers holding the role there."""
    everyone: dict[int, Person] = field(default_factory=dict)
    """Every officer, active or not: a deactivated case officer still has a unit and a name."""
    _legal_under: dict[int, list[int]] = field(default_factory=dict)

    @classmethod
    async def load(cls, *, session: AsyncSession) -> Directory:
        """Loads the active officers, the unit tree and who holds the supervisor and legal roles."""
        everyone: dict[int, Person] = {}
        people: dict[int, Person] = {}
        for row in await session.execute(
            select(Officer.id, Officer.badge, Officer.name, Officer.language, Officer.unit_id, Officer.active)
        ):
            person = Person(row.id, row.badge, row.name, row.language, row.unit_id)
            everyone[row.id] = person
            if row.active:
                people[row.id] = person
        holders: dict[str, dict[int, list[int]]] = {Role.SUPERVISOR.value: {}, Role.LEGAL.value: {}}
        roles = await session.execute(
            select(OfficerRole.officer_id, OfficerRole.role).where(
                OfficerRole.role.in_([Role.SUPERVISOR.value, Role.LEGAL.value])
            )
        )
        for officer_id, role in roles:
            holder = people.get(officer_id)
            if holder is not None:
                holders[role].setdefault(holder.unit_id, []).append(officer_id)
        return cls(people, await unit_parents(session=session), holders, everyone, {})

    def nearest(self, role: Role, officer_id: int) -> list[int]:
        """Finds the holders of a role in the nearest unit up from an officer's own (never the officer),
        as ``core.identity.nearest_with_role`` does."""
        person = self.everyone.get(officer_id)
        if person is None:
            return []
        by_unit = self.holders.get(role.value, {})
        for unit_id in unit_chain_ids(self.parents, person.unit_id):
            found = [o for o in by_unit.get(unit_id, []) if o != officer_id]
            if found:
                return found
        return []

    def supervisors_of(self, officer_id: int) -> list[int]:
        """Finds an officer's supervisors: the nearest unit up the tree that has any."""
        return self.nearest(Role.SUPERVISOR, officer_id)

    def legal_for(self, officer_id: int) -> list[int]:
        """Finds the legal brigade over an officer: the nearest unit up the chain under which one sits.

        The brigade is usually a unit of its own beside the stations (分局 -> 法制大队, 分局 ->
        派出所), so the walk looks for the nearest unit whose subtree holds legal officers. With
        none anywhere up the chain, every legal officer hears of it: an overdue deadline must reach
        someone.
        """
        person = self.everyone.get(officer_id)
        by_unit = self.holders.get(Role.LEGAL.value, {})
        if person is not None:
            under = self._legal_under
            if not under:
                for unit_id, ids in by_unit.items():
                    for ancestor in unit_chain_ids(self.parents, unit_id):
                        under.setdefault(ancestor, []).extend(ids)
            for unit_id in unit_chain_ids(self.parents, person.unit_id):
                found = sorted(o for o in under.get(unit_id, []) if o != officer_id)
                if found:
                    return found
        return sorted(o for ids in by_unit.values() for o in ids)


def recipients_for(
    *, rule: Rule, offset: int | None, officer_id: int, supervisor_id: int | None, directory: Directory
) -> list[tuple[int, str]]:
    """Lists who gets a reminder at an offset: the officer, then supervisors and legal as it escalates."""
    result: list[tuple[int, str]] = []
    seen: set[int] = set()

    def add(ids: Sequence[int], audience: str) -> None:
        for officer in ids:
            if officer not in seen and officer in directory.people:
                seen.add(officer)
                result.append((officer, audience))

    add([officer_id], Audience.OFFICER)
    # A deactivated case officer reads nothing: the supervisors hear of every reminder instead.
    orphaned = officer_id not in directory.people
    if orphaned or (offset is not None and offset >= rule.reminders.supervisor_from):
        if supervisor_id is not None and supervisor_id in directory.people:
            add([supervisor_id], Audience.SUPERVISOR)
        else:
            add(directory.supervisors_of(officer_id), Audience.SUPERVISOR)
    if offset is not None and offset >= rule.reminders.legal_from:
        add(directory.legal_for(officer_id), Audience.LEGAL)
    return result
