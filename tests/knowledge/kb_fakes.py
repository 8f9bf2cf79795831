"""A deterministic fake embedding model for fast tests."""

from __future__ import annotations

import hashlib

import numpy as np
from langchain_core.embeddings import Embeddings

DIM = 64


class HashEmbeddings(Embeddings):
    """Embeds text as a normalised bag of character bigrams hashed into 64 dims."""

    model_id = "test/hash-bigrams-64"

    def __init__(self) -> None:
        self.documents_embedded = 0

    def _vector(self, text: str) -> list[float]:
        vector = np.zeros(DIM, dtype=np.float32)
        for i in range(len(text) - 1):
            bucket = int(hashlib.md5(text[i : i + 2].encode()).hexdigest()[:8], 16) % DIM
            vector[bucket] += 1.0
        norm = float(np.linalg.norm(vector)) or 1.0
        return (vector / norm).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.documents_embedded += len(texts)
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)
