"""The bundled statutory rules, each with its boundary dates, and the validation of edited rule files."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from reminders_helpers import TZ, local

from core.settings import Settings
from reminders.rules import RulesError, RuleSet, load_rules, parse_rules, rules_path

LAWS = Path(__file__).resolve().parents[2] / "knowledge" / "corpus" / "laws"


class TestBundledRules:
    def test_every_rule_cites_its_article(self, rules: RuleSet) -> None:
        """Each rule names the law and article the legal brigade checked."""
        cites = {r.id: r.cite.text() for r in rules.rules}
        assert cites["bail"] == "刑事诉讼法第七十九条"
        assert cites["residential_surveillance"] == "刑事诉讼法第七十九条"
        assert cites["detention_arrest_request"] == "刑事诉讼法第九十一条"
        assert cites["custody_after_arrest"] == "刑事诉讼法第一百五十六条"
        assert (
            cites["public_order_case"]
            == "治安管理处罚法第九十九条；公安机关办理行政案件程序规定第一百六十五条"
        )
        assert cites["criminal_summons"] == "刑事诉讼法第一百一十九条"
        assert cites["administrative_questioning"] == "治安管理处罚法第八十三条"
        assert cites["continued_questioning"] == "公安机关适用继续盘问规定第十一条"

    @pytest.mark.skipif(not LAWS.exists(), reason="the bundled statute corpus is not in this checkout yet")
    def test_cited_articles_exist_in_the_bundled_corpus(self, rules: RuleSet) -> None:
        """Every cited article is found, as a paragraph start, in the statute text the project ships."""
        for rule in rules.rules:
            files = [p for p in LAWS.glob("*.md") if p.name.split("(")[0] == rule.cite.law]
            assert files, rule.cite.law
            text = files[0].read_text(encoding="utf-8")
            assert f"\n{rule.cite.article} " in text, (rule.id, rule.cite.article)

    def test_bail_runs_twelve_months_month_end_to_month_end(self, rules: RuleSet) -> None:
        """取保候审 from 28 Feb 2025 (a month end) ends on 28 Feb 2026, an adjusted working Saturday."""
        bail = rules.get("bail")
        assert bail is not None
        assert bail.due(local(2025, 2, 28, 15), tz=TZ).date() == date(2026, 2, 28)

    def test_bail_ending_on_national_day_moves_to_the_next_working_day(self, rules: RuleSet) -> None:
        """Nobody is held on bail, so a last day of 1 Oct 2026 becomes 8 Oct."""
        bail = rules.get("bail")
        assert bail is not None
        assert bail.due(local(2025, 10, 1), tz=TZ).date() == date(2026, 10, 8)

    def test_residential_surveillance_runs_six_months(self, rules: RuleSet) -> None:
        """监视居住 from 31 Aug 2025 ends on 28 Feb 2026; from 1 Apr 2026 on 8 Oct (after National Day)."""
        rsl = rules.get("residential_surveillance")
        assert rsl is not None
        assert rsl.due(local(2025, 8, 31), tz=TZ).date() == date(2026, 2, 28)
        assert rsl.due(local(2026, 4, 1), tz=TZ).date() == date(2026, 10, 8)

    def test_arrest_request_is_due_three_days_after_detention_even_on_a_holiday(self, rules: RuleSet) -> None:
        """Detained on 28 Sep 2026: the request is due 1 Oct, a holiday, and stays there (在押)."""
        rule = rules.get("detention_arrest_request")
        assert rule is not None
        assert rule.due(local(2026, 9, 28, 20), tz=TZ).date() == date(2026, 10, 1)

    def test_arrest_request_extends_one_to_four_days_or_thirty_for_gangs(self, rules: RuleSet) -> None:
        """刑诉法第九十一条: +1 to +4 days for anyone; 30 days only for 流窜/多次/结伙."""
        rule = rules.get("detention_arrest_request")
        assert rule is not None
        assert [e.total for e in rule.extensions_for([])] == [4, 5, 6, 7]
        assert [e.total for e in rule.extensions_for(["结伙"])] == [4, 5, 6, 7, 30]
        start = local(2026, 3, 1, 10)
        assert rule.due(start, tz=TZ, total=7).date() == date(2026, 3, 8)
        assert rule.due(start, tz=TZ, total=30).date() == date(2026, 3, 31)

    def test_custody_after_arrest_runs_two_months_plus_one(self, rules: RuleSet) -> None:
        """Arrested 31 Dec 2025 (a month end): 2 months end 28 Feb 2026; with the extension 31 Mar."""
        rule = rules.get("custody_after_arrest")
        assert rule is not None
        start = local(2025, 12, 31, 11)
        assert rule.due(start, tz=TZ).date() == date(2026, 2, 28)
        assert rule.due(start, tz=TZ, total=3).date() == date(2026, 3, 31)

    def test_custody_after_arrest_ending_on_may_day_stays_on_may_day(self, rules: RuleSet) -> None:
        """Arrested 1 Mar 2026: two months end on 1 May, a holiday, and the person is held, so 1 May."""
        rule = rules.get("custody_after_arrest")
        assert rule is not None
        assert rule.due(local(2026, 3, 1), tz=TZ).date() == date(2026, 5, 1)

    def test_public_order_case_runs_thirty_days_plus_thirty(self, rules: RuleSet) -> None:
        """Accepted 1 Sep 2026: 30 days end 1 Oct (holiday) so 8 Oct; extended to 60 days, 31 Oct is a
        Saturday so 2 Nov."""
        rule = rules.get("public_order_case")
        assert rule is not None
        start = local(2026, 9, 1, 9)
        assert rule.due(start, tz=TZ).date() == date(2026, 10, 8)
        assert rule.due(start, tz=TZ, total=60).date() == date(2026, 11, 2)

    def test_summons_lasts_twelve_hours_or_twenty_four(self, rules: RuleSet) -> None:
        """传唤、拘传 12 hours, 24 for especially serious cases, counted from the summons."""
        for rule_id in ("criminal_summons", "compelled_appearance"):
            rule = rules.get(rule_id)
            assert rule is not None
            start = local(2026, 10, 1, 21, 15)
            assert rule.due(start, tz=TZ) - start == timedelta(hours=12)
            assert rule.due(start, tz=TZ, total=24) - start == timedelta(hours=24)

    def test_administrative_questioning_lasts_eight_hours_or_twenty_four(self, rules: RuleSet) -> None:
        """治安管理处罚法第八十三条: 8 hours, 24 if administrative detention may follow."""
        rule = rules.get("administrative_questioning")
        assert rule is not None
        start = local(2026, 3, 3, 14, 30)
        assert rule.due(start, tz=TZ) == local(2026, 3, 3, 22, 30)
        assert rule.due(start, tz=TZ, total=24) == local(2026, 3, 4, 14, 30)

    def test_continued_questioning_lasts_twelve_twenty_four_or_forty_eight_hours(
        self, rules: RuleSet
    ) -> None:
        """继续盘问规定第十一条: 12 hours, up to 24, up to 48 when identity is unknown."""
        rule = rules.get("continued_questioning")
        assert rule is not None
        start = local(2026, 3, 3, 1, 0)
        assert [e.total for e in rule.extensions] == [24, 48]
        assert rule.due(start, tz=TZ) == local(2026, 3, 3, 13, 0)
        assert rule.due(start, tz=TZ, total=48) == local(2026, 3, 5, 1, 0)

    def test_a_summons_starts_the_rule_of_its_case_type(self, rules: RuleSet) -> None:
        """传唤 in a criminal case is 刑诉法119; in an administrative case 治安法83."""
        assert [r.id for r in rules.triggered_by("criminal", "传唤")] == ["criminal_summons"]
        assert [r.id for r in rules.triggered_by("administrative", "传唤")] == ["administrative_questioning"]


GOOD_RULE = """
version: 1
rules:
  - id: bail
    measure: {zh: 取保候审, en: bail}
    case_types: [criminal]
    trigger: 取保候审
    stop: [结案]
    duration: 12
    unit: months
    in_custody: false
    cite: {law: 刑事诉讼法, article: 第七十九条}
    risk_topic: 取保候审
    reminders: {offsets: [-10, 0]}
