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
    superseded_from: str | None = None  # the day the superseding text took effect (ISO), if known
    in_force_from: str | None = None  # the day this text took effect, when that is later than its version

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
            superseded_from=record.superseded_from,
            in_force_from=record.in_force_from,
        )

    @property
    def label(self) -> str:
        """Returns the reference as written in Chinese text: 《刑事诉讼法》第七十九条."""
        return f"《{self.law}》{self.article}"


@dataclass(frozen=True)
class Answer:
    """An answer to a question, grounded in citations or plainly saying there is none.

    ``answer`` is the whole plain text (command line, logs); ``lead`` the sentence(s) an officer
    reads first, quoted from ``citations[0]`` and introduced by ``lead_in`` (根据《…》第…条：);
    ``notes`` what must be said beside it (a superseded text, an article renumbered). An answer
    that is not grounded but ``likely`` shows the closest source with its lead, marked unconfirmed.
    """

    question: str
    answer: str
    citations: list[Citation]
    related: list[Citation]
    grounded: bool
    confidence: float
    lead: str = ""
    lead_in: str = ""
    notes: tuple[str, ...] = ()
    # below the grounded threshold but judged more likely right than not: shown with its lead,
    # marked as not confirmed (grounded stays False)
    likely: bool = False
