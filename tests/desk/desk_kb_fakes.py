"""A knowledge base the knowledge-base process opens in its child, counting its re-reads."""

from __future__ import annotations

from typing import Any

from tests.e2e.fakes import FakeKnowledgeBase


class RereadingKnowledgeBase(FakeKnowledgeBase):
    """The fake knowledge base, able to re-read its sources (it counts how often it did)."""

    rereads = 0

    def ingest_bundled(self) -> str:
        self.rereads += 1
        return f"re-read {self.rereads}"


def open_rereading(settings: Any) -> RereadingKnowledgeBase:
    """Opens the counting knowledge base (settings unused)."""
    return RereadingKnowledgeBase()
