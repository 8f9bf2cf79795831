"""The case events an import can name, in Chinese with common English aliases, and the case types."""

from __future__ import annotations

from enum import StrEnum


class CaseType(StrEnum):
    """Criminal (刑事), public-order (治安) or another administrative case (其他行政).

    Public-order cases follow the 治安管理处罚法 (30 days, art. 118); other administrative cases
    their own law (行政处罚法 art. 60: 90 days), so an import must say which one a case is.
    """

    CRIMINAL = "criminal"
    PUBLIC_ORDER = "public_order"
    OTHER_ADMIN = "other_admin"


CASE_TYPE_NAMES: dict[CaseType, dict[str, str]] = {
    CaseType.CRIMINAL: {"zh": "刑事案件", "en": "criminal case"},
    CaseType.PUBLIC_ORDER: {"zh": "治安案件", "en": "public-order case"},
    CaseType.OTHER_ADMIN: {"zh": "其他行政案件", "en": "other administrative case"},
}

CASE_TYPE_ALIASES: dict[str, CaseType] = {
    "criminal": CaseType.CRIMINAL,
    "刑事": CaseType.CRIMINAL,
    "刑事案件": CaseType.CRIMINAL,
    "public_order": CaseType.PUBLIC_ORDER,
    "public order": CaseType.PUBLIC_ORDER,
    "public-order": CaseType.PUBLIC_ORDER,
    "治安": CaseType.PUBLIC_ORDER,
    "治安案件": CaseType.PUBLIC_ORDER,
    "other_admin": CaseType.OTHER_ADMIN,
    "other administrative": CaseType.OTHER_ADMIN,
    "other admin": CaseType.OTHER_ADMIN,
    "其他行政": CaseType.OTHER_ADMIN,
    "其他行政案件": CaseType.OTHER_ADMIN,
    "一般行政案件": CaseType.OTHER_ADMIN,
}

# Words that used to name an administrative case without saying whether it is a public-order
# case: 30 or 90 days, so an import refuses to guess.
AMBIGUOUS_CASE_TYPES = frozenset({"administrative", "admin", "行政", "行政案件"})

# Events in the order they are taken when several fall on the same day: a date without a time
# (midnight) must not put a bail decision before the detention it replaces.
EVENTS: tuple[str, ...] = (
    "受案",
    "行政案件受理",
    "接受移送案件",
    "立案",
    "不予立案",
    "决定移送管辖",
    "继续盘问",
    "继续盘问（特殊人员）",
    "传唤",
    "拘传",
    "刑事拘留",
    "提请批准逮捕",
    "不批准逮捕",
    "逮捕",
    "发现另有重要罪行",
    "重新计算羁押期限",
    "查清身份",
    "申请变更强制措施",
    "答复变更申请",
    "解除强制措施",
    "取保候审",
    "监视居住",
    "指定居所监视居住",
    "鉴定开始",
    "鉴定结束",
    "听证开始",
    "听证结束",
    "扣押",
    "解除扣押",
    "作出处罚决定",
    "移送审查起诉",
    "退回补充侦查",
    "结案",
)

