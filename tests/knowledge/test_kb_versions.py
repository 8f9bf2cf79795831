"""Two texts of one law: the one in force on the day asked answers, the old one only when asked about."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from kb_fakes import HashEmbeddings

from core.settings import Settings
from ingest.pipeline import RecordStore
from ingest.statutes import Record, parse_document
from knowledge.service import KnowledgeBase, KnowledgeError
from knowledge.versions import (
    SupersessionsError,
    applied_day,
    counterpart,
    in_force_on,
    load_supersessions,
    without_dates,
)

NEW_LAW = """# 中华人民共和国治安管理处罚法

<!-- INFO END -->

## 第三章 违反治安管理的行为和处罚

第五十一条 殴打他人的，或者故意伤害他人身体的，处五日以上十日以下拘留，并处五百元以上一千元以下罚款；情节较轻的，处五日以下拘留或者一千元以下罚款。

第八十三条 有下列行为之一的，处十日以上十五日以下拘留，可以并处五千元以下罚款：
（一）非法种植罂粟不满五百株或者其他少量毒品原植物的；
（二）非法运输、买卖、储存、使用少量罂粟壳的。

## 第四章 处罚程序

第九十七条 对违反治安管理行为人，公安机关传唤后应当及时询问查证，询问查证的时间不得超过八小时；涉案人数众多、违反治安管理行为人身份不明的，询问查证的时间不得超过十二小时；情况复杂，依照本法规定可能适用行政拘留处罚的，询问查证的时间不得超过二十四小时。

公安机关应当及时将传唤的原因和处所通知被传唤人家属。
"""
MARKS = """治安管理处罚法:
  - version: 2012-10-26
    by: 治安管理处罚法（2025年修订，2026年1月1日起施行）
    by_version: 2025-06-27
    from: 2026-01-01
"""
TRANSITION = date(2026, 1, 1)
TODAY = date(2026, 11, 29)


@pytest.fixture
def versioned(settings: Settings, corpus_dir: Path, tmp_path: Path) -> KnowledgeBase:
    """The small corpus with the 2025 text beside the 2012 one, superseded per version from 2026-01-01."""
    (corpus_dir / "laws" / "治安管理处罚法(2025-06-27).md").write_text(NEW_LAW, encoding="utf-8")
    (corpus_dir / "supersessions.yaml").write_text(MARKS, encoding="utf-8")
    return KnowledgeBase.open(
        settings, embeddings=HashEmbeddings(), corpus_dir=corpus_dir, precomputed=tmp_path / "none.npz"
    )


def _record(text: str, *, version: str = "2012-10-26", **validity: str | None) -> Record:
    record = parse_document(f"# 测试法\n\n{text}\n", f"laws/测试法({version}).md").records[0]
    return record.with_validity(
        superseded_by=validity.get("superseded_by"),
        superseded_from=validity.get("superseded_from"),
        in_force_from=validity.get("in_force_from"),
    )


class TestSupersessionsFile:
    def test_marks_are_read_per_version_with_their_day(self, tmp_path: Path) -> None:
        """Each entry marks one version, names its replacement and the day it took effect."""
        path = tmp_path / "supersessions.yaml"
        path.write_text(MARKS, encoding="utf-8")
        mark = load_supersessions(path)["治安管理处罚法@2012-10-26"]
        assert (mark.from_day, mark.by_version) == ("2026-01-01", "2025-06-27")

    def test_a_bare_label_marks_every_version(self, tmp_path: Path) -> None:
        """The older form, law: label, still reads as a mark on the whole law."""
        path = tmp_path / "supersessions.yaml"
        path.write_text("刑法: 刑法（2099年修正）\n", encoding="utf-8")
        assert load_supersessions(path)["刑法"].by == "刑法（2099年修正）"

    def test_a_bad_day_names_the_entry(self, tmp_path: Path) -> None:
        """A from-day that is not a date is refused with the law's name."""
        path = tmp_path / "supersessions.yaml"
        path.write_text(MARKS.replace("2026-01-01", "明年元旦"), encoding="utf-8")
        with pytest.raises(SupersessionsError, match="治安管理处罚法"):
            load_supersessions(path)


