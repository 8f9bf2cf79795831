"""Incremental ingest: skip unchanged, replace changed, drop removed, report broken files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ingest.pipeline import RecordStore, ingest
from ingest.statutes import Record

LAW = "# 中华人民共和国甲法\n\n<!-- INFO END -->\n\n第一条 甲。\n\n第二条 乙。\n"
OTHER = "# 乙条例\n\n<!-- INFO END -->\n\n第一条 丙。\n"


class RecordingSink:
    """Remembers what the pipeline indexed and deleted."""

    def __init__(self) -> None:
        self.upserted: list[str] = []
        self.deleted: list[str] = []

    def upsert(self, records: Sequence[Record]) -> None:
        self.upserted.extend(r.article for r in records)

    def delete(self, record_ids: Sequence[str]) -> None:
        self.deleted.extend(record_ids)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "laws"
    folder.mkdir()
    (folder / "甲法(2020-01-01).md").write_text(LAW, encoding="utf-8")
    (folder / "乙条例(2021-01-01).md").write_text(OTHER, encoding="utf-8")
    return folder


class TestIncrementalIngest:
    def test_second_run_skips_unchanged_documents(self, tmp_path: Path) -> None:
        """Nothing is re-indexed when no file changed."""
        folder = _folder(tmp_path)
        store = RecordStore(tmp_path / "store.json")
        first = ingest([folder], store, RecordingSink())
        assert (first.added, first.skipped) == (2, 0)
        sink = RecordingSink()
        second = ingest([folder], RecordStore(tmp_path / "store.json"), sink)
        assert (second.added, second.updated, second.skipped) == (0, 0, 2)
        assert sink.upserted == []

    def test_changed_document_replaces_its_records(self, tmp_path: Path) -> None:
        """Dropping an article from a file deletes that record and re-indexes the rest."""
        folder = _folder(tmp_path)
        store = RecordStore(tmp_path / "store.json")
        ingest([folder], store, RecordingSink())
        removed_id = next(r.record_id for r in store.records() if r.law == "甲法" and r.article == "第二条")
        (folder / "甲法(2020-01-01).md").write_text(LAW.replace("\n第二条 乙。\n", "\n"), encoding="utf-8")
        sink = RecordingSink()
        report = ingest([folder], store, sink)
        assert (report.updated, report.skipped) == (1, 1)
        assert sink.deleted == [removed_id]
        assert [r.article for r in store.records() if r.law == "甲法"] == ["第一条"]

    def test_removed_document_disappears(self, tmp_path: Path) -> None:
        """A file gone from a scanned folder takes its records with it."""
        folder = _folder(tmp_path)
        store = RecordStore(tmp_path / "store.json")
        ingest([folder], store, RecordingSink())
        (folder / "乙条例(2021-01-01).md").unlink()
        sink = RecordingSink()
        report = ingest([folder], store, sink)
        assert report.removed == 1
        assert len(sink.deleted) == 1
        assert {r.law for r in store.records()} == {"甲法"}

    def test_a_corrupted_file_is_reported_and_the_rest_ingests(self, tmp_path: Path) -> None:
        """A broken .docx and a text without articles fail with reasons; good files still ingest."""
        folder = _folder(tmp_path)
        (folder / "坏文件.docx").write_bytes(b"this is not a zip archive")
        (folder / "无条文.md").write_text("# 无条文\n\n随便一段话。\n", encoding="utf-8")
        store = RecordStore(tmp_path / "store.json")
        report = ingest([folder], store, RecordingSink())
        assert report.added == 2
        reasons = dict((Path(p).name, reason) for p, reason in report.failed)
        assert set(reasons) == {"坏文件.docx", "无条文.md"}
        assert "cannot parse .docx" in reasons["坏文件.docx"]
        assert "no articles" in reasons["无条文.md"]

    def test_supersede_mark_survives_a_changed_file(self, tmp_path: Path) -> None:
        """A command's superseded mark is applied again when the file is re-ingested."""
        folder = _folder(tmp_path)
        store = RecordStore(tmp_path / "store.json")
        ingest([folder], store, RecordingSink())
        store.set_superseded("甲法", "甲法（2030年修订）")
        (folder / "甲法(2020-01-01).md").write_text(LAW + "\n第三条 丁。\n", encoding="utf-8")
        ingest([folder], store, RecordingSink())
        assert {r.superseded_by for r in store.records() if r.law == "甲法"} == {"甲法（2030年修订）"}