_ALIASES: dict[str, tuple[str, ...]] = {
    "受案": ("accepted", "case accepted", "report accepted", "受理"),
    "行政案件受理": (
        "administrative case accepted",
        "admin accepted",
        "administrative accepted",
        "治安案件受理",
    ),
    "接受移送案件": ("case transferred in", "transfer received", "接受移送"),
    "立案": ("filed", "case filed", "registered", "filing"),
    "不予立案": ("not filed", "filing refused", "no filing"),
    "决定移送管辖": ("transfer jurisdiction", "jurisdiction transfer", "移送管辖"),
    "继续盘问": ("continued questioning", "further questioning", "盘问"),
    "继续盘问（特殊人员）": (
        "continued questioning (4 h)",
        "continued questioning special",
        "继续盘问(特殊人员)",
        "继续盘问4小时",
    ),
    "传唤": ("summons", "summoned", "summon"),
    "拘传": ("compelled appearance", "forced appearance", "compulsory summons"),
    "刑事拘留": ("detention", "criminal detention", "detained", "刑拘"),
    "提请批准逮捕": ("arrest request", "request arrest", "request for arrest approval", "提请逮捕", "报捕"),
    "不批准逮捕": ("arrest refused", "arrest not approved", "不捕"),
    "逮捕": ("arrest", "arrested"),
    "发现另有重要罪行": ("another crime found", "other crime found", "另有重要罪行"),
    "重新计算羁押期限": ("custody restarted", "custody recounted", "重新计算"),
    "查清身份": ("identity established", "identity found", "身份查清"),
    "申请变更强制措施": ("measure change requested", "change request", "申请变更"),
    "答复变更申请": ("change request answered", "change request decided", "变更申请决定"),
    "解除强制措施": ("release", "released", "measure lifted", "lifted", "释放", "解除"),
    "取保候审": ("bail", "bail pending trial", "取保"),
    "监视居住": ("residential surveillance", "house arrest"),
    "指定居所监视居住": ("designated residence", "designated residential surveillance", "指居"),
    "鉴定开始": ("appraisal started", "expert examination started", "送检", "委托鉴定"),
    "鉴定结束": ("appraisal done", "expert opinion received", "鉴定意见", "收到鉴定意见"),
    "听证开始": ("hearing started", "hearing requested", "听证"),
    "听证结束": ("hearing ended", "hearing done"),
    "扣押": ("seizure", "seized", "查封", "扣留"),
    "解除扣押": ("seizure lifted", "released seizure", "解除查封", "解除扣留"),
    "作出处罚决定": ("penalty decided", "decision made", "处罚决定", "行政处罚决定"),
    "移送审查起诉": (
        "transfer for prosecution",
        "prosecution transfer",
        "sent for prosecution",
        "移送起诉",
        "移诉",
    ),
    "退回补充侦查": ("returned for investigation", "supplementary investigation", "退补", "补充侦查"),
    "结案": ("closed", "case closed", "close", "concluded"),
}

EVENT_ALIASES: dict[str, str] = {}
for _canonical, _names in _ALIASES.items():
    EVENT_ALIASES[_canonical.lower()] = _canonical
    for _name in _names:
        EVENT_ALIASES[_name.lower()] = _canonical

# Events after which the suspect is held (在押) / no longer held; 结案 ends any hold in this case.
CUSTODY_START = frozenset({"刑事拘留", "逮捕"})
CUSTODY_END = frozenset({"取保候审", "监视居住", "指定居所监视居住", "解除强制措施", "不批准逮捕", "结案"})

FLAGS: tuple[str, ...] = ("流窜", "多次", "结伙")
FLAG_ALIASES: dict[str, str] = {
    "流窜": "流窜",
    "流窜作案": "流窜",
    "roving": "流窜",
    "多次": "多次",
    "多次作案": "多次",
    "repeated": "多次",
    "结伙": "结伙",
    "结伙作案": "结伙",
    "gang": "结伙",
}


def canonical_event(name: str) -> str | None:
    """Returns the canonical event name for a Chinese name or English alias, or None."""
    key = " ".join(name.strip().lower().replace("_", " ").split())
    return EVENT_ALIASES.get(key)


def canonical_case_type(name: str) -> CaseType | None:
    """Returns the case type named in Chinese or English, or None."""
    return CASE_TYPE_ALIASES.get(" ".join(name.strip().lower().split()))


def is_ambiguous_case_type(name: str) -> bool:
    """Tells whether a case type names an administrative case without saying whether it is 治安."""
    return " ".join(name.strip().lower().split()) in AMBIGUOUS_CASE_TYPES


def event_order(event: str) -> int:
    """Returns the place of an event among those of one day."""
    return EVENTS.index(event) if event in EVENTS else len(EVENTS)


def parse_flags(text: str) -> tuple[list[str], list[str]]:
    """Splits a flags cell into known canonical flags and unknown words."""
    known: list[str] = []
    unknown: list[str] = []
    for part in text.replace("；", ";").replace("，", ",").replace("、", ",").replace(";", ",").split(","):
        word = part.strip().lower()
        if not word:
            continue
        flag = FLAG_ALIASES.get(word)
        if flag is None:
            unknown.append(part.strip())
        elif flag not in known:
            known.append(flag)
    return known, unknown
