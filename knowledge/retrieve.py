"""Retrieval: exact article references answered exactly, everything else hybrid lexical + dense.

Fusion is a weighted sum of the BM25 score (scaled by the best BM25 score of the query) and
the dense cosine (scaled between the worst and best of the dense top-N), plus general priors:
instruments the question names get a boost, instruments its field-of-work words point at a small
one, and a statute outranks the rules and interpretations that repeat it (法律 > 行政法规 >
司法解释 > 部门规章) when scores are close.

Every search is for a day (today unless told). ``in_force_only`` keeps only the texts in force
that day. A text is *replaced* on a day when it is not in force then and another text of the same
instrument is: ``current_only`` (what answers use) leaves replaced texts out but keeps a text
marked superseded whose replacement is not in the corpus (answers carry its mark); without a
filter, replaced texts still come, after the texts in force.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from ingest.statutes import STATUTE, Record, article_sort_key
from knowledge.lexical import LexicalIndex, dense_text, subject_terms, tokenize
from knowledge.references import LawNames, find_article_refs, topic_laws
from knowledge.vectorstore import ChromaIndex
from knowledge.versions import in_force_on, transition_days

log = logging.getLogger(__name__)

CANDIDATES = 100
QUERY_CACHE_SIZE = 256
# A text replaced on the day searched ranks below those in force unless it matches far better.
REPLACED_PENALTY = 1.0
_NEVER = 10**8  # a day ordinal later than any real day


@dataclass(frozen=True)
class FusionWeights:
    """Weights of the fused score; defaults measured on the dev set (see bench/README.knowledge.md)."""

    lexical: float = 0.6
    dense: float = 0.4
    named_law: float = 0.35
    topic_law: float = 0.1
    authority: float = 0.3
    # None: dense cosines min-max scaled over the dense top-N; a number: scaled over that window
    # below the best cosine (tried 0.02–0.08; no better on either question set)
    dense_window: float | None = None
    # how much of a 款/项 chunk's cosine lifts its article's dense score above the whole
    # article's own cosine (1 = the best chunk counts fully, 0 = chunks are ignored)
    chunk: float = 1.0
    # a question with few words of its own (besides how it asks) is ranked by word search less
    # surely: below this many subject words its lexical share shrinks in proportion (0 = off)
    subject_words: int = 3


@dataclass(frozen=True)
class Hit:
    """One retrieved record with its fused score and the parts it came from."""

    record: Record
    score: float
    lexical: float = 0.0
    dense: float = 0.0
    exact: bool = False
    best_lexical: float = 0.0
    best_dense: float = 0.0
    lexical_rank: int = CANDIDATES  # place in word search alone (0 = first)
    dense_rank: int = CANDIDATES  # place in meaning search alone


@functools.lru_cache(maxsize=1024)
def authority_rank(title: str) -> int:
    """Ranks an instrument by authority: 0 law, 1 regulation, 2 interpretation, 3 rules, 4 other."""
    if title.endswith("法"):
        return 0
    if title.endswith("条例"):
        return 1
    if "解释" in title:
        return 2
    if title.endswith(("规定", "规则", "规范", "办法")):
        return 3
    return 4


class Retriever:
    """Searches one set of records through the lexical and the dense index."""

    def __init__(
        self,
        records: Iterable[Record],
        *,
        embeddings: Embeddings,
        dense: ChromaIndex,
        weights: FusionWeights | None = None,
        token_cache: Path | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.token_cache = token_cache
        self.dense = dense
        self.weights = weights or FusionWeights()
        self.lexical = LexicalIndex()
        self._lock = threading.RLock()
        self.records: dict[str, Record] = {}
        self.names = LawNames(())
        self._by_article: dict[tuple[str, str], list[Record]] = {}
        self.transitions: list[date] = []
        self._by_law: dict[str, list[tuple[Record, tuple[int, int] | None]]] = {}
        self._position: dict[str, int] = {}
        self._query_vectors: dict[str, list[float]] = {}
        self._article_scores: dict[str, np.ndarray[Any, Any]] = {}
        self._article_ids: list[str] = []
        self._article_matrix = np.zeros((0, 0), dtype=np.float32)
        self._article_positions = np.zeros(0, dtype=np.int64)
        self._kinds = np.zeros(0, dtype=object)
        self._laws = np.zeros(0, dtype=object)
        self._valid_from = np.zeros(0, dtype=np.int64)
        self._valid_until = np.zeros(0, dtype=np.int64)
        self._masks: dict[tuple[str | None, str | None, int | None, str | None, str | None], np.ndarray[Any, Any]] = {}
        self._lexical_cache: dict[str, np.ndarray[Any, Any]] = {}
        self._ranked_cache: dict[str, list[Hit]] = {}
        self._chunk_owners: list[str] = []
        self._chunk_rows: dict[str, int] = {}
        self._article_rows: dict[str, int] | None = None
        self._chunk_starts = np.zeros(0, dtype=np.int64)
        self._chunk_matrix = np.zeros((0, 0), dtype=np.float32)
        self.reload(records)

    def set_chunks(self, owners: Sequence[str], vectors: np.ndarray[Any, Any]) -> None:
        """Sets the 款/项 chunk vectors (one row per chunk, owners[i] = its article's record id)."""
        order = sorted(range(len(owners)), key=lambda i: owners[i])  # one article's chunks side by side
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(owners), -1)[order] if order else np.zeros((0, 0), dtype=np.float32)
        if order:
            matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        sorted_owners = [owners[i] for i in order]
        starts = [i for i, owner in enumerate(sorted_owners) if i == 0 or owner != sorted_owners[i - 1]]
        with self._lock:
            self._chunk_owners = [sorted_owners[i] for i in starts]
            self._chunk_rows = {owner: i for i, owner in enumerate(self._chunk_owners)}
            self._chunk_starts = np.asarray(starts, dtype=np.int64)
            self._chunk_matrix = matrix
            self._ranked_cache = {}

    def set_articles(self, ids: Sequence[str], vectors: np.ndarray[Any, Any]) -> None:
        """Keeps the stored article vectors in memory for exact search (row i = ids[i]).

        Chroma stays the store of record (embedded or a server); a query against an in-process
        copy of a few thousand vectors costs well under a millisecond instead of a round trip
        through Chroma's query planner, and is exact rather than approximate.
        """
        matrix = np.asarray(vectors, dtype=np.float32)
        if len(ids):
            matrix = matrix.reshape(len(ids), -1)
            matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        with self._lock:
            self._article_ids = list(ids)
            self._article_rows = {record_id: i for i, record_id in enumerate(self._article_ids)}
            self._article_matrix = matrix
            self._article_scores = {}
            self._ranked_cache = {}
            self._article_positions = np.asarray([self._position.get(i, -1) for i in ids], dtype=np.int64)

    def cosines(self, query: str, record_id: str) -> tuple[float, float]:
        """Returns a record's cosine with the query: the whole text's, and its best 款/项 chunk's (or the whole's)."""
        vector = np.asarray(self.query_vector(query), dtype=np.float32)
        vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        with self._lock:
            matrix = self._article_matrix
            row = self._article_rows.get(record_id) if self._article_rows is not None else None
            starts, chunks = self._chunk_starts, self._chunk_matrix
            chunk_row = self._chunk_rows.get(record_id)
        if row is None or matrix.shape[1] != vector.shape[0]:
            return 0.0, 0.0
        whole = float(matrix[row] @ vector)
        best = whole
        if chunk_row is not None and chunks.shape[1] == vector.shape[0]:
            end = int(starts[chunk_row + 1]) if chunk_row + 1 < len(starts) else len(chunks)
            best = max(best, float(np.max(chunks[int(starts[chunk_row]) : end] @ vector)))
        return whole, best

    def chunk_scores(self, query: str) -> dict[str, float]:
        """Returns, per article that has chunks, the best cosine of its chunks with the query."""
        owners, best = self._chunk_best(query)
        return dict(zip(owners, best.tolist(), strict=True))

    def _chunk_best(self, query: str) -> tuple[list[str], np.ndarray[Any, Any]]:
        with self._lock:
            owners, starts, matrix = self._chunk_owners, self._chunk_starts, self._chunk_matrix
        if not owners:
            return [], np.zeros(0, dtype=np.float32)
        vector = np.asarray(self.query_vector(query), dtype=np.float32)
        if vector.shape[0] != matrix.shape[1]:
            return [], np.zeros(0, dtype=np.float32)
        vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        # einsum, not BLAS: multi-threaded BLAS on a busy 2-core machine made this 10x slower
        return owners, np.maximum.reduceat(np.einsum("ij,j->i", matrix, vector), starts)

    def reload(self, records: Iterable[Record]) -> None:
        """Rebuilds the in-memory views (lexical index, lookup tables) from all records."""
        records = list(records)
        lexical = LexicalIndex()
        if lexical.use_bigrams == self.lexical.use_bigrams:
            lexical._token_cache = self.lexical._token_cache
        if not lexical._token_cache and self.token_cache is not None:
            lexical.load_tokens(self.token_cache)
        if lexical.build([(r.record_id, r.content_hash, lexical_text(r)) for r in records]) and self.token_cache:
            lexical.save_tokens(self.token_cache)
        by_article: dict[tuple[str, str], list[Record]] = {}
        for record in records:
            by_article.setdefault((record.law, record.article), []).append(record)
        by_id = {r.record_id: r for r in records}
        by_law: dict[str, list[tuple[Record, tuple[int, int] | None]]] = {}
        for (law, _article), same in by_article.items():
            for record in same:
                by_law.setdefault(law, []).append((record, _sort_key(record)))
        ordered = [by_id[record_id] for record_id in lexical.ids]
        with self._lock:
            self.lexical = lexical
            self.records = by_id
            self._position = {record_id: i for i, record_id in enumerate(lexical.ids)}
            self._kinds = np.asarray([r.kind for r in ordered], dtype=object)
            self._laws = np.asarray([r.law for r in ordered], dtype=object)
            # the days each text applies, as ordinals: in force on d when valid_from <= d < valid_until
            self._valid_from = np.asarray(
                [date.fromisoformat(r.in_force_from).toordinal() if r.in_force_from else 0 for r in ordered],
                dtype=np.int64,
            )
            self._valid_until = np.asarray([_valid_until(r) for r in ordered], dtype=np.int64)
            self._masks = {}
            self._lexical_cache = {}
            self._ranked_cache = {}
            self._article_positions = np.asarray(
                [self._position.get(i, -1) for i in self._article_ids], dtype=np.int64
            )
            self._by_article = by_article
            self._by_law = by_law
            self.transitions = transition_days(records)
            self.names = LawNames(r.law for r in records if r.kind == STATUTE)

    def versions_of(self, law: str) -> dict[str, list[Record]]:
        """Returns the records of each ingested version of an instrument."""
        with self._lock:
            same_law = self._by_law.get(law, [])
        found: dict[str, list[Record]] = {}
        for record, _key in same_law:
            found.setdefault(record.version, []).append(record)
        return found

    def article(self, law: str, article: str) -> list[Record]:
        """Returns every version of one article (治安管理处罚法, 第八十三条)."""
        return list(self._by_article.get((law, article), []))

    def exact(self, query: str) -> list[Record]:
        """Returns the articles a query names exactly (刑诉法第79条, 第二百五十三条之一)."""
        refs = find_article_refs(query, self.names)
        if not refs:
            return []
        mentioned = self.names.mentioned(query)
        found: list[Record] = []
        for ref in refs:
            laws = [ref.law] if ref.law else mentioned
            candidates: list[Record] = []
            for law in laws:
                candidates.extend(self._by_article.get((law, ref.article), []))
            if not candidates and not ref.law:
                candidates = [r for (law, article), rs in self._by_article.items() if article == ref.article for r in rs]
                candidates.sort(key=lambda r: (authority_rank(r.title), r.law))
            for record in candidates:
                if record not in found:
                    found.append(record)
        return found

    def mask(
        self,
        *,
        kind: str | None,
        law: str | None,
        in_force_only: bool,
        chapter: str | None,
        day: date | None = None,
        current_only: bool = False,
    ) -> np.ndarray[Any, Any]:
        """Returns which records (in lexical index order) pass the filters; cached per filter."""
        validity = "in force" if in_force_only else ("current" if current_only else None)
        on = (day or date.today()).toordinal() if validity else None
        key = (kind, law, on, chapter, validity)
        with self._lock:
            cached = self._masks.get(key)
            if cached is not None:
                return cached
            mask = np.ones(len(self._kinds), dtype=bool)
            if kind is not None:
                mask &= self._kinds == kind
            if law is not None:
                mask &= self._laws == law
            if on is not None and validity == "in force":
                mask &= (self._valid_from <= on) & (on < self._valid_until)
            elif on is not None:
                mask &= ~self._replaced(on)
            if chapter is not None:
                ids = self.lexical.ids
                mask &= np.asarray([chapter in self.records[i].chapter for i in ids], dtype=bool)
            self._masks[key] = mask
            return mask

    def _replaced(self, on: int) -> np.ndarray[Any, Any]:
        """Returns which records (lexical index order) are replaced on a day by another text of their instrument."""
        in_force = (self._valid_from <= on) & (on < self._valid_until)
        replaced = ~in_force
        if replaced.any():
            with_text_in_force = np.unique(self._laws[in_force])
            replaced &= np.isin(self._laws, with_text_in_force)
        return replaced

    def replaced_on(self, record: Record, day: date) -> bool:
        """Tells whether another text of a record's instrument is in force on a day instead of it."""
        if in_force_on(record, day):
            return False
        return any(in_force_on(other, day) for others in self.versions_of(record.law).values() for other in others)

    def lexical_array(self, query: str) -> np.ndarray[Any, Any]:
        """Returns the BM25 score of every record (lexical index order); remembered per question."""
        with self._lock:
            cached = self._lexical_cache.get(query)
        if cached is not None:
            return cached
        scores = self.lexical.scores(query)
        with self._lock:
            _remember(self._lexical_cache, query, scores)
        return scores

    def lexical_scores(self, query: str) -> dict[str, float]:
        """Returns the raw BM25 score of every record with a positive score."""
        scores = self.lexical_array(query)
        ids = self.lexical.ids
        return {ids[i]: float(scores[i]) for i in np.flatnonzero(scores > 0)}

    def query_vector(self, query: str) -> list[float]:
        """Embeds a query once: ask() searches statutes and guidance with the same question."""
        with self._lock:
            cached = self._query_vectors.get(query)
        if cached is not None:
            return cached
        vector = list(self.embeddings.embed_query(dense_text(query)))
        with self._lock:
            _remember(self._query_vectors, query, vector)
        return vector

    def is_lookup(self, query: str) -> bool:
        """Tells whether a query only names articles (刑诉法第79条): answered without searching."""
        return bool(self.exact(query)) and not _has_more_than_reference(query)

    def dense_scores(
        self,
        query: str,
        *,
        top_k: int = CANDIDATES,
        where: dict[str, Any] | None = None,
        allowed: Any = None,
        mask: np.ndarray[Any, Any] | None = None,
    ) -> dict[str, float]:
        """Returns the cosine similarity of the nearest allowed records."""
        vector = self.query_vector(query)
        with self._lock:
            ids, matrix = self._article_ids, self._article_matrix
        if not ids or matrix.shape[1] != len(vector):
            nearest = self.dense.query(vector, top_k=min(top_k, max(len(self.records), 1)), where=where)
            return {
                k: v
                for k, v in nearest
                if k in self.records and (allowed is None or allowed(self.records[k]))
            }
        with self._lock:
            scores = self._article_scores.get(query)
        if scores is None or len(scores) != len(ids):
            # a question searches statutes and then guidance: its cosines are computed once
            query_vector = np.asarray(vector, dtype=np.float32)
            query_vector = query_vector / max(float(np.linalg.norm(query_vector)), 1e-12)
            # einsum, not BLAS: multi-threaded BLAS on a busy 2-core machine made this 10x slower
            scores = np.einsum("ij,j->i", matrix, query_vector)
            with self._lock:
                if matrix is self._article_matrix:
                    _remember(self._article_scores, query, scores)
        with self._lock:
            positions = self._article_positions
        if mask is not None and len(positions) == len(scores) and len(mask):
            # filters as one vector operation: no per-record Python call for thousands of records
            keep = (positions >= 0) & mask[np.maximum(positions, 0)]
            candidates = np.flatnonzero(keep)
            if len(candidates) > top_k:
                candidates = candidates[np.argpartition(-scores[candidates], top_k)[:top_k]]
            order = candidates[np.argsort(-scores[candidates])]
            return {ids[i]: float(scores[i]) for i in order if ids[i] in self.records}
        found: dict[str, float] = {}
        for index in np.argsort(-scores):
            record = self.records.get(ids[index])
            if record is None or (allowed is not None and not allowed(record)):
                continue
            found[ids[index]] = float(scores[index])
            if len(found) >= top_k:
                break
        return found

    def search(
        self,
        query: str,
        *,
        top_k: int = 5,
        law: str | None = None,
        chapter: str | None = None,
        in_force_only: bool = False,
        kind: str | None = STATUTE,
        mode: str = "hybrid",
        as_of: date | None = None,
        current_only: bool = False,
    ) -> list[Hit]:
        """Searches; mode is "hybrid", "lexical" or "dense"; exact references come first.

        ``as_of`` is the day whose law counts (today by default); see the module docstring for
        ``in_force_only`` and ``current_only``.
        """
        law_name = self.names.canonical(law) or law if law else None
        day = as_of or date.today()

        mask = self.mask(
            kind=kind, law=law_name, in_force_only=in_force_only, chapter=chapter, day=day, current_only=current_only
        )
        position = self._position

        def allowed(record: Record) -> bool:
            index = position.get(record.record_id)
            if index is not None and index < len(mask):
                return bool(mask[index])  # the filters, computed once for every record
            return (
                (kind is None or record.kind == kind)
                and (law_name is None or record.law == law_name)
                and (chapter is None or chapter in record.chapter)
                and (not in_force_only or in_force_on(record, day))
                and (not current_only or not self.replaced_on(record, day))
            )

        hits: list[Hit] = []
        if mode == "hybrid":
            exact = [r for r in self.exact(query) if allowed(r)]
            # the text in force first; a replaced text of the same number after it
            exact.sort(key=lambda r: self.replaced_on(r, day))
            hits = [Hit(r, 1.0, exact=True) for r in exact]
            if hits and not _has_more_than_reference(query):
                return hits[:top_k]
        fused = self._fused(query, allowed, mask, law_name, day, kind, mode, limit=top_k + len(hits))
        seen = {h.record.record_id for h in hits}
        hits.extend(h for h in fused if h.record.record_id not in seen)
        return hits[:top_k]

    def ranked_ids(self, query: str, *, kind: str = STATUTE, depth: int = 10) -> list[str]:
        """The ids of the first ``depth`` texts of a kind a hybrid search finds for a query, in force today (kept per query)."""
        return [hit.record.record_id for hit in self.ranked(query, kind=kind, depth=depth)]

    def ranked(self, query: str, *, kind: str = STATUTE, depth: int = 10) -> list[Hit]:
        """The first ``depth`` hits of a kind a hybrid search finds for a query, in force today (kept per query)."""
        day = date.today()
        key = f"{kind}|{depth}|{day.isoformat()}|{query}"
        with self._lock:
            cached = self._ranked_cache.get(key)
        if cached is not None:
            return cached
        hits = self.search(query, top_k=depth, kind=kind, current_only=True, as_of=day)
        with self._lock:
            _remember(self._ranked_cache, key, hits)
        return hits

    def _fused(
        self,
        query: str,
        allowed: Any,
        mask: np.ndarray[Any, Any],
        law_name: str | None,
        day: date,
        kind: str | None,
        mode: str,
        *,
        limit: int,
    ) -> list[Hit]:
        """Returns the best ``limit`` fused hits."""
        weights = self.weights
        lexical: dict[str, float] = {}
        allowed_scores = np.zeros(0, dtype=np.float32)
        if mode in ("hybrid", "lexical"):
            ids = self.lexical.ids
            raw = self.lexical_array(query)
            allowed_scores = np.where(mask, raw, 0.0) if len(mask) == len(raw) else raw
            positive = np.flatnonzero(allowed_scores > 0)
            if mode == "hybrid" and len(positive) > CANDIDATES:
                # fusion reads only the lexical top-N and the dense candidates' own scores
                positive = positive[np.argpartition(-allowed_scores[positive], CANDIDATES)[:CANDIDATES]]
            lexical = {ids[i]: float(allowed_scores[i]) for i in positive}
        position = self._position

        def lexical_of(record_id: str) -> float:
            found = lexical.get(record_id)
            if found is not None:
                return found
            index = position.get(record_id)
            return float(allowed_scores[index]) if index is not None and index < len(allowed_scores) else 0.0

        dense: dict[str, float] = {}
        if mode in ("hybrid", "dense"):
            where: list[dict[str, Any]] = []  # validity depends on the day: ``allowed`` checks it
            if law_name:
                where.append({"law": law_name})
            if kind:
                where.append({"kind": kind})
            clause = where[0] if len(where) == 1 else ({"$and": where} if where else None)
            dense = self.dense_scores(query, where=clause, allowed=allowed, mask=mask)
        if len(mask) != len(self.lexical.ids):
            lexical = {k: v for k, v in lexical.items() if k in self.records and allowed(self.records[k])}
        dense = {k: v for k, v in dense.items() if k in self.records}
        # whole-article cosines only: the "no basis" confidence is calibrated on them
        raw_best_dense = max(dense.values(), default=0.0)
        if dense and weights.chunk > 0 and kind in (None, STATUTE):  # only statutes have chunks
            dense = self._with_chunks(query, dense, allowed)
        if mode == "lexical":
            return _ranked({k: (v, v, 0.0) for k, v in lexical.items()}, self.records, limit)
        if mode == "dense":
            return _ranked({k: (v, 0.0, v) for k, v in dense.items()}, self.records, limit)
        top_lexical = sorted(lexical.items(), key=lambda kv: -kv[1])[:CANDIDATES]
        lexical_rank = {record_id: i for i, (record_id, _score) in enumerate(top_lexical)}
        dense_rank = {record_id: i for i, (record_id, _c) in enumerate(sorted(dense.items(), key=lambda kv: -kv[1]))}
        raw_best_lexical = top_lexical[0][1] if top_lexical else 0.0
        best_lexical = top_lexical[0][1] if top_lexical else 1.0
        dense_values = list(dense.values())
        high = max(dense_values, default=1.0)
        low = min(dense_values, default=0.0)
        span = max(high - low, 1e-6)
        lexical_share, dense_share = weights.lexical, weights.dense
        if weights.subject_words:
            # words no text has (English ones, everyday words) tell word search nothing
            words = sum(1 for t in subject_terms(query) if self.lexical.knows(t))
            lexical_share = weights.lexical * min(1.0, max(words, 1) / weights.subject_words)
            dense_share = weights.dense + weights.lexical - lexical_share
        named = set(self.names.mentioned(query))
        topical = topic_laws(query)
        current = self.mask(kind=None, law=None, in_force_only=False, chapter=None, day=day, current_only=True)
        combined: dict[str, tuple[float, float, float]] = {}
        for record_id in {k for k, _v in top_lexical} | set(dense):
            record = self.records[record_id]
            lex = lexical_of(record_id) / best_lexical
            if record_id not in dense:
                den = 0.0
            elif weights.dense_window:
                den = max(0.0, 1.0 - (high - dense[record_id]) / weights.dense_window)
            else:
                den = (dense[record_id] - low) / span
            score = lexical_share * lex + dense_share * den
            if record.law in named:
                score += weights.named_law
            elif record.law in topical:
                score += weights.topic_law
            score += weights.authority * (3 - min(authority_rank(record.title), 3)) / 3
            index = position.get(record_id)
            if index is not None and index < len(current) and not current[index]:
                score -= REPLACED_PENALTY
            combined[record_id] = (score, lex, dense.get(record_id, 0.0))
        return [
            replace(
                hit,
                best_lexical=raw_best_lexical,
                best_dense=raw_best_dense,
                lexical_rank=lexical_rank.get(hit.record.record_id, CANDIDATES),
                dense_rank=dense_rank.get(hit.record.record_id, CANDIDATES),
            )
            for hit in _ranked(combined, self.records, limit)
        ]

    def _with_chunks(self, query: str, dense: dict[str, float], allowed: Any) -> dict[str, float]:
        """Lifts each article's cosine towards its best chunk's; keeps the dense top-N."""
        owners, best = self._chunk_best(query)
        if not owners:
            return dense
        merged = dict(dense)
        floor = min(dense.values())
        taken = 0
        # best chunks first; below the article top-N's floor a chunk can neither enter nor lift
        for i in np.argsort(-best):
            cosine = float(best[i])
            if cosine <= floor or taken >= CANDIDATES:
                break
            record = self.records.get(owners[i])
            if record is None or not allowed(record):
                continue
            taken += 1
            own = dense.get(record.record_id)
            if own is None:
                # outside the article top-N: only its chunk is known, count it as the chunk scores
                merged[record.record_id] = cosine
            elif cosine > own:
                merged[record.record_id] = own + self.weights.chunk * (cosine - own)
        return dict(sorted(merged.items(), key=lambda kv: -kv[1])[:CANDIDATES])

    def coverage(self, query: str, record: Record) -> float:
        """Returns the share of the question's own words (not the glossary's) found in a record."""
        wanted = set(tokenize(query))
        if not wanted:
            return 0.0
        have = set(self.lexical.tokens_of(record.content_hash) or tokenize(lexical_text(record)))
        return len(wanted & have) / len(wanted)

    def neighbours(self, record: Record, *, limit: int) -> list[Record]:
        """Returns the articles next to a record in its instrument (same chapter first)."""
        if record.kind != STATUTE:
            return []
        here = _sort_key(record)
        if here is None:
            return []
        with self._lock:
            same_law = self._by_law.get(record.law, [])

        def distance(item: tuple[Record, tuple[int, int] | None]) -> tuple[int, int]:
            other, key = item
            if key is None:
                return (1, 10**6)
            return (0 if other.chapter == record.chapter else 1, abs(key[0] - here[0]) * 10 + key[1])

        ordered = sorted((item for item in same_law if item[0].record_id != record.record_id), key=distance)
        return [other for other, _key in ordered[:limit]]


