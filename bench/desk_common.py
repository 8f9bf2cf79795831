"""What the desk benchmarks share: a city's organisation loaded in bulk, the desk served by
`frontline desk` in a process of its own, and a signed-in HTTP client."""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402  # after the sys.path fix above
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402

from core import identity, signin  # noqa: E402
from core.db import make_engine, make_sessionmaker, transaction  # noqa: E402
from core.identity import Officer, OfficerRole, Unit  # noqa: E402

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def officer_row(officer_id: int, badge: str, unit_id: int) -> dict[str, Any]:
    """One officer for a bulk insert."""
    return {
        "id": officer_id, "badge": badge, "name": f"警官{officer_id}", "unit_id": unit_id, "active": True,
        "language": "zh", "telegram_user_id": 7_000_000 + officer_id, "reachable": True,
        "created_at": datetime.now(UTC),
    }


async def load_city(session: AsyncSession, *, officers: int, bureaus: int = 10, stations: int = 20,
                    seed: int = 7) -> dict[str, Any]:
    """Loads a city bureau (市局) with sub-bureaus and stations, a legal brigade and an admin.

    Returns the ids of the ordinary officers (to own cases) and the badges of the desk users.
    """
    rng = random.Random(seed)
    units = [{"id": 1, "name": "市公安局", "parent_id": None}, {"id": 2, "name": "市局法制支队", "parent_id": 1}]
    station_ids: list[int] = []
    next_id = 10
    for b in range(bureaus):
        bureau_id = next_id
        next_id += 1
        units.append({"id": bureau_id, "name": f"第{b + 1}分局", "parent_id": 1})
        for s in range(stations):
            units.append({"id": next_id, "name": f"第{b + 1}分局第{s + 1}派出所", "parent_id": bureau_id})
            station_ids.append(next_id)
            next_id += 1
    await session.execute(insert(Unit), units)
    rows: list[dict[str, Any]] = []
    roles: list[dict[str, Any]] = []
    owners: list[int] = []
    officer_id = 0
    supervisors: dict[int, str] = {}
    for _ in range(officers - 22):
        officer_id += 1
        unit_id = station_ids[(officer_id - 1) % len(station_ids)] if officer_id <= len(station_ids) else rng.choice(station_ids)
        rows.append(officer_row(officer_id, f"{100000 + officer_id}", unit_id))
        if unit_id not in supervisors:
            supervisors[unit_id] = f"{100000 + officer_id}"
            roles.append({"officer_id": officer_id, "role": "supervisor"})
        else:
            roles.append({"officer_id": officer_id, "role": "officer"})
            owners.append(officer_id)
    for k in range(20):
        officer_id += 1
        rows.append(officer_row(officer_id, f"L{k:03d}", 2))
        roles.append({"officer_id": officer_id, "role": "legal"})
    officer_id += 1
    rows.append(officer_row(officer_id, "ADMIN", 1))
    roles.append({"officer_id": officer_id, "role": "admin"})
    officer_id += 1
    rows.append(officer_row(officer_id, "R001", 1))
    roles.append({"officer_id": officer_id, "role": "rights"})
    for start in range(0, len(rows), 5000):
        await session.execute(insert(Officer), rows[start : start + 5000])
        await session.execute(insert(OfficerRole), roles[start : start + 5000])
    return {"owners": owners, "legal": "L000", "admin": "ADMIN", "supervisor": next(iter(supervisors.values())),
            "units": len(units), "officers": len(rows)}


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def desk_process(url: str, data_dir: Path, *, workers_env: dict[str, str] | None = None) -> Iterator[str]:
    """Runs `frontline desk` on a free port against a database; yields its address."""
    port = free_port()
    env = {
        **os.environ,
        "FRONTLINE_DATABASE_URL": url,
        "FRONTLINE_DATA_DIR": str(data_dir),
        "FRONTLINE_DESK_PORT": str(port),
        "FRONTLINE_LOG_LEVEL": "WARNING",
        **(workers_env or {}),
    }
    address = f"http://127.0.0.1:{port}"
    log = (data_dir / "desk.log").open("w")
    process = subprocess.Popen([sys.executable, "-c", "import cli; cli.main()", "desk"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{address}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"the desk stopped: {(data_dir / 'desk.log').read_text()[-2000:]}")
            time.sleep(0.2)
        else:
            raise RuntimeError("the desk did not start within 120 s")
        yield address
    finally:
        process.terminate()
        process.wait(30)
        log.close()


async def link_for(url: str, badge: str, base: str) -> str:
    """Issues a sign-in link for a badge directly in the database."""
    engine = make_engine(url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            officer = await identity.get_officer(session=session, badge=badge)
            assert officer is not None, badge
            issued = await signin.issue_link(session=session, officer=officer, base_url=base, via="bench")
        return issued.url
    finally:
        await engine.dispose()


async def signed_in_client(url: str, badge: str, base: str, *, read_timeout: float = 120.0) -> httpx.AsyncClient:
    """An HTTP client holding a desk session of the officer (signed in through a link, as a browser)."""
    link = await link_for(url, badge, base)
    client = httpx.AsyncClient(base_url=base, timeout=read_timeout, headers={"accept": "text/html"})
    page = await client.get(link)
    token = CSRF.search(page.text)
    assert token is not None, page.text[:500]
    answer = await client.post(link, data={"csrf_token": token.group(1)})
    assert answer.status_code == 303, answer.text[:500]
    return client


def percentile(values: list[float], share: float) -> float:
    """The value below which a share of the sorted values lie (nearest rank)."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[index]
