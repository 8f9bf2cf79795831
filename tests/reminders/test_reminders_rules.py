"""The bundled statutory rules against the statute texts, their boundary dates, and edited rule files."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from reminders_helpers import TZ, local
from statutes import in_force, numeral, reference, statutes

from core.holidays import HolidayCalendar
from core.settings import Settings
from reminders.calendar import Unit
from reminders.rules import Cite, Rule, RulesError, RuleSet, load_rules, parse_rules, rules_path

CAL = HolidayCalendar()
UNIT_WORDS = {Unit.HOURS: "小时", Unit.DAYS: "日", Unit.MONTHS: "个月"}
GUIDANCE = Path(__file__).resolve().parents[2] / "knowledge" / "corpus" / "guidance" / "执法风险提示.md"


def _all_cites(rule: Rule) -> list[tuple[str, Cite]]:
    found = [(rule.id, c) for c in rule.cite]
    for ext in rule.extensions:
        found.extend((f"{rule.id}->{ext.total}", c) for c in ext.cite)
    return found


def _article_texts(cite: Cite) -> list[str]:
    """Returns the text of each cited article (or paragraph), failing when one does not exist."""
    versions = statutes().get(cite.law)
    assert versions, f"{cite.law} is not in the bundled corpus"
    matching = [v for v in versions if v.version == cite.version] if cite.version else versions[-1:]
    assert matching, f"{cite.law} has no text of {cite.version}"
    statute = matching[0]
    texts = []
    for article in cite.articles:
        number, paragraph = reference(article)
        found = statute.articles.get(number)
        assert found is not None, f"{cite.law} ({statute.version}) has no {number}"
        if paragraph is None:
            texts.append(found.text)
        else:
            assert paragraph <= len(found.paragraphs), f"{cite.law}{number} has no paragraph {paragraph}"
            texts.append(found.paragraphs[paragraph - 1])
    return texts


def _amount_words(amount: int, unit: Unit) -> str:
    return f"{numeral(amount)}{UNIT_WORDS[unit]}"


def _quotes(cites: list[Cite]) -> str:
    return "\n".join(q for c in cites for q in c.quote)


class TestRulesAgainstTheStatutes:
    def test_every_cited_article_and_paragraph_exists_in_the_bundled_text(self, rules: RuleSet) -> None:
        """Each rule's and each extension's articles are found in the statute text the project ships."""
        for where, cite in (pair for rule in rules.rules for pair in _all_cites(rule)):
            assert _article_texts(cite), where

    def test_every_quote_is_the_text_of_the_cited_articles(self, rules: RuleSet) -> None:
        """The words a rule rests on are found, verbatim, in the articles it cites."""
        for where, cite in (pair for rule in rules.rules for pair in _all_cites(rule)):
            assert cite.quote, (where, cite.text(), "cites no words of the article")
            text = "\n".join(_article_texts(cite))
            for quote in cite.quote:
                assert quote in text, (where, cite.text(), quote)

    def test_every_duration_is_the_one_in_the_quoted_text(self, rules: RuleSet) -> None:
        """24 hours, 3 days, 2 months ...: each rule's period is written in the words it quotes."""
        for rule in rules.rules:
            assert _amount_words(rule.duration, rule.unit) in _quotes(rule.cite), rule.id

    def test_every_extension_is_the_one_in_the_quoted_text(self, rules: RuleSet) -> None:
        """An extension's new total or its increment is in the quoted law (延长一日至四日 covers 1 to 4)."""
        for rule in rules.rules:
            for ext in rule.extensions:
                words = _quotes(ext.cite) + _quotes(rule.cite)
                added = ext.total - (ext.after or rule.duration)
                in_range = any(
                    int_range[0] <= added <= int_range[1]
                    for int_range in _ranges(words, rule.unit)
                )
                assert (
                    _amount_words(ext.total, rule.unit) in words
                    or _amount_words(added, rule.unit) in words
                    or in_range
                ), (rule.id, ext.total)

    def test_public_order_rules_cite_the_2025_law_in_force(self, rules: RuleSet) -> None:
        """治安 rules cite the 2025 治安管理处罚法 (in force since 2026-01-01) by its new numbers."""
        for where, cite in (pair for rule in rules.rules for pair in _all_cites(rule)):
            if cite.law == "治安管理处罚法":
                assert cite.version == "2025-06-27", where
        cites = {r.id: r.article for r in rules.rules}
        assert cites["public_order_case"] == "治安管理处罚法（2025年版）第一百一十八条"
        assert cites["administrative_questioning"] == "治安管理处罚法（2025年版）第九十七条"

    def test_no_rule_cites_a_superseded_text_without_saying_so(self, rules: RuleSet) -> None:
        """A law the corpus holds in several versions is cited by version, and an old one only when marked."""
        for where, cite in (pair for rule in rules.rules for pair in _all_cites(rule)):
            versions = statutes()[cite.law]
            if len(versions) > 1:
                assert cite.version is not None, (where, f"{cite.law}: say which text")
            if cite.version is not None and cite.version != in_force(cite.law).version:
                assert cite.superseded is not None, (where, f"{cite.law} ({cite.version}) is superseded")

    def test_no_rule_text_names_a_public_order_article_that_is_not_in_the_2025_law(
        self, rules: RuleSet
    ) -> None:
        """Notes and labels that name 治安管理处罚法 articles use numbers the 2025 text has."""
        law = in_force("治安管理处罚法")
        mentioned = re.compile(r"治安管理处罚法》?(第[零一二三四五六七八九十百]+条)")
        for rule in rules.rules:
            texts = [t.zh for t in (rule.note, rule.starts, rule.measure) if t is not None]
            texts += [t.zh for ext in rule.extensions for t in (ext.label, ext.condition, ext.approval) if t]
            for text in texts:
                for number in mentioned.findall(text):
                    assert number in law.articles, (rule.id, number)

    def test_every_risk_topic_names_exactly_one_chapter_of_the_risk_tips(self, rules: RuleSet) -> None:
        """The knowledge base picks tips by chapter: each topic must name one chapter, not several."""
        chapters = [
            line[3:].strip()
            for line in GUIDANCE.read_text(encoding="utf-8").splitlines()
            if line.startswith("## ")
        ]
        for rule in rules.rules:
            matching = [c for c in chapters if rule.risk_topic in c]
            assert matching == [rule.risk_topic], (rule.id, matching)


