"""The bundled guidance says what the articles it cites say: each corrected claim, checked against the article's own text."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from ingest.statutes import parse_document
from knowledge.references import ABBREVIATIONS, LawNames, find_article_refs

CORPUS = Path(__file__).parents[2] / "knowledge" / "corpus"
XIJING = "最高人民法院、最高人民检察院关于办理袭警刑事案件适用法律若干问题的解释"
WEAPONS = "人民警察使用警械和武器条例"


@cache
def section(document: str, heading: str) -> str:
    """Returns the text of one guidance section."""
    path = CORPUS / "guidance" / f"{document}.md"
    for record in parse_document(path.read_text("utf-8"), f"guidance/{path.name}").records:
        if record.article == heading:
            return record.text
    raise AssertionError(f"{document} has no section {heading}")


@cache
def article(law: str, number: str, version: str = "") -> str:
    """Returns an article's text from the bundled corpus (the given version, else the only one)."""
    found = []
    for path in sorted((CORPUS / "laws").glob("*.md")):
        document = parse_document(path.read_text("utf-8"), path.name)
        if document.law == law and document.version.startswith(version):
            found += [r.text for r in document.records if r.article == number]
    assert len(found) == 1, (law, number, version, len(found))
    return found[0]


# (guidance, section, what the guidance must say, the article it rests on, what that article says)
CLAIMS = [
    # 警械和武器使用指引
    ("警械和武器使用指引", "可以使用武器的情形", "危及人民警察生命安全", (WEAPONS, "第九条"), "危及人民警察生命安全"),
    ("警械和武器使用指引", "可以使用武器的情形", "放火、决水、爆炸等严重危害公共安全的", (WEAPONS, "第九条"), "放火、决水、爆炸等严重危害公共安全的"),
    ("警械和武器使用指引", "可以使用武器的情形", "故意危害公共安全的", (WEAPONS, "第九条"), "故意危害公共安全的"),
    ("警械和武器使用指引", "驱逐性、制服性警械", "以制止违法犯罪行为为限度", (WEAPONS, "第七条"), "应当以制止违法犯罪行为为限度"),
    ("警械和武器使用指引", "驱逐性、制服性警械", "立即停止使用", (WEAPONS, "第七条"), "应当立即停止使用"),
    ("警械和武器使用指引", "约束性警械", "不得故意造成人身伤害", (WEAPONS, "第八条"), "不得故意造成人身伤害"),
    ("警械和武器使用指引", "违法使用的责任", "《人民警察使用警械和武器条例》第十四条", (WEAPONS, "第十四条"), "依法追究刑事责任"),
    # 民警执法权益保护指引
    ("民警执法权益保护指引", "正当防卫及其限度", "明显超过必要限度造成重大损害的，应当负刑事责任", ("刑法", "第二十条"), "正当防卫明显超过必要限度造成重大损害的，应当负刑事责任"),
    ("民警执法权益保护指引", "不构成袭警罪的情形", "严重过错", (XIJING, "第四条"), "人民警察执法活动存在严重过错的，对行为人一般不作为犯罪处理"),
    ("民警执法权益保护指引", "不构成袭警罪的情形", "辅警，不构成袭警罪", (XIJING, "第八条"), "警务辅助人员的，不构成袭警罪"),
    ("民警执法权益保护指引", "不构成袭警罪的情形", "非工作时间", (XIJING, "第七条"), "在非工作时间遇有紧急情况依法履行职责"),
    ("民警执法权益保护指引", "不构成袭警罪的情形", "报复性暴力袭击的，不构成袭警罪", (XIJING, "第七条"), "实施报复性暴力袭击的，不构成袭警罪"),
    ("民警执法权益保护指引", "侮辱罪、诽谤罪要自诉", "告诉的才处理", ("刑法", "第二百四十六条"), "告诉的才处理"),
    ("民警执法权益保护指引", "证据要固定", "被害人可以申请补充鉴定或者重新鉴定", ("刑事诉讼法", "第一百四十八条"), "被害人提出申请，可以补充鉴定或者重新鉴定"),
    # 执法风险提示 and 办案期限提示: the 2025 治安管理处罚法
    ("执法风险提示", "未成年人和老年人不执行拘留", "情节严重、影响恶劣", ("治安管理处罚法", "第二十三条", "2025"), "情节严重、影响恶劣"),
    ("执法风险提示", "未成年人和老年人不执行拘留", "一年以内二次以上", ("治安管理处罚法", "第二十三条", "2025"), "一年以内二次以上"),
    ("执法风险提示", "办案期限与当场处罚", "五百元以下罚款的，才可以当场处罚", ("治安管理处罚法", "第一百一十九条", "2025"), "五百元以下罚款的，可以当场作出"),
    ("执法风险提示", "办案期限与当场处罚", "延长以二次为限", ("治安管理处罚法", "第一百一十八条", "2025"), "期限延长以二次为限"),
    ("执法风险提示", "时限", "不得超过十二小时", ("治安管理处罚法", "第九十七条", "2025"), "询问查证的时间不得超过十二小时"),
    ("执法风险提示", "处罚前告知和听证", "可能执行行政拘留的未成年人", ("治安管理处罚法", "第一百一十七条", "2025"), "可能执行行政拘留的未成年人"),
    ("执法风险提示", "处罚前告知和听证", "四千元以上罚款", ("治安管理处罚法", "第一百一十七条", "2025"), "处四千元以上罚款"),
    ("执法风险提示", "超时和变相拘禁", "需要采取拘留、逮捕措施的，才可以到二十四小时", ("刑事诉讼法", "第一百一十九条"), "需要采取拘留、逮捕措施的，传唤、拘传持续的时间不得超过二十四小时"),
    ("执法风险提示", "羁押期限管理", "期限届满七日前", ("公安机关办理刑事案件程序规定", "第一百四十八条"), "在期限届满七日前送请同级人民检察院"),
    ("执法风险提示", "适用对象错误", "患有严重疾病且生活不能自理的（两个条件都要具备）", ("刑事诉讼法", "第七十四条"), "患有严重疾病、生活不能自理的"),
    ("办案期限提示", "询问查证", "不得超过十二小时", ("治安管理处罚法", "第九十七条", "2025"), "身份不明的，询问查证的时间不得超过十二小时"),
    ("办案期限提示", "办案期限", "期限延长以二次为限", ("治安管理处罚法", "第一百一十八条", "2025"), "期限延长以二次为限"),
    ("办案期限提示", "逮捕后", "期限届满七日前", ("公安机关办理刑事案件程序规定", "第一百四十九条"), "在期限届满七日前"),
    ("办案期限提示", "传唤、拘传", "需要采取拘留、逮捕措施的，经批准不得超过二十四小时", ("公安机关办理刑事案件程序规定", "第二百条"), "经办案部门负责人批准，传唤持续的时间不得超过二十四小时"),
]


