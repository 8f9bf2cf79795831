"""``frontline outbox ...`` and the worker runtime: look into the queue and run the delivery loop.

The ``frontline worker`` command itself is wired in ``cli.py``, which supplies the messenger
(the Telegram adapter lives in ``bot/``, which the core may not import)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import heartbeat, outbox
from core.cli_support import cli_errors, fail, run_in_session
from core.db import make_engine, make_sessionmaker
from core.outbox import DeliveryOptions, Messenger, OutboxError
from core.settings import Settings, load_settings

log = logging.getLogger(__name__)

outbox_app = typer.Typer(help="The outbox of pushes to officers' phones.", no_args_is_help=True)

Job = Callable[[asyncio.Event], Awaitable[None]]
MessengerFactory = Callable[[Settings], AbstractAsyncContextManager[Messenger]]


@contextlib.asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(settings.effective_database_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


@outbox_app.command("status")
@cli_errors()
def status(
    limit: Annotated[int, typer.Option(help="How many dead and held rows to list.")] = 20,
) -> None:
    """Shows counts by status and kind, and the dead and held rows with their reasons."""

    async def work(
        session: AsyncSession,
    ) -> tuple[dict[tuple[str, str], int], Sequence[outbox.OutboxMessage], Sequence[outbox.OutboxMessage]]:
        counts = await outbox.status_counts(session=session)
        dead = await outbox.list_dead(session=session, limit=limit)
        held = await outbox.list_held(session=session, limit=limit)
        return counts, dead, held

    counts, dead, held = run_in_session(load_settings(), work, commit=False)
    if not counts:
        typer.echo("The outbox is empty.")
        return
    totals: dict[str, int] = {}
    for (state, _kind), count in counts.items():
        totals[state] = totals.get(state, 0) + count
    typer.echo("status   kind          count")
    for (state, kind), count in counts.items():
        typer.echo(f"{state:<8} {kind:<13} {count:>6}")
    typer.echo("total: " + ", ".join(f"{state} {count}" for state, count in sorted(totals.items())))
    for title, rows in (("dead", dead), ("held", held)):
        if rows:
            typer.echo(f"\n{title} rows (newest first):")
            for row in rows:
                typer.echo(
                    f"  #{row.id:<7} officer {row.officer_id:<6} {row.kind:<10} attempts {row.attempts}  "
                    f"{row.last_error or ''}"
                )


@outbox_app.command("retry-dead")
@cli_errors()
def retry_dead(
    ids: Annotated[list[int] | None, typer.Option("--id", help="A dead row to retry (repeatable).")] = None,
    all_dead: Annotated[bool, typer.Option("--all", help="Retry every dead row.")] = False,
) -> None:
    """Puts dead rows back in the queue with a fresh attempt count."""
    if not ids and not all_dead:
        raise fail("give --id N (repeatable) or --all", 2)
    try:
        count = run_in_session(
            load_settings(),
            lambda session: outbox.retry_dead(session=session, ids=list(ids or []), all_dead=all_dead),
        )
    except OutboxError as exc:
        raise fail(str(exc), 2) from None
    typer.echo(f"{count} dead row(s) queued again.")


async def run_worker(
    settings: Settings,
    *,
    extra_jobs: Sequence[Job] = (),
    messenger_factory: MessengerFactory,
    worker_id: str | None = None,
    options: DeliveryOptions | None = None,
    stop: asyncio.Event | None = None,
) -> outbox.DeliveryReport:
    """Runs the delivery loop (and any extra periodic jobs) until SIGINT or SIGTERM."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows / not main thread
            loop.add_signal_handler(sig, stop.set)
    worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
    async with _database(settings) as sessions, messenger_factory(settings) as messenger:
        jobs: list[asyncio.Future[None]] = [asyncio.ensure_future(job(stop)) for job in extra_jobs]
        try:
            return await outbox.run_delivery_loop(
                on_round=_throttled_beat(settings),
                sessions=sessions,
                messenger=messenger,
                settings=settings,
                stop=stop,
                worker_id=worker_id,
                options=options or DeliveryOptions(),
            )
        finally:
            stop.set()
            if jobs:
                _done, pending = await asyncio.wait(jobs, timeout=30)
                for job_task in pending:
                    job_task.cancel()
            # A stopped worker is not alive: `frontline health worker` must not pass on its last beat.
            heartbeat.heartbeat_path(settings.data_dir, "worker").unlink(missing_ok=True)


def _throttled_beat(settings: Settings, every: float = 10.0) -> Callable[[], None]:
    """Beats the worker heartbeat at most every few seconds, so `frontline health worker` sees
    a delivery loop that is actually going round, not just a process that is alive."""
    last = -every

    def beat() -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= every:
            last = now
            try:
                heartbeat.beat(settings.data_dir, "worker")
            except OSError as exc:
                log.warning("could not write the worker heartbeat: %s", exc)

    return beat
