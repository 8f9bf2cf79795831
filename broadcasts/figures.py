"""A broadcast's figures, counted live from its recipients, its outbox rows and the acknowledgements.

- recipients: the officers it was addressed to;
- sent: tips Telegram accepted;
- acknowledged: officers who pressed 已阅 (one row each, whenever they did);
- unreachable: tips that cannot be delivered as things stand: the officer blocked the bot, was
  deactivated since, or the send failed for good (dead rows; ``frontline outbox retry-dead``
  puts them back);
- pending: everything still on its way, including tips held for officers not yet enrolled
  (``awaiting_enrollment``), who get them when they enroll;
- cancelled: tips withdrawn before they went out.

recipients = sent + unreachable + pending + cancelled, always.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Broadcast, BroadcastAck, BroadcastRecipient, tip_topic
from core.identity import Officer, Unit
from core.outbox import OutboxMessage, OutboxStatus

JSON_KEYS = ("id", "recipients", "sent", "acknowledged", "unreachable", "pending", "cancelled")


@dataclass(frozen=True)
class Figures:
    """How far a broadcast (or one unit's share of it) has got."""

    broadcast_id: int
    recipients: int = 0
    sent: int = 0
    acknowledged: int = 0
    unreachable: int = 0
    pending: int = 0
    cancelled: int = 0
    awaiting_enrollment: int = 0
    # tips in the outbox still pending or being sent: the broadcast is sending while any are
    in_flight: int = 0

    @property
    def ack_percent(self) -> int:
        """Returns the acknowledged share of the tips delivered, in whole percent."""
        base = max(self.sent, self.acknowledged)
        return round(100 * self.acknowledged / base) if base else 0

    def as_json(self) -> dict[str, int]:
        """Returns the figures as ``frontline broadcasts stats --json`` prints them (a stable contract)."""
        values = {
            "id": self.broadcast_id,
            "recipients": self.recipients,
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "unreachable": self.unreachable,
            "pending": self.pending,
            "cancelled": self.cancelled,
        }
        return {key: values[key] for key in JSON_KEYS}

    def digest(self) -> str:
        """Returns what the sender's status message shows, to tell whether it needs an edit."""
        return (
            f"{self.recipients}/{self.sent}/{self.acknowledged}/{self.unreachable}/"
            f"{self.pending}/{self.cancelled}/{self.awaiting_enrollment}"
        )


@dataclass(frozen=True)
class UnitFigures:
    """One unit's share of a broadcast's figures."""

    unit_id: int
    unit_name: str
    figures: Figures


@dataclass(frozen=True)
class Unacknowledged:
    """A recipient who has not acknowledged a broadcast, and where their tip is."""

    unit_name: str
    badge: str
    name: str
    state: str  # delivered | pending | not_enrolled | unreachable


def _states(topic: str) -> tuple[Any, ...]:
    """Returns the outbox row's state expressions: sent, unreachable, awaiting enrollment, in flight."""
    o = OutboxMessage
    held = o.status == OutboxStatus.HELD.value
    awaiting = and_(
        held, Officer.telegram_user_id.is_(None), Officer.active.is_(True), Officer.reachable.is_(True)
    )
    unreachable: ColumnElement[bool] = (o.status == OutboxStatus.DEAD.value) | (held & ~awaiting)
    sent = o.status == OutboxStatus.SENT.value
    in_flight = o.status.in_([OutboxStatus.PENDING.value, OutboxStatus.SENDING.value])
    return sent, unreachable, awaiting, in_flight


async def unit_figures(*, session: AsyncSession, broadcast_id: int) -> list[UnitFigures]:
    """Counts a broadcast's figures per unit (the unit each recipient was in when it was sent)."""
    r, o, a = BroadcastRecipient, OutboxMessage, BroadcastAck
    topic = tip_topic(broadcast_id)
    sent, unreachable, awaiting, in_flight = _states(topic)
    query = (
        select(
            r.unit_id,
            Unit.name,
            func.count(),
            func.count(r.cancelled_at),
            func.count().filter(sent),
            func.count().filter(unreachable),
            func.count().filter(awaiting),
            func.count().filter(in_flight),
            func.count(a.id),
        )
        .select_from(r)
        .join(Officer, Officer.id == r.officer_id)
        .join(Unit, Unit.id == r.unit_id)
        .outerjoin(o, and_(o.topic == topic, o.officer_id == r.officer_id))
        .outerjoin(a, and_(a.broadcast_id == r.broadcast_id, a.officer_id == r.officer_id))
        .where(r.broadcast_id == broadcast_id)
        .group_by(r.unit_id, Unit.name)
        .order_by(Unit.name)
    )
    result: list[UnitFigures] = []
    for unit_id, unit_name, total, cancelled, n_sent, n_unreachable, n_awaiting, n_flight, acked in (
        await session.execute(query)
    ).all():
        pending = max(0, int(total) - int(cancelled) - int(n_sent) - int(n_unreachable))
        result.append(
            UnitFigures(
                unit_id=int(unit_id),
                unit_name=str(unit_name),
                figures=Figures(
                    broadcast_id=broadcast_id,
                    recipients=int(total),
                    sent=int(n_sent),
                    acknowledged=int(acked),
                    unreachable=int(n_unreachable),
                    pending=pending,
                    cancelled=int(cancelled),
                    awaiting_enrollment=int(n_awaiting),
                    in_flight=int(n_flight),
                ),
            )
        )
    return result


def total(broadcast_id: int, parts: Sequence[UnitFigures]) -> Figures:
    """Adds up units' figures."""
    fields = ("recipients", "sent", "acknowledged", "unreachable", "pending", "cancelled",
              "awaiting_enrollment", "in_flight")
    sums = {name: sum(getattr(p.figures, name) for p in parts) for name in fields}
    return Figures(broadcast_id=broadcast_id, **sums)


async def figures(*, session: AsyncSession, broadcast_id: int) -> Figures:
    """Counts a broadcast's figures."""
    return total(broadcast_id, await unit_figures(session=session, broadcast_id=broadcast_id))


async def unacknowledged(
    *, session: AsyncSession, broadcast_id: int, limit: int | None = None
) -> list[Unacknowledged]:
    """Lists the recipients who have not acknowledged, by unit then badge (withdrawn tips left out)."""
    r, o, a = BroadcastRecipient, OutboxMessage, BroadcastAck
    topic = tip_topic(broadcast_id)
    sent, unreachable, awaiting, _in_flight = _states(topic)
    query = (
        select(Unit.name, Officer.badge, Officer.name, sent, unreachable, awaiting)
        .select_from(r)
        .join(Officer, Officer.id == r.officer_id)
        .join(Unit, Unit.id == r.unit_id)
        .outerjoin(o, and_(o.topic == topic, o.officer_id == r.officer_id))
        .outerjoin(a, and_(a.broadcast_id == r.broadcast_id, a.officer_id == r.officer_id))
        .where(r.broadcast_id == broadcast_id, r.cancelled_at.is_(None), a.id.is_(None))
        .order_by(Unit.name, Officer.badge)
    )
    if limit is not None:
        query = query.limit(limit)
    result: list[Unacknowledged] = []
    for unit_name, badge, name, is_sent, is_unreachable, is_awaiting in (await session.execute(query)).all():
        if is_sent:
            state = "delivered"
        elif is_unreachable:
            state = "unreachable"
        elif is_awaiting:
            state = "not_enrolled"
        else:
            state = "pending"
        result.append(Unacknowledged(unit_name=unit_name, badge=badge, name=name, state=state))
    return result


async def count_unacknowledged(*, session: AsyncSession, broadcast_id: int) -> int:
    """Counts the recipients who have not acknowledged (withdrawn tips left out)."""
    r, a = BroadcastRecipient, BroadcastAck
    query = (
        select(func.count())
        .select_from(r)
        .outerjoin(a, and_(a.broadcast_id == r.broadcast_id, a.officer_id == r.officer_id))
        .where(r.broadcast_id == broadcast_id, r.cancelled_at.is_(None), a.id.is_(None))
    )
    return int(await session.scalar(query) or 0)


def reminder_targets(broadcast_id: int, *columns: Any) -> Select[Any]:
    """Selects the recipients a reminder round reaches: the tip was delivered, not acknowledged, still active."""
    r, o, a = BroadcastRecipient, OutboxMessage, BroadcastAck
    return (
        select(*columns)
        .select_from(r)
        .join(Officer, Officer.id == r.officer_id)
        .join(o, and_(o.topic == tip_topic(broadcast_id), o.officer_id == r.officer_id))
        .outerjoin(a, and_(a.broadcast_id == r.broadcast_id, a.officer_id == r.officer_id))
        .where(
            r.broadcast_id == broadcast_id,
            r.cancelled_at.is_(None),
            o.status == OutboxStatus.SENT.value,
            a.id.is_(None),
            Officer.active.is_(True),
        )
    )


async def count_reminder_targets(*, session: AsyncSession, broadcast_id: int) -> int:
    """Counts the recipients a reminder round would reach."""
    return int(await session.scalar(reminder_targets(broadcast_id, func.count())) or 0)


@dataclass(frozen=True)
class AckRate:
    """How many of a broadcast's recipients (within some units) have acknowledged it."""

    broadcast_id: int
    recipients: int
    acknowledged: int

    @property
    def percent(self) -> int:
        """The acknowledged share of the recipients, in whole percent."""
        return round(100 * self.acknowledged / self.recipients) if self.recipients else 0


async def ack_rates(
    *, session: AsyncSession, broadcast_ids: Sequence[int], unit_ids: Collection[int] | None = None
) -> dict[int, AckRate]:
    """Counts recipients (not withdrawn) and acknowledgements of several broadcasts in one query.

    ``unit_ids`` keeps the recipients who were in those units when the tip was sent (None: all).
    """
    if not broadcast_ids:
        return {}
    r, a = BroadcastRecipient, BroadcastAck
    ids = list(broadcast_ids)
    if unit_ids is None:
        # Only a recipient who got the tip can acknowledge it: the two counts need no join.
        recipient_rows = await session.execute(
            select(r.broadcast_id, func.count())
            .where(r.broadcast_id.in_(ids), r.cancelled_at.is_(None))
            .group_by(r.broadcast_id)
        )
        recipients = {int(b): int(n) for b, n in recipient_rows.all()}
        ack_rows = await session.execute(
            select(a.broadcast_id, func.count()).where(a.broadcast_id.in_(ids)).group_by(a.broadcast_id)
        )
        acked = {int(b): int(n) for b, n in ack_rows.all()}
        return {b: AckRate(b, recipients.get(b, 0), acked.get(b, 0)) for b in ids}
    query = (
        select(r.broadcast_id, func.count(), func.count(a.id))
        .select_from(r)
        .outerjoin(a, and_(a.broadcast_id == r.broadcast_id, a.officer_id == r.officer_id))
        .where(r.broadcast_id.in_(ids), r.cancelled_at.is_(None), r.unit_id.in_(sorted(unit_ids)))
        .group_by(r.broadcast_id)
    )
    found = {
        int(b): AckRate(int(b), int(total), int(n)) for b, total, n in (await session.execute(query)).all()
    }
    return {b: found.get(b, AckRate(b, 0, 0)) for b in ids}


async def recent_reaching(
    *, session: AsyncSession, unit_ids: Collection[int] | None, limit: int = 5
) -> list[Broadcast]:
    """Lists the latest released broadcasts that reached officers of some units (None: any), newest first."""
    query = select(Broadcast).where(Broadcast.released_at.is_not(None))
    if unit_ids is not None:
        query = query.where(
            exists().where(BroadcastRecipient.broadcast_id == Broadcast.id, BroadcastRecipient.unit_id.in_(sorted(unit_ids)))
        )
    query = query.order_by(Broadcast.released_at.desc(), Broadcast.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())
