"""The legal brigade's questions on the desk: answers to officers through the outbox, curated guidance."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from core.audit import AuditEvent
from core.outbox import OutboxMessage
from core.settings import Settings
from ingest.statutes import parse_document
from knowledge import curation, feedback
from knowledge.curation import CurationError, GuidanceWatch, cited_articles
from knowledge.models import UnansweredQuestion
from tests.desk.conftest import DeskHarness

QUESTION = "醉酒的人在派出所里打伤了同伴，能直接行政拘留吗？"
ANSWER = "醉酒的人违反治安管理的，应当给予处罚（治安管理处罚法第十五条）；<及时固定证据>\n# 注意取证。"


async def _referred(desk: DeskHarness, *, language: str = "zh", telegram_user_id: int | None = 555) -> int:
    asker = await desk.add_officer("P1", name="张伟", telegram_user_id=telegram_user_id, language=language)
    await desk.add_officer("L1", name="周法制", roles=("officer", "legal"))
    async with desk.session() as session:
        item = await feedback.refer_question(session=session, officer_id=asker.id, question=QUESTION)
    return item.id


class TestAnswering:
    async def test_an_answer_reaches_the_officer_through_the_outbox(self, desk: DeskHarness) -> None:
        """Answering queues one urgent push to the asker, in their language, and marks the question answered."""
        question_id = await _referred(desk, language="en")
        client = await desk.signed_in("L1")
        queue = await client.get("/questions")
        assert QUESTION in queue.text and "张伟" in queue.text
        done = await desk.post(client, f"/questions/{question_id}/answer", {"answer": ANSWER}, page="/questions")
        assert done.status_code == 303 and "/questions/answered" in done.headers["location"]
        async with desk.session() as session:
            [push] = (await session.scalars(select(OutboxMessage))).all()
            item = await session.get(UnansweredQuestion, question_id)
        assert push.kind == "legal.answer" and push.urgent and push.dedupe_key == f"legal-answer:{question_id}"
        assert "The legal brigade answered your question:" in push.payload["text"]
        assert "&lt;及时固定证据&gt;" in push.payload["text"] and "治安管理处罚法第十五条" in push.payload["text"]
        assert item is not None and item.status == "answered" and item.answer == ANSWER.strip()
        page = await client.get(done.headers["location"])
        assert "答复已发送给 张伟" in page.text

    async def test_an_empty_answer_keeps_the_question_and_says_why(self, desk: DeskHarness) -> None:
        """A blank answer is refused politely; the question stays open and nothing is queued."""
        question_id = await _referred(desk)
        client = await desk.signed_in("L1")
        refused = await desk.post(client, f"/questions/{question_id}/answer", {"answer": "   "}, page="/questions")
        assert refused.status_code == 400 and "请填写答复" in refused.text
        async with desk.session() as session:
            assert (await session.scalars(select(OutboxMessage))).first() is None

    async def test_a_too_long_answer_is_shown_back_for_shortening(self, desk: DeskHarness) -> None:
        """An answer over 3000 characters is refused and the typed text is shown back, not lost."""
        question_id = await _referred(desk)
        client = await desk.signed_in("L1")
        long_answer = "依法处理。" * 700
        refused = await desk.post(client, f"/questions/{question_id}/answer", {"answer": long_answer}, page="/questions")
        assert refused.status_code == 400 and "3500" in refused.text and long_answer in refused.text

    async def test_a_question_answered_twice_is_refused_the_second_time(self, desk: DeskHarness) -> None:
        """Two legal officers answering at once: the second is told it was answered, and one push exists."""
        question_id = await _referred(desk)
        await desk.add_officer("L2", roles=("officer", "legal"), unit="一中队")
        first, second = await desk.signed_in("L1"), await desk.signed_in("L2")
        assert (await desk.post(first, f"/questions/{question_id}/answer", {"answer": "可以。"}, page="/questions")).status_code == 303
        late = await desk.post(second, f"/questions/{question_id}/answer", {"answer": "不可以。"}, page="/questions")
        assert late.status_code == 409 and "该问题已有答复" in late.text
        async with desk.session() as session:
            assert len((await session.scalars(select(OutboxMessage))).all()) == 1

    async def test_an_officer_not_yet_reachable_is_held_not_dropped(self, desk: DeskHarness) -> None:
        """An asker without a Telegram account gets the push queued (the outbox holds it); the desk says so."""
        question_id = await _referred(desk, telegram_user_id=None)
        client = await desk.signed_in("L1")
        done = await desk.post(client, f"/questions/{question_id}/answer", {"answer": "可以。"}, page="/questions")
        page = await client.get(done.headers["location"])
        assert "手机可以接收时即送达" in page.text
        async with desk.session() as session:
            assert len((await session.scalars(select(OutboxMessage))).all()) == 1


class TestGuidance:
    async def test_an_answer_kept_as_guidance_is_a_file_the_knowledge_base_reads(self, desk: DeskHarness) -> None:
        """Keeping an answer writes curated guidance in the form the knowledge base indexes, and audits it."""
        question_id = await _referred(desk)
        client = await desk.signed_in("L1")
        await desk.post(client, f"/questions/{question_id}/answer", {"answer": ANSWER}, page="/questions")
        saved = await desk.post(client, f"/questions/{question_id}/guidance", {"title": "醉酒打人"}, page="/questions/answered")
        assert saved.status_code == 303
        [path] = list(curation.guidance_dir(desk.settings).glob("*.md"))
        document = parse_document(path.read_text(encoding="utf-8"), str(path))
        [record] = document.records
        assert record.kind == "guidance" and record.article == "醉酒打人"
        assert QUESTION in record.text and "治安管理处罚法第十五条" in record.text
        assert "＃ 注意取证" in record.text  # a '#' line would have split the record
        async with desk.session() as session:
            item = await session.get(UnansweredQuestion, question_id)
            event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "kb.guidance_saved"))
        assert item is not None and item.saved_as_guidance
        assert event is not None and event.actor == "L1" and event.target_id == path.name
        again = await desk.post(client, f"/questions/{question_id}/guidance", {}, page="/questions/answered")
        assert again.status_code == 409

    async def test_guidance_is_edited_with_the_old_text_kept_in_the_audit_log(self, desk: DeskHarness) -> None:
        """Editing rewrites the entry (new version, editor) and the audit event keeps before and after."""
        question_id = await _referred(desk)
        client = await desk.signed_in("L1")
        await desk.post(client, f"/questions/{question_id}/answer", {"answer": "旧的答复。"}, page="/questions")
        await desk.post(client, f"/questions/{question_id}/guidance", {}, page="/questions/answered")
        [entry] = curation.list_guidance(desk.settings)
        edited = await desk.post(client, f"/guidance/{entry.name}", {
            "title": "醉酒打人的处理", "question": QUESTION, "answer": "新的答复。"}, page=f"/guidance/{entry.name}")
        assert edited.status_code == 303
        after = curation.get_guidance(desk.settings, entry.name)
        assert after is not None and after.answer == "新的答复。" and after.editor == "L1" and after.title == "醉酒打人的处理"
        async with desk.session() as session:
            event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "kb.guidance_edited"))
        assert event is not None and event.detail["before"]["answer"] == "旧的答复。"
        blank = await desk.post(client, f"/guidance/{entry.name}", {"title": "", "question": QUESTION, "answer": ""},
                                page=f"/guidance/{entry.name}")
        assert blank.status_code == 400 and QUESTION in blank.text

    async def test_retired_guidance_leaves_the_indexed_folder(self, desk: DeskHarness) -> None:
        """Retiring moves the file aside (kept for the record) and lists it under retired."""
        question_id = await _referred(desk)
        client = await desk.signed_in("L1")
        await desk.post(client, f"/questions/{question_id}/answer", {"answer": "可以。"}, page="/questions")
        await desk.post(client, f"/questions/{question_id}/guidance", {}, page="/questions/answered")
        [entry] = curation.list_guidance(desk.settings)
        retired = await desk.post(client, f"/guidance/{entry.name}/retire", {"reason": "法律已修改"}, page=f"/guidance/{entry.name}")
        assert retired.status_code == 303
        assert curation.list_guidance(desk.settings) == []
        assert [e.name for e in curation.list_guidance(desk.settings, retired=True)] == [entry.name]
        async with desk.session() as session:
            event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "kb.guidance_retired"))
        assert event is not None and event.detail["reason"] == "法律已修改"

    def test_names_outside_the_guidance_folder_are_refused(self, settings: Settings) -> None:
        """A name with a path in it never reaches the file system."""
        for name in ("../secret.md", "a/b.md", "..md", ".hidden.md"):
            with pytest.raises(CurationError):
                curation.get_guidance(settings, name)


class FakeRefreshable:
    """Counts how often it was asked to re-read its sources."""

    def __init__(self) -> None:
        self.calls = 0

    def ingest_bundled(self) -> None:
        self.calls += 1


class TestGuidanceWatch:
    def test_a_change_in_the_folder_is_read_once(self, settings: Settings) -> None:
        """Nothing changed: no re-read; a new, edited or removed file: exactly one."""
        folder = curation.guidance_dir(settings)
        folder.mkdir(parents=True)
        kb = FakeRefreshable()
        watch = GuidanceWatch(settings, kb)
        assert not watch.check() and kb.calls == 0
        (folder / "a.md").write_text("x", encoding="utf-8")
        assert watch.check() and kb.calls == 1
        assert not watch.check() and kb.calls == 1
        (folder / "a.md").write_text("longer", encoding="utf-8")
        assert watch.check() and kb.calls == 2
        (folder / "a.md").unlink()
        assert watch.check() and kb.calls == 3

    async def test_the_loop_runs_until_stopped(self, settings: Settings) -> None:
        """The periodic job re-reads after a change and stops when told."""
        folder = curation.guidance_dir(settings)
        folder.mkdir(parents=True)
        kb = FakeRefreshable()
        stop = asyncio.Event()
        task = asyncio.create_task(curation.run_guidance_watch_loop(settings=settings, kb=kb, stop=stop, every=0.05))
        await asyncio.sleep(0.1)
        (folder / "new.md").write_text("x", encoding="utf-8")
        for _ in range(100):
            if kb.calls:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 2)
        assert kb.calls == 1

    async def test_a_knowledge_base_that_cannot_re_read_ends_the_loop(self, settings: Settings) -> None:
        """Without ingest_bundled the loop returns at once instead of failing every round."""
        await asyncio.wait_for(
            curation.run_guidance_watch_loop(settings=settings, kb=object(), stop=asyncio.Event(), every=0.01), 1
        )

    def test_the_real_knowledge_base_reads_desk_guidance(self, settings: Settings, tmp_path: Path) -> None:
        """A file written by the desk is parsed by the ingest pipeline as curated guidance."""
        folder = curation.guidance_dir(settings)
        folder.mkdir(parents=True)
        path = folder / "20260316T090000000000-L1.md"
        path.write_text(curation._render({"kind": "guidance", "title": "法制大队解答", "version": "2026-03-16"},
                                          heading="标题", question="问？", answer="答。"), encoding="utf-8")
        [record] = parse_document(path.read_text(encoding="utf-8"), str(path)).records
        assert record.title == "法制大队解答" and "问：问？" in record.text and "答：答。" in record.text


class TestCitedArticles:
    def test_a_rule_citation_is_split_and_quoted(self) -> None:
        """刑事诉讼法第七十九条；公安机关办理行政案件程序规定第一百六十五条 -> both articles with text."""
        found = cited_articles("治安管理处罚法（2025年版）第一百一十八条；公安机关办理行政案件程序规定第一百六十五条")
        assert [(a.law, a.article, a.version) for a in found] == [
            ("治安管理处罚法", "第一百一十八条", "2025-06-27"),
            ("公安机关办理行政案件程序规定", "第一百六十五条", "2019-04-27"),
        ]
        assert all(a.text.startswith(a.article) for a in found)

    def test_an_article_not_bundled_is_named_without_text(self) -> None:
        """A law the corpus lacks gives the citation with an empty text (the page says so)."""
        [found] = cited_articles("某某条例第三条")
        assert found.text == "" and found.article == "第三条"