class TestCorrectedClaims:
    @pytest.mark.parametrize(("document", "heading", "claim", "source", "says"), CLAIMS, ids=[c[2][:16] for c in CLAIMS])
    def test_the_guidance_states_what_the_article_says(
        self, document: str, heading: str, claim: str, source: tuple[str, ...], says: str
    ) -> None:
        """The section states the claim, cites the article, and the article's own text says it."""
        text = section(document, heading)
        assert claim in text
        cited = {(ref.law, ref.article) for ref in find_article_refs(text, LawNames(ABBREVIATIONS))}
        assert (source[0], source[1]) in cited
        assert says in article(*source)


class TestStatementsThatOverstated:
    def test_resisting_an_officer_alone_is_not_a_ground_for_firing(self) -> None:
        """Weapons against resistance only when it endangers the officer's life (条例第九条第一款第（十）项)."""
        text = section("警械和武器使用指引", "可以使用武器的情形")
        for sentence in re.split(r"(?<=[；。])", text):
            if "以暴力方法抗拒或者阻碍" in sentence:
                assert "危及人民警察生命安全" in sentence

    def test_article_five_is_not_cited_for_liability(self) -> None:
        """条例第五条 protects lawful use; liability for unlawful use is 第十四条."""
        principles = section("警械和武器使用指引", "使用原则")
        assert "承担责任" not in principles and "第十四条" not in principles

    def test_clearing_a_name_is_not_attributed_to_the_inspection_regulation(self) -> None:
        """督察条例第十四条 is about appeals against suspension; the 2019 rules are named as missing from the corpus."""
        text = section("民警执法权益保护指引", "澄清正名")
        assert "《公安机关维护民警执法权威工作规定》" in text and "不在本知识库中" in text
        assert "《公安机关维护民警执法权威工作规定》第" not in text
        appeal = next(s for s in text.split("。") if "《公安机关督察条例》第十四条" in s)
        assert "申诉" in appeal and "停止执行职务" in appeal
        assert "申诉" in article("公安机关督察条例", "第十四条")

    def test_an_injury_assessment_is_not_described_as_the_victims_application(self) -> None:
        """刑事诉讼法第一百四十六条 is the investigators' power; the victim may ask for a new one (第一百四十八条)."""
        text = section("民警执法权益保护指引", "证据要固定")
        assert "申请伤情鉴定" not in text
        assert "指派、聘请有专门知识的人进行鉴定" in article("刑事诉讼法", "第一百四十六条")

    def test_self_defence_is_stated_with_its_limits(self) -> None:
        """正当防卫 comes with 第二十条第二款 (excess) and 第三款."""
        text = section("民警执法权益保护指引", "正当防卫及其限度")
        assert "《刑法》第二十条第二款" in text and "《刑法》第二十条第三款" in text

    def test_insult_and_defamation_say_the_victim_must_prosecute(self) -> None:
        """侮辱罪、诽谤罪 are prosecuted on complaint (刑法第二百四十六条第二款)."""
        assert "自诉" in section("民警执法权益保护指引", "侮辱罪、诽谤罪要自诉")
