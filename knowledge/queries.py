"""Queries: search, look-ups and answers over the indexed records.

An answer is built from the law in force on the day the question concerns (``knowledge.versions``):
statutes and guidance are searched together; the source that answers best leads (a guidance
section when it answers at least as well as the best article, labelled as guidance with its date
and followed by the articles it cites), its lead is the sentence(s) that answer
(``knowledge.lead``), and the answer is grounded only when that source is judged to answer
(``knowledge.judge``). Otherwise there is no basis, and the question can go to the legal brigade.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from langchain_core.language_models import BaseChatModel

from core.i18n import gettext_for
from ingest.statutes import GUIDANCE, STATUTE, Record
from knowledge.answer import (
    extractive_answer,
    llm_answer,
    not_found_answer,
    reference,
)
from knowledge.citations import Answer, Citation
from knowledge.errors import KnowledgeError
from knowledge.judge import CANDIDATE_FLOOR, Judge, Verdict
from knowledge.lead import Lead, select_lead
from knowledge.references import find_article_refs
from knowledge.retrieve import Hit, Retriever
from knowledge.versions import (
    SAME_MEANING,
    AppliedDay,
    applied_day,
    body,
    counterpart,
    in_force_on,
    similarity,
    without_dates,
)

STATUTES_SEARCHED = 8
GUIDANCE_SEARCHED = 3
CITED_AT_MOST = 3
CLOSE_SCORE = 0.08  # articles this close to the best one are quoted with it
RELATED_AT_MOST = 5
NOTE_QUOTE_CHARS = 24
UNCONFIRMED_SHOWN = 3


# guidance leads when it answers about as surely as the best article (it was written for officers' questions)
GUIDANCE_MARGIN = 0.05
GUIDANCE_CLEARLY_SURER = 0.2  # among unconfirmed candidates, guidance goes first only when this much surer
BACKING_RANKS = 3  # a guidance section citing one of the best few articles backs them


@dataclass(frozen=True)
class Source:
    """The record an answer leads with, its lead, and how it was judged."""

    record: Record
    lead: Lead
    verdict: Verdict


@dataclass(frozen=True)
class Found:
    """What a question's search found: the day whose law applies, the text searched, the hits."""

    applied: AppliedDay
    searched: str
    statute_hits: list[Hit]
    guidance_hits: list[Hit]


