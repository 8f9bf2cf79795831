"""What the bot needs from the knowledge domain, as structural types.

The knowledge package provides the real objects; tests pass fakes of the same shape.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession


class CitationLike(Protocol):
    """One cited article or guidance record."""

    @property
    def law(self) -> str: ...
    @property
    def article(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def chapter(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def superseded_by(self) -> str | None: ...
    @property
    def record_id(self) -> str: ...


class AnswerLike(Protocol):
    """An answer to a question with its citations."""

    @property
    def question(self) -> str: ...
    @property
    def answer(self) -> str: ...
    @property
    def citations(self) -> Sequence[CitationLike]: ...
    @property
    def related(self) -> Sequence[CitationLike]: ...
    @property
    def grounded(self) -> bool: ...
    @property
    def confidence(self) -> float: ...


class KnowledgeBaseLike(Protocol):
    """The knowledge base the bot asks (blocking calls: run them in a thread)."""

    def ask(self, question: str, *, language: str = "zh") -> AnswerLike: ...
    def get(self, record_id: str) -> CitationLike | None: ...
    def related(self, record_id: str, *, limit: int = 5) -> Sequence[CitationLike]: ...
    def add_guidance(self, *, title: str, question: str, answer: str, author: str) -> CitationLike: ...
    def risk_tips(self, topic: str, *, limit: int = 3) -> Sequence[CitationLike]: ...


class QuestionLike(Protocol):
    """A question referred to the legal brigade."""

    @property
    def id(self) -> int: ...
    @property
    def officer_id(self) -> int: ...
    @property
    def question(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def status(self) -> Any: ...
    @property
    def answer(self) -> str | None: ...
    @property
    def saved_as_guidance(self) -> bool: ...


class FeedbackLike(Protocol):
    """The referral queue and feedback log (knowledge.feedback)."""

    async def refer_question(
        self, *, session: AsyncSession, officer_id: int, question: str
    ) -> QuestionLike: ...
    async def list_open(self, *, session: AsyncSession, limit: int = 20) -> Sequence[QuestionLike]: ...
    async def get_question(self, *, session: AsyncSession, question_id: int) -> QuestionLike | None: ...
    async def answer_question(
        self, *, session: AsyncSession, question_id: int, answer: str, answered_by_id: int
    ) -> QuestionLike: ...
    async def mark_saved_as_guidance(self, *, session: AsyncSession, question_id: int) -> Any: ...
    async def record_feedback(
        self, *, session: AsyncSession, officer_id: int, question: str, helpful: bool, record_ids: list[str]
    ) -> Any: ...
    async def record_question_asked(
        self, *, session: AsyncSession, officer_id: int, question: str, grounded: bool, record_ids: list[str]
    ) -> Any: ...


def default_feedback() -> FeedbackLike:
    """Returns the knowledge package's feedback module."""
    module: Any = importlib.import_module("knowledge.feedback")
    feedback: FeedbackLike = module
    return feedback


def open_knowledge_base(settings: Any) -> KnowledgeBaseLike:
    """Opens the knowledge package's knowledge base (prepares the bundled one on first use)."""
    module: Any = importlib.import_module("knowledge.service")
    kb: KnowledgeBaseLike = module.KnowledgeBase.open(settings)
    return kb