def _ranges(words: str, unit: Unit) -> list[tuple[int, int]]:
    """Finds ranges such as 一日至四日 in quoted words."""
    unit_word = UNIT_WORDS[unit]
    found = []
    for low in range(1, 60):
        for high in range(low + 1, 61):
            if f"{numeral(low)}{unit_word}至{numeral(high)}{unit_word}" in words:
                found.append((low, high))
    return found


class TestCustodyChain:
    def test_custody_after_arrest_runs_two_months_then_three_five_and_seven(self, rules: RuleSet) -> None:
        """刑诉法156/158/159: 2 months, +1 (higher procuratorate), +2 (province), +2 (ten years possible)."""
        rule = rules.get("custody_after_arrest")
        assert rule is not None
        start = local(2025, 12, 31, 11)
        assert rule.due(start, tz=TZ, calendar=CAL).at.date() == date(2026, 2, 28)
        assert [e.total for e in rule.next_extensions(2, [])] == [3]
        assert [e.total for e in rule.next_extensions(3, [])] == [5]
        assert [e.total for e in rule.next_extensions(5, [])] == [7]
        assert rule.next_extensions(7, []) == []
        assert rule.due(start, tz=TZ, calendar=CAL, total=3).at.date() == date(2026, 3, 31)
        assert rule.due(start, tz=TZ, calendar=CAL, total=7).at.date() == date(2026, 7, 31)

    def test_every_custody_extension_request_is_due_seven_days_before_expiry(self, rules: RuleSet) -> None:
        """公安规定148-150: the request reaches the procuratorate 7 days before; reminders start at T-14."""
        rule = rules.get("custody_after_arrest")
        assert rule is not None
        assert all(e.request_days_before == 7 and e.approval and e.condition for e in rule.extensions)
        assert {-14, -10, -7} <= set(rule.reminders.offsets)

    def test_custody_restarts_when_another_crime_is_found_or_the_identity_established(
        self, rules: RuleSet
    ) -> None:
        """刑诉法160: the period starts again from the discovery (after the 5-day report) or the identity."""
        rule = rules.get("custody_after_arrest")
        report = rules.get("new_crime_report")
        assert rule is not None and report is not None
        assert rule.restart_on == ["重新计算羁押期限", "查清身份"]
        assert (report.duration, report.unit, report.trigger) == (5, Unit.DAYS, ["发现另有重要罪行"])

    def test_custody_ending_on_may_day_stays_on_may_day(self, rules: RuleSet) -> None:
        """Arrested 1 Mar 2026: two months end on 1 May, a holiday, and the person is held, so 1 May."""
        rule = rules.get("custody_after_arrest")
        assert rule is not None
        assert rule.due(local(2026, 3, 1), tz=TZ, calendar=CAL).at.date() == date(2026, 5, 1)


