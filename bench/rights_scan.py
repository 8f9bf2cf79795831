"""Benchmark: the rights office's time-limit scan over many open applications, and one verification.

    .venv/bin/python bench/rights_scan.py --applications 5000
    .venv/bin/python bench/rights_scan.py --db postgresql+asyncpg://postgres@127.0.0.1:5432/test

Builds a fresh database (a temporary SQLite file, or a throw-away PostgreSQL database dropped
afterwards) with one rights office and N running applications whose time limits end between ten
days ago and ten days ahead, loaded by bulk inserts; then times ``rights.sla.scan`` plus its
commit as the worker's five-minute loop runs it:

  first scan  every application inside its reminder window or past its limit gets its reminder or
              escalation (and a timeline entry) at once: the worst case
  rescan      five minutes later: the marks must make it send nothing

Then times ``rights.custody.verify`` of one application with 20 stored files of 1 MB each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402  # after the sys.path fix above
from sqlalchemy.engine import make_url  # noqa: E402

import schema  # noqa: E402
from core import identity  # noqa: E402
from core.db import make_engine, make_sessionmaker, transaction  # noqa: E402
from core.outbox import OutboxMessage  # noqa: E402
from core.settings import load_settings  # noqa: E402
from rights import custody, service, sla  # noqa: E402
from rights.evidence import EvidenceItem  # noqa: E402
from rights.models import RightsApplication  # noqa: E402
from rights.service import Draft  # noqa: E402


class _Files:
    """Serves generated files by id, as the bot's fetcher would."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    async def download(self, *, file_id: str, destination: Path) -> None:
        await asyncio.to_thread(destination.write_bytes, self.files[file_id])


async def run(url: str, count: int, data_dir: Path) -> None:
    settings = load_settings(data_dir=data_dir, _env_file=None)
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(schema.load_models().create_all)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)
    async with transaction(sessions) as session:
        await identity.add_unit(session=session, name="县局")
        await identity.add_unit(session=session, name="派出所", parent="县局")
        applicant = await identity.add_officer(session=session, badge="1001", name="甲", unit="派出所")
        for n in range(3):
            await identity.add_officer(session=session, badge=f"600{n}", name="维权", unit="县局", roles=("rights",))
        await identity.add_officer(session=session, badge="9001", name="督察", unit="县局", roles=("supervisor",))
        office = await identity.get_unit(session=session, name="县局")
        assert office is not None
        rng = random.Random(7)
        rows = []
        for n in range(count):
            accepted = n % 2 == 0
            due = now + timedelta(hours=rng.uniform(-240, 240))
            rows.append({
                "number": f"WQ-BENCH-{n + 1:06d}", "applicant_id": applicant.id, "applicant_unit_id": applicant.unit_id,
                "office_unit_id": office.id, "type": "assault", "status": "accepted" if accepted else "submitted",
                "occurred_precision": "minute", "help_wanted": [], "submitted_at": now - timedelta(days=5),
                "accepted_at": now - timedelta(days=4) if accepted else None,
                "accept_due_at": None if accepted else due, "feedback_due_at": due if accepted else None,
                "decide_due_at": due + timedelta(days=20) if accepted else None, "limits": {}, "sla_marks": {},
                "custody_seq": 0, "created_at": now, "updated_at": now,
            })
        for start in range(0, len(rows), 1000):
            await session.execute(insert(RightsApplication), rows[start : start + 1000])
    print(f"{count} running applications loaded")

    for label, moment in (("first scan", now), ("rescan", now + timedelta(minutes=5))):
        started = time.perf_counter()
        async with transaction(sessions) as session:
            report = await sla.scan(session=session, settings=settings, now=moment)
        elapsed = time.perf_counter() - started
        print(f"{label:<11} {elapsed * 1000:8.0f} ms  checked {report.checked}, reminders {report.reminders}, "
              f"escalations {report.escalations}")
    async with sessions() as session:
        queued = await session.scalar(select(func.count()).select_from(OutboxMessage))
    print(f"outbox rows queued: {queued}")

    files = {f"f{n}": os.urandom(1024 * 1024) for n in range(20)}
    async with transaction(sessions) as session:
        draft = Draft(type="assault", account="x",
                      evidence=[EvidenceItem(kind="document", file_id=file_id) for file_id in files])
        started = time.perf_counter()
        application = await service.submit(session=session, settings=settings, applicant=applicant, draft=draft,
                                           fetcher=_Files(files))
        submit_ms = (time.perf_counter() - started) * 1000
    async with sessions() as session:
        loaded = await session.get(RightsApplication, application.id)
        assert loaded is not None
        started = time.perf_counter()
        verified = await custody.verify(session=session, settings=settings, application=loaded)
        verify_ms = (time.perf_counter() - started) * 1000
    print(f"submit with 20 x 1 MB files (store + rows + custody + pushes): {submit_ms:.0f} ms")
    print(f"verify: {verify_ms:.0f} ms ({verified.entries} entries, {verified.files_checked} files, ok={verified.ok})")
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--applications", type=int, default=5000)
    parser.add_argument("--db", default="sqlite", help="sqlite, or a postgresql+asyncpg:// URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "data"
        if args.db == "sqlite":
            await run(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", args.applications, data_dir)
            return
        name = f"frontline_bench_rights_{uuid.uuid4().hex[:8]}"
        admin = make_engine(args.db, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(args.db).set(database=name).render_as_string(hide_password=False)
            await run(url, args.applications, data_dir)
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
