"""Risk tips reach the reminder scan as plain texts from the bundled guidance."""

from __future__ import annotations

from dataclasses import dataclass

from knowledge.risk import risk_tip_texts


@dataclass(frozen=True)
class _Tip:
    text: str


class _Source:
    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    def risk_tips(self, topic: str, *, limit: int = 3) -> list[_Tip]:
        self.asked.append((topic, limit))
        return [_Tip(f"{topic}提示{i}") for i in range(5)][:limit]


class TestRiskTipTexts:
    def test_adapts_tips_to_texts_with_the_limit(self) -> None:
        """The scan gets at most `limit` tip texts for the topic it names."""
        source = _Source()
        tips = risk_tip_texts(source, limit=2)
        assert tips("取保候审") == ["取保候审提示0", "取保候审提示1"]
        assert source.asked == [("取保候审", 2)]
