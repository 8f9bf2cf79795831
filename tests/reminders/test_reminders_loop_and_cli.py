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
from core.db import make_engine, make_sessionmaker, transaction
from core.outbox import OutboxItem, OutboxMessage
from core.settings import Settings
from reminders.cases import import_cases
from reminders.commands import cases_app, reminders_app
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
        assert len(keys) == 1 and ":d-2:" in keys[0]

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


class TestCommandLine:
    def test_template_import_preview_and_status(self, cli_env: Settings, tmp_path: Path) -> None:
        """The template imports; a preview lists what a day would send as JSON; status counts it."""
        runner = CliRunner()
        path = tmp_path / "cases.csv"
        assert runner.invoke(cases_app, ["template", str(path)]).exit_code == 0
        first = runner.invoke(cases_app, ["import", str(path)])
        assert first.exit_code == 0, first.output
        assert "cases added 2" in first.output
        again = runner.invoke(cases_app, ["import", str(path)])
        assert "events added 0, unchanged 5" in again.output
        preview = runner.invoke(reminders_app, ["preview", "--at", "2026-03-03", "--json"])
        assert preview.exit_code == 0, preview.output
        items = json.loads(preview.output)
        assert [(i["case_number"], i["rule"], i["recipients"]) for i in items] == [
            ("X2026-015", "administrative_questioning", ["1002"])
        ]
        assert (
            items[0]["deadline"].startswith("2026-03-03T22:30")
            and items[0]["article"] == "治安管理处罚法第八十三条"
        )
        assert {"case_number", "rule", "deadline", "days_left", "recipients", "article"} <= set(items[0])
        status = runner.invoke(reminders_app, ["status", "--json"])
        assert status.exit_code == 0, status.output
        assert json.loads(status.output)["open_deadlines"] == 3

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
