"""`frontline run` and `frontline chat`: start the bot (or a console demo) and talk to it from a terminal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from dateutil.relativedelta import relativedelta
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import Frontline, create_app
from bot.botapi import build_bot
from bot.console import Console, ConsoleSession, read_stdin
from bot.knowledge_process import KnowledgeBaseProcess, KnowledgeProcessError
from bot.messenger import BadBotToken, TelegramMessenger
from bot.services import KnowledgeBaseLike, default_feedback, open_knowledge_base
from broadcasts import service as broadcasts
from broadcasts.models import Broadcast
from core import audit, identity
from core.cli_support import fail, run_in_session
from core.db import make_engine, make_sessionmaker, transaction, utcnow
from core.heartbeat import heartbeat_loop
from core.holidays import load_calendar
from core.identity import IdentityError
from core.migrate import upgrade
from core.outbox import MessengerUnavailable, run_delivery_loop
from core.settings import Settings, load_settings_or_exit
from core.tabular import Row
from jobs import periodic_jobs
from reminders.cases import import_cases
from reminders.models import Case, Deadline
from reminders.service import mark_done
from tasks.giving import create_task
from tasks.models import Priority, Source, TaskSeries
from tasks.recurrence import Repeat
from tasks.spec import TaskSpec

log = logging.getLogger(__name__)

CONSOLE_USER_BASE = 9_000_000_000  # console accounts: far above the Telegram ids of the demo's real users
DEMO_UNIT = "演示派出所"
DEMO_OFFICER = ("DEMO001", "演示民警")
DEMO_LEGAL = ("DEMO002", "演示法制员")
DEMO_RIGHTS = ("DEMO003", "演示维权员")
DEMO_SUPERVISOR = ("DEMO004", "演示所领导")
# the demo's people: an officer, and one of each role the officer's requests reach
DEMO_PEOPLE = (
    (DEMO_OFFICER, ("officer",)),
    (DEMO_LEGAL, ("officer", "legal")),
    (DEMO_RIGHTS, ("officer", "rights")),
    (DEMO_SUPERVISOR, ("officer", "supervisor")),
)

BANNER = """\
Frontline demo — no Telegram bot token is configured, so this is the console chat.
You are officer DEMO001 (demo data). Type a legal question, e.g. 取保候审最长多久？
Press an inline button with #N; /attach PATH sends a file; /quit leaves. /as BADGE switches to
DEMO002 (legal brigade), DEMO003 (rights office) or DEMO004 (station supervisor).
DEMO001 has demo cases with deadlines coming up: 我的提醒 lists them, with their buttons;
a risk tip in 我的通知 and a task in 我的任务.
To run on Telegram: set FRONTLINE_BOT_TOKEN (from @BotFather) and run `frontline run` again.
"""
TOKEN_MISSING = (
    "FRONTLINE_BOT_TOKEN is not set, so the bot cannot start (without a token, `frontline run` opens "
    "the console demo, but only on the embedded database and from a terminal)"
)
HEARTBEAT_SECONDS = 30.0  # `frontline health bot` allows 120 s by default


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
        # Beats while the event loop turns, for `frontline health bot` (compose's health check).
        workers.append(
            asyncio.create_task(
                heartbeat_loop(settings.data_dir, "bot", stop, every=HEARTBEAT_SECONDS), name="heartbeat"
            )
        )
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


async def preflight(settings: Settings) -> None:
    """Checks what the bot cannot run without before anything heavy starts: the token and Redis."""
    bot = build_bot(settings)
    try:
        await check_token(bot)
    finally:
        await bot.session.close()
    if settings.redis_url:
        redis = Redis.from_url(settings.redis_url)
        try:
            await check_redis(redis)
        finally:
            await redis.aclose()


async def check_token(bot: Bot) -> None:
    """Asks the Bot API who the bot is: a refused token stops start-up, an unreachable API does not."""
    try:
        await bot.get_me()
    except TelegramUnauthorizedError as exc:
        raise BadBotToken(f"the Bot API refused FRONTLINE_BOT_TOKEN ({exc.message})") from exc
    except TelegramAPIError as exc:
        # Telegram being unreachable at start-up is no reason not to start: polling retries.
        log.warning("could not check the bot token at start-up: %s", exc)


async def check_redis(redis: Redis) -> None:
    """Pings Redis: every update's conversation state lives there when it is configured."""
    try:
        await redis.ping()
    except (RedisError, OSError) as exc:
        raise RedisUnavailable(f"cannot reach Redis ({exc}); is it running? (FRONTLINE_REDIS_URL)") from exc


class RedisUnavailable(ConnectionError):
    """Redis is configured but does not answer."""


