"""The console chat drives the real handlers and prints what the bot would send."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.settings import Settings
from tests.e2e.fakes import FakeKnowledgeBase


def _script(lines: list[str]) -> Callable[[], Awaitable[str]]:
    pending = list(lines)

    async def read_line() -> str:
        if not pending:
            raise EOFError
        return pending.pop(0)

    return read_line


class TestConsoleChat:
    """`frontline chat` / the demo: questions, buttons by number, switching to the legal officer."""

    async def test_demo_officer_asks_presses_and_refers(self, settings: Settings) -> None:
        """A question is answered with numbered buttons; #N presses one; /as switches officer."""
        from bot.commands import chat_session
        from core.migrate import upgrade_async

        await upgrade_async(settings)
        out: list[str] = []
        code = await chat_session(
            settings,
            "DEMO001",
            kb=FakeKnowledgeBase(),
            demo=True,
            output=out.append,
            read_line=_script(
                ["取保候审最长多久？", "#1", "外星人入境怎么处理？", "#5", "/as DEMO002", "未答问题"]
            ),
        )
        text = "\n".join(out)
        assert code == 0
        assert "演示民警，您好" in text
        assert "《刑事诉讼法》第七十九条（2018-10-26版）" in text and "  │ 人民法院" in text
        assert "[#1 👍]" in text and "💬 感谢您的反馈。" in text
        assert "您的问题已转交法制大队" in text
        assert "(you are now 演示法制员, DEMO002)" in text
        assert "1. 外星人入境怎么处理？" in text
        assert "<b>" not in text and "<blockquote>" not in text

    async def test_unknown_badge_fails_politely(self, settings: Settings) -> None:
        """An unknown badge exits 1 with one line."""
        from bot.commands import chat_session
        from core.migrate import upgrade_async

        await upgrade_async(settings)
        out: list[str] = []
        code = await chat_session(
            settings, "NOPE", kb=FakeKnowledgeBase(), output=out.append, read_line=_script([])
        )
        assert code == 1 and out == ["frontline: no officer with badge NOPE"]
