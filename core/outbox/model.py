"""The outbox table: one row per push to one officer's phone."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class OutboxStatus(enum.StrEnum):
    """Where a row is on its way to the phone."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"
    HELD = "held"


class OutboxMessage(Base):
    """One push to one officer's phone."""

    __tablename__ = "outbox"
    __table_args__ = (
        # Claiming asks "status = pending AND urgent = ? AND not_before <= now ORDER BY not_before":
        # equality on the first two columns, then the index is already in claim order (not_before, id).
        Index("ix_outbox_claim", "status", "urgent", "not_before", "id"),
        # Finding rows of crashed workers: "status = sending AND lease_expires_at <= now".
        Index("ix_outbox_lease", "status", "lease_expires_at"),
        # Releasing held rows and listing an officer's pushes; also serves the foreign key.
        Index("ix_outbox_officer_status", "officer_id", "status"),
        # A domain counting the deliveries of one thing it pushed (a broadcast's sent / pending).
        Index("ix_outbox_topic_status", "topic", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"))
    kind: Mapped[str] = mapped_column(String(32))
    topic: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
