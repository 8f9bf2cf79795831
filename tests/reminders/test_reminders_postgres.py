"""The import, scan and dedupe on a real PostgreSQL (skipped unless FRONTLINE_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from reminders_helpers import local, rows
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import schema
from core import identity
from core.db import make_engine, make_sessionmaker, transaction
from core.outbox import OutboxMessage
from core.settings import Settings
from reminders import service
from reminders.cases import import_cases
from reminders.models import Deadline
from reminders.schedule import scan


@pytest.fixture
async def pg_sessions(pg_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a throw-away schema of the test database, dropped afterwards."""
    name = f"test_reminders_{uuid.uuid4().hex[:10]}"
    admin = make_engine(pg_url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{name}"'))
    engine = make_engine(pg_url, connect_args={"server_settings": {"search_path": name}})
    async with engine.begin() as conn:
        await conn.run_sync(schema.load_models().create_all)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        await admin.dispose()


class TestOnPostgres:
    async def test_import_scan_rescan_and_answer(
        self,
        pg_sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        tips: Callable[[str], list[str]],
    ) -> None:
        """Re-import adds nothing, a repeated or reset scan queues nothing twice, an answer stops reminders."""
        table = rows(
            ("A1", "孙某某涉嫌盗窃案", "criminal", "1001", "取保候审", "2025-03-20"),
            ("A2", "李某某涉嫌诈骗案", "criminal", "1001", "逮捕", "2026-01-20 09:00"),
        )
        async with transaction(pg_sessions) as session:
            await identity.add_unit(session=session, name="一中队")
            await identity.add_officer(session=session, badge="1001", name="王警官", unit="一中队")
            await identity.add_officer(
                session=session, badge="2001", name="李所长", unit="一中队", roles=("supervisor",)
            )
            assert (
                await import_cases(session=session, settings=settings, now=local(2026, 3, 1), rows=table)
            ).ok
        async with transaction(pg_sessions) as session:
            again = await import_cases(session=session, settings=settings, now=local(2026, 3, 1), rows=table)
            assert (again.events_added, again.deadlines_added) == (0, 0)
        async with transaction(pg_sessions) as session:
            report = await scan(
                session=session, now=local(2026, 3, 20, 8, 30), settings=settings, risk_tips=tips
            )
        assert sorted((p.case_number, p.offset) for p in report.planned) == [("A1", "d0"), ("A2", "d0")]
        assert report.enqueued == 3  # one message per case to the officer, one digest to the supervisor
        async with transaction(pg_sessions) as session:
            await session.execute(
                Deadline.__table__.update().values(next_remind_at=local(2026, 3, 1), last_planned=None)
            )
            forced = await scan(session=session, now=local(2026, 3, 20, 9), settings=settings, risk_tips=tips)
        assert (forced.enqueued, forced.duplicates) == (0, 3)
        async with transaction(pg_sessions) as session:
            officer = await identity.get_officer(session=session, badge="1001")
            assert officer is not None
            bail = await session.scalar(select(Deadline).where(Deadline.rule_id == "bail"))
            assert bail is not None
            await service.mark_done(
                session=session,
                deadline_id=bail.id,
                officer=officer,
                outcome="changed",
                now=local(2026, 3, 20, 10),
                settings=settings,
            )
        async with transaction(pg_sessions) as session:
            later = await scan(
                session=session, now=local(2026, 3, 21, 8, 30), settings=settings, risk_tips=tips
            )
            assert [p.case_number for p in later.planned] == ["A2"]
            assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 5
