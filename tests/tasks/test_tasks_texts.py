"""What officers read about tasks: every string translated, buttons that fit, settings that fail loudly."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from tasks_helpers import TZ, local
from typer.testing import CliRunner

import cli
from bot.keyboards import TaskAction, TaskManage
from core.i18n import gettext_for
from core.outbox import MAX_CALLBACK_BYTES
from core.settings import Settings, SettingsError, load_settings
from tasks import texts
from tasks.recurrence import Recurrence, Repeat

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{\w+\}")
SOURCES = (
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tasks").glob("*.py")),
    "bot/routers/tasks.py",
    "bot/routers/task_create.py",
)


def _msgids() -> list[str]:
    found: list[str] = []
    for source in SOURCES:
        for _line, message, _comments, _context in extract_from_file(
            "python", str(ROOT / source), keywords={"_": None, "N_": None}
        ):
            text = message[0] if isinstance(message, tuple) else message
            if text not in found:
                found.append(text)
    return found


class TestTranslations:
    def test_every_task_string_reads_in_chinese(self) -> None:
        """Each msgid of the tasks code (buttons, notices, the flow, errors) has a Chinese wording."""
        zh = gettext_for("zh")
        ids = _msgids()
        assert len(ids) > 150
        untranslated = [i for i in ids if zh(i) == i]
        assert untranslated == []

    def test_english_reads_the_msgids_and_keeps_the_placeholders(self) -> None:
        """English shows the msgid itself; every Chinese wording keeps the msgid's {placeholders}."""
        zh, en = gettext_for("zh"), gettext_for("en")
        with_fields = 0
        for msgid in _msgids():
            assert en(msgid) == msgid
            fields = sorted(PLACEHOLDER.findall(msgid))
            assert sorted(PLACEHOLDER.findall(zh(msgid))) == fields, msgid
            with_fields += bool(fields)
        assert with_fields > 30

    def test_rules_read_as_officers_say_them(self) -> None:
        """日结, 周清 on the weekday, 月结 on the day with the short-month note, the end."""
        due = local(2026, 1, 30, 18)  # a Friday, the 30th
        zh = {r: texts.repeat_text(Recurrence.starting(r, due, TZ), "zh") for r in Repeat}
        assert zh[Repeat.WORKDAYS] == "每个工作日 18:00（日结）"
        assert zh[Repeat.WEEKLY] == "每周五 18:00（周清）"
        assert zh[Repeat.MONTHLY] == "每月30日 18:00（月结），当月无该日则为月末"
        assert zh[Repeat.MONTHLY_LAST_WORKDAY] == "每月最后一个工作日 18:00（月结）"
        limited = Recurrence.starting(Repeat.DAILY, due, TZ, count=5)
        assert texts.repeat_text(limited, "en") == "Every day at 18:00, 5 times in all"

    def test_time_left_counts_minutes_hours_and_days_both_ways(self) -> None:
        """Before and after the due time, in the unit that reads best."""
        due = local(2026, 3, 4, 18)
        cases = [
            (due - timedelta(minutes=30), "还有30分钟"),
            (due - timedelta(hours=5), "还有5小时"),
            (due - timedelta(days=3), "还有3天"),
            (due + timedelta(hours=2), "已超期2小时"),
            (due + timedelta(days=2, hours=1), "已超期2天"),
        ]
        for now, expected in cases:
            assert texts.time_left(due, now, "zh") == expected


class TestButtons:
    def test_pushes_pack_callback_data_exactly_as_the_bot_reads_it(self) -> None:
        """tasks.texts and the bot's CallbackData factories agree, so a pushed button works."""
        assert texts.assignee_callback("done", 42) == TaskAction(action="done", assignment_id=42).pack()
        assert texts.manage_callback("v", 7) == TaskManage(action="v", target=7).pack()
        unpacked = TaskManage.unpack(texts.manage_callback("rp", 123456789, "987654321"))
        assert (unpacked.action, unpacked.target, unpacked.arg) == ("rp", 123456789, "987654321")

    def test_every_button_fits_telegrams_64_bytes_with_large_ids(self) -> None:
        """Callback data stays within Telegram's limit even with ten-digit ids."""
        big = 9_999_999_999
        samples = [
            texts.assignee_callback("note", big),
            texts.assignee_callback("sz", big, "tomorrow"),
            texts.manage_callback("rp", big, str(big)),
            texts.manage_callback("ef", big, "title"),
        ]
        assert all(len(s.encode()) <= MAX_CALLBACK_BYTES for s in samples)


class TestSettings:
    def test_reminder_leads_are_read_longest_first(self, settings: Settings) -> None:
        """24h,2h by default; minutes and spaces are fine; none turns them off."""
        assert settings.task_remind_leads == (timedelta(hours=24), timedelta(hours=2))
        other = load_settings(_env_file=None, task_remind_before=" 30m, 3H ")
        assert other.task_remind_leads == (timedelta(hours=3), timedelta(minutes=30))
        assert load_settings(_env_file=None, task_remind_before="none").task_remind_leads == ()

    def test_a_bad_value_names_the_variable(self, settings: Settings) -> None:
        """A lead that is not hours or minutes, or a negative delay, is refused with the variable's name."""
        with pytest.raises(SettingsError, match="FRONTLINE_TASK_REMIND_BEFORE"):
            load_settings(_env_file=None, task_remind_before="soon")
        with pytest.raises(SettingsError, match="FRONTLINE_TASK_SUPERVISOR_ESCALATION_HOURS"):
            load_settings(_env_file=None, task_supervisor_escalation_hours=-1)

    def test_the_command_line_stops_with_exit_2_on_a_bad_value(self, settings: Settings) -> None:
        """`frontline tasks list` with a bad setting: one line naming it, exit code 2."""
        result = CliRunner().invoke(cli.app, ["tasks", "list"], env={"FRONTLINE_TASK_REMIND_BEFORE": "soon"})
        assert result.exit_code == 2
        assert result.output.strip().startswith("frontline: FRONTLINE_TASK_REMIND_BEFORE: invalid value")
