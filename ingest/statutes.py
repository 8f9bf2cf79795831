"""Structure-aware splitting of statutes (编/章/节/条) and guidance (by heading) into records.

A statute file is Markdown: ``# 标题``, an optional preamble ending at ``<!-- INFO END -->``,
then ``##``/``###``/``####`` headings for 编/章/节 and one article per paragraph starting
``第X条`` (or ``第X条之一``). 款 and 项 are the following lines of the same article, so they
stay inside it. An optional YAML front matter (``---`` … ``---``) may set ``title``,
``version``, ``kind`` and ``superseded_by``.

A record carries when its text applies: ``superseded_by`` names what replaced it (None while it
is the text in force), ``superseded_from`` the day the replacement took effect (None: already
replaced, day unknown), and ``in_force_from`` the day a new version took effect (None: in force
since it was ingested). Those marks come from supersessions set on the record store.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ingest.numerals import CN_NUMBER, cn_to_int

INFO_END = "<!-- INFO END -->"
PRC_PREFIX = "中华人民共和国"
STATUTE = "statute"
GUIDANCE = "guidance"

ARTICLE_RE = re.compile(rf"^第({CN_NUMBER})条(之[一二三四五六七八九十]+)?(?:[\s\u3000]+|$)")
HEADING_RE = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")
_DATE_IN_NAME_RE = re.compile(r"[（(](\d{4}-\d{2}-\d{2})[)）]\s*$")
_DATE_CN_RE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
_FRONT_MATTER_RE = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


class ParseError(Exception):
    """A document that cannot be split into records; the message says why."""


@dataclass(frozen=True)
class Record:
    """One retrievable unit: a statute article or a guidance section."""

    record_id: str
    kind: str
    title: str
    law: str
    article: str
    chapter: str
    version: str
    source: str
    text: str
    content_hash: str
    superseded_by: str | None = None
    ordinal: int = 0
    superseded_from: str | None = None
    in_force_from: str | None = None

    def with_superseded_by(self, superseded_by: str | None) -> Record:
        """Returns a copy marked (or unmarked) as superseded, from an unknown day."""
        return replace(self, superseded_by=superseded_by, superseded_from=None)

    def with_validity(
        self, *, superseded_by: str | None, superseded_from: str | None, in_force_from: str | None
    ) -> Record:
        """Returns a copy with the days its text applies (see the module docstring)."""
        return replace(
            self,
            superseded_by=superseded_by,
            superseded_from=superseded_from if superseded_by else None,
            in_force_from=in_force_from,
        )

    def to_dict(self) -> dict[str, Any]:
        """Returns the record as plain JSON-able data."""
        return {
            "record_id": self.record_id,
            "kind": self.kind,
            "title": self.title,
            "law": self.law,
            "article": self.article,
            "chapter": self.chapter,
            "version": self.version,
            "source": self.source,
            "text": self.text,
            "content_hash": self.content_hash,
            "superseded_by": self.superseded_by,
            "ordinal": self.ordinal,
            "superseded_from": self.superseded_from,
            "in_force_from": self.in_force_from,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """Builds a record from :meth:`to_dict` output."""
        return cls(**data)


@dataclass
class Document:
    """A parsed source document and its records."""

    title: str
    law: str
    kind: str
    version: str
    source: str
    superseded_by: str | None
    records: list[Record] = field(default_factory=list)


def short_law_name(title: str) -> str:
    """Drops the 中华人民共和国 prefix (also inside 《》) and any date suffix from a title."""
    name = _DATE_IN_NAME_RE.sub("", title.strip())
    return name.replace(PRC_PREFIX, "").strip()


def article_sort_key(article: str) -> tuple[int, int]:
    """Returns (number, 之N) for an article like 第二百五十三条之一, for ordering and lookup."""
    match = ARTICLE_RE.match(article + " ")
    if not match:
        raise ValueError(f"not an article number: {article!r}")
    sub = cn_to_int(match.group(2)[1:]) if match.group(2) else 0
    return cn_to_int(match.group(1)), sub


def content_hash(*parts: str) -> str:
    """Returns a SHA-256 over the given parts (unambiguously joined)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\x1f")
    return digest.hexdigest()


