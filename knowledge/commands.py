"""``frontline kb``: ingest, supersede, ask, search, build-vectors."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import typer

from core.cli_support import cli_errors, fail
from core.settings import Settings, load_settings_or_exit
from ingest.sources import SourceError
from ingest.statutes import ParseError
from knowledge.citations import Answer

if TYPE_CHECKING:
    from knowledge.service import KnowledgeBase

P = ParamSpec("P")
T = TypeVar("T")

app = typer.Typer(
    help="Knowledge base: law Q&A with exact article citations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _knowledge_errors() -> tuple[type[Exception], ...]:
    from knowledge.service import KnowledgeError  # the service imports the heavy parts: only when used

    # chroma and embedding-model failures too: one line, never a traceback
    return (KnowledgeError, SourceError, ParseError, Exception)


def _errors(func: Callable[P, T]) -> Callable[P, T]:
    """Turns expected failures into one line on stderr and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return cli_errors(*_knowledge_errors())(func)(*args, **kwargs)

    return wrapper


def _open(settings: Settings | None = None) -> KnowledgeBase:
    from knowledge.service import KnowledgeBase

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    return KnowledgeBase.open(settings or load_settings_or_exit())


@app.command("ingest")
@_errors
def ingest_command(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders; none = the bundled knowledge.")] = None,
) -> None:
    """Ingests documents incrementally (unchanged skipped, changed replaced, removed dropped)."""
    missing = [p for p in paths or [] if not p.exists()]
    if missing:
        raise fail(f"no such file or folder: {missing[0]}")
    kb = _open()
    report = kb.last_report
    if paths:
        report = kb.ingest_paths(paths)
    if report is None:
        raise fail("nothing was ingested")
    typer.echo(report.summary())
    for path, reason in report.failed:
        typer.echo(f"frontline: failed: {path}: {reason}", err=True)
    if report.failed:
        raise typer.Exit(1)


@app.command("supersede")
@_errors
def supersede_command(
    title: Annotated[str, typer.Argument(help="Instrument title or short name, e.g. 治安管理处罚法.")],
    by: Annotated[str | None, typer.Option("--by", help="What supersedes it.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the superseded mark.")] = False,
    version: Annotated[
        str | None, typer.Option("--version", help="Only this version (the date in its file name); default: all but the newest.")
    ] = None,
    from_day: Annotated[
        str | None, typer.Option("--from", help="The day the replacement took effect (YYYY-MM-DD); earlier conduct keeps the old text.")
    ] = None,
) -> None:
    """Marks an instrument (or one version) as superseded (shown with every citation of it) or clears the mark."""
    if not clear and not by:
        raise fail("give --by TITLE2 (or --clear)")
    if from_day is not None:
        try:
            from_day = date.fromisoformat(from_day).isoformat()
        except ValueError:
            raise fail(f"--from {from_day!r} is not a date (YYYY-MM-DD)") from None
    kb = _open()
    changed = kb.supersede(title, None if clear else by, version=version, from_day=from_day)
    state = "no longer superseded" if clear else f"superseded by {by}" + (f" from {from_day}" if from_day else "")
    typer.echo(f"{title}{'@' + version if version else ''}: {state} ({len(changed)} records)")


def _answer_json(answer: Answer) -> dict[str, object]:
    return {
        "answer": answer.answer,
        "citations": [
            {"law": c.law, "article": c.article, "version": c.version, "text": c.text} for c in answer.citations
        ],
        "grounded": answer.grounded,
        "likely": answer.likely,
        "confidence": round(answer.confidence, 4),
    }


