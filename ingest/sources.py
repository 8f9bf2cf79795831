"""Reading source files (.md, .txt, .docx, .pdf, .html) into plain text."""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".docx", ".pdf", ".html", ".htm")


class SourceError(Exception):
    """A file that cannot be read as text; the message says why."""


def read_text(path: Path) -> str:
    """Reads a supported file as text (Markdown-like: headings kept as '#' lines where known)."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise SourceError(f"unsupported file type {suffix or '(none)'}; use {', '.join(SUPPORTED_SUFFIXES)}")
    try:
        if suffix in (".md", ".markdown", ".txt"):
            return _decode(path.read_bytes())
        if suffix == ".docx":
            return _read_docx(path)
        if suffix == ".pdf":
            return _read_pdf(path)
        return _read_html(path)
    except SourceError:
        raise
    except OSError as exc:
        raise SourceError(f"cannot read file: {exc.strerror or exc}") from exc
    except Exception as exc:  # third-party parsers raise anything on corrupt input
        raise SourceError(f"cannot parse {suffix} file: {type(exc).__name__}: {exc}") from exc


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SourceError("text is neither UTF-8 nor GB18030")


def _read_docx(path: Path) -> str:
    import docx  # heavy import kept local: only needed for .docx sources

    document = docx.Document(str(path))
    lines: list[str] = []
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        style = (paragraph.style.name or "") if paragraph.style is not None else ""
        level = re.match(r"(?:Heading|标题)\s*(\d)", style)
        if style == "Title":
            lines.append(f"# {text}")
        elif level and text:
            lines.append(f"{'#' * (int(level.group(1)) + 1)} {text}")
        else:
            lines.append(text)
        lines.append("")
    return "\n".join(lines)


@contextlib.contextmanager
def _quiet_pdf_library() -> Iterator[None]:
    """Keeps pypdf's notes on repairable files (bad xref offsets …) off the console: a file either reads or fails."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _read_pdf(path: Path) -> str:
    from pypdf import PdfReader

    with _quiet_pdf_library():
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
    text = "\n".join(pages)
    if not text.strip():
        raise SourceError("the PDF has no extractable text (scanned image?)")
    return text


def _read_html(path: Path) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode(path.read_bytes()), "html.parser")
    for tag in soup(["script", "style", "nav", "footer"]):
        tag.decompose()
    lines: list[str] = []
    title = soup.find("h1") or soup.find("title")
    if title is not None:
        lines.append(f"# {title.get_text(strip=True)}")
    for element in soup.find_all(["h2", "h3", "h4", "p", "li", "div"]):
        if element.name == "div" and element.find(["p", "div", "h2", "h3", "h4", "li"]):
            continue
        text = element.get_text(" ", strip=True)
        if not text:
            continue
        if element.name in ("h2", "h3", "h4"):
            lines.append(f"{'#' * int(element.name[1])} {text}")
        else:
            lines.append(text)
    return "\n\n".join(lines)
