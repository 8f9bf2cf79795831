"""Turns answers into Telegram HTML that reads well on a phone and fits Telegram's limits.

Text is built from blocks of plain text wrapped in fixed tags; a block is escaped as a whole
and split only between characters of its plain text, so no chunk ever ends inside a tag or
an entity.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bot.services import AnswerLike, CitationLike
from knowledge.references import short_name

MESSAGE_LIMIT = 4096
CALLBACK_TEXT_LIMIT = 200
FOLD_AT = 300
QUESTION_SHOWN = 200
_BREAKS = "\n。；;！!？?，, "

Translate = Callable[[str], str]


def tg_len(text: str) -> int:
    """Counts length the way Telegram does (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def esc(text: str) -> str:
    """Escapes text for Telegram's HTML parse mode."""
    return html.escape(text, quote=False)


@dataclass(frozen=True)
class Block:
    """Plain text wrapped in fixed opening and closing HTML."""

    text: str
    open: str = ""
    close: str = ""

    def html(self) -> str:
        """Renders the block as HTML."""
        return self.open + esc(self.text) + self.close


def _split_text(text: str, budget: int) -> list[str]:
    """Splits plain text into pieces whose escaped form fits the budget, preferring soft breaks."""
    pieces: list[str] = []
    rest = text
    while rest:
        size = 0
        cut = 0
        for index, char in enumerate(rest):
            width = tg_len(esc(char))
            if size + width > budget:
                break
            size += width
            cut = index + 1
        if cut >= len(rest):
            pieces.append(rest)
            break
        soft = max(rest.rfind(mark, 0, cut) for mark in _BREAKS)
        if soft >= cut // 2:
            cut = soft + 1
        pieces.append(rest[:cut])
        rest = rest[cut:]
    return pieces


def pack(blocks: Iterable[Block], limit: int = MESSAGE_LIMIT, separator: str = "\n") -> list[str]:
    """Packs blocks into as few messages as possible, each within the limit."""
    chunks: list[str] = []
    current = ""
    for block in blocks:
        rendered = block.html()
        if tg_len(rendered) <= limit:
            parts = [rendered]
        else:
            budget = limit - tg_len(block.open) - tg_len(block.close)
            parts = [block.open + esc(piece) + block.close for piece in _split_text(block.text, budget)]
        for part in parts:
            candidate = current + separator + part if current else part
            if tg_len(candidate) <= limit:
                current = candidate
            else:
                chunks.append(current)
                current = part
    if current:
        chunks.append(current)
    return chunks


_OPENING = "《（(“「【"
_CLOSING = "》）)”」】"


def _open_bracket(text: str) -> int:
    """Returns where the last bracket still open at the end of text starts (-1 if none is open)."""
    stack: list[int] = []
    for index, char in enumerate(text):
        if char in _OPENING:
            stack.append(index)
        elif char in _CLOSING and stack:
            stack.pop()
    return stack[0] if stack else -1


def fold(text: str, at: int = FOLD_AT) -> tuple[str, bool]:
    """Shortens a long text to about `at` characters at a soft break, never inside brackets; tells whether it did."""
    if len(text) <= at + 20:
        return text, False
    cut = at
    soft = max(text.rfind(mark, 0, at) for mark in "\n。；;")
    if soft >= at * 2 // 3:
        cut = soft + 1
    opened = _open_bracket(text[:cut])
    if opened > 0:
        # a cut inside 《…》 or （…） would leave a citation half written: cut before it opens
        cut = opened
    return text[:cut].rstrip("，、 ") + " …", True


CURATED_TITLE = "法制大队解答"


def citation_heading(citation: CitationLike, _: Translate) -> str:
    """Names a citation: 《刑事诉讼法》第七十九条（2018-10-26版）, or guidance as guidance with its date."""
    law = citation.law.strip("《》")
    if citation.kind == "guidance":
        if law == CURATED_TITLE:
            return _("Answer of the legal brigade ({date})").format(date=citation.version)
        return _("Guidance of the legal brigade: {title} ({date})").format(
            title=f"《{law}》{citation.article}", date=citation.version
        )
    if citation.version:
        return _("《{law}》{article} ({version} version)").format(
            law=law, article=citation.article, version=citation.version
        )
    return f"《{law}》{citation.article}"


def citation_blocks(citation: CitationLike, _: Translate, *, expanded: bool) -> tuple[list[Block], bool]:
    """Renders one citation as a heading and a quote; tells whether the quote was folded."""
    icon = "📘 " if citation.kind == "guidance" else "📖 "
    blocks = [Block(icon + citation_heading(citation, _), "<b>", "</b>")]
    if citation.superseded_by:
        since = getattr(citation, "superseded_from", None)
        note = (
            _("Superseded from {day} by {new}").format(day=since, new=citation.superseded_by)
            if since
            else _("Superseded by {new}").format(new=citation.superseded_by)
        )
        blocks.append(Block("⚠️ " + note, "<i>", "</i>"))
    text = citation.text.strip()
    folded = False
    if not expanded:
        text, folded = fold(text)
    blocks.append(Block(text, "<blockquote>", "</blockquote>"))
    return blocks, folded


def summary(answer: str, citations: Sequence[CitationLike]) -> str:
    """Keeps the answer's own words: later paragraphs repeating a quoted article are dropped (quoted below)."""
    paragraphs = [p.strip() for p in answer.strip().split("\n\n") if p.strip()]
    if not paragraphs:
        return ""
    quoted = [c.text.strip()[:40] for c in citations if c.text.strip()]
    rest = [p for p in paragraphs[1:] if not any(q in p for q in quoted)]
    return "\n\n".join([paragraphs[0], *rest])


def opening(answer: AnswerLike) -> str:
    """Returns what an officer reads first: the lead under its source, the notes, and the related line."""
    if not answer.lead:
        return summary(answer.answer, answer.citations)
    parts = [answer.lead_in + answer.lead if answer.lead_in else answer.lead]
    parts.extend("⚠️ " + note for note in answer.notes)
    related = [p for p in answer.answer.split("\n") if p.startswith(RELATED_PREFIXES)]
    parts.extend(related[-1:])
    return "\n".join(parts)


RELATED_PREFIXES = ("相关条文：", "Related: ")


def answer_blocks(
    question: str, answer: str, citations: Sequence[CitationLike], _: Translate, *, expanded: bool = False
) -> tuple[list[Block], bool]:
    """Renders a grounded answer (its opening text, then the quotes); tells whether any quote was folded."""
    shown, _cut = fold(question, QUESTION_SHOWN)
    blocks = [Block("❓ " + shown, "<i>", "</i>"), Block(answer + "\n")]
    any_folded = False
    for citation in citations:
        more, folded = citation_blocks(citation, _, expanded=expanded)
        blocks.extend(more)
        any_folded = any_folded or folded
    return blocks, any_folded


def render_answer(answer: AnswerLike, _: Translate, *, expanded: bool = False) -> tuple[list[str], bool]:
    """Renders an answer into messages (a likely one marked as not confirmed); tells whether any quote was folded."""
    if not answer.grounded and not answer.likely:
        return [no_basis_text(answer.question, _, candidates=answer.related)], False
    blocks, folded = answer_blocks(answer.question, opening(answer), answer.citations, _, expanded=expanded)
    if not answer.grounded:
        # likely, not confirmed: said before the lead, in the officer's language
        blocks.insert(1, unconfirmed_block(_))
    return pack(blocks), folded


def unconfirmed_block(_: Translate) -> Block:
    """The line above a likely answer's lead: not confirmed, check it or refer it."""
    return Block(
        "⚠️ "
        + _(
            "Not confirmed: this is the closest source found and it may not answer the question. "
            "Check the quoted text, or refer the question to the legal brigade."
        ),
        "<b>",
        "</b>",
    )


def no_basis_text(question: str, _: Translate, *, candidates: Sequence[CitationLike] = ()) -> str:
    """Says that no legal basis was found, offering the legal brigade; lists unconfirmed candidates if any."""
    shown, _cut = fold(question, QUESTION_SHOWN)
    blocks = [
        Block("❓ " + shown, "<i>", "</i>"),
        Block(
            _(
                "No legal basis for this question was found in the knowledge base. "
                "You can refer it to the legal brigade, who will answer you here."
            )
        ),
    ]
    if candidates:
        names = "、".join(short_reference(c) for c in candidates)
        blocks.append(Block(_("Possibly related, not confirmed to answer: {refs}").format(refs=names), "<i>", "</i>"))
    return pack(blocks)[0]


def short_reference(citation: CitationLike) -> str:
    """Names a citation briefly: 《刑诉法》第七十九条 for statutes, the heading for guidance."""
    if citation.kind == "guidance":
        return f"《{citation.law}》{citation.article}"
    return f"《{short_name(citation.law)}》{citation.article}"


def related_text(
    citations: Sequence[CitationLike], _: Translate, *, expanded: bool = False
) -> tuple[list[str], bool]:
    """Renders related references as quotes (folded unless expanded); tells whether any was folded."""
    if not citations:
        return [esc(_("No related provisions found."))], False
    blocks = [Block(_("Related provisions"), "<b>", "</b>")]
    any_folded = False
    for citation in citations:
        more, folded = citation_blocks(citation, _, expanded=expanded)
        blocks.extend(more)
        any_folded = any_folded or folded
    return pack(blocks), any_folded


_TAG = re.compile(r"<[^>]+>")


def html_to_plain(text: str) -> str:
    """Turns Telegram HTML into readable plain text (for the console)."""
    text = re.sub(r"<blockquote[^>]*>", "\n  │ ", text)
    text = text.replace("</blockquote>", "\n")
    text = re.sub(r"<br\s*/?>", "\n", text)
    plain = html.unescape(_TAG.sub("", text))
    lines = plain.split("\n")
    out: list[str] = []
    quoting = False
    for line in lines:
        if line.startswith("  │ "):
            quoting = True
            out.append(line)
        elif quoting and line:
            out.append("  │ " + line)
        else:
            quoting = False
            out.append(line)
    return "\n".join(out).strip("\n")
