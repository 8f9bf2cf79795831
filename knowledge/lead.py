"""The lead of an answer: the whole sentence(s) of the paragraph (款) or item (项) that answers.

An article is read as the statute writes it: paragraphs, each a run of sentences, some ending in
a colon before their list of items. Each sentence and each item is scored by the question's words
it holds (weighted by how rare they are in the corpus); a sentence whose condition ("……的，")
names circumstances the question does not mention loses, so "醉酒驾驶机动车的，……" beats
"饮酒后或者醉酒驾驶机动车发生重大交通事故……的，……" for a question about drunk driving.

The lead keeps what the answer needs and nothing is cut inside a sentence:

- an item comes with its list introduction, and items that answer as well come with it;
- a sentence ending in a colon comes with its list;
- a sentence that goes on with 但是 / 但 (the exception) comes with it, and a later paragraph that
  qualifies it (前款…, 有前款…) follows when it speaks to the question;
- for a question asking for a period, other sentences that answer nearly as well (the tiers of one
  rule: three days, up to thirty days) are added in the article's order while the lead stays short
  enough for a phone;
- a question asking what something counts as (算不算, 什么样的…算) prefers the sentence that says so
  (认定为, 属于, 是指).

Words count as the search counts them: the question's subject fully, how it asks and the police's
own role less (knowledge.lexical).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.numerals import int_to_cn
from knowledge.lexical import (
    QUESTION_FORM_WEIGHT,
    ROLE_WORD_WEIGHT,
    bigrams,
    expansions,
    form_tokens,
    is_role_word,
    tokenize,
)

ARTICLE_HEAD_RE = re.compile(r"^第[零一二三四五六七八九十百千]+条(之[一二三四五六七八九十]+)?[\s\u3000]*")
ITEM_RE = re.compile(r"^[（(]([一二三四五六七八九十]+)[)）]")
_SENTENCE_RE = re.compile(r"[^。！？!?]+(?:[。！？!?]+[”’」）)]*|$)")
_EXCEPTION_START = ("但是", "但", "除")
_QUALIFIES = re.compile(r"^(?:有|依照|对|违反)?(?:前款|前两款|前三款|第一款|本条第一款)")
_CONDITION_RE = re.compile(r"^([^；;。]{2,80}?的)[，,]")  # "……的，": the circumstances a sentence applies to

LEAD_MAX_CHARS = 420  # about a phone screen of Chinese text
NEAR_BEST = 0.35  # for a period, another sentence stating one this close to the best answers as well (a tier)
ITEM_NEAR_BEST = 0.6  # items this close to the best item are shown with it
CONDITION_PENALTY = 0.5  # share of the weight of condition words the question does not mention

Weight = Callable[[str], float]
_ASKS_PERIOD = re.compile(r"多久|多长时间|几天|几日|多少天|几个小时|多少小时|几小时|期限|时限|几个月|最长|最迟|"
                          r"how long|how many (?:days|hours|months)|how soon|time limit|deadline|within how", re.I)
_ASKS_WHAT_COUNTS = re.compile(r"算不算|算是|算什么|什么样的|是不是|属不属于|属于|什么是|认定|what counts|count as|is it", re.I)
_SAYS_WHAT_COUNTS = re.compile(r"认定为|属于|是指|视为|以.{1,8}论")
DEFINITION_BONUS = 1.5  # a sentence saying the kind of thing asked for
RARE_WORD = 2.0  # idf from which a question's word is one it rests on (not 规定, 可以 …)
_ASKS_COUNT = re.compile(r"几次|多少次|几回|how many times", re.I)
_STATES_COUNT = re.compile(r"[一二三四五六七八九十两\d]+次")
_STATES_PERIOD = re.compile(r"[一二三四五六七八九十百零两\d]+个?(?:日|天|月|年|小时)")


@dataclass
class Paragraph:
    """One 款: its sentences (the last may end in a colon before its items) and its 项."""

    number: int
    sentences: list[str]
    items: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Lead:
    """The quoted lead and where it stands in the article (第二款, 第一款第（一）项 …; "" if the whole)."""

    text: str
    where: str


def split_sentences(text: str) -> list[str]:
    """Splits text into whole sentences (at 。！？, keeping ；-joined clauses together)."""
    return [s.strip() for s in _SENTENCE_RE.findall(text) if s.strip()]


def structure(text: str) -> list[Paragraph]:
    """Reads an article (or a guidance section) into paragraphs, sentences and items."""
    paragraphs: list[Paragraph] = []
    for index, raw in enumerate(line.strip() for line in text.split("\n")):
        line = ARTICLE_HEAD_RE.sub("", raw) if index == 0 else raw
        if not line:
            continue
        if ITEM_RE.match(line) and paragraphs:
            paragraphs[-1].items.append(line)
            continue
        paragraphs.append(Paragraph(len(paragraphs) + 1, split_sentences(line)))
    return paragraphs


def question_terms(question: str) -> dict[str, float]:
    """Returns the words a lead is matched on with their share: the subject's fully, how it asks and the police's role less."""
    subject, form = expansions(question)
    forms = form_tokens(question)
    terms: dict[str, float] = {}
    for token in tokenize(question) + bigrams(question):
        share = ROLE_WORD_WEIGHT if is_role_word(token) else (QUESTION_FORM_WEIGHT if token in forms else 1.0)
        terms[token] = max(terms.get(token, 0.0), share)
    # a glossary phrase stands for one word of the question: its words share that word's weight
    for phrase, share in [(p, 1.0) for p in subject] + [(p, QUESTION_FORM_WEIGHT) for p in form]:
        tokens = [t for t in dict.fromkeys(tokenize(phrase)) if not is_role_word(t)]
        for token in tokens:
            terms.setdefault(token, share * max(1.0 / len(tokens), 0.3))
    return terms


def _terms(text: str) -> set[str]:
    return set(tokenize(text)) | set(bigrams(text))


def score_text(wanted: dict[str, float], text: str, weight: Weight) -> float:
    """Scores how much of the question a sentence holds, less the conditions it adds."""
    have = _terms(text)
    score = sum(share * weight(t) for t, share in wanted.items() if t in have)
    condition = _CONDITION_RE.match(text)
    if condition and score > 0:
        extra = {t for t in tokenize(condition.group(1)) if t not in wanted and len(t) > 1}
        # at most half: a long list of circumstances must not outweigh what the sentence does hold
        score -= min(CONDITION_PENALTY * sum(weight(t) for t in extra), score / 2)
    return score


@dataclass(frozen=True)
class _Unit:
    paragraph: int  # index into the paragraphs
    sentence: int | None  # index of the sentence, or None for an item
    item: int | None
    text: str
    score: float


def _units(
    paragraphs: list[Paragraph],
    wanted: dict[str, float],
    weight: Weight,
    definition: bool,
    period: bool,
    count: bool = False,
) -> list[_Unit]:
    units: list[_Unit] = []
    for p, paragraph in enumerate(paragraphs):
        for s, sentence in enumerate(paragraph.sentences):
            score = score_text(wanted, sentence, weight)
            # the kind of thing asked for: what something counts as, or a period
            if definition and score > 0 and _SAYS_WHAT_COUNTS.search(sentence):
                score *= DEFINITION_BONUS
            if period and score > 0 and _STATES_PERIOD.search(sentence):
                score *= DEFINITION_BONUS
            if count and score > 0 and _STATES_COUNT.search(sentence):
                score *= DEFINITION_BONUS
            units.append(_Unit(p, s, None, sentence, score))
        # items are told apart by what the list introduction does not already say
        intro = _terms(paragraph.sentences[-1]) if paragraph.sentences else set()
        own = {t: share for t, share in wanted.items() if t not in intro}
        for i, item in enumerate(paragraph.items):
            units.append(_Unit(p, None, i, item, score_text(own, item, weight)))
    return units


def _sentence_run(paragraph: Paragraph, start: int) -> list[int]:
    """Returns a sentence with the exceptions that continue it (但是…)."""
    run = [start]
    following = start + 1
    while following < len(paragraph.sentences) and paragraph.sentences[following].startswith(_EXCEPTION_START):
        run.append(following)
        following += 1
    return run


def select_lead(question: str, text: str, weight: Weight, *, max_chars: int = LEAD_MAX_CHARS) -> Lead:
    """Picks the lead of an article for a question (see the module docstring)."""
    paragraphs = structure(text)
    if not paragraphs:
        return Lead(text.strip(), "")
    wanted = question_terms(question)
    asks_count = bool(_ASKS_COUNT.search(question))
    asks_what_counts = bool(_ASKS_WHAT_COUNTS.search(question))
    asks_period = bool(_ASKS_PERIOD.search(question)) and not asks_count  # 期限延长几次 asks a count
    units = _units(paragraphs, wanted, weight, asks_what_counts, asks_period, asks_count)
    best = max(units, key=lambda u: (u.score, -u.paragraph, -(u.item if u.item is not None else -1)))
    # what the lead holds: per paragraph, the sentences and items quoted
    sentences: dict[int, set[int]] = {}
    items: dict[int, set[int]] = {}

    def size() -> int:
        total = 0
        for p, chosen in sentences.items():
            total += sum(len(paragraphs[p].sentences[s]) for s in chosen)
        for p, chosen in items.items():
            total += sum(len(paragraphs[p].items[i]) for i in chosen)
        return total

    def add_sentences(p: int, indexes: list[int], *, required: bool = False) -> bool:
        extra = sum(len(paragraphs[p].sentences[s]) for s in indexes if s not in sentences.get(p, set()))
        if not required and size() + extra > max_chars:
            return False
        sentences.setdefault(p, set()).update(indexes)
        return True

    def add_items(p: int, indexes: list[int], *, required: bool = False) -> None:
        for i in indexes:
            if not required and size() + len(paragraphs[p].items[i]) > max_chars:
                break
            items.setdefault(p, set()).add(i)
            required = False

    def with_list(p: int) -> None:
        """A sentence ending in a colon brings its list (as many whole items as fit)."""
        paragraph = paragraphs[p]
        ends_in_colon = bool(paragraph.sentences) and paragraph.sentences[-1].endswith(("：", ":"))
        if paragraph.items and ends_in_colon and len(paragraph.sentences) - 1 in sentences.get(p, set()):
            add_items(p, list(range(len(paragraph.items))), required=not items.get(p))

    if best.item is not None:
        paragraph = paragraphs[best.paragraph]
        intro = len(paragraph.sentences) - 1
        add_items(best.paragraph, [best.item], required=True)
        if intro >= 0:
            add_sentences(best.paragraph, [intro], required=True)
        others = [
            u.item
            for u in units
            if u.paragraph == best.paragraph and u.item is not None and u.item != best.item
            and u.score > 0 and u.score >= ITEM_NEAR_BEST * best.score
        ]
        add_items(best.paragraph, sorted(i for i in others if i is not None))
    else:
        assert best.sentence is not None
        add_sentences(best.paragraph, _sentence_run(paragraphs[best.paragraph], best.sentence), required=True)
        with_list(best.paragraph)
    # a later paragraph that qualifies the chosen one (前款…) and speaks to the question
    for p in range(best.paragraph + 1, len(paragraphs)):
        first = paragraphs[p].sentences[0] if paragraphs[p].sentences else ""
        if _QUALIFIES.match(first) and score_text(wanted, " ".join(paragraphs[p].sentences), weight) > 0:
            add_sentences(p, list(range(len(paragraphs[p].sentences))))
    # a word the question rests on that the lead has not said yet (严重 in 严重过错): the sentence saying it
    chosen = "".join(
        "".join(paragraphs[p].sentences[i] for i in indexes) for p, indexes in sentences.items()
    ) + "".join("".join(paragraphs[p].items[i] for i in indexes) for p, indexes in items.items())
    for word, share in wanted.items():
        if share < 1.0 or word.startswith("~") or len(word) < 2 or word in chosen or weight(word) < RARE_WORD:
            continue
        saying = [u for u in units if u.sentence is not None and u.score > 0 and word in u.text]
        if saying:
            unit = max(saying, key=lambda u: u.score)
            assert unit.sentence is not None  # only sentences were kept
            add_sentences(unit.paragraph, _sentence_run(paragraphs[unit.paragraph], unit.sentence))
    # for a period, a count or what counts as something: other sentences stating one and answering
    # nearly as well (every tier of a rule; what counts and what does not)
    states = _STATES_PERIOD if asks_period else (_STATES_COUNT if asks_count else None)
    if states is None and asks_what_counts:
        states = _SAYS_WHAT_COUNTS
    if best.score > 0 and states is not None:
        for unit in units:
            if unit.sentence is None or unit.score < NEAR_BEST * best.score or not states.search(unit.text):
                continue
            if unit.sentence in sentences.get(unit.paragraph, set()):
                continue
            if add_sentences(unit.paragraph, _sentence_run(paragraphs[unit.paragraph], unit.sentence)):
                with_list(unit.paragraph)
    return _compose(paragraphs, sentences, items)


def _compose(paragraphs: list[Paragraph], sentences: dict[int, set[int]], items: dict[int, set[int]]) -> Lead:
    parts: list[str] = []
    where: list[str] = []
    previous: int | None = None
    for p in sorted(set(sentences) | set(items)):
        paragraph = paragraphs[p]
        chosen = sorted(sentences.get(p, set()))
        shown_items = sorted(items.get(p, set()))
        if previous is not None and p != previous + 1:
            parts.append("……")
        elif previous is not None and parts:
            parts.append("\n")
        last = -1
        for s in chosen:
            if last >= 0 and s != last + 1:
                parts.append("……")
            parts.append(paragraph.sentences[s])
            last = s
        if shown_items:
            if chosen and chosen[-1] != len(paragraph.sentences) - 1:
                parts.append("……")
            last_item = -1
            for i in shown_items:
                if last_item >= 0 and i != last_item + 1:
                    parts.append("\n……")
                parts.append("\n" + paragraph.items[i])
                last_item = i
            if shown_items[-1] != len(paragraph.items) - 1:
                parts.append("\n……")
        label = ""
        if len(paragraphs) > 1:
            label = f"第{int_to_cn(paragraph.number)}款"
        if shown_items and len(shown_items) < len(paragraph.items):
            label += "、".join(f"第（{int_to_cn(i + 1)}）项" for i in shown_items)
        if label:
            where.append(label)
        previous = p
    text = "".join(parts).strip()
    return Lead(text, "、".join(where) if len(where) < len(paragraphs) or any("项" in w for w in where) else "")
