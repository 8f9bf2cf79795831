"""Units, officers, roles and one-time enrollment codes.

Units form a tree (bureau -> brigade / station -> team). An officer has a unique badge
number, belongs to one unit, holds one or more roles and binds one Telegram account by
redeeming a one-time enrollment code. Codes are stored hashed, expire, work once, and a
Telegram account gets a limited number of wrong tries per hour.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Boolean, ForeignKey, Select, String, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload

from core import audit
from core.db import Base, utcnow
from core.settings import parse_window


class Role(enum.StrEnum):
    """What an officer may do beyond the basics."""

    OFFICER = "officer"
    LEGAL = "legal"
    RIGHTS = "rights"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


# The names officers and personnel staff use in Chinese spreadsheets and commands.
ROLE_NAMES_ZH: dict[Role, tuple[str, ...]] = {
    Role.OFFICER: ("民警", "警员", "普通民警"),
    Role.LEGAL: ("法制", "法制员", "法制民警", "法制大队"),
    Role.RIGHTS: ("维权", "维权办", "维权民警"),
    Role.SUPERVISOR: ("督导", "领导", "督察", "所领导", "主管"),
    Role.ADMIN: ("管理员", "系统管理员"),
}
_ROLE_BY_NAME: dict[str, Role] = {
    **{role.value: role for role in Role},
    **{name: role for role, names in ROLE_NAMES_ZH.items() for name in names},
}
_ROLE_SEPARATORS = re.compile(r"[\s,;|/、，；]+")

LANGUAGES = ("zh", "en")
# How a language is written in spreadsheets and commands.
_LANGUAGE_BY_NAME = {
    "zh": "zh", "中文": "zh", "汉语": "zh", "chinese": "zh", "zh-cn": "zh",
    "en": "en", "英文": "en", "英语": "en", "english": "en",
}
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: codes are read off a screen
CODE_LENGTH = 8


class IdentityError(Exception):
    """A request about units or officers that cannot be carried out."""


class Unit(Base):
    """A node of the organisation tree."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    quiet_hours: Mapped[str | None] = mapped_column(String(11))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    parent: Mapped[Unit | None] = relationship(remote_side=[id], lazy="raise")


class Officer(Base):
    """An enrolled (or enrollable) police officer."""

    __tablename__ = "officers"

    id: Mapped[int] = mapped_column(primary_key=True)
    badge: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(8), default="zh")
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    enrolled_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    unit: Mapped[Unit] = relationship(lazy="selectin")
    role_rows: Mapped[list[OfficerRole]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", back_populates="officer"
    )

    @property
    def roles(self) -> frozenset[Role]:
        """Returns the officer's roles."""
        return frozenset(Role(row.role) for row in self.role_rows)

    def has_role(self, *roles: Role) -> bool:
        """Tells whether the officer holds any of the given roles (admins hold all)."""
        mine = self.roles
        return Role.ADMIN in mine or any(role in mine for role in roles)


