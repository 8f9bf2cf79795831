"""Migration 0008: administrative cases, all counted as public-order cases until now, say so."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from core import identity, migrate
from core.db import make_engine, make_sessionmaker, transaction
from reminders.models import Case


async def test_administrative_cases_become_public_order_cases_and_back(tmp_path: Path) -> None:
    """Upgrading renames the old 'administrative' type to 'public_order'; downgrading restores it."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    await migrate.upgrade_engine(engine, "0007_outbox_topic")
    async with transaction(make_sessionmaker(engine)) as session:
        await identity.add_unit(session=session, name="一中队")
        officer = await identity.add_officer(session=session, badge="1001", name="王", unit="一中队")
        for number, kind in (("X1", "administrative"), ("A1", "criminal")):
            session.add(Case(case_number=number, title="案", case_type=kind, officer_id=officer.id, flags=[]))
    await migrate.upgrade_engine(engine)
    async with engine.connect() as conn:
        types = dict((await conn.execute(text("SELECT case_number, case_type FROM cases"))).all())
    assert types == {"X1": "public_order", "A1": "criminal"}

    def down(connection: Connection) -> None:
        config = migrate.alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        command.downgrade(config, "0007_outbox_topic")

    async with engine.begin() as conn:
        await conn.run_sync(down)
    async with engine.connect() as conn:
        types = dict((await conn.execute(text("SELECT case_number, case_type FROM cases"))).all())
    await engine.dispose()
    assert types == {"X1": "administrative", "A1": "criminal"}
