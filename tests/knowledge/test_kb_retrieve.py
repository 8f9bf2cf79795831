"""Hybrid retrieval: fusion, filters, law names in the query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
