"""What the legal brigade curates from a desk: answers to referred questions, and their guidance.

Curated guidance lives where :meth:`KnowledgeBase.add_guidance` keeps it: one Markdown file per
answer in the data dir's ``guidance`` folder, which the knowledge base indexes with the bundled
corpus. The desk writes, edits and retires those files without holding a knowledge base (opening
one costs seconds and hundreds of megabytes, and two processes must not write one embedded
index); every process that holds one picks the change up with :class:`GuidanceWatch`, which
re-ingests through the knowledge base's public ``ingest_bundled`` when the folder changed.
Retired entries move to ``guidance-retired`` (kept for the record, never indexed).

Every function that changes something audits it and leaves the commit to the caller; the file
is written last, so a failed write rolls the change back with the caller's transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, outbox
from core.db import utcnow
from core.i18n import gettext_for
from core.identity import Officer, get_officer_by_id
from core.settings import Settings
from ingest.statutes import GUIDANCE, ParseError, split_front_matter
from knowledge import feedback
from knowledge.articles import ArticleIndex, ArticleQuote, bundled_index
from knowledge.models import ANSWERED, OPEN, UnansweredQuestion

GUIDANCE_DIR = "guidance"  # KnowledgeBase.guidance_dir: data_dir / "guidance"
RETIRED_DIR = "guidance-retired"
DOCUMENT_TITLE = "法制大队解答"  # the title add_guidance gives every curated answer
MAX_ANSWER = 3000  # as the bot's legal flow: with the question it fits one Telegram message
MAX_TITLE = 80
QUESTION_SHOWN = 500
ANSWER_KIND = "legal.answer"
M_ANSWER_HEADING = "The legal brigade answered your question:"  # msgid shared with the bot's flow

_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,120}\.md$")
_BODY = re.compile(r"^#\s*(?P<doc>[^\n]*)\n+##\s*(?P<heading>[^\n]*)\n+问：(?P<q>.*?)\n\n答：(?P<a>.*)$", re.S)


class CurationError(Exception):
    """A curation request that cannot be carried out; ``code`` says why (for the user's language)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


class Refreshable(Protocol):
    """A knowledge base that can re-read its bundled and curated sources."""

    def ingest_bundled(self) -> Any: ...


@dataclass(frozen=True)
class GuidanceEntry:
    """One curated guidance file, as the desk shows it."""

    name: str
    title: str
    question: str
    answer: str
    author: str
    version: str
    question_id: int | None
    editor: str | None
    editable: bool
    """Written in the curated-answer form (question and answer), so the desk can edit it."""
    modified_at: datetime
    retired: bool = False


class AnswerDelivery:
    """How an answer reaches the officer who asked."""

    QUEUED = "queued"
    """Queued for the officer's phone (held by the outbox until they are reachable)."""
    INACTIVE = "inactive"
    """The officer has been deactivated: the answer is kept but not sent."""


@dataclass(frozen=True)
class AnswerResult:
    """A question just answered, and how the answer reaches its asker."""

    question: UnansweredQuestion
    delivery: str


# --- answering -------------------------------------------------------------------------------


def fold(text: str, at: int) -> str:
    """Shortens a long text to about ``at`` characters at a soft break."""
    if len(text) <= at + 20:
        return text
    soft = max(text.rfind(mark, 0, at) for mark in "\n。；;")
    cut = soft + 1 if soft >= at * 2 // 3 else at
    return text[:cut].rstrip() + " …"


def answer_text(*, question: str, answer: str, language: str) -> str:
    """Renders the answer push as the bot's legal flow does (Telegram HTML, everything escaped)."""
    heading = gettext_for(language)(M_ANSWER_HEADING)
    return (
        f"⚖️ <b>{html.escape(heading)}</b>\n<blockquote>{html.escape(fold(question, QUESTION_SHOWN))}</blockquote>\n"
        f"{html.escape(answer)}"
    )


async def answer_and_notify(
    *, session: AsyncSession, question_id: int, answer: str, officer: Officer
) -> AnswerResult:
    """Answers a referred question and queues the answer to the officer who asked."""
    answer = answer.strip()
    if not answer:
        raise CurationError("empty_answer")
    if len(answer) > MAX_ANSWER:
        raise CurationError("answer_too_long", str(len(answer)))
    item = await feedback.get_question(session=session, question_id=question_id)
    if item is None:
        raise CurationError("no_question", str(question_id))
    if item.status != OPEN:
        raise CurationError("already_answered", str(question_id))
    item = await feedback.answer_question(
        session=session, question_id=question_id, answer=answer, answered_by_id=officer.id
    )
    asker = await get_officer_by_id(session=session, officer_id=item.officer_id)
    if asker is None or not asker.active:
        return AnswerResult(item, AnswerDelivery.INACTIVE)
    await outbox.enqueue(
        session=session,
        officer_id=asker.id,
        text=answer_text(question=item.question, answer=answer, language=asker.language),
        kind=ANSWER_KIND,
        dedupe_key=f"legal-answer:{item.id}",
        # The officer asked and is waiting for this answer, so quiet hours do not hold it back.
        urgent=True,
    )
    return AnswerResult(item, AnswerDelivery.QUEUED)


# --- guidance files --------------------------------------------------------------------------


def guidance_dir(settings: Settings) -> Path:
    """Returns the folder of curated guidance the knowledge base indexes."""
    return settings.data_dir / GUIDANCE_DIR


def retired_dir(settings: Settings) -> Path:
    """Returns the folder retired guidance is kept in (never indexed)."""
    return settings.data_dir / RETIRED_DIR


def _checked_name(name: str) -> str:
    if not _NAME.match(name) or ".." in name:
        raise CurationError("bad_name", name)
    return name


def _safe_lines(text: str) -> str:
    # A line starting with '#' would open a new guidance record when the file is indexed.
    return "\n".join(("＃" + line.lstrip("#")) if line.lstrip().startswith("#") else line for line in text.strip().splitlines())


def _render(meta: dict[str, Any], *, heading: str, question: str, answer: str) -> str:
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False)
    heading = " ".join(heading.split())
    return f"---\n{front}---\n# {DOCUMENT_TITLE}\n\n## {heading}\n\n问：{_safe_lines(question)}\n\n答：{_safe_lines(answer)}\n"


