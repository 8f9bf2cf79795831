"""Benchmark: importing a case file (CSV) of N cases with two events each, then re-importing it.

    .venv/bin/python bench/reminders_import.py --cases 5000

Uses a temporary SQLite file with every table created and 100 officers; times
``reminders.cases.import_cases`` plus its commit for the first import and for an identical
re-import (which must change nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402  # after the sys.path fix above

import schema  # noqa: E402
from core.db import make_engine, make_sessionmaker, transaction  # noqa: E402
from core.identity import Officer, OfficerRole, Unit  # noqa: E402
from core.settings import load_settings  # noqa: E402
from core.tabular import read_table  # noqa: E402
from reminders.cases import import_cases  # noqa: E402


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        engine = make_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(schema.load_models().create_all)
        sessions = make_sessionmaker(engine)
        now = datetime(2026, 3, 16, 8, 0, tzinfo=UTC)
        async with transaction(sessions) as session:
            await session.execute(insert(Unit), [{"id": 1, "name": "一中队", "parent_id": None, "created_at": now}])
            await session.execute(
                insert(Officer),
                [
                    {"id": i, "badge": f"{1000 + i}", "name": f"警官{i}", "unit_id": 1, "active": True,
                     "language": "zh", "reachable": True, "created_at": now}
                    for i in range(1, 101)
                ],
            )
            await session.execute(insert(OfficerRole), [{"officer_id": i, "role": "officer"} for i in range(1, 101)])
        path = Path(tmp) / "cases.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["case_number", "case_title", "case_type", "officer_badge", "event", "event_date"])
            for i in range(args.cases):
                badge = f"{1001 + i % 100}"
                writer.writerow([f"A{i:06d}", f"某某涉嫌盗窃案{i}", "criminal", badge, "刑事拘留", "2026-03-01 10:00"])
                writer.writerow([f"A{i:06d}", f"某某涉嫌盗窃案{i}", "criminal", badge, "取保候审", "2026-03-04"])
        settings = load_settings(_env_file=None, data_dir=Path(tmp))
        for label in ("first import", "re-import"):
            rows = read_table(path)
            started = time.perf_counter()
            async with transaction(sessions) as session:
                report = await import_cases(session=session, rows=rows, settings=settings, now=now)
            took = time.perf_counter() - started
            print(
                f"{label}: {args.cases} cases, {len(rows)} rows in {took:.1f} s "
                f"({len(rows) / took:.0f} rows/s); events added {report.events_added}, "
                f"deadlines opened {report.deadlines_added}, closed {report.deadlines_closed}"
            )
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
