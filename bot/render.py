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


def fold(text: str, at: int = FOLD_AT) -> tuple[str, bool]:
    """Shortens a long text to about `at` characters at a soft break; tells whether it did."""
    if len(text) <= at + 20:
        return text, False
    cut = at
    soft = max(text.rfind(mark, 0, at) for mark in "\n。；;")
    if soft >= at * 2 // 3:
        cut = soft + 1
    return text[:cut].rstrip() + " …", True


def citation_heading(citation: CitationLike, _: Translate) -> str:
    """Names a citation: 《刑事诉讼法》第七十九条（2018-10-26版）."""
    law = citation.law.strip("《》")
    if citation.kind == "guidance":
        return _("Guidance: {title}").format(title=law)
    if citation.version:
        return _("《{law}》{article} ({version} version)").format(
            law=law, article=citation.article, version=citation.version
        )
    return f"《{law}》{citation.article}"


def citation_blocks(citation: CitationLike, _: Translate, *, expanded: bool) -> tuple[list[Block], bool]:
    """Renders one citation as a heading and a quote; tells whether the quote was folded."""
    blocks = [Block("📖 " + citation_heading(citation, _), "<b>", "</b>")]
    if citation.superseded_by:
        blocks.append(
            Block("⚠️ " + _("Superseded by {new}").format(new=citation.superseded_by), "<i>", "</i>")
        )
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


def answer_blocks(
    question: str, answer: str, citations: Sequence[CitationLike], _: Translate, *, expanded: bool = False
) -> tuple[list[Block], bool]:
    """Renders a grounded answer; tells whether any quote was folded."""
    shown, _cut = fold(question, QUESTION_SHOWN)
    blocks = [Block("❓ " + shown, "<i>", "</i>"), Block(summary(answer, citations) + "\n")]
    any_folded = False
    for citation in citations:
        more, folded = citation_blocks(citation, _, expanded=expanded)
        blocks.extend(more)
        any_folded = any_folded or folded
    return blocks, any_folded


def render_answer(answer: AnswerLike, _: Translate, *, expanded: bool = False) -> tuple[list[str], bool]:
    """Renders an answer into messages; tells whether any quote was folded."""
    if not answer.grounded:
        return [no_basis_text(answer.question, _)], False
    blocks, folded = answer_blocks(answer.question, answer.answer, answer.citations, _, expanded=expanded)
    return pack(blocks), folded


def no_basis_text(question: str, _: Translate) -> str:
    """Says that no legal basis was found, offering the legal brigade."""
    shown, _cut = fold(question, QUESTION_SHOWN)
    return pack(
        [
            Block("❓ " + shown, "<i>", "</i>"),
            Block(
                _(
                    "No legal basis for this question was found in the knowledge base. "
                    "You can refer it to the legal brigade, who will answer you here."
                )
            ),
        ]
    )[0]


def related_text(citations: Sequence[CitationLike], _: Translate) -> list[str]:
    """Renders related references as a short list of folded quotes."""
    if not citations:
        return [esc(_("No related provisions found."))]
    blocks = [Block(_("Related provisions"), "<b>", "</b>")]
    for citation in citations:
        more, _folded = citation_blocks(citation, _, expanded=False)
        blocks.extend(more)
    return pack(blocks)


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
