"""The knowledge base service: exact lookups, superseded marks, guidance, related articles."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings
from knowledge.service import KnowledgeBase, KnowledgeError


class TestOpening:
    def test_ingests_bundled_knowledge_when_the_index_is_empty(self, kb: KnowledgeBase) -> None:
        """A first open ingests every statute article and guidance section and indexes them."""
        assert kb.last_report is not None
        assert kb.last_report.added == 4
        assert kb.dense.count() == len(kb.store.records())

    def test_reopening_skips_unchanged_documents_and_embeds_nothing(
        self, kb: KnowledgeBase, settings: Settings, corpus_dir: Path, embeddings: object, tmp_path: Path
    ) -> None:
        """A second open finds every file unchanged and re-embeds nothing."""
        before = embeddings.documents_embedded  # type: ignore[attr-defined]
        again = KnowledgeBase.open(
            settings, embeddings=embeddings, corpus_dir=corpus_dir, precomputed=tmp_path / "none.npz"  # type: ignore[arg-type]
        )
        assert again.last_report is not None
        assert again.last_report.skipped == 4
        assert again.last_report.added == again.last_report.updated == 0
        assert embeddings.documents_embedded == before  # type: ignore[attr-defined]


class TestRestart:
    def test_a_restart_reuses_saved_tokens_instead_of_segmenting_again(
        self, kb: KnowledgeBase, settings: Settings, corpus_dir: Path, embeddings: object, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Tokens saved under data_dir/kb are reused: no article is segmented again on reopen."""
        import knowledge.lexical

        assert (settings.data_dir / "kb" / "tokens.json").exists()
        segmented: list[str] = []
        real = knowledge.lexical.tokenize
        monkeypatch.setattr(knowledge.lexical, "tokenize", lambda text: segmented.append(text) or real(text))
        KnowledgeBase.open(
            settings, embeddings=embeddings, corpus_dir=corpus_dir, precomputed=tmp_path / "none.npz"  # type: ignore[arg-type]
        )
        assert segmented == []


class TestReingest:
    def test_a_new_version_of_a_law_reuses_vectors_of_unchanged_articles(
        self, kb: KnowledgeBase, corpus_dir: Path, embeddings: object
    ) -> None:
        """Renaming to a new version date re-indexes the law but embeds only changed text."""
        old = corpus_dir / "laws" / "刑事诉讼法(2018-10-26).md"
        text = old.read_text("utf-8") + "\n第三百零九条 新增条文。\n"
        old.unlink()
        (corpus_dir / "laws" / "刑事诉讼法(2019-01-01).md").write_text(text, encoding="utf-8")
        before = embeddings.documents_embedded  # type: ignore[attr-defined]
        report = kb.ingest_bundled()
        assert (report.added, report.removed) == (1, 1)
        assert embeddings.documents_embedded - before == 1  # type: ignore[attr-defined]
        assert {c.version for c, _s in kb.search("取保候审", law="刑事诉讼法", top_k=10)} == {"2019-01-01"}
        assert kb.dense.count() == len(kb.store.records())


class TestExactReferences:
    def test_answers_an_abbreviated_reference_with_that_article(self, kb: KnowledgeBase) -> None:
        """"刑诉法第79条" is answered by 刑事诉讼法 第七十九条 verbatim, confidence 1."""
        answer = kb.ask("刑诉法第79条")
        assert answer.grounded
        assert answer.confidence == 1.0
        assert (answer.citations[0].law, answer.citations[0].article) == ("刑事诉讼法", "第七十九条")
        assert answer.citations[0].text in answer.answer

    def test_search_puts_the_named_article_first(self, kb: KnowledgeBase) -> None:
        """A bare 第二百五十三条之一 finds the only instrument that has it."""
        citation, score = kb.search("第二百五十三条之一")[0]
        assert (citation.law, citation.article, score) == ("刑法", "第二百五十三条之一", 1.0)