def console_user_id(officer: identity.Officer) -> int:
    """Returns the Telegram id the console uses for an officer."""
    return officer.telegram_user_id or CONSOLE_USER_BASE + officer.id


def demo_case_rows(now: datetime) -> list[Row]:
    """The demo officer's cases, dated so that each has a deadline within the coming week."""
    day = now.date()

    def row(line: int, number: str, title: str, case_type: str, event: str, when: str) -> Row:
        values = {
            "case_number": number, "case_title": title, "case_type": case_type,
            "officer_badge": DEMO_OFFICER[0], "event": event, "event_date": when,
        }
        return Row(line=line, values=values)

    detained = day - timedelta(days=2)
    bailed = day + timedelta(days=6) - relativedelta(months=12)
    accepted = day - timedelta(days=27)
    return [
        row(2, "DEMO-001", "演示：孙某某涉嫌盗窃案", "criminal", "受案", f"{detained:%Y-%m-%d}"),
        row(3, "DEMO-001", "演示：孙某某涉嫌盗窃案", "criminal", "刑事拘留", f"{detained:%Y-%m-%d} 10:00"),
        row(4, "DEMO-002", "演示：周某某涉嫌诈骗案", "criminal", "取保候审", f"{bailed:%Y-%m-%d}"),
        row(5, "DEMO-003", "演示：李某某殴打他人案", "public_order", "行政案件受理", f"{accepted:%Y-%m-%d}"),
    ]


async def ensure_demo_cases(*, session: AsyncSession, settings: Settings) -> None:
    """Gives the demo officer demo cases (once), so reminders and their buttons can be tried."""
    if await session.scalar(select(Case.id).where(Case.case_number.like("DEMO-%")).limit(1)) is not None:
        return
    report = await import_cases(
        session=session, rows=demo_case_rows(datetime.now(settings.tz)), settings=settings, actor="demo"
    )
    if not report.ok:
        # The demo still works without them; say why instead of failing the whole demo.
        log.warning("demo cases not created: %s", "; ".join(str(e) for e in report.errors))
        return
    # The detention's first-day duties (送押, 通知家属, 讯问) were done on the day, as they would be;
    # what is left to try are the deadlines still running.
    officer = await identity.get_officer(session=session, badge=DEMO_OFFICER[0])
    first_day = await session.scalars(
        select(Deadline.id)
        .join(Case, Case.id == Deadline.case_id)
        .where(Case.case_number.like("DEMO-%"), Deadline.rule_id == "detention_first_day")
    )
    for deadline_id in first_day.all():
        assert officer is not None  # created just before the cases
        await mark_done(
            session=session, deadline_id=deadline_id, officer=officer, outcome="done",
            now=utcnow(), settings=settings,
        )


DEMO_TIP = (
    "【执法风险提示】冬季夜间巡逻盘查，请两人以上同行、全程开启执法记录仪；"
    "当场盘问、检查应当出示人民警察证，发现违法犯罪嫌疑需继续盘问的，依法办理审批（《人民警察法》第九条）。"
)
DEMO_TASK = "演示：整理本周执法记录仪视频并上传"


async def ensure_demo_notice_and_task(*, session: AsyncSession, settings: Settings) -> None:
    """Gives the demo a risk tip from the legal officer and a task from the supervisor (once each),
    so 我的通知 and 我的任务 have something in them and the desk has figures to show."""
    legal = await identity.get_officer(session=session, badge=DEMO_LEGAL[0])
    supervisor = await identity.get_officer(session=session, badge=DEMO_SUPERVISOR[0])
    if legal is None or supervisor is None:
        return
    if await session.scalar(select(Broadcast.id).where(Broadcast.sender_id == legal.id).limit(1)) is None:
        await broadcasts.create(
            session=session, sender=legal, text=DEMO_TIP, audience=f"unit:{DEMO_UNIT}", settings=settings
        )
    if await session.scalar(select(TaskSeries.id).where(TaskSeries.title == DEMO_TASK).limit(1)) is None:
        now = datetime.now(settings.tz)
        due = now.replace(hour=18, minute=0, second=0, microsecond=0)
        if due <= now:
            due += timedelta(days=1)
        spec = TaskSpec(
            title=DEMO_TASK, assignees=[DEMO_OFFICER[0]], due=due, repeat=Repeat.NONE,
            priority=Priority.NORMAL, source=Source.OTHER,
        )
        await create_task(
            session=session, spec=spec, settings=settings, calendar=load_calendar(settings),
            creator=supervisor, actor=supervisor.badge, now=utcnow(),
        )


