"""``frontline kb``: the JSON contracts, stdin batch search, one-line errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from knowledge import commands
from knowledge.service import KnowledgeBase

runner = CliRunner()


@pytest.fixture
def cli_kb(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> KnowledgeBase:
    """Makes the commands use the small test knowledge base."""
    monkeypatch.setattr(commands, "_open", lambda settings=None: kb)
    return kb


class TestSearchCommand:
    def test_json_output_follows_the_evaluation_contract(self, cli_kb: KnowledgeBase) -> None:
        """Hits carry law without prefix or date, the article as written, version, text and score."""
        result = runner.invoke(commands.app, ["search", "刑诉法第79条", "--top-k", "3", "--json"])
        assert result.exit_code == 0, result.output
        payload = json.loads(result.output)
        assert payload["query"] == "刑诉法第79条"
        first = payload["hits"][0]
        assert (first["law"], first["article"], first["version"]) == ("刑事诉讼法", "第七十九条", "2018-10-26")
        assert first["text"].startswith("第七十九条")
        assert set(first) == {"law", "article", "version", "text", "score"}
        assert len(payload["hits"]) <= 3

    def test_dash_reads_one_query_per_line_and_prints_one_json_line_each(self, cli_kb: KnowledgeBase) -> None:
        """Batch mode answers every stdin line, skipping blank ones."""
        result = runner.invoke(
            commands.app, ["search", "-", "--json"], input="治安法83条\n\n第二百五十三条之一\n"
        )
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in result.output.splitlines()]
        assert [line["hits"][0]["article"] for line in lines] == ["第八十三条", "第二百五十三条之一"]


class TestAskCommand:
    def test_json_answer_with_citations(self, cli_kb: KnowledgeBase) -> None:
        """A grounded answer lists its citations with law, article, version and text."""
        result = runner.invoke(commands.app, ["ask", "暴力袭击正在依法执行职务的人民警察怎么处罚", "--json"])
        payload = json.loads(result.output)
        assert payload["grounded"] is True
        assert payload["citations"][0]["article"] == "第二百七十七条"
        assert set(payload["citations"][0]) == {"law", "article", "version", "text"}

    def test_unanswerable_question_says_how_to_refer_it(self, cli_kb: KnowledgeBase) -> None:
        """No basis: grounded false, no citations, and the text explains the referral."""
        result = runner.invoke(commands.app, ["ask", "how do I bake bread", "--json"])
        payload = json.loads(result.output)
        assert (payload["grounded"], payload["citations"]) == (False, [])
        assert "法制大队" in payload["answer"]


class TestLikelyAnswerCommand:
    @pytest.mark.slow
    def test_a_likely_answer_keeps_its_source_and_says_it_is_not_confirmed(
        self, bundled_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """On the bundled knowledge: likely (not grounded), its source quoted, marked, with the referral hint."""
        monkeypatch.setattr(commands, "_open", lambda settings=None: bundled_kb)
        question = "What is the maximum period of criminal detention?"
        result = runner.invoke(
            commands.app, ["ask", question, "--json", "--language", "en", "--as-of", "2026-11-29"]
        )
        assert result.exit_code == 0, result.output
        payload = json.loads(result.output)
        assert (payload["grounded"], payload["likely"]) == (False, True)
        assert (payload["citations"][0]["law"], payload["citations"][0]["article"]) == ("刑法", "第四十二条")
        assert payload["answer"].startswith("⚠ Not confirmed") and "legal brigade" in payload["answer"]


class TestErrors:
    def test_missing_path_is_one_line_and_a_failing_exit(self) -> None:
        """A path that does not exist fails before anything opens, without a traceback."""
        result = runner.invoke(commands.app, ["ingest", "/nonexistent/法.md"])
        assert result.exit_code == 1
        assert "no such file or folder" in result.output
        assert "Traceback" not in result.output

    def test_supersede_without_by_is_refused(self) -> None:
        """supersede needs --by (or --clear)."""
        result = runner.invoke(commands.app, ["supersede", "治安管理处罚法"])
        assert result.exit_code == 1
        assert "--by" in result.output

    def test_unknown_instrument_is_one_clear_line(self, cli_kb: KnowledgeBase) -> None:
        """Superseding an instrument the KB does not have names it."""
        result = runner.invoke(commands.app, ["supersede", "不存在的法", "--by", "新法"])
        assert result.exit_code == 1
        assert "不存在的法" in result.output


def _broken_pdf(path: Path) -> Path:
    """A one-page PDF whose cross-reference offset is wrong: pypdf repairs it and warns."""
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(100, 100)
    buffer = io.BytesIO()
    writer.write(buffer)
    path.write_bytes(buffer.getvalue().replace(b"startxref\n", b"startxref\n9"))
    return path


class TestIngestCommand:
    def test_a_file_that_fails_exits_non_zero_with_the_reason_on_stderr(
        self, cli_kb: KnowledgeBase, tmp_path: Path
    ) -> None:
        """One bad file among good ones: the rest ingests, the failure is on stderr and the exit is 1."""
        good = tmp_path / "法规.md"
        good.write_text("# 测试条例\n\n第一条 为了测试，制定本条例。\n", encoding="utf-8")
        bad = tmp_path / "空白.md"
        bad.write_text("没有条文的文字。\n", encoding="utf-8")
        result = runner.invoke(commands.app, ["ingest", str(tmp_path)])
        assert result.exit_code == 1
        assert "added 1" in result.stdout and "failed 1" in result.stdout
        assert "空白.md" in result.stderr and "no articles found" in result.stderr
        assert "空白.md" not in result.stdout
        assert len(result.stderr.splitlines()) == 1  # the failure, and no second line for the exit

    def test_all_good_files_exit_zero(self, cli_kb: KnowledgeBase, tmp_path: Path) -> None:
        """Nothing failed: exit 0 and nothing on stderr."""
        (tmp_path / "法规.md").write_text("# 测试条例\n\n第一条 为了测试，制定本条例。\n", encoding="utf-8")
        result = runner.invoke(commands.app, ["ingest", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert result.stderr == ""

    def test_pdf_library_notes_do_not_leak(self, cli_kb: KnowledgeBase, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        """pypdf's warnings about a repairable file reach neither the console nor the log."""
        pdf = _broken_pdf(tmp_path / "扫描件.pdf")
        with caplog.at_level(logging.WARNING):
            result = runner.invoke(commands.app, ["ingest", str(pdf)])
        assert result.exit_code == 1  # a blank page has no text to ingest
        assert "no extractable text" in result.stderr
        assert "startxref" not in result.output + result.stderr
        assert not [r for r in caplog.records if r.name.startswith("pypdf")]