@app.command("ask")
@_errors
def ask_command(
    question: Annotated[str, typer.Argument(help="The question, in plain words.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    language: Annotated[str, typer.Option(help="zh or en.")] = "zh",
    as_of: Annotated[str | None, typer.Option("--as-of", help="Answer from the law in force on this day (YYYY-MM-DD).")] = None,
) -> None:
    """Answers a question with quoted articles (or says there is no basis)."""
    if not question.strip():
        raise fail("the question is empty")
    if language not in ("zh", "en"):
        raise fail(f"--language {language!r}: use zh or en")
    day = _day(as_of)
    kb = _open()
    answer = kb.ask(question, language=language, as_of=day)
    if not answer.grounded:
        hint = (
            "（命令行不能转交问题：请在机器人里提问，并点击“转交法制大队”。）"
            if language == "zh"
            else "(The command line cannot refer questions: ask the bot and choose 'Refer to the legal brigade'.)"
        )
        answer = Answer(
            question=answer.question,
            answer=f"{answer.answer}\n{hint}",
            # a likely answer keeps the source it shows (marked as not confirmed in its text)
            citations=answer.citations if answer.likely else [],
            related=[],
            grounded=False,
            confidence=answer.confidence,
            likely=answer.likely,
        )
    if as_json:
        typer.echo(json.dumps(_answer_json(answer), ensure_ascii=False))
    else:
        typer.echo(answer.answer)


@app.command("search")
@_errors
def search_command(
    query: Annotated[str, typer.Argument(help="The query; '-' reads one query per line from stdin.")],
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=100)] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (one line per query).")] = False,
    law: Annotated[str | None, typer.Option(help="Only this instrument.")] = None,
    in_force_only: Annotated[bool, typer.Option("--in-force-only", help="Only texts in force (on --as-of).")] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day whose law is in force (YYYY-MM-DD, default today).")
    ] = None,
) -> None:
    """Searches the statutes; prints law, article, version, text and score per hit (texts in force first)."""
    if query != "-" and not query.strip():
        raise fail("the query is empty: give the words or the article to look for (or '-' to read queries from stdin)")
    day = _day(as_of)
    kb = _open()
    queries = [line.strip() for line in sys.stdin] if query == "-" else [query.strip()]
    for q in queries:
        if query == "-" and not q:
            continue
        hits = kb.search(q, top_k=top_k, law=law, in_force_only=in_force_only, as_of=day)
        if as_json:
            payload = {
                "query": q,
                "hits": [
                    {"law": c.law, "article": c.article, "version": c.version, "text": c.text, "score": score}
                    for c, score in hits
                ],
            }
            typer.echo(json.dumps(payload, ensure_ascii=False))
            sys.stdout.flush()
            continue
        typer.echo(f"# {q}")
        for citation, score in hits:
            first = citation.text.splitlines()[0] if citation.text else ""
            typer.echo(f"{score:.3f}  {citation.label}（{citation.version}）  {first[:60]}")


def _day(text: str | None) -> date | None:
    """Reads an --as-of day, failing with one line if it is not a date."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"--as-of {text!r} is not a date (YYYY-MM-DD)") from None


@app.command("build-vectors")
@_errors
def build_vectors_command(
    output: Annotated[Path | None, typer.Option(help="Where to write the .npz (default: bundled).")] = None,
) -> None:
    """Precomputes the bundled corpus's vectors with the configured embedding model (takes minutes)."""
    from ingest.pipeline import discover
    from ingest.sources import read_text
    from ingest.statutes import parse_document
    from knowledge.embeddings import E5Embeddings, build_vectors, make_embeddings, model_id_of, vectors_path
    from knowledge.service import BUNDLED_PREFIX, CORPUS_DIR

    settings = load_settings_or_exit()
    embeddings = make_embeddings(settings)
    if isinstance(embeddings, E5Embeddings):
        embeddings = E5Embeddings(num_threads=None)  # a batch job: use every core
    files, _folders = discover([CORPUS_DIR / "laws", CORPUS_DIR / "guidance"])
    records = []
    for path in files:
        source = BUNDLED_PREFIX + path.relative_to(CORPUS_DIR).as_posix()
        records.extend(parse_document(read_text(path), source).records)
    target = output or vectors_path(model_id_of(embeddings))

    def progress(done: int, total: int) -> None:
        if done == total or done % 512 == 0:
            typer.echo(f"embedded {done}/{total}", err=True)

    count = build_vectors(records, embeddings, target, progress=progress)
    typer.echo(f"{target}: {len(records)} records, {count} embedded now")
