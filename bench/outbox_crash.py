"""Zero losses and zero duplicates when outbox workers are killed with -9 mid-run.

SQLite: one worker process, killed -9 several times mid-run and restarted on the same file.
PostgreSQL: two worker processes on one database; one of them is killed -9 mid-run and restarted.
Deliveries are counted per dedupe key at the fake Bot API (30/s global, 1/s per chat, 429s).

Usage:
  .venv/bin/python bench/outbox_crash.py sqlite [--messages 1000] [--kills 3]
  FRONTLINE_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test \
      .venv/bin/python bench/outbox_crash.py postgres [--messages 1000] [--kills 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import tempfile
import time
from pathlib import Path

from outbox_common import (
    TOKEN,
    FakeBotAPI,
    counts,
    deliveries,
    seed,
    start_worker,
    stop_worker,
    wait_delivered,
)

from core.testing import create_database, drop_database

LEASE = 10.0
PG_DATABASE = "frontline_bench_outbox"


async def _pg_fresh(base_url: str) -> str:
    return await create_database(base_url, PG_DATABASE)


async def _pg_drop(base_url: str) -> None:
    await drop_database(base_url, PG_DATABASE)


async def main(backend: str, messages: int, kills: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "postgres":
            base = os.environ.get("FRONTLINE_TEST_DATABASE_URL")
            if not base:
                raise SystemExit("set FRONTLINE_TEST_DATABASE_URL for the PostgreSQL run")
            url = await _pg_fresh(base)
        else:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'crash.db'}"
        await seed(url, officers=300, messages=messages)
        api = FakeBotAPI(token=TOKEN, rate_per_second=30, per_chat_per_second=1)
        await api.start()
        started = time.monotonic()
        # Two workers on PostgreSQL share Telegram's 30/s between them.
        names = ["w1"] if backend == "sqlite" else ["w1", "w2"]
        rate = 30 / len(names)
        workers = {name: start_worker(url, api, name, rate=rate, lease=LEASE) for name in names}
        kill_log = []
        try:
            for k in range(kills):
                target = messages * (k + 1) // (kills + 1)
                await wait_delivered(api, messages, within=120, at_least=target)
                # A random moment, not one tied to a delivery the fake has just seen.
                await asyncio.sleep(random.uniform(0, 0.5))
                victim = names[k % len(names)]
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait()
                kill_log.append((victim, len(deliveries(api))))
                workers[victim] = start_worker(url, api, f"{victim}-r{k + 1}", rate=rate, lease=LEASE)
            got = await wait_delivered(api, messages, within=messages / 15 + 4 * LEASE + 60)
            await asyncio.sleep(1.0)  # anything sent twice late would show up here
        finally:
            for process in workers.values():
                stop_worker(process)
            await api.stop()
        wall = time.monotonic() - started
        per_key = deliveries(api)
        duplicates = {key: n for key, n in per_key.items() if n > 1}
        lost = messages - len(per_key)
        final = await counts(url)
        print(
            f"backend {backend}: {messages} messages to 300 chats, {len(names)} worker process(es), lease {LEASE:.0f} s"
        )
        for victim, at in kill_log:
            print(f"  kill -9 {victim} after {at} delivered keys, restarted")
        print(
            f"delivered {got}/{messages} distinct keys; lost {lost}; duplicated keys {len(duplicates)} {duplicates or ''}"
        )
        print(f"429 answers from the fake: {api.rejected_429}; wall {wall:.1f} s")
        print(f"final status counts: {final}")
        if backend == "postgres":
            await _pg_drop(base)
        return 0 if lost == 0 and not duplicates and final == {("sent", "reminder"): messages} else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("backend", choices=["sqlite", "postgres"])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=3)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.backend, args.messages, args.kills)))
