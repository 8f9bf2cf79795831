"""The values the knowledge base hands out: citations and answers."""

from __future__ import annotations

from dataclasses import dataclass

from ingest.statutes import Record


@dataclass(frozen=True)
class Citation:
    """One cited article (or guidance section), quoted verbatim."""

    law: str
    article: str
    version: str
    text: str
    chapter: str
    kind: str
    superseded_by: str | None
    record_id: str

    @classmethod
    def of(cls, record: Record) -> Citation:
        """Builds the citation of a record."""
        return cls(
            law=record.law,
            article=record.article,
            version=record.version,
            text=record.text,
            chapter=record.chapter,
            kind=record.kind,
            superseded_by=record.superseded_by,
            record_id=record.record_id,
        )

    @property
    def label(self) -> str:
        """Returns the reference as written in Chinese text: 《刑事诉讼法》第七十九条."""
        return f"《{self.law}》{self.article}"


@dataclass(frozen=True)
class Answer:
    """An answer to a question, grounded in citations or plainly saying there is none."""

    question: str
    answer: str
    citations: list[Citation]
    related: list[Citation]
    grounded: bool
    confidence: float