class TestEmptyQueries:
    @pytest.mark.parametrize("query", ["", "   "])
    def test_an_empty_search_is_a_polite_error(self, cli_kb: KnowledgeBase, query: str) -> None:
        """kb search "" says what to give, on stderr, and exits 1 (not "# " and 0)."""
        result = runner.invoke(commands.app, ["search", query])
        assert result.exit_code == 1
        assert result.stderr.splitlines() == [
            "frontline: the query is empty: give the words or the article to look for (or '-' to read queries from stdin)"
        ]
        assert result.stdout == ""

    def test_the_installed_command_prints_one_line_and_exits_1(self, tmp_path: Path) -> None:
        """The real entry point too: one line on stderr, no traceback, no second line for the exit."""
        import subprocess
        import sys

        result = subprocess.run(
            [sys.executable, "-c", "from cli import main; main()", "kb", "search", ""],
            capture_output=True, text=True, cwd=Path(__file__).parents[2], timeout=120,
            env={"PATH": "/usr/bin:/bin", "FRONTLINE_DATA_DIR": str(tmp_path)},
        )
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            "frontline: the query is empty: give the words or the article to look for (or '-' to read queries from stdin)"
        ]

    def test_a_bad_day_is_one_line(self, cli_kb: KnowledgeBase) -> None:
        """--as-of must be a date."""
        result = runner.invoke(commands.app, ["search", "询问查证", "--as-of", "昨天"])
        assert result.exit_code == 1
        assert "--as-of" in result.stderr
