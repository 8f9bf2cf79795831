"""Fixtures of the broadcasts tests: a file database with every table, the unit tree, quiet settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from broadcast_helpers import build_world
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import schema
from core.db import make_engine, make_sessionmaker, transaction
from core.identity import Officer
from core.settings import Settings, load_settings


@pytest.fixture
def quiet_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with quiet hours off (quiet-hour tests set their own) and nothing from the environment."""
    monkeypatch.chdir(tmp_path)
    return load_settings(data_dir=tmp_path / "data", _env_file=None, quiet_hours="00:00-00:00")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions over a file SQLite database with every table (delivery sends concurrently)."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'broadcasts.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(schema.load_models().create_all)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def world(db: async_sessionmaker[AsyncSession]) -> dict[str, Officer]:
    """The unit tree and its officers, committed."""
    async with transaction(db) as session:
        return await build_world(session)