class TestSuperseded:
    def test_bundled_mark_is_shown_with_the_citation(self, kb: KnowledgeBase) -> None:
        """治安管理处罚法 is marked superseded by the bundled list, and the answer warns about it."""
        answer = kb.ask("治安法83条")
        assert answer.citations[0].superseded_by == "治安管理处罚法（2025年修订）"
        assert "治安管理处罚法（2025年修订）" in answer.answer

    def test_in_force_only_search_leaves_superseded_instruments_out(self, kb: KnowledgeBase) -> None:
        """Filtering to instruments in force drops the superseded law's articles."""
        laws = {c.law for c, _s in kb.search("询问查证 传唤 时间", top_k=10, in_force_only=True)}
        assert "治安管理处罚法" not in laws
        assert "治安管理处罚法" in {c.law for c, _s in kb.search("询问查证 传唤 时间", top_k=10)}

    def test_supersede_command_marks_an_instrument_and_clear_unmarks_it(self, kb: KnowledgeBase) -> None:
        """Superseding by name marks every record of it; clearing removes the mark."""
        kb.supersede("中华人民共和国刑法", "刑法（2099年修正）")
        record_id = kb.search("第二百七十七条")[0][0].record_id
        assert kb.get(record_id).superseded_by == "刑法（2099年修正）"  # type: ignore[union-attr]
        kb.supersede("刑法", None)
        assert kb.get(record_id).superseded_by is None  # type: ignore[union-attr]


class TestGuidance:
    def test_risk_tips_returns_the_tips_of_a_measure(self, kb: KnowledgeBase) -> None:
        """Tips under the 取保候审 heading come back in document order."""
        tips = kb.risk_tips("取保候审")
        assert [t.article for t in tips] == ["期限届满不解除", "适用条件把握不准"]
        assert all(t.kind == "guidance" for t in tips)

    def test_curated_answer_is_saved_indexed_and_survives_reingest(
        self, kb: KnowledgeBase, settings: Settings, corpus_dir: Path, embeddings: object, tmp_path: Path
    ) -> None:
        """add_guidance writes a .md under data_dir/guidance that a later open ingests again."""
        citation = kb.add_guidance(
            title="醉酒袭警", question="醉酒的人袭警要负刑事责任吗", answer="应当负刑事责任。", author="2001"
        )
        assert kb.get(citation.record_id) == citation
        assert list((settings.data_dir / "guidance").glob("*.md"))
        reopened = KnowledgeBase.open(
            settings, embeddings=embeddings, corpus_dir=corpus_dir, precomputed=tmp_path / "none.npz"  # type: ignore[arg-type]
        )
        assert reopened.get(citation.record_id) is not None
        assert reopened.ask("醉酒的人袭警要负刑事责任吗").citations[0].record_id == citation.record_id


class TestCuratedAnswers:
    def test_two_answers_under_the_same_heading_are_both_kept(self, kb: KnowledgeBase) -> None:
        """Curated answers never overwrite each other, even with the same title on the same day."""
        first = kb.add_guidance(title="同一标题", question="问题一", answer="答案一", author="2001")
        second = kb.add_guidance(title="同一标题", question="问题二", answer="答案二", author="2002")
        assert first.record_id != second.record_id
        assert kb.get(first.record_id).text.endswith("答案一")  # type: ignore[union-attr]
        assert kb.get(second.record_id).text.endswith("答案二")  # type: ignore[union-attr]

    def test_an_empty_answer_is_refused(self, kb: KnowledgeBase) -> None:
        """Saving guidance without an answer raises a clear error and writes nothing."""
        with pytest.raises(KnowledgeError, match="empty"):
            kb.add_guidance(title="空", question="问", answer="  ", author="2001")
        assert not list((kb.guidance_dir).glob("*.md"))


class TestRelated:
    def test_related_lists_neighbouring_articles_of_the_same_law(self, kb: KnowledgeBase) -> None:
        """An article's related list holds other articles of its instrument, not itself."""
        record_id = kb.search("刑事诉讼法第七十九条")[0][0].record_id
        related = kb.related(record_id)
        assert related
        assert all(c.law == "刑事诉讼法" and c.record_id != record_id for c in related)
