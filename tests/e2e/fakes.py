"""Small deterministic stand-ins for the knowledge base and the referral queue, for fast bot tests."""

from __future__ import annotations

from datetime import UTC, datetime

from knowledge.citations import Answer, Citation

BAIL = Citation(
    law="刑事诉讼法",
    article="第七十九条",
    version="2018-10-26",
    text="人民法院、人民检察院和公安机关对犯罪嫌疑人、被告人取保候审最长不得超过十二个月，监视居住最长不得超过六个月。",
    chapter="第六章 强制措施",
    kind="statute",
    superseded_by=None,
    record_id="xsssf-2018-079",
)
DETENTION = Citation(
    law="刑事诉讼法",
    article="第九十一条",
    version="2018-10-26",
    text="公安机关对被拘留的人，认为需要逮捕的，应当在拘留后的三日以内，提请人民检察院审查批准。",
    chapter="第六章 强制措施",
    kind="statute",
    superseded_by=None,
    record_id="xsssf-2018-091",
)
OLD_RULE = Citation(
    law="治安管理处罚法",
    article="第八十三条",
    version="2005-08-28",
    text="对违反治安管理行为人，公安机关传唤后应当及时询问查证，询问查证的时间不得超过八小时。",
    chapter="第四章 处罚程序",
    kind="statute",
    superseded_by="治安管理处罚法（2025年修订）",
    record_id="zagl-2005-083",
)
LONG_ARTICLE = Citation(
    law="公安机关办理刑事案件程序规定",
    article="第一百五十八条",
    version="2020-07-20",
    text="".join(
        f"第{n}项：公安机关应当依照本规定对证据进行收集、固定和审查，并制作笔录，由侦查人员签名。"
        for n in range(1, 16)
    )
    + "全文结束标记。",
    chapter="第八章 侦查",
    kind="statute",
    superseded_by=None,
    record_id="gaxs-2020-158",
)

TOPICS: dict[str, tuple[str, list[Citation], list[Citation]]] = {
    "取保": ("取保候审最长不得超过十二个月。", [BAIL], [DETENTION]),
    "拘留": ("拘留后认为需要逮捕的，应当在三日以内提请批准逮捕。", [DETENTION], [BAIL]),
    "传唤": ("传唤后询问查证的时间不得超过八小时。", [OLD_RULE], []),
    "证据": ("收集证据应当依照程序规定制作笔录。", [LONG_ARTICLE], [DETENTION]),
}


class KnowledgeBaseBroken(Exception):
    """Raised by the fake knowledge base for questions containing 'boom'."""


class FakeKnowledgeBase:
    """Answers by keyword from a handful of articles; 'boom' in a question raises."""

    def __init__(self) -> None:
        self.records: dict[str, Citation] = {
            c.record_id: c for c in (BAIL, DETENTION, OLD_RULE, LONG_ARTICLE)
        }
        self.asked: list[tuple[str, str]] = []
        self.guidance: list[Citation] = []

    def ask(self, question: str, *, language: str = "zh") -> Answer:
        self.asked.append((question, language))
        if "boom" in question:
            raise KnowledgeBaseBroken("the index is on fire")
        for keyword, (text, citations, related) in TOPICS.items():
            if keyword in question:
                return Answer(question, text, citations, related, True, 0.9)
        for guidance in self.guidance:
            if question in guidance.text:
                return Answer(question, guidance.text, [guidance], [], True, 0.95)
        return Answer(question, "未找到依据。", [], [], False, 0.1)

    def get(self, record_id: str) -> Citation | None:
        return self.records.get(record_id)

    def related(self, record_id: str, *, limit: int = 5) -> list[Citation]:
        return [c for c in self.records.values() if c.record_id != record_id][:limit]

    def risk_tips(self, topic: str, *, limit: int = 3) -> list[Citation]:
        return [c for c in self.guidance if topic in c.article][:limit]

    def add_guidance(self, *, title: str, question: str, answer: str, author: str) -> Citation:
        citation = Citation(
            law="法制大队解答",
            article=title,
            version=datetime.now(UTC).date().isoformat(),
            text=f"问：{question}\n答：{answer}",
            chapter="",
            kind="guidance",
            superseded_by=None,
            record_id=f"curated-{len(self.guidance) + 1}",
        )
        self.guidance.append(citation)
        self.records[citation.record_id] = citation
        return citation
