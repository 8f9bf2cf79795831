"""Password-free sign-in to the desk: single-use links, and the desk sessions they open.

An officer of the legal brigade, the rights office, a supervisor or an admin asks for a link
(``/desk`` in the bot, or ``frontline desk login-link BADGE``). The link works once, for ten
minutes, and only an officer's newest link works. Redeeming it opens a desk session of a fixed
length, which signing out, deactivation or the loss of the role ends at the next request.
Links and sessions are stored as hashes: the database never holds a usable token.

The bot issues links and the desk redeems them; both adapters use this module, neither imports
the other.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ForeignKey, String, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, joinedload, mapped_column

from core import audit
from core.db import Base, utcnow
from core.identity import Officer, Role, get_officer_by_id

DESK_ROLES = (Role.LEGAL, Role.RIGHTS, Role.SUPERVISOR)
"""The roles that open the desk (admins hold every role)."""
LINK_TTL = timedelta(minutes=10)
SIGNIN_PATH = "/signin/"
"""Where on the desk a link's token is redeemed: ``{desk url}/signin/{token}``."""
TOKEN_BYTES = 32
SEEN_EVERY = timedelta(minutes=1)  # how stale a session's last_seen_at may get before it is written


class SignInLink(Base):
    """A single-use sign-in link (its token stored hashed)."""

    __tablename__ = "desk_signin_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_via: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    # Set when a newer link of the same officer replaced this one before it was used.
    voided_at: Mapped[datetime | None] = mapped_column()


class DeskSession(Base):
    """A signed-in desk session (its token stored hashed; the browser holds it in a signed cookie)."""

    __tablename__ = "desk_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    link_id: Mapped[int | None] = mapped_column(ForeignKey("desk_signin_links.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()
    end_reason: Mapped[str | None] = mapped_column(String(32))


class SignInError(Exception):
    """A link cannot be issued; the message says why."""


class LinkState(enum.StrEnum):
    """Where a sign-in link stands."""

    VALID = "valid"
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    REPLACED = "replaced"
    NOT_ALLOWED = "not_allowed"


@dataclass(frozen=True)
class IssuedLink:
    """A link just issued: shown once, never stored in plain text."""

    url: str
    expires_at: datetime
    officer: Officer


@dataclass(frozen=True)
class LinkCheck:
    """What a link would do if redeemed now."""

    state: LinkState
    officer: Officer | None = None
    link: SignInLink | None = None


@dataclass(frozen=True)
class SignInResult:
    """The outcome of redeeming a link: a new session's token, or why not."""

    state: LinkState
    officer: Officer | None = None
    token: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class ActiveSession:
    """A live desk session and its officer (unit and roles loaded)."""

    row: DeskSession
    officer: Officer


def hash_token(token: str) -> str:
    """Hashes a link or session token for storage."""
    return hashlib.sha256(f"frontline-desk:{token}".encode()).hexdigest()


def may_use_desk(officer: Officer) -> bool:
    """Tells whether an officer may open the desk: active and holding a desk role."""
    return officer.active and officer.has_role(*DESK_ROLES)


def link_url(base_url: str, token: str) -> str:
    """Builds the sign-in address for a token on the desk at base_url."""
    return f"{base_url.rstrip('/')}{SIGNIN_PATH}{token}"


