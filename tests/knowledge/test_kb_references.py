"""Exact article references in every form officers write them."""

from __future__ import annotations

import pytest

from ingest.numerals import cn_to_int, int_to_cn
from knowledge.references import ABBREVIATIONS, LawNames, find_article_refs

NAMES = LawNames(["刑事诉讼法", "治安管理处罚法", "人民警察法", "行政诉讼法", "刑法",
                  "最高人民法院关于适用《刑事诉讼法》的解释"])


class TestNumerals:
    @pytest.mark.parametrize(
        ("text", "number"),
        [("十", 10), ("十七", 17), ("七十九", 79), ("一百", 100), ("一百零三", 103), ("二百五十三", 253),
         ("一千零一", 1001), ("二百七十七", 277)],
    )
    def test_reads_and_writes_article_numbers_as_statutes_do(self, text: str, number: int) -> None:
        """Chinese numerals round-trip exactly as written in article numbers."""
        assert cn_to_int(text) == number
        assert int_to_cn(number) == text


class TestArticleReferences:
    @pytest.mark.parametrize(
        ("query", "law", "article"),
        [
            ("刑诉法第79条", "刑事诉讼法", "第七十九条"),
            ("刑事诉讼法第七十九条", "刑事诉讼法", "第七十九条"),
            ("《中华人民共和国刑事诉讼法》第七十九条", "刑事诉讼法", "第七十九条"),
            ("治安法83条", "治安管理处罚法", "第八十三条"),
            ("治安管理处罚法 第 83 条", "治安管理处罚法", "第八十三条"),
            ("人警法第五条", "人民警察法", "第五条"),
            ("行诉法第１２条", "行政诉讼法", "第十二条"),
            ("刑诉解释第一百条", "最高人民法院关于适用《刑事诉讼法》的解释", "第一百条"),
            ("刑法第二百五十三条之一", "刑法", "第二百五十三条之一"),
            ("刑法253条之1", "刑法", "第二百五十三条之一"),
        ],
    )
    def test_binds_the_law_name_to_the_article(self, query: str, law: str, article: str) -> None:
        """Abbreviation, full title, Arabic or Chinese numbers and 之一 all resolve."""
        refs = find_article_refs(query, NAMES)
        assert [(r.law, r.article) for r in refs] == [(law, article)]

    def test_an_article_without_a_law_is_found_unbound(self) -> None:
        """"第二百五十三条之一" alone is a reference whose law is to be resolved by lookup."""
        assert [(r.law, r.article) for r in find_article_refs("第二百五十三条之一", NAMES)] == [
            (None, "第二百五十三条之一")
        ]

    def test_a_list_of_articles_continues_the_named_law(self) -> None:
        """"《刑法》第二百七十七条第五款、第二百三十四条" cites two 刑法 articles."""
        refs = find_article_refs("（《刑法》第二百七十七条第五款、第二百三十四条）", NAMES)
        assert [(r.law, r.article) for r in refs] == [("刑法", "第二百七十七条"), ("刑法", "第二百三十四条")]

    def test_numbers_without_an_article_marker_are_not_references(self) -> None:
        """Durations like "3天" or "12个月" are not article references."""
        assert find_article_refs("拘留后3天内报捕，取保12个月", NAMES) == []

    def test_abbreviation_table_only_names_known_instruments(self) -> None:
        """Every abbreviation maps to an instrument of the bundled corpus."""
        from pathlib import Path

        from ingest.statutes import short_law_name

        bundled = {
            short_law_name(p.stem)
            for p in (Path(__file__).parents[2] / "knowledge" / "corpus" / "laws").glob("*.md")
        }
        assert set(ABBREVIATIONS) <= bundled
