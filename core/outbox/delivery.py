"""Delivery: claim, hold or defer, pace, send through the Messenger, record the outcome."""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import StaticPool

from core import audit, identity
from core.db import transaction, utcnow
from core.i18n import gettext_for
from core.identity import Officer, Unit
from core.outbox.admin import release_held
from core.outbox.claim import Claimed, claim_due
from core.outbox.enqueue import enqueue
from core.outbox.model import OutboxMessage, OutboxStatus
from core.outbox.pacing import Pacer
from core.outbox.protocol import Messenger, PermanentSendError, RetryAfter, TransientSendError, Unreachable
from core.outbox.quiet import parse_window, quiet_until
from core.settings import Settings

log = logging.getLogger(__name__)


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
        self._parents: dict[int, int | None] = {}  # unit id -> parent unit id
        self._windows: dict[int, str] = {}  # unit id -> its own quiet hours, where it has any
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

    async def _load_units(self, session: AsyncSession, needed: set[int]) -> None:
        # Units change rarely; a minute-old copy is fine unless a unit is missing from it.
        if time.monotonic() - self._units_loaded > 60 or not needed <= self._parents.keys():
            rows = (await session.execute(select(Unit.id, Unit.parent_id, Unit.quiet_hours))).all()
            self._parents = {r.id: r.parent_id for r in rows}
            self._windows = {r.id: r.quiet_hours for r in rows if r.quiet_hours}
            self._units_loaded = time.monotonic()

    def _window_for(self, unit_id: int) -> str:
        """Returns the quiet hours of a unit: its own, else the nearest ancestor's, else the default."""
        for current in identity.unit_chain_ids(self._parents, unit_id):
            window = self._windows.get(current)
            if window is None:
                continue
            try:
                parse_window(window)
            except ValueError:
                log.warning("unit %s has unusable quiet hours %r; using the default", current, window)
            else:
                return window
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
            await self._load_units(session, {r.unit_id for r in recipients.values()})
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
                    ends = quiet_until(now, self._window_for(who.unit_id), self.settings.tz)
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
                    self.messenger.send(chat_id=chat, message=row.outgoing),
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