def _read(path: Path, *, retired: bool) -> GuidanceEntry:
    text = path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
    try:
        meta, body = split_front_matter(text)
    except ParseError:
        meta, body = {}, text
    match = _BODY.match(body.strip())
    question_id = meta.get("question_id")
    if match is not None:
        heading, question, answer = match["heading"].strip(), match["q"].strip(), match["a"].strip()
    else:
        heading, question, answer = str(meta.get("title") or path.stem), "", body.strip()
    return GuidanceEntry(
        name=path.name,
        title=heading,
        question=question,
        answer=answer,
        author=str(meta.get("author") or ""),
        version=str(meta.get("version") or ""),
        question_id=int(question_id) if isinstance(question_id, int) else None,
        editor=str(meta["editor"]) if meta.get("editor") else None,
        editable=match is not None,
        modified_at=datetime.fromtimestamp(path.stat().st_mtime, UTC),
        retired=retired,
    )


def list_guidance(settings: Settings, *, retired: bool = False) -> list[GuidanceEntry]:
    """Lists curated guidance (or the retired entries), newest first."""
    folder = retired_dir(settings) if retired else guidance_dir(settings)
    if not folder.is_dir():
        return []
    entries = [_read(p, retired=retired) for p in folder.iterdir() if p.is_file() and p.suffix == ".md"]
    return sorted(entries, key=lambda e: (e.modified_at, e.name), reverse=True)


def get_guidance(settings: Settings, name: str) -> GuidanceEntry | None:
    """Gets one curated guidance entry by its file name (retired ones too)."""
    name = _checked_name(name)
    for folder, retired in ((guidance_dir(settings), False), (retired_dir(settings), True)):
        path = folder / name
        if path.is_file():
            return _read(path, retired=retired)
    return None


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".guidance.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _clean_fields(title: str, question: str, answer: str) -> tuple[str, str, str]:
    title, question, answer = " ".join(title.split()), question.strip(), answer.strip()
    if not question:
        raise CurationError("empty_question")
    if not answer:
        raise CurationError("empty_answer")
    if len(answer) > MAX_ANSWER:
        raise CurationError("answer_too_long", str(len(answer)))
    return (title or fold(question, 40).rstrip(" …"))[:MAX_TITLE], question, answer


async def save_as_guidance(
    *, session: AsyncSession, settings: Settings, question_id: int, officer: Officer, title: str = ""
) -> GuidanceEntry:
    """Keeps an answered question as curated guidance, so officers asking alike are shown it."""
    item = await feedback.get_question(session=session, question_id=question_id)
    if item is None:
        raise CurationError("no_question", str(question_id))
    if item.status != ANSWERED or not item.answer:
        raise CurationError("not_answered", str(question_id))
    if item.saved_as_guidance:
        raise CurationError("already_saved", str(question_id))
    heading, question, answer = _clean_fields(title, item.question, item.answer)
    stamp = utcnow()
    author = officer.badge
    slug = re.sub(r"[^0-9A-Za-z]+", "", author)[:16] or "legal"
    name = f"{stamp:%Y%m%dT%H%M%S%f}-{slug}.md"
    meta = {
        "kind": GUIDANCE,
        "title": DOCUMENT_TITLE,
        "version": stamp.astimezone(settings.tz).date().isoformat(),
        "author": author,
        "question_id": item.id,
    }
    await feedback.mark_saved_as_guidance(session=session, question_id=item.id)
    await audit.record(
        session=session,
        actor=officer.badge,
        action="kb.guidance_saved",
        target_type="guidance",
        target_id=name,
        officer_id=officer.id,
        detail={"question_id": item.id, "title": heading},
    )
    path = guidance_dir(settings) / name
    _write_atomically(path, _render(meta, heading=heading, question=question, answer=answer))
    return _read(path, retired=False)


