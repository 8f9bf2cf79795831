"""Incremental ingest: hash each source, diff against the store, index only what changed.

The store is one JSON file (``records.json``) holding, per source document, its file hash and
records, plus supersession marks set by command. Unchanged documents are skipped, changed
ones replace their records, documents gone from a scanned folder disappear, and a file that
cannot be parsed is reported with its reason while the rest ingests.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ingest.sources import SUPPORTED_SUFFIXES, SourceError, read_text
from ingest.statutes import Document, ParseError, Record, parse_document, short_law_name

STORE_VERSION = 2


class Sink(Protocol):
    """Where changed records go (the search indexes)."""

    def upsert(self, records: Sequence[Record]) -> None:
        """Adds or replaces records."""

    def delete(self, record_ids: Sequence[str]) -> None:
        """Removes records."""


@dataclass
class IngestReport:
    """What an ingest run did, counted in documents."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    records_indexed: int = 0

    def summary(self) -> str:
        """Returns one line of counts."""
        return (
            f"added {self.added}, updated {self.updated}, removed {self.removed}, "
            f"skipped {self.skipped}, failed {len(self.failed)}"
        )


@dataclass
class StoredDocument:
    """A document as kept in the store."""

    source: str
    file_hash: str
    title: str
    law: str
    kind: str
    version: str
    superseded_by: str | None
    records: list[Record]


class RecordStore:
    """The persistent set of ingested documents and their records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.documents: dict[str, StoredDocument] = {}
        self.supersessions: dict[str, str] = {}
        self.generation = 0
        if path.exists():
            self._load()

    def _load(self) -> None:
        data = json.loads(self.path.read_text("utf-8"))
        if data.get("version") != STORE_VERSION:
            return  # an older layout is simply rebuilt from the sources
        self.supersessions = dict(data.get("supersessions", {}))
        self.generation = int(data.get("generation", 0))
        for source, doc in data["documents"].items():
            self.documents[source] = StoredDocument(
                source=source,
                file_hash=doc["file_hash"],
                title=doc["title"],
                law=doc["law"],
                kind=doc["kind"],
                version=doc["version"],
                superseded_by=doc.get("superseded_by"),
                records=[Record.from_dict(r) for r in doc["records"]],
            )

    def save(self) -> None:
        """Writes the store atomically (a crash never leaves half a file)."""
        self.generation += 1
        data: dict[str, Any] = {
            "version": STORE_VERSION,
            "generation": self.generation,
            "supersessions": self.supersessions,
            "documents": {
                source: {
                    "file_hash": doc.file_hash,
                    "title": doc.title,
                    "law": doc.law,
                    "kind": doc.kind,
                    "version": doc.version,
                    "superseded_by": doc.superseded_by,
                    "records": [r.to_dict() for r in doc.records],
                }
                for source, doc in sorted(self.documents.items())
            },
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".records.", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False)
        os.replace(tmp, self.path)

    def records(self) -> list[Record]:
        """Returns every record, documents in source order."""
        return [r for source in sorted(self.documents) for r in self.documents[source].records]

    def superseded_by_for(self, title: str, law: str, declared: str | None) -> str | None:
        """Returns what supersedes an instrument: a command's mark wins over front matter."""
        return self.supersessions.get(title) or self.supersessions.get(law) or declared

    def find_instrument(self, name: str) -> list[StoredDocument]:
        """Finds documents by full title, short law name or source file stem."""
        wanted = short_law_name(name)
        return [
            doc
            for doc in self.documents.values()
            if name in (doc.title, doc.law) or wanted == doc.law or Path(doc.source).stem == name
        ]

    def set_superseded(self, name: str, by: str | None) -> list[Record]:
        """Marks (or with by=None unmarks) an instrument as superseded; returns the changed records."""
        docs = self.find_instrument(name)
        if not docs:
            raise KeyError(name)
        changed: list[Record] = []
        for doc in docs:
            if by is None:
                self.supersessions.pop(doc.title, None)
                self.supersessions.pop(doc.law, None)
            else:
                self.supersessions[doc.law] = by
            doc.superseded_by = by
            doc.records = [r.with_superseded_by(by) for r in doc.records]
            changed.extend(doc.records)
        return changed


def file_hash(data: bytes) -> str:
    """Returns the SHA-256 of a file's bytes."""
    return hashlib.sha256(data).hexdigest()


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """Expands folders into supported files; returns (files, scanned folders)."""
    files: list[Path] = []
    folders: list[Path] = []
    for path in paths:
        if path.is_dir():
            folders.append(path)
            files.extend(
                p for p in sorted(path.rglob("*")) if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
            )
        else:
            files.append(path)
    return files, folders


def source_key(path: Path, roots: dict[Path, str]) -> str:
    """Names a source stably: relative to a known root (bundled corpus) or by absolute path."""
    resolved = path.resolve()
    for root, prefix in roots.items():
        try:
            relative = resolved.relative_to(root.resolve()).as_posix()
        except ValueError:
            continue
        return prefix if relative == "." else prefix + relative
    return resolved.as_posix()


def parse_file(path: Path, source: str) -> tuple[Document, str]:
    """Reads and parses one file; returns the document and the file hash."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read file: {exc.strerror or exc}") from exc
    text = read_text(path)
    return parse_document(text, source), file_hash(data)


def ingest(
    paths: Sequence[Path],
    store: RecordStore,
    sink: Sink,
    *,
    roots: dict[Path, str] | None = None,
    remove_missing: bool = True,
) -> IngestReport:
    """Ingests files and folders incrementally into the store and the sink; saves the store."""
    roots = roots or {}
    report = IngestReport()
    files, folders = discover(paths)
    seen: set[str] = set()
    for path in files:
        key = source_key(path, roots)
        seen.add(key)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            report.failed.append((str(path), f"cannot read file: {exc.strerror or exc}"))
            continue
        digest = file_hash(raw)
        existing = store.documents.get(key)
        if existing is not None and existing.file_hash == digest:
            report.skipped += 1
            continue
        try:
            document = parse_document(read_text(path), key)
        except (SourceError, ParseError) as exc:
            report.failed.append((str(path), str(exc)))
            continue
        superseded_by = store.superseded_by_for(document.title, document.law, document.superseded_by)
        records = [r.with_superseded_by(superseded_by) for r in document.records]
        if existing is not None:
            new_ids = {r.record_id for r in records}
            sink.delete([r.record_id for r in existing.records if r.record_id not in new_ids])
            report.updated += 1
        else:
            report.added += 1
        sink.upsert(records)
        report.records_indexed += len(records)
        store.documents[key] = StoredDocument(
            source=key,
            file_hash=digest,
            title=document.title,
            law=document.law,
            kind=document.kind,
            version=document.version,
            superseded_by=superseded_by,
            records=records,
        )
    if remove_missing:
        folder_keys = [source_key(folder, roots).rstrip("/") + "/" for folder in folders]
        for key in list(store.documents):
            if key in seen or not any(key.startswith(prefix) for prefix in folder_keys):
                continue
            sink.delete([r.record_id for r in store.documents.pop(key).records])
            report.removed += 1
    store.save()
    return report
