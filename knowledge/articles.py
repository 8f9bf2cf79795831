"""Articles by exact reference, without the search engines: what a tip, an application or a rule cites.

A reference names a law and an article: ``刑事诉讼法:第七十九条`` (the command line's form),
``刑诉法第79条``, ``治安法 83``, ``刑法:第二百五十三条之一``, or a rule's citation
``治安管理处罚法（2025年版）第一百一十八条、第一百二十条；公安机关…第一百六十五条``. Abbreviations are
the knowledge base's. Where a law has several texts (the 2012 and 2025 治安管理处罚法), the one in
force on the day asked is quoted unless the reference names the year of its text.

The lookup reads the knowledge base's ingested records (``records.json`` in its data dir: every
ingested law, with its supersession marks) and needs no search engine or model; before the
knowledge base was ever opened it reads the bundled statutes with the bundled marks.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from core.settings import Settings
from ingest.numerals import to_int
from ingest.pipeline import RecordStore, parse_file
from ingest.statutes import STATUTE, Record
from knowledge.references import LawNames, find_article_refs, normalize_article
from knowledge.versions import in_force_on, load_supersessions

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"

_NUMBER = r"[0-9０-９]+|[零〇一二两三四五六七八九十百千]+"
_ARTICLE = re.compile(rf"^\s*第?\s*({_NUMBER})\s*条?\s*(?:之\s*({_NUMBER}))?\s*$")
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
# "治安管理处罚法（2025年版）": the year of the text a citation means
_TEXT_YEAR = re.compile(r"[（(](\d{4})年(?:版|修订|修正)?[）)]")
# a citation of a law the corpus does not hold, named all the same: 某某条例第三条
_ANY_CITE = re.compile(r"(?P<law>[^；;，,、\s]+?)(?P<article>第[零一二三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?)")


@dataclass(frozen=True)
class ArticleQuote:
    """An article as quoted: law, article number, version of its text, the text, and whether it is superseded.

    ``text`` is empty for an article a citation names that the corpus does not hold.
    """

    law: str
    article: str
    version: str
    text: str
    superseded_by: str | None = None
    superseded_from: str | None = None

    @property
    def reference(self) -> str:
        """Returns the reference in the command line's form: 刑事诉讼法:第七十九条."""
        return f"{self.law}:{self.article}"

    @property
    def label(self) -> str:
        """Returns the reference as written in Chinese text: 《刑事诉讼法》第七十九条."""
        return f"《{self.law}》{self.article}"

    def to_json(self) -> dict[str, Any]:
        """Returns the quote as stored beside what cites it."""
        data: dict[str, Any] = {"law": self.law, "article": self.article, "version": self.version, "text": self.text}
        if self.superseded_by:
            data["superseded_by"] = self.superseded_by
        if self.superseded_from:
            data["superseded_from"] = self.superseded_from
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
            superseded_from=data.get("superseded_from") or None,
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
            superseded_from=record.superseded_from,
        )


