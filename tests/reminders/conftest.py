"""Fixtures of the reminders tests: bundled rules and stub risk tips."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reminders.rules import RuleSet, bundled_rules


@pytest.fixture
def rules() -> RuleSet:
    """The bundled rules."""
    return bundled_rules()


@pytest.fixture
def tips() -> Callable[[str], list[str]]:
    """Risk tips that name their topic, counting how often each topic is asked for."""
    calls: dict[str, int] = {}

    def _tips(topic: str) -> list[str]:
        calls[topic] = calls.get(topic, 0) + 1
        return [
            f"{topic}风险提示一（刑事诉讼法第七十九条）",
            f"{topic}风险<提示>二",
            "第三条",
            "第四条不应出现",
        ]

    _tips.calls = calls  # type: ignore[attr-defined]  # lets tests check the per-scan cache
    return _tips
