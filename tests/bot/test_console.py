"""The console chat drives the real handlers and prints what the bot would send."""

from __future__ import annotations

import re
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
            read_line=_pressing(
                ["取保候审最长多久？", "press:👍", "外星人入境怎么处理？", "press:转法制大队", "我的任务", "我的通知",
                 "/as DEMO002", "未答问题"],
                out,
            ),
        )
        text = "\n".join(out)
        assert code == 0
        assert "演示民警，您好" in text
        assert "《刑事诉讼法》第七十九条（2018-10-26版）" in text and "  │ 人民法院" in text
        assert "💬 感谢您的反馈。" in text
        # the demo's task and risk tip are there to try as well (listed by 我的任务 and 我的通知)
        assert "您的任务（按截止时间）：\n   1. 📋 演示：整理本周执法记录仪视频并上传" in text
        assert "我的通知（1条未确认）" in text and "冬季夜间巡逻盘查" in text
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


def _pressing(lines: list[str], out: list[str]) -> Callable[[], Awaitable[str]]:
    """Reads scripted lines; "press:LABEL" presses the newest button whose label contains LABEL."""
    pending = list(lines)

    async def read_line() -> str:
        if not pending:
            raise EOFError
        line = pending.pop(0)
        if not line.startswith("press:"):
            return line
        label = line.removeprefix("press:")
        found = re.findall(r"\[#(\d+) ([^\]]*)\]", "\n".join(out))
        numbers = [number for number, text in found if label in text]
        assert numbers, f"no button {label!r} in:\n" + "\n".join(out)
        return f"#{numbers[-1]}"

    return read_line


class TestConsoleDemoReminders:
    """The demo officer's demo cases: reminders and their buttons work in the console."""

    async def test_demo_cases_are_listed_and_extend_and_snooze_edit_the_message(self, settings: Settings) -> None:
        """我的提醒 lists three demo deadlines; 已延长 and 稍后提醒 swap the buttons in place, as on a phone."""
        from bot.commands import chat_session
        from core.migrate import upgrade_async

        await upgrade_async(settings)
        out: list[str] = []
        script = [
            "我的提醒",
            "press:1. 演示：孙某某",
            "press:已延长",
            "press:延长1日",
            "press:确认无误",
            "我的提醒",
            "press:2. 演示：李某某",
            "press:稍后提醒",
            "press:4小时后",
        ]
        code = await chat_session(
            settings, "DEMO001", kb=FakeKnowledgeBase(), demo=True, output=out.append, read_line=_pressing(script, out)
        )
        text = "\n".join(out)
        assert code == 0
        for number in ("DEMO-001", "DEMO-002", "DEMO-003"):
            assert number in text
        # 已延长 shows the extensions, 稍后提醒 the delays, and a chosen delay brings the buttons back.
        assert text.count("(buttons changed)") >= 3, text
        assert "特殊情况延长1日（共4日）" in text and "请确认" in text
        assert "(edited)" in text and "💬 已延长，现于" in text
        assert "4小时后" in text and "明天8:00" in text
        assert re.search(r"💬 将于\d{4}-\d\d-\d\d \d\d:\d\d再次提醒您", text), text

    async def test_old_buttons_of_an_edited_message_press_nothing(self, settings: Settings) -> None:
        """After an edit replaces a message's buttons, their old numbers are gone, as they are on Telegram."""
        from bot.console import ConsoleSession
        from core.migrate import upgrade_async

        await upgrade_async(settings)
        from aiogram.methods import EditMessageReplyMarkup, SendMessage
        from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

        from bot.botapi import build_bot

        out: list[str] = []
        session = ConsoleSession(out.append, own_chat=7)
        bot = build_bot(settings, session)

        def keyboard(*labels: str) -> InlineKeyboardMarkup:
            return InlineKeyboardMarkup(
                inline_keyboard=[[InlineKeyboardButton(text=label, callback_data=label)] for label in labels]
            )

        sent = await bot(SendMessage(chat_id=7, text="<b>卡片</b>", reply_markup=keyboard("a", "b")))
        assert sorted(session.buttons) == [1, 2]
        await bot(EditMessageReplyMarkup(chat_id=7, message_id=sent.message_id, reply_markup=keyboard("c")))
        assert session.buttons == {3: (7, sent.message_id, "c")}
        assert out[-1] == "🤖 (buttons changed) 卡片…\n   [#3 c]"
        await bot.session.close()

    def test_demo_cases_fall_within_the_coming_week(self) -> None:
        """Each demo case's event is dated so its deadline is days, not months, away."""
        from datetime import datetime

        from bot.commands import demo_case_rows

        rows = demo_case_rows(datetime(2026, 11, 29, 9, 0))
        assert [r.get("event_date") for r in rows] == ["2026-11-27", "2026-11-27 10:00", "2025-12-05", "2026-11-02"]
