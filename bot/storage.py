"""Conversation state kept in the embedded database, so it survives a restart; the update inbox.

The FSM table is used when no Redis is configured. The inbox keeps each update fetched by
long polling until it is handled, and the processed table the ids of updates already
handled, so a crash neither loses an update nor answers one twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from sqlalchemy import JSON, BigInteger, String, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, joinedload, mapped_column

from core.db import Base, utcnow
from core.identity import Officer

# The session of the update being handled. FSM changes made by a handler join its transaction:
# they commit or roll back with everything else the handler did, and on SQLite a second
# connection writing while the handler's one holds the write lock would wait on itself.
current_session: ContextVar[AsyncSession | None] = ContextVar("frontline_update_session", default=None)
# session.info key: the FSM rows this session has read (None: no row), by storage key
_ROWS = "frontline_fsm_rows"
# session.info keys: the Telegram account whose officer to read with the first state row, and
# then that officer (None: no officer is bound to the account)
_OFFICER_OF = "frontline_officer_of"
_OFFICER = "frontline_officer"


def read_officer_with_state(session: AsyncSession, telegram_user_id: int) -> None:
    """Asks for the officer bound to an account to be read with the update's state row, in one query.

    The state is read first thing once the update holds its per-user lock (it must not be read
    before: another update of the same user may be changing it); reading the officer in the same
    query saves the update a round trip to the database.
    """
    session.info[_OFFICER_OF] = telegram_user_id


def officer_read_with_state(session: AsyncSession) -> tuple[bool, Officer | None]:
    """Returns (whether the officer was read with the state, that officer or None)."""
    if _OFFICER in session.info:
        officer: Officer | None = session.info[_OFFICER]
        return True, officer
    return False, None


async def _load_with_officer(
    session: AsyncSession, key: str, telegram_user_id: int, rows: dict[str, FsmState | None]
) -> bool:
    """Reads an account's officer (unit, roles) and a state row together; False if no officer is bound."""
    result = await session.execute(
        select(Officer, FsmState)
        .outerjoin(FsmState, FsmState.key == key)
        .options(joinedload(Officer.unit), joinedload(Officer.role_rows))
        .where(Officer.telegram_user_id == telegram_user_id)
    )
    found = result.unique().first()
    session.info[_OFFICER] = found[0] if found is not None else None
    if found is None:
        return False  # a stranger: the state row is read on its own
    rows[key] = found[1]
    return True


class FsmState(Base):
    """The conversation state and data of one chat and user."""

    __tablename__ = "fsm_states"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ProcessedUpdate(Base):
    """A Telegram update already handled (kept about two days: Telegram keeps updates 24 h)."""

    __tablename__ = "bot_processed_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class InboxUpdate(Base):
    """An update fetched from Telegram, written down before Telegram is told it arrived."""

    __tablename__ = "bot_inbox"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # how many starts found it unfinished: one that keeps killing the process is given up
    recoveries: Mapped[int] = mapped_column(default=0, server_default="0")


