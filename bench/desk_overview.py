"""Benchmark: the desk's overview with 100,000 cases and 10,000 officers on PostgreSQL.

    .venv/bin/python bench/desk_overview.py --db postgresql+asyncpg://postgres@127.0.0.1:5432/test

Builds a throw-away PostgreSQL database with the real migrations, then loads in bulk a city
bureau (10 sub-bureaus of 20 stations, a legal brigade, an admin), 10,000 officers, 100,000
cases each with a running deadline spread over its statutory period (as bench/reminders_scan.py's
realistic scenario), 50,000 deadlines already handled, and 300 questions waiting for the legal
brigade. `frontline desk` then serves it in a process of its own; a client signed in through a
link (as a browser) loads the overview one request at a time and the latency of each full
response is measured: once with the overview's figures computed on every view
(FRONTLINE_DESK_OVERVIEW_CACHE_SECONDS=0), once with the default 30 s during which repeated
views reuse them. The overview runs every panel the viewer's roles open: the deadline chart
by unit with its roll-up over the unit tree, the most urgent deadlines, the question queue.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402  # after the sys.path fix above
from sqlalchemy.engine import make_url  # noqa: E402

from bench.desk_common import desk_process, load_city, percentile, signed_in_client  # noqa: E402
from broadcasts.models import Broadcast, BroadcastAck, BroadcastRecipient  # noqa: E402
from core import migrate  # noqa: E402
from core.db import make_engine, make_sessionmaker, transaction  # noqa: E402
from core.holidays import HolidayCalendar  # noqa: E402
from core.settings import load_settings  # noqa: E402
from core.testing import create_database, drop_database  # noqa: E402
from knowledge.models import UnansweredQuestion  # noqa: E402
from reminders.models import Case, Deadline  # noqa: E402
from reminders.planning import first_slot  # noqa: E402
from reminders.rules import bundled_rules  # noqa: E402
from rights.models import RightsApplication  # noqa: E402
from tasks.models import TaskAssignment, TaskOccurrence, TaskSeries  # noqa: E402

MIX = [
    ("bail", 0.55),
    ("residential_surveillance", 0.05),
    ("custody_after_arrest", 0.15),
    ("public_order_case", 0.225),
    ("detention_arrest_request", 0.02),
    ("criminal_summons", 0.003),
    ("administrative_questioning", 0.002),
]


async def build(url: str, *, cases: int, officers: int, seed: int) -> dict[str, Any]:
    """Loads the organisation, cases, deadlines and questions."""
    rng = random.Random(seed)
    settings = load_settings(_env_file=None)
    tz = settings.tz
    rules = bundled_rules()
    calendar = HolidayCalendar()
    now = datetime.now(UTC)
    await migrate.upgrade_url(url)
    engine = make_engine(url)
    started = time.perf_counter()
    async with transaction(make_sessionmaker(engine)) as session:
        city = await load_city(session, officers=officers, seed=seed)
        owners = city["owners"]
        weights = [w for _, w in MIX]
        case_rows: list[dict[str, Any]] = []
        deadline_rows: list[dict[str, Any]] = []
        deadline_id = 0
        for i in range(1, cases + 1):
            rule = rules.get(rng.choices([r for r, _ in MIX], weights)[0])
            assert rule is not None
            length = rule.due(now, tz=tz, calendar=calendar).at - now
            start = (now - length * rng.uniform(-0.02, 1.0) + timedelta(minutes=1)).replace(microsecond=0)
            end = rule.due(start, tz=tz, calendar=calendar)
            due = end.at
            case_rows.append({
                "id": i, "case_number": f"A{i:07d}", "title": f"某某涉嫌盗窃案{i}", "case_type": rule.case_types[0].value,
                "officer_id": rng.choice(owners), "supervisor_id": None, "flags": [], "in_custody": rule.held,
                "closed": False, "created_at": now, "updated_at": now,
            })
            deadline_id += 1
            deadline_rows.append({
                "id": deadline_id, "case_id": i, "rule_id": rule.id, "measure": rule.measure.zh, "starts_at": start,
                "due_at": due, "status": "open", "article": rule.article, "in_custody": rule.held,
                "provisional": end.provisional, "excluded_days": 0, "rule_version": rule.version,
                "next_remind_at": first_slot(due, rule.plan_for(start, due, tz=tz), hourly=rule.hourly, tz=tz).at,
                "created_at": now, "updated_at": now,
            })
            if i % 2 == 0:  # an earlier measure of the case, handled long ago
                earlier = rules.get("detention_arrest_request")
                assert earlier is not None
                begun = start - timedelta(days=rng.randint(5, 40))
                deadline_id += 1
                deadline_rows.append({
                    "id": deadline_id, "case_id": i, "rule_id": earlier.id, "measure": earlier.measure.zh,
                    "starts_at": begun, "due_at": earlier.due(begun, tz=tz, calendar=calendar).at, "status": "done",
                    "outcome": "arrest", "article": earlier.article, "in_custody": True, "next_remind_at": None,
                    "rule_version": earlier.version,
                    "created_at": now, "updated_at": now,
                })
        for chunk in range(0, len(case_rows), 10000):
            await session.execute(insert(Case), case_rows[chunk : chunk + 10000])
        for chunk in range(0, len(deadline_rows), 10000):
            await session.execute(insert(Deadline), deadline_rows[chunk : chunk + 10000])
        questions = [
            {"officer_id": rng.choice(owners), "question": f"第{q}个问题：询问笔录的签名有什么要求？",
             "created_at": now - timedelta(hours=rng.uniform(0, 200)), "status": "open", "saved_as_guidance": False}
            for q in range(300)
        ]
        await session.execute(insert(UnansweredQuestion), questions)
        extra = await load_office_work(session, rng=rng, now=now, settings=settings)
    # A live database has planner statistics (autovacuum gathers them soon after a bulk load).
    async with engine.connect() as conn:
        await conn.execute(text("COMMIT"))
        await conn.execute(text("ANALYZE"))
    await engine.dispose()
    return {**city, **extra, "deadlines": len(deadline_rows), "load_seconds": time.perf_counter() - started}


RIGHTS_STATUSES = [("closed", 0.55), ("rejected", 0.05), ("withdrawn", 0.03), ("decided", 0.07), ("submitted", 0.08),
                   ("accepted", 0.08), ("investigating", 0.1), ("waiting", 0.04)]
RIGHTS_TYPES = ["assault", "insult", "threat", "false_accusation", "online", "injury", "relatives", "other"]


async def load_office_work(session: Any, *, rng: random.Random, now: datetime, settings: Any) -> dict[str, Any]:
    """Loads two years of rights applications, a year of broadcasts with their acknowledgements, and tasks."""
    officer_units = {row.id: row.unit_id for row in (await session.execute(text("SELECT id, unit_id FROM officers"))).all()}
    unit_rows = (await session.execute(text("SELECT id, parent_id, name FROM units"))).all()
    parents = {row.id: row.parent_id for row in unit_rows}
    names = {row.id: row.name for row in unit_rows}
    by_bureau: dict[int, list[int]] = {}
    for officer_id, unit_id in officer_units.items():
        bureau = parents.get(unit_id) if parents.get(unit_id) not in (None, 1) else unit_id
        by_bureau.setdefault(bureau or unit_id, []).append(officer_id)
    by_station: dict[int, list[int]] = {}
    for officer_id, unit_id in officer_units.items():
        by_station.setdefault(unit_id, []).append(officer_id)
    people = list(officer_units)
    sender = max(people)  # a legal officer would do; any sender works for the figures
    # Rights applications: 3,000 over two years, most concluded; those open spread over their time limits.
    applications = []
    for n in range(1, 3001):
        status = rng.choices([s for s, _ in RIGHTS_STATUSES], [w for _, w in RIGHTS_STATUSES])[0]
        submitted = now - timedelta(days=rng.uniform(0, 730)) if status in ("closed", "rejected", "withdrawn") else \
            now - timedelta(days=rng.uniform(0, 40))
        applicant = rng.choice(people)
        row: dict[str, Any] = {
            "number": f"WQ-B-{n:06d}", "applicant_id": applicant, "applicant_unit_id": officer_units[applicant],
            "office_unit_id": 1, "type": rng.choice(RIGHTS_TYPES), "status": status, "occurred_precision": "day",
            "help_wanted": [], "account": "执勤时被辱骂推搡。", "submitted_at": submitted, "limits": {}, "sla_marks": {},
            "custody_seq": 0, "created_at": submitted, "updated_at": submitted,
            "accept_due_at": None, "feedback_due_at": None, "decide_due_at": None,
        }
        if status == "submitted":
            row["accept_due_at"] = submitted + timedelta(days=rng.choice([1, 2, 3]))
        elif status in ("accepted", "investigating"):
            row["decide_due_at"] = submitted + timedelta(days=30 + rng.uniform(-3, 3))
            if rng.random() < 0.4:
                row["feedback_due_at"] = submitted + timedelta(days=rng.uniform(3, 6))
        elif status in ("closed", "rejected", "withdrawn"):
            row["ended_at"] = submitted + timedelta(days=rng.uniform(1, 40))
        applications.append(row)
    await session.execute(insert(RightsApplication), applications)
    # Broadcasts: 150 over a year, one in ten to every officer, the others to one sub-bureau; 85 % acknowledged.
    recipients_total = acks_total = 0
    bureaus = sorted(by_bureau)
    for b in range(150):
        released = now - timedelta(days=rng.uniform(0, 365))
        everyone = b % 10 == 0
        bureau = rng.choice(bureaus)
        audience = "all" if everyone else f"unit:{names[bureau]}"
        made = (await session.execute(insert(Broadcast).returning(Broadcast.id), [{
            "sender_id": sender, "text": f"第{b + 1}条风险提示：近期多发冒充公检法诈骗。", "audience": audience, "urgent": False,
            "articles": [], "status": "sent", "send_at": released, "created_at": released, "released_at": released,
            "finished_at": released + timedelta(minutes=5), "status_edits": 0, "reminder_rounds": 0,
        }])).scalar_one()
        chosen = people if everyone else by_bureau[bureau]
        rows = [{"broadcast_id": made, "officer_id": o, "unit_id": officer_units[o]} for o in chosen]
        acks = [{"broadcast_id": made, "officer_id": o, "acknowledged_at": released + timedelta(minutes=rng.uniform(1, 600))}
                for o in chosen if rng.random() < 0.85]
        for start in range(0, len(rows), 10000):
            await session.execute(insert(BroadcastRecipient), rows[start : start + 10000])
        for start in range(0, len(acks), 10000):
            await session.execute(insert(BroadcastAck), acks[start : start + 10000])
        recipients_total += len(rows)
        acks_total += len(acks)
    # Tasks: 200 weekly series of 10 occurrences and 1,000 one-off tasks, each for one station's officers;
    # the past ones mostly done, about one in ten assignments left overdue.
    stations = sorted(u for u in by_station if parents.get(u) not in (None, 1))
    assignments = occurrences = 0
    for t in range(1200):
        weekly = t < 200
        station = rng.choice(stations)
        first_due = now - timedelta(days=rng.uniform(0, 70) if weekly else rng.uniform(-10, 60))
        series = (await session.execute(insert(TaskSeries).returning(TaskSeries.id), [{
            "title": f"任务{t + 1}：整改执法问题", "priority": "normal", "source": "rectification",
            "assignees": [f"unit:{names[station]}"], "repeat": "weekly" if weekly else "none",
            "start_date": first_due.astimezone(settings.tz).date(), "due_time": "18:00",
            "status": "active", "occurrences_made": 1, "creator_id": sender, "created_by": "bench",
            "created_at": first_due - timedelta(days=3), "updated_at": first_due,
        }])).scalar_one()
        for seq in range(1, 11 if weekly else 2):
            due = first_due + timedelta(days=7 * (seq - 1))
            if seq > 1 and due > now + timedelta(days=7):
                break  # occurrences are made one at a time, when the one before falls due
            is_open = due > now or rng.random() < 0.3
            occurrence = (await session.execute(insert(TaskOccurrence).returning(TaskOccurrence.id), [{
                "series_id": series, "seq": seq, "title": f"任务{t + 1}", "priority": "normal", "due_at": due,
                "opens_at": due - timedelta(days=7), "status": "open" if is_open else "done", "escalation_level": 0,
                "created_at": due - timedelta(days=7), "updated_at": due,
            }])).scalar_one()
            rows = []
            for o in by_station[station]:
                done = not is_open or (due < now and rng.random() < 0.7)
                rows.append({"occurrence_id": occurrence, "officer_id": o, "status": "done" if done else "open",
                             "completed_at": due - timedelta(hours=2) if done else None,
                             "created_at": due - timedelta(days=7), "updated_at": due})
            await session.execute(insert(TaskAssignment), rows)
            occurrences += 1
            assignments += len(rows)
            await session.execute(text("UPDATE task_series SET occurrences_made = :n, last_due_at = :due WHERE id = :id"),
                                  {"n": seq, "due": due, "id": series})
    return {"applications": len(applications), "broadcasts": 150, "recipients": recipients_total, "acks": acks_total,
            "occurrences": occurrences, "assignments": assignments}


async def measure(url: str, base: str, badge: str, *, requests: int, warmup: int) -> dict[str, float]:
    """Loads the overview `requests` times, one after another, and returns latency figures in ms."""
    client = await signed_in_client(url, badge, base)
    try:
        for _ in range(warmup):
            answer = await client.get("/")
            assert answer.status_code == 200, answer.status_code
        times: list[float] = []
        for _ in range(requests):
            started = time.perf_counter()
            answer = await client.get("/")
            times.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200 and "data-slot=" in answer.text
        size = len(answer.content)
    finally:
        await client.aclose()
    return {"p50": percentile(times, 0.5), "p95": percentile(times, 0.95), "max": max(times), "bytes": float(size)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="a postgresql+asyncpg URL (a throw-away database is made on its server)")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--officers", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", metavar="NAME", help="build into database NAME once and keep it (for repeated runs)")
    args = parser.parse_args()
    name = args.keep or f"bench_desk_overview_{int(time.time())}"
    url = make_url(args.db).set(database=name).render_as_string(hide_password=False)
    if not (args.keep and await _exists(args.db, name)):
        url = await create_database(args.db, name)
        built = await build(url, cases=args.cases, officers=args.officers, seed=args.seed)
        print(f"postgresql: {built['officers']} officers in {built['units']} units, {args.cases} cases, "
              f"{built['deadlines']} deadlines, 300 open questions, {built['applications']} rights applications, "
              f"{built['broadcasts']} broadcasts ({built['recipients']} recipients, {built['acks']} acknowledgements), "
              f"{built['occurrences']} task occurrences ({built['assignments']} assignments); "
              f"loaded in {built['load_seconds']:.1f} s")
    else:
        built = {"admin": "ADMIN", "legal": "L000", "supervisor": await _a_supervisor(url)}
    try:
        for label, seconds in (("every view computed (cache off)", "0"), ("figures kept 30 s (the default)", "30")):
            print(f" {label}:")
            env = {"FRONTLINE_DESK_OVERVIEW_CACHE_SECONDS": seconds}
            with tempfile.TemporaryDirectory() as folder, desk_process(url, Path(folder), workers_env=env) as base:
                for who, badge in (("admin (every unit)", built["admin"]), ("legal brigade (the city)", built["legal"]),
                                   ("rights office (the city)", "R001"), ("station supervisor", built["supervisor"])):
                    figures = await measure(url, base, badge, requests=args.requests, warmup=args.warmup)
                    print(f"  overview as {who}: p50 {figures['p50']:.1f} ms, p95 {figures['p95']:.1f} ms, "
                          f"max {figures['max']:.1f} ms over {args.requests} requests ({figures['bytes'] / 1024:.0f} KiB)")
    finally:
        if not args.keep:
            await drop_database(args.db, name)


async def _exists(base: str, name: str) -> bool:
    engine = make_engine(base)
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
        return found is not None
    finally:
        await engine.dispose()


async def _a_supervisor(url: str) -> str:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            badge = await conn.scalar(text(
                "SELECT o.badge FROM officers o JOIN officer_roles r ON r.officer_id = o.id "
                "WHERE r.role = 'supervisor' ORDER BY o.id LIMIT 1"))
        return str(badge)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
