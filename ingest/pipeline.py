"""Incremental ingest: hash each source, diff against the store, index only what changed.

The store is one JSON file (``records.json``) holding, per source document, its file hash and
records, plus supersession marks set by command. Unchanged documents are skipped, changed
ones replace their records, documents gone from a scanned folder disappear, and a file that
cannot be parsed is reported with its reason while the rest ingests.

A supersession mark applies to every version of an instrument or to one version
(``治安管理处罚法@2012-10-26``), optionally from a day and by a named newer version, which is
then in force only from that day: a law revised in June and in force from January is answered
from the old text until January and from the new one after.
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

STORE_VERSION = 3


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


@dataclass(frozen=True)
class Supersession:
    """A mark that an instrument's text is no longer the one in force."""

    by: str  # what replaces it, as officers are shown it
    from_day: str | None = None  # ISO day the replacement took effect (None: already, day unknown)
    by_version: str | None = None  # the version of the same instrument that replaces it

    def to_dict(self) -> dict[str, str | None]:
        """Returns the mark as plain JSON-able data."""
        return {"by": self.by, "from": self.from_day, "by_version": self.by_version}

    @classmethod
    def from_dict(cls, data: Any) -> Supersession:
        """Reads a mark: a mapping, or a bare label (the older form)."""
        if isinstance(data, str):
            return cls(by=data)
        return cls(by=str(data["by"]), from_day=data.get("from"), by_version=data.get("by_version"))


def supersession_key(law: str, version: str | None = None) -> str:
    """Keys a mark on one version of an instrument (law@version) or on all of them (law)."""
    return f"{law}@{version}" if version else law


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
    declared_superseded_by: str | None = None  # from the document's own front matter


class RecordStore:
    """The persistent set of ingested documents and their records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.documents: dict[str, StoredDocument] = {}
        self.supersessions: dict[str, Supersession] = {}
        self.generation = 0
        if path.exists():
            self._load()

    def _load(self) -> None:
        data = json.loads(self.path.read_text("utf-8"))
        marks = data.get("supersessions", {})
        self.supersessions = {key: Supersession.from_dict(mark) for key, mark in marks.items()}
        if data.get("version") != STORE_VERSION:
            return  # an older layout's documents are rebuilt from the sources; its marks are kept
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
                declared_superseded_by=doc.get("declared_superseded_by"),
            )

    def save(self) -> None:
        """Writes the store atomically (a crash never leaves half a file)."""
        self.generation += 1
        data: dict[str, Any] = {
            "version": STORE_VERSION,
            "generation": self.generation,
            "supersessions": {key: mark.to_dict() for key, mark in sorted(self.supersessions.items())},
            "documents": {
                source: {
                    "file_hash": doc.file_hash,
                    "title": doc.title,
                    "law": doc.law,
                    "kind": doc.kind,
                    "version": doc.version,
                    "superseded_by": doc.superseded_by,
                    "declared_superseded_by": doc.declared_superseded_by,
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

    def mark_for(self, title: str, law: str, version: str) -> Supersession | None:
        """Returns the supersession mark that applies to one version of an instrument, if any."""
        for key in (supersession_key(law, version), supersession_key(title, version), title, law):
            mark = self.supersessions.get(key)
            if mark is not None:
                return mark
        return None

    def validity_for(
        self, title: str, law: str, version: str, declared: str | None
    ) -> tuple[str | None, str | None, str | None]:
        """Returns (superseded_by, superseded_from, in_force_from) of one version of an instrument.

        A command's mark wins over the document's front matter; a version that a mark names as the
        replacement is in force from that mark's day.
        """
        mark = self.mark_for(title, law, version)
        in_force_from = None
        for key, other in self.supersessions.items():
            if other.by_version == version and other.from_day and key.split("@", 1)[0] in (law, title):
                in_force_from = max(in_force_from or other.from_day, other.from_day)
        if mark is not None:
            return mark.by, mark.from_day, in_force_from
        return declared, None, in_force_from

    def find_instrument(self, name: str) -> list[StoredDocument]:
        """Finds documents by full title, short law name or source file stem."""
        wanted = short_law_name(name)
        return [
            doc
            for doc in self.documents.values()
            if name in (doc.title, doc.law) or wanted == doc.law or Path(doc.source).stem == name
        ]

    def set_superseded(
        self,
        name: str,
        by: str | None,
        *,
        version: str | None = None,
        from_day: str | None = None,
        by_version: str | None = None,
    ) -> list[Record]:
        """Marks (or with by=None unmarks) an instrument as superseded; returns the changed records.

        With several versions ingested and no version named, every version but the newest is
        marked and the newest is named as their replacement.
        """
        docs = self.find_instrument(name)
        if not docs:
            raise KeyError(name)
        if version is not None:
            docs = [doc for doc in docs if doc.version == version]
            if not docs:
                raise KeyError(f"{name}@{version}")
        laws = {doc.law for doc in docs}
        if by is None:
            for doc in docs:
                for key in (supersession_key(doc.law, doc.version), supersession_key(doc.title, doc.version)):
                    self.supersessions.pop(key, None)
                if version is None:
                    self.supersessions.pop(doc.title, None)
                    self.supersessions.pop(doc.law, None)
        else:
            versions = sorted({doc.version for doc in docs})
            if version is None and len(versions) > 1:
                by_version = by_version or versions[-1]
                docs = [doc for doc in docs if doc.version != versions[-1]]
            for doc in docs:
                mark = Supersession(by=by, from_day=from_day, by_version=by_version)
                self.supersessions[supersession_key(doc.law, doc.version if len(versions) > 1 or version else None)] = mark
        return self.refresh_validity(laws)

    def refresh_validity(self, laws: Iterable[str]) -> list[Record]:
        """Re-applies the marks to every version of the named instruments; returns their records."""
        changed: list[Record] = []
        wanted = set(laws)
        for doc in self.documents.values():
            if doc.law not in wanted:
                continue
            superseded_by, superseded_from, in_force_from = self.validity_for(
                doc.title, doc.law, doc.version, doc.declared_superseded_by
            )
            doc.superseded_by = superseded_by
            doc.records = [
                r.with_validity(
                    superseded_by=superseded_by, superseded_from=superseded_from, in_force_from=in_force_from
                )
                for r in doc.records
            ]
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
        superseded_by, superseded_from, in_force_from = store.validity_for(
            document.title, document.law, document.version, document.superseded_by
        )
        records = [
            r.with_validity(superseded_by=superseded_by, superseded_from=superseded_from, in_force_from=in_force_from)
            for r in document.records
        ]
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
            declared_superseded_by=document.superseded_by,
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
