"""Guidance changed on the desk reaches a bot whose knowledge base runs in a process of its own."""

from __future__ import annotations

from bot.knowledge_process import KnowledgeBaseProcess
from core.settings import Settings
from knowledge import curation


class TestKnowledgeProcessRereads:
    def test_the_guidance_watch_re_reads_through_the_process(self, settings: Settings) -> None:
        """A new guidance file makes the child re-read its sources once; an unchanged folder does not."""
        folder = curation.guidance_dir(settings)
        folder.mkdir(parents=True)
        kb = KnowledgeBaseProcess(settings, factory="tests.desk.desk_kb_fakes:open_rereading", threads=1)
        try:
            watch = curation.GuidanceWatch(settings, kb)
            assert not watch.check()
            (folder / "20260316T090000000000-L1.md").write_text("x", encoding="utf-8")
            assert watch.check()
            assert not watch.check()
            assert kb.ingest_bundled() == "re-read 2"  # the first came from the watch
        finally:
            kb.close()
