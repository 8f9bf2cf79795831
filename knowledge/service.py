"""The knowledge base the bot and the CLI use: open once, then ask / search / get / related.

Opening loads the record store, ingests the bundled corpus and curated guidance when they
changed, and makes sure the dense index holds exactly the current records (vectors for the
bundled corpus come precomputed, checked against the live model on a small sample).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from core.settings import Settings
from ingest.pipeline import IngestReport, RecordStore, ingest
from ingest.statutes import GUIDANCE, STATUTE, Record
from knowledge.answer import extractive_answer, llm_answer, not_found_answer
from knowledge.citations import Answer, Citation
from knowledge.embeddings import (
    E5_MODEL_ID,
    chunk_texts,
    load_vectors,
    make_embeddings,
    model_id_of,
    passage_hash,
    passage_text,
    save_vectors,
    vectors_path,
)
from knowledge.lexical import tokenize
from knowledge.retrieve import Hit, Retriever
from knowledge.vectorstore import ChromaIndex, make_client

__all__ = ["Answer", "Citation", "KnowledgeBase", "KnowledgeError"]

log = logging.getLogger(__name__)

CORPUS_DIR = Path(__file__).parent / "corpus"
BUNDLED_PREFIX = "bundled:"
CURATED_PREFIX = "curated:"
SUPERSESSIONS_FILE = CORPUS_DIR / "supersessions.yaml"
# Confidence that the question is about something the corpus covers: half the best dense cosine
# of the question (mapped from floor..ceiling to 0..1), half its best raw BM25 score (likewise).
# Off-topic questions reach neither (bench/retrieval_calibrate.py; figures in
# bench/README.knowledge.md). Cosine ranges differ between models, so for an uncalibrated model
# the share of the question's own words found in the top article stands in for both halves.
DENSE_CALIBRATION: dict[str, tuple[float, float]] = {E5_MODEL_ID: (0.85, 0.92)}
# an English question against Chinese statutes scores lower cosines across the board
DENSE_CALIBRATION_ENGLISH: dict[str, tuple[float, float]] = {E5_MODEL_ID: (0.78, 0.86)}
LEXICAL_CALIBRATION = (5.0, 20.0)
GROUNDED_THRESHOLD = 0.3
SAMPLE_CHECKS = 3
SAMPLE_MIN_COSINE = 0.99


class KnowledgeError(Exception):
    """A knowledge-base operation that cannot be done; the message says why."""


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
def _interprocess_lock(path: Path) -> Iterator[None]:
    """Holds an exclusive advisory lock on a file for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class KnowledgeBase:
    """Law Q&A over the bundled statutes and guidance."""

    def __init__(
        self,
        settings: Settings,
        *,
        embeddings: Embeddings,
        chat_model: BaseChatModel | None,
        corpus_dir: Path = CORPUS_DIR,
        precomputed: Path | None = None,
    ) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.chat_model = chat_model
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
        self.grounded_threshold = GROUNDED_THRESHOLD
        self.dense_calibration = DENSE_CALIBRATION.get(self.model_id)
        self.dense_calibration_english = DENSE_CALIBRATION_ENGLISH.get(self.model_id, self.dense_calibration)
        self.last_report: IngestReport | None = None

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        embeddings: Embeddings | None = None,
        chat_model: BaseChatModel | None = None,
        corpus_dir: Path = CORPUS_DIR,
        precomputed: Path | None = None,
    ) -> KnowledgeBase:
        """Prepares the index (ingesting the bundled knowledge if empty or outdated) and returns the KB."""
        if chat_model is None and settings.llm_base_url:
            chat_model = make_chat_model(settings)
        kb = cls(
            settings,
            embeddings=embeddings or make_embeddings(settings),
            chat_model=chat_model,
            corpus_dir=corpus_dir,
            precomputed=precomputed,
        )
        started = time.monotonic()
        # The bot and a separate worker may start together on one data dir: one ingests at a time.
        with _interprocess_lock(kb.kb_dir / "ingest.lock"):
            kb.ingest_bundled()
        kb.warm_up()
        log.info("knowledge base ready: %d records in %.1fs", len(kb.retriever.records if kb.retriever else ()),
                 time.monotonic() - started)
        return kb

    def warm_up(self) -> None:
        """Loads the tokenizer dictionary and the embedding model now, not on the first question."""
        tokenize("取保候审")
        self.embeddings.embed_query("取保候审")

    # ---- ingest and indexing -------------------------------------------------------------

    def _roots(self) -> dict[Path, str]:
        return {self.corpus_dir: BUNDLED_PREFIX, self.guidance_dir: CURATED_PREFIX}

    def _bundled_paths(self) -> list[Path]:
        self.guidance_dir.mkdir(parents=True, exist_ok=True)
        paths = [self.corpus_dir / "laws", self.corpus_dir / "guidance", self.guidance_dir]
        return [p for p in paths if p.exists()]

    def _apply_bundled_supersessions(self) -> None:
        path = self.corpus_dir / SUPERSESSIONS_FILE.name
        if not path.exists():
            return
        marks = yaml.safe_load(path.read_text("utf-8")) or {}
        for law, by in marks.items():
            self.store.supersessions.setdefault(str(law), str(by))

    def ingest_bundled(self) -> IngestReport:
        """Ingests the bundled corpus and the curated guidance (unchanged files are skipped)."""
        with self._lock:
            self._apply_bundled_supersessions()
            return self.ingest_paths(self._bundled_paths(), remove_missing=True)

    def ingest_paths(self, paths: Sequence[Path], *, remove_missing: bool = True) -> IngestReport:
        """Ingests files or folders incrementally and brings the indexes up to date."""
        with self._lock:
            sink = _Sink()
            report = ingest(paths, self.store, sink, roots=self._roots(), remove_missing=remove_missing)
            self.sync_index()
            self.last_report = report
            return report

    def supersede(self, name: str, by: str | None) -> list[Record]:
        """Marks an instrument as superseded (by=None clears the mark); returns its records."""
        with self._lock:
            try:
                changed = self.store.set_superseded(name, by)
            except KeyError as exc:
                raise KnowledgeError(f"no instrument named {name!r} in the knowledge base") from exc
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

    # ---- queries ---------------------------------------------------------------------------

    def _retriever(self) -> Retriever:
        if self.retriever is None:
            raise KnowledgeError("the knowledge base is not open")
        return self.retriever

    def hits(
        self,
        query: str,
        *,
        top_k: int = 5,
        law: str | None = None,
        chapter: str | None = None,
        in_force_only: bool = False,
        kind: str | None = STATUTE,
        mode: str = "hybrid",
    ) -> list[Hit]:
        """Returns scored hits (for benchmarks and the answer builder)."""
        query = query.strip()
        if not query:
            return []
        return self._retriever().search(
            query, top_k=top_k, law=law, chapter=chapter, in_force_only=in_force_only, kind=kind, mode=mode
        )

    def search(
        self,
        query: str,
        *,
        top_k: int = 5,
        law: str | None = None,
        in_force_only: bool = False,
        chapter: str | None = None,
        kind: str | None = STATUTE,
    ) -> list[tuple[Citation, float]]:
        """Returns the best articles for a query with their scores."""
        return [
            (Citation.of(h.record), round(h.score, 4))
            for h in self.hits(query, top_k=top_k, law=law, in_force_only=in_force_only, chapter=chapter, kind=kind)
        ]

    def get(self, record_id: str) -> Citation | None:
        """Gets a citation by its record id."""
        record = self._retriever().records.get(record_id)
        return Citation.of(record) if record else None

    def related(self, record_id: str, *, limit: int = 5) -> list[Citation]:
        """Returns articles related to a record: those it names, its neighbours, similar ones."""
        retriever = self._retriever()
        record = retriever.records.get(record_id)
        if record is None:
            return []
        found: list[Record] = []
        for other in retriever.exact(record.text) if record.kind == GUIDANCE else []:
            if other.record_id != record_id and other not in found:
                found.append(other)
        for other in _named_in_text(retriever, record):
            if other.record_id != record_id and other not in found:
                found.append(other)
        for other in retriever.neighbours(record, limit=limit):
            if other not in found:
                found.append(other)
        return [Citation.of(r) for r in found[:limit]]

    def risk_tips(self, topic: str, *, limit: int = 3) -> list[Citation]:
        """Returns risk-tip guidance for a measure or case type (e.g. 取保候审, 刑事拘留)."""
        retriever = self._retriever()
        tips = [r for r in retriever.records.values() if r.kind == GUIDANCE and "风险提示" in r.title]
        topic = topic.strip()
        direct = [r for r in tips if topic and (topic in r.chapter or topic in r.article)]
        if direct:
            return [Citation.of(r) for r in sorted(direct, key=lambda r: r.ordinal)[:limit]]
        hits = retriever.search(topic, top_k=limit * 3, kind=GUIDANCE)
        ranked = [h.record for h in hits if "风险提示" in h.record.title]
        return [Citation.of(r) for r in ranked[:limit]]

    def ask(self, question: str, *, language: str = "zh") -> Answer:
        """Answers a question from the knowledge base (extractive, or by the chat model if configured)."""
        question = question.strip()
        if not question:
            return not_found_answer(question, confidence=0.0, language=language)
        retriever = self._retriever()
        if not retriever.is_lookup(question):
            # The embedding engine first: when many officers ask at once it is the scarce part,
            # and a question that reaches it before its word search keeps it busy.
            retriever.query_vector(question)
        statute_hits = retriever.search(question, top_k=8)
        guidance_hits = retriever.search(question, top_k=2, kind=GUIDANCE)
        confidence = self.confidence(question, statute_hits[0]) if statute_hits else 0.0
        curated = [
            h
            for h in guidance_hits
            if h.record.source.startswith(CURATED_PREFIX)
            and self.confidence(question, h) >= max(confidence, self.grounded_threshold)
        ]
        curated_confidence = self.confidence(question, curated[0]) if curated else 0.0
        if confidence < self.grounded_threshold and not curated:
            return not_found_answer(question, confidence=confidence, language=language)
        top_score = statute_hits[0].score if statute_hits else 0.0
        chosen = [Citation.of(h.record) for h in curated[:1]]
        for hit in statute_hits:
            if len(chosen) >= 3:
                break
            if hit.exact or hit.score >= top_score - 0.08 or not chosen:
                chosen.append(Citation.of(hit.record))
        related_records: list[Citation] = []
        for hit in statute_hits:
            citation = Citation.of(hit.record)
            if citation not in chosen and len(related_records) < 3:
                related_records.append(citation)
        for citation in self.related(chosen[0].record_id, limit=3):
            if citation not in chosen and citation not in related_records:
                related_records.append(citation)
        related_records = related_records[:5]
        if self.chat_model is not None:
            candidates = chosen + [c for c in related_records[:3] if c.kind == STATUTE]
            written = llm_answer(
                question,
                candidates,
                related_records,
                chat_model=self.chat_model,
                names=retriever.names,
                confidence=max(confidence, curated_confidence),
                language=language,
            )
            if written is not None:
                return written
        return extractive_answer(
            question,
            chosen,
            related_records,
            confidence=max(confidence, curated_confidence),
            language=language,
        )

    def confidence(self, question: str, hit: Hit) -> float:
        """Rates 0..1 how surely the corpus covers the question: exact references are certain."""
        if hit.exact:
            return 1.0
        if self.dense_calibration is None:
            return round(self._retriever().coverage(question, hit.record), 4)
        calibration = self.dense_calibration
        if _mostly_latin(question) and self.dense_calibration_english is not None:
            calibration = self.dense_calibration_english
        dense_part = _scaled(hit.best_dense, *calibration)
        lexical_part = _scaled(hit.best_lexical, *LEXICAL_CALIBRATION)
        return round(0.5 * dense_part + 0.5 * lexical_part, 4)

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




def _mostly_latin(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isascii() for c in letters) > len(letters) / 2


def _scaled(value: float, floor: float, ceiling: float) -> float:
    return max(0.0, min(1.0, (value - floor) / max(ceiling - floor, 1e-6)))


def _named_in_text(retriever: Retriever, record: Record) -> list[Record]:
    # an article that says "依照本法第七十九条" points at its own law; bind those to it
    from knowledge.references import find_article_refs

    found: list[Record] = []
    for ref in find_article_refs(record.text, retriever.names):
        law = ref.law or (record.law if "本法" in record.text or "本规定" in record.text else None)
        if law is None:
            continue
        for other in retriever._by_article.get((law, ref.article), []):
            if other not in found:
                found.append(other)
    return found


def make_chat_model(settings: Settings) -> BaseChatModel:
    """Builds the configured OpenAI-compatible chat model."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        api_key=settings.llm_api_key or SecretStr("none"),
        timeout=settings.llm_timeout_seconds,
        max_retries=1,
        temperature=0,
    )
