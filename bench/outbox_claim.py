"""How fast the outbox queues in bulk and claims due rows when the table holds 100k+ rows.

Usage:
  .venv/bin/python bench/outbox_claim.py sqlite [--rows 200000]
  FRONTLINE_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \
      .venv/bin/python bench/outbox_claim.py postgres [--rows 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from outbox_common import seed
from sqlalchemy import text

from core import outbox
from core.db import make_engine, make_sessionmaker, transaction, utcnow
from core.outbox import OutboxItem
from core.testing import create_database, drop_database

PG_DATABASE = "frontline_bench_outbox_claim"

# Filler rows, written straight in SQL so the benchmark spends its time on what it measures:
# half already sent, half pending but due tomorrow (the shape after a big daily scan).
FILL_SQLITE = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows)
INSERT INTO outbox (officer_id, kind, payload, dedupe_key, urgent, not_before, status, attempts, created_at)
SELECT 1 + (i % 300), 'reminder', '{"text": "x", "parse_mode": "HTML"}', 'fill-' || i, 0,
       CASE WHEN i % 2 = 0 THEN :past ELSE :future END,
       CASE WHEN i % 2 = 0 THEN 'sent' ELSE 'pending' END, 0, :past
FROM n
"""
FILL_PG = """
INSERT INTO outbox (officer_id, kind, payload, dedupe_key, urgent, not_before, status, attempts, created_at)
SELECT 1 + (i % 300), 'reminder', '{"text": "x", "parse_mode": "HTML"}', 'fill-' || i, false,
       CASE WHEN i % 2 = 0 THEN CAST(:past AS timestamptz) ELSE CAST(:future AS timestamptz) END,
       CASE WHEN i % 2 = 0 THEN 'sent' ELSE 'pending' END, 0, CAST(:past AS timestamptz)
FROM generate_series(1, :rows) AS i
"""


async def main(backend: str, rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = os.environ.get("FRONTLINE_TEST_DATABASE_URL", "")
        if backend == "postgres":
            if not base:
                raise SystemExit("set FRONTLINE_TEST_DATABASE_URL for the PostgreSQL run")
            url = await create_database(base, PG_DATABASE)
        else:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'claim.db'}"
        await seed(url, officers=300, messages=0)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        now = utcnow()
        past, future = now - timedelta(days=1), now + timedelta(days=1)
        fill = FILL_PG if backend == "postgres" else FILL_SQLITE
        params = {"rows": rows, "past": past, "future": future}
        if backend == "sqlite":
            params = {"rows": rows, "past": past.isoformat(sep=" "), "future": future.isoformat(sep=" ")}
        async with transaction(sessions) as session:
            await session.execute(text(fill), params)
            if backend == "postgres":
                await session.execute(text("ANALYZE outbox"))

        # Bulk enqueue, as the reminder daily scan does.
        items = [
            OutboxItem(officer_id=1 + n % 300, text=f"scan {n}", kind="reminder", dedupe_key=f"scan-{n}")
            for n in range(10_000)
        ]
        started = time.perf_counter()
        async with transaction(sessions) as session:
            added = await outbox.enqueue_many(session=session, items=items)
        enqueue_s = time.perf_counter() - started
        started = time.perf_counter()
        async with transaction(sessions) as session:
            again = await outbox.enqueue_many(session=session, items=items)
        requeue_s = time.perf_counter() - started

        # Claim 50 at a time, as the worker does.
        timings = []
        for i in range(40):
            started = time.perf_counter()
            async with transaction(sessions) as session:
                got = await outbox.claim_due(
                    session=session, lease_owner=f"bench/{i}", limit=50, lease_seconds=60
                )
            timings.append(time.perf_counter() - started)
            assert len(got) == 50
        plan = ""
        if backend == "postgres":
            async with sessions() as session:
                result = await session.execute(
                    text(
                        "EXPLAIN SELECT id FROM outbox WHERE status = 'pending' AND urgent = false "
                        "AND not_before <= now() ORDER BY not_before, id LIMIT 50 FOR UPDATE SKIP LOCKED"
                    )
                )
                plan = "\n".join("    " + r[0] for r in result.all())
        await engine.dispose()
        if backend == "postgres":
            await drop_database(base, PG_DATABASE)
        print(
            f"backend {backend}: table holds {rows + 10_000:,} rows ({rows // 2:,} sent, {rows // 2:,} pending not yet due)"
        )
        print(
            f"enqueue_many 10,000 new rows: {enqueue_s * 1000:.0f} ms ({added} added); "
            f"same 10,000 again (all duplicates): {requeue_s * 1000:.0f} ms ({again} added)"
        )
        print(
            f"claim 50 due rows: median {statistics.median(timings) * 1000:.1f} ms, "
            f"max {max(timings) * 1000:.1f} ms over {len(timings)} claims"
        )
        if plan:
            print("PostgreSQL plan of the claim sub-select:\n" + plan)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("backend", choices=["sqlite", "postgres"])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    asyncio.run(main(args.backend, args.rows))
