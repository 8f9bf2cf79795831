"""The knowledge base the bot and the CLI use: open once, then ask / search / get / related.

Two halves behind one face: ``knowledge.indexing`` (ingest the bundled corpus and curated
guidance when they changed, keep the dense index and the search views in step) and
``knowledge.queries`` (answers from the law in force, search, look-ups). Opening ingests what
changed and loads the embedding model, so the first question is answered at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from core.settings import Settings
from ingest.pipeline import IngestReport, RecordStore
from ingest.statutes import STATUTE, Record
from knowledge.citations import Answer, Citation
from knowledge.embeddings import make_embeddings
from knowledge.errors import KnowledgeError
from knowledge.indexing import (
    BUNDLED_PREFIX,
    CORPUS_DIR,
    CURATED_PREFIX,
    KnowledgeIndex,
    interprocess_lock,
)
from knowledge.judge import Judge
from knowledge.lexical import tokenize
from knowledge.queries import Queries
from knowledge.retrieve import Hit, Retriever
from knowledge.vectorstore import ChromaIndex

__all__ = [
    "BUNDLED_PREFIX",
    "CORPUS_DIR",
    "CURATED_PREFIX",
    "Answer",
    "Citation",
    "KnowledgeBase",
    "KnowledgeError",
]

log = logging.getLogger(__name__)


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
        self.index = KnowledgeIndex(settings, embeddings=embeddings, corpus_dir=corpus_dir, precomputed=precomputed)
        self.judge = Judge(self.index.model_id)
        self.queries = Queries(
            lambda: self.index.retriever, judge=self.judge, chat_model=chat_model, today=self.today
        )

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
        with interprocess_lock(kb.index.kb_dir / "ingest.lock"):
            kb.ingest_bundled()
        kb.warm_up()
        log.info(
            "knowledge base ready: %d records in %.1fs",
            len(kb.retriever.records if kb.retriever else ()),
            time.monotonic() - started,
        )
        return kb

    def warm_up(self) -> None:
        """Loads the tokenizer dictionary and the embedding model now, not on the first question."""
        tokenize("取保候审")
        self.embeddings.embed_query("取保候审")

    def today(self) -> date:
        """Returns today in the force's time zone: the day whose law is in force."""
        return datetime.now(self.settings.tz).date()

    # ---- the index -------------------------------------------------------------------------

    @property
    def retriever(self) -> Retriever | None:
        """The search views over the current records (None until opened)."""
        return self.index.retriever

    @property
    def store(self) -> RecordStore:
        """The record store."""
        return self.index.store

    @property
    def dense(self) -> ChromaIndex:
        """The dense index (Chroma)."""
        return self.index.dense

    @property
    def embeddings(self) -> Embeddings:
        """The embedding model."""
        return self.index.embeddings

    @property
    def guidance_dir(self) -> Path:
        """Where the legal brigade's curated answers are kept."""
        return self.index.guidance_dir

    @property
    def last_report(self) -> IngestReport | None:
        """What the last ingest did."""
        return self.index.last_report

    @property
    def grounded_threshold(self) -> float:
        """The confidence from which an answer to a Chinese question counts as grounded (English: judge.threshold_english)."""
        return self.judge.threshold

    def ingest_bundled(self) -> IngestReport:
        """Ingests the bundled corpus and the curated guidance (unchanged files are skipped)."""
        return self.index.ingest_bundled()

    def ingest_paths(self, paths: Sequence[Path], *, remove_missing: bool = True) -> IngestReport:
        """Ingests files or folders incrementally and brings the indexes up to date."""
        return self.index.ingest_paths(paths, remove_missing=remove_missing)

    def supersede(
        self, name: str, by: str | None, *, version: str | None = None, from_day: str | None = None
    ) -> list[Record]:
        """Marks an instrument (or one version) as superseded (by=None clears the mark); returns its records."""
        return self.index.supersede(name, by, version=version, from_day=from_day)

    def add_guidance(self, *, title: str, question: str, answer: str, author: str) -> Citation:
        """Saves a legal officer's curated answer as guidance and indexes it."""
        return self.index.add_guidance(title=title, question=question, answer=answer, author=author)

    # ---- queries ---------------------------------------------------------------------------

    def ask(self, question: str, *, language: str = "zh", as_of: date | None = None) -> Answer:
        """Answers a question from the law in force on the day it concerns (today by default)."""
        return self.queries.ask(question, language=language, as_of=as_of)

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
        as_of: date | None = None,
        current_only: bool = False,
    ) -> list[Hit]:
        """Returns scored hits (for benchmarks and the answer builder); current_only searches as answers do."""
        return self.queries.hits(
            query,
            top_k=top_k,
            law=law,
            chapter=chapter,
            in_force_only=in_force_only,
            kind=kind,
            mode=mode,
            as_of=as_of,
            current_only=current_only,
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
        as_of: date | None = None,
    ) -> list[tuple[Citation, float]]:
        """Returns the best articles for a query with their scores (texts in force first)."""
        return self.queries.search(
            query, top_k=top_k, law=law, in_force_only=in_force_only, chapter=chapter, kind=kind, as_of=as_of
        )

    def get(self, record_id: str) -> Citation | None:
        """Gets a citation by its record id."""
        return self.queries.get(record_id)

    def related(self, record_id: str, *, limit: int = 5) -> list[Citation]:
        """Returns articles related to a record: those it names, its neighbours."""
        return self.queries.related(record_id, limit=limit)

    def risk_tips(self, topic: str, *, limit: int = 3) -> list[Citation]:
        """Returns risk-tip guidance for a measure or case type (e.g. 取保候审, 刑事拘留)."""
        return self.queries.risk_tips(topic, limit=limit)


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
