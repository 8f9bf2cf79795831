"""Precomputed vectors: used when they match the live model, ignored when they do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from kb_fakes import HashEmbeddings

from core.settings import Settings
from ingest.pipeline import discover
from ingest.sources import read_text
from ingest.statutes import Record, parse_document
from knowledge.embeddings import build_vectors, chunk_texts, passage_hash, passage_text, save_vectors
from knowledge.service import KnowledgeBase


def _records(corpus_dir: Path) -> list[Record]:
    files, _ = discover([corpus_dir / "laws", corpus_dir / "guidance"])
    return [r for path in files for r in parse_document(read_text(path), path.relative_to(corpus_dir).as_posix()).records]


class TestPrecomputedVectors:
    def test_matching_vectors_are_used_after_a_three_record_check(
        self, settings: Settings, corpus_dir: Path, tmp_path: Path
    ) -> None:
        """With vectors built by the same model, opening embeds only the 3-record sample."""
        path = tmp_path / "vectors.npz"
        build_vectors(_records(corpus_dir), HashEmbeddings(), path)
        embeddings = HashEmbeddings()
        kb = KnowledgeBase.open(settings, embeddings=embeddings, corpus_dir=corpus_dir, precomputed=path)
        assert embeddings.documents_embedded == 3
        assert kb.dense.count() == len(kb.store.records())

    def test_vectors_that_disagree_with_the_live_model_are_ignored(
        self, settings: Settings, corpus_dir: Path, tmp_path: Path
    ) -> None:
        """Wrong vectors under the right keys fail the sample check: articles and chunks are embedded live."""
        records = _records(corpus_dir)
        model_id = HashEmbeddings.model_id
        rng = np.random.default_rng(0)
        path = tmp_path / "vectors.npz"
        save_vectors(path, {passage_hash(model_id, passage_text(r)): rng.normal(size=64) for r in records})
        embeddings = HashEmbeddings()
        KnowledgeBase.open(settings, embeddings=embeddings, corpus_dir=corpus_dir, precomputed=path)
        chunks = sum(len(chunk_texts(r)) for r in records)
        assert chunks > 0
        assert embeddings.documents_embedded == 3 + len(records) + chunks



class TestChunkVectors:
    def test_bundled_vectors_include_the_chunks_of_multi_paragraph_articles(
        self, settings: Settings, corpus_dir: Path, tmp_path: Path
    ) -> None:
        """build_vectors stores every chunk, so opening embeds nothing but the sample."""
        records = _records(corpus_dir)
        path = tmp_path / "vectors.npz"
        embedded = build_vectors(records, HashEmbeddings(), path)
        chunks = {passage_hash(HashEmbeddings.model_id, t) for r in records for t in chunk_texts(r)}
        assert chunks
        assert embedded == len(records) + len(chunks)
        embeddings = HashEmbeddings()
        kb = KnowledgeBase.open(settings, embeddings=embeddings, corpus_dir=corpus_dir, precomputed=path)
        assert embeddings.documents_embedded == 3
        assert kb.retriever is not None and kb.retriever.chunk_scores("取保候审")

    def test_chunks_embedded_live_are_cached_for_the_next_start(
        self, settings: Settings, corpus_dir: Path, tmp_path: Path
    ) -> None:
        """Chunks missing from the bundled vectors are embedded once and reused after a restart."""
        records = _records(corpus_dir)
        chunks = sum(len(chunk_texts(r)) for r in records)
        first = HashEmbeddings()
        KnowledgeBase.open(settings, embeddings=first, corpus_dir=corpus_dir, precomputed=tmp_path / "none.npz")
        assert first.documents_embedded == len(records) + chunks
        again = HashEmbeddings()
        KnowledgeBase.open(settings, embeddings=again, corpus_dir=corpus_dir, precomputed=tmp_path / "none.npz")
        assert again.documents_embedded == 0


def _statute(text: str) -> Record:
    return Record(
        record_id="s1", kind="statute", title="中华人民共和国戊法", law="戊法", article="第九条",
        chapter="第一章 总则 / 第二节 武器", version="2020-01-01", source="laws/戊法.md", text=text, content_hash="h",
    )


class TestChunkTexts:
    def test_a_one_paragraph_article_has_no_chunks(self) -> None:
        """The whole-article passage already covers a single paragraph."""
        assert chunk_texts(_statute("第九条 人民警察依法执行职务，受法律保护。")) == []

    def test_each_paragraph_is_a_chunk_headed_by_law_chapter_and_article(self) -> None:
        """Two short 款 give two chunks, each saying where it comes from."""
        chunks = chunk_texts(_statute("第九条 第一款的内容。\n第二款的内容。"))
        assert chunks == ["《戊法》第二节 武器：第九条 第一款的内容。", "《戊法》第二节 武器：第九条 第二款的内容。"]

    def test_a_long_list_is_split_into_item_windows_that_repeat_the_lead_in(self) -> None:
        """A 款 listing many 项 becomes its lead-in plus windows of two 项, each keeping the lead-in."""
        items = "\n".join(f"（{n}）{'危害公共安全的行为' * 3}；" for n in "一二三四五")
        chunks = chunk_texts(_statute(f"第九条 有下列情形之一的，可以使用武器：\n{items}"))
        assert len(chunks) == 1 + 3
        assert chunks[0].endswith("有下列情形之一的，可以使用武器：")
        assert all("可以使用武器：（" in c for c in chunks[1:])
        assert "（五）" in chunks[-1] and "（一）" not in chunks[-1]
