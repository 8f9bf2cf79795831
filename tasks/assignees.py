"""Who a task is for: badges, units with their sub-units, and roles, resolved to active officers.

A creator reaches the officers of a part of the unit tree: an administrator everyone, the legal
brigade its whole bureau (the top of its unit's chain), a supervisor their own unit and the units
below it. Units and roles are expanded within that reach, and a creator is never made an
assignee by a unit or a role they belong to (only by their own badge).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core import identity
from core.identity import Officer, OfficerRole, Role, Unit

UNIT_PREFIX = "unit:"
ROLE_PREFIX = "role:"
_SPLIT = re.compile(r"[,;，；、|\s]+")
_PREFIXES = {
    "unit": UNIT_PREFIX,
    "单位": UNIT_PREFIX,
    "部门": UNIT_PREFIX,
    "role": ROLE_PREFIX,
    "角色": ROLE_PREFIX,
}
ROLE_ALIASES: dict[str, Role] = {
    "民警": Role.OFFICER,
    "法制": Role.LEGAL,
    "法制大队": Role.LEGAL,
    "维权": Role.RIGHTS,
    "维权办": Role.RIGHTS,
    "领导": Role.SUPERVISOR,
    "主管": Role.SUPERVISOR,
    "督导": Role.SUPERVISOR,
    "管理员": Role.ADMIN,
}


def split_tokens(text: str) -> list[str]:
    """Splits what was typed into assignee tokens (commas, semicolons, 、 or spaces between them)."""
    tokens: list[str] = []
    for raw in _SPLIT.split(text.replace("：", ":").strip()):
        token = raw.strip()
        if not token:
            continue
        if ":" in token:
            head, _sep, rest = token.partition(":")
            prefix = _PREFIXES.get(head.strip().lower())
            if prefix is not None:
                token = prefix + rest.strip()
        if token not in tokens:
            tokens.append(token)
    return tokens


def parse_role(text: str) -> Role | None:
    """Reads a role by name or Chinese alias."""
    value = text.strip().lower()
    try:
        return Role(value)
    except ValueError:
        return ROLE_ALIASES.get(text.strip())


@dataclass
class Resolution:
    """The officers a list of tokens reaches, and the tokens that reach nobody or too far."""

    officers: list[Officer] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # the tokens in canonical form
    unknown: list[str] = field(default_factory=list)  # matched no badge, unit or role
    empty: list[str] = field(default_factory=list)  # matched, but no active officer
    outside: list[str] = field(default_factory=list)  # beyond the creator's reach

    @property
    def ok(self) -> bool:
        """Tells whether every token is usable and someone is reached."""
        return bool(self.officers) and not (self.unknown or self.outside)


async def scope_unit(*, session: AsyncSession, creator: Officer | None) -> int | None:
    """Returns the unit whose subtree a creator reaches (None: everywhere)."""
    if creator is None or Role.ADMIN in creator.roles:
        return None
    if Role.LEGAL in creator.roles:
        chain = identity.unit_chain_ids(await identity.unit_parents(session=session), creator.unit_id)
        return chain[-1] if chain else creator.unit_id
    return creator.unit_id


async def resolve(
    *,
    session: AsyncSession,
    tokens: Sequence[str],
    scope_unit_id: int | None,
    creator_id: int | None = None,
) -> Resolution:
    """Resolves tokens to active officers (sorted by badge) within a unit's subtree (None: everywhere)."""
    result = Resolution()
    all_units = await identity.list_units(session=session)
    units = {unit.name: unit for unit in all_units}
    children: dict[int, list[int]] = {}
    for unit in all_units:
        if unit.parent_id is not None:
            children.setdefault(unit.parent_id, []).append(unit.id)
    reach: set[int] | None = None
    if scope_unit_id is not None:
        reach = _subtree(scope_unit_id, children)
    found: dict[int, Officer] = {}
    badges = [t for t in tokens if not t.startswith((UNIT_PREFIX, ROLE_PREFIX))]
    by_badge = await _officers_by_badge(session=session, badges=badges)
    for token in tokens:
        if token.startswith(ROLE_PREFIX):
            role = parse_role(token.removeprefix(ROLE_PREFIX))
            if role is None:
                result.unknown.append(token)
                continue
            canonical = ROLE_PREFIX + role.value
            members = [
                o for o in await _with_role(session=session, role=role) if reach is None or o.unit_id in reach
            ]
            _add(result, canonical, members, found, creator_id)
            continue
        name = token.removeprefix(UNIT_PREFIX)
        officer = by_badge.get(token) if not token.startswith(UNIT_PREFIX) else None
        if officer is not None:
            if reach is not None and officer.unit_id not in reach:
                result.outside.append(token)
            elif not officer.active:
                result.empty.append(token)
                result.tokens.append(token)
            else:
                found.setdefault(officer.id, officer)
                result.tokens.append(token)
            continue
        named = units.get(name)
        if named is None:
            result.unknown.append(token)
            continue
        if reach is not None and named.id not in reach:
            result.outside.append(token)
            continue
        subtree = _subtree(named.id, children)
        members = [o for o in await identity.list_officers(session=session, unit_ids=subtree) if o.active]
        _add(result, UNIT_PREFIX + named.name, members, found, creator_id)
    result.officers = sorted(found.values(), key=lambda o: o.badge)
    return result


def _subtree(root: int, children: dict[int, list[int]]) -> set[int]:
    found: set[int] = set()
    stack = [root]
    while stack:
        current = stack.pop()
        if current not in found:
            found.add(current)
            stack.extend(children.get(current, []))
    return found


def _add(
    result: Resolution, canonical: str, members: Iterable[Officer], found: dict[int, Officer], creator_id: int | None
) -> None:
    reached = [o for o in members if o.active and o.id != creator_id]
    if not reached:
        result.empty.append(canonical)
    for officer in reached:
        found.setdefault(officer.id, officer)
    if canonical not in result.tokens:
        result.tokens.append(canonical)


async def _officers_by_badge(*, session: AsyncSession, badges: Sequence[str]) -> dict[str, Officer]:
    if not badges:
        return {}
    rows = await session.scalars(
        select(Officer).options(selectinload(Officer.role_rows)).where(Officer.badge.in_(list(badges)))
    )
    return {o.badge: o for o in rows.all()}


async def _with_role(*, session: AsyncSession, role: Role) -> Sequence[Officer]:
    rows = await session.scalars(
        select(Officer)
        .options(selectinload(Officer.role_rows))
        .join(OfficerRole, OfficerRole.officer_id == Officer.id)
        .where(OfficerRole.role == role.value, Officer.active.is_(True))
    )
    return rows.unique().all()


async def unit_names(*, session: AsyncSession, unit_ids: Iterable[int]) -> dict[int, str]:
    """Returns the names of some units."""
    ids = list(unit_ids)
    if not ids:
        return {}
    rows = await session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(ids)))
    return {row.id: row.name for row in rows.all()}
