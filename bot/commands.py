"""`frontline run` and `frontline chat`: start the bot (or a console demo) and talk to it from a terminal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import Frontline, create_app
from bot.console import Console, ConsoleSession, read_stdin
from bot.messenger import TelegramMessenger
from bot.services import KnowledgeBaseLike, default_feedback, open_knowledge_base
from core import audit, identity
from core.db import make_engine, make_sessionmaker, transaction
from core.identity import IdentityError
from core.outbox import run_delivery_loop
from core.settings import Settings, load_settings_or_exit
from jobs import periodic_jobs

log = logging.getLogger(__name__)

CONSOLE_USER_BASE = 9_000_000_000  # console accounts: far above the Telegram ids of the demo's real users
DEMO_UNIT = "演示派出所"
DEMO_OFFICER = ("DEMO001", "演示民警")
DEMO_LEGAL = ("DEMO002", "演示法制员")

BANNER = """\
Frontline demo — no Telegram bot token is configured, so this is the console chat.
You are officer DEMO001 (demo data). Type a legal question, e.g. 取保候审最长多久？
Press an inline button with #N; /as DEMO002 switches to the demo legal officer; /quit leaves.
To run on Telegram: set FRONTLINE_BOT_TOKEN (from @BotFather) and run `frontline run` again.
"""


def _workers(app: Frontline, stop: asyncio.Event) -> list[asyncio.Task[Any]]:
    """Starts, in this process, the outbox delivery and every domain's periodic loop."""
    delivery = asyncio.create_task(
        run_delivery_loop(
            sessions=app.sessions,
            messenger=TelegramMessenger(app.bot),
            settings=app.settings,
            stop=stop,
            worker_id=f"bot-{socket.gethostname()}-{os.getpid()}",
        ),
        name="outbox",
    )
    periodic = [
        asyncio.create_task(job.run(stop), name=job.name)
        for job in periodic_jobs(app.settings, sessions=app.sessions, kb=app.kb)
    ]
    return [delivery, *periodic]


