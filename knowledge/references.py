"""Exact article references in questions and answers: "刑诉法第79条", "治安法83条", "第二百五十三条之一".

The abbreviation table covers the bundled instruments with the names officers and lawyers
actually use; full titles and short titles of any ingested instrument are matched as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ingest.numerals import int_to_cn, to_int
from ingest.statutes import PRC_PREFIX

# short law name (as in the corpus) -> common abbreviations
ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "刑法": ("刑法典",),
    "刑事诉讼法": ("刑诉法", "刑诉", "刑事诉讼"),
    "治安管理处罚法": ("治安法", "治安处罚法", "治安管理法", "治安管罚法", "治罚法"),
    "人民警察法": ("人警法", "警察法"),
    "行政诉讼法": ("行诉法", "行诉"),
    "行政处罚法": ("行罚法", "行政处罚"),
    "行政复议法": ("复议法", "行复法"),
    "行政强制法": ("行强法", "强制法"),
    "国家赔偿法": ("国赔法", "国家赔偿"),
    "最高人民法院关于适用《刑事诉讼法》的解释": ("刑诉解释", "刑诉法解释", "高法解释", "刑事诉讼法解释"),
    "人民检察院刑事诉讼规则": ("高检规则", "刑诉规则", "检察院规则", "刑事诉讼规则"),
    "公安机关办理刑事案件程序规定": ("刑事案件程序规定", "刑案程序规定", "公安刑事程序规定", "刑案规定"),
    "公安机关办理行政案件程序规定": ("行政案件程序规定", "行案程序规定", "公安行政程序规定", "行案规定"),
    "人民警察使用警械和武器条例": ("警械武器条例", "警械和武器条例", "警械条例", "武器条例", "用械条例"),
    "公安机关适用继续盘问规定": ("继续盘问规定", "盘问规定"),
    "公安机关督察条例": ("督察条例",),
    "道路交通安全法": ("道交法", "道路交通法", "交通安全法", "道路交通安全"),
    "道路交通安全法实施条例": ("道交法实施条例", "道交条例", "道路交通安全法条例"),
    "道路交通事故处理程序规定": ("事故处理程序规定", "交通事故处理程序规定", "事故处理规定"),
    "道路交通安全违法行为处理程序规定": ("违法行为处理程序规定", "交通违法处理程序规定", "交通违法处理规定"),
    "交通警察道路执勤执法工作规范": ("执勤执法工作规范", "执勤执法规范", "交警执勤规范"),
    "个人信息保护法": ("个保法", "个人信息法"),
    "反电信网络诈骗法": ("反电诈法", "反诈法", "反电信诈骗法"),
    "反有组织犯罪法": ("反有组织法", "反黑法"),
    "反恐怖主义法": ("反恐法",),
    "反家庭暴力法": ("反家暴法", "家暴法"),
    "未成年人保护法": ("未保法", "未成年人保护"),
    "预防未成年人犯罪法": ("预防未成年人法", "预未法", "预防青少年犯罪法"),
    "出境入境管理法": ("出入境管理法", "出入境法"),
    "居民身份证法": ("身份证法",),
    "网络安全法": ("网安法", "网络安全"),
    "法律援助法": ("法援法", "法律援助"),
    "社区矫正法": ("社矫法", "社区矫正"),
    "枪支管理法": ("枪支法", "枪管法"),
    "禁毒法": (),
    "戒毒条例": (),
    "律师法": (),
    "拘留所条例": (),
    "看守所条例": (),
    "信访工作条例": ("信访条例",),
    "最高人民法院、最高人民检察院关于办理袭警刑事案件适用法律若干问题的解释": ("袭警解释", "袭警司法解释"),
    "最高人民法院、最高人民检察院关于办理盗窃刑事案件适用法律若干问题的解释": ("盗窃解释", "盗窃司法解释"),
    "最高人民法院、最高人民检察院关于办理诈骗刑事案件具体应用法律若干问题的解释": (
        "诈骗解释",
        "诈骗司法解释",
    ),
}

SHORT_NAME_CHARS = 10  # longer titles are shown by the abbreviation officers use


def short_name(law: str) -> str:
    """Returns the name officers use for an instrument: 袭警解释, 刑事案件程序规定, 刑法 …"""
    if len(law) <= SHORT_NAME_CHARS:
        return law
    abbreviations = ABBREVIATIONS.get(law)
    return abbreviations[0] if abbreviations else law


_NUM = r"[0-9０-９]+|[零〇一二两三四五六七八九十百千]+"
_ARTICLE_REF_RE = re.compile(rf"(第\s*)?({_NUM})\s*条(?:\s*之\s*({_NUM}))?")
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


@dataclass(frozen=True)
class ArticleRef:
    """An article reference found in text; law is a short law name or None when not stated."""

    law: str | None
    article: str
    start: int
    end: int


def normalize_article(number: int, sub: int = 0) -> str:
    """Writes an article number as the statutes do: 第二百五十三条之一."""
    return f"第{int_to_cn(number)}条" + (f"之{int_to_cn(sub)}" if sub else "")


class LawNames:
    """Recognises instrument names (full, short, abbreviated) in text."""

    def __init__(self, laws: Iterable[str]) -> None:
        self.laws = sorted(set(laws))
        aliases: dict[str, str] = {}
        for law in self.laws:
            aliases[law] = law
            aliases[PRC_PREFIX + law] = law
            bare = law.replace("《", "").replace("》", "")
            aliases.setdefault(bare, law)
            for abbreviation in ABBREVIATIONS.get(law, ()):
                aliases.setdefault(abbreviation, law)
        self.aliases = aliases
        self._pattern = (
            re.compile("|".join(re.escape(a) for a in sorted(aliases, key=len, reverse=True)))
            if aliases
            else None
        )

    def canonical(self, name: str) -> str | None:
        """Returns the short law name for a full, short or abbreviated name."""
        name = name.strip().strip("《》")
        return self.aliases.get(name) or self.aliases.get(name.replace(PRC_PREFIX, ""))

    def find(self, text: str) -> list[tuple[str, int, int]]:
        """Returns (law, start, end) for every instrument name mentioned, longest match first."""
        if self._pattern is None:
            return []
        return [(self.aliases[m.group(0)], m.start(), m.end()) for m in self._pattern.finditer(text)]

    def mentioned(self, text: str) -> list[str]:
        """Returns the distinct laws mentioned in text, in order of appearance."""
        laws: list[str] = []
        for law, _s, _e in self.find(text):
            if law not in laws:
                laws.append(law)
        return laws


def find_article_refs(text: str, names: LawNames) -> list[ArticleRef]:
    """Finds article references; a law name right before the number (or 《》-quoted) binds to it."""
    text = text.translate(_FULLWIDTH)
    mentions = names.find(text)
    refs: list[ArticleRef] = []
    last_law: str | None = None
    last_law_end = -1
    for match in _ARTICLE_REF_RE.finditer(text):
        bound: str | None = None
        for law, _start, end in mentions:
            if end <= match.start():
                gap = text[end : match.start()]
                if len(gap) <= 2 and re.fullmatch(r"[\s》）)的]*", gap):
                    bound = law
        if bound is None and last_law is not None:
            # "刑法第二百七十七条第五款、第二百三十四条": a list continues the previous law
            between = text[last_law_end : match.start()]
            if re.fullmatch(r"[\s、，,和及与或第一二三四五六七八九十款项]*", between):
                bound = last_law
        if match.group(1) is None and bound is None:
            continue  # "3天", "79" without 第 or a law name is not an article reference
        try:
            number = to_int(match.group(2))
            sub = to_int(match.group(3)) if match.group(3) else 0
            article = normalize_article(number, sub)
        except ValueError:
            continue
        refs.append(ArticleRef(law=bound, article=article, start=match.start(), end=match.end()))
        if bound is not None:
            last_law, last_law_end = bound, match.end()
        else:
            last_law = None
    return refs


# Words of a question that point at the instruments governing that field of police work (a mild
# prior, far weaker than naming the instrument). General vocabulary, not tied to any question.
TOPIC_LAWS: dict[str, tuple[str, ...]] = {
    "治安": ("治安管理处罚法", "公安机关办理行政案件程序规定"),
    "行政拘留": ("治安管理处罚法", "拘留所条例"),
    "行政案件": ("公安机关办理行政案件程序规定",),
    "交通": ("道路交通安全法", "道路交通安全法实施条例"),
    "驾驶": ("道路交通安全法", "道路交通安全法实施条例"),
    "开车": ("道路交通安全法",),
    "机动车": ("道路交通安全法", "道路交通安全法实施条例"),
    "驾照": ("道路交通安全法",),
    "酒驾": ("道路交通安全法",),
    "醉驾": ("道路交通安全法", "刑法"),
    "交通事故": ("道路交通事故处理程序规定", "道路交通安全法"),
    "犯罪嫌疑人": ("刑事诉讼法",),
    "嫌疑人": ("刑事诉讼法",),
    "取保候审": ("刑事诉讼法",),
    "监视居住": ("刑事诉讼法",),
    "逮捕": ("刑事诉讼法",),
    "刑事拘留": ("刑事诉讼法",),
    "侦查": ("刑事诉讼法",),
    "羁押": ("刑事诉讼法",),
    "辩护": ("刑事诉讼法",),
    "刑事案件": ("刑事诉讼法", "公安机关办理刑事案件程序规定"),
    "刑事责任": ("刑法",),
    "构成犯罪": ("刑法",),
    "判刑": ("刑法",),
    "有期徒刑": ("刑法",),
    "定罪": ("刑法",),
    "袭警": ("刑法", "最高人民法院、最高人民检察院关于办理袭警刑事案件适用法律若干问题的解释"),
    "警械": ("人民警察使用警械和武器条例", "人民警察法"),
    "武器": ("人民警察使用警械和武器条例", "人民警察法"),
    "开枪": ("人民警察使用警械和武器条例",),
    "盘问": ("公安机关适用继续盘问规定", "人民警察法"),
    "督察": ("公安机关督察条例",),
    "国家赔偿": ("国家赔偿法",),
    "家庭暴力": ("反家庭暴力法",),
    "家暴": ("反家庭暴力法",),
    "未成年": ("未成年人保护法", "预防未成年人犯罪法"),
    "毒品": ("禁毒法", "戒毒条例"),
    "吸毒": ("禁毒法", "戒毒条例"),
    "戒毒": ("戒毒条例", "禁毒法"),
    "身份证": ("居民身份证法",),
    "出入境": ("出境入境管理法",),
    "外国人": ("出境入境管理法",),
    "护照": ("出境入境管理法",),
    "信访": ("信访工作条例",),
    "上访": ("信访工作条例",),
    "看守所": ("看守所条例", "刑事诉讼法"),
    "拘留所": ("拘留所条例",),
    "盗窃": ("刑法", "最高人民法院、最高人民检察院关于办理盗窃刑事案件适用法律若干问题的解释"),
    "诈骗": ("刑法", "最高人民法院、最高人民检察院关于办理诈骗刑事案件具体应用法律若干问题的解释"),
    "电信网络诈骗": ("反电信网络诈骗法",),
    "电诈": ("反电信网络诈骗法",),
    "个人信息": ("个人信息保护法",),
    "网络安全": ("网络安全法",),
    "恐怖": ("反恐怖主义法",),
    "黑社会": ("反有组织犯罪法",),
    "有组织犯罪": ("反有组织犯罪法",),
    "法律援助": ("法律援助法",),
    "社区矫正": ("社区矫正法",),
    "枪支": ("枪支管理法",),
    "行政复议": ("行政复议法",),
    "行政诉讼": ("行政诉讼法",),
    "行政处罚": ("行政处罚法",),
    "行政强制": ("行政强制法",),
    "律师": ("律师法", "刑事诉讼法"),
}


def topic_laws(text: str) -> set[str]:
    """Returns the instruments a question's field-of-work words point at."""
    return {law for word, laws in TOPIC_LAWS.items() if word in text for law in laws}
