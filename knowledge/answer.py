"""Answers: the lead quoted from the source that answers (guidance or statute) with the articles
under it, or written by a chat model from the retrieved articles only, with every citation
checked against what was retrieved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from core.i18n import gettext_for
from ingest.statutes import GUIDANCE
from knowledge.citations import Answer, Citation
from knowledge.references import LawNames, find_article_refs, short_name

log = logging.getLogger(__name__)

def _(language: str) -> Callable[[str], str]:
    return gettext_for(language)


def reference(citation: Citation, where: str = "") -> str:
    """Writes a citation as a Chinese legal reference: 《道路交通安全法》第九十一条第二款 (《袭警解释》… for long titles)."""
    return f"《{short_name(citation.law)}》{citation.article}{where}"


def related_line(related: Sequence[Citation]) -> str:
    """Lists related articles by short name, one name per instrument: 《刑法》第四十二条、第七十三条；《刑诉法》…"""
    groups: dict[str, list[str]] = {}
    for citation in related:
        if citation.kind == GUIDANCE:
            groups.setdefault(citation.law, []).append(citation.article)
        else:
            groups.setdefault(short_name(citation.law), []).append(citation.article)
    return "；".join(f"《{law}》" + "、".join(dict.fromkeys(articles)) for law, articles in groups.items())


def superseded_note(citation: Citation, language: str) -> str:
    """Returns the warning shown with a citation whose text has been superseded."""
    if not citation.superseded_by:
        return ""
    if citation.superseded_from:
        return _(language)(
            "Note: this text was superseded by {by} from {day}; it applies only to conduct before that day."
        ).format(by=citation.superseded_by, day=citation.superseded_from)
    return _(language)("Note: this version has been superseded by {by}; check the current text.").format(
        by=citation.superseded_by
    )


def guidance_heading(citation: Citation, language: str) -> str:
    """Names a guidance section as guidance, with its date: 法制大队指引《…》（2026-11-21）."""
    if citation.law == CURATED_TITLE:
        return _(language)("Answer of the legal brigade ({date})").format(date=citation.version)
    return _(language)("Guidance of the legal brigade: {title} ({date})").format(
        title=f"《{citation.law}》{citation.article}", date=citation.version
    )


CURATED_TITLE = "法制大队解答"


def lead_in(citation: Citation, where: str, language: str) -> str:
    """Introduces the lead with its source: 根据《…》第…条第…款： or the guidance it comes from."""
    if citation.kind == GUIDANCE:
        return guidance_heading(citation, language) + "："
    return _(language)("According to {ref}:").format(ref=reference(citation, where))


def format_citation(citation: Citation, language: str) -> str:
    """Renders a quoted citation block in plain text."""
    version = (
        _(language)("version {version}").format(version=citation.version) if citation.version else ""
    )
    if citation.kind == GUIDANCE:
        head = f"【{guidance_heading(citation, language)}】"
    else:
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
    lead: str,
    where: str,
    notes: Sequence[str],
    confidence: float,
    language: str,
    likely: bool = False,
) -> Answer:
    """Quotes the lead from the first source, then every citation verbatim.

    A likely answer (not grounded) opens with a line saying it is not confirmed and offering the
    legal brigade.
    """
    top = citations[0]
    intro = lead_in(top, where, language)
    parts = [f"{intro}{lead}", *notes, ""]
    if likely:
        parts.insert(0, "⚠ " + unconfirmed_label(language))
    parts.extend(format_citation(c, language) + "\n" for c in citations)
    if related:
        parts.append(_(language)("Related: {refs}").format(refs=related_line(related)))
    return Answer(
        question=question,
        answer="\n".join(parts).strip(),
        citations=list(citations),
        related=list(related),
        grounded=not likely,
        confidence=confidence,
        lead=lead,
        lead_in=intro,
        notes=tuple(notes),
        likely=likely,
    )


def unconfirmed_label(language: str) -> str:
    """The line that marks a likely answer as not confirmed."""
    return _(language)(
        "Not confirmed: this is the closest source found and it may not answer the question. "
        "Check the quoted text, or refer the question to the legal brigade."
    )


def not_found_answer(
    question: str, *, confidence: float, language: str, candidates: Sequence[Citation] = ()
) -> Answer:
    """Says plainly that nothing answering was found and offers the legal brigade.

    Candidates (sources that may be relevant but were not judged to answer) are listed as
    unconfirmed, never as the answer.
    """
    text = _(language)(
        "I could not find a provision in the knowledge base that answers this question. "
        "I can pass it to the legal brigade (法制大队) for an answer."
    )
    if candidates:
        text += "\n" + _(language)("Possibly related, not confirmed to answer: {refs}").format(
            refs=related_line(candidates)
        )
    return Answer(
        question=question, answer=text, citations=[], related=list(candidates), grounded=False, confidence=confidence
    )


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
    notes: Sequence[str] = (),
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
    warnings = [superseded_note(c, language) for c in cited if c.superseded_by]
    all_notes = [*notes, *("⚠ " + n for n in warnings)]
    body = text + ("\n\n" + "\n".join(all_notes) if all_notes else "")
    body += "\n\n" + "\n\n".join(format_citation(c, language) for c in cited)
    return Answer(
        question=question,
        answer=body,
        citations=cited,
        related=[c for c in related if c not in cited],
        grounded=True,
        confidence=confidence,
        lead=text,
        notes=tuple(notes),
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
