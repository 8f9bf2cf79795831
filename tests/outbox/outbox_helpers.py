"""Outbox test helpers: the tables to create, a recording Messenger double, row readers."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core import audit, outbox
from core.db import Base, transaction
from core.identity import Officer
from core.outbox import OutboxMessage, Outgoing

OUTBOX_TABLES = ("units", "officers", "officer_roles", "audit_events", "outbox")


async def create_outbox_tables(engine: AsyncEngine) -> None:
    """Creates just the tables the outbox touches, whatever other models are loaded."""
    tables = [Base.metadata.tables[name] for name in OUTBOX_TABLES]
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: Base.metadata.create_all(c, tables=tables))


class FakeMessenger:
    """A Messenger that records every send and raises the domain errors it is told to."""

    def __init__(self, *, latency: float = 0.0) -> None:
        self.latency = latency
        self.sent: list[tuple[int, str, float]] = []
        self.calls: list[tuple[int, str, float]] = []
        self.script: dict[int, list[Exception]] = {}
        self.texts: Counter[str] = Counter()
        self.buttons: list[list[list[dict[str, str]]] | None] = []
        self.messages: list[tuple[int, Outgoing]] = []
        self._next_id = 1000

    def fail(self, chat_id: int, *errors: Exception) -> None:
        """Makes the next sends to a chat raise these errors, in order."""
        self.script.setdefault(chat_id, []).extend(errors)

    async def send(self, *, chat_id: int, message: Outgoing) -> int:
        text, buttons = message.text, message.buttons
        self.messages.append((chat_id, message))
        now = time.monotonic()
        self.calls.append((chat_id, text, now))
        if self.latency:
            await asyncio.sleep(self.latency)
        queued = self.script.get(chat_id)
        if queued:
            raise queued.pop(0)
        self.sent.append((chat_id, text, now))
        self.texts[text] += 1
        self.buttons.append(buttons)
        self._next_id += 1
        return self._next_id

    def times_for(self, chat_id: int) -> list[float]:
        """Returns when each successful send to a chat started."""
        return [t for chat, _text, t in self.sent if chat == chat_id]


@dataclass
class Rows:
    """Reads outbox rows back for assertions."""

    db: async_sessionmaker[AsyncSession]
    seen: list[OutboxMessage] = field(default_factory=list)

    async def all(self) -> list[OutboxMessage]:
        async with self.db() as session:
            return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())

    async def get(self, row_id: int) -> OutboxMessage:
        async with self.db() as session:
            row = await session.get(OutboxMessage, row_id)
            assert row is not None
            return row

    async def audit_actions(self) -> list[str]:
        async with self.db() as session:
            return [e.action for e in await audit.tail(session=session, limit=1000)]


async def push(
    db: async_sessionmaker[AsyncSession], officer: Officer, key: str, **kwargs: object
) -> OutboxMessage:
    """Enqueues one push and commits; fails the test if it was a duplicate."""
    async with transaction(db) as session:
        row = await outbox.enqueue(
            session=session,
            officer_id=officer.id,
            text=kwargs.pop("text", f"消息 {key}"),  # type: ignore[arg-type]  # test helper passes through
            kind=str(kwargs.pop("kind", "reminder")),
            dedupe_key=key,
            **kwargs,  # type: ignore[arg-type]  # test helper passes through
        )
    assert row is not None
    return row
