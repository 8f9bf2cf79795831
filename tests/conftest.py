"""Shared fixtures: settings on a temporary data dir, an in-memory database, officers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import schema
from core import i18n, identity
from core.db import make_engine, make_sessionmaker
from core.identity import Officer
from core.settings import Settings, load_settings
from core.testing import throwaway_database

MakeOfficer = Callable[..., Awaitable[Officer]]


def pytest_configure(config: pytest.Config) -> None:
    i18n.compile_catalogues()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings on a temporary data dir, isolated from the developer's environment and .env."""
    for key in list(os.environ):
        if key.startswith("FRONTLINE_") and not key.startswith("FRONTLINE_TEST_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    return load_settings(data_dir=tmp_path / "data", _env_file=None)


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    """An in-memory SQLite engine with every table created."""
    eng = make_engine("sqlite+aiosqlite:///:memory:")
    metadata = schema.load_models()
    async with eng.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield eng
    await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The session factory over the in-memory engine."""
    return make_sessionmaker(engine)


@pytest.fixture
async def session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session; the test decides when to commit."""
    async with sessions() as s:
        yield s


@pytest.fixture
def make_officer(session: AsyncSession) -> MakeOfficer:
    """Creates officers (and their unit on first use) in the test session."""

    async def _make(
        badge: str = "1001",
        name: str = "张三",
        roles: Iterable[str] = ("officer",),
        unit: str = "一中队",
        telegram_user_id: int | None = None,
        language: str = "zh",
    ) -> Officer:
        if await identity.get_unit(session=session, name=unit) is None:
            await identity.add_unit(session=session, name=unit)
        officer = await identity.add_officer(
            session=session, badge=badge, name=name, unit=unit, roles=roles, language=language
        )
        if telegram_user_id is not None:
            officer.telegram_user_id = telegram_user_id
            await session.flush()
        return officer

    return _make


@pytest.fixture
def pg_url() -> str:
    """The PostgreSQL test database URL; skips when FRONTLINE_TEST_DATABASE_URL is unset."""
    url = os.environ.get("FRONTLINE_TEST_DATABASE_URL")
    if not url:
        pytest.skip(reason="FRONTLINE_TEST_DATABASE_URL is not set (CI sets it)")
    return url


@pytest.fixture
async def pg_db_url(pg_url: str) -> AsyncIterator[str]:
    """A throw-away PostgreSQL database (empty), dropped after the test; skips without PostgreSQL."""
    async with throwaway_database(pg_url) as url:
        yield url


@pytest.fixture
def redis_url() -> str:
    """The Redis test URL; skips when FRONTLINE_TEST_REDIS_URL is unset."""
    url = os.environ.get("FRONTLINE_TEST_REDIS_URL")
    if not url:
        pytest.skip(reason="FRONTLINE_TEST_REDIS_URL is not set (CI sets it)")
    return url