class DatabaseStorage(BaseStorage):
    """An aiogram FSM storage on the Frontline database (one short transaction per call)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], key_builder: KeyBuilder | None = None
    ) -> None:
        self._sessions = sessions
        self._keys = key_builder or DefaultKeyBuilder(with_bot_id=True)

    @asynccontextmanager
    async def _session(self, *, write: bool) -> AsyncIterator[AsyncSession]:
        """Yields the update's session if one is open, else a short one of our own."""
        shared = current_session.get()
        if shared is not None:
            # No flush here: the update's commit flushes, and every flush before it is one more
            # round trip to the database (and on SQLite takes the write lock earlier).
            yield shared
            return
        async with self._sessions() as own:
            if write:
                async with own.begin():
                    yield own
            else:
                yield own

    async def _row(self, session: AsyncSession, key: StorageKey) -> FsmState | None:
        # One read per update: a handler asks for its state and data several times, and the
        # session's identity map holds rows only weakly (and never remembers an absent one).
        built = self._keys.build(key)
        rows: dict[str, FsmState | None] = session.info.setdefault(_ROWS, {})
        if built not in rows:
            user = session.info.pop(_OFFICER_OF, None)
            if user is not None and await _load_with_officer(session, built, user, rows):
                return rows[built]
            rows[built] = await session.get(FsmState, built)
        return rows[built]

    def _added(self, session: AsyncSession, row: FsmState) -> None:
        session.add(row)
        session.info.setdefault(_ROWS, {})[row.key] = row

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        """Sets the state of a chat."""
        value = state.state if isinstance(state, State) else state
        async with self._session(write=True) as session:
            row = await self._row(session, key)
            if row is None:
                if value is not None:
                    self._added(
                        session, FsmState(key=self._keys.build(key), state=value, data={}, updated_at=utcnow())
                    )
            else:
                row.state = value
                row.updated_at = utcnow()

    async def get_state(self, key: StorageKey) -> str | None:
        """Gets the state of a chat."""
        async with self._session(write=False) as session:
            row = await self._row(session, key)
            return row.state if row is not None else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        """Replaces the data of a chat."""
        if not isinstance(data, dict):
            raise DataNotDictLikeError(f"Data must be a dict or dict-like object, got {type(data).__name__}")
        async with self._session(write=True) as session:
            row = await self._row(session, key)
            if row is None:
                self._added(
                    session, FsmState(key=self._keys.build(key), state=None, data=dict(data), updated_at=utcnow())
                )
            else:
                # A new dict, so SQLAlchemy sees the JSON column change.
                row.data = dict(data)
                row.updated_at = utcnow()

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        """Gets the data of a chat."""
        async with self._session(write=False) as session:
            row = await self._row(session, key)
            return dict(row.data) if row is not None and row.data else {}

    async def close(self) -> None:
        """Releases nothing: the engine belongs to the application."""


async def already_processed(*, session: AsyncSession, bot_id: int, update_id: int) -> bool:
    """Tells whether an update was handled before."""
    found = await session.scalar(
        select(ProcessedUpdate.update_id).where(
            ProcessedUpdate.bot_id == bot_id, ProcessedUpdate.update_id == update_id
        )
    )
    return found is not None


async def processed_among(*, session: AsyncSession, bot_id: int, update_ids: Sequence[int]) -> set[int]:
    """Tells which of the updates were handled before."""
    if not update_ids:
        return set()
    found = await session.scalars(
        select(ProcessedUpdate.update_id).where(
            ProcessedUpdate.bot_id == bot_id, ProcessedUpdate.update_id.in_(list(update_ids))
        )
    )
    return set(found)


async def mark_processed(*, session: AsyncSession, bot_id: int, update_id: int) -> None:
    """Records that an update has been handled (in the caller's transaction, flushed at its commit)."""
    session.add(ProcessedUpdate(bot_id=bot_id, update_id=update_id, at=utcnow()))


async def prune_processed(*, session: AsyncSession, older_than: timedelta = timedelta(days=2)) -> int:
    """Forgets handled updates, and inbox entries, older than Telegram could deliver again."""
    cutoff = utcnow() - older_than
    result = await session.execute(delete(ProcessedUpdate).where(ProcessedUpdate.at < cutoff))
    await session.execute(delete(InboxUpdate).where(InboxUpdate.received_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


async def add_to_inbox(
    *, session: AsyncSession, bot_id: int, updates: Sequence[tuple[int, dict[str, Any]]]
) -> None:
    """Writes fetched updates (id, payload) to the inbox, skipping ones already there."""
    ids = [update_id for update_id, _payload in updates]
    known = set(
        await session.scalars(
            select(InboxUpdate.update_id).where(InboxUpdate.bot_id == bot_id, InboxUpdate.update_id.in_(ids))
        )
    )
    now = utcnow()
    for update_id, payload in updates:
        if update_id not in known:
            session.add(InboxUpdate(bot_id=bot_id, update_id=update_id, payload=payload, received_at=now))
    await session.flush()


async def unhandled_inbox(*, session: AsyncSession, bot_id: int) -> list[InboxUpdate]:
    """Lists inbox updates never marked handled, oldest first (left over from a crash)."""
    handled = select(ProcessedUpdate.update_id).where(
        ProcessedUpdate.bot_id == bot_id, ProcessedUpdate.update_id == InboxUpdate.update_id
    )
    rows = await session.scalars(
        select(InboxUpdate)
        .where(InboxUpdate.bot_id == bot_id, ~handled.exists())
        .order_by(InboxUpdate.update_id)
    )
    return list(rows)
