"""Who a broadcast is for: the audience spec, what it says in words, and the officers it names.

A spec is a comma-separated list of terms; an officer is in the audience when any term names
them. A term is one condition, or several joined with ``+``, all of which must hold:

- ``all``: every active officer;
- ``unit:NAME``: the officers of a unit and of every unit below it;
- ``unit-only:NAME``: the officers of that unit alone;
- ``role:ROLE``: the officers holding a role (officer, legal, rights, supervisor, admin).

So ``unit:城关分局,unit:东关派出所`` is both units, ``role:supervisor+unit:城关分局`` the
supervisors of 城关分局 and the units below it. Deactivated officers are never in an audience,
and neither is the sender. Officers not yet enrolled on Telegram are: their tip waits for them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from core.identity import Officer, OfficerRole, Role, Unit, unit_subtree_ids

ALL = "all"
UNIT = "unit"
UNIT_ONLY = "unit-only"
ROLE = "role"
MAX_SPEC_LENGTH = 1000


class AudienceError(Exception):
    """An audience spec that cannot be used; ``code`` says why, ``detail`` what was wrong."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        messages = {
            "empty": "the audience is empty: name all, unit:NAME, unit-only:NAME or role:ROLE",
            "bad_term": f"unknown audience term {detail!r} (use all, unit:NAME, unit-only:NAME, role:ROLE)",
            "no_unit": f"no such unit: {detail}",
            "bad_role": f"unknown role {detail!r} (allowed: {', '.join(r.value for r in Role)})",
            "too_long": f"the audience is longer than {MAX_SPEC_LENGTH} characters",
        }
        super().__init__(messages.get(code, code))


@dataclass(frozen=True)
class Condition:
    """One condition of a term: everyone, a unit (with or without its sub-units), or a role."""

    kind: str  # all | unit | unit-only | role
    value: str = ""

    def spec(self) -> str:
        """Writes the condition as in a spec."""
        return self.kind if self.kind == ALL else f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class Audience:
    """A parsed audience: terms, any of which puts an officer in it; each term's conditions all hold."""

    terms: tuple[tuple[Condition, ...], ...]

    def spec(self) -> str:
        """Writes the audience back as a spec (the stored, searchable form)."""
        return ",".join("+".join(c.spec() for c in term) for term in self.terms)

    @property
    def unit_names(self) -> set[str]:
        """Returns every unit the audience names."""
        return {c.value for term in self.terms for c in term if c.kind in (UNIT, UNIT_ONLY)}


_SPLIT_TERMS = re.compile(r"[,，]")


def parse(spec: str) -> Audience:
    """Parses an audience spec; raises AudienceError naming the first bad part."""
    if len(spec) > MAX_SPEC_LENGTH:
        raise AudienceError("too_long")
    terms: list[tuple[Condition, ...]] = []
    for raw_term in _SPLIT_TERMS.split(spec):
        if not raw_term.strip():
            continue
        conditions: list[Condition] = []
        for raw in raw_term.split("+"):
            part = raw.strip()
            if not part:
                raise AudienceError("bad_term", raw_term.strip())
            kind, _sep, value = part.partition(":")
            if not _sep:
                kind, _sep, value = part.partition("：")
            kind, value = kind.strip().lower(), value.strip()
            if kind == ALL and not value:
                condition = Condition(ALL)
            elif kind in (UNIT, UNIT_ONLY) and value:
                condition = Condition(kind, value)
            elif kind == ROLE and value:
                try:
                    condition = Condition(ROLE, Role(value.lower()).value)
                except ValueError:
                    raise AudienceError("bad_role", value) from None
            else:
                raise AudienceError("bad_term", part)
            if condition not in conditions:
                conditions.append(condition)
        # "all" adds nothing to a term that has other conditions
        if len(conditions) > 1:
            conditions = [c for c in conditions if c.kind != ALL]
        term = tuple(conditions)
        if term not in terms:
            terms.append(term)
    if not terms:
        raise AudienceError("empty")
    return Audience(tuple(terms))


@dataclass(frozen=True)
class Recipient:
    """An officer an audience names, with what delivery needs to know."""

    officer_id: int
    unit_id: int
    language: str
    enrolled: bool
    reachable: bool


@dataclass(frozen=True)
class HeadCount:
    """How many officers an audience names, and how many of them Telegram can reach now."""

    total: int
    enrolled: int
    unreachable: int

    @property
    def not_enrolled(self) -> int:
        """Returns how many will get the tip only once they enroll."""
        return self.total - self.enrolled


async def _unit_ids(session: AsyncSession, audience: Audience) -> dict[str, int]:
    names = audience.unit_names
    if not names:
        return {}
    rows = await session.execute(select(Unit.name, Unit.id).where(Unit.name.in_(sorted(names))))
    found = {row.name: row.id for row in rows.all()}
    for name in sorted(names):
        if name not in found:
            raise AudienceError("no_unit", name)
    return found