async def serve(settings: Settings, kb: KnowledgeBaseLike, *, stop: asyncio.Event | None = None) -> None:
    """Runs the Telegram bot (polling, or webhook when configured) with its workers until stopped."""
    stop = stop or asyncio.Event()
    engine = make_engine(settings.effective_database_url)
    app = create_app(settings, sessions=make_sessionmaker(engine), kb=kb, feedback=default_feedback())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await app.prepare()
        transport = asyncio.create_task(
            app.run_webhook() if settings.webhook_url else app.run_polling(), name="transport"
        )
        workers = _workers(app, stop)
        waiter = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait([transport, waiter], return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Stopping: polling finishes the updates in flight, the workers their sends in flight.
            stop.set()
            if app.poller is not None:
                app.poller.stop()
            if settings.webhook_url:
                transport.cancel()
            await asyncio.gather(transport, waiter, *workers, return_exceptions=True)
        if not transport.cancelled() and transport.exception() is not None:
            raise transport.exception()  # type: ignore[misc]  # a transport that died is an error to report
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        await app.close()
        await engine.dispose()


def console_user_id(officer: identity.Officer) -> int:
    """Returns the Telegram id the console uses for an officer."""
    return officer.telegram_user_id or CONSOLE_USER_BASE + officer.id


async def ensure_demo_data(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Creates the demo unit, a demo officer and a demo legal officer, enrolled to console accounts."""
    async with transaction(sessions) as session:
        if await identity.get_unit(session=session, name=DEMO_UNIT) is None:
            await identity.add_unit(session=session, name=DEMO_UNIT, actor="demo")
        for (badge, name), roles in ((DEMO_OFFICER, ("officer",)), (DEMO_LEGAL, ("officer", "legal"))):
            officer = await identity.get_officer(session=session, badge=badge)
            if officer is None:
                officer = await identity.add_officer(
                    session=session, badge=badge, name=name, unit=DEMO_UNIT, roles=roles, actor="demo"
                )
            if officer.telegram_user_id is None:
                officer.telegram_user_id = CONSOLE_USER_BASE + officer.id
                officer.enrolled_at = officer.created_at
                await audit.record(
                    session=session,
                    actor="demo",
                    action="enroll.console",
                    target_type="officer",
                    target_id=badge,
                    officer_id=officer.id,
                )


async def chat_session(
    settings: Settings,
    badge: str,
    *,
    kb: KnowledgeBaseLike,
    read_line: Callable[[], Awaitable[str]] = read_stdin,
    output: Callable[[str], None] = print,
    demo: bool = False,
    feedback: Any | None = None,
) -> int:
    """Runs the console chat as one officer; returns the exit code."""
    engine = make_engine(settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    try:
        if demo:
            await ensure_demo_data(sessions)
        async with sessions() as session:
            officer = await identity.get_officer(session=session, badge=badge)
            if officer is None:
                output(f"frontline: no officer with badge {badge}")
                return 1
            user_id = console_user_id(officer)
        console_session = ConsoleSession(output, own_chat=user_id)
        # The console never talks to Telegram, whatever token is configured.
        app = create_app(
            settings.model_copy(update={"bot_token": None}),
            sessions=sessions,
            kb=kb,
            feedback=feedback if feedback is not None else default_feedback(),
            bot_session=console_session,
        )
        stop = asyncio.Event()
        workers = _workers(app, stop)
        console = Console(app, console_session, badge=badge, user_id=user_id)

        async def read_or_switch() -> str:
            while True:
                line = await read_line()
                if not line.strip().startswith("/as "):
                    return line
                other_badge = line.strip()[4:].strip()
                async with sessions() as session:
                    other = await identity.get_officer(session=session, badge=other_badge)
                if other is None:
                    output(f"(no officer with badge {other_badge})")
                    continue
                console.badge, console.user_id = other.badge, console_user_id(other)
                console_session.own_chat = console.user_id
                output(f"(you are now {other.name}, {other.badge})")

        try:
            await console.handle("/start")
            await console.run(read_or_switch)
        finally:
            stop.set()
            await asyncio.gather(*workers, return_exceptions=True)
            await app.close()
        return 0
    finally:
        await engine.dispose()


def _prepare(settings: Settings, *, own_process: bool = False) -> KnowledgeBaseLike:
    """Upgrades the database and opens the knowledge base (in a process of its own if asked)."""
    from core.migrate import upgrade

    upgrade(settings)
    if own_process:
        from bot.knowledge_process import KnowledgeBaseProcess

        return KnowledgeBaseProcess(settings)
    return open_knowledge_base(settings)


BesideDemo = Callable[[Settings, str], AbstractAsyncContextManager[None]]
"""Something to run beside the console demo (the desk), given the settings and the demo legal officer's badge."""


async def _demo(settings: Settings, kb: KnowledgeBaseLike, beside: BesideDemo | None) -> int:
    """Runs the console demo, with what the caller starts beside it once the demo officers exist."""
    if beside is None:
        return await chat_session(settings, DEMO_OFFICER[0], kb=kb, demo=True)
    engine = make_engine(settings.effective_database_url)
    try:
        await ensure_demo_data(make_sessionmaker(engine))
    finally:
        await engine.dispose()
    async with beside(settings, DEMO_LEGAL[0]):
        return await chat_session(settings, DEMO_OFFICER[0], kb=kb, demo=True)


def run(*, beside_demo: BesideDemo | None = None) -> None:
    """Starts Frontline: the Telegram bot and its workers, or a console demo when no bot token is set."""
    settings = load_settings_or_exit()
    logging.basicConfig(
        level=settings.log_level if settings.bot_token_value else "WARNING",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if settings.bot_token_value:
        kb = _prepare(settings, own_process=settings.knowledge_process)
        try:
            asyncio.run(serve(settings, kb))
        finally:
            close = getattr(kb, "close", None)
            if close is not None:
                close()
        return
    kb = _prepare(settings)
    print(BANNER)
    raise typer.Exit(asyncio.run(_demo(settings, kb, beside_demo)))


def chat(
    badge: Annotated[str, typer.Option("--badge", help="Badge number of the officer to chat as.")],
) -> None:
    """Chats with the bot from this terminal as an officer (no Telegram needed)."""
    settings = load_settings_or_exit()
    logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s: %(message)s")
    kb = _prepare(settings)
    try:
        code = asyncio.run(chat_session(settings, badge, kb=kb))
    except IdentityError as exc:
        typer.echo(f"frontline: {exc}", err=True)
        code = 1
    raise typer.Exit(code)
