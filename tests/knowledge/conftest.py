"""Fixtures of the knowledge tests: a small corpus copy and a knowledge base on fake embeddings."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from kb_fakes import HashEmbeddings  # the helper sits next to this conftest

from core.settings import Settings, load_settings
from knowledge.service import KnowledgeBase

DATA = Path(__file__).parent / "data" / "corpus"


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """A writable copy of the small test corpus (three statutes, one guidance file)."""
    target = tmp_path / "corpus"
    shutil.copytree(DATA, target)
    return target


@pytest.fixture
def embeddings() -> HashEmbeddings:
    """A deterministic fake embedding model that counts what it embeds."""
    return HashEmbeddings()


@pytest.fixture
def kb(settings: Settings, corpus_dir: Path, embeddings: HashEmbeddings, tmp_path: Path) -> KnowledgeBase:
    """A knowledge base over the small corpus, embedded Chroma in the tmp data dir."""
    return KnowledgeBase.open(
        settings, embeddings=embeddings, corpus_dir=corpus_dir, precomputed=tmp_path / "no-vectors.npz"
    )


@pytest.fixture(scope="session")
def bundled_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    """The whole bundled knowledge on the bundled model, opened once per session (~10 s with the shipped vectors)."""
    data_dir = tmp_path_factory.mktemp("kb-data")
    return KnowledgeBase.open(load_settings(data_dir=data_dir, _env_file=None))
