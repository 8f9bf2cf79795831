"""The lead: whole sentences of the paragraph or item that answers, with what it needs to be read right."""

from __future__ import annotations

from knowledge.lead import select_lead, split_sentences, structure


def _flat(token: str) -> float:
    return 1.0


DRUNK_DRIVING = """第九十一条 饮酒后驾驶机动车的，处暂扣六个月机动车驾驶证，并处一千元以上二千元以下罚款。
醉酒驾驶机动车的，由公安机关交通管理部门约束至酒醒，吊销机动车驾驶证，依法追究刑事责任；五年内不得重新取得机动车驾驶证。
醉酒驾驶营运机动车的，由公安机关交通管理部门约束至酒醒，吊销机动车驾驶证，依法追究刑事责任；十年内不得重新取得机动车驾驶证。
饮酒后或者醉酒驾驶机动车发生重大交通事故，构成犯罪的，依法追究刑事责任，并由公安机关交通管理部门吊销机动车驾驶证，终生不得重新取得机动车驾驶证。"""
ID_CHECKS = """第十五条 人民警察依法执行职务，遇有下列情形之一的，经出示执法证件，可以查验居民身份证：
（一）对有违法犯罪嫌疑的人员，需要查明身份的；
（二）依法实施现场管制时，需要查明有关人员身份的；
（三）发生严重危害社会治安突发事件时，需要查明现场有关人员身份的。
任何组织或者个人不得扣押居民身份证。"""
QUESTIONING = """第九十七条 对违反治安管理行为人，公安机关传唤后应当及时询问查证，询问查证的时间不得超过八小时；涉案人数众多、违反治安管理行为人身份不明的，询问查证的时间不得超过十二小时；情况复杂，依照本法规定可能适用行政拘留处罚的，询问查证的时间不得超过二十四小时。在执法办案场所询问违反治安管理行为人，应当全程同步录音录像。
公安机关应当及时将传唤的原因和处所通知被传唤人家属。"""
NO_DETENTION = """第二十三条 违反治安管理行为人有下列情形之一，依照本法应当给予行政拘留处罚的，不执行行政拘留处罚：
（一）已满十四周岁不满十六周岁的；
（二）已满十六周岁不满十八周岁，初次违反治安管理的；
（三）七十周岁以上的；
（四）怀孕或者哺乳自己不满一周岁婴儿的。
前款第一项、第二项、第三项规定的行为人违反治安管理情节严重、影响恶劣的，或者第一项、第三项规定的行为人在一年以内二次以上违反治安管理的，不受前款规定的限制。"""
ARREST_REQUEST = """第九十一条 公安机关对被拘留的人，认为需要逮捕的，应当在拘留后的三日以内，提请人民检察院审查批准。在特殊情况下，提请审查批准的时间可以延长一日至四日。
对于流窜作案、多次作案、结伙作案的重大嫌疑分子，提请审查批准的时间可以延长至三十日。
人民检察院应当自接到公安机关提请批准逮捕书后的七日以内，作出批准逮捕或者不批准逮捕的决定。"""
ATTACK = """第一条 袭击正在依法执行职务的人民警察，具有下列情形之一的，应当认定为刑法第二百七十七条第五款规定的“暴力袭击”：
（一）实施撕咬、掌掴、踢打、抱摔、投掷物品等行为，造成轻微伤以上后果的；
（二）实施打砸、毁坏、抢夺人民警察乘坐的车辆、使用的警械等行为，足以危及人身安全的。
与人民警察发生轻微肢体冲突，或者为摆脱抓捕、约束实施甩手、挣脱、蹬腿等一般性抗拒行为，危害不大的，或者仅实施辱骂、讽刺等言语攻击行为的，不属于刑法第二百七十七条第五款规定的“暴力袭击”。"""


