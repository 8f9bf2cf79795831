"""Hybrid retrieval: fusion, filters, law names in the query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from ingest.statutes import Record, content_hash
from knowledge.retrieve import FusionWeights, Retriever


def _record(law: str, article: str, text: str, title: str | None = None) -> Record:
    return Record(
        record_id=f"s{abs(hash((law, article))) % 10**12}",
        kind="statute",
        title=title or law,
        law=law,
        article=article,
        chapter="",
        version="2020-01-01",
        source=f"laws/{law}.md",
        text=f"{article} {text}",
        content_hash=content_hash(law, article, text),
    )


class StubDense:
    """A dense index that returns fixed similarities."""

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores
        self.last_where: dict[str, Any] | None = None

    def count(self) -> int:
        return len(self.scores)

    def query(self, vector: Sequence[float], *, top_k: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        self.last_where = where
        return sorted(self.scores.items(), key=lambda kv: -kv[1])[:top_k]


class ZeroEmbeddings(Embeddings):
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[0.0] for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return [0.0]


# A is relevant: second in both lists. B wins lexically only, C wins dense only.
A = _record("甲法", "第一条", "对被拘留的人需要逮捕的，在三日以内提请批准")
B = _record("甲法", "第二条", "被拘留的人提请批准逮捕的期限另有规定")
C = _record("甲法", "第三条", "无关的文字")
D = _record("甲法", "第四条", "别的内容")


def _retriever(weights: FusionWeights | None = None) -> tuple[Retriever, StubDense]:
    dense = StubDense({C.record_id: 0.90, A.record_id: 0.89, D.record_id: 0.70, B.record_id: 0.60})
    retriever = Retriever([A, B, C, D], embeddings=ZeroEmbeddings(), dense=dense, weights=weights)  # type: ignore[arg-type]
    return retriever, dense


class TestFusion:
    def test_fusion_ranks_the_article_both_signals_agree_on_first(self) -> None:
        """Lexical alone and dense alone each put a different wrong article first; fused gets it right."""
        retriever, _dense = _retriever(FusionWeights(authority=0.0))
        query = "被拘留的人提请批准逮捕期限"
        assert retriever.search(query, mode="lexical")[0].record == B
        assert retriever.search(query, mode="dense")[0].record == C
        assert retriever.search(query)[0].record == A

    def test_a_named_law_outranks_other_instruments(self) -> None:
        """When the question names an instrument, its articles get the boost."""
        law = _record("乙法", "第九条", "提请批准逮捕")
        other = _record("丙规定", "第九条", "提请批准逮捕 提请批准逮捕")
        dense = StubDense({law.record_id: 0.8, other.record_id: 0.8})
        retriever = Retriever([law, other], embeddings=ZeroEmbeddings(), dense=dense)  # type: ignore[arg-type]
        assert retriever.search("乙法 提请批准逮捕")[0].record == law

    def test_statutes_outrank_rules_that_repeat_them(self) -> None:
        """With equal evidence, a 法 outranks a 规定 (authority prior)."""
        statute = _record("丁法", "第一条", "取保候审最长十二个月")
        rule = _record("公安机关丁规定", "第一条", "取保候审最长十二个月")
        dense = StubDense({statute.record_id: 0.8, rule.record_id: 0.8})
        retriever = Retriever([rule, statute], embeddings=ZeroEmbeddings(), dense=dense)  # type: ignore[arg-type]
        assert retriever.search("取保候审最长多久")[0].record == statute


class TestFilters:
    def test_law_filter_reaches_the_dense_index_and_the_results(self) -> None:
        """A law filter is passed to Chroma as a where clause and applied to lexical hits."""
        other = _record("乙法", "第一条", "被拘留的人 提请批准逮捕")
        dense = StubDense({A.record_id: 0.9, other.record_id: 0.9})
        retriever = Retriever([A, other], embeddings=ZeroEmbeddings(), dense=dense)  # type: ignore[arg-type]
        hits = retriever.search("提请批准逮捕", law="乙法")
        assert {h.record.law for h in hits} == {"乙法"}
        assert dense.last_where == {"$and": [{"law": "乙法"}, {"kind": "statute"}]}


class UnitEmbeddings(Embeddings):
    """Embeds the query as a fixed unit vector along the first axis."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.0] for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return [1.0, 0.0]


LONG = _record("戊条例", "第九条", "有下列情形之一的，可以使用武器：\n（一）放火的；\n（二）劫持人质的；")
SHORT = _record("戊条例", "第三条", "本条例所称武器，是指枪支")


class TestChunks:
    def _retriever(self, weights: FusionWeights) -> Retriever:
        dense = StubDense({SHORT.record_id: 0.85, LONG.record_id: 0.80})
        retriever = Retriever([LONG, SHORT], embeddings=UnitEmbeddings(), dense=dense, weights=weights)  # type: ignore[arg-type]
        # one chunk of the long article points straight at the question; the other does not
        retriever.set_chunks([LONG.record_id, LONG.record_id], np.asarray([[0.9, 0.436], [0.0, 1.0]]))
        return retriever

    def test_a_long_article_is_scored_by_its_best_chunk(self) -> None:
        """A list article whose one 项 matches the question outranks a short article sharing a word."""
        retriever = self._retriever(FusionWeights(chunk=1.0))
        hits = retriever.search("劫持人质能不能开枪", mode="dense")
        assert hits[0].record == LONG
        assert abs(hits[0].dense - 0.9) < 1e-3

    def test_chunks_are_ignored_when_their_weight_is_zero(self) -> None:
        """With chunk weight 0 the whole-article cosines decide, as before chunking."""
        retriever = self._retriever(FusionWeights(chunk=0.0))
        assert retriever.search("劫持人质能不能开枪", mode="dense")[0].record == SHORT

    def test_the_no_basis_confidence_still_sees_whole_article_cosines(self) -> None:
        """best_dense (calibrated on whole articles) is not raised by a short chunk's cosine."""
        retriever = self._retriever(FusionWeights(chunk=1.0))
        hit = retriever.search("劫持人质能不能开枪")[0]
        assert abs(hit.best_dense - 0.85) < 1e-6

    def test_chunks_of_filtered_out_articles_do_not_appear(self) -> None:
        """A law filter also applies to articles found only through their chunks."""
        retriever = self._retriever(FusionWeights(chunk=1.0))
        assert retriever.search("劫持人质", law="己法", mode="dense") == []
