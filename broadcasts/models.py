"""Broadcasts, their recipients and acknowledgements.

A broadcast is written with its recipients (the audience resolved when it is sent or scheduled:
the head count the sender approved), then released to the outbox as one push per recipient.
An acknowledgement is a row of its own per officer and broadcast, with its time.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class BroadcastStatus(enum.StrEnum):
    """Where a broadcast is."""

    SCHEDULED = "scheduled"  # waiting for its time (or for its attachment to be uploaded)
    SENDING = "sending"  # released to the outbox, deliveries under way
    SENT = "sent"  # nothing left in flight (rows held for officers not yet enrolled may remain)
    CANCELLED = "cancelled"  # what was not yet sent was withdrawn
    FAILED = "failed"  # could not be released (its attachment is gone)


class Broadcast(Base):
    """A risk tip sent by the legal brigade to a chosen audience."""

    __tablename__ = "broadcasts"
    __table_args__ = (
        # The loop asks "status = scheduled AND send_at <= now" and "status = sending".
        Index("ix_broadcasts_status_send_at", "status", "send_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    # the audience as written (all, unit:NAME, unit-only:NAME, role:ROLE; see broadcasts.audience)
    audience: Mapped[str] = mapped_column(String(1000))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    # an optional photo or document: a Telegram file id, or a local file until it is uploaded once
    media_kind: Mapped[str | None] = mapped_column(String(16))
    media_file_id: Mapped[str | None] = mapped_column(String(255))
    media_path: Mapped[str | None] = mapped_column(String(1000))
    media_filename: Mapped[str | None] = mapped_column(String(255))
    # the linked articles as quoted when the tip was written: law, article, version, text
    articles: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default=BroadcastStatus.SCHEDULED.value)
    send_at: Mapped[datetime] = mapped_column(default=utcnow)
    # a release that failed for a passing reason (the upload) is tried again from this time
    retry_at: Mapped[datetime | None] = mapped_column()
    failure: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    released_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    cancelled_at: Mapped[datetime | None] = mapped_column()
    cancelled_by: Mapped[str | None] = mapped_column(String(64))
    # the sender's live status message, edited in place through the outbox
    status_message_id: Mapped[int | None] = mapped_column(BigInteger)
    status_edits: Mapped[int] = mapped_column(Integer, default=0)
    status_edited_at: Mapped[datetime | None] = mapped_column()
    status_shown: Mapped[str | None] = mapped_column(String(64))
    reminder_rounds: Mapped[int] = mapped_column(Integer, default=0)
    last_reminded_at: Mapped[datetime | None] = mapped_column()

    @property
    def topic(self) -> str:
        """Returns the outbox topic of this broadcast's tips."""
        return tip_topic(self.id)


class BroadcastRecipient(Base):
    """One officer a broadcast is for, with the unit they were in when it was sent."""

    __tablename__ = "broadcast_recipients"
    __table_args__ = (UniqueConstraint("broadcast_id", "officer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    # set when the tip was withdrawn before it reached this officer
    cancelled_at: Mapped[datetime | None] = mapped_column()


class BroadcastAck(Base):
    """One officer's acknowledgement (已阅) of one broadcast."""

    __tablename__ = "broadcast_acks"
    __table_args__ = (UniqueConstraint("broadcast_id", "officer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
    acknowledged_at: Mapped[datetime] = mapped_column(default=utcnow)


def tip_topic(broadcast_id: int) -> str:
    """Returns the outbox topic of a broadcast's tips (one row per recipient)."""
    return f"broadcast:{broadcast_id}"


def reminder_topic(broadcast_id: int) -> str:
    """Returns the outbox topic of a broadcast's reminder rounds."""
    return f"broadcast-reminder:{broadcast_id}"


def status_topic(broadcast_id: int) -> str:
    """Returns the outbox topic of the sender's status message and its edits."""
    return f"broadcast-status:{broadcast_id}"