class TestReading:
    def test_sentences_end_at_full_stops_not_at_semicolons(self) -> None:
        """The tiers of one rule joined by ； stay one sentence."""
        assert len(split_sentences("不得超过八小时；不得超过十二小时；不得超过二十四小时。另一句。")) == 2

    def test_items_belong_to_the_paragraph_they_follow(self) -> None:
        """An article is paragraphs; 项 lines sit under the paragraph whose sentence introduces them."""
        paragraphs = structure(ID_CHECKS)
        assert [len(p.items) for p in paragraphs] == [3, 0]
        assert paragraphs[0].sentences[-1].endswith("：")


class TestLeads:
    def test_the_paragraph_whose_condition_the_question_states_wins(self) -> None:
        """醉酒驾驶机动车怎么处理: 第二款, not the accident paragraph nor the operating-vehicle one."""
        lead = select_lead("醉酒驾驶机动车怎么处理？", DRUNK_DRIVING, _flat)
        assert lead.text.startswith("醉酒驾驶机动车的，由公安机关交通管理部门约束至酒醒")
        assert "终生" not in lead.text and "营运" not in lead.text
        assert lead.where == "第二款"

    def test_a_sentence_ending_in_a_colon_brings_its_list(self) -> None:
        """查验身份证: the introduction and every case of the list, never the colon alone."""
        lead = select_lead("警察在什么情况下可以查验居民身份证？", ID_CHECKS, _flat)
        assert lead.text.startswith("人民警察依法执行职务，遇有下列情形之一的")
        assert "（一）对有违法犯罪嫌疑的人员" in lead.text and "（三）" in lead.text

    def test_every_tier_of_a_period_is_given(self) -> None:
        """询问查证: 8 h, 12 h and 24 h, the whole sentence (not cut at the first ；)."""
        lead = select_lead("询问查证最长多长时间？", QUESTIONING, _flat)
        assert all(tier in lead.text for tier in ("八小时", "十二小时", "二十四小时"))

    def test_tiers_in_other_paragraphs_come_with_a_period_question(self) -> None:
        """提请批准逮捕: three days and the thirty-day extension of the next paragraph."""
        lead = select_lead("拘留后多久要提请批准逮捕？", ARREST_REQUEST, _flat)
        assert "三日以内" in lead.text and "三十日" in lead.text

    def test_an_item_comes_with_its_list_introduction_and_its_exception(self) -> None:
        """未成年人…拘留: the introduction, the items on minors, and 第二款's exception, never a bare item."""
        lead = select_lead("未成年人违反治安管理能拘留吗？", NO_DETENTION, _flat)
        assert lead.text.startswith("违反治安管理行为人有下列情形之一")
        assert "已满十四周岁不满十六周岁" in lead.text
        assert "不受前款规定的限制" in lead.text

    def test_a_question_about_what_counts_gets_the_sentence_that_says_so(self) -> None:
        """推搡民警算不算暴力袭击: the list of what counts and the paragraph of what does not."""
        lead = select_lead("与民警发生轻微肢体冲突算暴力袭击吗？", ATTACK, _flat)
        assert "不属于" in lead.text and "轻微肢体冲突" in lead.text

    def test_an_article_of_one_sentence_is_its_own_lead(self) -> None:
        """拘役的期限: the one sentence, whole."""
        lead = select_lead("拘役最长多久？", "第四十二条 拘役的期限，为一个月以上六个月以下。", _flat)
        assert (lead.text, lead.where) == ("拘役的期限，为一个月以上六个月以下。", "")

    def test_a_question_asking_how_many_times_gets_the_sentence_with_the_count(self) -> None:
        """期限延长几次: 期限延长以二次为限, not the sentence with the periods."""
        article = (
            "第一百一十八条 公安机关办理治安案件的期限，自立案之日起不得超过三十日；案情重大、复杂的，"
            "经上一级公安机关批准，可以延长三十日。期限延长以二次为限。"
        )
        assert "二次为限" in select_lead("治安案件办理期限最多能延长几次？", article, _flat).text
