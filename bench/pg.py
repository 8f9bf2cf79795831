"""A throw-away PostgreSQL database for a benchmark run, on the server of a given URL."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.db import make_engine


async def fresh_database(base_url: str, name: str) -> str:
    """Drops and creates database `name` on base_url's server; returns its URL."""
    admin = make_engine(base_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(base_url: str, name: str) -> None:
    """Drops database `name` on base_url's server."""
    admin = make_engine(base_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()
