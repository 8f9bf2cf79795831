"""Test and benchmark helpers shipped with the core: throw-away PostgreSQL databases.

Tests and benchmarks run against a real PostgreSQL server shared with other work (CI's, a
developer's). Each gets a database of its own, created here with a random or given name and
dropped afterwards, so nothing ever touches anyone else's tables.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.db import make_engine


def database_url(base_url: str, name: str) -> str:
    """Returns base_url pointed at database `name` on the same server (password kept)."""
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


async def create_database(base_url: str, name: str) -> str:
    """Drops database `name` on base_url's server if it exists, creates it empty; returns its URL."""
    admin = make_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    return database_url(base_url, name)


async def drop_database(base_url: str, name: str) -> None:
    """Drops database `name` on base_url's server, closing any connection still open to it."""
    admin = make_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@asynccontextmanager
async def throwaway_database(base_url: str, *, prefix: str = "frontline_test") -> AsyncIterator[str]:
    """Creates a database with a random name for the block and drops it afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    url = await create_database(base_url, name)
    try:
        yield url
    finally:
        await drop_database(base_url, name)
