"""Indexing: the bundled corpus and curated guidance, ingested into the record store and kept in step
with the dense index (Chroma) and the in-memory search views.

Vectors of the bundled corpus come precomputed (``corpus/vectors/``), checked against the live model
on a small sample; what they lack is embedded live once and kept under the data dir.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import re
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from langchain_core.embeddings import Embeddings

from core.settings import Settings
from ingest.pipeline import IngestReport, RecordStore, ingest
from ingest.statutes import GUIDANCE, Record
from knowledge.citations import Citation
from knowledge.embeddings import (
    chunk_texts,
    load_vectors,
    model_id_of,
    passage_hash,
    passage_text,
    save_vectors,
    vectors_path,
)
from knowledge.errors import KnowledgeError
from knowledge.retrieve import Retriever
from knowledge.vectorstore import ChromaIndex, make_client
from knowledge.versions import load_supersessions

log = logging.getLogger(__name__)

CORPUS_DIR = Path(__file__).parent / "corpus"
BUNDLED_PREFIX = "bundled:"
CURATED_PREFIX = "curated:"
SUPERSESSIONS_FILE = CORPUS_DIR / "supersessions.yaml"
SAMPLE_CHECKS = 3
SAMPLE_MIN_COSINE = 0.99


class _Sink:
    """Collects what an ingest changed, to embed and index it in one go."""

    def __init__(self) -> None:
        self.upserted: dict[str, Record] = {}
        self.deleted: set[str] = set()

    def upsert(self, records: Sequence[Record]) -> None:
        for record in records:
            self.upserted[record.record_id] = record
            self.deleted.discard(record.record_id)

    def delete(self, record_ids: Sequence[str]) -> None:
        for record_id in record_ids:
            self.deleted.add(record_id)
            self.upserted.pop(record_id, None)


@contextlib.contextmanager
def interprocess_lock(path: Path) -> Iterator[None]:
    """Holds an exclusive advisory lock on a file for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class KnowledgeIndex:
    """The records, their vectors and the search views built from them; ingest keeps them current."""

    def __init__(
        self,
        settings: Settings,
        *,
        embeddings: Embeddings,
        corpus_dir: Path = CORPUS_DIR,
        precomputed: Path | None = None,
    ) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.corpus_dir = corpus_dir
        self.model_id = model_id_of(embeddings)
        self.kb_dir = settings.data_dir / "kb"
        self.guidance_dir = settings.data_dir / "guidance"
        self.store = RecordStore(self.kb_dir / "records.json")
        self.dense = ChromaIndex(make_client(settings), self.model_id)
        self._precomputed_path = precomputed or vectors_path(self.model_id)
        self._precomputed: dict[str, np.ndarray[Any, Any]] | None = None
        self._chunk_cache_path = self.kb_dir / "chunk_vectors.npz"
        self._chunk_cache: dict[str, np.ndarray[Any, Any]] | None = None
        self._lock = threading.RLock()
        self.retriever: Retriever | None = None
        self.last_report: IngestReport | None = None

    # ---- ingest and indexing -------------------------------------------------------------

    def _roots(self) -> dict[Path, str]:
        return {self.corpus_dir: BUNDLED_PREFIX, self.guidance_dir: CURATED_PREFIX}

    def _bundled_paths(self) -> list[Path]:
        self.guidance_dir.mkdir(parents=True, exist_ok=True)
        paths = [self.corpus_dir / "laws", self.corpus_dir / "guidance", self.guidance_dir]
        return [p for p in paths if p.exists()]

    def _apply_bundled_supersessions(self) -> set[str]:
        """Adds the bundled supersession marks the store lacks (a command's mark wins); returns their laws."""
        added: set[str] = set()
        for key, mark in load_supersessions(self.corpus_dir / SUPERSESSIONS_FILE.name).items():
            if key not in self.store.supersessions:
                self.store.supersessions[key] = mark
                added.add(key.split("@", 1)[0])
        return added

    def ingest_bundled(self) -> IngestReport:
        """Ingests the bundled corpus and the curated guidance (unchanged files are skipped)."""
        with self._lock:
            marked = self._apply_bundled_supersessions()
            if marked:
                # documents ingested before the mark existed carry their old validity
                self.store.refresh_validity(marked)
                self.store.save()
            return self.ingest_paths(self._bundled_paths(), remove_missing=True)

    def ingest_paths(self, paths: Sequence[Path], *, remove_missing: bool = True) -> IngestReport:
        """Ingests files or folders incrementally and brings the indexes up to date."""
        with self._lock:
            sink = _Sink()
            report = ingest(paths, self.store, sink, roots=self._roots(), remove_missing=remove_missing)
            self.sync_index()
            self.last_report = report
            return report

    def supersede(
        self, name: str, by: str | None, *, version: str | None = None, from_day: str | None = None
    ) -> list[Record]:
        """Marks an instrument (or one version) as superseded (by=None clears the mark); returns its records."""
        with self._lock:
            try:
                changed = self.store.set_superseded(name, by, version=version, from_day=from_day)
            except KeyError as exc:
                what = f"{name!r} version {version}" if version else repr(name)
                raise KnowledgeError(f"no instrument {what} in the knowledge base") from exc
            self.store.save()
            self.sync_index()
            return changed

    def sync_index(self) -> None:
        """Makes the dense index hold exactly the store's records, then rebuilds the lexical view."""
        records = self.store.records()
        wanted = {r.record_id: r for r in records}
        stored = self.dense.stored_hashes_and_flags()
        missing = [r for r in records if stored.get(r.record_id, ("", None))[0] != r.content_hash]
        flags_only = [
            r
            for r in records
            if r.record_id in stored
            and stored[r.record_id][0] == r.content_hash
            and stored[r.record_id][1] != (r.superseded_by is None)
        ]
        if missing:
            # vectors are looked up before stale records go: a renamed version reuses its old passages
            vectors, passages = self._vectors_for(missing)
        stale = [rid for rid in stored if rid not in wanted]
        if stale:
            self.dense.delete(stale)
        if missing:
            self.dense.upsert(missing, vectors, passages)
        if flags_only:
            self.dense.update_metadata(flags_only, [self._passage_key(r) for r in flags_only])
        if self.retriever is None:
            self.retriever = Retriever(
                records, embeddings=self.embeddings, dense=self.dense, token_cache=self.kb_dir / "tokens.json"
            )
        else:
            self.retriever.reload(records)
        self.retriever.set_articles(*self.dense.all_vectors())
        owners, matrix = self._chunk_vectors(records)
        self.retriever.set_chunks(owners, matrix)

    def _chunk_vectors(self, records: Sequence[Record]) -> tuple[list[str], np.ndarray[Any, Any]]:
        """Returns the 款/项 chunk vectors of the records: precomputed, cached, else embedded live."""
        owners: list[str] = []
        texts: list[str] = []
        for record in records:
            for text in chunk_texts(record):
                owners.append(record.record_id)
                texts.append(text)
        if not texts:
            return [], np.zeros((0, 0), dtype=np.float32)
        precomputed = self._load_precomputed()
        if self._chunk_cache is None:
            self._chunk_cache = load_vectors(self._chunk_cache_path)
        cache = self._chunk_cache
        keys = [passage_hash(self.model_id, t) for t in texts]
        todo = list(dict.fromkeys(k for k in keys if k not in precomputed and k not in cache))
        if todo:
            text_of = dict(zip(keys, texts, strict=True))
            log.info("embedding %d article chunks live", len(todo))
            for start in range(0, len(todo), 64):
                batch = todo[start : start + 64]
                for key, vector in zip(batch, self.embeddings.embed_documents([text_of[k] for k in batch]), strict=True):
                    cache[key] = np.asarray(vector, dtype=np.float32)
            # only chunks the bundled vectors lack are kept here (a re-ingested or added law)
            wanted = set(keys)
            self._chunk_cache = cache = {k: v for k, v in cache.items() if k in wanted}
            save_vectors(self._chunk_cache_path, dict(cache))
        matrix = np.stack([precomputed[k] if k in precomputed else cache[k] for k in keys]).astype(np.float32)
        return owners, matrix

    def _passage_key(self, record: Record) -> str:
        return passage_hash(self.model_id, passage_text(record))

    def _vectors_for(self, records: Sequence[Record]) -> tuple[list[list[float]], list[str]]:
        """Returns vectors: precomputed, else already in the index under the same passage, else embedded live."""
        precomputed = self._load_precomputed()
        texts = [passage_text(r) for r in records]
        keys = [passage_hash(self.model_id, t) for t in texts]
        vectors: list[list[float] | None] = [
            precomputed[k].tolist() if k in precomputed else None for k in keys
        ]
        todo = [i for i, v in enumerate(vectors) if v is None]
        if todo:
            reusable = self.dense.vectors_by_passage([keys[i] for i in todo])
            for i in todo:
                if keys[i] in reusable:
                    vectors[i] = reusable[keys[i]]
            todo = [i for i in todo if vectors[i] is None]
        if todo:
            log.info("embedding %d records live (%d reused)", len(todo), len(records) - len(todo))
            for start in range(0, len(todo), 64):
                batch = todo[start : start + 64]
                for i, vector in zip(batch, self.embeddings.embed_documents([texts[i] for i in batch]), strict=True):
                    vectors[i] = list(vector)
        return [v for v in vectors if v is not None], keys

    def _load_precomputed(self) -> dict[str, np.ndarray[Any, Any]]:
        if self._precomputed is not None:
            return self._precomputed
        vectors = load_vectors(self._precomputed_path)
        if vectors and not self._sample_matches(vectors):
            log.warning("precomputed vectors do not match the live model %s; embedding live", self.model_id)
            vectors = {}
        self._precomputed = vectors
        return vectors

    def _sample_matches(self, vectors: dict[str, np.ndarray[Any, Any]]) -> bool:
        """Re-embeds a few stored records live and compares with their precomputed vectors."""
        by_key = {passage_hash(self.model_id, passage_text(r)): r for r in self.store.records()}
        sample = [k for k in sorted(vectors) if k in by_key][:SAMPLE_CHECKS]
        if not sample:
            return True
        live = self.embeddings.embed_documents([passage_text(by_key[k]) for k in sample])
        for key, vector in zip(sample, live, strict=True):
            a = np.asarray(vector, dtype=np.float32)
            b = vectors[key].astype(np.float32)
            cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
            if cosine < SAMPLE_MIN_COSINE:
                return False
        return True

    def add_guidance(self, *, title: str, question: str, answer: str, author: str) -> Citation:
        """Saves a legal officer's curated answer as guidance (a .md under data_dir/guidance) and indexes it."""
        title = title.strip() or question.strip()[:40]
        if not answer.strip():
            raise KnowledgeError("the answer is empty")
        self.guidance_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC)
        slug = re.sub(r"[^0-9A-Za-z]+", "", author)[:16] or "legal"
        path = self.guidance_dir / f"{stamp:%Y%m%dT%H%M%S%f}-{slug}.md"
        front = yaml.safe_dump(
            {"kind": GUIDANCE, "title": "法制大队解答", "version": stamp.date().isoformat(), "author": author},
            allow_unicode=True,
        )
        heading = title.replace("\n", " ")
        path.write_text(
            f"---\n{front}---\n# 法制大队解答\n\n## {heading}\n\n问：{question.strip()}\n\n答：{answer.strip()}\n",
            encoding="utf-8",
        )
        with self._lock:
            self.ingest_paths([path], remove_missing=False)
            source = f"{CURATED_PREFIX}{path.name}"
            document = self.store.documents.get(source)
            if document is None or not document.records:
                raise KnowledgeError("the guidance could not be indexed")
            return Citation.of(document.records[0])
