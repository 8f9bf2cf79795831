"""Answers: extractive (quoted articles under a lead-in from their own text) or written by a chat
model from the retrieved articles only, with every citation checked against what was retrieved.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from core.i18n import gettext_for
from knowledge.citations import Answer, Citation
from knowledge.lexical import expand_query, tokenize
from knowledge.references import LawNames, find_article_refs

log = logging.getLogger(__name__)

_SENTENCE_RE = re.compile(r"[^。；！？\n]+[。；！？]?")
_ARTICLE_HEAD_RE = re.compile(r"^第[零一二三四五六七八九十百千]+条(之[一二三四五六七八九十]+)?[\s\u3000]*")
MAX_LEAD_CHARS = 120


def _(language: str) -> Callable[[str], str]:
    return gettext_for(language)


def lead_sentence(question: str, citation: Citation) -> str:
    """Picks the sentence of the article that shares most words with the question."""
    body = _ARTICLE_HEAD_RE.sub("", citation.text)
    sentences = [s.strip() for s in _SENTENCE_RE.findall(body) if s.strip()]
    if not sentences:
        return body[:MAX_LEAD_CHARS]
    wanted = set(tokenize(expand_query(question)))
    best: str = max(sentences, key=lambda s: (len(wanted & set(tokenize(s))), -sentences.index(s)))
    if len(best) > MAX_LEAD_CHARS:
        best = best[:MAX_LEAD_CHARS].rstrip("，、；") + "……"
    return best


def superseded_note(citation: Citation, language: str) -> str:
    """Returns the warning shown under a citation whose instrument has been superseded."""
    if not citation.superseded_by:
        return ""
    return _(language)("Note: this version has been superseded by {by}; check the current text.").format(
        by=citation.superseded_by
    )


def format_citation(citation: Citation, language: str) -> str:
    """Renders a quoted citation block in plain text."""
    version = (
        _(language)("version {version}").format(version=citation.version) if citation.version else ""
    )
    head = f"【{citation.label}】" + (f"（{version}）" if version else "")
    if citation.chapter:
        head += f"\n{citation.chapter}"
    lines = [head, citation.text]
    note = superseded_note(citation, language)
    if note:
        lines.append("⚠ " + note)
    return "\n".join(lines)


def extractive_answer(
    question: str,
    citations: Sequence[Citation],
    related: Sequence[Citation],
    *,
    confidence: float,
    language: str,
) -> Answer:
    """Quotes the best articles verbatim under a lead-in taken from the top article."""
    top = citations[0]
    lead = _(language)("According to {ref}: {sentence}").format(ref=top.label, sentence=lead_sentence(question, top))
    parts = [lead, ""]
    parts.extend(format_citation(c, language) + "\n" for c in citations)
    if related:
        parts.append(_(language)("Related: {refs}").format(refs="、".join(c.label for c in related)))
    return Answer(
        question=question,
        answer="\n".join(parts).strip(),
        citations=list(citations),
        related=list(related),
        grounded=True,
        confidence=confidence,
    )


def not_found_answer(question: str, *, confidence: float, language: str) -> Answer:
    """Says plainly that nothing relevant was found and offers the legal brigade."""
    text = _(language)(
        "I could not find a provision in the knowledge base that answers this question. "
        "I can pass it to the legal brigade (法制大队) for an answer."
    )
    return Answer(question=question, answer=text, citations=[], related=[], grounded=False, confidence=confidence)


SYSTEM_PROMPT = (
    "你是公安一线民警的法律助手。只能根据下面提供的条文回答，不得引用未提供的条文，不得编造。"
    "回答简短（不超过200字），每个结论后用《法律简称》第X条的格式注明依据（条号用中文数字，与所给条文一致）。"
    "如果所给条文不能回答问题，只回答“无依据”。"
)


def llm_answer(
    question: str,
    candidates: Sequence[Citation],
    related: Sequence[Citation],
    *,
    chat_model: BaseChatModel,
    names: LawNames,
    confidence: float,
    language: str,
) -> Answer | None:
    """Lets the chat model answer from the candidates only; None when its citations do not check out."""
    context = "\n\n".join(f"{c.label}（{c.version}）\n{c.text}" for c in candidates)
    reply_language = "请用中文回答。" if language == "zh" else "Answer in English, but keep citations as 《法律》第X条."
    messages = [
        SystemMessage(content=SYSTEM_PROMPT),
        HumanMessage(content=f"条文：\n{context}\n\n问题：{question}\n{reply_language}"),
    ]
    try:
        reply = chat_model.invoke(messages)
    except Exception as exc:  # any model/transport failure falls back to the extractive answer
        log.warning("chat model failed, using the extractive answer: %s", exc)
        return None
    text = reply.content if isinstance(reply.content, str) else str(reply.content)
    text = text.strip()
    cited = check_citations(text, candidates, names)
    if not cited:
        log.info("chat model answer discarded: citations missing or not among the retrieved articles")
        return None
    notes = [superseded_note(c, language) for c in cited if c.superseded_by]
    body = text + ("\n\n" + "\n".join("⚠ " + n for n in notes) if notes else "")
    body += "\n\n" + "\n\n".join(format_citation(c, language) for c in cited)
    return Answer(
        question=question,
        answer=body,
        citations=cited,
        related=[c for c in related if c not in cited],
        grounded=True,
        confidence=confidence,
    )


def check_citations(text: str, allowed: Sequence[Citation], names: LawNames) -> list[Citation]:
    """Returns the cited articles if every citation in text is among the allowed ones, else []."""
    refs = find_article_refs(text, names)
    if not refs:
        return []
    by_key = {(c.law, c.article): c for c in allowed}
    cited: list[Citation] = []
    for ref in refs:
        if ref.law is None:
            matches = [c for c in allowed if c.article == ref.article]
            if len(matches) != 1:
                return []
            citation = matches[0]
        else:
            found = by_key.get((ref.law, ref.article))
            if found is None:
                return []
            citation = found
        if citation not in cited:
            cited.append(citation)
    return cited[:3]