class TestInForce:
    def test_the_old_text_applies_until_the_day_the_new_one_takes_effect(self) -> None:
        """Superseded from 2026-01-01: in force on 2025-12-31, not on 2026-01-01."""
        old = _record("第一条 旧文本。", superseded_by="新法", superseded_from="2026-01-01")
        assert in_force_on(old, date(2025, 12, 31))
        assert not in_force_on(old, TRANSITION)

    def test_the_new_text_applies_only_from_its_day(self) -> None:
        """Adopted in June 2025, in force from 2026-01-01."""
        new = _record("第一条 新文本。", version="2025-06-27", in_force_from="2026-01-01")
        assert not in_force_on(new, date(2025, 12, 31))
        assert in_force_on(new, TRANSITION)

    def test_a_mark_without_a_day_means_superseded_already(self) -> None:
        """Superseded with no day: not in force on any day."""
        assert not in_force_on(_record("第一条 文本。", superseded_by="新法"), date(2000, 1, 1))


class TestTheDayAQuestionConcerns:
    @pytest.mark.parametrize(
        ("question", "day", "reason"),
        [
            ("询问查证最长多久？", TODAY, "today"),
            ("旧法规定询问查证最长多久？", date(2025, 12, 31), "old_law"),
            ("修订前的治安管理处罚法怎么规定的？", date(2025, 12, 31), "old_law"),
            ("2025年12月发生的殴打他人怎么处罚？", date(2025, 12, 31), "conduct"),
            ("2025年3月5日的行为适用哪个法？", date(2025, 3, 5), "conduct"),
            ("去年打架的事现在还罚吗？", date(2025, 12, 31), "conduct"),
            ("2026年2月打架怎么处罚？", TODAY, "today"),
            ("罚款2000元以上要听证吗？", TODAY, "today"),
            ("What did the old law say about questioning?", date(2025, 12, 31), "old_law"),
            ("A fight in December 2025: what penalty?", date(2025, 12, 31), "conduct"),
        ],
    )
    def test_questions_about_earlier_conduct_or_the_old_text_get_that_day(
        self, question: str, day: date, reason: str
    ) -> None:
        """The law in force on the day asked, unless the question names an earlier day or the old text."""
        applied = applied_day(question, TODAY, [TRANSITION])
        assert (applied.day, applied.reason) == (day, reason)

    def test_without_a_revision_every_question_is_about_today(self) -> None:
        """No law changed: the day named does not matter."""
        assert applied_day("2020年的事", TODAY, []).day == TODAY

    def test_dates_are_taken_out_of_what_is_searched(self) -> None:
        """The day decides the law; the rest is what to look for."""
        assert without_dates("2025年12月发生的殴打他人，怎么处罚？") == "殴打他人，怎么处罚？"


class TestRenumbering:
    def test_the_counterpart_is_the_article_carrying_the_same_content(self) -> None:
        """询问查证 was 第八十三条 and is 第九十七条: found by the overlap of the texts."""
        store = parse_document(NEW_LAW, "laws/治安管理处罚法(2025-06-27).md").records
        old = _record("第八十三条 对违反治安管理行为人，公安机关传唤后应当及时询问查证，询问查证的时间不得超过八小时。")
        found = counterpart(old, store)
        assert found is not None and found.article == "第九十七条"

    def test_nothing_is_returned_when_no_article_carries_it(self) -> None:
        """An old article on another subject has no counterpart."""
        store = parse_document(NEW_LAW, "laws/治安管理处罚法(2025-06-27).md").records
        assert counterpart(_record("第二十条 乘坐航空器的旅客应当遵守安全检查规定。"), store) is None


