"""The legal brigade's queue, answer feedback and the question log (in-memory SQLite)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import AuditEvent
from knowledge import feedback
from knowledge.feedback import FeedbackError


async def _actions(session: AsyncSession) -> list[tuple[str, str]]:
    rows = await session.scalars(
        select(AuditEvent).where(AuditEvent.action.startswith("kb.")).order_by(AuditEvent.id)
    )
    return [(e.actor, e.action) for e in rows]


class TestQueue:
    async def test_referred_question_waits_in_the_open_queue(self, session: AsyncSession, make_officer) -> None:  # type: ignore[no-untyped-def]
        """A referral is open, listed oldest first, and audited with the officer's badge."""
        officer = await make_officer(badge="1001")
        first = await feedback.refer_question(session=session, officer_id=officer.id, question="问题一")
        second = await feedback.refer_question(session=session, officer_id=officer.id, question="  问题二 ")
        open_items = await feedback.list_open(session=session)
        assert [q.id for q in open_items] == [first.id, second.id]
        assert second.question == "问题二"
        assert first.status == "open" and not first.saved_as_guidance
        assert await _actions(session) == [("1001", "kb.question_referred")] * 2

    async def test_answering_closes_the_question_and_records_who(self, session: AsyncSession, make_officer) -> None:  # type: ignore[no-untyped-def]
        """The legal officer's answer closes the item; it leaves the open list."""
        officer = await make_officer(badge="1001")
        legal = await make_officer(badge="9001", roles=("legal",))
        item = await feedback.refer_question(session=session, officer_id=officer.id, question="醉酒袭警怎么办")
        answered = await feedback.answer_question(
            session=session, question_id=item.id, answer="依法追究。", answered_by_id=legal.id
        )
        assert (answered.status, answered.answer, answered.answered_by_id) == ("answered", "依法追究。", legal.id)
        assert answered.answered_at is not None
        assert await feedback.list_open(session=session) == []
        await feedback.mark_saved_as_guidance(session=session, question_id=item.id)
        assert (await feedback.get_question(session=session, question_id=item.id)).saved_as_guidance  # type: ignore[union-attr]
        assert [a for _actor, a in await _actions(session)] == [
            "kb.question_referred", "kb.question_answered", "kb.answer_saved_as_guidance"
        ]

    async def test_bad_input_is_refused_with_a_reason(self, session: AsyncSession, make_officer) -> None:  # type: ignore[no-untyped-def]
        """Empty questions or answers, unknown ids and double answers raise FeedbackError."""
        officer = await make_officer(badge="1001")
        with pytest.raises(FeedbackError, match="empty"):
            await feedback.refer_question(session=session, officer_id=officer.id, question="  ")
        with pytest.raises(FeedbackError, match="no referred question"):
            await feedback.answer_question(session=session, question_id=999, answer="x", answered_by_id=officer.id)
        item = await feedback.refer_question(session=session, officer_id=officer.id, question="问")
        with pytest.raises(FeedbackError, match="no answer yet"):
            await feedback.mark_saved_as_guidance(session=session, question_id=item.id)
        await feedback.answer_question(session=session, question_id=item.id, answer="答", answered_by_id=officer.id)
        with pytest.raises(FeedbackError, match="already"):
            await feedback.answer_question(session=session, question_id=item.id, answer="再答", answered_by_id=officer.id)


class TestFeedbackAndLog:
    async def test_feedback_keeps_the_cited_records(self, session: AsyncSession, make_officer) -> None:  # type: ignore[no-untyped-def]
        """Helpful / not helpful is stored with the record ids and audited."""
        officer = await make_officer(badge="1001")
        item = await feedback.record_feedback(
            session=session, officer_id=officer.id, question="取保多久", helpful=False, record_ids=["s1", "s2"]
        )
        assert (item.helpful, item.record_ids) == (False, ["s1", "s2"])
        assert await _actions(session) == [("1001", "kb.feedback")]

    async def test_asked_questions_are_logged_as_audit_events(self, session: AsyncSession, make_officer) -> None:  # type: ignore[no-untyped-def]
        """Each asked question becomes an audit event with grounded and record ids."""
        officer = await make_officer(badge="1001")
        event = await feedback.record_question_asked(
            session=session, officer_id=officer.id, question="取保多久", grounded=True, record_ids=["s1"]
        )
        assert event.action == "kb.question_asked"
        assert event.detail == {"question": "取保多久", "grounded": True, "record_ids": ["s1"]}


class TestWhereAReferralGoes:
    async def _bureaus(self, session: AsyncSession) -> None:
        from core import identity

        for name, parent in (("城关分局", None), ("城关派出所", "城关分局"), ("城关法制大队", "城关分局"),
                             ("东区分局", None), ("东区法制大队", "东区分局")):
            await identity.add_unit(session=session, name=name, parent=parent)
        await identity.add_officer(session=session, badge="1", name="民警甲", unit="城关派出所")
        await identity.add_officer(session=session, badge="2", name="法制乙", unit="城关法制大队", roles=["legal"])
        await identity.add_officer(session=session, badge="3", name="法制丙", unit="东区法制大队", roles=["legal"])

    async def test_a_question_goes_to_the_legal_brigade_of_the_askers_own_bureau(self, session: AsyncSession) -> None:
        """A station's question reaches its bureau's 法制大队 (a sibling unit), not another bureau's."""
        from core import identity

        await self._bureaus(session)
        asker = await identity.get_officer(session=session, badge="1")
        assert asker is not None
        found = await feedback.legal_officers_for(session=session, officer=asker)
        assert [o.badge for o in found] == ["2"]

    async def test_a_legal_officer_asking_is_not_told_of_their_own_question(self, session: AsyncSession) -> None:
        """The asker is left out even when they hold the legal role."""
        from core import identity

        await self._bureaus(session)
        legal = await identity.get_officer(session=session, badge="2")
        assert legal is not None
        # the asker's own bureau has no other legal officer: the question is announced to the others
        assert [o.badge for o in await feedback.legal_officers_for(session=session, officer=legal)] == ["3"]

    async def test_an_officer_outside_any_bureau_reaches_every_legal_officer(self, session: AsyncSession) -> None:
        """With no legal officer up the chain (a tree not set up yet) no question waits unannounced."""
        from core import identity

        await self._bureaus(session)
        await identity.add_unit(session=session, name="独立单位")
        await identity.add_officer(session=session, badge="4", name="民警丁", unit="独立单位")
        asker = await identity.get_officer(session=session, badge="4")
        assert asker is not None
        assert {o.badge for o in await feedback.legal_officers_for(session=session, officer=asker)} == {"2", "3"}
