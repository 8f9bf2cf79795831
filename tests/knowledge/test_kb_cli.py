"""``frontline kb``: the JSON contracts, stdin batch search, one-line errors."""

from __future__ import annotations

import json

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