class TestCoerciveMeasures:
    def test_bail_runs_twelve_months_month_end_to_month_end(self, rules: RuleSet) -> None:
        """取保候审 from 28 Feb 2025 (a month end) ends on 28 Feb 2026."""
        bail = rules.get("bail")
        assert bail is not None
        assert bail.due(local(2025, 2, 28, 15), tz=TZ, calendar=CAL).at.date() == date(2026, 2, 28)

    def test_the_maximum_of_bail_is_never_moved_past_a_holiday(self, rules: RuleSet) -> None:
        """Twelve months is a maximum: a last day on National Day stays 1 Oct, not 8 Oct, and bail says why."""
        bail = rules.get("bail")
        assert bail is not None
        end = bail.due(local(2025, 10, 1), tz=TZ, calendar=CAL)
        assert end.at.date() == date(2026, 10, 1) and not end.provisional
        assert bail.note is not None and "不因节假日顺延" in bail.note.zh and "第七十九条" in bail.note.zh
        assert bail.reminders.midpoint

    def test_a_second_bail_decision_is_flagged_not_restarted(self, rules: RuleSet) -> None:
        """A new 取保候审 while bail runs keeps the first 12 months and asks the legal brigade."""
        for rule_id in ("bail", "residential_surveillance", "designated_residence"):
            rule = rules.get(rule_id)
            assert rule is not None and rule.repeat == "flag", rule_id

    def test_residential_surveillance_runs_six_months_never_moved(self, rules: RuleSet) -> None:
        """监视居住 from 31 Aug 2025 ends on 28 Feb 2026; from 1 Apr 2026 on 1 Oct."""
        rsl = rules.get("residential_surveillance")
        assert rsl is not None
        assert rsl.due(local(2025, 8, 31), tz=TZ, calendar=CAL).at.date() == date(2026, 2, 28)
        assert rsl.due(local(2026, 4, 1), tz=TZ, calendar=CAL).at.date() == date(2026, 10, 1)

    def test_designated_residence_is_held_in_substance_and_notifies_the_family(self, rules: RuleSet) -> None:
        """指定居所监视居住 counts as custody (76): never moved; its family notice is due in 24 hours (75②)."""
        rule = rules.get("designated_residence")
        notice = rules.get("designated_residence_notice")
        assert rule is not None and notice is not None
        assert rule.held and rule.holidays == "keep"
        assert rule.due(local(2026, 4, 1), tz=TZ, calendar=CAL).at.date() == date(2026, 10, 1)
        start = local(2026, 4, 1, 15, 20)
        assert notice.due(start, tz=TZ, calendar=CAL).at - start == timedelta(hours=24)

    def test_arrest_request_is_due_three_days_after_detention_even_on_a_holiday(self, rules: RuleSet) -> None:
        """Detained on 28 Sep 2026: the request is due 1 Oct, a holiday, and stays there (在押)."""
        rule = rules.get("detention_arrest_request")
        assert rule is not None
        assert rule.due(local(2026, 9, 28, 20), tz=TZ, calendar=CAL).at.date() == date(2026, 10, 1)

    def test_arrest_request_extends_one_to_four_days_or_thirty_for_gangs(self, rules: RuleSet) -> None:
        """刑诉法第九十一条: +1 to +4 days for anyone; 30 days only for 流窜/多次/结伙; both need approval."""
        rule = rules.get("detention_arrest_request")
        assert rule is not None
        assert [e.total for e in rule.next_extensions(3, [])] == [4, 5, 6, 7]
        assert [e.total for e in rule.next_extensions(3, ["结伙"])] == [4, 5, 6, 7, 30]
        assert all(e.approval is not None for e in rule.extensions)
        start = local(2026, 3, 1, 10)
        assert rule.due(start, tz=TZ, calendar=CAL, total=30).at.date() == date(2026, 3, 31)

    def test_the_procuratorate_has_seven_days_only_while_the_suspect_is_held(self, rules: RuleSet) -> None:
        """刑诉法91③: the 7 days on an arrest request run for a detained suspect."""
        rule = rules.get("arrest_review")
        assert rule is not None
        assert (rule.duration, rule.unit, rule.requires_held) == (7, Unit.DAYS, True)

    def test_the_first_day_after_detention_and_arrest_has_its_own_24_hours(self, rules: RuleSet) -> None:
        """刑诉法85, 86 and 93, 94: custody centre, family notice and interrogation within 24 hours."""
        for rule_id, event in (("detention_first_day", "刑事拘留"), ("arrest_first_day", "逮捕")):
            rule = rules.get(rule_id)
            assert rule is not None
            assert (rule.duration, rule.unit, rule.trigger) == (24, Unit.HOURS, [event])