class Queries:
    """Answers and look-ups; the retriever comes from the index (rebuilt whenever it changes)."""

    def __init__(
        self,
        retriever: Callable[[], Retriever | None],
        *,
        judge: Judge,
        chat_model: BaseChatModel | None,
        today: Callable[[], date],
    ) -> None:
        self._get_retriever = retriever
        self.judge = judge
        self.chat_model = chat_model
        self.today = today

    def _retriever(self) -> Retriever:
        retriever = self._get_retriever()
        if retriever is None:
            raise KnowledgeError("the knowledge base is not open")
        return retriever

    # ---- search and look-ups ---------------------------------------------------------------

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
        query = query.strip()
        if not query:
            return []
        return self._retriever().search(
            query,
            top_k=top_k,
            law=law,
            chapter=chapter,
            in_force_only=in_force_only,
            kind=kind,
            mode=mode,
            as_of=as_of or self.today(),
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
        return [
            (Citation.of(h.record), round(h.score, 4))
            for h in self.hits(
                query, top_k=top_k, law=law, in_force_only=in_force_only, chapter=chapter, kind=kind, as_of=as_of
            )
        ]

    def get(self, record_id: str) -> Citation | None:
        """Gets a citation by its record id."""
        record = self._retriever().records.get(record_id)
        return Citation.of(record) if record else None

    def related(self, record_id: str, *, limit: int = 5) -> list[Citation]:
        """Returns articles related to a record: those it names, its neighbours, similar ones."""
        retriever = self._retriever()
        record = retriever.records.get(record_id)
        if record is None:
            return []
        day = self.today()
        found: list[Record] = []
        for other in cited_by(retriever, record, day):
            if other.record_id != record_id and other not in found:
                found.append(other)
        for other in retriever.neighbours(record, limit=limit):
            if other not in found and other.version == record.version:
                found.append(other)
        return [Citation.of(r) for r in found[:limit]]

    def risk_tips(self, topic: str, *, limit: int = 3) -> list[Citation]:
        """Returns risk-tip guidance for a measure or case type (e.g. 取保候审, 刑事拘留)."""
        retriever = self._retriever()
        tips = [r for r in retriever.records.values() if r.kind == GUIDANCE and "风险提示" in r.title]
        topic = topic.strip()
        direct = [r for r in tips if topic and (topic in r.chapter or topic in r.article)]
        if direct:
            return [Citation.of(r) for r in sorted(direct, key=lambda r: r.ordinal)[:limit]]
        hits = retriever.search(topic, top_k=limit * 3, kind=GUIDANCE)
        ranked = [h.record for h in hits if "风险提示" in h.record.title]
        return [Citation.of(r) for r in ranked[:limit]]

    # ---- answers ---------------------------------------------------------------------------

    def found(self, question: str, today: date) -> Found:
        """Searches statutes and guidance for a question as an answer does (the law in force on its day)."""
        retriever = self._retriever()
        applied = applied_day(question, today, retriever.transitions)
        # the date a question names decides which law applies; it is no part of what to search for
        searched = without_dates(question) if applied.reason == "conduct" else question
        lookup = retriever.is_lookup(question)
        if not lookup:
            # The embedding engine first: when many officers ask at once it is the scarce part,
            # and a question that reaches it before its word search keeps it busy.
            retriever.query_vector(searched)
        statute_hits = retriever.search(searched, top_k=STATUTES_SEARCHED, current_only=True, as_of=applied.day)
        # guidance speaks of the law in force when it was written: not for a look-up or an older day
        guidance_hits = (
            retriever.search(question, top_k=GUIDANCE_SEARCHED + 1, kind=GUIDANCE, current_only=True, as_of=applied.day)
            if not lookup and applied.reason == "today"
            else []
        )
        # a guidance document's introduction says what the document is for, not what the law says
        guidance_hits = [h for h in guidance_hits if h.record.article != h.record.title][:GUIDANCE_SEARCHED]
        return Found(applied, searched, statute_hits, guidance_hits)

    def ask(self, question: str, *, language: str = "zh", as_of: date | None = None) -> Answer:
        """Answers a question from the law in force on the day it concerns (extractive, or by the chat model)."""
        question = question.strip()
        if not question:
            return not_found_answer(question, confidence=0.0, language=language)
        retriever = self._retriever()
        today = as_of or self.today()
        found = self.found(question, today)
        applied, statute_hits = found.applied, found.statute_hits
        statute, guidance = self.judged(found.searched, statute_hits, found.guidance_hits, retriever, applied.day)
        source = guidance if guidance is not None and leads(guidance, statute) else statute
        likely = False
        if source is None or not source.verdict.answers:
            # not confirmed; the closest source is still shown, marked so, when more likely right than not
            closest = guidance if guidance is not None and about_as_sure(guidance, statute) else statute
            if closest is None or not self.judge.likely(closest.verdict.confidence):
                return self._unconfirmed(question, statute, guidance, statute_hits, language)
            source, likely = closest, True
        chosen = self._cited(source, statute_hits, retriever, applied.day)
        # the articles found are related only when the best of them is judged likely to answer too
        searched_related = (
            statute_hits
            if source is statute or (statute is not None and self.judge.likely(statute.verdict.confidence))
            else []
        )
        related = self._related(chosen, searched_related, retriever, applied.day)
        notes = self._version_notes(question, chosen, applied, today, retriever, language)
        chosen, notes = self._current_counterpart(chosen, applied, today, retriever, notes, language)
        lead = source.lead
        citations = [Citation.of(r) for r in chosen]
        related_citations = [Citation.of(r) for r in related]
        if self.chat_model is not None and not likely:
            candidates = citations + [c for c in related_citations[:3] if c.kind == STATUTE]
            written = llm_answer(
                question,
                candidates,
                related_citations,
                chat_model=self.chat_model,
                names=retriever.names,
                confidence=source.verdict.confidence,
                language=language,
                notes=notes,
            )
            if written is not None:
                return written
        return extractive_answer(
            question,
            citations,
            related_citations,
            lead=lead.text,
            where=lead.where if source.record.kind == STATUTE else "",
            notes=notes,
            confidence=source.verdict.confidence,
            language=language,
            likely=likely,
        )

    def _unconfirmed(
        self,
        question: str,
        statute: Source | None,
        guidance: Source | None,
        statute_hits: list[Hit],
        language: str,
    ) -> Answer:
        """No basis: with the best sources listed as unconfirmed when the question is near enough to them."""
        surest = max((s for s in (statute, guidance) if s is not None), key=lambda s: s.verdict.confidence, default=None)
        confidence = surest.verdict.confidence if surest is not None else 0.0
        candidates: list[Citation] = []
        if surest is not None and confidence >= CANDIDATE_FLOOR:
            records = [h.record for h in statute_hits[:UNCONFIRMED_SHOWN]]
            if guidance is not None and guidance.verdict.confidence >= CANDIDATE_FLOOR:
                # the articles first, unless the guidance section is clearly the surer source
                statute_confidence = statute.verdict.confidence if statute else 0.0
                if guidance.verdict.confidence >= statute_confidence + GUIDANCE_CLEARLY_SURER:
                    records.insert(0, guidance.record)
                else:
                    records.append(guidance.record)
            candidates = [Citation.of(r) for r in dict.fromkeys(records)]
        return not_found_answer(question, confidence=confidence, language=language, candidates=candidates)

    def judged_all(
        self, question: str, statute_hits: list[Hit], guidance_hits: list[Hit], retriever: Retriever, day: date
    ) -> tuple[Source | None, list[Source]]:
        """Judges the best article and each guidance section found.

        Guidance and statute back each other: a guidance section citing the best article (or one
        of the next two) and an article cited by one of the guidance sections found are surer.
        """
        cites = [{r.record_id for r in cited_by(retriever, hit.record, day)} for hit in guidance_hits]
        best_ids = [hit.record.record_id for hit in statute_hits[:BACKING_RANKS]]
        statute_backed = 1.0 if best_ids and any(best_ids[0] in ids for ids in cites) else 0.0
        statute = self._judge(question, statute_hits, retriever, backed=statute_backed)
        guidance: list[Source] = []
        for i, ids in enumerate(cites):
            backed = 1.0 if best_ids and best_ids[0] in ids else (0.5 if ids.intersection(best_ids[1:]) else 0.0)
            source = self._judge(question, guidance_hits, retriever, index=i, backed=backed)
            if source is not None:
                guidance.append(source)
        return statute, guidance

    def judged(
        self, question: str, statute_hits: list[Hit], guidance_hits: list[Hit], retriever: Retriever, day: date
    ) -> tuple[Source | None, Source | None]:
        """Judges the best article and the best guidance section (see leads for which one an answer opens with)."""
        statute, guidance = self.judged_all(question, statute_hits, guidance_hits, retriever, day)
        # guidance sections are short and many speak of one subject: the one judged surest of the first few
        return statute, max(guidance, key=lambda c: c.verdict.confidence, default=None)

    def _judge(
        self, question: str, hits: list[Hit], retriever: Retriever, *, index: int = 0, backed: float = 0.0
    ) -> Source | None:
        if len(hits) <= index:
            return None
        record = hits[index].record
        lead = select_lead(question, record.text, retriever.lexical.idf)
        return Source(record, lead, self.judge.verdict(question, hits, index, retriever, lead.text, backed))

    def _cited(self, source: Source, statute_hits: Sequence[Hit], retriever: Retriever, day: date) -> list[Record]:
        """Returns the records quoted: the source, then (for guidance) the articles it cites, then close hits."""
        chosen = [source.record]
        if source.record.kind == GUIDANCE:
            # the articles the guidance cites, those the search ranks highest for this question first
            rank = {hit.record.record_id: i for i, hit in enumerate(statute_hits)}
            cited = [r for r in cited_by(retriever, source.record, day) if r.kind == STATUTE]
            order = {r.record_id: len(rank) + i for i, r in enumerate(cited)}
            cited.sort(key=lambda r: rank.get(r.record_id, order[r.record_id]))
            return chosen + cited[:CITED_AT_MOST]
        top = statute_hits[0].score
        for hit in statute_hits[1:]:
            if len(chosen) >= CITED_AT_MOST:
                break
            if hit.record not in chosen and (hit.exact or hit.score >= top - CLOSE_SCORE):
                chosen.append(hit.record)
        return chosen

    def _related(
        self, chosen: Sequence[Record], statute_hits: Sequence[Hit], retriever: Retriever, day: date
    ) -> list[Record]:
        """Returns the related articles: for guidance, the rest it cites first; then the next articles found and neighbours."""
        related: list[Record] = []
        if chosen[0].kind == GUIDANCE:
            for cited in cited_by(retriever, chosen[0], day):
                if cited.kind == STATUTE and cited not in chosen and cited not in related:
                    related.append(cited)
            if not statute_hits:
                return related[:RELATED_AT_MOST]
        for hit in statute_hits:
            if hit.record not in chosen and hit.record not in related and len(related) < 3:
                related.append(hit.record)
        for citation in self.related(chosen[0].record_id, limit=3):
            record = self._retriever().records.get(citation.record_id)
            if record is not None and record not in chosen and record not in related:
                related.append(record)
        return related[:RELATED_AT_MOST]

    def _version_notes(
        self,
        question: str,
        chosen: Sequence[Record],
        applied: AppliedDay,
        today: date,
        retriever: Retriever,
        language: str,
    ) -> list[str]:
        """Says when an article number meant something else in the other text of a renumbered law."""
        _ = gettext_for(language)
        notes: list[str] = []
        named = {(ref.law, ref.article) for ref in find_article_refs(question, retriever.names)}
        for record in chosen:
            if record.kind != STATUTE or not any(a == record.article and (law in (None, record.law)) for law, a in named):
                continue
            for other in retriever.article(record.law, record.article):
                if other.version == record.version or similarity(record, other) >= SAME_MEANING:
                    continue
                versions = retriever.versions_of(record.law)
                moved = counterpart(other, versions.get(record.version, []))
                start = body(other)[:NOTE_QUOTE_CHARS]
                if moved is not None and moved.article != other.article:
                    notes.append(
                        _("Note: in the {version} text, {article} was a different provision (“{start}…”); "
                          "that content is now {new}.").format(
                            version=other.version, article=other.article, start=start, new=moved.article
                        )
                    )
                else:
                    notes.append(
                        _("Note: in the {version} text, {article} was a different provision (“{start}…”).").format(
                            version=other.version, article=other.article, start=start
                        )
                    )
        return notes

    def _current_counterpart(
        self,
        chosen: list[Record],
        applied: AppliedDay,
        today: date,
        retriever: Retriever,
        notes: list[str],
        language: str,
    ) -> tuple[list[Record], list[str]]:
        """For a question answered from a text no longer in force, adds the text in force today."""
        top = chosen[0]
        if applied.reason == "today" or in_force_on(top, today):
            return chosen, notes
        _ = gettext_for(language)
        notes = list(notes)
        if applied.reason == "old_law":
            notes.insert(0, _("Answered from the text before the revision, as asked."))
        else:
            notes.insert(0, _("The question concerns conduct on or before {day}: answered from the law in force then.").format(
                day=applied.day.isoformat()
            ))
        current = [r for rs in retriever.versions_of(top.law).values() for r in rs if in_force_on(r, today)]
        now = counterpart(top, current)
        if now is not None:
            notes.append(_("The text in force today on this: {ref}.").format(ref=reference(Citation.of(now))))
            chosen = [*chosen[: CITED_AT_MOST - 1], now] if now not in chosen else chosen
        return chosen, notes


def leads(guidance: Source, statute: Source | None) -> bool:
    """Tells whether guidance opens the answer: it answers, about as surely as the best article."""
    return guidance.verdict.answers and about_as_sure(guidance, statute)


def about_as_sure(guidance: Source, statute: Source | None) -> bool:
    """Tells whether a guidance section is judged about as sure as the best article (or surer)."""
    return statute is None or guidance.verdict.confidence >= statute.verdict.confidence - GUIDANCE_MARGIN


def cited_by(retriever: Retriever, record: Record, day: date) -> list[Record]:
    """Returns the articles a text cites (依照本法第…条 binds to its own law), in the text in force on the day."""
    found: list[Record] = []
    for ref in find_article_refs(record.text, retriever.names):
        law = ref.law
        if law is None and record.kind == STATUTE and ("本法" in record.text or "本规定" in record.text):
            law = record.law
        if law is None:
            continue
        versions = retriever.article(law, ref.article)
        if law == record.law and record.kind == STATUTE:
            in_force = [r for r in versions if r.version == record.version]  # its own text's numbering
        else:
            in_force = [r for r in versions if in_force_on(r, day)] or versions
        for other in in_force:
            if other not in found:
                found.append(other)
    return found
