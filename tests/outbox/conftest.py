"""Outbox test helpers: a file SQLite database, officers, and a recording Messenger double."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from outbox_helpers import FakeMessenger, Rows, create_outbox_tables
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import identity
from core.db import make_engine, make_sessionmaker, transaction
from core.identity import Officer
from core.settings import Settings, load_settings


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions over a file SQLite database: delivery runs sends concurrently, which an
    in-memory database on one shared connection cannot serve."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    await create_outbox_tables(engine)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
def outbox_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with quiet hours off (quiet-hour tests set their own) and nothing from the environment."""
    monkeypatch.chdir(tmp_path)
    return load_settings(
        data_dir=tmp_path / "data", _env_file=None, send_rate_per_second=30, quiet_hours="00:00-00:00"
    )


AddOfficer = Callable[..., Awaitable[Officer]]


@pytest.fixture
def add_officer(db: async_sessionmaker[AsyncSession]) -> AddOfficer:
    """Adds an officer (and the unit, on first use) and commits."""

    async def _add(
        badge: str,
        *,
        chat: int | None = None,
        unit: str = "一中队",
        parent: str | None = None,
        roles: tuple[str, ...] = ("officer",),
        language: str = "zh",
        quiet_hours: str | None = None,
        active: bool = True,
    ) -> Officer:
        async with transaction(db) as session:
            unit_row = await identity.get_unit(session=session, name=unit)
            if unit_row is None:
                unit_row = await identity.add_unit(session=session, name=unit, parent=parent)
            if quiet_hours is not None:
                unit_row.quiet_hours = quiet_hours
            officer = await identity.add_officer(
                session=session, badge=badge, name=f"警员{badge}", unit=unit, roles=roles, language=language
            )
            officer.telegram_user_id = chat
            officer.active = active
        return officer

    return _add


@pytest.fixture
def messenger() -> FakeMessenger:
    """A fresh recording messenger."""
    return FakeMessenger()


@pytest.fixture
def rows(db: async_sessionmaker[AsyncSession]) -> Rows:
    """Reads rows back from the test database."""
    return Rows(db)
