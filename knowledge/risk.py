"""Risk tips as plain texts, the shape the reminder scan asks for."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol


class _Tip(Protocol):
    @property
    def text(self) -> str: ...


class RiskTipSource(Protocol):
    """Anything that finds risk-tip guidance for a measure or case type."""

    def risk_tips(self, topic: str, *, limit: int = 3) -> Sequence[_Tip]: ...


def risk_tip_texts(kb: RiskTipSource, *, limit: int = 3) -> Callable[[str], list[str]]:
    """Adapts a knowledge base's risk tips to topic -> tip texts (each tip cites its own articles)."""

    def tips(topic: str) -> list[str]:
        return [citation.text for citation in kb.risk_tips(topic, limit=limit)]

    return tips