class ArticleIndex:
    """Statute articles by (law, article), every text of each, with the knowledge base's law names."""

    def __init__(self, records: Iterable[Record]) -> None:
        self._texts: dict[tuple[str, str], list[Record]] = {}
        for record in records:
            if record.kind == STATUTE:
                self._texts.setdefault((record.law, record.article), []).append(record)
        for texts in self._texts.values():
            texts.sort(key=lambda r: r.version, reverse=True)  # the newest text first
        self.names = LawNames(law for law, _article in self._texts)

    def __len__(self) -> int:
        return len(self._texts)

    def record(self, law: str, article: str, *, on: date | None = None, year: str | None = None) -> Record | None:
        """Returns the text of an article: of the year named, else the one in force on a day (today), else the newest."""
        texts = self._texts.get((law, article))
        if not texts:
            return None
        if year is not None:
            return next((r for r in texts if r.version.startswith(year)), None)
        day = on or date.today()
        return next((r for r in texts if in_force_on(r, day)), texts[0])

    def get(self, law: str, article: str, *, on: date | None = None) -> ArticleQuote | None:
        """Returns an article by its law (any name the knowledge base knows) and number, or None."""
        canonical = self.names.canonical(law)
        number = _article_number(article)
        if canonical is None or number is None:
            return None
        record = self.record(canonical, number, on=on)
        return ArticleQuote.of(record) if record else None

    def find(self, text: str, *, on: date | None = None) -> tuple[list[ArticleQuote], list[str]]:
        """Finds every article a text names; returns them and the parts that named none."""
        found: list[ArticleQuote] = []
        missing: list[str] = []
        for part in (p.strip() for p in re.split(r"[\n,，、;；]+", text)):
            if not part:
                continue
            quotes = self._find_one(part, on)
            if not quotes:
                missing.append(part)
            for quote in quotes:
                if quote not in found:
                    found.append(quote)
        return found, missing

    def _find_one(self, part: str, on: date | None) -> list[ArticleQuote]:
        for separator in (":", "："):
            if separator in part:
                law, _sep, article = part.partition(separator)
                quote = self.get(law, article, on=on)
                return [quote] if quote else []
        quotes = self._bound(part, on=on, year=None)
        if quotes:
            return quotes
        # "治安法 83": a law name, then a bare number
        mentions = self.names.find(part)
        if len(mentions) == 1:
            law, _start, end = mentions[0]
            quote = self.get(law, part[end:], on=on)
            if quote:
                return [quote]
        return []

    def _bound(self, text: str, *, on: date | None, year: str | None) -> list[ArticleQuote]:
        quotes: list[ArticleQuote] = []
        for ref in find_article_refs(text, self.names):
            if ref.law is None:
                continue
            record = self.record(ref.law, ref.article, on=on, year=year)
            if record is not None:
                quote = ArticleQuote.of(record)
                if quote not in quotes:
                    quotes.append(quote)
        return quotes

    def cited(self, citation: str, *, on: date | None = None) -> list[ArticleQuote]:
        """Quotes every article a rule's citation names (刑事诉讼法第八十五条、第八十六条；…).

        An article the corpus does not hold is still listed, with an empty text, so a page can
        name it and say it is not bundled.
        """
        found: list[ArticleQuote] = []
        for segment in (s.strip() for s in re.split(r"[；;]+", citation)):
            if not segment:
                continue
            marker = _TEXT_YEAR.search(segment)
            year = marker.group(1) if marker else None
            plain = _TEXT_YEAR.sub("", segment)
            quotes = self._bound(plain, on=on, year=year)
            if not quotes:
                quotes = [
                    ArticleQuote(law=m["law"].strip("《》"), article=m["article"], version="", text="")
                    for m in _ANY_CITE.finditer(plain)
                ]
            found.extend(q for q in quotes if q not in found)
        return found


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
    """Reads the bundled statutes with the bundled supersession marks, as the knowledge base ingests them."""
    marks = RecordStore(corpus_dir / "no-store.json")  # never saved: only its marks are used
    marks.supersessions = load_supersessions(corpus_dir / "supersessions.yaml")
    records: list[Record] = []
    for path in sorted((corpus_dir / "laws").glob("*.md")):
        document, _hash = parse_file(path, f"bundled:{path.name}")
        by, since, in_force_from = marks.validity_for(
            document.title, document.law, document.version, document.superseded_by
        )
        records.extend(
            r.with_validity(superseded_by=by, superseded_from=since, in_force_from=in_force_from)
            for r in document.records
        )
    return records


_cache: dict[Path, tuple[float, ArticleIndex]] = {}
_cache_lock = threading.Lock()


def bundled_index(corpus_dir: Path = CORPUS_DIR) -> ArticleIndex:
    """Returns the article index of the bundled statutes (read once)."""
    key = corpus_dir.resolve()
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached[1]
    index = ArticleIndex(bundled_records(corpus_dir))
    with _cache_lock:
        _cache[key] = (0.0, index)
    return index


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
        return bundled_index()
    index = ArticleIndex(records)
    with _cache_lock:
        _cache[path] = (stamp, index)
    return index
