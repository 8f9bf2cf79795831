"""Articles by exact reference, without search: the text in force, the year a citation names, citations of rules."""

from __future__ import annotations

from datetime import date

import pytest

from knowledge.articles import ArticleIndex, bundled_index


@pytest.fixture(scope="module")
def index() -> ArticleIndex:
    """The bundled statutes with the bundled supersession marks."""
    return bundled_index()


class TestTextInForce:
    def test_a_renumbered_law_is_quoted_from_the_text_in_force(self, index: ArticleIndex) -> None:
        """治安法第97条 today is the 2025 询问查证 article; the 2025 text was not in force in 2025."""
        today = index.get("治安法", "第97条", on=date(2026, 3, 1))
        assert today is not None and (today.version, today.superseded_by) == ("2025-06-27", None)
        assert "询问查证" in today.text

    def test_conduct_before_the_revision_is_quoted_from_the_old_text_marked_superseded(self, index: ArticleIndex) -> None:
        """On 2025-12-01 the 2012 text applied: 第八十三条 was 询问查证 then, and is marked superseded from 2026-01-01."""
        old = index.get("治安管理处罚法", "第八十三条", on=date(2025, 12, 1))
        assert old is not None and old.version == "2012-10-26"
        assert old.superseded_by and old.superseded_from == "2026-01-01"
        assert "询问查证" in old.text


class TestCitations:
    def test_a_rule_citation_with_a_text_year_and_a_list_of_articles(self, index: ArticleIndex) -> None:
        """（2025年版） picks that text; 、第一百二十条 continues the same law; ； starts the next one."""
        found = index.cited("治安管理处罚法（2025年版）第一百一十八条、第一百二十条；刑事诉讼法第八十五条第二款、第八十六条")
        assert [(q.law, q.article, q.version) for q in found] == [
            ("治安管理处罚法", "第一百一十八条", "2025-06-27"),
            ("治安管理处罚法", "第一百二十条", "2025-06-27"),
            ("刑事诉讼法", "第八十五条", "2018-10-26"),
            ("刑事诉讼法", "第八十六条", "2018-10-26"),
        ]
        assert all(q.text.startswith(q.article) for q in found)

    def test_an_article_not_bundled_is_named_without_text(self, index: ArticleIndex) -> None:
        """A law the corpus lacks gives the citation with an empty text (a page says so)."""
        [found] = index.cited("某某条例第三条")
        assert (found.law, found.article, found.text) == ("某某条例", "第三条", "")
