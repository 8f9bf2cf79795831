"""Knowledge bases the knowledge-base process tests open in the child (importable there by name)."""

from __future__ import annotations

import os
from typing import Any

from knowledge.citations import Answer
from tests.e2e.fakes import FakeKnowledgeBase


class _DyingKnowledgeBase(FakeKnowledgeBase):
    """The fake knowledge base, whose process dies on a question containing 'die'."""

    def ask(self, question: str, *, language: str = "zh") -> Answer:
        if "die" in question:
            os._exit(3)  # the whole process goes, as a crash in native code would take it
        return super().ask(question, language=language)


def open_fake(settings: Any) -> FakeKnowledgeBase:
    """Opens the fake knowledge base (settings unused)."""
    return _DyingKnowledgeBase()


def open_broken(settings: Any) -> FakeKnowledgeBase:
    """Fails the way a missing index would."""
    raise RuntimeError("the index is missing")
