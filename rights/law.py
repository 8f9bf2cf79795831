"""The law that fits each type of application, quoted from the bundled knowledge base by exact reference.

The mapping is data (``laws.yaml``); the texts come from the statutes the knowledge base ships,
looked up by exact reference (``knowledge.articles``: the text in force today, where a law has
several), so a quote is always the corpus's own wording with its law, article number and version.
A reference the corpus lacks is an error at load time, never a made-up text.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from ingest.numerals import int_to_cn
from knowledge.articles import CORPUS_DIR, bundled_index
from rights.vocab import N_, translator

LAWS_FILE = Path(__file__).with_name("laws.yaml")

M_HEADING = N_("《{law}》{reference} ({version} version)")
M_SUPERSEDED = N_("This text has been superseded by {new}; check the text in force.")
M_LAW_TITLE = N_("⚖️ <b>The law that applies</b>")


class LawError(Exception):
    """A reference in the mapping that the bundled corpus does not have."""


@dataclass(frozen=True)
class LawQuote:
    """One article (or some of its paragraphs) quoted from the corpus."""

    law: str
    article: str
    paragraphs: tuple[int, ...]
    version: str
    text: str
    superseded_by: str | None

    @property
    def reference(self) -> str:
        """Returns the article and paragraphs as written in Chinese: 第二百七十七条第一款、第五款."""
        if not self.paragraphs:
            return self.article
        return self.article + "、".join(f"第{int_to_cn(p)}款" for p in self.paragraphs)


@dataclass(frozen=True)
class TypeLaw:
    """The quotes and the notes for one type of application."""

    quotes: tuple[LawQuote, ...]
    notes: dict[str, str]


def quote(law: str, article: str, paragraphs: tuple[int, ...] = (), *, corpus: Path = CORPUS_DIR) -> LawQuote:
    """Quotes the text in force of an article (or some of its paragraphs); LawError if the corpus lacks it."""
    found = bundled_index(corpus).get(law, article)
    if found is None:
        raise LawError(f"the knowledge base has no {article} of 《{law}》")
    lines = found.text.split("\n")
    chosen = tuple(sorted(set(paragraphs)))
    if chosen:
        if any(not 1 <= p <= len(lines) for p in chosen):
            raise LawError(f"《{law}》{article} has {len(lines)} paragraph(s), not {list(chosen)}")
        parts = []
        for index, number in enumerate(chosen):
            if (index and number != chosen[index - 1] + 1) or (index == 0 and number != 1):
                parts.append("……")
            parts.append(lines[number - 1])
        text = "\n".join(parts)
    else:
        text = found.text
    return LawQuote(found.law, found.article, chosen, found.version, text, found.superseded_by)


def _join_lines(language: str, text: str) -> str:
    """Joins a note's lines: Chinese runs on without spaces, English with one."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return ("" if language == "zh" else " ").join(lines)


@lru_cache(maxsize=4)
def load_mapping(path: Path = LAWS_FILE, corpus: Path = CORPUS_DIR) -> dict[str, TypeLaw]:
    """Reads the type -> law mapping and quotes every reference; LawError on one the corpus lacks."""
    data = yaml.safe_load(path.read_text("utf-8")) or {}
    mapping: dict[str, TypeLaw] = {}
    for type_code, entry in data.items():
        quotes = tuple(
            quote(str(ref["law"]), str(ref["article"]), tuple(int(p) for p in ref.get("paragraphs", ())), corpus=corpus)
            for ref in entry.get("refs", ())
        )
        notes = {str(k): _join_lines(str(k), str(v)) for k, v in (entry.get("notes") or {}).items()}
        mapping[str(type_code)] = TypeLaw(quotes, notes)
    return mapping


def law_for(type_code: str) -> TypeLaw:
    """Returns the quotes and notes for a type of application (empty for an unknown type)."""
    return load_mapping().get(type_code, TypeLaw((), {}))


def render_law(type_code: str, language: str) -> str:
    """Renders the law for a type as Telegram HTML: heading, quotes with law, number and version, notes."""
    _ = translator(language)
    found = law_for(type_code)
    if not found.quotes:
        return ""
    parts = [_(M_LAW_TITLE)]
    for item in found.quotes:
        heading = _(M_HEADING).format(law=item.law, reference=item.reference, version=item.version)
        parts.append(f"📖 <b>{html.escape(heading, quote=False)}</b>")
        if item.superseded_by:
            parts.append("⚠️ <i>" + html.escape(_(M_SUPERSEDED).format(new=item.superseded_by), quote=False) + "</i>")
        parts.append(f"<blockquote>{html.escape(item.text, quote=False)}</blockquote>")
    note = found.notes.get(language) or found.notes.get("zh")
    if note:
        parts.append("ℹ️ " + html.escape(note, quote=False))
    return "\n".join(parts)


def plain_references(type_code: str) -> list[str]:
    """Lists the references of a type as plain text: 《刑法》第二百七十七条第一款、第五款（2023-12-29）."""
    return [f"《{q.law}》{q.reference}（{q.version}）" for q in law_for(type_code).quotes]
