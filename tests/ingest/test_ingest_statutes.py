"""Structure-aware splitting of statutes and guidance."""

from __future__ import annotations

import pytest

from ingest.statutes import ParseError, parse_document, short_law_name

STATUTE = """# 中华人民共和国测试法

2012年10月26日 第十一届全国人民代表大会常务委员会第二十九次会议通过

第一条 这一行在标记之前，是前言，不是条文。

<!-- INFO END -->

## 第一编 总则

### 第一章 任务

第一条 为了测试，制定本法。

第二条 有下列情形之一的，可以处理：

（一）第一项；

（二）第二项。

前款规定的情形，第二款继续。

#### 第一节 细则

第二条之一 新增的条文。

## 附件一

1．附件里的清单不是条文
"""


class TestStatuteSplitting:
    def test_preamble_is_not_an_article(self) -> None:
        """Text before <!-- INFO END --> (even a line starting 第一条) yields no record."""
        doc = parse_document(STATUTE, "laws/测试法(2012-10-26).md")
        assert [r.article for r in doc.records] == ["第一条", "第二条", "第二条之一"]
        assert doc.records[0].text == "第一条 为了测试，制定本法。"

    def test_paragraphs_and_items_stay_inside_their_article(self) -> None:
        """款 and 项 lines continue the article until the next 第X条."""
        doc = parse_document(STATUTE, "laws/测试法(2012-10-26).md")
        second = doc.records[1].text.splitlines()
        assert second == ["第二条 有下列情形之一的，可以处理：", "（一）第一项；", "（二）第二项。", "前款规定的情形，第二款继续。"]

    def test_chapter_path_follows_parts_chapters_and_sections(self) -> None:
        """编/章/节 headings build the chapter path; a new 编 resets the lower levels."""
        doc = parse_document(STATUTE, "laws/测试法(2012-10-26).md")
        assert doc.records[0].chapter == "第一编 总则 / 第一章 任务"
        assert doc.records[2].chapter == "第一编 总则 / 第一章 任务 / 第一节 细则"

    def test_title_law_name_and_version_come_from_heading_and_file_name(self) -> None:
        """The short name drops 中华人民共和国; the version is the date in the file name."""
        doc = parse_document(STATUTE, "laws/测试法(2012-10-26).md")
        record = doc.records[0]
        assert (record.title, record.law, record.version, record.kind) == (
            "中华人民共和国测试法", "测试法", "2012-10-26", "statute"
        )
        assert len(record.record_id) <= 24 and record.record_id.isascii()

    def test_version_falls_back_to_the_latest_date_of_the_preamble(self) -> None:
        """A file name without a date takes the newest date mentioned before INFO END."""
        doc = parse_document(STATUTE, "laws/测试法.md")
        assert doc.version == "2012-10-26"

    def test_front_matter_marks_an_instrument_superseded(self) -> None:
        """superseded_by in the front matter is carried by every record."""
        doc = parse_document("---\nsuperseded_by: 测试法（2025年修订）\n---\n" + STATUTE, "laws/测试法.md")
        assert {r.superseded_by for r in doc.records} == {"测试法（2025年修订）"}

    def test_a_text_without_articles_is_rejected_with_a_reason(self) -> None:
        """A statute with no 第X条 paragraphs is a parse error that says so."""
        with pytest.raises(ParseError, match="no articles"):
            parse_document("# 空文件\n\n只有一段话。", "laws/空.md")

    def test_record_ids_are_stable_across_parses(self) -> None:
        """Parsing the same text twice gives the same ids and hashes."""
        first = parse_document(STATUTE, "laws/测试法.md")
        second = parse_document(STATUTE, "laws/测试法.md")
        assert [(r.record_id, r.content_hash) for r in first.records] == [
            (r.record_id, r.content_hash) for r in second.records
        ]


class TestShortNames:
    @pytest.mark.parametrize(
        ("title", "short"),
        [
            ("中华人民共和国刑事诉讼法", "刑事诉讼法"),
            ("刑事诉讼法(2018-10-26)", "刑事诉讼法"),
            ("最高人民法院关于适用《中华人民共和国刑事诉讼法》的解释", "最高人民法院关于适用《刑事诉讼法》的解释"),
        ],
    )
    def test_drops_prefix_and_date_suffix(self, title: str, short: str) -> None:
        """Short law names carry neither 中华人民共和国 nor the version date."""
        assert short_law_name(title) == short


class TestGuidanceSplitting:
    def test_each_lowest_heading_becomes_a_record_with_its_parent_as_chapter(self) -> None:
        """Guidance splits by headings; the parent heading is the chapter path."""
        text = "# 执法风险提示\n\n## 取保候审\n\n### 期限\n\n最长十二个月。\n\n### 保证金\n\n依法确定。\n"
        doc = parse_document(text, "guidance/执法风险提示.md")
        assert doc.kind == "guidance"
        assert [(r.chapter, r.article, r.text) for r in doc.records] == [
            ("取保候审", "期限", "最长十二个月。"),
            ("取保候审", "保证金", "依法确定。"),
        ]
