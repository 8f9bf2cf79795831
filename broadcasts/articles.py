"""Articles linked to a tip, found in the knowledge base by exact reference and quoted with their version.

A reference names a law and an article: ``刑事诉讼法:第七十九条`` (the command line's form),
``刑诉法第79条``, ``治安法 83``, ``刑法:第二百五十三条之一``. Abbreviations are the knowledge
base's. The lookup reads the knowledge base's ingested records (``records.json`` in its data
dir: every ingested law, with supersessions) and needs no search engine; before the knowledge
base was ever opened it reads the bundled statutes directly.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import knowledge
from core.settings import Settings
from ingest.numerals import to_int
from ingest.pipeline import RecordStore, parse_file
from ingest.statutes import STATUTE, Record
from knowledge.references import LawNames, find_article_refs, normalize_article

CORPUS_DIR = Path(knowledge.__file__).resolve().parent / "corpus"
MAX_ARTICLES = 5

_NUMBER = r"[0-9０-９]+|[零〇一二两三四五六七八九十百千]+"
_ARTICLE = re.compile(rf"^\s*第?\s*({_NUMBER})\s*条?\s*(?:之\s*({_NUMBER}))?\s*$")
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


class ArticleError(Exception):
    """A reference that names no article of the knowledge base."""


@dataclass(frozen=True)
class ArticleQuote:
    """An article as quoted under a tip: law, article number, version and text."""

    law: str
    article: str
    version: str
    text: str
    superseded_by: str | None = None

    @property
    def reference(self) -> str:
        """Returns the reference in the command line's form: 刑事诉讼法:第七十九条."""
        return f"{self.law}:{self.article}"

    @property
    def label(self) -> str:
        """Returns the reference as written in Chinese text: 《刑事诉讼法》第七十九条."""
        return f"《{self.law}》{self.article}"

    def to_json(self) -> dict[str, Any]:
        """Returns the quote as stored with the broadcast."""
        data: dict[str, Any] = {
            "law": self.law,
            "article": self.article,
            "version": self.version,
            "text": self.text,
        }
        if self.superseded_by:
            data["superseded_by"] = self.superseded_by
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ArticleQuote:
        """Builds a quote from its stored form."""
        return cls(
            law=str(data["law"]),
            article=str(data["article"]),
            version=str(data.get("version") or ""),
            text=str(data.get("text") or ""),
            superseded_by=data.get("superseded_by") or None,
        )

    @classmethod
    def of(cls, record: Record) -> ArticleQuote:
        """Quotes a knowledge-base record."""
        return cls(
            law=record.law,
            article=record.article,
            version=record.version,
            text=record.text,
            superseded_by=record.superseded_by,
        )


def _preference(record: Record) -> tuple[bool, str]:
    # The text in force first, then the newest version.
    return (record.superseded_by is None, record.version)


class ArticleIndex:
    """Statute articles by (law, article), with the knowledge base's law names and abbreviations."""

    def __init__(self, records: Iterable[Record]) -> None:
        self._by_article: dict[tuple[str, str], Record] = {}
        for record in records:
            if record.kind != STATUTE:
                continue
            key = (record.law, record.article)
            known = self._by_article.get(key)
            if known is None or _preference(record) > _preference(known):
                self._by_article[key] = record
        self.names = LawNames(law for law, _article in self._by_article)

    def __len__(self) -> int:
        return len(self._by_article)

    def get(self, law: str, article: str) -> ArticleQuote | None:
        """Returns an article by its law (any name the knowledge base knows) and number, or None."""
        canonical = self.names.canonical(law)
        number = _article_number(article)
        if canonical is None or number is None:
            return None
        record = self._by_article.get((canonical, number))
        return ArticleQuote.of(record) if record else None

    def find(self, text: str) -> tuple[list[ArticleQuote], list[str]]:
        """Finds every article a text names; returns them and the parts that named none."""
        found: list[ArticleQuote] = []
        missing: list[str] = []
        for part in (p.strip() for p in re.split(r"[\n,，、;；]+", text)):
            if not part:
                continue
            quotes = self._find_one(part)
            if not quotes:
                missing.append(part)
            for quote in quotes:
                if quote not in found:
                    found.append(quote)
        return found, missing

    def _find_one(self, part: str) -> list[ArticleQuote]:
        for separator in (":", "："):
            if separator in part:
                law, _sep, article = part.partition(separator)
                quote = self.get(law, article)
                return [quote] if quote else []
        quotes: list[ArticleQuote] = []
        for ref in find_article_refs(part, self.names):
            if ref.law is None:
                continue
            record = self._by_article.get((ref.law, ref.article))
            if record is not None:
                quotes.append(ArticleQuote.of(record))
        if quotes:
            return quotes
        # "治安法 83": a law name, then a bare number
        mentions = self.names.find(part)
        if len(mentions) == 1:
            law, _start, end = mentions[0]
            quote = self.get(law, part[end:])
            if quote:
                return [quote]
        return []

    def resolve(self, references: Sequence[str]) -> list[ArticleQuote]:
        """Returns the articles named by references, in order; raises ArticleError for one that names none."""
        quotes: list[ArticleQuote] = []
        for reference in references:
            found, missing = self.find(reference)
            if missing or not found:
                raise ArticleError(f"no such article in the knowledge base: {reference}")
            for quote in found:
                if quote not in quotes:
                    quotes.append(quote)
        if len(quotes) > MAX_ARTICLES:
            raise ArticleError(f"a tip links at most {MAX_ARTICLES} articles")
        return quotes


def _article_number(text: str) -> str | None:
    match = _ARTICLE.match(text.translate(_FULLWIDTH))
    if not match:
        return None
    try:
        number = to_int(match.group(1))
        sub = to_int(match.group(2)) if match.group(2) else 0
    except ValueError:
        return None
    return normalize_article(number, sub) if number > 0 else None


def bundled_records(corpus_dir: Path = CORPUS_DIR) -> list[Record]:
    """Reads the bundled statutes (with the bundled supersessions) as the knowledge base ingests them."""
    supersessions: dict[str, str] = {}
    marks = corpus_dir / "supersessions.yaml"
    if marks.exists():
        loaded = yaml.safe_load(marks.read_text("utf-8")) or {}
        supersessions = {str(law): str(by) for law, by in loaded.items()}
    records: list[Record] = []
    for path in sorted((corpus_dir / "laws").glob("*.md")):
        document, _hash = parse_file(path, f"bundled:{path.name}")
        by = supersessions.get(document.law)
        records.extend(r.with_superseded_by(by) if by else r for r in document.records)
    return records


_cache: dict[Path, tuple[float, ArticleIndex]] = {}
_cache_lock = threading.Lock()


def load_index(settings: Settings) -> ArticleIndex:
    """Returns the article index of the knowledge base in the data dir (reloaded when it changes)."""
    path = (settings.data_dir / "kb" / "records.json").resolve()
    stamp = path.stat().st_mtime if path.exists() else -1.0
    with _cache_lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    records: list[Record] = []
    if stamp >= 0:
        store = RecordStore(path)
        records = [r for doc in store.documents.values() for r in doc.records]
    if not any(r.kind == STATUTE for r in records):
        records = bundled_records()
    index = ArticleIndex(records)
    with _cache_lock:
        _cache[path] = (stamp, index)
    return index
