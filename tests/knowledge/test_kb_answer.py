"""Answers: grounded extractive answers, chat-model answers checked citation by citation, no-basis."""

from __future__ import annotations

from pathlib import Path

from langchain_core.language_models import FakeListChatModel

from core.settings import Settings
from knowledge.service import KnowledgeBase

QUESTION = "取保候审最长不得超过多少个月？"


def _kb_with_model(settings: Settings, corpus_dir: Path, embeddings: object, tmp_path: Path, reply: str) -> KnowledgeBase:
    return KnowledgeBase.open(
        settings,
        embeddings=embeddings,  # type: ignore[arg-type]
        chat_model=FakeListChatModel(responses=[reply]),
        corpus_dir=corpus_dir,
        precomputed=tmp_path / "none.npz",
    )


class TestExtractiveAnswers:
    def test_quotes_the_best_article_verbatim_under_a_lead_in_from_its_text(self, kb: KnowledgeBase) -> None:
        """Without a chat model the answer quotes the article and leads with its own sentence."""
        answer = kb.ask(QUESTION)
        assert answer.grounded
        top = answer.citations[0]
        assert (top.law, top.article) == ("刑事诉讼法", "第七十九条")
        assert top.text in answer.answer
        assert answer.answer.startswith("根据《刑事诉讼法》第七十九条：")
        assert "取保候审最长不得超过十二个月" in answer.answer.splitlines()[0]
        assert 1 <= len(answer.citations) <= 3

    def test_english_questions_get_english_framing(self, kb: KnowledgeBase) -> None:
        """language="en" frames the quoted articles in English."""
        answer = kb.ask("刑诉法第79条", language="en")
        assert answer.answer.startswith("According to 《刑事诉讼法》第七十九条:")

    def test_off_topic_questions_get_no_citations_and_the_referral_offer(self, kb: KnowledgeBase) -> None:
        """Nothing relevant: grounded false, no citations, and the legal brigade is offered."""
        for question in ("how do I bake bread", "今天天气怎么样"):
            answer = kb.ask(question)
            assert not answer.grounded, question
            assert answer.citations == []
        assert "法制大队" in kb.ask("今天天气怎么样").answer

    def test_empty_question_is_not_answered(self, kb: KnowledgeBase) -> None:
        """A blank question is politely not grounded rather than an error."""
        assert not kb.ask("   ").grounded


class TestChatModelAnswers:
    def test_answer_citing_only_retrieved_articles_is_used(
        self, settings: Settings, corpus_dir: Path, embeddings: object, tmp_path: Path
    ) -> None:
        """A model answer whose every citation was retrieved is kept, with those citations."""
        kb = _kb_with_model(
            settings, corpus_dir, embeddings, tmp_path, "取保候审最长十二个月（《刑事诉讼法》第七十九条）。"
        )
        answer = kb.ask(QUESTION)
        assert answer.answer.startswith("取保候审最长十二个月")
        assert [(c.law, c.article) for c in answer.citations] == [("刑事诉讼法", "第七十九条")]

    def test_answer_citing_an_unretrieved_article_is_discarded(
        self, settings: Settings, corpus_dir: Path, embeddings: object, tmp_path: Path
    ) -> None:
        """Citing an article that was not retrieved (even a real one) falls back to the extractive answer."""
        kb = _kb_with_model(
            settings, corpus_dir, embeddings, tmp_path, "取保候审最长十二个月（《刑法》第二百五十三条之一）。"
        )
        answer = kb.ask(QUESTION)
        assert answer.answer.startswith("根据《刑事诉讼法》第七十九条")
        assert "第二百五十三条之一" not in answer.answer

    def test_answer_citing_nothing_is_discarded(
        self, settings: Settings, corpus_dir: Path, embeddings: object, tmp_path: Path
    ) -> None:
        """An uncited model answer is replaced by the extractive one."""
        kb = _kb_with_model(settings, corpus_dir, embeddings, tmp_path, "最长一年。")
        answer = kb.ask(QUESTION)
        assert answer.answer.startswith("根据《刑事诉讼法》第七十九条")
