"""Linked articles: found by exact reference in the knowledge base's records, quoted with their version."""

from __future__ import annotations

from pathlib import Path

import pytest

from broadcasts.articles import ArticleError, ArticleIndex, ArticleQuote, bundled_records, load_index, resolve
from core.settings import Settings
from ingest.pipeline import RecordStore, StoredDocument
from ingest.statutes import Record


@pytest.fixture(scope="module")
def index() -> ArticleIndex:
    """The bundled statutes."""
    return ArticleIndex(bundled_records())


class TestLookup:
    @pytest.mark.parametrize(
        "reference",
        ["刑事诉讼法:第七十九条", "刑事诉讼法：第79条", "刑诉法第79条", "刑诉法 79", "《中华人民共和国刑事诉讼法》第七十九条"],
    )
    def test_every_way_of_naming_an_article_finds_it(self, index: ArticleIndex, reference: str) -> None:
        """The command line's form, abbreviations, Arabic numbers and full titles all name 刑诉法第七十九条."""
        found, missing = index.find(reference)
        assert [(q.law, q.article, q.version) for q in found] == [("刑事诉讼法", "第七十九条", "2018-10-26")]
        assert missing == []

    def test_several_references_at_once_and_the_ones_not_found(self, index: ArticleIndex) -> None:
        """A list is split on commas; what names no article is returned for the officer to check."""
        found, missing = index.find("刑诉法第79条，治安法第83条、刑法:第九千条")
        assert [q.label for q in found] == ["《刑事诉讼法》第七十九条", "《治安管理处罚法》第八十三条"]
        assert (found[1].version, found[1].superseded_by) == ("2025-06-27", None)  # the text in force
        assert missing == ["刑法:第九千条"]

    def test_sub_articles(self, index: ArticleIndex) -> None:
        """第二百五十三条之一 is an article of its own."""
        quote = index.get("刑法", "第二百五十三条之一")
        assert quote is not None and quote.text.startswith("第二百五十三条之一")

    def test_resolve_refuses_a_reference_that_names_nothing(self, index: ArticleIndex) -> None:
        """The command line stops on an unknown article instead of sending the tip without it."""
        with pytest.raises(ArticleError, match="刑事诉讼法:第九百条"):
            resolve(index, ["刑事诉讼法:第七十九条", "刑事诉讼法:第九百条"])
        with pytest.raises(ArticleError):
            resolve(index, ["刑法:第一条", "刑法:第二条", "刑法:第三条", "刑法:第四条", "刑法:第五条", "刑法:第六条"])

    def test_a_quote_survives_storage(self) -> None:
        """Stored with the broadcast as JSON and read back unchanged."""
        quote = ArticleQuote(law="刑法", article="第一条", version="2023-12-29", text="第一条 ……", superseded_by="新法")
        assert ArticleQuote.from_json(quote.to_json()) == quote


class TestIndexSource:
    def test_the_knowledge_bases_records_are_preferred_to_the_bundled_files(self, settings: Settings) -> None:
        """Once the knowledge base has ingested, its records (with any law added since) are the source."""
        assert load_index(settings).get("刑事诉讼法", "第七十九条") is not None  # nothing ingested: bundled
        record = Record(
            record_id="x1", kind="statute", title="某某条例", law="某某条例", article="第一条", chapter="",
            version="2026-01-01", source="curated:x.md", text="第一条 测试。", content_hash="h",
        )
        path = Path(settings.data_dir) / "kb" / "records.json"
        path.parent.mkdir(parents=True)
        store = RecordStore(path)
        store.documents["curated:x.md"] = StoredDocument(
            source="curated:x.md", file_hash="h", title="某某条例", law="某某条例", kind="statute",
            version="2026-01-01", superseded_by=None, records=[record],
        )
        store.save()
        index = load_index(settings)
        assert index.get("某某条例", "第1条") == ArticleQuote.of(record)
        assert index.get("刑事诉讼法", "第七十九条") is None
