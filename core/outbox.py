"""The outbox: every push to a phone is a row first, then delivered once within Telegram's limits.

A service that causes a push (a reminder falls due, a broadcast, a task notice) calls
:func:`enqueue` in the same transaction as the change itself, so the push exists exactly when
the change does. A delivery loop (:func:`run_delivery_loop`) claims due rows under a lease,
sends them through a :class:`Messenger` and records the outcome.

Exactly once, and the one window where it cannot be
---------------------------------------------------
A row is claimed atomically (PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite a single
conditional ``UPDATE ... RETURNING``, which SQLite runs under its one writer lock), so two
workers never hold the same row. Each claim gets a fresh lease token, and every later state
change is conditional on that token, so a worker that lost its lease can no longer change the
row. A send is only started while enough lease is left for it to time out before the lease
ends, so a row is never re-claimed while its first send may still be in the air.

The row is marked ``sent`` right after the Bot API answers, by one UPDATE on a connection kept
open for the purpose (no pool checkout, no ORM; on PostgreSQL without waiting for the WAL
flush). Telegram offers no idempotency key, so one window remains: if the process dies (or the
database is unreachable) after Telegram accepted a message and before that commit, the row's
lease expires and the message is sent again. Per message the window is the HTTP response's
trip plus one commit (about 2 ms against a local Bot API, see bench/README.outbox.md; plus
the network latency against the real one), so a crash duplicates at most the messages in
flight at that moment: at most ``DeliveryOptions.concurrency``, in practice rate x latency
(0-1 locally, about 3 at 30/s with 100 ms to Telegram). ``concurrency=1`` makes it strictly
at most one, at the cost of a rate of at most one message per round trip. A send that times
out is equally ambiguous and is retried, for the same reason: losing a statutory reminder is
worse than showing it twice. Nothing is ever lost: a row leaves ``sending`` only by a commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import html
import logging
import random
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    false,
    func,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.pool import StaticPool

from core import audit, identity
from core.db import Base, transaction, utcnow
from core.i18n import gettext_for
from core.identity import Officer, Unit
from core.settings import Settings

log = logging.getLogger(__name__)

MAX_TEXT_LENGTH = 4096  # Telegram's limit, counted after HTML entities are parsed
MAX_CALLBACK_BYTES = 64  # Telegram's limit on callback_data
ENQUEUE_CHUNK = 1000  # rows per executemany; SQLAlchemy splits it further to fit parameter caps


class OutboxStatus(enum.StrEnum):
    """Where a row is on its way to the phone."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"
    HELD = "held"


class OutboxError(Exception):
    """A push that cannot be queued as given."""


class MessengerUnavailable(Exception):
    """The messenger cannot start at all (no token, token refused); the worker should stop."""


# --- what a Messenger may raise ----------------------------------------------------------------


