"""Lexical search: jieba tokens (search mode) + BM25 (bm25s), with a police-work glossary.

The glossary maps everyday words officers use to the words statutes use ("酒驾" ->
"饮酒后驾驶机动车"), so a colloquial question still meets the statutory text. It is general
vocabulary of police work, not tied to any particular question.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import re
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# colloquial / police jargon -> statutory wording (query-side expansion)
GLOSSARY: dict[str, str] = {
    "酒驾": "饮酒后驾驶机动车",
    "醉驾": "醉酒驾驶机动车",
    "喝酒": "饮酒",
    "喝了酒": "饮酒",
    "开车": "驾驶机动车",
    "开摩托": "驾驶摩托车",
    "无证驾驶": "未取得机动车驾驶证驾驶",
    "肇事逃逸": "交通肇事后逃逸",
    "撞人": "交通事故 致人伤亡",
    "闯红灯": "违反交通信号",
    "超速": "超过规定时速",
    "扣车": "扣留机动车",
    "扣证": "暂扣机动车驾驶证",
    "吊销驾照": "吊销机动车驾驶证",
    "驾照": "机动车驾驶证",
    "袭警": "暴力袭击正在依法执行职务的人民警察",
    "打警察": "暴力袭击正在依法执行职务的人民警察",
    "推搡": "肢体冲突 暴力袭击",
    "撕扯": "撕扯 肢体冲突",
    "动手": "殴打 暴力",
    "跑了": "逃跑 脱逃 在逃",
    "逃了": "逃跑 脱逃 在逃",
    "逃跑": "逃跑 脱逃",
    "在逃": "在逃 通缉",
    "追逃": "在逃 通缉",
    "闹事": "寻衅滋事 扰乱 秩序",
    "耍酒疯": "醉酒 约束",
    "砸东西": "故意损毁财物",
    "敲诈": "敲诈勒索",
    "勒索": "敲诈勒索",
    "抗拒抓捕": "抗拒抓捕 暴力",
    "妨碍执法": "阻碍人民警察依法执行职务",
    "妨碍公务": "以暴力、威胁方法阻碍国家机关工作人员依法执行职务",
    "阻挠": "阻碍",
    "辱骂": "侮辱",
    "骂人": "侮辱",
    "诬告": "诬告陷害",
    "诬陷": "诬告陷害",
    "造谣": "捏造事实 诽谤",
    "威胁": "威胁 恐吓",
    "报复": "打击报复",
    "打人": "殴打他人",
    "打架": "殴打 斗殴",
    "打伤": "殴打 致人伤害",
    "群殴": "聚众斗殴",
    "偷东西": "盗窃",
    "偷窃": "盗窃",
    "被偷": "盗窃",
    "小偷": "盗窃",
    "扒窃": "扒窃 盗窃",
    "抢东西": "抢劫 抢夺",
    "抢钱": "抢劫",
    "抢包": "抢夺",
    "骗钱": "诈骗",
    "被骗": "诈骗",
    "骗子": "诈骗",
    "电诈": "电信网络诈骗",
    "赌博": "赌博 赌资",
    "吸毒": "吸食、注射毒品",
    "嫖娼": "卖淫、嫖娼",
    "家暴": "家庭暴力",
    "小孩": "未成年人",
    "孩子": "未成年人",
    "未成年": "未成年人 不满十八周岁",
    "老人": "老年人 已满七十周岁",
    "孕妇": "怀孕的妇女",
    "哺乳": "正在哺乳自己不满一周岁婴儿的妇女",
    "嫌疑人": "犯罪嫌疑人",
    "疑犯": "犯罪嫌疑人",
    "家属": "家属 家属通知",
    "家里人": "家属",
    "律师": "辩护律师 律师",
    "见律师": "会见 辩护律师",
    "会见": "会见 会见通信",
    "关押": "羁押",
    "关多久": "羁押期限",
    "拘留所": "拘留所",
    "看守所": "看守所 羁押",
    "抓人": "拘留 逮捕",
    "抓捕": "抓获 拘留 逮捕",
    "批捕": "批准逮捕",
    "报捕": "提请批准逮捕",
    "刑拘": "刑事拘留 拘留",
    "行拘": "行政拘留",
    "取保": "取保候审",
    "保证金": "保证金 取保候审",
    "监居": "监视居住",
    "指居": "指定居所监视居住",
    "传讯": "传唤",
    "带走": "传唤 带至",
    "盘查": "盘问 检查",
    "留置盘问": "继续盘问",
    "当场盘问": "当场盘问",
    "搜身": "人身检查 搜查",
    "查手机": "检查 电子数据",
    "查身份证": "查验居民身份证",
    "身份证": "居民身份证",
    "做笔录": "询问笔录 讯问笔录",
    "笔录": "笔录",
    "审讯": "讯问",
    "问话": "询问",
    "录像": "录音录像",
    "执法记录仪": "执法记录仪 录音录像",
    "打屁股": "体罚",
    "刑讯": "刑讯逼供",
    "逼供": "刑讯逼供",
    "打官司": "诉讼",
    "告公安": "行政诉讼 行政复议",
    "赔钱": "赔偿",
    "赔偿": "赔偿 国家赔偿",
    "罚款": "罚款",
    "罚钱": "罚款",
    "拘几天": "拘留 日以下",
    "什么情况下": "下列情形之一",
    "什么情形": "下列情形之一",
    "哪些情形": "下列情形之一",
    "哪些情况": "下列情形之一",
    "什么条件": "条件 下列情形之一",
    "哪些条件": "条件 下列情形之一",
    "能不能": "可以 不得",
    "刑事责任": "刑事责任 处 有期徒刑 拘役",
    "怎么判": "处 有期徒刑 拘役",
    "判几年": "处 有期徒刑",
    "怎么处罚": "处 罚款 拘留",
    "怎么罚": "处 罚款 拘留",
    "多久": "期限 日 以内 不得超过",
    "多长时间": "期限 日 以内 不得超过",
    "几天": "日以内 期限",
    "最长": "最长 不得超过",
    "最迟": "至迟 不得超过 以内",
    "超期": "超过期限 羁押期限",
    "延期": "延长",
    "续期": "延长",
    "放人": "释放",
    "放了": "释放",
    "开枪": "使用武器 开枪",
    "用枪": "使用武器",
    "枪": "枪支 武器",
    "警棍": "警棍 警械",
    "手铐": "手铐 约束性警械",
    "辣椒水": "催泪 警械",
    "电击": "电警棍 警械",
    "上铐": "使用手铐 约束性警械",
    "投诉": "投诉 控告",
    "举报": "举报 控告",
    "报案": "报案 控告 举报",
    "报警": "报警 求助",
    "立案": "立案",
    "撤案": "撤销案件",
    "听证": "听证",
    "复议": "行政复议",
    "申诉": "申诉",
    "上访": "信访",
    "精神病": "精神病人",
    "醉汉": "醉酒的人",
    "喝醉": "醉酒",
    "外国人": "外国人",
    "黑社会": "黑社会性质组织",
    "恐怖分子": "恐怖活动",
    "个人信息": "公民个人信息",
    "人肉": "公民个人信息",
    "受伤": "伤害 受伤",
    "看病": "医疗",
    "心理": "心理 心理健康",
    "抚恤": "抚恤 优待",
    "正名": "澄清 恢复名誉",
    "名誉": "名誉 恢复名誉",
    "维权": "维护合法权益",
    "保护民警": "人民警察 依法执行职务 受法律保护",
    "民警": "人民警察",
    "警察": "人民警察",
    "公安局": "公安机关",
    "派出所": "公安派出所",
    "检察院": "人民检察院",
    "法院": "人民法院",
}

# English questions meet Chinese statutes through their statutory terms (matched as whole words).
ENGLISH_GLOSSARY: dict[str, str] = {
    "bail": "取保候审",
    "bail pending trial": "取保候审",
    "guarantor": "保证人",
    "residential surveillance": "监视居住",
    "house arrest": "监视居住",
    "detention": "拘留 羁押",
    "detain": "拘留",
    "detained": "拘留",
    "criminal detention": "刑事拘留",
    "administrative detention": "行政拘留",
    "arrest": "逮捕",
    "arrested": "逮捕",
    "approve arrest": "批准逮捕",
    "procuratorate": "人民检察院",
    "prosecutor": "人民检察院",
    "court": "人民法院",
    "police": "人民警察 公安机关",
    "police officer": "人民警察",
    "officer": "人民警察",
    "firearm": "武器 枪支",
    "firearms": "武器 枪支",
    "gun": "武器 枪支",
    "shoot": "使用武器",
    "weapon": "武器",
    "weapons": "武器",
    "baton": "警棍 警械",
    "handcuffs": "手铐 约束性警械",
    "tear gas": "催泪弹 警械",
    "police equipment": "警械",
    "assault": "暴力袭击 殴打",
    "assaulting": "暴力袭击",
    "attack": "暴力袭击",
    "push": "推搡 暴力",
    "pushing": "推搡 暴力",
    "obstruct": "阻碍 执行职务",
    "obstructing": "阻碍 执行职务",
    "insult": "侮辱",
    "threat": "威胁",
    "threaten": "威胁",
    "false accusation": "诬告陷害",
    "framed": "诬告陷害",
    "drunk driving": "饮酒后驾驶机动车 醉酒驾驶机动车",
    "drink driving": "饮酒后驾驶机动车",
    "driving": "驾驶 机动车",
    "driver's license": "机动车驾驶证",
    "driving licence": "机动车驾驶证",
    "traffic": "道路交通",
    "traffic accident": "交通事故",
    "family": "家属",
    "relatives": "家属 近亲属",
    "notify": "通知",
    "notified": "通知",
    "lawyer": "律师 辩护律师",
    "defence lawyer": "辩护律师",
    "defense lawyer": "辩护律师",
    "meet": "会见",
    "visit": "会见",
    "interrogation": "讯问",
    "interrogate": "讯问",
    "questioning": "询问 盘问",
    "continued questioning": "继续盘问",
    "summon": "传唤",
    "summons": "传唤",
    "suspect": "犯罪嫌疑人",
    "criminal suspect": "犯罪嫌疑人",
    "investigation": "侦查",
    "penalty": "处罚 罚款",
    "punish": "处罚",
    "punished": "处罚",
    "fine": "罚款",
    "on the spot": "当场",
    "hearing": "听证",
    "minor": "未成年人",
    "juvenile": "未成年人",
    "under 16": "不满十六周岁",
    "theft": "盗窃",
    "fraud": "诈骗",
    "telecom fraud": "电信网络诈骗",
    "domestic violence": "家庭暴力",
    "compensation": "赔偿 国家赔偿",
    "state compensation": "国家赔偿",
    "torture": "刑讯逼供",
    "legal aid": "法律援助",
    "id card": "居民身份证",
    "identity card": "居民身份证",
    "drugs": "毒品",
    "public security": "治安",
    "public order": "治安管理",
    "how long": "期限 最长 不得超过",
    "time limit": "期限",
    "deadline": "期限",
    "hours": "小时",
    "days": "日",
    "months": "个月",
    "criminal liability": "刑事责任",
    "crime": "犯罪",
    "when may": "下列情形之一",
    "under what circumstances": "下列情形之一",
}
_ENGLISH_RE = None


def _english_pattern() -> re.Pattern[str]:
    global _ENGLISH_RE
    if _ENGLISH_RE is None:
        words = sorted(ENGLISH_GLOSSARY, key=len, reverse=True)
        _ENGLISH_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b")
    return _ENGLISH_RE


_STOPWORDS = frozenset(
    ["的", "了", "是", "吗", "呢", "吧", "啊", "么", "在", "和", "与", "及", "或", "要", "会", "能", "可以", "怎么", "怎么样", "怎样", "什么", "哪些", "哪个", "如何", "是否", "有", "没有", "被", "把", "对", "给", "让", "这", "那", "这个", "那个", "一个", "我", "你", "他", "她", "我们", "他们", "请问", "一下", "还是", "就", "都", "也", "应当", "应该", "需要", "算", "不算", "情况", "情形", "时候", "？", "?", "，", ",", "。", ".", "！", "!", "、", "：", ":", "；", ";", "（", "）", "(", ")", "《", "》", "“", "”", '"', "'", "the", "a", "an", "of", "to", "is", "are", "do", "does", "how", "what", "when", "can", "in", "on", "for"]
)
_TOKEN_OK = re.compile(r"[\w\u4e00-\u9fff]")

# BM25 parameters: b below the usual 0.75 because long articles (lists of 情形) are often the
# answer and should not be penalised as much for their length; see bench/README.knowledge.md
BM25_K1 = 1.2
BM25_B = 0.5
# Character bigrams of Chinese runs are indexed next to jieba's words, so a segmentation that
# splits differently in question and article ("保证人要" -> 保证/人要) still matches.
BM25_BIGRAMS = True
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")

_jieba_lock = threading.Lock()
_jieba_ready = False


def _jieba() -> Any:
    global _jieba_ready
    with warnings.catch_warnings():
        # jieba's sources carry invalid escape sequences; not ours to fix, and harmless
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        import jieba  # loading the dictionary takes about a second: done once, lazily

    with _jieba_lock:
        if not _jieba_ready:
            jieba.setLogLevel(logging.WARNING)
            for word in GLOSSARY:
                jieba.add_word(word, freq=20000)
            for expansion in GLOSSARY.values():
                for word in expansion.split():
                    if 2 <= len(word) <= 8:
                        jieba.add_word(word, freq=20000)
            _jieba_ready = True
    return jieba


def tokenizer_id() -> str:
    """Names the tokenizer configuration: saved tokens are only reused by the same one."""
    import jieba

    words = sorted(GLOSSARY.items())
    key = json.dumps([jieba.__version__, words, sorted(_STOPWORDS)], ensure_ascii=False)
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def tokenize(text: str) -> list[str]:
    """Splits text into search tokens (jieba search mode, stopwords and punctuation dropped)."""
    if len(text) <= _CACHED_TEXT_CHARS:
        return list(_short_tokens(text))
    return _tokens(text)


# A question is segmented by the search, the confidence and the answer's lead-in, and the lead-in
# segments the sentences of the articles cited, which recur across questions: short texts are
# remembered (whole articles, segmented when indexing, are not: they would crowd the cache).
_CACHED_TEXT_CHARS = 200


@functools.lru_cache(maxsize=8192)
def _short_tokens(text: str) -> tuple[str, ...]:
    return tuple(_tokens(text))


def _tokens(text: str) -> list[str]:
    jieba = _jieba()
    return [
        t.lower()
        for t in jieba.lcut_for_search(text)
        if t.strip() and t not in _STOPWORDS and _TOKEN_OK.search(t)
    ]


def bigrams(text: str) -> list[str]:
    """Returns the character bigrams of the Chinese runs of a text, marked apart from words."""
    return ["~" + run[i : i + 2] for run in _CJK_RUN.findall(text) for i in range(len(run) - 1)]


def expand_query(text: str) -> str:
    """Appends the statutory wording of every glossary term found in the question."""
    extra = [expansion for word, expansion in GLOSSARY.items() if word in text]
    if text.isascii() or re.search(r"[A-Za-z]{3,}", text):
        extra.extend(ENGLISH_GLOSSARY[m.group(1)] for m in _english_pattern().finditer(text.lower()))
    return text if not extra else text + " " + " ".join(extra)


class LexicalIndex:
    """BM25 over record texts; rebuilt from the token cache when records change."""

    def __init__(self, *, k1: float = BM25_K1, b: float = BM25_B, use_bigrams: bool | None = None) -> None:
        self.k1 = k1
        self.b = b
        self.use_bigrams = BM25_BIGRAMS if use_bigrams is None else use_bigrams
        self._token_cache: dict[str, list[str]] = {}
        self._ids: list[str] = []
        self._bm25: Any = None

    def load_tokens(self, path: Path) -> None:
        """Loads tokens saved by an earlier run, if they were made by the same tokenizer."""
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            return
        if data.get("tokenizer") == self._tokenizer_id():
            # interned: the same word or bigram recurs across thousands of articles
            for digest, tokens in data.get("tokens", {}).items():
                self._token_cache[digest] = [sys.intern(t) for t in tokens]

    def save_tokens(self, path: Path) -> None:
        """Saves the token cache so the next start does not re-segment every article."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"tokenizer": self._tokenizer_id(), "tokens": self._token_cache}, ensure_ascii=False), "utf-8")
        os.replace(tmp, path)

    def _tokenizer_id(self) -> str:
        return tokenizer_id() + ("+bigrams" if self.use_bigrams else "")

    def _index_tokens(self, text: str) -> list[str]:
        return [sys.intern(t) for t in tokenize(text) + (bigrams(text) if self.use_bigrams else [])]

    def build(self, items: Sequence[tuple[str, str, str]]) -> bool:
        """Indexes (record_id, content_hash, text) triples; returns whether any text was new."""
        import bm25s

        # bm25s sets its own logger to DEBUG, which would print on every rebuild
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        corpus: list[list[str]] = []
        cache: dict[str, list[str]] = {}
        fresh = False
        for _record_id, digest, text in items:
            tokens = self._token_cache.get(digest)
            if tokens is None:
                tokens = self._index_tokens(text)
                fresh = True
            cache[digest] = tokens
            corpus.append(tokens or ["\u2205"])
        self._token_cache = cache
        self._ids = [record_id for record_id, _d, _t in items]
        if not corpus:
            self._bm25 = None
            return fresh
        bm25 = bm25s.BM25(k1=self.k1, b=self.b)
        bm25.index(corpus, show_progress=False)
        self._bm25 = bm25
        return fresh

    def tokens_of(self, content_hash: str) -> list[str] | None:
        """Returns the cached tokens of an indexed text, by content hash."""
        return self._token_cache.get(content_hash)

    @property
    def ids(self) -> list[str]:
        """Returns the indexed record ids, in index order."""
        return self._ids

    def idf(self, token: str) -> float:
        """Returns how rare a token is across the indexed texts (BM25's idf; unseen tokens rate highest)."""
        bm25 = self._bm25
        if bm25 is None:
            return 1.0
        total = int(bm25.scores["num_docs"])
        token_id = bm25.vocab_dict.get(token)
        pointers = bm25.scores["indptr"]
        count = 0 if token_id is None else int(pointers[token_id + 1] - pointers[token_id])
        return math.log(1.0 + (total - count + 0.5) / (count + 0.5))

    def scores(self, query: str) -> np.ndarray[Any, Any]:
        """Returns a BM25 score per indexed record (index order) for the expanded query."""
        if self._bm25 is None:
            return np.zeros(0, dtype=np.float32)
        # each word counts once, however many glossary entries brought it in
        words = tokenize(expand_query(query)) + (bigrams(query) if self.use_bigrams else [])
        tokens = list(dict.fromkeys(t for t in words if t in self._bm25.vocab_dict))
        if not tokens:
            return np.zeros(len(self._ids), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)