class OfficerRole(Base):
    """One role held by one officer."""

    __tablename__ = "officer_roles"
    __table_args__ = (UniqueConstraint("officer_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), index=True)

    officer: Mapped[Officer] = relationship(back_populates="role_rows")


class EnrollmentCode(Base):
    """A one-time code that binds a Telegram account to an officer (stored hashed)."""

    __tablename__ = "enrollment_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EnrollmentAttempt(Base):
    """A code redemption attempt from a Telegram account, kept for the brute-force limit."""

    __tablename__ = "enrollment_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    success: Mapped[bool] = mapped_column(Boolean)


def hash_code(code: str) -> str:
    """Hashes an enrollment code after normalising case and spaces."""
    normal = "".join(code.split()).upper()
    return hashlib.sha256(f"frontline-enroll:{normal}".encode()).hexdigest()


def new_code() -> str:
    """Makes a random enrollment code that is easy to type on a phone."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def looks_like_code(text: str) -> bool:
    """Tells whether a message could be an enrollment code."""
    normal = "".join(text.split()).upper()
    return len(normal) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in normal)


# --- units -------------------------------------------------------------------------------------


async def get_unit(*, session: AsyncSession, name: str) -> Unit | None:
    """Gets a unit by its name."""
    return await session.scalar(select(Unit).where(Unit.name == name))


async def add_unit(
    *, session: AsyncSession, name: str, parent: str | None = None, actor: str = audit.CLI_ACTOR
) -> Unit:
    """Adds a unit under an optional parent."""
    name = name.strip()
    if not name:
        raise IdentityError("unit name is empty")
    if await get_unit(session=session, name=name) is not None:
        raise IdentityError(f"unit already exists: {name}")
    parent_unit = None
    if parent is not None:
        parent_unit = await get_unit(session=session, name=parent)
        if parent_unit is None:
            raise IdentityError(f"no such parent unit: {parent}")
    unit = Unit(name=name, parent_id=parent_unit.id if parent_unit else None)
    session.add(unit)
    await session.flush()
    await audit.record(
        session=session, actor=actor, action="unit.add", target_type="unit", target_id=unit.id,
        detail={"name": name, "parent": parent},
    )
    return unit


async def set_quiet_hours(
    *, session: AsyncSession, name: str, window: str | None, actor: str = audit.CLI_ACTOR
) -> Unit:
    """Sets a unit's own quiet hours ("HH:MM-HH:MM"), or clears them (None) so it inherits its parent's."""
    unit = await get_unit(session=session, name=name.strip())
    if unit is None:
        raise IdentityError(f"no such unit: {name}")
    before = unit.quiet_hours
    if window is not None:
        try:
            start, end = parse_window(window)
        except ValueError:
            raise IdentityError(f"quiet hours must look like 22:00-07:00 (00:00-00:00: never quiet), not {window!r}") from None
        window = f"{start:%H:%M}-{end:%H:%M}"
    unit.quiet_hours = window
    await audit.record(
        session=session, actor=actor, action="unit.quiet_hours", target_type="unit", target_id=unit.id,
        detail={"name": unit.name, "before": before, "after": window},
    )
    return unit


async def list_units(*, session: AsyncSession) -> Sequence[Unit]:
    """Lists every unit."""
    return (await session.scalars(select(Unit).order_by(Unit.id))).all()


async def unit_subtree_ids(*, session: AsyncSession, unit_ids: Iterable[int]) -> set[int]:
    """Returns the given units and every unit below them."""
    units = await list_units(session=session)
    children: dict[int, list[int]] = {}
    for unit in units:
        if unit.parent_id is not None:
            children.setdefault(unit.parent_id, []).append(unit.id)
    found: set[int] = set()
    stack = list(unit_ids)
    while stack:
        current = stack.pop()
        if current in found:
            continue
        found.add(current)
        stack.extend(children.get(current, []))
    return found


# --- officers ----------------------------------------------------------------------------------


def parse_language(value: str) -> str:
    """Reads a language as zh or en (also 中文, 英文, Chinese, English), raising IdentityError otherwise."""
    language = _LANGUAGE_BY_NAME.get(value.strip().lower())
    if language is None:
        raise IdentityError(f"unknown language {value!r} (allowed: zh/中文, en/英文)")
    return language


def role_names() -> str:
    """Lists the accepted role names, English and Chinese, for error messages and help."""
    return ", ".join(f"{role.value}/{ROLE_NAMES_ZH[role][0]}" for role in Role)


def parse_roles(values: Iterable[str]) -> list[Role]:
    """Parses role names (officer, legal ... or 民警, 法制 ...), raising IdentityError on an unknown one."""
    roles: list[Role] = []
    for value in values:
        for part in _ROLE_SEPARATORS.split(value or ""):
            part = part.strip()
            if not part:
                continue
            role = _ROLE_BY_NAME.get(part.lower())
            if role is None:
                raise IdentityError(f"unknown role {part!r} (allowed: {role_names()})")
            if role not in roles:
                roles.append(role)
    return roles or [Role.OFFICER]


def _replace_roles(officer: Officer, roles: Iterable[Role]) -> None:
    """Changes an officer's role rows to exactly ``roles``, keeping the rows of roles that stay.

    Assigning a fresh list would insert the kept roles before deleting their old rows (the unit
    of work flushes inserts first) and break the one-row-per-role constraint.
    """
    wanted = {role.value for role in roles}
    kept = [row for row in officer.role_rows if row.role in wanted]
    have = {row.role for row in kept}
    officer.role_rows = kept + [OfficerRole(role=value) for value in sorted(wanted - have)]


def _officer_query() -> Select[Officer]:
    return select(Officer).options(selectinload(Officer.role_rows), selectinload(Officer.unit))


async def get_officers(*, session: AsyncSession, badges: Iterable[str]) -> dict[str, Officer]:
    """Gets the officers with these badges, by badge (a few queries however many)."""
    wanted = sorted({badge.strip() for badge in badges})
    found: dict[str, Officer] = {}
    for start in range(0, len(wanted), 500):
        rows = await session.scalars(_officer_query().where(Officer.badge.in_(wanted[start : start + 500])))
        found.update({officer.badge: officer for officer in rows})
    return found


async def get_officer(*, session: AsyncSession, badge: str) -> Officer | None:
    """Gets an officer by badge number."""
    result: Officer | None = await session.scalar(_officer_query().where(Officer.badge == badge.strip()))
    return result


async def get_officer_by_id(*, session: AsyncSession, officer_id: int) -> Officer | None:
    """Gets an officer by id."""
    result: Officer | None = await session.scalar(_officer_query().where(Officer.id == officer_id))
    return result


async def get_by_telegram(*, session: AsyncSession, telegram_user_id: int) -> Officer | None:
    """Gets the officer bound to a Telegram account, active or not."""
    result: Officer | None = await session.scalar(
        _officer_query().where(Officer.telegram_user_id == telegram_user_id)
    )
    return result


async def add_officer(
    *,
    session: AsyncSession,
    badge: str,
    name: str,
    unit: str,
    roles: Iterable[str] = ("officer",),
    language: str = "zh",
    actor: str = audit.CLI_ACTOR,
) -> Officer:
    """Adds an officer to a unit with the given roles."""
    badge, name = badge.strip(), name.strip()
    if not badge:
        raise IdentityError("badge number is empty")
    if not name:
        raise IdentityError("name is empty")
    language = parse_language(language)
    parsed_roles = parse_roles(roles)
    unit_row = await get_unit(session=session, name=unit.strip())
    if unit_row is None:
        raise IdentityError(f"no such unit: {unit}")
    if await get_officer(session=session, badge=badge) is not None:
        raise IdentityError(f"badge already exists: {badge}")
    officer = new_officer(badge=badge, name=name, unit=unit_row, roles=parsed_roles, language=language)
    session.add(officer)
    await session.flush()
    await record_added(session=session, officer=officer, actor=actor)
    return officer


def new_officer(*, badge: str, name: str, unit: Unit, roles: Iterable[Role], language: str) -> Officer:
    """Builds an active officer row with role rows (the caller has checked every value and the badge)."""
    officer = Officer(badge=badge, name=name, unit_id=unit.id, unit=unit, language=language, active=True)
    officer.role_rows = [OfficerRole(role=role.value) for role in roles]
    return officer


async def record_added(*, session: AsyncSession, officer: Officer, actor: str, flush: bool = True) -> None:
    """Audits the addition of an officer (flushed, so it has an id)."""
    await audit.record(
        session=session, actor=actor, action="officer.add", target_type="officer", target_id=officer.badge,
        officer_id=officer.id, flush=flush,
        detail={"name": officer.name, "unit": officer.unit.name, "roles": sorted(r.value for r in officer.roles)},
    )


async def list_officers(*, session: AsyncSession, unit_ids: Iterable[int] | None = None) -> Sequence[Officer]:
    """Lists officers, optionally only those of some units."""
    query = _officer_query().order_by(Officer.badge)
    if unit_ids is not None:
        query = query.where(Officer.unit_id.in_(list(unit_ids)))
    result: Sequence[Officer] = (await session.scalars(query)).all()
    return result


async def officers_with_role(*, session: AsyncSession, role: Role) -> Sequence[Officer]:
    """Lists the active officers holding a role."""
    query = (
        _officer_query()
        .join(OfficerRole, OfficerRole.officer_id == Officer.id)
        .where(OfficerRole.role == role.value, Officer.active.is_(True))
        .order_by(Officer.badge)
    )
    result: Sequence[Officer] = (await session.scalars(query)).unique().all()
    return result


async def set_roles(
    *, session: AsyncSession, badge: str, roles: Iterable[str], actor: str = audit.CLI_ACTOR
) -> Officer:
    """Replaces an officer's roles."""
    officer = await _require(session=session, badge=badge)
    await change_roles(session=session, officer=officer, roles=parse_roles(roles), actor=actor)
    await session.flush()
    return officer


async def change_roles(
    *, session: AsyncSession, officer: Officer, roles: Sequence[Role], actor: str, flush: bool = True
) -> None:
    """Gives a loaded officer exactly these roles and audits the change."""
    before = sorted(r.value for r in officer.roles)
    _replace_roles(officer, roles)
    await audit.record(
        session=session, actor=actor, action="officer.roles", target_type="officer", target_id=officer.badge,
        officer_id=officer.id, detail={"before": before, "after": [r.value for r in roles]}, flush=flush,
    )


async def set_language(*, session: AsyncSession, officer: Officer, language: str) -> None:
    """Sets the language an officer reads Frontline in."""
    if language not in LANGUAGES:
        raise IdentityError(f"unknown language {language!r}")
    officer.language = language
    await audit.record(
        session=session, actor=officer.badge, action="officer.language", target_type="officer",
        target_id=officer.badge, officer_id=officer.id, detail={"language": language},
    )


async def deactivate(*, session: AsyncSession, badge: str, actor: str = audit.CLI_ACTOR) -> Officer:
    """Deactivates an officer: access stops at their next message."""
    officer = await _require(session=session, badge=badge)
    officer.active = False
    await audit.record(
        session=session, actor=actor, action="officer.deactivate", target_type="officer", target_id=badge,
        officer_id=officer.id,
    )
    return officer


async def mark_unreachable(*, session: AsyncSession, officer: Officer, reason: str) -> None:
    """Marks an officer as unreachable on their messenger (blocked bot, chat gone)."""
    officer.reachable = False
    await audit.record(
        session=session, actor=audit.SYSTEM_ACTOR, action="officer.unreachable", target_type="officer",
        target_id=officer.badge, officer_id=officer.id, detail={"reason": reason},
    )


def unit_chain_ids(units: dict[int, int | None], unit_id: int | None) -> list[int]:
    """Walks from a unit up to the root: [unit, parent, grandparent, ...] (``units``: id -> parent id)."""
    chain: list[int] = []
    while unit_id is not None and unit_id in units and unit_id not in chain:
        chain.append(unit_id)
        unit_id = units[unit_id]
    return chain


async def unit_parents(*, session: AsyncSession) -> dict[int, int | None]:
    """Returns every unit's parent id (None for a root)."""
    rows = await session.execute(select(Unit.id, Unit.parent_id))
    return {row.id: row.parent_id for row in rows.all()}


async def nearest_with_role(
    *, session: AsyncSession, unit_id: int, role: Role, exclude: int | None = None
) -> Sequence[Officer]:
    """Finds the active officers holding a role in the nearest unit, from this one upward, that has any.

    A referred question reaches the legal brigade of the asker's own bureau, an application the
    rights office over the applicant, a reminder the supervisor of the case's unit.
    """
    holders = await officers_with_role(session=session, role=role)
    by_unit: dict[int, list[Officer]] = {}
    for holder in holders:
        if holder.id != exclude:
            by_unit.setdefault(holder.unit_id, []).append(holder)
    for current in unit_chain_ids(await unit_parents(session=session), unit_id):
        if current in by_unit:
            return by_unit[current]
    return []


async def supervisors_of(*, session: AsyncSession, officer: Officer) -> Sequence[Officer]:
    """Finds the supervisors of an officer: the nearest unit up the tree that has any."""
    return await nearest_with_role(
        session=session, unit_id=officer.unit_id, role=Role.SUPERVISOR, exclude=officer.id
    )


async def _require(*, session: AsyncSession, badge: str) -> Officer:
    officer = await get_officer(session=session, badge=badge)
    if officer is None:
        raise IdentityError(f"no such officer: {badge}")
    return officer


# --- enrollment --------------------------------------------------------------------------------


class EnrollOutcome(enum.StrEnum):
    """How a code redemption ended."""

    ENROLLED = "enrolled"
    WRONG_CODE = "wrong_code"
    EXPIRED = "expired"
    USED = "used"
    LOCKED = "locked"
    INACTIVE = "inactive"


@dataclass(frozen=True)
class EnrollResult:
    """The outcome of redeeming an enrollment code."""

    outcome: EnrollOutcome
    officer: Officer | None = None
    retry_after: timedelta | None = None


async def issue_code(
    *, session: AsyncSession, badge: str, hours: float = 72, actor: str = audit.CLI_ACTOR, now: datetime | None = None
) -> str:
    """Issues a one-time enrollment code for an officer; returns it in plain text (shown once)."""
    if hours <= 0:
        raise IdentityError("--hours must be positive")
    officer = await _require(session=session, badge=badge)
    if not officer.active:
        raise IdentityError(f"officer {badge} is deactivated")
    now = now or utcnow()
    code = new_code()
    session.add(EnrollmentCode(officer_id=officer.id, code_hash=hash_code(code), expires_at=now + timedelta(hours=hours)))
    await session.flush()
    await audit.record(
        session=session, actor=actor, action="enroll.code_issued", target_type="officer", target_id=badge,
        officer_id=officer.id, detail={"hours": hours}, at=now,
    )
    return code


async def recent_failures(*, session: AsyncSession, telegram_user_id: int, now: datetime) -> Sequence[datetime]:
    """Lists the times of an account's failed redemptions within the last hour."""
    rows = await session.scalars(
        select(EnrollmentAttempt.at)
        .where(
            EnrollmentAttempt.telegram_user_id == telegram_user_id,
            EnrollmentAttempt.success.is_(False),
            EnrollmentAttempt.at > now - timedelta(hours=1),
        )
        .order_by(EnrollmentAttempt.at)
    )
    return rows.all()


async def redeem_code(
    *,
    session: AsyncSession,
    telegram_user_id: int,
    code: str,
    max_failures_per_hour: int = 5,
    now: datetime | None = None,
) -> EnrollResult:
    """Binds a Telegram account to the officer a code was issued for, if the code is good."""
    now = now or utcnow()
    failures = await recent_failures(session=session, telegram_user_id=telegram_user_id, now=now)
    if len(failures) >= max_failures_per_hour:
        retry_after = failures[-max_failures_per_hour] + timedelta(hours=1) - now
        await audit.record(
            session=session, actor=f"tg:{telegram_user_id}", action="enroll.locked", target_type="telegram",
            target_id=telegram_user_id, at=now,
        )
        return EnrollResult(EnrollOutcome.LOCKED, retry_after=retry_after)

    row = await session.scalar(select(EnrollmentCode).where(EnrollmentCode.code_hash == hash_code(code)))
    outcome: EnrollOutcome
    officer: Officer | None = None
    if row is None:
        outcome = EnrollOutcome.WRONG_CODE
    elif row.used_at is not None:
        outcome = EnrollOutcome.USED
    elif row.expires_at <= now:
        outcome = EnrollOutcome.EXPIRED
    else:
        officer = await get_officer_by_id(session=session, officer_id=row.officer_id)
        active = officer is not None and officer.active
        outcome = EnrollOutcome.ENROLLED if active else EnrollOutcome.INACTIVE

    success = outcome is EnrollOutcome.ENROLLED
    session.add(EnrollmentAttempt(telegram_user_id=telegram_user_id, at=now, success=success))
    if success and officer is not None and row is not None:
        row.used_at = now
        # One account per officer and one officer per account: release any earlier binding.
        previous = await get_by_telegram(session=session, telegram_user_id=telegram_user_id)
        if previous is not None and previous.id != officer.id:
            previous.telegram_user_id = None
            await session.flush()
        officer.telegram_user_id = telegram_user_id
        officer.enrolled_at = now
        officer.reachable = True
    await session.flush()
    await audit.record(
        session=session,
        actor=officer.badge if success and officer else f"tg:{telegram_user_id}",
        action="enroll.success" if success else f"enroll.{outcome.value}",
        target_type="officer" if officer else "telegram",
        target_id=officer.badge if officer else telegram_user_id,
        officer_id=officer.id if officer else None,
        at=now,
    )
    return EnrollResult(outcome, officer=officer if success else None)
