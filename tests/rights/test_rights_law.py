"""The law quoted for each type of application comes from the bundled corpus by exact reference."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rights.law import LAWS_FILE, LawError, law_for, load_mapping, plain_references, quote, render_law
from rights.vocab import TYPES

INTERPRETATION = "最高人民法院、最高人民检察院关于办理袭警刑事案件适用法律若干问题的解释"


class TestMapping:
    def test_every_reference_resolves_in_the_bundled_corpus(self) -> None:
        """Each law and article in laws.yaml is found in knowledge/corpus, with a version, for every type."""
        raw = yaml.safe_load(LAWS_FILE.read_text("utf-8"))
        mapping = load_mapping()
        assert set(raw) == set(TYPES) == set(mapping)
        for type_code, entry in raw.items():
            quotes = mapping[type_code].quotes
            assert len(quotes) == len(entry["refs"]) > 0, type_code
            for ref, found in zip(entry["refs"], quotes, strict=True):
                assert (found.law, found.article) == (ref["law"], ref["article"])
                assert found.version and found.text.strip()
            assert set(mapping[type_code].notes) == {"zh", "en"}

    def test_an_assault_quotes_article_277_and_the_2025_interpretation_with_its_limits(self) -> None:
        """刑法第二百七十七条 (paragraphs 1 and 5) and 解释第一条、第八条; the note says an auxiliary officer is
        妨害公务, not 袭警."""
        found = law_for("assault")
        refs = [(q.law, q.reference) for q in found.quotes]
        assert refs == [
            ("刑法", "第二百七十七条第一款、第五款"),
            (INTERPRETATION, "第一条"),
            (INTERPRETATION, "第八条"),
        ]
        article_277 = found.quotes[0]
        assert article_277.text.startswith("第二百七十七条 以暴力、威胁方法阻碍国家机关工作人员")
        assert "……\n暴力袭击正在依法执行职务的人民警察的" in article_277.text
        assert "红十字会" not in article_277.text  # paragraph 3 is left out
        assert found.quotes[1].version == "2025-01-15"
        assert "警务辅助人员的，不构成袭警罪" in found.quotes[2].text
        assert "辅警" in found.notes["zh"] and "妨害公务" in found.notes["zh"]
        assert "auxiliary" in found.notes["en"]

    def test_an_insult_quotes_article_246_with_its_private_prosecution_note(self) -> None:
        """第二百四十六条 with 告诉的才处理; the note explains the private prosecution."""
        found = law_for("insult")
        assert found.quotes[0].reference == "第二百四十六条"
        assert "告诉的才处理" in found.quotes[0].text
        assert "自诉" in found.notes["zh"] and "private prosecution" in found.notes["en"]

    def test_a_false_accusation_quotes_article_243(self) -> None:
        """诬告陷害: 刑法第二百四十三条 first."""
        assert plain_references("false_accusation")[0] == "《刑法》第二百四十三条（2023-12-29）"

    def test_public_order_articles_come_from_the_text_in_force(self) -> None:
        """治安管理处罚法 is quoted from the 2025 text (第五十条, threats), not the superseded 2012 one."""
        found = next(q for q in law_for("threat").quotes if q.law == "治安管理处罚法")
        assert (found.article, found.version, found.superseded_by) == ("第五十条", "2025-06-27", None)
        assert "威胁他人人身安全" in found.text
        assert "已被" not in render_law("threat", "zh")

    def test_a_reference_the_corpus_lacks_is_an_error_not_a_made_up_text(self, tmp_path: Path) -> None:
        """The 2019 公安机关维护民警执法权威工作规定 is not in the corpus: naming it fails loudly."""
        with pytest.raises(LawError):
            quote("公安机关维护民警执法权威工作规定", "第一条")
        with pytest.raises(LawError):
            quote("刑法", "第九百九十九条")
        with pytest.raises(LawError):
            quote("刑法", "第二百四十三条", (7,))
        bad = tmp_path / "laws.yaml"
        bad.write_text("assault:\n  refs:\n    - law: 不存在的法\n      article: 第一条\n", "utf-8")
        with pytest.raises(LawError):
            load_mapping(bad)


class TestRendering:
    def test_the_law_is_rendered_with_law_number_and_version_in_each_language(self) -> None:
        """Chinese: 《刑法》第二百七十七条第一款、第五款（2023-12-29版）; English keeps the Chinese citation."""
        zh = render_law("assault", "zh")
        assert "《刑法》第二百七十七条第一款、第五款（2023-12-29版）" in zh
        assert "<blockquote>" in zh and "适用的法律规定" in zh
        en = render_law("assault", "en")
        assert "《刑法》第二百七十七条第一款、第五款 (2023-12-29 version)" in en
        assert "The law that applies" in en
        assert render_law("unknown", "zh") == ""
