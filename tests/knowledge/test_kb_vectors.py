"""Precomputed vectors: used when they match the live model, ignored when they do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from kb_fakes import HashEmbeddings

from core.settings import Settings
from ingest.pipeline import discover
from ingest.sources import read_text
from ingest.statutes import Record, parse_document
from knowledge.embeddings import build_vectors, passage_hash, passage_text, save_vectors
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
        """Wrong vectors under the right keys fail the sample check, and everything is embedded live."""
        records = _records(corpus_dir)
        model_id = HashEmbeddings.model_id
        rng = np.random.default_rng(0)
        path = tmp_path / "vectors.npz"
        save_vectors(path, {passage_hash(model_id, passage_text(r)): rng.normal(size=64) for r in records})
        embeddings = HashEmbeddings()
        KnowledgeBase.open(settings, embeddings=embeddings, corpus_dir=corpus_dir, precomputed=path)
        assert embeddings.documents_embedded == 3 + len(records)
