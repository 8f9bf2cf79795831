"""Tables of the knowledge domain: questions referred to the legal brigade, answer feedback."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow

OPEN = "open"
ANSWERED = "answered"


class UnansweredQuestion(Base):
    """A question the knowledge base could not answer, waiting for the legal brigade."""

    __tablename__ = "kb_unanswered_questions"
    __table_args__ = (Index("ix_kb_unanswered_questions_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
    question: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    answered_at: Mapped[datetime | None] = mapped_column()
    saved_as_guidance: Mapped[bool] = mapped_column(Boolean, default=False)


class AnswerFeedback(Base):
    """An officer's verdict on an answer: helpful or not, and which records it cited."""

    __tablename__ = "kb_answer_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
    question: Mapped[str] = mapped_column(Text)
    helpful: Mapped[bool] = mapped_column(Boolean)
    record_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