async def issue_link(
    *,
    session: AsyncSession,
    officer: Officer,
    base_url: str,
    via: str,
    actor: str | None = None,
    now: datetime | None = None,
    ttl: timedelta = LINK_TTL,
) -> IssuedLink:
    """Issues a single-use sign-in link for an officer; earlier unused links stop working."""
    if not officer.active:
        raise SignInError(f"officer {officer.badge} is deactivated")
    if not officer.has_role(*DESK_ROLES):
        raise SignInError(f"officer {officer.badge} holds no desk role (legal, rights, supervisor, admin)")
    now = now or utcnow()
    await session.execute(
        update(SignInLink)
        .where(
            SignInLink.officer_id == officer.id,
            SignInLink.used_at.is_(None),
            SignInLink.voided_at.is_(None),
        )
        .values(voided_at=now)
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = now + ttl
    session.add(
        SignInLink(
            officer_id=officer.id, token_hash=hash_token(token), issued_via=via, created_at=now, expires_at=expires_at
        )
    )
    await session.flush()
    await audit.record(
        session=session,
        actor=actor or officer.badge,
        action="desk.link_issued",
        target_type="officer",
        target_id=officer.badge,
        officer_id=officer.id,
        detail={"via": via, "expires_at": expires_at.isoformat()},
        at=now,
    )
    return IssuedLink(url=link_url(base_url, token), expires_at=expires_at, officer=officer)


async def check_link(*, session: AsyncSession, token: str, now: datetime | None = None) -> LinkCheck:
    """Tells what redeeming a link would do now, changing nothing."""
    now = now or utcnow()
    link = await session.scalar(select(SignInLink).where(SignInLink.token_hash == hash_token(token)))
    if link is None:
        return LinkCheck(LinkState.UNKNOWN)
    officer = await get_officer_by_id(session=session, officer_id=link.officer_id)
    if link.used_at is not None:
        state = LinkState.USED
    elif link.voided_at is not None:
        state = LinkState.REPLACED
    elif link.expires_at <= now:
        state = LinkState.EXPIRED
    elif officer is None or not may_use_desk(officer):
        state = LinkState.NOT_ALLOWED
    else:
        state = LinkState.VALID
    return LinkCheck(state, officer, link)


async def redeem_link(
    *,
    session: AsyncSession,
    token: str,
    hours: float,
    now: datetime | None = None,
    client: dict[str, Any] | None = None,
) -> SignInResult:
    """Uses a link once and opens a desk session; every attempt is audited (client: address, agent)."""
    now = now or utcnow()
    check = await check_link(session=session, token=token, now=now)
    officer, link = check.officer, check.link
    detail: dict[str, Any] = dict(client or {})
    if check.state is not LinkState.VALID or officer is None or link is None:
        detail["reason"] = check.state.value
        await audit.record(
            session=session,
            actor=officer.badge if officer else "anonymous",
            action="desk.signin_refused",
            target_type="desk_link",
            target_id=link.id if link else None,
            officer_id=officer.id if officer else None,
            detail=detail,
            at=now,
        )
        return SignInResult(check.state, officer)
    # Used once: a second request racing this one finds used_at set, or loses on the update.
    claimed = await session.execute(
        update(SignInLink).where(SignInLink.id == link.id, SignInLink.used_at.is_(None)).values(used_at=now)
    )
    if getattr(claimed, "rowcount", 1) != 1:
        return SignInResult(LinkState.USED, officer)
    session_token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = now + timedelta(hours=hours)
    row = DeskSession(
        officer_id=officer.id,
        token_hash=hash_token(session_token),
        link_id=link.id,
        created_at=now,
        expires_at=expires_at,
        last_seen_at=now,
    )
    session.add(row)
    await session.flush()
    detail.update({"session": row.id, "via": link.issued_via, "expires_at": expires_at.isoformat()})
    await audit.record(
        session=session,
        actor=officer.badge,
        action="desk.signin",
        target_type="desk_session",
        target_id=row.id,
        officer_id=officer.id,
        detail=detail,
        at=now,
    )
    return SignInResult(LinkState.VALID, officer, session_token, expires_at)


async def active_session(
    *, session: AsyncSession, token: str, now: datetime | None = None
) -> ActiveSession | None:
    """Gets the live session a token belongs to, if it is open, unexpired and its officer may still sign in."""
    now = now or utcnow()
    # One round trip for the session, its officer, their unit and roles: it runs on every page.
    found = (
        await session.execute(
            select(DeskSession, Officer)
            .join(Officer, Officer.id == DeskSession.officer_id)
            .options(joinedload(Officer.unit), joinedload(Officer.role_rows))
            .where(DeskSession.token_hash == hash_token(token))
        )
    ).unique().first()
    if found is None:
        return None
    row, officer = found
    if row.ended_at is not None or row.expires_at <= now or not may_use_desk(officer):
        return None
    if now - row.last_seen_at >= SEEN_EVERY:
        row.last_seen_at = now
    return ActiveSession(row, officer)


async def end_session(
    *, session: AsyncSession, token: str, reason: str = "signout", now: datetime | None = None
) -> bool:
    """Ends a desk session (signing out); tells whether there was an open one."""
    now = now or utcnow()
    row = await session.scalar(select(DeskSession).where(DeskSession.token_hash == hash_token(token)))
    if row is None or row.ended_at is not None:
        return False
    row.ended_at = now
    row.end_reason = reason
    officer = await session.get(Officer, row.officer_id)
    await audit.record(
        session=session,
        actor=officer.badge if officer else audit.SYSTEM_ACTOR,
        action="desk.signout",
        target_type="desk_session",
        target_id=row.id,
        officer_id=row.officer_id,
        detail={"reason": reason},
        at=now,
    )
    return True