class TestQuestioning:
    def test_summons_lasts_twelve_hours_and_24_only_with_condition_and_approval(self, rules: RuleSet) -> None:
        """传唤 needs 办案部门负责人 approval for 24 hours, 拘传 a county-level head's (公安规定200, 80)."""
        approvals = {}
        for rule_id in ("criminal_summons", "compelled_appearance"):
            rule = rules.get(rule_id)
            assert rule is not None
            start = local(2026, 10, 1, 21, 15)
            assert rule.due(start, tz=TZ, calendar=CAL).at - start == timedelta(hours=12)
            (ext,) = rule.extensions
            assert ext.total == 24 and ext.condition is not None and "拘留、逮捕" in ext.condition.zh
            assert ext.approval is not None
            approvals[rule_id] = ext.approval.zh
            assert rule.starts is not None and "到案时间" in rule.starts.zh
        assert approvals == {
            "criminal_summons": "办案部门负责人批准",
            "compelled_appearance": "县级以上公安机关负责人批准",
        }

    def test_administrative_questioning_has_the_2025_tiers_with_their_conditions(self, rules: RuleSet) -> None:
        """2025 治安法97: 8 hours; 12 for many people or unknown identity; 24 when detention is possible."""
        rule = rules.get("administrative_questioning")
        assert rule is not None
        start = local(2026, 3, 3, 14, 30)
        assert rule.due(start, tz=TZ, calendar=CAL).at == local(2026, 3, 3, 22, 30)
        tiers = {e.total: e.condition.zh for e in rule.extensions if e.condition}
        assert set(tiers) == {12, 24}
        assert "身份不明" in tiers[12] and "行政拘留" in tiers[24]
        assert rule.case_types == ["public_order"]

    def test_continued_questioning_reaches_48_hours_only_from_24_and_with_unknown_identity(
        self, rules: RuleSet
    ) -> None:
        """继续盘问规定11, 17: 12 -> 24 -> 48, never 12 -> 48, and 48 only for unknown identity."""
        rule = rules.get("continued_questioning")
        assert rule is not None
        assert [e.total for e in rule.next_extensions(12, [])] == [24]
        (to_48,) = rule.next_extensions(24, [])
        assert to_48.total == 48 and to_48.condition is not None and "身份" in to_48.condition.zh
        start = local(2026, 3, 3, 1, 0)
        assert rule.due(start, tz=TZ, calendar=CAL, total=48).at == local(2026, 3, 5, 1, 0)

    def test_a_summons_starts_the_rule_of_its_case_type(self, rules: RuleSet) -> None:
        """传唤: criminal 刑诉法119; public order 治安法97; other administrative 程序规定69."""
        assert [r.id for r in rules.triggered_by("criminal", "传唤")] == ["criminal_summons"]
        assert [r.id for r in rules.triggered_by("public_order", "传唤")] == ["administrative_questioning"]
        assert [r.id for r in rules.triggered_by("other_admin", "传唤")] == ["administrative_summons"]


