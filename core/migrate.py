"""Runs the Alembic migrations programmatically (``frontline db upgrade`` and start-up)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import is_sqlite, make_engine
from core.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """Builds an Alembic config pointing at Frontline's migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = url
    return config


async def upgrade_engine(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrades the database behind an engine to a revision."""

    def _upgrade(connection: object) -> None:
        config = alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


async def upgrade_url(url: str, revision: str = "head") -> None:
    """Upgrades the database at a URL to a revision."""
    engine = make_engine(url)
    try:
        await upgrade_engine(engine, revision)
    finally:
        await engine.dispose()


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Creates the data dir if needed and upgrades the configured database (blocking)."""
    asyncio.run(upgrade_async(settings, revision))


async def upgrade_async(settings: Settings, revision: str = "head") -> None:
    """Creates the data dir if needed and upgrades the configured database."""
    url = settings.effective_database_url
    if is_sqlite(url):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    await upgrade_url(url, revision)
