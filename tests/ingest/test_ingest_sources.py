"""Reading sources: Markdown, text in GB18030, Word, HTML, PDF."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.sources import SourceError, read_text
from ingest.statutes import parse_document


class TestSources:
    def test_reads_gb18030_text(self, tmp_path: Path) -> None:
        """Legacy GB18030 text files are decoded."""
        path = tmp_path / "law.txt"
        path.write_bytes("# 测试法\n\n第一条 内容。\n".encode("gb18030"))
        assert "第一条 内容。" in read_text(path)

    def test_word_headings_become_markdown_headings(self, tmp_path: Path) -> None:
        """A .docx with a title and heading styles splits like the Markdown corpus."""
        import docx

        document = docx.Document()
        document.add_heading("中华人民共和国测试法", level=0)
        document.add_heading("第一章 总则", level=1)
        document.add_paragraph("第一条 为了测试，制定本法。")
        document.add_paragraph("第二条 第二条内容。")
        path = tmp_path / "测试法.docx"
        document.save(str(path))
        doc = parse_document(read_text(path), "laws/测试法.docx")
        assert doc.law == "测试法"
        assert [(r.chapter, r.article) for r in doc.records] == [("第一章 总则", "第一条"), ("第一章 总则", "第二条")]

    def test_html_paragraphs_are_split_into_articles(self, tmp_path: Path) -> None:
        """An HTML page's h1/h2/p become title, chapter and articles."""
        path = tmp_path / "law.html"
        path.write_text(
            "<html><head><script>x()</script></head><body><h1>测试条例</h1><h2>第一章 总则</h2>"
            "<p>第一条 甲。</p><p>第二条 乙。</p></body></html>",
            encoding="utf-8",
        )
        doc = parse_document(read_text(path), "laws/law.html")
        assert doc.title == "测试条例"
        assert [r.text for r in doc.records] == ["第一条 甲。", "第二条 乙。"]

    def test_a_corrupted_pdf_raises_a_clear_error(self, tmp_path: Path) -> None:
        """Bytes that are not a PDF give a SourceError naming the problem."""
        path = tmp_path / "broken.pdf"
        path.write_bytes(b"%PDF-1.4 garbage")
        with pytest.raises(SourceError, match="pdf"):
            read_text(path)

    def test_unsupported_types_are_refused(self, tmp_path: Path) -> None:
        """Only the known formats are read."""
        path = tmp_path / "law.xls"
        path.write_bytes(b"")
        with pytest.raises(SourceError, match="unsupported"):
            read_text(path)
