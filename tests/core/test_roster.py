"""Bulk officer import: every bad row reported with its line, nothing written unless all are good."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core import identity, roster
from core.tabular import TableError, read_table


async def _import(session: AsyncSession, path: Path) -> roster.ImportReport:
    table = read_table(path)
    return await roster.import_officers(session=session, rows=table, header=table.header)


class TestOfficerImport:
    async def test_valid_csv_adds_officers(self, session: AsyncSession, tmp_path: Path) -> None:
        """A clean CSV adds every officer with their roles."""
        await identity.add_unit(session=session, name="一中队")
        path = tmp_path / "officers.csv"
        path.write_text("badge,name,unit,roles\n1001,张三,一中队,officer\n1002,李四,一中队,legal;supervisor\n", encoding="utf-8")
        report = await _import(session, path)
        assert report.ok and report.added == ["1001", "1002"]
        li = await identity.get_officer(session=session, badge="1002")
        assert li is not None and li.roles == {identity.Role.LEGAL, identity.Role.SUPERVISOR}

    async def test_bad_rows_are_reported_by_line_and_nothing_is_written(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        """Each bad row is named with its line number and reason; the good rows are not written either."""
        await identity.add_unit(session=session, name="一中队")
        path = tmp_path / "officers.csv"
        path.write_text(
            "badge,name,unit,roles\n"
            "1001,张三,一中队,officer\n"
            ",无警号,一中队,officer\n"
            "1003,王五,不存在的单位,officer\n"
            "1001,重复,一中队,officer\n"
            "1005,赵六,一中队,chief\n",
            encoding="utf-8",
        )
        report = await _import(session, path)
        assert not report.ok
        assert [(e.line, e.reason) for e in report.errors] == [
            (3, "badge is empty"),
            (4, "unknown unit '不存在的单位' (add it first: frontline units add)"),
            (5, "badge 1001 repeats line 2"),
            (6, "unknown role 'chief' (allowed: officer/民警, legal/法制, rights/维权, supervisor/督导, admin/管理员)"),
        ]
        assert await identity.list_officers(session=session) == []

    async def test_xlsx_with_chinese_headers_and_reimport_updates(self, session: AsyncSession, tmp_path: Path) -> None:
        """XLSX files with 警号/姓名/单位 headers import; importing again updates instead of duplicating."""
        await identity.add_unit(session=session, name="一中队")
        await identity.add_unit(session=session, name="二中队")
        path = tmp_path / "officers.xlsx"
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["警号", "姓名", "单位", "角色"])
        sheet.append([1001, "张三", "一中队", "officer"])
        book.save(path)
        assert (await _import(session, path)).added == ["1001"]
        sheet.cell(row=2, column=3, value="二中队")
        book.save(path)
        report = await _import(session, path)
        assert report.added == [] and report.updated == ["1001"]
        officer = await identity.get_officer(session=session, badge="1001")
        assert officer is not None and officer.unit.name == "二中队"

    async def test_missing_column_is_reported_on_the_header_line(self, session: AsyncSession, tmp_path: Path) -> None:
        """A file without a required column is refused at line 1."""
        path = tmp_path / "officers.csv"
        path.write_text("badge,name\n1001,张三\n", encoding="utf-8")
        report = await _import(session, path)
        assert [(e.line, e.reason) for e in report.errors] == [(1, "missing column(s): unit")]

    def test_unsupported_or_missing_files_are_clear_errors(self, tmp_path: Path) -> None:
        """Only .csv and .xlsx are read; a missing file says so."""
        text_file = tmp_path / "a.txt"
        text_file.write_text("badge,name,unit\n", encoding="utf-8")
        with pytest.raises(TableError, match=r"use \.csv or \.xlsx"):
            read_table(text_file)
        with pytest.raises(TableError, match="no such file"):
            read_table(tmp_path / "missing.csv")

    def test_gbk_encoded_csv_is_read(self, tmp_path: Path) -> None:
        """Spreadsheets saved by Chinese Excel as GBK are read correctly."""
        path = tmp_path / "gbk.csv"
        path.write_bytes("badge,name,unit\n1001,张三,一中队\n".encode("gb18030"))
        assert read_table(path)[0].values == {"badge": "1001", "name": "张三", "unit": "一中队"}


class TestImportScale:
    async def test_the_number_of_statements_does_not_grow_with_the_rows(
        self, session: AsyncSession, tmp_path: Path
    ) -> None:
        """Adding 300 officers, then updating all their roles, reads the database a few times, not per row."""
        from sqlalchemy import event

        await identity.add_unit(session=session, name="一中队")
        await session.commit()
        statements: list[str] = []

        def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            statements.append(statement)

        engine = session.bind.sync_engine  # type: ignore[union-attr]
        event.listen(engine, "before_cursor_execute", count)
        try:
            for roles in ("officer", "officer;legal"):
                path = tmp_path / "officers.csv"
                rows = "".join(f"{n},警员{n},一中队,{roles}\n" for n in range(300))
                path.write_text("badge,name,unit,roles\n" + rows, encoding="utf-8")
                statements.clear()
                report = await _import(session, path)
                assert report.ok and len(report.added) + len(report.updated) == 300
                # SQLite inserts ORM rows one statement each; what must not grow is everything else.
                reads = [s for s in statements if not s.lstrip().upper().startswith("INSERT")]
                assert len(reads) < 10, f"{len(reads)} other statements for 300 rows"
        finally:
            event.remove(engine, "before_cursor_execute", count)
        officer = await identity.get_officer(session=session, badge="299")
        assert officer is not None and officer.roles == {identity.Role.OFFICER, identity.Role.LEGAL}
