"""Bulk officer import from CSV/XLSX: every bad row reported by line, nothing written unless all are good."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, identity
from core.identity import IdentityError
from core.tabular import Row, RowError

REQUIRED_COLUMNS = ("badge", "name", "unit")
OPTIONAL_COLUMNS = ("roles", "language")
# Column names accepted in Chinese spreadsheets as well.
COLUMN_ALIASES = {
    "警号": "badge",
    "姓名": "name",
    "单位": "unit",
    "角色": "roles",
    "语言": "language",
    "role": "roles",
}


@dataclass
class ImportReport:
    """What an import did or, when any row was bad, why it did nothing."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Tells whether the import was applied."""
        return not self.errors


def normalise(rows: list[Row]) -> list[Row]:
    """Maps Chinese column names onto the canonical ones."""
    return [
        Row(line=row.line, values={COLUMN_ALIASES.get(k, k): v for k, v in row.values.items()}) for row in rows
    ]


async def import_officers(
    *, session: AsyncSession, rows: list[Row], header: list[str], actor: str = audit.CLI_ACTOR
) -> ImportReport:
    """Validates every row, then adds or updates officers; writes nothing if any row is bad."""
    report = ImportReport()
    columns = {COLUMN_ALIASES.get(c, c) for c in header}
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        report.errors.append(RowError(1, f"missing column(s): {', '.join(missing)}"))
        return report
    rows = normalise(rows)
    units = {u.name: u for u in await identity.list_units(session=session)}
    seen: dict[str, int] = {}
    planned: list[tuple[Row, list[identity.Role]]] = []
    for row in rows:
        problems: list[str] = []
        badge, name, unit = row.get("badge"), row.get("name"), row.get("unit")
        if "__extra__" in row.values:
            problems.append("more cells than columns")
        if not badge:
            problems.append("badge is empty")
        elif badge in seen:
            problems.append(f"badge {badge} repeats line {seen[badge]}")
        else:
            seen[badge] = row.line
        if not name:
            problems.append("name is empty")
        if not unit:
            problems.append("unit is empty")
        elif unit not in units:
            problems.append(f"unknown unit {unit!r} (add it first: frontline units add)")
        try:
            identity.parse_language(row.get("language") or "zh")
        except IdentityError as exc:
            problems.append(str(exc))
        roles: list[identity.Role] = []
        try:
            roles = identity.parse_roles([row.get("roles")])
        except IdentityError as exc:
            problems.append(str(exc))
        if problems:
            report.errors.append(RowError(row.line, "; ".join(problems)))
        else:
            planned.append((row, roles))
    if report.errors:
        return report
    existing = await identity.get_officers(session=session, badges=[row.get("badge") for row, _ in planned])
    added: list[identity.Officer] = []
    for row, roles in planned:
        badge = row.get("badge")
        language = identity.parse_language(row.get("language")) if row.get("language") else None
        officer = existing.get(badge)
        if officer is None:
            added.append(
                identity.new_officer(
                    badge=badge, name=row.get("name"), unit=units[row.get("unit")], roles=roles,
                    language=language or "zh",
                )
            )
            report.added.append(badge)
            continue
        changed: dict[str, object] = {}
        if officer.name != row.get("name"):
            changed["name"] = [officer.name, row.get("name")]
            officer.name = row.get("name")
        new_unit = units[row.get("unit")]
        if officer.unit_id != new_unit.id:
            changed["unit"] = [officer.unit.name, new_unit.name]
            officer.unit = new_unit
        if set(officer.roles) != set(roles):
            await identity.change_roles(session=session, officer=officer, roles=roles, actor=actor, flush=False)
            changed["roles"] = sorted(r.value for r in roles)
        if language is not None and officer.language != language:
            changed["language"] = [officer.language, language]
            officer.language = language
        if changed:
            await audit.record(
                session=session, actor=actor, action="officer.update", target_type="officer",
                target_id=badge, officer_id=officer.id, detail=changed, flush=False,
            )
            report.updated.append(badge)
    # One flush for every new officer (their ids), then their audit rows with the final flush.
    session.add_all(added)
    await session.flush()
    for officer in added:
        await identity.record_added(session=session, officer=officer, actor=actor, flush=False)
    await session.flush()
    return report