class SendError(Exception):
    """A message the messenger could not deliver."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryAfter(SendError):
    """The messenger asks us to wait before sending anything more (Telegram's 429)."""

    def __init__(self, seconds: float, reason: str = "") -> None:
        super().__init__(reason or f"flood control: retry after {seconds} s")
        self.seconds = float(seconds)


class Unreachable(SendError):
    """The recipient cannot be reached any more (bot blocked, chat gone)."""


class TransientSendError(SendError):
    """A failure that may go away by itself (network, server error)."""


class PermanentSendError(SendError):
    """A message that will never be accepted as it is (bad HTML, too long)."""


class Messenger(Protocol):
    """Sends one message to one chat; the Telegram adapter lives in bot/messenger.py."""

    async def send(
        self,
        *,
        chat_id: int,
        text: str,
        parse_mode: str | None,
        buttons: list[list[dict[str, str]]] | None,
    ) -> int:
        """Sends a message and returns its message id, or raises a SendError subclass."""
        ...


# --- model -------------------------------------------------------------------------------------


class OutboxMessage(Base):
    """One push to one officer's phone."""

    __tablename__ = "outbox"
    __table_args__ = (
        # Claiming asks "status = pending AND urgent = ? AND not_before <= now ORDER BY not_before":
        # equality on the first two columns, then the index is already in claim order (not_before, id).
        Index("ix_outbox_claim", "status", "urgent", "not_before", "id"),
        # Finding rows of crashed workers: "status = sending AND lease_expires_at <= now".
        Index("ix_outbox_lease", "status", "lease_expires_at"),
        # Releasing held rows and listing an officer's pushes; also serves the foreign key.
        Index("ix_outbox_officer_status", "officer_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()


# --- enqueue -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxItem:
    """One push to queue with :func:`enqueue_many`."""

    officer_id: int
    text: str
    kind: str
    dedupe_key: str
    buttons: list[list[dict[str, str]]] | None = None
    not_before: datetime | None = None
    urgent: bool = False
    parse_mode: str | None = "HTML"


_TAG = re.compile(r"<[^>]*>")


def visible_length(text: str, parse_mode: str | None) -> int:
    """Counts the characters Telegram will count: HTML tags and entities are parsed first."""
    if parse_mode and parse_mode.upper() == "HTML":
        return len(html.unescape(_TAG.sub("", text)))
    return len(text)


def check_buttons(buttons: list[list[dict[str, str]]] | None) -> list[list[dict[str, str]]] | None:
    """Checks an inline keyboard's shape and returns it as plain lists of dicts."""
    if not buttons:
        return None
    rows: list[list[dict[str, str]]] = []
    for row in buttons:
        if not isinstance(row, list | tuple) or not row:
            raise OutboxError("each keyboard row must be a non-empty list of buttons")
        checked: list[dict[str, str]] = []
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str) or not button["text"]:
                raise OutboxError("each button needs a non-empty 'text'")
            targets = [key for key in ("callback_data", "url") if key in button]
            if len(targets) != 1:
                raise OutboxError("each button needs exactly one of 'callback_data' or 'url'")
            target = targets[0]
            value = button[target]
            if not isinstance(value, str) or not value:
                raise OutboxError(f"button {target} must be a non-empty string")
            if target == "callback_data" and len(value.encode()) > MAX_CALLBACK_BYTES:
                raise OutboxError(f"callback_data is longer than {MAX_CALLBACK_BYTES} bytes: {value!r}")
            checked.append({"text": button["text"], target: value})
        rows.append(checked)
    return rows


def _row_values(item: OutboxItem, now: datetime) -> dict[str, Any]:
    if not item.text or not item.text.strip():
        raise OutboxError("message text is empty")
    if visible_length(item.text, item.parse_mode) > MAX_TEXT_LENGTH:
        raise OutboxError(f"message text is longer than Telegram's {MAX_TEXT_LENGTH} characters")
    if not item.dedupe_key or len(item.dedupe_key) > 255:
        raise OutboxError("dedupe_key must have 1 to 255 characters")
    if not item.kind or len(item.kind) > 32:
        raise OutboxError("kind must have 1 to 32 characters")
    if item.not_before is not None and item.not_before.tzinfo is None:
        raise OutboxError("not_before must be timezone-aware")
    payload: dict[str, Any] = {"text": item.text, "parse_mode": item.parse_mode}
    buttons = check_buttons(item.buttons)
    if buttons:
        payload["buttons"] = buttons
    return {
        "officer_id": item.officer_id,
        "kind": item.kind,
        "payload": payload,
        "dedupe_key": item.dedupe_key,
        "urgent": item.urgent,
        "not_before": item.not_before or now,
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "created_at": now,
    }


def _insert_for(session: AsyncSession) -> Any:
    """Picks the dialect's INSERT, the one that knows ON CONFLICT DO NOTHING."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise OutboxError(f"the outbox needs PostgreSQL or SQLite, not {dialect}")


async def enqueue(
    *,
    session: AsyncSession,
    officer_id: int,
    text: str,
    kind: str,
    dedupe_key: str,
    buttons: list[list[dict[str, str]]] | None = None,
    not_before: datetime | None = None,
    urgent: bool = False,
    parse_mode: str | None = "HTML",
) -> OutboxMessage | None:
    """Queues a push to an officer; returns None, writing nothing, if the dedupe key exists."""
    item = OutboxItem(
        officer_id=officer_id,
        text=text,
        kind=kind,
        dedupe_key=dedupe_key,
        buttons=buttons,
        not_before=not_before,
        urgent=urgent,
        parse_mode=parse_mode,
    )
    insert = _insert_for(session)
    stmt = (
        insert(OutboxMessage)
        .values(**_row_values(item, utcnow()))
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage)
    )
    row: OutboxMessage | None = (await session.scalars(stmt)).one_or_none()
    return row


async def enqueue_many(*, session: AsyncSession, items: Iterable[OutboxItem]) -> int:
    """Queues many pushes at once, skipping known dedupe keys; returns how many were new."""
    now = utcnow()
    seen: set[str] = set()
    values: list[dict[str, Any]] = []
    for item in items:
        if item.dedupe_key in seen:
            continue
        seen.add(item.dedupe_key)
        values.append(_row_values(item, now))
    if not values:
        return 0
    insert = _insert_for(session)
    table = OutboxMessage.__table__
    # A Core executemany compiles once and lets SQLAlchemy batch the VALUES ("insertmanyvalues"):
    # about 15 times faster here than ORM rows or one freshly compiled multi-row VALUES per chunk.
    stmt = insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)
    added = 0
    for start in range(0, len(values), ENQUEUE_CHUNK):
        added += len((await session.execute(stmt, values[start : start + ENQUEUE_CHUNK])).all())
    return added


# --- reading and repairing ---------------------------------------------------------------------


async def status_counts(*, session: AsyncSession) -> dict[tuple[str, str], int]:
    """Counts rows by (status, kind)."""
    rows = await session.execute(
        select(OutboxMessage.status, OutboxMessage.kind, func.count())
        .group_by(OutboxMessage.status, OutboxMessage.kind)
        .order_by(OutboxMessage.status, OutboxMessage.kind)
    )
    return {(status, kind): int(count) for status, kind, count in rows.all()}


async def list_by_status(
    *, session: AsyncSession, status: OutboxStatus, limit: int = 100
) -> Sequence[OutboxMessage]:
    """Lists the newest rows in a status."""
    rows = await session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == status.value).order_by(OutboxMessage.id.desc()).limit(limit)
    )
    return rows.all()


async def list_dead(*, session: AsyncSession, limit: int = 100) -> Sequence[OutboxMessage]:
    """Lists the newest dead rows."""
    return await list_by_status(session=session, status=OutboxStatus.DEAD, limit=limit)


async def list_held(*, session: AsyncSession, limit: int = 100) -> Sequence[OutboxMessage]:
    """Lists the newest held rows."""
    return await list_by_status(session=session, status=OutboxStatus.HELD, limit=limit)


async def retry_dead(
    *,
    session: AsyncSession,
    ids: Sequence[int] | None = None,
    all_dead: bool = False,
    actor: str = audit.CLI_ACTOR,
) -> int:
    """Puts dead rows back in the queue with a fresh attempt count; returns how many."""
    if not all_dead and not ids:
        raise OutboxError("name the rows to retry, or ask for all dead rows")
    stmt = (
        update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.DEAD.value)
        .values(
            status=OutboxStatus.PENDING.value,
            attempts=0,
            not_before=utcnow(),
            lease_owner=None,
            lease_expires_at=None,
        )
        .returning(OutboxMessage.id)
    )
    if not all_dead and ids:
        stmt = stmt.where(OutboxMessage.id.in_(list(ids)))
    retried = sorted(
        (await session.execute(stmt, execution_options={"synchronize_session": False})).scalars()
    )
    if retried:
        await audit.record(
            session=session,
            actor=actor,
            action="outbox.retry_dead",
            target_type="outbox",
            target_id=retried[0] if len(retried) == 1 else None,
            detail={"count": len(retried), "ids": retried[:100]},
        )
    return len(retried)


def _deliverable() -> ColumnElement[bool]:
    return Officer.telegram_user_id.is_not(None) & Officer.active.is_(True) & Officer.reachable.is_(True)


async def release_held(
    *, session: AsyncSession, officer_id: int | None = None, actor: str = audit.SYSTEM_ACTOR
) -> int:
    """Queues again the held rows of officers who can now be reached; returns how many."""
    reachable = select(Officer.id).where(_deliverable())
    if officer_id is not None:
        reachable = reachable.where(Officer.id == officer_id)
    stmt = (
        update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.HELD.value, OutboxMessage.officer_id.in_(reachable))
        .values(status=OutboxStatus.PENDING.value, last_error=None)
        .returning(OutboxMessage.id)
    )
    released = sorted(
        (await session.execute(stmt, execution_options={"synchronize_session": False})).scalars()
    )
    if released:
        await audit.record(
            session=session,
            actor=actor,
            action="outbox.released",
            target_type="outbox",
            officer_id=officer_id,
            detail={"count": len(released), "ids": released[:100]},
        )
    return len(released)


# --- claiming ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A row this worker holds the lease on."""

    id: int
    officer_id: int
    kind: str
    payload: dict[str, Any]
    urgent: bool
    attempts: int
    dedupe_key: str
    not_before: datetime
    lease_owner: str

    @property
    def text(self) -> str:
        """Returns the message text."""
        return str(self.payload.get("text", ""))

    @property
    def parse_mode(self) -> str | None:
        """Returns the parse mode (None for plain text)."""
        value = self.payload.get("parse_mode")
        return str(value) if value else None

    @property
    def buttons(self) -> list[list[dict[str, str]]] | None:
        """Returns the inline keyboard, if any."""
        value = self.payload.get("buttons")
        return value if value else None


async def claim_due(
    *,
    session: AsyncSession,
    lease_owner: str,
    limit: int,
    lease_seconds: float,
    now: datetime | None = None,
) -> list[Claimed]:
    """Claims up to `limit` due rows under a lease: expired leases first, then urgent, then the rest."""
    now = now or utcnow()
    expires = now + timedelta(seconds=lease_seconds)
    on_postgres = session.get_bind().dialect.name == "postgresql"
    m = OutboxMessage
    passes: list[tuple[ColumnElement[bool], tuple[Any, ...]]] = [
        ((m.status == OutboxStatus.SENDING.value) & (m.lease_expires_at <= now), (m.lease_expires_at, m.id)),
        (
            (m.status == OutboxStatus.PENDING.value) & (m.urgent == true()) & (m.not_before <= now),
            (m.not_before, m.id),
        ),
        (
            (m.status == OutboxStatus.PENDING.value) & (m.urgent == false()) & (m.not_before <= now),
            (m.not_before, m.id),
        ),
    ]
    claimed: list[Claimed] = []
    for condition, order in passes:
        remaining = limit - len(claimed)
        if remaining <= 0:
            break
        due = select(m.id).where(condition).order_by(*order).limit(remaining)
        if on_postgres:
            # A MATERIALIZED CTE runs the locking select exactly once. Inside "id IN (...)" the
            # planner may re-run it per row, and with SKIP LOCKED each run finds fresh rows, so
            # one claim could take far more than its limit.
            locked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
            target: ColumnElement[bool] = m.id == locked.c.id
        else:
            # SQLite runs the whole UPDATE under its single writer lock, sub-select included.
            target = m.id.in_(due)
        stmt = (
            update(m)
            .where(target, condition)
            .values(status=OutboxStatus.SENDING.value, lease_owner=lease_owner, lease_expires_at=expires)
            .returning(
                m.id, m.officer_id, m.kind, m.payload, m.urgent, m.attempts, m.dedupe_key, m.not_before
            )
        )
        result = await session.execute(stmt, execution_options={"synchronize_session": False})
        claimed.extend(
            Claimed(
                id=r.id,
                officer_id=r.officer_id,
                kind=r.kind,
                payload=r.payload,
                urgent=r.urgent,
                attempts=r.attempts,
                dedupe_key=r.dedupe_key,
                not_before=r.not_before,
                lease_owner=lease_owner,
            )
            for r in result.all()
        )
    claimed.sort(key=lambda c: (not c.urgent, c.not_before, c.id))
    return claimed


# --- quiet hours -------------------------------------------------------------------------------


def parse_window(text: str) -> tuple[dtime, dtime]:
    """Parses "HH:MM-HH:MM" into start and end times."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text or "")
    if not match:
        raise ValueError(f"quiet hours must look like 22:00-07:00, not {text!r}")
    sh, sm, eh, em = (int(g) for g in match.groups())
    if sh > 23 or eh > 23 or sm > 59 or em > 59:
        raise ValueError(f"quiet hours must look like 22:00-07:00, not {text!r}")
    return dtime(sh, sm), dtime(eh, em)


def quiet_until(now: datetime, window: str, tz: ZoneInfo) -> datetime | None:
    """Returns when a quiet window that `now` falls in ends (aware UTC), or None outside it."""
    start, end = parse_window(window)
    if start == end:
        return None  # "00:00-00:00" switches quiet hours off
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    today = local.date()
    if start < end:
        if not start <= t < end:
            return None
        end_day = today
    else:  # the window crosses midnight, e.g. 22:00-07:00
        if end <= t < start:
            return None
        end_day = today if t < end else today + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=tz).astimezone(now.tzinfo or tz)


# --- pacing ------------------------------------------------------------------------------------


class Pacer:
    """Keeps sends under a global rate and one message per chat per interval, and backs off on 429."""

    MIN_FACTOR = 0.25

    def __init__(self, rate_per_second: float, per_chat_interval: float = 1.1) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate_per_second
        self.per_chat_interval = per_chat_interval
        self.factor = 1.0
        self._next_global = 0.0
        self._paused_until = 0.0
        self._chat_next: dict[int, float] = {}

    @property
    def interval(self) -> float:
        """Returns the current gap between two sends, slowed down after 429s."""
        return 1.0 / (self.rate * self.factor)

    def delay(self, chat_id: int, now: float | None = None) -> float:
        """Returns how long a send to this chat must wait from now."""
        now = time.monotonic() if now is None else now
        ready = max(self._next_global, self._paused_until, self._chat_next.get(chat_id, 0.0))
        return max(0.0, ready - now)

    def global_delay(self, now: float | None = None) -> float:
        """Returns how long any send must wait from now."""
        now = time.monotonic() if now is None else now
        return max(0.0, max(self._next_global, self._paused_until) - now)

    def take(self, chat_id: int, now: float | None = None) -> None:
        """Records a send to a chat happening now."""
        now = time.monotonic() if now is None else now
        # Letting the schedule lag one interval absorbs sleep overshoot and the short pause
        # between two batches, which would otherwise shave a little off the rate; the price is
        # at most one message of catch-up, so never more than rate + 1 in any second.
        slack = self.interval
        self._next_global = max(self._next_global, now - slack) + self.interval
        self._chat_next[chat_id] = now + self.per_chat_interval
        if len(self._chat_next) > 50_000:
            self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}

    async def acquire(self, chat_id: int, deadline: float) -> bool:
        """Waits for a send slot to this chat; False (nothing taken) if it would come after the deadline."""
        while True:
            now = time.monotonic()
            wait = self.delay(chat_id, now)
            if now + wait > deadline:
                return False
            if wait <= 0:
                self.take(chat_id, now)
                return True
            await asyncio.sleep(wait)

    def retry_after(self, chat_id: int, seconds: float) -> None:
        """Pauses everything for the time Telegram asked, and slows the pace afterwards."""
        now = time.monotonic()
        self._paused_until = max(self._paused_until, now + seconds)
        self._chat_next[chat_id] = max(self._chat_next.get(chat_id, 0.0), now + seconds)
        self.factor = max(self.MIN_FACTOR, self.factor * 0.8)

    def succeeded(self) -> None:
        """Lets the pace creep back up after a successful send."""
        if self.factor < 1.0:
            self.factor = min(1.0, self.factor + 0.01)


# --- delivery ----------------------------------------------------------------------------------


@dataclass
class DeliveryOptions:
    """How the delivery loop works; the defaults suit Telegram."""

    batch_size: int = 50
    lease_seconds: float = 60.0
    max_attempts: int = 8
    backoff_base_seconds: float = 15.0
    backoff_cap_seconds: float = 1800.0
    # Telegram asks for about one message per second per chat; the margin absorbs network jitter.
    per_chat_interval: float = 1.1
    max_pacing_wait: float = 2.0
    send_timeout: float = 20.0
    concurrency: int = 8
    idle_seconds: float = 0.5
    held_sweep_seconds: float = 30.0
    max_retry_after_in_place: float = 10.0

    def __post_init__(self) -> None:
        # A send must be able to time out well inside its lease (see the module docstring).
        self.send_timeout = min(self.send_timeout, self.lease_seconds / 3)


@dataclass
class DeliveryReport:
    """What one or more delivery rounds did."""

    claimed: int = 0
    sent: int = 0
    held: int = 0
    deferred: int = 0
    retried: int = 0
    released: int = 0
    dead: int = 0
    unreachable: int = 0
    lost_leases: int = 0
    unheld: int = 0
    errors: list[str] = field(default_factory=list)


def backoff_seconds(attempts: int, options: DeliveryOptions) -> float:
    """Returns the wait before the next try after `attempts` failed ones (with jitter)."""
    base = min(options.backoff_cap_seconds, options.backoff_base_seconds * 2 ** max(0, attempts - 1))
    return float(base * random.uniform(0.9, 1.1))  # jitter keeps a fleet of failed rows from retrying in step


@dataclass(frozen=True)
class _Recipient:
    chat_id: int | None
    active: bool
    reachable: bool
    unit_id: int


class Deliverer:
    """Claims, paces, sends and records; one per worker process."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        messenger: Messenger,
        settings: Settings,
        worker_id: str,
        options: DeliveryOptions | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.sessions = sessions
        self.messenger = messenger
        self.settings = settings
        self.worker_id = worker_id
        self.options = options or DeliveryOptions()
        self.pacer = pacer or Pacer(settings.send_rate_per_second, self.options.per_chat_interval)
        self.report = DeliveryReport()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(self.options.concurrency)
        self._units: dict[int, tuple[int | None, str | None]] = {}
        self._units_loaded = -1e9
        self.stop = asyncio.Event()
        bind = sessions.kw.get("bind")
        if not isinstance(bind, AsyncEngine):
            raise TypeError("the session factory must be bound to an AsyncEngine")
        self._engine: AsyncEngine = bind
        self._on_postgres = bind.dialect.name == "postgresql"
        # One connection shared by every session (SQLite in memory, in tests): transactions must
        # not overlap on it, so sends go one at a time and nothing gets a connection of its own.
        self._shared_connection = isinstance(bind.pool, StaticPool)
        if self._shared_connection:
            self._slots = asyncio.Semaphore(1)
        self._mark_conn: AsyncConnection | None = None
        self._mark_lock = asyncio.Lock()

    # -- one round --

    async def run_batch(self) -> int:
        """Claims one batch and starts sending it; returns how many rows were claimed."""
        opts = self.options
        token = f"{self.worker_id}/{secrets.token_hex(4)}"
        started = time.monotonic()
        async with transaction(self.sessions) as session:
            rows = await claim_due(
                session=session, lease_owner=token, limit=opts.batch_size, lease_seconds=opts.lease_seconds
            )
        if not rows:
            return 0
        self.report.claimed += len(rows)
        # A send started after this point might still be in the air when the lease ends.
        deadline = started + opts.lease_seconds - opts.send_timeout - 1.0
        to_send = await self._sort_out(rows)
        await self._dispatch(to_send, deadline)
        if self._shared_connection:
            await self.drain()
        return len(rows)

    async def drain(self, grace: float | None = None) -> None:
        """Waits for the sends in flight to finish and be recorded."""
        if not self._tasks:
            return
        limit = grace if grace is not None else self.options.send_timeout + 10
        _done, pending = await asyncio.wait(set(self._tasks), timeout=limit)
        for task in pending:
            task.cancel()

    async def sweep_held(self) -> int:
        """Queues again held rows whose officers can now be reached."""
        async with transaction(self.sessions) as session:
            released = await release_held(session=session)
        self.report.unheld += released
        return released

    # -- deciding per row --

    async def _load_units(
        self, session: AsyncSession, needed: set[int]
    ) -> dict[int, tuple[int | None, str | None]]:
        # Units change rarely; a minute-old copy is fine unless a unit is missing from it.
        if time.monotonic() - self._units_loaded > 60 or not needed <= self._units.keys():
            rows = await session.execute(select(Unit.id, Unit.parent_id, Unit.quiet_hours))
            self._units = {r.id: (r.parent_id, r.quiet_hours) for r in rows.all()}
            self._units_loaded = time.monotonic()
        return self._units

    def _window_for(self, unit_id: int, units: dict[int, tuple[int | None, str | None]]) -> str:
        """Returns the quiet hours of a unit: its own, else the nearest ancestor's, else the default."""
        seen: set[int] = set()
        current: int | None = unit_id
        while current is not None and current in units and current not in seen:
            seen.add(current)
            parent, window = units[current]
            if window:
                try:
                    parse_window(window)
                except ValueError:
                    log.warning("unit %s has unusable quiet hours %r; using the default", current, window)
                else:
                    return window
            current = parent
        return self.settings.quiet_hours

    async def _sort_out(self, rows: list[Claimed]) -> list[tuple[Claimed, int]]:
        """Holds rows nobody can receive, defers quiet-hour rows, and returns the rest with chat ids."""
        now = utcnow()
        to_send: list[tuple[Claimed, int]] = []
        async with transaction(self.sessions) as session:
            ids = sorted({r.officer_id for r in rows})
            found = await session.execute(
                select(
                    Officer.id, Officer.telegram_user_id, Officer.active, Officer.reachable, Officer.unit_id
                ).where(Officer.id.in_(ids))
            )
            recipients = {
                r.id: _Recipient(
                    chat_id=r.telegram_user_id, active=r.active, reachable=r.reachable, unit_id=r.unit_id
                )
                for r in found.all()
            }
            units = await self._load_units(session, {r.unit_id for r in recipients.values()})
            for row in rows:
                who = recipients.get(row.officer_id)
                reason = None
                if who is None:
                    reason = "officer not found"
                elif not who.active:
                    reason = "officer is deactivated"
                elif who.chat_id is None:
                    reason = "officer has not enrolled on Telegram yet"
                elif not who.reachable:
                    reason = "officer cannot be reached on Telegram (blocked the bot?)"
                if reason is not None:
                    await self._hold(session, row, reason)
                    continue
                assert who is not None and who.chat_id is not None  # every None case was held just above
                if not row.urgent:
                    ends = quiet_until(now, self._window_for(who.unit_id, units), self.settings.tz)
                    if ends is not None:
                        if await self._set(session, row, status=OutboxStatus.PENDING, not_before=ends):
                            self.report.deferred += 1
                        continue
                to_send.append((row, who.chat_id))
        return to_send

    async def _hold(self, session: AsyncSession, row: Claimed, reason: str) -> None:
        if await self._set(session, row, status=OutboxStatus.HELD, last_error=reason):
            self.report.held += 1
            await audit.record(
                session=session,
                actor=audit.SYSTEM_ACTOR,
                action="outbox.held",
                target_type="outbox",
                target_id=row.id,
                officer_id=row.officer_id,
                detail={"reason": reason, "kind": row.kind},
            )

    async def _set(self, session: AsyncSession, row: Claimed, *, status: OutboxStatus, **values: Any) -> bool:
        """Changes a row this worker still holds the lease on; False if the lease was lost."""
        done = await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.lease_owner == row.lease_owner)
            .values(status=status.value, lease_owner=None, lease_expires_at=None, **values)
            .returning(OutboxMessage.id),
            execution_options={"synchronize_session": False},
        )
        if done.first() is None:
            self.report.lost_leases += 1
            log.warning(
                "outbox row %s: lease %s lost before it could be set %s", row.id, row.lease_owner, status
            )
            return False
        return True

    # -- sending --

    @staticmethod
    def _in_rounds(rows: list[tuple[Claimed, int]]) -> list[tuple[Claimed, int]]:
        """Orders rows so that each chat's second message comes after every chat's first, and so on."""
        seen: dict[int, int] = {}
        ranked = []
        for index, (row, chat) in enumerate(rows):
            rank = seen.get(chat, 0)
            seen[chat] = rank + 1
            ranked.append((rank, index, row, chat))
        ranked.sort(key=lambda r: (r[0], r[1]))
        return [(row, chat) for _rank, _index, row, chat in ranked]

    async def _dispatch(self, rows: list[tuple[Claimed, int]], deadline: float) -> None:
        opts = self.options
        later: list[tuple[Claimed, datetime]] = []
        backlog: dict[int, float] = {}
        for row, chat in self._in_rounds(rows):
            now = time.monotonic()
            if self.stop.is_set():
                later.append((row, utcnow()))
                continue
            wait = self.pacer.delay(chat, now)
            if wait > opts.max_pacing_wait or now + wait > deadline:
                # Give the row back rather than sit on it, so the rest of the batch is not held up;
                # a chat's given-back rows are spread one interval apart so they come due in turn.
                free_at = max(now + wait, backlog.get(chat, -1e9) + opts.per_chat_interval)
                backlog[chat] = free_at
                later.append((row, utcnow() + timedelta(seconds=free_at - now)))
                continue
            if not await self.pacer.acquire(chat, deadline):
                later.append((row, utcnow() + timedelta(seconds=self.pacer.delay(chat))))
                continue
            await self._slots.acquire()
            task = asyncio.create_task(self._send(row, chat, deadline + opts.send_timeout))
            self._tasks.add(task)
            task.add_done_callback(self._finished)
        if later:
            await self._release(later)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("outbox send task failed", exc_info=task.exception())

    async def _send(self, row: Claimed, chat: int, must_end: float) -> None:
        retries_left = 3
        while True:
            timeout = max(0.5, min(self.options.send_timeout, must_end - time.monotonic()))
            try:
                message_id = await asyncio.wait_for(
                    self.messenger.send(
                        chat_id=chat, text=row.text, parse_mode=row.parse_mode, buttons=row.buttons
                    ),
                    timeout,
                )
            except RetryAfter as exc:
                self.pacer.retry_after(chat, exc.seconds)
                retries_left -= 1
                resume = time.monotonic() + exc.seconds
                if (
                    retries_left > 0
                    and exc.seconds <= self.options.max_retry_after_in_place
                    and await self.pacer.acquire(chat, must_end - self.options.send_timeout)
                ):
                    continue
                await self._release(
                    [(row, utcnow() + timedelta(seconds=max(0.0, resume - time.monotonic())))]
                )
                return
            except Unreachable as exc:
                await self._unreachable(row, exc.reason)
                return
            except PermanentSendError as exc:
                await self._failed(row, exc.reason, permanent=True)
                return
            except TransientSendError as exc:
                await self._failed(row, exc.reason, permanent=False)
                return
            except TimeoutError:
                await self._failed(row, f"no answer within {timeout:.0f} s", permanent=False)
                return
            except Exception as exc:  # an adapter bug must not stop the loop; the row is retried
                log.exception("outbox row %s: unexpected error from the messenger", row.id)
                await self._failed(row, f"{type(exc).__name__}: {exc}", permanent=False)
                return
            else:
                self.pacer.succeeded()
                await self._sent(row, message_id)
                return

    async def _write(self, what: str, row_id: int, work: Callable[[AsyncSession], Awaitable[None]]) -> None:
        """Runs a short transaction, retrying a few times if the database hiccups."""
        for attempt in range(5):
            try:
                async with transaction(self.sessions) as session:
                    await work(session)
                return
            except SQLAlchemyError as exc:
                if attempt == 4:
                    self.report.errors.append(f"row {row_id}: could not record {what}: {exc}")
                    log.error("outbox row %s: could not record %s: %s", row_id, what, exc)
                    return
                await asyncio.sleep(0.2 * 2**attempt)

    async def _mark_connection(self) -> AsyncConnection:
        """Returns the connection kept open for 'sent' marks, opening it if needed."""
        if self._mark_conn is None:
            conn = await self._engine.connect()
            if self._on_postgres:
                # Not waiting for the WAL flush shortens the window. A worker crash cannot lose
                # these commits (the server has them); a server crash could, and then the row
                # comes back and is sent again: a duplicate, never a loss.
                await conn.execute(text("SET synchronous_commit TO OFF"))
                await conn.commit()
            self._mark_conn = conn
        return self._mark_conn

    async def close(self) -> None:
        """Closes the connection kept for 'sent' marks."""
        if self._mark_conn is not None:
            conn, self._mark_conn = self._mark_conn, None
            # Invalidated, not returned to the pool: its session setting must not leak to others.
            with contextlib.suppress(SQLAlchemyError):
                await conn.invalidate()
            await conn.close()

    async def _sent(self, row: Claimed, message_id: int) -> None:
        # The time from Telegram's answer to this commit is the duplicate window (module docstring),
        # so this path is a single Core UPDATE on a bare connection: no ORM session, no RETURNING.
        table = cast(Table, OutboxMessage.__table__)  # declared tables are Tables; the stub says FromClause
        stmt = (
            update(table)
            .where(table.c.id == row.id, table.c.lease_owner == row.lease_owner)
            .values(
                status=OutboxStatus.SENT.value,
                telegram_message_id=message_id,
                sent_at=utcnow(),
                attempts=row.attempts + 1,
                last_error=None,
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        if self._shared_connection:
            await self._sent_in_session(row, message_id)
            return
        done = 0
        for attempt in range(5):
            try:
                async with self._mark_lock:
                    conn = await self._mark_connection()
                    try:
                        done = (await conn.execute(stmt)).rowcount
                        await conn.commit()
                    except SQLAlchemyError:
                        self._mark_conn = None
                        with contextlib.suppress(SQLAlchemyError):
                            await conn.invalidate()
                        raise
                break
            except SQLAlchemyError as exc:
                if attempt == 4:
                    self.report.errors.append(f"row {row.id}: could not record sent: {exc}")
                    log.error("outbox row %s: could not record sent: %s", row.id, exc)
                    return
                await asyncio.sleep(0.2 * 2**attempt)
        if done:
            self.report.sent += 1
        else:
            self.report.lost_leases += 1
            log.warning(
                "outbox row %s: lease %s lost before it could be marked sent", row.id, row.lease_owner
            )

    async def _sent_in_session(self, row: Claimed, message_id: int) -> None:
        async def work(session: AsyncSession) -> None:
            if await self._set(
                session,
                row,
                status=OutboxStatus.SENT,
                telegram_message_id=message_id,
                sent_at=utcnow(),
                attempts=row.attempts + 1,
                last_error=None,
            ):
                self.report.sent += 1

        await self._write("sent", row.id, work)

    async def _failed(self, row: Claimed, reason: str, *, permanent: bool) -> None:
        attempts = row.attempts + 1
        dead = permanent or attempts >= self.options.max_attempts

        async def work(session: AsyncSession) -> None:
            if dead:
                if await self._set(
                    session, row, status=OutboxStatus.DEAD, attempts=attempts, last_error=reason
                ):
                    self.report.dead += 1
                    await audit.record(
                        session=session,
                        actor=audit.SYSTEM_ACTOR,
                        action="outbox.dead",
                        target_type="outbox",
                        target_id=row.id,
                        officer_id=row.officer_id,
                        detail={"reason": reason, "attempts": attempts, "kind": row.kind},
                    )
            else:
                retry_at = utcnow() + timedelta(seconds=backoff_seconds(attempts, self.options))
                if await self._set(
                    session,
                    row,
                    status=OutboxStatus.PENDING,
                    attempts=attempts,
                    last_error=reason,
                    not_before=retry_at,
                ):
                    self.report.retried += 1

        log.warning(
            "outbox row %s attempt %s failed (%s): %s", row.id, attempts, "dead" if dead else "retry", reason
        )
        await self._write("failure", row.id, work)

    async def _unreachable(self, row: Claimed, reason: str) -> None:
        async def work(session: AsyncSession) -> None:
            if not await self._set(
                session,
                row,
                status=OutboxStatus.DEAD,
                attempts=row.attempts + 1,
                last_error=f"unreachable: {reason}",
            ):
                return
            self.report.dead += 1
            self.report.unreachable += 1
            await audit.record(
                session=session,
                actor=audit.SYSTEM_ACTOR,
                action="outbox.dead",
                target_type="outbox",
                target_id=row.id,
                officer_id=row.officer_id,
                detail={"reason": f"unreachable: {reason}"},
            )
            officer = await identity.get_officer_by_id(session=session, officer_id=row.officer_id)
            if officer is None:
                return
            if officer.reachable:
                await identity.mark_unreachable(session=session, officer=officer, reason=reason)
            for supervisor in await identity.supervisors_of(session=session, officer=officer):
                _ = gettext_for(supervisor.language)
                text = _(
                    "⚠️ Frontline could not deliver a message to {name} (badge {badge}, {unit}): {reason}. "
                    "Their pushes are on hold. Please ask them to unblock the bot, then issue them a new "
                    "enrollment code to resume delivery."
                ).format(
                    name=html.escape(officer.name),
                    badge=html.escape(officer.badge),
                    unit=html.escape(officer.unit.name),
                    reason=html.escape(reason),
                )
                await enqueue(
                    session=session,
                    officer_id=supervisor.id,
                    text=text,
                    kind="notice",
                    dedupe_key=f"outbox.unreachable:{row.id}:{supervisor.id}",
                )

        log.warning("outbox row %s: officer %s unreachable: %s", row.id, row.officer_id, reason)
        await self._write("unreachable", row.id, work)

    async def _release(self, rows: list[tuple[Claimed, datetime]]) -> None:
        async def work(session: AsyncSession) -> None:
            for row, not_before in rows:
                if await self._set(session, row, status=OutboxStatus.PENDING, not_before=not_before):
                    self.report.released += 1

        await self._write("release", rows[0][0].id, work)


async def deliver_once(
    *,
    sessions: async_sessionmaker[AsyncSession],
    messenger: Messenger,
    settings: Settings,
    worker_id: str = "once",
    options: DeliveryOptions | None = None,
    pacer: Pacer | None = None,
) -> DeliveryReport:
    """Claims one batch, sends it and waits until every outcome is recorded."""
    deliverer = Deliverer(
        sessions=sessions,
        messenger=messenger,
        settings=settings,
        worker_id=worker_id,
        options=options,
        pacer=pacer,
    )
    try:
        await deliverer.run_batch()
        await deliverer.drain()
    finally:
        await deliverer.close()
    return deliverer.report


async def run_delivery_loop(
    *,
    sessions: async_sessionmaker[AsyncSession],
    messenger: Messenger,
    settings: Settings,
    stop: asyncio.Event,
    worker_id: str,
    batch_size: int = 50,
    lease_seconds: float = 60.0,
    options: DeliveryOptions | None = None,
    pacer: Pacer | None = None,
    on_round: Callable[[], None] | None = None,
) -> DeliveryReport:
    """Delivers due rows until `stop` is set, then finishes the sends in flight.

    `on_round` is called after every round that reached the database (a liveness signal).
    """
    options = options or DeliveryOptions(batch_size=batch_size, lease_seconds=lease_seconds)
    deliverer = Deliverer(
        sessions=sessions,
        messenger=messenger,
        settings=settings,
        worker_id=worker_id,
        options=options,
        pacer=pacer,
    )
    deliverer.stop = stop
    last_sweep = -1e9
    try:
        while not stop.is_set():
            claimed = 0
            try:
                if time.monotonic() - last_sweep >= options.held_sweep_seconds:
                    last_sweep = time.monotonic()
                    await deliverer.sweep_held()
                claimed = await deliverer.run_batch()
                if on_round is not None:
                    on_round()
            except (SQLAlchemyError, OSError) as exc:
                # The database went away for a moment: keep the worker alive and try again.
                log.error("outbox: database error, retrying in 5 s: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 5)
                continue
            if claimed == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), options.idle_seconds)
    finally:
        await deliverer.drain()
        await deliverer.close()
    return deliverer.report
