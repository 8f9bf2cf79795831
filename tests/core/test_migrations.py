"""Migrations build exactly the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

import schema
from core import migrate
from core.db import make_engine


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, schema.load_models()))


async def _assert_head_matches_models(engine: AsyncEngine) -> None:
    await migrate.upgrade_engine(engine)
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == [], f"migrations and models differ: {diff}"


async def _downgrade_to_base(engine: AsyncEngine) -> None:
    def _down(connection: Connection) -> None:
        config = migrate.alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        command.downgrade(config, "base")

    async with engine.begin() as conn:
        await conn.run_sync(_down)
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: c.dialect.get_table_names(c))
    assert set(tables) <= {"alembic_version"}


@pytest.fixture
async def pg_engine(pg_db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a throw-away PostgreSQL database, so the test never touches anyone else's tables."""
    engine = make_engine(pg_db_url)
    yield engine
    await engine.dispose()


class TestMigrations:
    async def test_sqlite_upgrade_matches_models_and_downgrades(self, tmp_path: Path) -> None:
        """On SQLite the head revision equals the models, and downgrade removes every table."""
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
        await _assert_head_matches_models(engine)
        async with engine.connect() as conn:
            revision = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
        assert revision is not None
        await _downgrade_to_base(engine)
        await engine.dispose()

    async def test_postgresql_upgrade_matches_models_and_downgrades(self, pg_engine: AsyncEngine) -> None:
        """On PostgreSQL the head revision equals the models, and downgrade removes every table."""
        await _assert_head_matches_models(pg_engine)
        await _downgrade_to_base(pg_engine)

    async def test_upgrade_is_idempotent(self, tmp_path: Path) -> None:
        """Running the upgrade twice changes nothing the second time."""
        url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
        await migrate.upgrade_url(url)
        await migrate.upgrade_url(url)
        engine = make_engine(url)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
        await engine.dispose()
