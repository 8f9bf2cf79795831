"""The desk's pages on PostgreSQL (the deployment's database): the same queries, the real dialect."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

import schema
from core.db import make_engine, make_sessionmaker, utcnow
from core.settings import Settings, load_settings
from desk.app import create_app
from tests.desk.conftest import DeskHarness, _fixed_username
from tests.desk.desk_fakes import seed


@pytest.fixture
async def pg_desk(pg_url: str, settings: Settings, tmp_path: Path) -> AsyncIterator[DeskHarness]:
    """The desk on a throw-away PostgreSQL database."""
    name = f"frontline_desk_{uuid.uuid4().hex[:8]}"
    admin = make_engine(pg_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(pg_url).set(database=name).render_as_string(hide_password=False))
    async with engine.begin() as conn:
        await conn.run_sync(schema.load_models().create_all)
    sessions = make_sessionmaker(engine)
    desk_settings = load_settings(data_dir=settings.data_dir, _env_file=None)
    made = DeskHarness(desk_settings, engine, sessions, create_app(desk_settings, sessions=sessions, bot_username=_fixed_username))
    try:
        yield made
    finally:
        for client in made.clients:
            await client.aclose()
        await engine.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


class TestDeskOnPostgres:
    async def test_every_page_answers_on_postgresql(self, pg_desk: DeskHarness) -> None:
        """Overview, cases (search, calendar, day, timeline), questions, people and audit work on PostgreSQL."""
        async with pg_desk.session() as session:
            seeded = await seed(session, pg_desk.settings, utcnow())
            case_id = await session.scalar(text("SELECT id FROM cases ORDER BY id LIMIT 1"))
        admin = await pg_desk.signed_in(seeded.admin)
        today = utcnow().astimezone(pg_desk.settings.tz).date().isoformat()
        for path, params in (("/", {}), ("/cases", {"q": "盗窃"}), ("/cases/calendar", {}), (f"/cases/calendar/{today}", {}),
                             (f"/cases/{case_id}", {}), ("/people", {"status": "unenrolled"}),
                             ("/audit", {"action": "desk.", "subject": seeded.legal}), ("/audit/export.csv", {})):
            answer = await admin.get(path, params=params)
            assert answer.status_code == 200, (path, answer.text[:500])
        overview = (await admin.get("/")).text
        assert 'class="seg seg-overdue"' in overview and "城关派出所" in overview
        assert "盗窃案1号" in (await admin.get("/cases", params={"q": "盗窃"})).text

    async def test_an_answer_and_an_upload_on_postgresql(self, pg_desk: DeskHarness) -> None:
        """Answering queues the push; a file with a bad row writes nothing; a good one imports."""
        async with pg_desk.session() as session:
            seeded = await seed(session, pg_desk.settings, utcnow())
            question_id = await session.scalar(text("SELECT id FROM kb_unanswered_questions ORDER BY id LIMIT 1"))
            before = await session.scalar(text("SELECT count(*) FROM cases"))
        legal = await pg_desk.signed_in(seeded.legal)
        done = await pg_desk.post(legal, f"/questions/{question_id}/answer", {"answer": "可以。"}, page="/questions")
        assert done.status_code == 303
        header = "case_number,case_title,case_type,officer_badge,event,event_date\n"
        bad = header + "PG-1,案,治安,P001,行政案件受理,2026-01-05\nPG-2,案,治安,NOPE,行政案件受理,2026-01-05\n"
        refused = await pg_desk.post(legal, "/cases/upload", page="/cases/upload",
                                     files={"file": ("c.csv", bad.encode(), "text/csv")})
        assert refused.status_code == 422
        good = header + "PG-1,案,治安,P001,行政案件受理,2026-01-05\n"
        imported = await pg_desk.post(legal, "/cases/upload", page="/cases/upload",
                                      files={"file": ("c.csv", good.encode(), "text/csv")})
        assert imported.status_code == 200
        async with pg_desk.session() as session:
            assert await session.scalar(text("SELECT count(*) FROM cases")) == (before or 0) + 1
            assert await session.scalar(text("SELECT count(*) FROM outbox WHERE kind = 'legal.answer'")) == 1
