"""The bundled statute texts, read the way a legal officer checks a rule: law, version, article, paragraph."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LAWS = Path(__file__).resolve().parents[2] / "knowledge" / "corpus" / "laws"
_FILE = re.compile(r"^(?P<law>[^(]+?)(\((?P<version>\d{4}-\d{2}-\d{2})\))?\.md$")
_ARTICLE = re.compile(r"^(第[零一二三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?)\s")
_REFERENCE = re.compile(r"^(第[零一二三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?)(?:第([一二三四五六七八九十]+)款)?$")
_DIGITS = "零一二三四五六七八九"


@dataclass(frozen=True)
class Article:
    """One article: its paragraphs (款), items (项) kept inside the paragraph they belong to."""

    number: str
    paragraphs: tuple[str, ...]

    @property
    def text(self) -> str:
        """Returns the whole article."""
        return "\n".join(self.paragraphs)


@dataclass(frozen=True)
class Statute:
    """One version of a law."""

    law: str
    version: str | None
    articles: dict[str, Article]


def _parse(path: Path) -> Statute:
    match = _FILE.match(path.name)
    assert match is not None, path.name
    body = path.read_text(encoding="utf-8").split("<!-- INFO END -->", 1)[-1]
    articles: dict[str, Article] = {}
    number: str | None = None
    paragraphs: list[str] = []

    def flush() -> None:
        if number is not None:
            articles[number] = Article(number, tuple(paragraphs))

    for raw in body.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        found = _ARTICLE.match(line)
        if found:
            flush()
            number, paragraphs = found.group(1), [line]
        elif number is not None:
            if line.startswith("（") and paragraphs:
                paragraphs[-1] += "\n" + line  # an item (项) of the paragraph above
            else:
                paragraphs.append(line)
    flush()
    return Statute(match.group("law"), match.group("version"), articles)


@cache
def statutes() -> dict[str, list[Statute]]:
    """Returns every bundled law's versions, oldest first (a file without a date counts as oldest)."""
    result: dict[str, list[Statute]] = {}
    for path in LAWS.glob("*.md"):
        statute = _parse(path)
        result.setdefault(statute.law, []).append(statute)
    for versions in result.values():
        versions.sort(key=lambda s: s.version or "")
    return result


def in_force(law: str) -> Statute:
    """Returns the newest bundled text of a law."""
    return statutes()[law][-1]


def numeral(n: int) -> str:
    """Writes 1..99 as statutes do (二十四, 三十, 十二)."""
    if n < 10:
        return _DIGITS[n]
    tens, ones = divmod(n, 10)
    head = "" if tens == 1 else _DIGITS[tens]
    return f"{head}十{_DIGITS[ones] if ones else ''}"


def reference(article: str) -> tuple[str, int | None]:
    """Splits 第九十一条第三款 into the article and the paragraph number (None for the whole article)."""
    match = _REFERENCE.match(article)
    assert match is not None, article
    paragraph = match.group(2)
    return match.group(1), None if paragraph is None else _chinese_int(paragraph)


def _chinese_int(text: str) -> int:
    if text.startswith("十"):
        text = "一" + text
    if "十" in text:
        tens, _, ones = text.partition("十")
        return _DIGITS.index(tens) * 10 + (_DIGITS.index(ones) if ones else 0)
    return _DIGITS.index(text)
