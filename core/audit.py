"""Append-only audit log: who did what, when, to which target.

Rows are only ever inserted. The migration adds database triggers that refuse UPDATE
and DELETE on the table, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, ForeignKey, Index, String, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow

SYSTEM_ACTOR = "system"
CLI_ACTOR = "cli"


class AuditEvent(Base):
    """One recorded action."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


async def record(
    *,
    session: AsyncSession,
    actor: str,
    action: str,
    target_type: str | None = None,
    target_id: str | int | None = None,
    officer_id: int | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
    flush: bool = True,
) -> AuditEvent:
    """Records an action in the audit log (in the caller's transaction).

    flush=False leaves the row to the caller's commit (its id is unset until then): one round
    trip fewer for callers that write more in the same transaction and need no id.
    """
    event = AuditEvent(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        officer_id=officer_id,
        detail=detail or {},
        at=at or utcnow(),
    )
    session.add(event)
    if flush:
        await session.flush()
    return event


def about_officer(*, officer_id: int | None, badge: str) -> ColumnElement[bool]:
    """Matches the events about an officer: tied to their id, or targeting their badge."""
    about: ColumnElement[bool] = and_(AuditEvent.target_type == "officer", AuditEvent.target_id == badge)
    if officer_id is not None:
        about = or_(AuditEvent.officer_id == officer_id, about)
    return about


async def tail(
    *,
    session: AsyncSession,
    limit: int = 50,
    actor: str | None = None,
    about: ColumnElement[bool] | None = None,
    actor_or_about: bool = False,
    since: datetime | None = None,
    action: str | None = None,
) -> Sequence[AuditEvent]:
    """Gets the newest audit events, oldest first, by actor, subject (see about_officer), action and start.

    With actor_or_about, an event done by the actor or about the subject is shown; otherwise
    both must hold.
    """
    query = select(AuditEvent)
    by = AuditEvent.actor == actor if actor is not None else None
    if by is not None and about is not None and actor_or_about:
        query = query.where(or_(by, about))
    else:
        for condition in (by, about):
            if condition is not None:
                query = query.where(condition)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    rows = (await session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit))).all()
    return list(reversed(rows))
