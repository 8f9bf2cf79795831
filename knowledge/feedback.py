"""The unanswered-questions queue for the legal brigade, answer feedback and the question log.

Every function is keyword-only, takes the caller's session, audits what it changes and never
commits: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.db import utcnow
from core.identity import Officer, Role, officers_with_role, unit_chain_ids, unit_parents
from knowledge.models import ANSWERED, OPEN, AnswerFeedback, UnansweredQuestion

MAX_QUESTION_CHARS = 2000


class FeedbackError(Exception):
    """A queue operation that cannot be done; the message says why."""


async def _actor(session: AsyncSession, officer_id: int) -> str:
    # The officer asking is usually loaded in this session already: no query then.
    officer = await session.get(Officer, officer_id)
    if officer is None:
        raise FeedbackError(f"no officer with id {officer_id}")
    return officer.badge


def _clean(question: str) -> str:
    question = question.strip()
    if not question:
        raise FeedbackError("the question is empty")
    return question[:MAX_QUESTION_CHARS]


async def refer_question(*, session: AsyncSession, officer_id: int, question: str) -> UnansweredQuestion:
    """Puts a question the knowledge base could not answer into the legal brigade's queue."""
    actor = await _actor(session, officer_id)
    item = UnansweredQuestion(officer_id=officer_id, question=_clean(question), status=OPEN, saved_as_guidance=False)
    session.add(item)
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="kb.question_referred",
        target_type="kb_question",
        target_id=item.id,
        officer_id=officer_id,
        detail={"question": item.question},
    )
    return item


async def legal_officers_for(*, session: AsyncSession, officer: Officer) -> Sequence[Officer]:
    """Finds the legal brigade a question from this officer goes to: the asker's own, up the unit chain.

    From the officer's unit upward, the first unit whose units (itself and those under it) hold
    active legal officers: a station's question reaches the 法制大队 of its own bureau, never
    another bureau's. Only when the officer's whole chain has none (a tree not yet set up) do all
    legal officers hear of it, so that no question waits unannounced.
    """
    holders = [h for h in await officers_with_role(session=session, role=Role.LEGAL) if h.id != officer.id]
    parents = await unit_parents(session=session)
    for unit_id in unit_chain_ids(parents, officer.unit_id):
        under = [h for h in holders if unit_id in unit_chain_ids(parents, h.unit_id)]
        if under:
            return under
    return holders


async def list_open(*, session: AsyncSession, limit: int = 20) -> list[UnansweredQuestion]:
    """Lists the oldest open questions first."""
    rows = await session.scalars(
        select(UnansweredQuestion)
        .where(UnansweredQuestion.status == OPEN)
        .order_by(UnansweredQuestion.created_at, UnansweredQuestion.id)
        .limit(limit)
    )
    return list(rows)


async def get_question(*, session: AsyncSession, question_id: int) -> UnansweredQuestion | None:
    """Gets a referred question by its id."""
    return await session.get(UnansweredQuestion, question_id)


async def answer_question(
    *, session: AsyncSession, question_id: int, answer: str, answered_by_id: int
) -> UnansweredQuestion:
    """Records the legal brigade's answer to a referred question."""
    item = await get_question(session=session, question_id=question_id)
    if item is None:
        raise FeedbackError(f"no referred question with id {question_id}")
    if item.status == ANSWERED:
        raise FeedbackError(f"question {question_id} has already been answered")
    answer = answer.strip()
    if not answer:
        raise FeedbackError("the answer is empty")
    actor = await _actor(session, answered_by_id)
    item.answer = answer
    item.answered_by_id = answered_by_id
    item.answered_at = utcnow()
    item.status = ANSWERED
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="kb.question_answered",
        target_type="kb_question",
        target_id=item.id,
        officer_id=item.officer_id,
        detail={"answer": answer},
    )
    return item


async def mark_saved_as_guidance(*, session: AsyncSession, question_id: int) -> UnansweredQuestion:
    """Marks an answered question as saved into the knowledge base as guidance."""
    item = await get_question(session=session, question_id=question_id)
    if item is None:
        raise FeedbackError(f"no referred question with id {question_id}")
    if item.status != ANSWERED:
        raise FeedbackError(f"question {question_id} has no answer yet")
    item.saved_as_guidance = True
    await session.flush()
    actor = await _actor(session, item.answered_by_id) if item.answered_by_id else audit.SYSTEM_ACTOR
    await audit.record(
        session=session,
        actor=actor,
        action="kb.answer_saved_as_guidance",
        target_type="kb_question",
        target_id=item.id,
        officer_id=item.officer_id,
    )
    return item


async def record_feedback(
    *, session: AsyncSession, officer_id: int, question: str, helpful: bool, record_ids: Sequence[str]
) -> AnswerFeedback:
    """Records whether an answer helped, with the records it cited."""
    actor = await _actor(session, officer_id)
    item = AnswerFeedback(
        officer_id=officer_id, question=_clean(question), helpful=helpful, record_ids=list(record_ids)
    )
    session.add(item)
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="kb.feedback",
        target_type="kb_feedback",
        target_id=item.id,
        officer_id=officer_id,
        detail={"helpful": helpful, "record_ids": list(record_ids)},
    )
    return item


async def record_question_asked(
    *, session: AsyncSession, officer_id: int, question: str, grounded: bool, record_ids: Sequence[str]
) -> audit.AuditEvent:
    """Logs an asked question (as an audit event) with whether it was answered and from what."""
    actor = await _actor(session, officer_id)
    return await audit.record(
        session=session,
        actor=actor,
        action="kb.question_asked",
        target_type="kb_question",
        officer_id=officer_id,
        detail={"question": _clean(question), "grounded": grounded, "record_ids": list(record_ids)},
        flush=False,  # written with the rest of the update at its commit
    )
