"""Benchmark: the task scan of a bureau at its busiest minute, 18:00 on a working day (SQLite or PostgreSQL).

    .venv/bin/python bench/tasks_scan.py --db sqlite --teams 40
    .venv/bin/python bench/tasks_scan.py --db postgresql+asyncpg://postgres@127.0.0.1:5432/test --teams 40

Builds a fresh database (a temporary SQLite file, or a throw-away database on PostgreSQL that is
dropped afterwards) with a bureau of TEAMS teams of 25 officers and a supervisor each, then gives
tasks through ``tasks.service.create_task`` as the bot does (resolution, notices, audit):

  per team   three 日结 tasks (every working day, 18:00) and a 周清 task (Fridays, 18:00) for the team
  bureau     one 月结 task (last working day of the month, 18:00) for every officer (role:officer)

and times, each with its commit:

  give        giving all of them (notices included)
  16:00 scan  the 2-hour reminders of everything due at 18:00
  18:00 scan  the busiest pass: the due-time reminders, the next 日结 occurrences made, and every
              overdue task escalated to its creator (nobody has completed anything)
  rescan      a minute later: must find nothing

A scan that hits its per-pass limit (tasks.schedule.SCAN_LIMIT rows of a kind) is followed by
another pass at once, as the worker's loop does; the passes are counted.

Figures are for the machine it runs on; the numbers of rows it made are printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402  # after the sys.path fix above

import schema  # noqa: E402
from core import identity  # noqa: E402
from core.db import make_engine, make_sessionmaker, transaction  # noqa: E402
from core.holidays import load_calendar  # noqa: E402
from core.outbox import OutboxMessage  # noqa: E402
from core.settings import load_settings  # noqa: E402
from core.testing import create_database, drop_database  # noqa: E402
from tasks import service  # noqa: E402
from tasks.models import TaskAssignment, TaskOccurrence  # noqa: E402
from tasks.recurrence import Repeat  # noqa: E402
from tasks.schedule import scan  # noqa: E402
from tasks.service import TaskSpec  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
OFFICERS_PER_TEAM = 25
# Wednesday 2026-12-30: a working day, and the last working day of December is the 31st.
DAY = (2026, 12, 30)


def at(hour: int, minute: int = 0) -> datetime:
    """A local time on the benchmark day."""
    return datetime(*DAY, hour, minute, tzinfo=TZ)


async def run(url: str, teams: int) -> None:
    """Builds the bureau, gives the tasks and times the scans."""
    settings = load_settings(_env_file=None)
    calendar = load_calendar(settings)  # the bundled holiday schedules, as the worker uses
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(schema.load_models().create_all)
    sessions = make_sessionmaker(engine)
    async with transaction(sessions) as session:
        await identity.add_unit(session=session, name="分局")
        await identity.add_officer(session=session, badge="L0", name="法制员", unit="分局", roles=["legal"])
        for team in range(teams):
            unit = f"中队{team:03d}"
            await identity.add_unit(session=session, name=unit, parent="分局")
            await identity.add_officer(
                session=session, badge=f"S{team:03d}", name=f"中队长{team}", unit=unit, roles=["supervisor"]
            )
            for number in range(OFFICERS_PER_TEAM):
                officer = await identity.add_officer(
                    session=session, badge=f"{team:03d}{number:02d}", name=f"民警{team}-{number}", unit=unit
                )
                officer.telegram_user_id = 10_000 + team * 100 + number

    started = time.perf_counter()
    async with transaction(sessions) as session:
        legal = await identity.get_officer(session=session, badge="L0")
        for team in range(teams):
            supervisor = await identity.get_officer(session=session, badge=f"S{team:03d}")
            unit = f"unit:中队{team:03d}"
            tasks = [
                ("上传执法记录仪视频", Repeat.WORKDAYS, at(18)),
                ("录入当日警情", Repeat.WORKDAYS, at(18)),
                ("案卷日清", Repeat.WORKDAYS, at(18)),
                ("周清：在办案件清理", Repeat.WEEKLY, datetime(2027, 1, 1, 18, tzinfo=TZ)),
            ]
            for title, repeat, due in tasks:
                await service.create_task(
                    session=session,
                    spec=TaskSpec(title=title, assignees=[unit], due=due, repeat=repeat),
                    settings=settings,
                    calendar=calendar,
                    creator=supervisor,
                    actor=f"S{team:03d}",
                    now=at(8),
                )
        await service.create_task(
            session=session,
            spec=TaskSpec(
                title="月结：执法质量自查", assignees=["role:officer"], due=at(18), repeat=Repeat.MONTHLY_LAST_WORKDAY
            ),
            settings=settings,
            calendar=calendar,
            creator=legal,
            actor="L0",
            now=at(8),
        )
    give = time.perf_counter() - started
    async with sessions() as session:
        assignments = await session.scalar(select(func.count()).select_from(TaskAssignment))
    print(f"teams {teams}, officers {teams * OFFICERS_PER_TEAM}, series {teams * 4 + 1}, assignments {assignments}")
    print(f"give          {give:8.2f} s  ({(give / (teams * 4 + 1)) * 1000:.0f} ms a task)")

    for label, now in (("16:00 scan", at(16)), ("18:00 scan", at(18, 0)), ("rescan", at(18, 1))):
        before = await _outbox_rows(sessions)
        started = time.perf_counter()
        made = reminders = escalations = passes = 0
        more = True
        while more:  # as the loop does: a pass that hit its limit is followed by another at once
            async with transaction(sessions) as session:
                report = await scan(session=session, now=now, settings=settings, calendar=calendar)
            made, reminders = made + report.occurrences_created, reminders + report.reminders
            escalations, passes, more = escalations + report.escalations, passes + 1, report.more
        took = time.perf_counter() - started
        queued = await _outbox_rows(sessions) - before
        print(
            f"{label:<13} {took:8.2f} s  {passes} pass(es): occurrences made {made}, reminders "
            f"{reminders}, escalations {escalations}, messages queued {queued}"
        )
    async with sessions() as session:
        occurrences = await session.scalar(select(func.count()).select_from(TaskOccurrence))
    print(f"occurrences now {occurrences}")
    await engine.dispose()


async def _outbox_rows(sessions: object) -> int:
    async with sessions() as session:  # type: ignore[operator]  # an async_sessionmaker
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


def main() -> None:
    """Parses the arguments and runs the benchmark on a fresh database."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite", help="sqlite, or a postgresql+asyncpg:// URL (a fresh database is made)")
    parser.add_argument("--teams", type=int, default=40)
    args = parser.parse_args()
    if args.db == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            asyncio.run(run(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", args.teams))
        return
    name = f"bench_tasks_{uuid.uuid4().hex[:8]}"

    async def on_postgres() -> None:
        url = await create_database(args.db, name)
        try:
            await run(url, args.teams)
        finally:
            await drop_database(args.db, name)

    asyncio.run(on_postgres())


if __name__ == "__main__":
    main()
