"""Giving, scanning and completing tasks on a real PostgreSQL (skipped unless FRONTLINE_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tasks_helpers import build_org, local

import schema
from core.db import make_engine, make_sessionmaker, transaction
from core.holidays import HolidayCalendar
from core.outbox import OutboxMessage
from core.settings import Settings
from tasks import service
from tasks.models import TaskAssignment, TaskOccurrence
from tasks.recurrence import Repeat
from tasks.schedule import scan
from tasks.service import TaskSpec


@pytest.fixture
async def pg_sessions(pg_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a throw-away schema of the test database, dropped afterwards."""
    name = f"test_tasks_{uuid.uuid4().hex[:10]}"
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
    async def test_a_working_day_series_is_given_scanned_and_completed(
        self, pg_sessions: async_sessionmaker[AsyncSession], settings: Settings, calendar: HolidayCalendar
    ) -> None:
        """日结 for a unit on PostgreSQL: notices, the next occurrence past National Day, reminders and
        escalation queued once however often the scan runs, a completion closing the occurrence."""
        async with transaction(pg_sessions) as session:
            org = await build_org(session)
            created = await service.create_task(
                session=session,
                spec=TaskSpec(
                    title="日结：上传执法记录仪视频",
                    assignees=["unit:一中队"],
                    due=local(2026, 9, 30, 18),
                    repeat=Repeat.WORKDAYS,
                ),
                settings=settings,
                calendar=calendar,
                creator=org["S001"],
                actor="S001",
                now=local(2026, 9, 30, 9),
            )
            series_id = created.series.id
        for moment in (local(2026, 9, 30, 16), local(2026, 9, 30, 18, 1), local(2026, 9, 30, 18, 1)):
            async with transaction(pg_sessions) as session:
                await scan(session=session, now=moment, settings=settings, calendar=calendar)
        async with transaction(pg_sessions) as session:
            dues = (
                await session.scalars(
                    select(TaskOccurrence.due_at)
                    .where(TaskOccurrence.series_id == series_id)
                    .order_by(TaskOccurrence.seq)
                )
            ).all()
            assert dues == [local(2026, 9, 30, 18), local(2026, 10, 8, 18)]
            kinds = dict(
                (
                    await session.execute(
                        select(OutboxMessage.kind, func.count()).group_by(OutboxMessage.kind)
                    )
                ).all()
            )
            # 张三 and 李四: a notice, the 2-hour and the due-time reminders; one escalation to the creator
            assert kinds == {"task.notice": 2, "task.remind": 4, "task.escalate": 1}
            second = await session.scalar(
                select(TaskOccurrence).where(TaskOccurrence.series_id == series_id, TaskOccurrence.seq == 2)
            )
            assert second is not None
            for badge in ("1001", "1002"):
                assignment = await session.scalar(
                    select(TaskAssignment).where(
                        TaskAssignment.occurrence_id == second.id, TaskAssignment.officer_id == org[badge].id
                    )
                )
                assert assignment is not None
                await service.complete(
                    session=session,
                    assignment_id=assignment.id,
                    officer=org[badge],
                    settings=settings,
                    calendar=calendar,
                    now=local(2026, 10, 8, 10),
                )
        async with transaction(pg_sessions) as session:
            closed = await session.get(TaskOccurrence, second.id)
            assert closed is not None and closed.status == "done"
            rows = await service.list_rows(session=session, settings=settings, now=local(2026, 10, 8, 11))
            assert [(r["assignee_badge"], r["status"]) for r in rows] == [
                ("1001", "overdue"),
                ("1002", "overdue"),
                ("1001", "done"),
                ("1002", "done"),
                ("1001", "open"),
                ("1002", "open"),
            ]
