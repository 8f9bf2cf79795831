"""The stable command line: tasks import, list --json, occurrences --json, done; errors by line."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import openpyxl
import pytest
import time_machine
from tasks_helpers import local
from typer.testing import CliRunner

import cli
from core import identity, migrate
from core.db import make_engine, make_sessionmaker, transaction
from core.settings import Settings

runner = CliRunner()
HEADER = "title,assignee,due,repeat,priority,source,description,until,count,case_number\n"


def invoke(*args: str) -> str:
    """Runs a command that must succeed; returns its output."""
    result = runner.invoke(cli.app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def rows_of(*args: str) -> list[dict[str, object]]:
    """Runs `tasks list --json` with more arguments."""
    return json.loads(invoke("tasks", "list", "--json", *args))  # type: ignore[no-any-return]


async def _prepare(url: str) -> None:
    await migrate.upgrade_url(url)
    engine = make_engine(url)
    async with transaction(make_sessionmaker(engine)) as session:
        await identity.add_unit(session=session, name="城关派出所")
        await identity.add_unit(session=session, name="一中队", parent="城关派出所")
        await identity.add_unit(session=session, name="二中队", parent="城关派出所")
        await identity.add_officer(session=session, badge="S001", name="王所长", unit="城关派出所", roles=["supervisor"])
        for badge, name, unit in (("1001", "张三", "一中队"), ("1002", "李四", "一中队"), ("1003", "王五", "二中队")):
            await identity.add_officer(session=session, badge=badge, name=name, unit=unit)
    await engine.dispose()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database file with the people below, made once for the module."""
    path = tmp_path_factory.mktemp("tasks-cli") / "frontline.db"
    asyncio.run(_prepare(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture
def db(settings: Settings, prepared: Path) -> Settings:
    """A copy of the prepared database: 城关派出所 (S001) > 一中队 (1001, 1002) and 二中队 (1003)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(prepared, settings.data_dir / "frontline.db")
    return settings


class TestImport:
    def test_imports_a_file_and_lists_one_row_per_assignee_as_stable_json(self, db: Settings, tmp_path: Path) -> None:
        """A unit with sub-units reaches everyone active in it (the station's own supervisor too, as an
        import has no creator to leave out); each row has exactly the promised keys."""
        path = tmp_path / "tasks.csv"
        path.write_text(
            HEADER
            + "整改执法记录仪未上传,unit:城关派出所,2026-03-04 18:00,none,high,执法问题整改,按通报要求整改,,,\n"
            + "周清案件,1001,2026-03-06 17:00,weekly,normal,案件跟进,,,4,\n",
            encoding="utf-8",
        )
        with time_machine.travel(local(2026, 3, 2, 9), tick=False):
            out = invoke("tasks", "import", str(path))
            assert "tasks added 2" in out
            rows = rows_of()
        assert all(set(row) == {"id", "title", "assignee_badge", "due", "status", "series"} for row in rows)
        assert [(r["title"], r["assignee_badge"], r["due"], r["status"]) for r in rows] == [
            ("整改执法记录仪未上传", "1001", "2026-03-04T18:00:00+08:00", "open"),
            ("整改执法记录仪未上传", "1002", "2026-03-04T18:00:00+08:00", "open"),
            ("整改执法记录仪未上传", "1003", "2026-03-04T18:00:00+08:00", "open"),
            ("整改执法记录仪未上传", "S001", "2026-03-04T18:00:00+08:00", "open"),
            ("周清案件", "1001", "2026-03-06T17:00:00+08:00", "open"),
        ]
        assert rows[0]["series"] is None and isinstance(rows[4]["series"], int)
        assert len({r["id"] for r in rows[:4]}) == 1

    def test_a_bad_file_names_every_bad_line_and_writes_nothing(self, db: Settings, tmp_path: Path) -> None:
        """Unknown badge, bad date, unknown rule and priority: each line reported, exit 1, no task."""
        path = tmp_path / "bad.csv"
        path.write_text(
            HEADER
            + "好的任务,1001,2026-03-04 18:00,none,normal,其他,,,,\n"
            + "坏警号,9999,2026-03-04 18:00,none,normal,其他,,,,\n"
            + "坏日期,1001,下周三,none,normal,其他,,,,\n"
            + "坏周期,1001,2026-03-04 18:00,fortnightly,urgentish,其他,,,,\n"
            + "坏案号,1001,2026-03-04 18:00,none,normal,案件跟进,,,,A404\n",
            encoding="utf-8",
        )
        with time_machine.travel(local(2026, 3, 2, 9), tick=False):
            result = runner.invoke(cli.app, ["tasks", "import", str(path)])
            assert result.exit_code == 1
            assert "Traceback" not in result.output
            for line, words in ((3, "9999"), (4, "bad due"), (5, "fortnightly"), (5, "urgentish"), (6, "A404")):
                assert f"bad.csv: line {line}:" in result.output and words in result.output, (line, result.output)
            assert "line 2" not in result.output
            assert "nothing imported: 4 bad row(s)" in result.output
            assert rows_of() == []

    def test_importing_the_same_file_again_adds_nothing(self, db: Settings, tmp_path: Path) -> None:
        """The second import reports the row unchanged; the task exists once."""
        path = tmp_path / "tasks.csv"
        path.write_text(HEADER + "培训签到,1001,2026-03-04 18:00,none,normal,培训,,,,\n", encoding="utf-8")
        with time_machine.travel(local(2026, 3, 2, 9), tick=False):
            invoke("tasks", "import", str(path))
            assert "tasks added 0, unchanged 1" in invoke("tasks", "import", str(path))
            assert len(rows_of()) == 1

    def test_reads_an_xlsx_with_chinese_headers_and_several_assignees(self, db: Settings, tmp_path: Path) -> None:
        """标题/承办人/截止时间/重复: "1001;1003" gives two assignees; 日结 is workdays."""
        path = tmp_path / "任务.xlsx"
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["标题", "承办人", "截止时间", "重复", "优先级", "来源", "说明"])
        sheet.append(["日结执法记录", "1001;1003", "2026-03-02 18:00", "日结", "普通", "其他", "每日上传"])
        book.save(path)
        with time_machine.travel(local(2026, 3, 2, 9), tick=False):
            invoke("tasks", "import", str(path))
            rows = rows_of()
        assert [r["assignee_badge"] for r in rows] == ["1001", "1003"]
        assert rows[0]["series"] is not None

    def test_an_overdue_task_can_be_imported_and_is_listed_as_overdue(self, db: Settings, tmp_path: Path) -> None:
        """A due time already past is recorded, overdue at once; --status filters by it."""
        path = tmp_path / "late.csv"
        path.write_text(
            HEADER
            + "补录笔录,1001,2026-03-01 18:00,none,normal,其他,,,,\n"
            + "下周任务,1001,2026-03-09 18:00,none,normal,其他,,,,\n",
            encoding="utf-8",
        )
        with time_machine.travel(local(2026, 3, 2, 9), tick=False):
            invoke("tasks", "import", str(path))
            assert [r["title"] for r in rows_of("--status", "overdue")] == ["补录笔录"]
            assert [r["title"] for r in rows_of("--status", "open")] == ["下周任务"]
            assert rows_of("--status", "done") == []
            assert [r["title"] for r in rows_of("--badge", "1001")] == ["补录笔录", "下周任务"]
            assert rows_of("--badge", "1002") == []


class TestOccurrences:
    def test_lists_the_next_due_times_of_a_monthly_series_without_drift(self, db: Settings, tmp_path: Path) -> None:
        """月结 on the 31st from 31 March: Mar 31, Apr 30, May 31, Jun 30."""
        path = tmp_path / "m.csv"
        path.write_text(HEADER + "月结,1001,2026-03-31 17:00,monthly,normal,其他,,,,\n", encoding="utf-8")
        with time_machine.travel(local(2026, 3, 2, 9), tick=False):
            invoke("tasks", "import", str(path))
            task_id = rows_of()[0]["id"]
            dues = json.loads(invoke("tasks", "occurrences", str(task_id), "--count", "4", "--json"))
        assert dues == [
            "2026-03-31T17:00:00+08:00",
            "2026-04-30T17:00:00+08:00",
            "2026-05-31T17:00:00+08:00",
            "2026-06-30T17:00:00+08:00",
        ]

    def test_working_days_skip_the_holiday_week_and_a_count_ends_the_list(self, db: Settings, tmp_path: Path) -> None:
        """日结 from 30 Sep, five times: Sep 30, Oct 8, 9, 10 (Saturday, worked), 12; no sixth."""
        path = tmp_path / "w.csv"
        path.write_text(HEADER + "日结,1001,2026-09-30 18:00,workdays,normal,其他,,,5,\n", encoding="utf-8")
        with time_machine.travel(local(2026, 9, 29, 9), tick=False):
            invoke("tasks", "import", str(path))
            task_id = rows_of()[0]["id"]
            dues = json.loads(invoke("tasks", "occurrences", str(task_id), "--count", "10", "--json"))
        assert [d[:10] for d in dues] == ["2026-09-30", "2026-10-08", "2026-10-09", "2026-10-10", "2026-10-12"]

    def test_an_unknown_task_is_one_line_and_exit_1(self, db: Settings) -> None:
        """No such id: a clear line, no traceback."""
        result = runner.invoke(cli.app, ["tasks", "occurrences", "404", "--count", "3", "--json"])
        assert result.exit_code == 1 and result.output.strip() == "frontline: no such task: 404"


class TestDone:
    def test_an_administrator_marks_a_task_done_for_an_officer_and_it_is_audited(
        self, db: Settings, tmp_path: Path
    ) -> None:
        """done --badge 1001 --note: 1001's row is done, 1002's still open, the audit names the admin."""
        path = tmp_path / "t.csv"
        path.write_text(HEADER + "学习新规,unit:一中队,2026-03-04 18:00,none,normal,培训,,,,\n", encoding="utf-8")
        with time_machine.travel(local(2026, 3, 2, 9), tick=False):
            invoke("tasks", "import", str(path))
            task_id = rows_of()[0]["id"]
            out = invoke("tasks", "done", str(task_id), "--badge", "1001", "--note", "已线下学习")
            assert "done for 1001" in out
            assert [(r["assignee_badge"], r["status"]) for r in rows_of()] == [("1001", "done"), ("1002", "open")]
            audit = json.loads(
                invoke("audit", "tail", "--action", "task.done", "--json").strip().splitlines()[-1]
            )
        assert audit["actor"] == "cli" and audit["detail"]["as"] == "admin" and audit["detail"]["assignee"] == "1001"

    def test_done_refuses_an_officer_the_task_is_not_given_to_and_a_second_time(
        self, db: Settings, tmp_path: Path
    ) -> None:
        """1003 has no part in the task; 1001 cannot be done twice: one line each, exit 1."""
        path = tmp_path / "t.csv"
        path.write_text(HEADER + "学习新规,1001,2026-03-04 18:00,none,normal,培训,,,,\n", encoding="utf-8")
        with time_machine.travel(local(2026, 3, 2, 9), tick=False):
            invoke("tasks", "import", str(path))
            task_id = str(rows_of()[0]["id"])
            refused = runner.invoke(cli.app, ["tasks", "done", task_id, "--badge", "1003"])
            assert refused.exit_code == 1 and "only an officer the task is given to" in refused.output
            invoke("tasks", "done", task_id, "--badge", "1001")
            again = runner.invoke(cli.app, ["tasks", "done", task_id, "--badge", "1001"])
            assert again.exit_code == 1 and again.output.strip() == "frontline: already completed"


class TestOtherCommands:
    def test_the_template_imports_as_it_is(self, db: Settings, tmp_path: Path) -> None:
        """`tasks template` writes a file whose rows need only real names to import."""
        path = tmp_path / "template.csv"
        invoke("tasks", "template", str(path))
        text = path.read_text(encoding="utf-8-sig")
        assert text.startswith("title,assignee,due,repeat")
        fixed = tmp_path / "fixed.csv"
        lines = text.splitlines()
        fixed.write_text(
            "\n".join([lines[0], lines[1], lines[3].replace("1001;1002", "1001;1002")]) + "\n", encoding="utf-8"
        )
        with time_machine.travel(local(2026, 11, 30, 9), tick=False):
            assert "tasks added 2" in invoke("tasks", "import", str(fixed))

    def test_scan_runs_one_pass(self, db: Settings, tmp_path: Path) -> None:
        """`tasks scan --at` makes the next occurrence of a due daily task."""
        path = tmp_path / "d.csv"
        path.write_text(HEADER + "每日,1001,2026-03-02 18:00,daily,normal,其他,,,,\n", encoding="utf-8")
        with time_machine.travel(local(2026, 3, 2, 9), tick=False):
            invoke("tasks", "import", str(path))
            out = invoke("tasks", "scan", "--at", "2026-03-02T18:01")
            assert "occurrences made 1" in out
            assert len(rows_of()) == 2
