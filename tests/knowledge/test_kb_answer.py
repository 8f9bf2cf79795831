"""Answers: grounded extractive answers, chat-model answers checked citation by citation, no-basis."""

from __future__ import annotations

from pathlib import Path

from langchain_core.language_models import FakeListChatModel

from core.settings import Settings
from knowledge.service import KnowledgeBase

QUESTION = "取保候审最长不得超过多少个月？"
# answered by the statute alone: no guidance section speaks of it in the test corpus
STATUTE_ONLY = "暴力袭击正在依法执行职务的人民警察怎么处罚？"


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
        """Without a chat model the answer quotes the article and leads with its answering paragraph."""
        answer = kb.ask(STATUTE_ONLY)
        assert answer.grounded
        top = answer.citations[0]
        assert (top.law, top.article) == ("刑法", "第二百七十七条")
        assert top.text in answer.answer
        assert answer.answer.startswith("根据《刑法》第二百七十七条第二款：")
        assert answer.lead == "暴力袭击正在依法执行职务的人民警察的，处三年以下有期徒刑、拘役或者管制。"
        assert 1 <= len(answer.citations) <= 3

    def test_guidance_that_answers_leads_labelled_with_its_date_and_its_articles_follow(
        self, kb: KnowledgeBase
    ) -> None:
        """A guidance section answering as surely as the article comes first, as guidance, then the article it cites."""
        answer = kb.ask(QUESTION)
        assert answer.grounded
        guidance, statute = answer.citations[0], answer.citations[1]
        assert (guidance.kind, guidance.law, guidance.article) == ("guidance", "执法风险提示", "期限届满不解除")
        assert answer.lead_in == f"法制大队指引《执法风险提示》期限届满不解除（{guidance.version}）："
        assert (statute.law, statute.article) == ("刑事诉讼法", "第七十九条")
        assert statute.text in answer.answer

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
        kb = _kb_with_model(settings, corpus_dir, embeddings, tmp_path, "处三年以下（《刑事诉讼法》第九十一条）。")
        answer = kb.ask(STATUTE_ONLY)
        assert answer.answer.startswith("根据《刑法》第二百七十七条")
        assert "处三年以下（《刑事诉讼法》第九十一条）" not in answer.answer
        assert "第九十一条" not in [c.article for c in answer.citations]

    def test_answer_citing_nothing_is_discarded(
        self, settings: Settings, corpus_dir: Path, embeddings: object, tmp_path: Path
    ) -> None:
        """An uncited model answer is replaced by the extractive one."""
        kb = _kb_with_model(settings, corpus_dir, embeddings, tmp_path, "最长一年。")
        answer = kb.ask(STATUTE_ONLY)
        assert answer.answer.startswith("根据《刑法》第二百七十七条")
