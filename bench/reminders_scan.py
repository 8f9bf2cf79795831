"""Benchmark: the daily reminder scan over 100,000 open cases (SQLite file or PostgreSQL).

    .venv/bin/python bench/reminders_scan.py --db sqlite --cases 100000 --scenario all-due
    .venv/bin/python bench/reminders_scan.py --db postgresql+asyncpg://postgres@127.0.0.1:5432/test

Builds a fresh database (a temporary SQLite file, or a throw-away schema on PostgreSQL that is
dropped afterwards), loads N cases with one running deadline each through bulk inserts, then
times ``reminders.schedule.scan`` plus its commit, exactly as the bot's 15-minute loop runs it
(real outbox inserts with dedupe keys, real bulk update of the deadlines):

  first scan   the day before: every deadline already inside its reminder window gets its
               latest reminder at once (the burst right after the cases are first imported)
  daily scan   the next morning at 08:05: what an ordinary day sends
  rescan       15 minutes later: must find (almost) nothing (only hour-counted limits move)
  forced       every deadline's progress reset: the outbox's dedupe keys must refuse every message

Scenarios:
  realistic  each deadline started at a random moment within its rule's period, so its due date
             is spread over the period (what a real bureau looks like on an ordinary morning)
  all-due    every deadline is between 5 days overdue and 7 days ahead: every one has a
             reminder due at scan time (the worst case: the first scan after a mass import)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text, update  # noqa: E402  # after the sys.path fix above

import schema  # noqa: E402
from core.db import make_engine, make_sessionmaker, transaction  # noqa: E402
from core.holidays import HolidayCalendar  # noqa: E402
from core.identity import Officer, OfficerRole, Unit  # noqa: E402
from core.outbox import OutboxMessage  # noqa: E402
from core.settings import load_settings  # noqa: E402
from reminders.models import Case, Deadline  # noqa: E402
from reminders.planning import first_slot  # noqa: E402
from reminders.rules import bundled_rules  # noqa: E402
from reminders.schedule import scan  # noqa: E402

# Open cases of a large bureau: mostly bail and public-order cases; custody limits are short, so
# few run at any moment, and hour-counted ones (summons) fewer still.
MIX = [
    ("bail", 0.55),
    ("residential_surveillance", 0.05),
    ("custody_after_arrest", 0.15),
    ("public_order_case", 0.225),
    ("detention_arrest_request", 0.02),
    ("criminal_summons", 0.003),
    ("administrative_questioning", 0.002),
]
TEAMS = 40
OFFICERS_PER_TEAM = 25


def tips(topic: str) -> list[str]:
    """Stands in for the knowledge base: three short tips per topic."""
    return [f"{topic}执法风险提示{i}（刑事诉讼法第七十九条）" for i in range(1, 4)]


async def build(url: str, cases: int, scenario: str, now: datetime, seed: int) -> dict[str, Any]:
    """Creates the tables and loads the organisation, cases and deadlines."""
    rng = random.Random(seed)
    settings = load_settings(_env_file=None)
    tz = settings.tz
    rules = bundled_rules()
    calendar = HolidayCalendar()
    engine = make_engine(url, **_pg_args(url))
    async with engine.begin() as conn:
        await conn.run_sync(schema.load_models().create_all)
    sessions = make_sessionmaker(engine)
    started = time.perf_counter()
    async with transaction(sessions) as session:
        await session.execute(insert(Unit), [{"id": 1, "name": "城关分局", "parent_id": None}])
        await session.execute(
            insert(Unit),
            [{"id": 2, "name": "法制大队", "parent_id": 1}]
            + [{"id": 10 + t, "name": f"第{t}中队", "parent_id": 1} for t in range(TEAMS)],
        )
        officers, roles = [], []
        officer_id = 0
        team_officers: list[int] = []
        for t in range(TEAMS):
            for k in range(OFFICERS_PER_TEAM):
                officer_id += 1
                officers.append(_officer(officer_id, f"{10000 + officer_id}", 10 + t, "en" if k == 0 else "zh"))
                role = "supervisor" if k == 1 else "officer"
                roles.append({"officer_id": officer_id, "role": role})
                if role == "officer":
                    team_officers.append(officer_id)
        for k in range(5):
            officer_id += 1
            officers.append(_officer(officer_id, f"{90000 + k}", 2, "zh"))
            roles.append({"officer_id": officer_id, "role": "legal"})
        await session.execute(insert(Officer), officers)
        await session.execute(insert(OfficerRole), roles)
        weights = [w for _, w in MIX]
        case_rows, deadline_rows = [], []
        for i in range(1, cases + 1):
            rule = rules.get(rng.choices([r for r, _ in MIX], weights)[0])
            assert rule is not None
            length = rule.due(now, tz=tz, calendar=calendar).at - now
            if scenario == "all-due":
                due_target = now + timedelta(days=rng.uniform(-5, 7))
                start = due_target - length
                if rule.hourly:
                    start = now - length + timedelta(hours=rng.uniform(-3, 4))
            else:
                start = now - length * rng.random() + timedelta(minutes=1)
            start = start.replace(microsecond=0)
            end = rule.due(start, tz=tz, calendar=calendar)
            due = end.at
            case_rows.append(
                {
                    "id": i, "case_number": f"B{i:07d}", "title": f"某某涉嫌盗窃案{i}",
                    "case_type": rule.case_types[0].value, "officer_id": rng.choice(team_officers),
                    "supervisor_id": None, "flags": [], "in_custody": rule.held, "closed": False,
                    "created_at": now, "updated_at": now,
                }
            )
            deadline_rows.append(
                {
                    "id": i, "case_id": i, "rule_id": rule.id, "measure": rule.measure.zh, "starts_at": start,
                    "due_at": due, "status": "open", "article": rule.article, "in_custody": rule.held,
                    "provisional": end.provisional, "excluded_days": 0, "rule_version": rule.version,
                    "next_remind_at": first_slot(
                        due, rule.plan_for(start, due, tz=tz), hourly=rule.hourly, tz=tz
                    ).at,
                    "created_at": now, "updated_at": now,
                }
            )
        for chunk in range(0, cases, 10000):
            await session.execute(insert(Case), case_rows[chunk : chunk + 10000])
        for chunk in range(0, cases, 10000):
            await session.execute(insert(Deadline), deadline_rows[chunk : chunk + 10000])
    load_seconds = time.perf_counter() - started
    await engine.dispose()
    return {"load_seconds": load_seconds}


def _officer(officer_id: int, badge: str, unit_id: int, language: str) -> dict[str, Any]:
    return {
        "id": officer_id, "badge": badge, "name": f"警官{officer_id}", "unit_id": unit_id, "active": True,
        "language": language, "telegram_user_id": 7_000_000 + officer_id, "reachable": True,
        "created_at": datetime.now(UTC),
    }


SCHEMA = f"bench_reminders_{os.getpid()}"


def _pg_args(url: str) -> dict[str, Any]:
    if url.startswith("postgresql"):
        return {"connect_args": {"server_settings": {"search_path": SCHEMA}}}
    return {}


async def measure(url: str, now: datetime) -> dict[str, Any]:
    """Times the scan, a repeat scan, and a forced re-scan that the dedupe keys must absorb."""
    settings = load_settings(_env_file=None)
    engine = make_engine(url, **_pg_args(url))
    sessions = make_sessionmaker(engine)
    result: dict[str, Any] = {}
    started = time.perf_counter()
    async with transaction(sessions) as session:
        first = await scan(session=session, now=now - timedelta(days=1), settings=settings, risk_tips=tips)
    result["first_scan_seconds"] = time.perf_counter() - started
    result["first_scan_deadlines_reminded"] = len(first.planned)
    result["first_scan_messages"] = first.enqueued
    started = time.perf_counter()
    async with transaction(sessions) as session:
        report = await scan(session=session, now=now, settings=settings, risk_tips=tips)
    result["daily_scan_seconds"] = time.perf_counter() - started
    result["daily_scan_checked"] = report.checked
    result["daily_scan_deadlines_reminded"] = len(report.planned)
    result["daily_scan_messages"] = report.enqueued
    started = time.perf_counter()
    async with transaction(sessions) as session:
        again = await scan(session=session, now=now + timedelta(minutes=15), settings=settings, risk_tips=tips)
    result["rescan_seconds"] = time.perf_counter() - started
    result["rescan_checked"] = again.checked
    result["rescan_messages"] = again.enqueued
    async with transaction(sessions) as session:
        await session.execute(
            update(Deadline).values(next_remind_at=now - timedelta(days=30), last_planned=None),
            execution_options={"synchronize_session": False},
        )
    started = time.perf_counter()
    async with transaction(sessions) as session:
        forced = await scan(session=session, now=now, settings=settings, risk_tips=tips)
    result["forced_rescan_seconds"] = time.perf_counter() - started
    result["forced_rescan_new_messages"] = forced.enqueued
    result["forced_rescan_duplicates"] = forced.duplicates
    async with sessions() as session:
        result["outbox_rows"] = await session.scalar(select(func.count()).select_from(OutboxMessage))
    await engine.dispose()
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite", help="sqlite (a temporary file) or a postgresql+asyncpg URL")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--scenario", choices=["realistic", "all-due"], default="realistic")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    now = datetime(2026, 3, 16, 8, 5, tzinfo=load_settings(_env_file=None).tz)
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if args.db == "sqlite":
        tmp = tempfile.TemporaryDirectory()
        url = f"sqlite+aiosqlite:///{tmp.name}/bench.db"
    else:
        url = args.db
        admin = make_engine(url)
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
        await admin.dispose()
    try:
        built = await build(url, args.cases, args.scenario, now, args.seed)
        measured = await measure(url, now)
    finally:
        if tmp is not None:
            tmp.cleanup()
        else:
            admin = make_engine(url)
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA "{SCHEMA}" CASCADE'))
            await admin.dispose()
    backend = "sqlite (file, WAL)" if args.db == "sqlite" else "postgresql"
    print(f"backend={backend} cases={args.cases} scenario={args.scenario} load={built['load_seconds']:.1f}s")
    for key, value in measured.items():
        print(f"  {key}: {value:.2f}" if isinstance(value, float) else f"  {key}: {value}")


if __name__ == "__main__":
    asyncio.run(main())