async def _where(session: AsyncSession, audience: Audience) -> ColumnElement[bool]:
    """Builds the SQL condition that picks the audience's officers."""
    unit_ids = await _unit_ids(session, audience)
    subtrees: dict[str, set[int]] = {}
    for name, unit_id in unit_ids.items():
        subtrees[name] = await unit_subtree_ids(session=session, unit_ids=[unit_id])
    alternatives: list[ColumnElement[bool]] = []
    for term in audience.terms:
        parts: list[ColumnElement[bool]] = []
        for condition in term:
            if condition.kind == ALL:
                parts.append(true())
            elif condition.kind == UNIT:
                parts.append(Officer.unit_id.in_(sorted(subtrees[condition.value])))
            elif condition.kind == UNIT_ONLY:
                parts.append(Officer.unit_id == unit_ids[condition.value])
            else:
                holders = select(OfficerRole.officer_id).where(OfficerRole.role == condition.value)
                parts.append(Officer.id.in_(holders))
        alternatives.append(and_(*parts) if parts else false())
    return or_(*alternatives)


async def resolve(
    *, session: AsyncSession, audience: Audience, exclude_officer_id: int | None = None
) -> list[Recipient]:
    """Lists the active officers an audience names (without the sender), in badge order."""
    query = select(
        Officer.id, Officer.unit_id, Officer.language, Officer.telegram_user_id, Officer.reachable
    ).where(Officer.active.is_(True), await _where(session, audience))
    if exclude_officer_id is not None:
        query = query.where(Officer.id != exclude_officer_id)
    rows = await session.execute(query.order_by(Officer.badge))
    return [
        Recipient(
            officer_id=r.id,
            unit_id=r.unit_id,
            language=r.language,
            enrolled=r.telegram_user_id is not None,
            reachable=r.reachable,
        )
        for r in rows.all()
    ]


async def head_count(
    *, session: AsyncSession, audience: Audience, exclude_officer_id: int | None = None
) -> HeadCount:
    """Counts the officers an audience names, as shown to the sender before sending."""
    enrolled = Officer.telegram_user_id.is_not(None)
    query = select(
        func.count(),
        func.count().filter(enrolled),
        func.count().filter(enrolled & Officer.reachable.is_(False)),
    ).where(Officer.active.is_(True), await _where(session, audience))
    if exclude_officer_id is not None:
        query = query.where(Officer.id != exclude_officer_id)
    total, enrolled_count, unreachable = (await session.execute(query)).one()
    return HeadCount(total=int(total), enrolled=int(enrolled_count), unreachable=int(unreachable))


# --- in words ----------------------------------------------------------------------------------

M_EVERYONE = "all officers"
M_UNIT_TREE = "{unit} (with sub-units)"
M_UNIT_ONLY = "{unit} (this unit only)"
M_ROLE = "role: {role}"
M_AND = " and "
M_OR = "; "
ROLE_NAMES = {
    Role.OFFICER.value: "officer",
    Role.LEGAL.value: "legal brigade",
    Role.RIGHTS.value: "rights office",
    Role.SUPERVISOR.value: "supervisor",
    Role.ADMIN.value: "administrator",
}


def describe(audience: Audience, _: Callable[[str], str]) -> str:
    """Says who an audience is, in words of a language (``_`` is that language's gettext)."""
    terms: list[str] = []
    for term in audience.terms:
        words: list[str] = []
        for condition in term:
            if condition.kind == ALL:
                words.append(_(M_EVERYONE))
            elif condition.kind == UNIT:
                words.append(_(M_UNIT_TREE).format(unit=condition.value))
            elif condition.kind == UNIT_ONLY:
                words.append(_(M_UNIT_ONLY).format(unit=condition.value))
            else:
                words.append(_(M_ROLE).format(role=_(ROLE_NAMES[condition.value])))
        terms.append(_(M_AND).join(words))
    return _(M_OR).join(terms)


def describe_spec(spec: str, _: Callable[[str], str]) -> str:
    """Says who a stored spec is, falling back to the spec itself if it no longer parses."""
    try:
        return describe(parse(spec), _)
    except AudienceError:
        return spec


def build(
    *,
    everyone: bool = False,
    units: Sequence[tuple[str, bool]] = (),
    roles: Sequence[str] = (),
    roles_within_units: bool = True,
) -> Audience:
    """Builds an audience from choices made on buttons: units (name, with sub-units) and roles.

    With units and roles both chosen, ``roles_within_units`` picks the holders of those roles in
    those units; otherwise the units and the role holders everywhere are both in.
    """
    unit_conditions = [Condition(UNIT if tree else UNIT_ONLY, name) for name, tree in units]
    role_conditions = [Condition(ROLE, Role(role).value) for role in roles]
    terms: list[tuple[Condition, ...]] = []
    if everyone:
        terms = [(Condition(ALL),)] if not role_conditions else [(r,) for r in role_conditions]
    elif unit_conditions and role_conditions and roles_within_units:
        terms = [(u, r) for u in unit_conditions for r in role_conditions]
    else:
        terms = [(c,) for c in (*unit_conditions, *role_conditions)]
    if not terms:
        raise AudienceError("empty")
    return Audience(tuple(terms))