def make_record_id(kind: str, title: str, version: str, article: str, occurrence: int) -> str:
    """Returns a stable ASCII id (17 chars) for a record."""
    key = f"{title}|{version}|{article}|{occurrence}"
    return ("s" if kind == STATUTE else "g") + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Separates an optional YAML front matter from the body."""
    match = _FRONT_MATTER_RE.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise ParseError(f"front matter is not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise ParseError("front matter is not a mapping")
    return meta, text[match.end() :]


def _latest_cn_date(text: str) -> str:
    dates = [f"{y}-{int(m):02d}-{int(d):02d}" for y, m, d in _DATE_CN_RE.findall(text)]
    return max(dates) if dates else ""


def _first_heading(lines: list[str]) -> tuple[str | None, int]:
    for index, line in enumerate(lines):
        match = HEADING_RE.match(line)
        if match and len(match.group(1)) == 1:
            return match.group(2).strip(), index
        if line.strip():
            return None, -1
    return None, -1


def parse_document(text: str, source: str) -> Document:
    """Parses a statute or guidance document; the kind comes from front matter, else the path."""
    meta, body = split_front_matter(text.replace("\r\n", "\n").replace("\r", "\n"))
    in_guidance_folder = any(part.endswith("guidance") for part in Path(source).parts[:-1])
    kind = str(meta.get("kind") or (GUIDANCE if in_guidance_folder else STATUTE))
    if kind not in (STATUTE, GUIDANCE):
        raise ParseError(f"unknown kind {kind!r} (statute or guidance)")
    if kind == GUIDANCE:
        return parse_guidance(body, source, meta)
    return parse_statute(body, source, meta)


def _header(body: str, source: str, meta: dict[str, Any]) -> tuple[str, str, str, list[str]]:
    lines = body.split("\n")
    heading, heading_index = _first_heading(lines)
    stem = Path(source).stem
    title = str(meta.get("title") or heading or _DATE_IN_NAME_RE.sub("", stem)).strip()
    if not title:
        raise ParseError("no title (a '# 标题' line or front matter 'title')")
    if heading_index >= 0:
        lines = lines[heading_index + 1 :]
    name_date = _DATE_IN_NAME_RE.search(stem)
    version = str(meta.get("version") or (name_date.group(1) if name_date else "")).strip()
    return title, version, stem, lines


def parse_statute(body: str, source: str, meta: dict[str, Any] | None = None) -> Document:
    """Splits a statute into article records (款/项 kept inside their article)."""
    meta = meta or {}
    title, version, _stem, lines = _header(body, source, meta)
    if INFO_END in body:
        end = next(i for i, line in enumerate(lines) if line.strip() == INFO_END)
        preamble, lines = lines[:end], lines[end + 1 :]
        if not version:
            version = _latest_cn_date("\n".join(preamble))
    law = str(meta.get("law") or short_law_name(title))
    superseded_by = meta.get("superseded_by")
    document = Document(
        title=title,
        law=law,
        kind=STATUTE,
        version=version,
        source=source,
        superseded_by=str(superseded_by) if superseded_by else None,
    )
    path: list[tuple[int, str]] = []
    current: tuple[str, str, list[str]] | None = None
    seen: dict[str, int] = {}

    def flush() -> None:
        nonlocal current
        if current is None:
            return
        article, chapter, paragraphs = current
        text = "\n".join(p for p in paragraphs if p)
        occurrence = seen.get(article, 0)
        seen[article] = occurrence + 1
        document.records.append(
            Record(
                record_id=make_record_id(STATUTE, title, version, article, occurrence),
                kind=STATUTE,
                title=title,
                law=law,
                article=article,
                chapter=chapter,
                version=version,
                source=source,
                text=text,
                content_hash=content_hash(title, law, article, chapter, version, text),
                superseded_by=document.superseded_by,
                ordinal=len(document.records),
            )
        )
        current = None

    for raw in lines:
        line = raw.strip()
        heading = HEADING_RE.match(line)
        if heading:
            flush()
            level = len(heading.group(1))
            path = [(lvl, name) for lvl, name in path if lvl < level]
            path.append((level, heading.group(2).strip()))
            continue
        match = ARTICLE_RE.match(line)
        if match:
            flush()
            article = f"第{match.group(1)}条{match.group(2) or ''}"
            chapter = " / ".join(name for _lvl, name in path)
            current = (article, chapter, [line])
            continue
        if current is not None and line:
            current[2].append(line)
        # text after a heading but before any article (附件 lists, titles) is not an article
    flush()
    if not document.records:
        raise ParseError("no articles found (expected paragraphs starting 第X条)")
    return document


def parse_guidance(body: str, source: str, meta: dict[str, Any] | None = None) -> Document:
    """Splits guidance into one record per lowest-level heading section."""
    meta = meta or {}
    title, version, _stem, lines = _header(body, source, meta)
    superseded_by = meta.get("superseded_by")
    document = Document(
        title=title,
        law=str(meta.get("law") or title),
        kind=GUIDANCE,
        version=version,
        source=source,
        superseded_by=str(superseded_by) if superseded_by else None,
    )
    path: list[tuple[int, str]] = []
    paragraphs: list[str] = []
    seen: dict[str, int] = {}

    def flush() -> None:
        text = "\n".join(p for p in paragraphs if p).strip()
        paragraphs.clear()
        if not text:
            return
        heading = path[-1][1] if path else title
        chapter = " / ".join(name for _lvl, name in path[:-1])
        occurrence = seen.get(heading, 0)
        seen[heading] = occurrence + 1
        document.records.append(
            Record(
                # the source is part of the id: curated answers share one title and may share a heading
                record_id=make_record_id(GUIDANCE, f"{title}|{source}", version, heading, occurrence),
                kind=GUIDANCE,
                title=title,
                law=document.law,
                article=heading,
                chapter=chapter,
                version=version,
                source=source,
                text=text,
                content_hash=content_hash(title, heading, chapter, version, text),
                superseded_by=document.superseded_by,
                ordinal=len(document.records),
            )
        )

    for raw in lines:
        line = raw.rstrip()
        heading = HEADING_RE.match(line.strip())
        if heading:
            flush()
            level = len(heading.group(1))
            path = [(lvl, name) for lvl, name in path if lvl < level]
            path.append((level, heading.group(2).strip()))
            continue
        if line.strip():
            paragraphs.append(line.strip())
    flush()
    if not document.records:
        raise ParseError("no guidance sections found (expected headings with text under them)")
    return document