def _remember(cache: dict[str, Any], query: str, value: Any) -> None:
    """Keeps a per-question result, forgetting the oldest beyond QUERY_CACHE_SIZE questions."""
    if len(cache) >= QUERY_CACHE_SIZE:
        cache.pop(next(iter(cache)))
    cache[query] = value


def _valid_until(record: Record) -> int:
    """Returns the first day (ordinal) a record's text is no longer in force."""
    if record.superseded_by is None:
        return _NEVER
    return date.fromisoformat(record.superseded_from).toordinal() if record.superseded_from else 0


def _sort_key(record: Record) -> tuple[int, int] | None:
    try:
        return article_sort_key(record.article)
    except ValueError:
        return None


def lexical_text(record: Record) -> str:
    """Returns what BM25 sees: the law name and chapter path carry meaning as much as the text."""
    return f"{record.law} {record.chapter} {record.article} {record.text}"


def _has_more_than_reference(query: str) -> bool:
    # "刑诉法第79条" alone is a lookup; "刑诉法第79条规定的监视居住怎么执行" also wants search
    stripped = query.strip(" ？?。.!！")
    return len(stripped) > 24


def _ranked(scored: dict[str, tuple[float, float, float]], records: dict[str, Record], limit: int) -> list[Hit]:
    ordered = sorted(scored.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
    return [Hit(records[k], score, lexical=lex, dense=den) for k, (score, lex, den) in ordered]


def top_records(hits: Sequence[Hit]) -> list[Record]:
    """Returns the records of hits, in order."""
    return [h.record for h in hits]
