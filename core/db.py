"""Database base class, engine and session factory (SQLite by default, PostgreSQL at scale)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, MetaData, TypeDecorator, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import StaticPool

SQLITE_POOL_SIZE = 5
SQLITE_POOL_OVERFLOW = 5

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class DatabaseUnavailable(ConnectionError):
    """The database cannot be reached or opened; the message says which one and why, in one line.

    A ConnectionError, so loops that ride out a database outage (delivery, the reminder scan)
    treat it as the outage it is.
    """


def _where(url: str) -> str:
    """Names a database for an operator without its password: host:port/name, or the SQLite file."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        return parsed.database or ":memory:"
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def _explain_connect_failures(engine: AsyncEngine, url: str) -> None:
    """Turns a failure to connect into DatabaseUnavailable, naming the database and the reason."""
    where = _where(url)
    setting = "FRONTLINE_DATA_DIR or FRONTLINE_DATABASE_URL" if is_sqlite(url) else "FRONTLINE_DATABASE_URL"

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Dialect, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.loaded_dbapi.connect(*cargs, **cparams)
        except OSError as exc:  # refused, unknown host, timed out
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise DatabaseUnavailable(
                f"cannot reach the database at {where} ({reason}); is it running? ({setting})"
            ) from exc
        except dialect.loaded_dbapi.Error as exc:  # no such database or role, wrong password, bad file
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise DatabaseUnavailable(
                f"cannot open the database {where}: {reason} ({setting})"
            ) from exc


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp that reads back aware on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every Frontline table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


def utcnow() -> datetime:
    """Returns the current time in UTC, aware."""
    return datetime.now(UTC)


def is_sqlite(url: str) -> bool:
    """Tells whether a database URL points to SQLite."""
    return url.startswith("sqlite")


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Creates an async engine; on SQLite turns on foreign keys, WAL and a busy timeout."""
    if is_sqlite(url):
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("timeout", 30)
        if ":memory:" in url or url.rstrip("/").endswith("sqlite+aiosqlite:"):
            kwargs.setdefault("poolclass", StaticPool)
        else:
            # Every SQLite connection is a thread of its own (aiosqlite). A burst beyond the pool
            # used to open and close overflow connections (a thread and three PRAGMAs each);
            # SQLite writes one at a time anyway, so a steady pool serves a burst with less CPU
            # (bench/README.bot.md).
            kwargs.setdefault("pool_size", SQLITE_POOL_SIZE)
            kwargs.setdefault("max_overflow", SQLITE_POOL_OVERFLOW)
        # Sessions always end in a commit or a rollback of their own, and SQLite starts a
        # transaction only before a write: the pool's extra rollback on every return is one
        # more round trip to the connection's thread for nothing.
        kwargs.setdefault("pool_reset_on_return", None)
        engine = create_async_engine(url, connect_args=connect_args, **kwargs)
        _explain_connect_failures(engine, url)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(url, **kwargs)
    _explain_connect_failures(engine, url)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Creates the session factory; objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Opens a session that commits on success and rolls back on error."""
    async with sessions() as session, session.begin():
        yield session
