"""Claiming due rows under a lease, so two workers never hold the same row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, false, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import utcnow
from core.outbox.model import OutboxMessage, OutboxStatus
from core.outbox.protocol import Media, Outgoing


@dataclass(frozen=True)
class Claimed:
    """A row this worker holds the lease on."""

    id: int
    officer_id: int
    kind: str
    payload: dict[str, Any]
    urgent: bool
    attempts: int
    dedupe_key: str
    not_before: datetime
    lease_owner: str

    @property
    def text(self) -> str:
        """Returns the message text (a caption when the message carries media)."""
        return str(self.payload.get("text", ""))

    @property
    def parse_mode(self) -> str | None:
        """Returns the parse mode (None for plain text)."""
        value = self.payload.get("parse_mode")
        return str(value) if value else None

    @property
    def buttons(self) -> list[list[dict[str, str]]] | None:
        """Returns the inline keyboard, if any."""
        value = self.payload.get("buttons")
        return value if value else None

    @property
    def outgoing(self) -> Outgoing:
        """Returns the message as the messenger sends it."""
        edit = self.payload.get("edit_message_id")
        return Outgoing(
            text=self.text,
            parse_mode=self.parse_mode,
            buttons=self.buttons,
            media=tuple(Media.from_json(m) for m in self.payload.get("media") or ()),
            edit_message_id=int(edit) if edit is not None else None,
        )


async def claim_due(
    *,
    session: AsyncSession,
    lease_owner: str,
    limit: int,
    lease_seconds: float,
    now: datetime | None = None,
) -> list[Claimed]:
    """Claims up to `limit` due rows under a lease: expired leases first, then urgent, then the rest."""
    now = now or utcnow()
    expires = now + timedelta(seconds=lease_seconds)
    on_postgres = session.get_bind().dialect.name == "postgresql"
    m = OutboxMessage
    passes: list[tuple[ColumnElement[bool], tuple[Any, ...]]] = [
        ((m.status == OutboxStatus.SENDING.value) & (m.lease_expires_at <= now), (m.lease_expires_at, m.id)),
        (
            (m.status == OutboxStatus.PENDING.value) & (m.urgent == true()) & (m.not_before <= now),
            (m.not_before, m.id),
        ),
        (
            (m.status == OutboxStatus.PENDING.value) & (m.urgent == false()) & (m.not_before <= now),
            (m.not_before, m.id),
        ),
    ]
    claimed: list[Claimed] = []
    for condition, order in passes:
        remaining = limit - len(claimed)
        if remaining <= 0:
            break
        due = select(m.id).where(condition).order_by(*order).limit(remaining)
        if on_postgres:
            # A MATERIALIZED CTE runs the locking select exactly once. Inside "id IN (...)" the
            # planner may re-run it per row, and with SKIP LOCKED each run finds fresh rows, so
            # one claim could take far more than its limit.
            locked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
            target: ColumnElement[bool] = m.id == locked.c.id
        else:
            # SQLite runs the whole UPDATE under its single writer lock, sub-select included.
            target = m.id.in_(due)
        stmt = (
            update(m)
            .where(target, condition)
            .values(status=OutboxStatus.SENDING.value, lease_owner=lease_owner, lease_expires_at=expires)
            .returning(
                m.id, m.officer_id, m.kind, m.payload, m.urgent, m.attempts, m.dedupe_key, m.not_before
            )
        )
        result = await session.execute(stmt, execution_options={"synchronize_session": False})
        claimed.extend(
            Claimed(
                id=r.id,
                officer_id=r.officer_id,
                kind=r.kind,
                payload=r.payload,
                urgent=r.urgent,
                attempts=r.attempts,
                dedupe_key=r.dedupe_key,
                not_before=r.not_before,
                lease_owner=lease_owner,
            )
            for r in result.all()
        )
    claimed.sort(key=lambda c: (not c.urgent, c.not_before, c.id))
    return claimed

