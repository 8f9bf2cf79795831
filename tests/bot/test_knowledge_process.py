"""The knowledge base in a process of its own: calls, errors, a child that dies and comes back."""

from __future__ import annotations

import pytest

from bot.knowledge_process import KnowledgeBaseProcess, KnowledgeProcessError
from core.settings import Settings
from tests.e2e.fakes import KnowledgeBaseBroken

FAKE = "tests.bot.kb_process_fakes:open_fake"


@pytest.fixture
def kb_process(settings: Settings):  # type: ignore[no-untyped-def]
    """A knowledge-base process on the fake knowledge base."""
    process = KnowledgeBaseProcess(settings, factory=FAKE, start_timeout=60)
    yield process
    process.close()


class TestKnowledgeBaseProcess:
    def test_calls_run_in_the_child_and_return_its_answers(self, kb_process: KnowledgeBaseProcess) -> None:
        """ask/get/related/risk_tips go to the child; answers come back whole."""
        import os

        assert kb_process.pid is not None and kb_process.pid != os.getpid()
        answer = kb_process.ask("取保候审最长多久？")
        assert answer.grounded and answer.citations[0].article == "第七十九条"
        assert kb_process.get("xsssf-2018-091") is not None
        assert kb_process.get("no-such-record") is None

    def test_a_failing_call_raises_its_error_in_the_bot(self, kb_process: KnowledgeBaseProcess) -> None:
        """An exception in the knowledge base reaches the caller as itself; the child carries on."""
        with pytest.raises(KnowledgeBaseBroken, match="the index is on fire"):
            kb_process.ask("boom")
        assert kb_process.ask("取保候审最长多久？").grounded

    def test_a_child_that_dies_fails_its_calls_and_is_started_again(self, kb_process: KnowledgeBaseProcess) -> None:
        """The call in flight fails with KnowledgeProcessError; the next call starts a new child."""
        first = kb_process.pid
        with pytest.raises(KnowledgeProcessError, match="stopped"):
            kb_process.ask("die")
        answer = kb_process.ask("取保候审最长多久？")
        assert answer.grounded
        assert kb_process.starts == 2 and kb_process.pid != first

    def test_a_knowledge_base_that_cannot_open_is_reported(self, settings: Settings) -> None:
        """A child that cannot open the knowledge base fails the start with its reason."""
        with pytest.raises(KnowledgeProcessError, match="the index is missing"):
            KnowledgeBaseProcess(settings, factory="tests.bot.kb_process_fakes:open_broken", start_timeout=60)
