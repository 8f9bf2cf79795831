"""The audit log is append-only, down to the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core import audit, migrate
from core.db import make_engine, make_sessionmaker, transaction


class TestAuditLog:
    async def test_records_and_tails_events(self, tmp_path: Path) -> None:
        """Recorded events come back newest-last, filtered by actor."""
        url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
        await migrate.upgrade_url(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        async with transaction(sessions) as session:
            await audit.record(session=session, actor="1001", action="question.asked", target_type="question")
            await audit.record(session=session, actor="1002", action="task.done", target_type="task", target_id=7)
        async with sessions() as session:
            events = await audit.tail(session=session, actor="1002")
            assert [(e.action, e.target_id) for e in events] == [("task.done", "7")]
        await engine.dispose()

    @pytest.mark.parametrize("statement", ["UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"])
    async def test_database_refuses_changes_on_sqlite(self, tmp_path: Path, statement: str) -> None:
        """The migrated SQLite database rejects UPDATE and DELETE on the audit log."""
        url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
        await migrate.upgrade_url(url)
        engine = make_engine(url)
        async with transaction(make_sessionmaker(engine)) as session:
            await audit.record(session=session, actor="1001", action="x")
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(statement))
        await engine.dispose()


async def test_an_unflushed_event_is_written_with_the_callers_commit(sessions) -> None:  # type: ignore[no-untyped-def]
    """record(flush=False) adds the event without a round trip; the caller's commit writes it."""
    from sqlalchemy import func, select

    from core import audit
    from core.audit import AuditEvent

    async with sessions() as session:
        event = await audit.record(session=session, actor="cli", action="test.unflushed", flush=False)
        assert event.id is None
        await session.commit()
        assert event.id is not None
    async with sessions() as session:
        count = await session.scalar(select(func.count()).where(AuditEvent.action == "test.unflushed"))
    assert count == 1