async def ensure_demo_data(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """Creates the demo unit, its officers (enrolled to console accounts) and the demo officer's cases."""
    async with transaction(sessions) as session:
        if await identity.get_unit(session=session, name=DEMO_UNIT) is None:
            await identity.add_unit(session=session, name=DEMO_UNIT, actor="demo")
        for (badge, name), roles in DEMO_PEOPLE:
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
        await ensure_demo_cases(session=session, settings=settings)
        await ensure_demo_notice_and_task(session=session, settings=settings)


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
            await ensure_demo_data(sessions, settings)
        async with sessions() as session:
            officer = await identity.get_officer(session=session, badge=badge)
            if officer is None:
                output(f"frontline: no officer with badge {badge}")
                return 1
            user_id = console_user_id(officer)
        console_session = ConsoleSession(output, own_chat=user_id)
        # The console never talks to Telegram, whatever token is configured; the demo is tried
        # now, whatever the hour, so quiet hours do not hold its reminders back.
        update: dict[str, Any] = {"bot_token": None}
        if demo:
            update["quiet_hours"] = "00:00-00:00"
        app = create_app(
            settings.model_copy(update=update),
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


class KnowledgeUnavailable(RuntimeError):
    """The knowledge base cannot be opened (a Chroma server down, an unreadable index ...)."""


def _prepare(settings: Settings) -> KnowledgeBaseLike:
    """Upgrades the database and opens the knowledge base in this process."""
    upgrade(settings)
    return _open_knowledge_base(settings)


def _open_knowledge_base(settings: Settings) -> KnowledgeBaseLike:
    """Opens the knowledge base in this process, or says in one line why it cannot."""
    try:
        return open_knowledge_base(settings)
    except Exception as exc:  # any failure here leaves nothing to answer questions with
        log.debug("opening the knowledge base failed", exc_info=True)
        raise KnowledgeUnavailable(
            f"the knowledge base could not be opened: {type(exc).__name__}: {exc}"
        ) from exc


def _run_bot(settings: Settings) -> None:
    """Checks, prepares and serves the Telegram bot until it is stopped."""
    asyncio.run(preflight(settings))
    if not settings.knowledge_process:
        asyncio.run(serve(settings, _prepare(settings)))
        return
    upgrade(settings)
    process = KnowledgeBaseProcess(settings)
    try:
        asyncio.run(serve(settings, process))
    finally:
        process.close()


BesideDemo = Callable[[Settings, str], AbstractAsyncContextManager[None]]
"""Something to run beside the console demo (the desk), given the settings and the demo legal officer's badge."""


async def _demo(settings: Settings, kb: KnowledgeBaseLike, beside: BesideDemo | None) -> int:
    """Runs the console demo, with what the caller starts beside it once the demo officers exist."""
    if beside is None:
        return await chat_session(settings, DEMO_OFFICER[0], kb=kb, demo=True)
    engine = make_engine(settings.effective_database_url)
    try:
        await ensure_demo_data(make_sessionmaker(engine), settings)
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
        try:
            _run_bot(settings)
        except MessengerUnavailable as exc:  # a token the Bot API refuses, at start or later
            raise fail(str(exc), 2) from None
        except (RedisUnavailable, KnowledgeUnavailable, KnowledgeProcessError) as exc:
            raise fail(str(exc).splitlines()[0]) from None
        return
    # The demo seeds demo officers and cases: never into a configured database, never unattended
    # (under a restart policy a demo with no terminal would end and start again for ever).
    if settings.database_url is not None or not sys.stdin.isatty():
        raise fail(TOKEN_MISSING, 2)
    try:
        kb = _prepare(settings)
    except KnowledgeUnavailable as exc:
        raise fail(str(exc).splitlines()[0]) from None
    print(BANNER)
    raise typer.Exit(asyncio.run(_demo(settings, kb, beside_demo)))


def chat(
    badge: Annotated[str, typer.Option("--badge", help="Badge number of the officer to chat as.")],
) -> None:
    """Chats with the bot from this terminal as an officer (no Telegram needed)."""
    settings = load_settings_or_exit()
    logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s: %(message)s")
    upgrade(settings)
    # Before the knowledge base, which takes a while to open: a mistyped badge is told at once.
    if run_in_session(settings, lambda s: identity.get_officer(session=s, badge=badge), commit=False) is None:
        raise fail(f"no officer with badge {badge}")
    try:
        kb = _open_knowledge_base(settings)
    except KnowledgeUnavailable as exc:
        raise fail(str(exc).splitlines()[0]) from None
    try:
        code = asyncio.run(chat_session(settings, badge, kb=kb))
    except IdentityError as exc:
        typer.echo(f"frontline: {exc}", err=True)
        code = 1
    raise typer.Exit(code)
