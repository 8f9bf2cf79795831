"""Chinese numerals as used in article numbers (第二百五十三条之一) and back."""

from __future__ import annotations

import re

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_DIGITS = "零一二三四五六七八九"

CN_NUMBER = "[零〇一二两三四五六七八九十百千]+"
_CN_NUMBER_RE = re.compile(f"^{CN_NUMBER}$")


def cn_to_int(text: str) -> int:
    """Converts a Chinese numeral below ten thousand (二百五十三, 十七, 一百零三) to an int."""
    if not text or not _CN_NUMBER_RE.match(text):
        raise ValueError(f"not a Chinese numeral: {text!r}")
    total = 0
    digit = 0
    for char in text:
        if char in _DIGITS:
            digit = _DIGITS[char]
        else:
            unit = _UNITS[char]
            # a bare 十 at the start means 一十 (十七 = 17)
            total += (digit or 1) * unit
            digit = 0
    return total + digit


def int_to_cn(number: int) -> str:
    """Writes a positive int below ten thousand as statutes do (17 -> 十七, 103 -> 一百零三)."""
    if not 0 < number < 10000:
        raise ValueError(f"out of range: {number}")
    parts: list[str] = []
    units = ((1000, "千"), (100, "百"), (10, "十"), (1, ""))
    pending_zero = False
    started = False
    for value, unit in units:
        digit = number // value % 10
        if digit == 0:
            if started:
                pending_zero = True
            continue
        if pending_zero:
            parts.append("零")
            pending_zero = False
        if not (value == 10 and digit == 1 and not started):
            parts.append(_CN_DIGITS[digit])
        parts.append(unit)
        started = True
    return "".join(parts)


def to_int(text: str) -> int:
    """Reads an Arabic or Chinese numeral."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    return cn_to_int(text)