async def edit_guidance(
    *,
    session: AsyncSession,
    settings: Settings,
    name: str,
    title: str,
    question: str,
    answer: str,
    officer: Officer,
) -> GuidanceEntry:
    """Rewrites a curated answer (its title, question and answer); the audit log keeps the old text."""
    name = _checked_name(name)
    path = guidance_dir(settings) / name
    if not path.is_file():
        raise CurationError("no_guidance", name)
    before = _read(path, retired=False)
    if not before.editable:
        raise CurationError("not_editable", name)
    heading, question, answer = _clean_fields(title, question, answer)
    meta, _body = split_front_matter(path.read_text(encoding="utf-8"))
    meta.update(
        {
            "kind": GUIDANCE,
            "title": DOCUMENT_TITLE,
            "version": utcnow().astimezone(settings.tz).date().isoformat(),
            "editor": officer.badge,
        }
    )
    await audit.record(
        session=session,
        actor=officer.badge,
        action="kb.guidance_edited",
        target_type="guidance",
        target_id=name,
        officer_id=officer.id,
        detail={
            "before": {"title": before.title, "question": before.question, "answer": before.answer},
            "after": {"title": heading, "question": question, "answer": answer},
        },
    )
    _write_atomically(path, _render(meta, heading=heading, question=question, answer=answer))
    return _read(path, retired=False)


async def retire_guidance(
    *, session: AsyncSession, settings: Settings, name: str, officer: Officer, reason: str = ""
) -> GuidanceEntry:
    """Retires a curated answer: officers are no longer shown it; the file is kept aside."""
    name = _checked_name(name)
    path = guidance_dir(settings) / name
    if not path.is_file():
        raise CurationError("no_guidance", name)
    entry = _read(path, retired=False)
    await audit.record(
        session=session,
        actor=officer.badge,
        action="kb.guidance_retired",
        target_type="guidance",
        target_id=name,
        officer_id=officer.id,
        detail={"title": entry.title, "reason": reason.strip()[:500]},
    )
    target = retired_dir(settings) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    return _read(target, retired=True)


# --- picking changes up ------------------------------------------------------------------------


def guidance_fingerprint(settings: Settings) -> tuple[tuple[str, int, int], ...]:
    """Sums up the guidance folder (names, sizes, modification times) to notice any change."""
    folder = guidance_dir(settings)
    if not folder.is_dir():
        return ()
    found: list[tuple[str, int, int]] = []
    for path in folder.iterdir():
        if path.name.startswith("."):
            continue
        with contextlib.suppress(FileNotFoundError):
            stat = path.stat()
            found.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(found))


class GuidanceWatch:
    """Re-ingests a knowledge base's sources when the curated guidance folder changed since the last look."""

    def __init__(self, settings: Settings, kb: Refreshable) -> None:
        self.settings = settings
        self.kb = kb
        self.seen = guidance_fingerprint(settings)

    def check(self) -> bool:
        """Looks at the folder; re-ingests (blocking) and tells so when it changed."""
        now = guidance_fingerprint(self.settings)
        if now == self.seen:
            return False
        self.kb.ingest_bundled()
        self.seen = now
        return True


WATCH_EVERY = 30.0  # seconds between looks at the guidance folder
log = logging.getLogger(__name__)


async def run_guidance_watch_loop(
    *, settings: Settings, kb: object, stop: asyncio.Event, every: float = WATCH_EVERY
) -> None:
    """Picks up guidance saved, edited or retired elsewhere (the desk) until stopped.

    A knowledge base without ``ingest_bundled`` cannot re-read its sources; the loop then says so
    once and ends.
    """
    if not callable(getattr(kb, "ingest_bundled", None)):
        log.warning("this knowledge base cannot re-read its sources; curated guidance changes apply at the next start")
        return
    watch = GuidanceWatch(settings, kb)  # type: ignore[arg-type]  # checked just above
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
        if stop.is_set():
            return
        try:
            if await asyncio.to_thread(watch.check):
                log.info("curated guidance changed; knowledge base re-read")
        except Exception:
            log.exception("re-reading the curated guidance failed; trying again in %.0f s", every)


# --- cited articles --------------------------------------------------------------------------


def cited_articles(citation: str, *, index: ArticleIndex | None = None) -> list[ArticleQuote]:
    """Splits a rule's citation (刑事诉讼法第七十九条；…) into its articles, quoted from the bundled statutes."""
    return (index or bundled_index()).cited(citation)