class TestAdministrativeCases:
    def test_public_order_case_runs_thirty_days_plus_thirty_at_most_twice(self, rules: RuleSet) -> None:
        """2025 治安法118: from filing 30 days; 1 Sep 2026 ends 1 Oct (holiday) so 8 Oct; +30 twice at most."""
        rule = rules.get("public_order_case")
        assert rule is not None
        start = local(2026, 9, 1, 9)
        assert rule.due(start, tz=TZ, calendar=CAL).at.date() == date(2026, 10, 8)
        assert rule.due(start, tz=TZ, calendar=CAL, total=60).at.date() == date(2026, 11, 2)
        assert [e.total for e in rule.next_extensions(30, [])] == [60]
        assert [e.total for e in rule.next_extensions(60, [])] == [90]
        assert rule.next_extensions(90, []) == []
        assert rule.pause_on == ["鉴定开始", "听证开始"] and rule.resume_on == ["鉴定结束", "听证结束"]

    def test_excluded_days_push_the_public_order_case_later(self, rules: RuleSet) -> None:
        """Five days of expert examination do not count: 30 days from 1 Jun 2026 end 6 Jul, not 1 Jul."""
        rule = rules.get("public_order_case")
        assert rule is not None
        assert rule.due(local(2026, 6, 1), tz=TZ, calendar=CAL, excluded_days=5).at.date() == date(2026, 7, 6)

    def test_only_public_order_cases_get_thirty_days_other_administrative_cases_ninety(
        self, rules: RuleSet
    ) -> None:
        """行政处罚法60: other administrative cases 90 days from filing."""
        assert [r.id for r in rules.triggered_by("public_order", "立案")] == ["public_order_case"]
        assert [r.id for r in rules.triggered_by("other_admin", "立案")] == ["administrative_case"]
        rule = rules.get("administrative_case")
        assert rule is not None and (rule.duration, rule.unit) == (90, Unit.DAYS)

    def test_decisions_are_served_in_two_days_or_seven(self, rules: RuleSet) -> None:
        """2025 治安法116: 2 days for a public-order decision; 行政处罚法61: 7 days for others."""
        assert [(r.id, r.duration) for r in rules.triggered_by("public_order", "作出处罚决定")] == [
            ("public_order_decision_service", 2)
        ]
        assert [(r.id, r.duration) for r in rules.triggered_by("other_admin", "作出处罚决定")] == [
            ("administrative_decision_service", 7)
        ]

    def test_seizure_runs_thirty_days_plus_thirty(self, rules: RuleSet) -> None:
        """程序规定112: 30 days, +30 with a county-level head's approval."""
        rule = rules.get("seizure")
        assert rule is not None
        assert [(e.total, e.after) for e in rule.extensions] == [(60, 30)]


class TestUnknownYears:
    def test_a_last_day_in_an_unknown_year_is_not_moved_and_is_provisional(self, rules: RuleSet) -> None:
        """Sunday 2027-03-07: no 2027 schedule, so the date stays (never later than the law) and says so."""
        rule = rules.get("public_order_case")
        assert rule is not None
        end = rule.due(local(2027, 2, 5), tz=TZ, calendar=CAL)
        assert end.at.date() == date(2027, 3, 7) and end.provisional

    def test_a_last_day_in_a_known_year_is_not_provisional(self, rules: RuleSet) -> None:
        """2026 is known: the move is certain."""
        rule = rules.get("public_order_case")
        assert rule is not None
        assert not rule.due(local(2026, 9, 1), tz=TZ, calendar=CAL).provisional


GOOD_RULE = """
version: 2
rules:
  - id: bail
    measure: {zh: 取保候审, en: bail}
    case_types: [criminal]
    trigger: 取保候审
    stop: [结案]
    duration: 12
    unit: months
    held: false
    holidays: keep
    cite: {law: 刑事诉讼法, articles: [第七十九条]}
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
        assert len(load_rules(settings).rules) >= 25

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            (("trigger: 取保候审", "trigger: 保释"), "unknown event(s) ['保释']"),
            (("articles: [第七十九条]", "articles: [79]"), "rules.0.cite.0.articles.0 (bail)"),
            (("duration: 12", "duration: 0"), "rules.0.duration (bail)"),
            (("unit: months", "unit: weeks"), "rules.0.unit"),
            (("holidays: keep", "holidays: sometimes"), "rules.0.holidays"),
            (("offsets: [-10, 0]", "offsets: [3]"), "offsets are 0"),
            (("risk_topic: 取保候审", "risk_topc: 取保候审"), "risk_topc"),
            (("version: 2", "version: 1"), "version 1 rules are not read any more"),
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

    def test_an_hour_limit_cannot_remind_everyone_every_hour_once_overdue(self) -> None:
        """Overdue hour limits escalate, then repeat at a bounded cadence: every hour forever is refused."""
        text = GOOD_RULE.replace("duration: 12", "duration: 8").replace("unit: months", "unit: hours")
        text = text.replace("offsets: [-10, 0]", "offsets: [-1, 0], overdue_every: 1")
        with pytest.raises(RulesError, match="repeats at most every 4 hours"):
            parse_rules(text)

    def test_broken_yaml_names_the_line(self) -> None:
        """A YAML syntax error reports its line."""
        with pytest.raises(RulesError, match="line"):
            parse_rules("rules:\n  - id: [unclosed\n")