"""


class TestRuleFiles:
    def test_an_edited_file_in_the_data_dir_overrides_the_bundled_rules(self, settings: Settings) -> None:
        """The legal brigade drops rules.yaml in the data dir; it wins, re-read when it changes."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        (settings.data_dir / "rules.yaml").write_text(GOOD_RULE, encoding="utf-8")
        assert rules_path(settings) == settings.data_dir / "rules.yaml"
        loaded = load_rules(settings)
        assert [r.id for r in loaded.rules] == ["bail"]
        assert loaded.rules[0].reminders.offsets == [-10, 0]

    def test_the_bundled_file_is_used_without_an_override(self, settings: Settings) -> None:
        """No file in the data dir: the shipped rules apply."""
        assert len(load_rules(settings).rules) >= 9

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            (("trigger: 取保候审", "trigger: 保释"), "unknown event '保释'"),
            (("article: 第七十九条", "article: 79"), "rules.0.cite.article"),
            (("duration: 12", "duration: 0"), "rules.0.duration"),
            (("unit: months", "unit: weeks"), "rules.0.unit"),
            (("offsets: [-10, 0]", "offsets: [3]"), "offsets are 0"),
            (("risk_topic: 取保候审", "risk_topc: 取保候审"), "risk_topc"),
        ],
    )
    def test_a_bad_rule_is_refused_naming_the_field(self, change: tuple[str, str], message: str) -> None:
        """A typo in the file gives an error that says where it is and what is expected."""
        with pytest.raises(RulesError) as caught:
            parse_rules(GOOD_RULE.replace(*change), source="rules.yaml")
        assert message in str(caught.value)
        assert str(caught.value).startswith("rules.yaml")

    def test_duplicate_ids_are_refused(self) -> None:
        """Two rules with one id would make deadlines ambiguous."""
        body = GOOD_RULE.split("rules:\n", 1)[1]
        with pytest.raises(RulesError, match="duplicate rule id 'bail'"):
            parse_rules(GOOD_RULE + body)

    def test_an_extension_must_lengthen_the_period(self) -> None:
        """Extending 12 months to 6 is a mistake."""
        text = GOOD_RULE.replace("cite:", "extensions: [{total: 6, label: {zh: 六个月, en: six}}]\n    cite:")
        with pytest.raises(RulesError, match="must exceed the duration"):
            parse_rules(text)

    def test_broken_yaml_names_the_line(self) -> None:
        """A YAML syntax error reports its line."""
        with pytest.raises(RulesError, match="line"):
            parse_rules("rules:\n  - id: [unclosed\n")


GUIDANCE = Path(__file__).resolve().parents[2] / "knowledge" / "corpus" / "guidance" / "执法风险提示.md"


@pytest.mark.skipif(not GUIDANCE.exists(), reason="the bundled guidance corpus is not in this checkout yet")
def test_every_risk_topic_names_exactly_one_chapter_of_the_risk_tips(rules: RuleSet) -> None:
    """The knowledge base picks tips by chapter: each topic must name one chapter, not several."""
    chapters = [
        line[3:].strip()
        for line in GUIDANCE.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    ]
    for rule in rules.rules:
        matching = [c for c in chapters if rule.risk_topic in c]
        assert matching == [rule.risk_topic], (rule.id, matching)
