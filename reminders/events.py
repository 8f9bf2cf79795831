"""The case events an import can name, in Chinese with common English aliases."""

from __future__ import annotations

from enum import StrEnum


class CaseType(StrEnum):
    """Criminal (刑事) or administrative (行政) case."""

    CRIMINAL = "criminal"
    ADMINISTRATIVE = "administrative"


CASE_TYPE_ALIASES: dict[str, CaseType] = {
    "criminal": CaseType.CRIMINAL,
    "刑事": CaseType.CRIMINAL,
    "刑事案件": CaseType.CRIMINAL,
    "administrative": CaseType.ADMINISTRATIVE,
    "admin": CaseType.ADMINISTRATIVE,
    "行政": CaseType.ADMINISTRATIVE,
    "行政案件": CaseType.ADMINISTRATIVE,
    "治安": CaseType.ADMINISTRATIVE,
    "治安案件": CaseType.ADMINISTRATIVE,
}

EVENTS: tuple[str, ...] = (
    "受案",
    "立案",
    "传唤",
    "拘传",
    "继续盘问",
    "刑事拘留",
    "提请批准逮捕",
    "逮捕",
    "取保候审",
    "监视居住",
    "解除强制措施",
    "移送审查起诉",
    "行政案件受理",
    "结案",
)

_ALIASES: dict[str, tuple[str, ...]] = {
    "受案": ("accepted", "case accepted", "report accepted", "受理"),
    "立案": ("filed", "case filed", "registered", "filing"),
    "传唤": ("summons", "summoned", "summon"),
    "拘传": ("compelled appearance", "forced appearance", "compulsory summons"),
    "继续盘问": ("continued questioning", "further questioning", "盘问"),
    "刑事拘留": ("detention", "criminal detention", "detained", "刑拘"),
    "提请批准逮捕": ("arrest request", "request arrest", "request for arrest approval", "提请逮捕", "报捕"),
    "逮捕": ("arrest", "arrested"),
    "取保候审": ("bail", "bail pending trial", "取保"),
    "监视居住": ("residential surveillance", "house arrest"),
    "解除强制措施": ("release", "released", "measure lifted", "lifted", "释放", "解除"),
    "移送审查起诉": (
        "transfer for prosecution",
        "prosecution transfer",
        "sent for prosecution",
        "移送起诉",
        "移诉",
    ),
    "行政案件受理": (
        "administrative case accepted",
        "admin accepted",
        "administrative accepted",
        "治安案件受理",
    ),
    "结案": ("closed", "case closed", "close", "concluded"),
}

EVENT_ALIASES: dict[str, str] = {}
for _canonical, _names in _ALIASES.items():
    EVENT_ALIASES[_canonical] = _canonical
    for _name in _names:
        EVENT_ALIASES[_name] = _canonical

# Events after which the suspect is held / no longer held; 结案 ends any hold in this case.
CUSTODY_START = frozenset({"刑事拘留", "逮捕"})
CUSTODY_END = frozenset({"取保候审", "监视居住", "解除强制措施", "结案"})

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
    return CASE_TYPE_ALIASES.get(name.strip().lower())


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
