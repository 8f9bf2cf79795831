"""Benchmark: uploading a case file of 10,000 rows through the desk.

    .venv/bin/python bench/desk_upload.py                       # embedded SQLite (a temporary file)
    .venv/bin/python bench/desk_upload.py --db postgresql+asyncpg://postgres@127.0.0.1:5432/test

Builds a database with the real migrations and 1,000 officers of a city bureau, serves it with
`frontline desk` in a process of its own, signs a legal officer in through a link and posts CSV
files to /cases/upload as the browser's form does, timing each from the first byte sent to the
whole result page received:

  first upload   10,000 rows (cases of one to three events each): every row checked, cases,
                 events and deadlines written, the import audited
  same again     the identical file: everything is known, nothing changes
  one bad row    10,000 rows with an unknown badge on the last line: all checked, nothing written,
                 the bad line listed
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402  # after the sys.path fix above

from bench.desk_common import desk_process, load_city, signed_in_client  # noqa: E402
from core import migrate  # noqa: E402
from core.db import make_engine, make_sessionmaker, transaction  # noqa: E402
from core.identity import Officer  # noqa: E402
from core.settings import load_settings  # noqa: E402
from core.testing import create_database, drop_database  # noqa: E402
from reminders.models import Case, Deadline  # noqa: E402

# (case type, events in order, days between them)
STORIES = [
    ("刑事", ["刑事拘留", "提请批准逮捕", "逮捕"], [0, 3, 7]),
    ("刑事", ["刑事拘留", "取保候审"], [0, 2]),
    ("刑事", ["取保候审"], [0]),
    ("治安", ["行政案件受理"], [0]),
    ("治安", ["行政案件受理", "结案"], [0, 20]),
]


def case_file(rows: int, badges: list[str], *, bad_last: bool, seed: int) -> bytes:
    """Writes a CSV of about `rows` event rows (Chinese headers, as the legal brigade's exports)."""
    rng = random.Random(seed)
    today = datetime.now(load_settings(_env_file=None).tz).date()
    out = io.StringIO()
    out.write("案件编号,案件名称,案件类型,办案民警警号,事件,事件日期\n")
    written = 0
    number = 0
    while written < rows:
        number += 1
        kind, events, gaps = rng.choice(STORIES)
        start = today - timedelta(days=rng.randint(30, 300))
        badge = rng.choice(badges)
        for event, gap in zip(events, gaps, strict=True):
            if written == rows:
                break
            if bad_last and written == rows - 1:
                badge = "NO-SUCH-BADGE"
            # hour-counted measures (刑事拘留's first-day duties) need a time of day, as real exports give
            out.write(f"B{number:07d},某某涉嫌盗窃案{number},{kind},{badge},{event},{start + timedelta(days=gap)} 09:30\n")
            written += 1
    return out.getvalue().encode("utf-8")


async def prepare(url: str) -> list[str]:
    """Migrates the database and loads the organisation; returns the badges that own cases."""
    await migrate.upgrade_url(url)
    engine = make_engine(url)
    async with transaction(make_sessionmaker(engine)) as session:
        city = await load_city(session, officers=1000)
        badges = [b for b in (await session.scalars(select(Officer.badge).where(Officer.id.in_(city["owners"])))).all()]
    await engine.dispose()
    return badges


async def counts(url: str) -> tuple[int, int]:
    """Cases and deadlines in the database."""
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session:
        cases = await session.scalar(select(func.count()).select_from(Case))
        deadlines = await session.scalar(select(func.count()).select_from(Deadline))
    await engine.dispose()
    return int(cases or 0), int(deadlines or 0)


async def upload(client: object, body: bytes) -> tuple[float, int, str]:
    """Posts one file as the upload form does; returns seconds, status and the page."""
    import re

    import httpx

    assert isinstance(client, httpx.AsyncClient)
    form = await client.get("/cases/upload")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    started = time.perf_counter()
    answer = await client.post("/cases/upload", data={"csrf_token": token.group(1)},
                               files={"file": ("cases.csv", body, "text/csv")})
    return time.perf_counter() - started, answer.status_code, answer.text


async def run(url: str, rows: int, data_dir: Path) -> None:
    badges = await prepare(url)
    good = case_file(rows, badges, bad_last=False, seed=1)
    bad = case_file(rows, badges, bad_last=True, seed=1)  # the same file but for its last row
    with desk_process(url, data_dir) as base:
        client = await signed_in_client(url, "L000", base, read_timeout=600)
        try:
            seconds, status, page = await upload(client, good)
            cases, deadlines = await counts(url)
            assert status == 200 and "已导入" in page, page[-2000:]
            print(f"  first upload ({rows} rows, {len(good) / 1024:.0f} KiB): {seconds:.2f} s -> {cases} cases, {deadlines} deadlines")
            seconds, status, page = await upload(client, good)
            assert status == 200 and (cases, deadlines) == await counts(url)
            print(f"  same file again (nothing changes): {seconds:.2f} s")
            seconds, status, page = await upload(client, bad)
            after = await counts(url)
            assert status == 422 and "NO-SUCH-BADGE" in page and (cases, deadlines) == after, (
                status, (cases, deadlines), after, page[-1500:])
            print(f"  {rows} rows with one bad row (nothing written): {seconds:.2f} s")
        finally:
            await client.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite", help="sqlite (a temporary file) or a postgresql+asyncpg URL")
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        if args.db == "sqlite":
            print("sqlite (file, WAL):")
            await run(f"sqlite+aiosqlite:///{data_dir / 'bench.db'}", args.rows, data_dir)
            return
        name = f"bench_desk_upload_{int(time.time())}"
        url = await create_database(args.db, name)
        print("postgresql:")
        try:
            await run(url, args.rows, data_dir)
        finally:
            await drop_database(args.db, name)


if __name__ == "__main__":
    asyncio.run(main())
