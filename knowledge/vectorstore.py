"""Dense index in Chroma: embedded PersistentClient under the data dir, or a Chroma server."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.settings import Settings
from ingest.statutes import Record

log = logging.getLogger(__name__)

_BATCH = 1000


def make_client(settings: Settings) -> Any:
    """Connects to the configured Chroma server, else opens embedded Chroma in the data dir."""
    import chromadb  # a heavy import: only when the knowledge base opens
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        from urllib.parse import urlparse

        url = urlparse(settings.chroma_url)
        return chromadb.HttpClient(
            host=url.hostname or "127.0.0.1",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    path = settings.data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def collection_name(model_id: str) -> str:
    """Names the collection after the embedding model, so models never mix vectors."""
    return "frontline_kb_" + hashlib.sha1(model_id.encode()).hexdigest()[:12]


def metadata_of(record: Record, passage: str = "") -> dict[str, str | int | bool]:
    """Returns the Chroma metadata of a record (the filterable fields and the passage hash)."""
    return {
        "passage": passage,
        "law": record.law,
        "kind": record.kind,
        "chapter": record.chapter,
        "in_force": record.superseded_by is None,
        "content_hash": record.content_hash,
    }


class ChromaIndex:
    """Vectors of the records, one collection per embedding model."""

    def __init__(self, client: Any, model_id: str) -> None:
        self.client = client
        self.collection = client.get_or_create_collection(
            name=collection_name(model_id),
            metadata={"hnsw:space": "cosine", "model_id": model_id},
            embedding_function=None,
        )

    def count(self) -> int:
        """Returns how many vectors are stored."""
        return int(self.collection.count())

    def stored_hashes_and_flags(self) -> dict[str, tuple[str, bool | None]]:
        """Returns {record_id: (content_hash, in_force)} of what is stored."""
        got = self.collection.get(include=["metadatas"])
        result: dict[str, tuple[str, bool | None]] = {}
        for record_id, meta in zip(got["ids"], got["metadatas"] or [], strict=False):
            meta = meta or {}
            in_force = meta.get("in_force")
            result[record_id] = (str(meta.get("content_hash", "")), in_force if isinstance(in_force, bool) else None)
        return result

    def upsert(
        self, records: Sequence[Record], vectors: Sequence[Sequence[float]], passages: Sequence[str]
    ) -> None:
        """Adds or replaces records with their vectors and passage hashes."""
        for start in range(0, len(records), _BATCH):
            chunk = records[start : start + _BATCH]
            self.collection.upsert(
                ids=[r.record_id for r in chunk],
                embeddings=[list(map(float, v)) for v in vectors[start : start + _BATCH]],
                metadatas=[metadata_of(r, p) for r, p in zip(chunk, passages[start : start + _BATCH], strict=True)],
            )

    def update_metadata(self, records: Sequence[Record], passages: Sequence[str]) -> None:
        """Refreshes metadata (e.g. superseded) without touching vectors."""
        for start in range(0, len(records), _BATCH):
            chunk = records[start : start + _BATCH]
            metadatas = [metadata_of(r, p) for r, p in zip(chunk, passages[start : start + _BATCH], strict=True)]
            self.collection.update(ids=[r.record_id for r in chunk], metadatas=metadatas)

    def vectors_by_passage(self, passages: Sequence[str]) -> dict[str, list[float]]:
        """Returns stored vectors whose passage hash is among the given ones (reused, not re-embedded)."""
        found: dict[str, list[float]] = {}
        wanted = list(dict.fromkeys(passages))
        for start in range(0, len(wanted), _BATCH):
            got = self.collection.get(
                where={"passage": {"$in": wanted[start : start + _BATCH]}}, include=["embeddings", "metadatas"]
            )
            embeddings = got.get("embeddings")
            if embeddings is None:
                continue
            for meta, vector in zip(got["metadatas"] or [], embeddings, strict=False):
                found[str((meta or {}).get("passage", ""))] = [float(x) for x in vector]
        return found

    def all_vectors(self) -> tuple[list[str], np.ndarray[Any, Any]]:
        """Returns every stored record id with its vector (row i belongs to ids[i])."""
        ids: list[str] = []
        rows: list[Any] = []
        total = self.count()
        for start in range(0, total, _BATCH * 10):
            got = self.collection.get(include=["embeddings"], limit=_BATCH * 10, offset=start)
            embeddings = got.get("embeddings")
            if embeddings is None:
                continue
            ids.extend(got["ids"])
            rows.extend(embeddings)
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        return ids, np.asarray(rows, dtype=np.float32)

    def delete(self, record_ids: Sequence[str]) -> None:
        """Removes records."""
        for start in range(0, len(record_ids), _BATCH):
            self.collection.delete(ids=list(record_ids[start : start + _BATCH]))

    def query(
        self, vector: Sequence[float], *, top_k: int, where: dict[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        """Returns (record_id, cosine similarity) of the nearest records."""
        if top_k <= 0:
            return []
        result = self.collection.query(
            query_embeddings=[list(map(float, vector))],
            n_results=top_k,
            where=where or None,
            include=["distances"],
        )
        ids = result["ids"][0] if result["ids"] else []
        distances = (result.get("distances") or [[]])[0]
        return [(record_id, 1.0 - float(d)) for record_id, d in zip(ids, distances, strict=False)]