class TestRecordStoreMarks:
    def _store(self, tmp_path: Path) -> RecordStore:
        from ingest.pipeline import ingest

        laws = tmp_path / "laws"
        laws.mkdir()
        (laws / "治安管理处罚法(2012-10-26).md").write_text(
            "# 中华人民共和国治安管理处罚法\n\n第八十三条 旧文本。\n", encoding="utf-8"
        )
        (laws / "治安管理处罚法(2025-06-27).md").write_text(NEW_LAW, encoding="utf-8")

        class _Sink:
            def upsert(self, records: object) -> None: ...
            def delete(self, record_ids: object) -> None: ...

        store = RecordStore(tmp_path / "records.json")
        ingest([laws], store, _Sink())
        return store

    def test_superseding_a_law_with_two_versions_marks_only_the_older(self, tmp_path: Path) -> None:
        """With no version named, all but the newest are marked and the newest starts on the day given."""
        store = self._store(tmp_path)
        store.set_superseded("治安管理处罚法", "2025年修订", from_day="2026-01-01")
        by_version = {r.version: r for r in store.records()}
        assert by_version["2012-10-26"].superseded_by == "2025年修订"
        assert by_version["2012-10-26"].superseded_from == "2026-01-01"
        assert by_version["2025-06-27"].superseded_by is None
        assert by_version["2025-06-27"].in_force_from == "2026-01-01"

    def test_clearing_the_mark_puts_both_texts_back_in_force(self, tmp_path: Path) -> None:
        """Clearing removes the old text's mark and the new text's starting day."""
        store = self._store(tmp_path)
        store.set_superseded("治安管理处罚法", "2025年修订", from_day="2026-01-01")
        store.set_superseded("治安管理处罚法", None)
        assert all(r.superseded_by is None and r.in_force_from is None for r in store.records())

    def test_marks_survive_a_reload(self, tmp_path: Path) -> None:
        """The store keeps its marks on disk."""
        store = self._store(tmp_path)
        store.set_superseded("治安管理处罚法", "2025年修订", version="2012-10-26", from_day="2026-01-01")
        store.save()
        again = RecordStore(tmp_path / "records.json")
        assert again.supersessions["治安管理处罚法@2012-10-26"].from_day == "2026-01-01"


class TestAnswersFromTheLawInForce:
    def test_today_a_question_is_answered_from_the_new_text(self, versioned: KnowledgeBase) -> None:
        """After 2026-01-01 询问查证 is answered from 2025 第九十七条, which has the 12-hour tier."""
        answer = versioned.ask("治安案件传唤后询问查证的时间最长多久？", as_of=TODAY)
        top = next(c for c in answer.citations if c.kind == "statute")
        assert (top.article, top.version) == ("第九十七条", "2025-06-27")
        assert all(c.version != "2012-10-26" for c in answer.citations)

    def test_before_the_new_text_took_effect_the_old_one_answers(self, versioned: KnowledgeBase) -> None:
        """Asked on 2025-12-01, the 2012 text is the law in force."""
        answer = versioned.ask("治安案件传唤后询问查证的时间最长多久？", as_of=date(2025, 12, 1))
        top = next(c for c in answer.citations if c.kind == "statute")
        assert (top.article, top.version) == ("第八十三条", "2012-10-26")

    def test_asking_about_the_old_law_quotes_it_marked_superseded_with_the_current_text(
        self, versioned: KnowledgeBase
    ) -> None:
        """旧法: the 2012 article, its superseded day, and the article in force today on the same subject."""
        answer = versioned.ask("旧的治安管理处罚法规定传唤后询问查证的时间最长多久？", as_of=TODAY)
        assert answer.grounded
        old = answer.citations[0]
        assert (old.article, old.version, old.superseded_from) == ("第八十三条", "2012-10-26", "2026-01-01")
        assert "2026-01-01" in answer.answer
        assert ("第九十七条", "2025-06-27") in [(c.article, c.version) for c in answer.citations]
        assert any("第九十七条" in note for note in answer.notes)

    def test_an_exact_reference_resolves_to_the_text_in_force_and_says_what_it_was(
        self, versioned: KnowledgeBase
    ) -> None:
        """治安法第83条 today is the 2025 article (罂粟), with a note that 2012's 第八十三条 is now 第九十七条."""
        answer = versioned.ask("治安法第83条", as_of=TODAY)
        assert (answer.citations[0].version, answer.citations[0].article) == ("2025-06-27", "第八十三条")
        assert "罂粟" in answer.lead
        assert any("2012-10-26" in note and "第九十七条" in note for note in answer.notes)

    def test_search_lists_the_text_in_force_first_and_tells_the_versions_apart(
        self, versioned: KnowledgeBase
    ) -> None:
        """kb search keeps both texts (its version field tells them apart), the one in force first."""
        hits = versioned.search("治安法第83条", as_of=TODAY)
        assert [(c.article, c.version) for c, _s in hits[:2]] == [
            ("第八十三条", "2025-06-27"),
            ("第八十三条", "2012-10-26"),
        ]
        in_force = versioned.search("治安法第83条", as_of=TODAY, in_force_only=True)
        assert {c.version for c, _s in in_force} == {"2025-06-27"}

    def test_an_unknown_version_is_refused(self, versioned: KnowledgeBase) -> None:
        """Superseding a version that was never ingested names it."""
        with pytest.raises(KnowledgeError, match="2013-01-01"):
            versioned.supersede("治安管理处罚法", "新法", version="2013-01-01")
