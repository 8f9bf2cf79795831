"""The periodic scan loop, orphaned cases, and the cases / reminders command line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import time_machine
from reminders_helpers import local, rows
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

import schema
from core import identity, outbox
from core.audit import AuditEvent
from core.db import make_engine, make_sessionmaker, transaction
from core.outbox import OutboxItem, OutboxMessage
from core.settings import Settings
from reminders.cases import import_cases
from reminders.commands import calendar_app, cases_app, create_reminders_app
from reminders.schedule import run_daily_scan_loop, scan


class TestScanLoop:
    async def test_the_loop_scans_at_once_and_stops_when_asked(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        make_officer,  # type: ignore[no-untyped-def]  # shared fixture
        session: AsyncSession,
        tips: Callable[[str], list[str]],
    ) -> None:
        """Started three days before a detention's request is due, the first pass queues its reminder."""
        await make_officer(badge="1001")
        await import_cases(
            session=session,
            settings=settings,
            now=local(2026, 3, 2, 12),
            rows=rows(("A1", "案", "criminal", "1001", "刑事拘留", "2026-03-02 10:00")),
        )
        await session.commit()
        stop = asyncio.Event()
        queued = asyncio.Event()

        async def enqueue(*, session: AsyncSession, items: list[OutboxItem]) -> int:
            added = await outbox.enqueue_many(session=session, items=items)
            queued.set()
            return added

        # The in-memory database has one shared connection: nothing else may touch it until the
        # loop has committed, so the test waits for the enqueue, then for the loop to end.
        with time_machine.travel(local(2026, 3, 3, 9), tick=False):
            task = asyncio.create_task(
                run_daily_scan_loop(
                    sessions=sessions,
                    settings=settings,
                    risk_tips=tips,
                    stop=stop,
                    interval_seconds=60,
                    enqueue_many=enqueue,
                )
            )
            await asyncio.wait_for(queued.wait(), timeout=10)
            stop.set()
            await asyncio.wait_for(task, timeout=10)
        async with sessions() as check:
            keys = (await check.scalars(select(OutboxMessage.dedupe_key))).all()
        assert sorted(k.split(":")[3] for k in keys) == ["d-2", "h-2"]  # the request due in 2 days, the first-day duties in 2 hours

    async def test_a_failing_scan_does_not_end_the_loop(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An error is logged and the loop waits for the next round instead of dying."""
        calls: list[int] = []
        twice = asyncio.Event()

        async def broken(**_kwargs: object) -> None:
            calls.append(1)
            if len(calls) >= 2:
                twice.set()
            raise RuntimeError("database went away")

        monkeypatch.setattr("reminders.schedule.scan", broken)
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_daily_scan_loop(
                sessions=sessions, settings=settings, risk_tips=lambda t: [], stop=stop, interval_seconds=0.01
            )
        )
        await asyncio.wait_for(twice.wait(), timeout=5)
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        assert len(calls) >= 2


class TestOrphanedCases:
    async def test_a_deactivated_officers_case_is_reminded_to_the_supervisor(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,
        tips: Callable[[str], list[str]],  # type: ignore[no-untyped-def]  # shared fixture
    ) -> None:
        """Nobody reads a deactivated officer's reminders, so the supervisor gets them from T-7 on."""
        await identity.add_unit(session=session, name="派出所")
        await make_officer(badge="1001", unit="派出所")
        await make_officer(badge="2001", unit="派出所", roles=("supervisor",))
        await import_cases(
            session=session,
            settings=settings,
            now=local(2025, 3, 21),
            rows=rows(("A1", "案", "criminal", "1001", "取保候审", "2025-03-20")),
        )
        await identity.deactivate(session=session, badge="1001")
        report = await scan(session=session, now=local(2026, 3, 13, 9), settings=settings, risk_tips=tips)
        assert [(p.offset, p.recipients) for p in report.planned] == [("d-7", ["2001"])]


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A data dir with every table created and two officers, as the CLI will find it."""
    monkeypatch.setenv("FRONTLINE_DATA_DIR", str(settings.data_dir))
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def setup() -> None:
        engine = make_engine(settings.effective_database_url)
        async with engine.begin() as conn:
            await conn.run_sync(schema.load_models().create_all)
        async with transaction(make_sessionmaker(engine)) as session:
            await identity.add_unit(session=session, name="一中队")
            for badge in ("1001", "1002", "2001"):
                await identity.add_officer(session=session, badge=badge, name="警官", unit="一中队")
        await engine.dispose()

    asyncio.run(setup())
    return settings


reminders_app = create_reminders_app()


class TestCommandLine:
    def test_template_import_preview_and_status(self, cli_env: Settings, tmp_path: Path) -> None:
        """The template imports; a preview lists what a day would send as JSON; status counts it."""
        runner = CliRunner()
        path = tmp_path / "cases.csv"
        with time_machine.travel(local(2026, 3, 5, 16), tick=False):
            assert runner.invoke(cases_app, ["template", str(path)]).exit_code == 0
            first = runner.invoke(cases_app, ["import", str(path)])
            assert first.exit_code == 0, first.output
            assert "cases added 3" in first.output
            again = runner.invoke(cases_app, ["import", str(path)])
            assert "events added 0, unchanged 6" in again.output
            preview = runner.invoke(reminders_app, ["preview", "--at", "2026-03-05", "--json"])
            assert preview.exit_code == 0, preview.output
            items = json.loads(preview.output)
            by_rule = {i["rule"]: i for i in items}
            questioning = by_rule["administrative_questioning"]
            assert questioning["recipients"] == ["1002"] and questioning["deadline"].startswith("2026-03-05T22:30")
            assert questioning["article"] == "治安管理处罚法（2025年版）第九十七条"
            assert {"case_number", "rule", "deadline", "days_left", "recipients", "article"} <= set(questioning)
            status = runner.invoke(reminders_app, ["status", "--json"])
            assert status.exit_code == 0, status.output
            assert json.loads(status.output)["open_deadlines"] == 4  # bail, summons, public-order case, questioning

    def test_bad_input_gives_one_line_and_a_nonzero_exit(self, cli_env: Settings, tmp_path: Path) -> None:
        """A bad row is reported by line and nothing is written; a bad date and a missing file fail cleanly."""
        runner = CliRunner()
        path = tmp_path / "bad.csv"
        path.write_text(
            "case_number,case_title,case_type,officer_badge,event,event_date\nA1,案,criminal,9999,受案,2026-03-01\n",
            encoding="utf-8",
        )
        bad = runner.invoke(cases_app, ["import", str(path)])
        assert bad.exit_code == 1
        assert "bad.csv: line 2: unknown officer badge '9999'" in bad.output
        assert runner.invoke(reminders_app, ["preview", "--at", "soon"]).exit_code == 1
        missing = runner.invoke(cases_app, ["import", str(tmp_path / "none.csv")])
        assert missing.exit_code == 1 and "no such file" in missing.output
        status = runner.invoke(reminders_app, ["status", "--json"])
        assert json.loads(status.output)["open_deadlines"] == 0


def _import(path: Path, text: str) -> None:
    path.write_text("case_number,case_title,case_type,officer_badge,event,event_date\n" + text, encoding="utf-8")
    result = CliRunner().invoke(cases_app, ["import", str(path)])
    assert result.exit_code == 0, result.output


class TestStatusAndScan:
    def test_status_shows_hours_for_hour_limits(self, cli_env: Settings, tmp_path: Path) -> None:
        """A summons 5 hours from its end reads '5 h', not '1 d' (or '0 d')."""
        with time_machine.travel(local(2026, 3, 3, 17, 30), tick=False):
            _import(tmp_path / "c.csv", "X1,案,public_order,1001,传唤,2026-03-03 14:30\n")
            result = CliRunner().invoke(reminders_app, ["status"])
            data = json.loads(CliRunner().invoke(reminders_app, ["status", "--json"]).output)
        assert result.exit_code == 0, result.output
        line = next(line for line in result.output.splitlines() if line.startswith("X1"))
        assert "\t5 h\t" in line and "2026-03-03 22:30" in line
        assert data["most_urgent"][0]["hours_left"] == 5 and data["most_urgent"][0]["left"] == "5 h"

    def test_status_marks_provisional_deadlines(self, cli_env: Settings, tmp_path: Path) -> None:
        """A deadline in a year without a holiday schedule is listed as provisional and counted."""
        with time_machine.travel(local(2026, 12, 11, 9), tick=False):
            _import(tmp_path / "c.csv", "X1,案,public_order,1001,立案,2026-12-10\n")
            result = CliRunner().invoke(reminders_app, ["status"])
        assert "provisional: 1" in result.output
        assert next(line for line in result.output.splitlines() if line.startswith("X1")).endswith("provisional")

    def test_the_scan_command_sends_the_knowledge_bases_risk_tips(
        self, cli_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`frontline reminders scan` (cli.py) opens the knowledge base for tips, as the bot's loop does."""
        import cli
        from knowledge.service import KnowledgeBase

        opened: list[Settings] = []

        class Tip:
            def __init__(self, text: str) -> None:
                self.text = text

        class FakeKB:
            def risk_tips(self, topic: str, *, limit: int = 3) -> list[Tip]:
                return [Tip(f"{topic}：期限届满应当及时解除（《刑事诉讼法》第七十九条）")]

        def fake_open(settings: Settings) -> FakeKB:
            opened.append(settings)
            return FakeKB()

        monkeypatch.setattr(KnowledgeBase, "open", staticmethod(fake_open))
        with time_machine.travel(local(2026, 3, 10, 9), tick=False):
            _import(tmp_path / "c.csv", "A1,案,criminal,1001,取保候审,2025-03-17\n")
            result = CliRunner().invoke(cli.app, ["reminders", "scan"])
        assert result.exit_code == 0, result.output
        assert "queued 1 message(s)" in result.output and len(opened) == 1

        async def texts() -> list[str]:
            engine = make_engine(cli_env.effective_database_url)
            async with make_sessionmaker(engine)() as session:
                found = (await session.scalars(select(OutboxMessage))).all()
            await engine.dispose()
            return [m.payload["text"] for m in found]

        [text] = asyncio.run(texts())
        assert "取保候审：期限届满应当及时解除" in text

    def test_a_scan_with_nothing_due_does_not_open_the_knowledge_base(
        self, cli_env: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Opening the knowledge base costs seconds: only a reminder that needs tips pays for it."""
        import cli
        from knowledge.service import KnowledgeBase

        def refuse(settings: Settings) -> None:
            raise AssertionError("opened for nothing")

        monkeypatch.setattr(KnowledgeBase, "open", staticmethod(refuse))
        result = CliRunner().invoke(cli.app, ["reminders", "scan"])
        assert result.exit_code == 0 and "checked 0 deadline(s)" in result.output


class TestRecompute:
    def test_a_new_holiday_schedule_moves_provisional_dates_only_with_apply(
        self, cli_env: Settings, tmp_path: Path
    ) -> None:
        """2027 entered by the administrator: the dry run lists the move, --apply writes it and audits it."""
        with time_machine.travel(local(2026, 12, 11, 9), tick=False):
            _import(tmp_path / "c.csv", "X1,案,public_order,1001,立案,2026-12-10\n")
            (cli_env.data_dir / "holidays.yaml").write_text(
                "version: 1\nyears:\n  2027:\n    festivals:\n      - {name: 元旦, off: 2027-01-01 ~ 2027-01-03}\n",
                encoding="utf-8",
            )
            dry = CliRunner().invoke(reminders_app, ["recompute"])
            assert dry.exit_code == 0, dry.output
            assert "X1\t治安案件办理期限\tmoved\t2027-01-09 -> 2027-01-11" in dry.output
            assert "dry run: nothing was written" in dry.output
            still = json.loads(CliRunner().invoke(reminders_app, ["status", "--json"]).output)
            assert still["most_urgent"][0]["deadline"].startswith("2027-01-09") and still["provisional"] == 1
            applied = CliRunner().invoke(reminders_app, ["recompute", "--apply", "--json"])
            assert json.loads(applied.output)["changes"][0]["after"].startswith("2027-01-11")
            after = json.loads(CliRunner().invoke(reminders_app, ["status", "--json"]).output)
            assert after["most_urgent"][0]["deadline"].startswith("2027-01-11") and after["provisional"] == 0
            again = CliRunner().invoke(reminders_app, ["recompute"])
            assert "nothing changes" in again.output

        async def audited() -> list[str]:
            engine = make_engine(cli_env.effective_database_url)
            async with make_sessionmaker(engine)() as session:
                found = (await session.scalars(select(AuditEvent.action))).all()
            await engine.dispose()
            return list(found)

        assert asyncio.run(audited()).count("deadline.recompute") == 1

    def test_a_changed_rule_file_is_recomputed_and_new_rules_do_not_open_past_periods(
        self, cli_env: Settings, tmp_path: Path
    ) -> None:
        """The legal brigade shortens a reminder's period in rules.yaml: the running deadline moves."""
        from reminders.rules import BUNDLED_RULES

        with time_machine.travel(local(2026, 3, 10, 9), tick=False):
            _import(tmp_path / "c.csv", "A1,案,criminal,1001,取保候审,2026-03-01\n")
            edited = BUNDLED_RULES.read_text(encoding="utf-8").replace(
                "    trigger: 取保候审\n", "    trigger: 取保候审\n", 1
            ).replace("duration: 12\n    unit: months", "duration: 11\n    unit: months", 1)
            (cli_env.data_dir / "rules.yaml").write_text(edited, encoding="utf-8")
            result = CliRunner().invoke(reminders_app, ["recompute", "--json"])
        changes = json.loads(result.output)["changes"]
        assert [(c["rule"], c["change"], c["before"][:10], c["after"][:10]) for c in changes] == [
            ("bail", "moved", "2027-03-01", "2027-02-01")
        ]


class TestCalendarCheck:
    def test_lists_the_covered_years_and_passes_while_this_year_is_covered(self, cli_env: Settings) -> None:
        """2004-2026 bundled; in 2026 the check passes and says 2027 is not covered yet."""
        with time_machine.travel(local(2026, 11, 2, 9), tick=False):
            result = CliRunner().invoke(calendar_app, ["check"])
        assert result.exit_code == 0, result.output
        assert "2004-2026: bundled" in result.output
        assert "2027: NOT covered" in result.output and "holidays.yaml" in result.output

    def test_fails_when_this_years_schedule_is_missing(self, cli_env: Settings, tmp_path: Path) -> None:
        """In 2027 without its schedule the check fails and counts the provisional deadlines."""
        with time_machine.travel(local(2027, 1, 4, 9), tick=False):
            _import(tmp_path / "c.csv", "X1,案,public_order,1001,立案,2027-01-04\n")
            result = CliRunner().invoke(calendar_app, ["check"])
        assert result.exit_code == 1
        assert "1 open deadline(s) are provisional" in result.output
        assert "the holiday schedule of 2027 is not entered" in result.output

    def test_a_bad_schedule_file_is_reported_with_its_line(self, cli_env: Settings) -> None:
        """A typo in data/holidays.yaml: one line naming the file and line, exit 1."""
        (cli_env.data_dir / "holidays.yaml").write_text(
            "version: 1\nyears:\n  2027:\n    festivals:\n      - {name: 国庆节, off: 2027-10-0x}\n", encoding="utf-8"
        )
        result = CliRunner().invoke(calendar_app, ["check"])
        assert result.exit_code == 1
        assert "holidays.yaml: line 5:" in result.output and "not a date" in result.output

    def test_works_before_the_database_is_set_up(self, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
        """A fresh install can check its calendar: no database error, no deadline count."""
        monkeypatch.setenv("FRONTLINE_DATA_DIR", str(settings.data_dir))
        with time_machine.travel(local(2026, 11, 2, 9), tick=False):
            result = CliRunner().invoke(calendar_app, ["check", "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert data["provisional_deadlines"] is None and data["this_year_covered"] and 2026 in data["years"]
