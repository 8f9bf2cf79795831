"""Shared parts of the outbox benchmarks: seeding a database, the fake Bot API, worker processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fakebotapi import FakeBotAPI  # noqa: E402  # the e2e fake Bot API, with its 429 limiter

from core import identity, outbox  # noqa: E402
from core.db import Base, make_engine, make_sessionmaker, transaction  # noqa: E402
from core.outbox import OutboxItem  # noqa: E402

TABLES = ("units", "officers", "officer_roles", "audit_events", "outbox")
TOKEN = "424242:BENCH-token"


async def seed(url: str, *, officers: int, messages: int) -> float:
    """Creates the outbox tables, officers with chat ids and `messages` pushes; returns enqueue seconds."""
    engine = make_engine(url)
    async with engine.begin() as conn:
        tables = [Base.metadata.tables[name] for name in TABLES]
        await conn.run_sync(lambda c: Base.metadata.create_all(c, tables=tables))
    sessions = make_sessionmaker(engine)
    async with transaction(sessions) as session:
        await identity.add_unit(session=session, name="bench")
        ids = []
        for i in range(officers):
            officer = await identity.add_officer(
                session=session, badge=f"b{i:05d}", name=f"警员{i}", unit="bench"
            )
            officer.telegram_user_id = 1_000_000 + i
            ids.append(officer.id)
        await session.flush()
    items = [
        OutboxItem(
            officer_id=ids[n % officers],
            text=f"bench-{n:06d} 提醒",
            kind="reminder",
            dedupe_key=f"bench-{n:06d}",
        )
        for n in range(messages)
    ]
    started = time.perf_counter()
    async with transaction(sessions) as session:
        added = await outbox.enqueue_many(session=session, items=items)
    elapsed = time.perf_counter() - started
    assert added == messages, added
    await engine.dispose()
    return elapsed


async def counts(url: str) -> dict[tuple[str, str], int]:
    """Reads the outbox status counts."""
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session:
        result = await outbox.status_counts(session=session)
    await engine.dispose()
    return result


def start_worker(
    url: str, api: FakeBotAPI, name: str, *, rate: float = 30, lease: float = 10
) -> subprocess.Popen[bytes]:
    """Starts `frontline worker` (through bench/outbox_worker.py) as a separate process."""
    env = dict(os.environ)
    env.update(
        FRONTLINE_DATABASE_URL=url,
        FRONTLINE_BOT_TOKEN=api.token,
        FRONTLINE_TELEGRAM_API_BASE=api.base_url,
        FRONTLINE_QUIET_HOURS="00:00-00:00",
        FRONTLINE_SEND_RATE_PER_SECOND=str(rate),
        FRONTLINE_LOG_LEVEL="WARNING",
    )
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "outbox_worker.py"),
            "--worker-id",
            name,
            "--lease-seconds",
            str(lease),
        ],
        env=env,
        cwd=ROOT,
    )


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    """Stops a worker politely (SIGTERM) and waits for it."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def deliveries(api: FakeBotAPI) -> Counter[str]:
    """Counts accepted sendMessage calls per dedupe key (the key is the first word of the text)."""
    seen: Counter[str] = Counter()
    for call in api.calls:
        if call.method.lower() == "sendmessage" and call.status == 200:
            seen[str(call.params.get("text", "")).split(" ", 1)[0]] += 1
    return seen


def accepted_times(api: FakeBotAPI) -> list[float]:
    """Returns when each accepted sendMessage arrived, in order."""
    return sorted(c.at for c in api.calls if c.method.lower() == "sendmessage" and c.status == 200)


async def wait_delivered(
    api: FakeBotAPI, expected: int, *, within: float, at_least: int | None = None
) -> int:
    """Waits until `at_least` (default all) distinct keys were delivered; returns how many were."""
    goal = expected if at_least is None else at_least
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        got = len(deliveries(api))
        if got >= goal:
            return got
        await asyncio.sleep(0.05)
    return len(deliveries(api))
