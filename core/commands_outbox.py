"""``frontline outbox ...`` and ``frontline worker``: look into the queue and run the delivery loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import heartbeat, outbox
from core.db import make_engine, make_sessionmaker, transaction
from core.outbox import DeliveryOptions, Messenger, MessengerUnavailable, OutboxError
from core.settings import Settings, load_settings_or_exit

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


async def _status(settings: Settings, dead_limit: int) -> None:
    async with _database(settings) as sessions, sessions() as session:
        counts = await outbox.status_counts(session=session)
        dead = await outbox.list_dead(session=session, limit=dead_limit)
        held = await outbox.list_held(session=session, limit=dead_limit)
    if not counts:
        typer.echo("The outbox is empty.")
        return
    totals: dict[str, int] = {}
    for (status, _kind), count in counts.items():
        totals[status] = totals.get(status, 0) + count
    typer.echo("status   kind          count")
    for (status, kind), count in counts.items():
        typer.echo(f"{status:<8} {kind:<13} {count:>6}")
    typer.echo("total: " + ", ".join(f"{status} {count}" for status, count in sorted(totals.items())))
    for title, rows in (("dead", dead), ("held", held)):
        if rows:
            typer.echo(f"\n{title} rows (newest first):")
            for row in rows:
                typer.echo(
                    f"  #{row.id:<7} officer {row.officer_id:<6} {row.kind:<10} attempts {row.attempts}  "
                    f"{row.last_error or ''}"
                )


@outbox_app.command("status")
def status(
    limit: Annotated[int, typer.Option(help="How many dead and held rows to list.")] = 20,
) -> None:
    """Shows counts by status and kind, and the dead and held rows with their reasons."""
    asyncio.run(_status(load_settings_or_exit(), limit))


async def _retry(settings: Settings, ids: Sequence[int], all_dead: bool) -> int:
    async with _database(settings) as sessions, transaction(sessions) as session:
        return await outbox.retry_dead(session=session, ids=list(ids), all_dead=all_dead)


@outbox_app.command("retry-dead")
def retry_dead(
    ids: Annotated[list[int] | None, typer.Option("--id", help="A dead row to retry (repeatable).")] = None,
    all_dead: Annotated[bool, typer.Option("--all", help="Retry every dead row.")] = False,
) -> None:
    """Puts dead rows back in the queue with a fresh attempt count."""
    if not ids and not all_dead:
        typer.echo("frontline: give --id N (repeatable) or --all", err=True)
        raise typer.Exit(2)
    try:
        count = asyncio.run(_retry(load_settings_or_exit(), ids or [], all_dead))
    except OutboxError as exc:
        typer.echo(f"frontline: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{count} dead row(s) queued again.")


async def run_worker(
    settings: Settings,
    *,
    extra_jobs: Sequence[Job] = (),
    messenger_factory: MessengerFactory | None = None,
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
    factory = messenger_factory or _telegram_factory()
    worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
    async with _database(settings) as sessions, factory(settings) as messenger:
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


def _telegram_factory() -> MessengerFactory:
    """Finds the Telegram adapter at run time.

    The core may not import the bot package (an import-linter contract keeps domains free of
    aiogram), so the adapter is looked up by name here, only when a worker actually starts; the
    CLI can equally pass ``messenger_factory`` in and skip this.
    """
    import importlib

    module = importlib.import_module("bot.messenger")
    factory: MessengerFactory = module.telegram_messenger
    return factory


def worker(
    worker_id: Annotated[str | None, typer.Option(help="Name in leases and logs; default host:pid.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows claimed per round.")] = 50,
    lease_seconds: Annotated[float, typer.Option(min=5, help="How long a claimed row stays ours.")] = 60.0,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Sends in flight at once; 1 bounds a crash to one duplicate.")
    ] = 32,
) -> None:
    """Delivers queued pushes to Telegram until stopped (Ctrl-C or SIGTERM)."""
    settings = load_settings_or_exit()
    if not settings.bot_token_value:
        print(
            "frontline: FRONTLINE_BOT_TOKEN is not set; the worker has nothing to send with", file=sys.stderr
        )
        raise SystemExit(2)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = DeliveryOptions(batch_size=batch_size, lease_seconds=lease_seconds, concurrency=concurrency)
    try:
        report = asyncio.run(run_worker(settings, worker_id=worker_id, options=options))
    except MessengerUnavailable as exc:
        print(f"frontline: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    log.info("worker stopped: %s sent, %s dead, %s held", report.sent, report.dead, report.held)
