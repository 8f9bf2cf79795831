"""Reading and repairing the queue: counts, listings, retrying dead rows, releasing held ones."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.db import utcnow
from core.identity import Officer
from core.outbox.model import OutboxMessage, OutboxStatus
from core.outbox.protocol import OutboxError


async def status_counts(*, session: AsyncSession) -> dict[tuple[str, str], int]:
    """Counts rows by (status, kind)."""
    rows = await session.execute(
        select(OutboxMessage.status, OutboxMessage.kind, func.count())
        .group_by(OutboxMessage.status, OutboxMessage.kind)
        .order_by(OutboxMessage.status, OutboxMessage.kind)
    )
    return {(status, kind): int(count) for status, kind, count in rows.all()}


async def topic_counts(*, session: AsyncSession, topic: str) -> dict[str, int]:
    """Counts one topic's rows by status (e.g. how much of a broadcast is sent, pending, dead)."""
    rows = await session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.topic == topic)
        .group_by(OutboxMessage.status)
    )
    return {status: int(count) for status, count in rows.all()}


async def list_by_status(
    *, session: AsyncSession, status: OutboxStatus, limit: int = 100
) -> Sequence[OutboxMessage]:
    """Lists the newest rows in a status."""
    rows = await session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == status.value).order_by(OutboxMessage.id.desc()).limit(limit)
    )
    return rows.all()


async def list_dead(*, session: AsyncSession, limit: int = 100) -> Sequence[OutboxMessage]:
    """Lists the newest dead rows."""
    return await list_by_status(session=session, status=OutboxStatus.DEAD, limit=limit)


async def list_held(*, session: AsyncSession, limit: int = 100) -> Sequence[OutboxMessage]:
    """Lists the newest held rows."""
    return await list_by_status(session=session, status=OutboxStatus.HELD, limit=limit)


async def retry_dead(
    *,
    session: AsyncSession,
    ids: Sequence[int] | None = None,
    all_dead: bool = False,
    actor: str = audit.CLI_ACTOR,
) -> int:
    """Puts dead rows back in the queue with a fresh attempt count; returns how many."""
    if not all_dead and not ids:
        raise OutboxError("name the rows to retry, or ask for all dead rows")
    stmt = (
        update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.DEAD.value)
        .values(
            status=OutboxStatus.PENDING.value,
            attempts=0,
            not_before=utcnow(),
            lease_owner=None,
            lease_expires_at=None,
        )
        .returning(OutboxMessage.id)
    )
    if not all_dead and ids:
        stmt = stmt.where(OutboxMessage.id.in_(list(ids)))
    retried = sorted(
        (await session.execute(stmt, execution_options={"synchronize_session": False})).scalars()
    )
    if retried:
        await audit.record(
            session=session,
            actor=actor,
            action="outbox.retry_dead",
            target_type="outbox",
            target_id=retried[0] if len(retried) == 1 else None,
            detail={"count": len(retried), "ids": retried[:100]},
        )
    return len(retried)


def _deliverable() -> ColumnElement[bool]:
    return Officer.telegram_user_id.is_not(None) & Officer.active.is_(True) & Officer.reachable.is_(True)


async def release_held(
    *, session: AsyncSession, officer_id: int | None = None, actor: str = audit.SYSTEM_ACTOR
) -> int:
    """Queues again the held rows of officers who can now be reached; returns how many."""
    reachable = select(Officer.id).where(_deliverable())
    if officer_id is not None:
        reachable = reachable.where(Officer.id == officer_id)
    stmt = (
        update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.HELD.value, OutboxMessage.officer_id.in_(reachable))
        .values(status=OutboxStatus.PENDING.value, last_error=None)
        .returning(OutboxMessage.id)
    )
    released = sorted(
        (await session.execute(stmt, execution_options={"synchronize_session": False})).scalars()
    )
    if released:
        await audit.record(
            session=session,
            actor=actor,
            action="outbox.released",
            target_type="outbox",
            officer_id=officer_id,
            detail={"count": len(released), "ids": released[:100]},
        )
    return len(released)

