"""The one wiring point of the Telegram bot: Bot, Dispatcher, storage, middlewares, routers, transports."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage
from aiogram.methods import GetUpdates, Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Update
from aiogram.utils.i18n import I18n
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import storage
from bot.command_menu import set_commands, set_role_commands
from bot.middlewares import (
    PROCESSED_CHECKED,
    DbSessionMiddleware,
    ErrorMiddleware,
    FloodControl,
    OfficerI18nMiddleware,
    OfficerMiddleware,
    chat_of,
)
from bot.routers import all_routers
from bot.services import FeedbackLike, KnowledgeBaseLike
from bot.storage import DatabaseStorage, prune_processed
from core import audit
from core import i18n as catalogues
from core.heap import settle_heap
from core.settings import Settings

log = logging.getLogger(__name__)

# Starts that may find one update unfinished before it is given up (see Poller._recover).
MAX_RECOVERIES = 3

CONSOLE_TOKEN = "1:console"  # aiogram checks the token's shape; the console never sends it anywhere
REDIS_PREFIX = "frontline:fsm"


def build_i18n(settings: Settings) -> I18n:
    """Compiles the catalogues if needed and loads them for aiogram."""
    catalogues.compile_catalogues()
    return I18n(
        path=catalogues.LOCALES_DIR, default_locale=settings.default_language, domain=catalogues.DOMAIN
    )


class BotApiSession(AiohttpSession):
    """aiogram's HTTP session, keeping the response models it has built alive.

    aiogram parses every answer with ``Response[<result type>]``, and pydantic caches those
    parametrised models only weakly: once the garbage collector frees one, the next request
    rebuilds its schema, about 10 ms of CPU on the event loop (seen ~40 times in 200 updates
    under load). Holding a reference per result type makes that a one-off.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._response_models: dict[Any, Any] = {}

    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        """Checks the answer as aiogram does, after pinning its response model."""
        returning = method.__returning__
        if returning not in self._response_models:
            self._response_models[returning] = Response[returning]  # type: ignore[valid-type]  # a runtime type, as in aiogram
        return super().check_response(bot, method, status_code, content)


def build_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    """Creates the Bot on the configured Bot API server, HTML parse mode by default."""
    if session is None:
        session = BotApiSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    return Bot(
        settings.bot_token_value or CONSOLE_TOKEN,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


@dataclass
class Frontline:
    """A built bot application: everything a transport (polling, webhook, console) needs."""

    settings: Settings
    bot: Bot
    dp: Dispatcher
    sessions: async_sessionmaker[AsyncSession]
    kb: KnowledgeBaseLike
    feedback: FeedbackLike
    i18n: I18n
    redis: Redis | None = None
    poller: Poller | None = field(default=None, repr=False)

    async def prepare(self) -> None:
        """Runs start-up chores; none of them may stop the bot."""
        try:
            async with self.sessions() as session, session.begin():
                await prune_processed(session=session)
        except Exception:
            log.exception("could not prune handled update ids; carrying on")
        await set_commands(self.bot, self.i18n)
        try:
            async with self.sessions() as session:
                await set_role_commands(self.bot, self.i18n, session=session)
        except Exception:
            log.exception("could not set the role commands; carrying on")
        settle_heap()

    async def close(self) -> None:
        """Releases the bot session, the FSM storage and Redis."""
        with contextlib.suppress(Exception):
            await self.dp.storage.close()
        with contextlib.suppress(Exception):
            await self.dp.fsm.events_isolation.close()
        await self.bot.session.close()
        if self.redis is not None:
            await self.redis.aclose()

    async def run_polling(self, *, polling_timeout: int = 30) -> None:
        """Long-polls Telegram until cancelled or stopped."""
        if self.poller is None:
            self.poller = Poller(self.bot, self.dp, self.sessions, self.i18n)
        self.poller.polling_timeout = polling_timeout
        try:
            await self.bot.delete_webhook(drop_pending_updates=False)
        except Exception:
            log.exception("deleteWebhook failed; polling anyway")
        await self.poller.run()

    async def run_webhook(self) -> None:
        """Serves the webhook until cancelled; each update is handled before Telegram gets its answer."""
        url = self.settings.webhook_url
        if not url:
            raise ValueError("FRONTLINE_WEBHOOK_URL is not set")
        secret = self.settings.webhook_secret.get_secret_value() if self.settings.webhook_secret else None
        app = web.Application()
        path = urlparse(url).path or "/webhook"
        # Not in the background: if the process dies mid-update, Telegram has no answer and sends it again.
        SimpleRequestHandler(
            dispatcher=self.dp, bot=self.bot, handle_in_background=False, secret_token=secret
        ).register(app, path=path)
        setup_application(app, self.dp, bot=self.bot)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.webhook_host, self.settings.webhook_port)
        await site.start()
        try:
            await self.bot.set_webhook(
                url, secret_token=secret, allowed_updates=self.dp.resolve_used_update_types()
            )
            log.info(
                "webhook listening on %s:%s%s", self.settings.webhook_host, self.settings.webhook_port, path
            )
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()


def build_dispatcher(
    settings: Settings,
    *,
    sessions: async_sessionmaker[AsyncSession],
    kb: KnowledgeBaseLike,
    feedback: FeedbackLike,
    i18n: I18n,
    redis: Redis | None = None,
    redis_prefix: str = REDIS_PREFIX,
) -> Dispatcher:
    """Builds the Dispatcher with its storage, services, middlewares and routers."""
    storage: BaseStorage
    isolation: BaseEventIsolation
    if redis is not None:
        keys = DefaultKeyBuilder(prefix=redis_prefix, with_bot_id=True)
        storage = RedisStorage(redis, key_builder=keys)
        isolation = RedisEventIsolation(redis, key_builder=keys)
    else:
        storage = DatabaseStorage(sessions)
        isolation = SimpleEventIsolation()
    # The FSM middleware is added by hand below, inside the update's session: the state is then
    # read on the update's connection instead of checking out a second one for every update.
    dp = Dispatcher(storage=storage, events_isolation=isolation, disable_fsm=True)
    dp["settings"] = settings
    dp["kb"] = kb
    dp["feedback"] = feedback
    dp.update.outer_middleware(ErrorMiddleware(i18n))
    dp.update.outer_middleware(DbSessionMiddleware(sessions))
    dp.update.outer_middleware(dp.fsm)
    dp.update.outer_middleware(OfficerMiddleware())
    dp.update.outer_middleware(OfficerI18nMiddleware(i18n))
    flood = FloodControl(settings.questions_per_minute, redis=redis, prefix=f"{redis_prefix}:flood")
    dp.include_routers(*all_routers(flood))
    return dp


def create_app(
    settings: Settings,
    *,
    sessions: async_sessionmaker[AsyncSession],
    kb: KnowledgeBaseLike,
    feedback: FeedbackLike,
    bot_session: BaseSession | None = None,
    redis: Redis | None = None,
    redis_prefix: str = REDIS_PREFIX,
) -> Frontline:
    """Builds the whole bot application; Redis from the settings when not given."""
    if redis is None and settings.redis_url:
        redis = Redis.from_url(settings.redis_url)
    i18n = build_i18n(settings)
    bot = build_bot(settings, bot_session)
    dp = build_dispatcher(
        settings,
        sessions=sessions,
        kb=kb,
        feedback=feedback,
        i18n=i18n,
        redis=redis,
        redis_prefix=redis_prefix,
    )
    app = Frontline(
        settings=settings, bot=bot, dp=dp, sessions=sessions, kb=kb, feedback=feedback, i18n=i18n, redis=redis
    )
    # Made up front so stop() works even before polling has started.
    app.poller = Poller(bot, dp, sessions, i18n)
    return app


class Poller:
    """Long polling that loses no update, even when the process dies in the middle of one.

    aiogram's own polling confirms an update to Telegram as soon as it is fetched, so a crash
    while handling loses it. Here each fetched batch is first written to the inbox table and
    only then confirmed (by the next getUpdates offset). An update is marked handled in the
    same transaction as its handler's changes; at start, inbox entries never marked handled
    (left by a crash) are handled before anything new.
    """

    def __init__(
        self,
        bot: Bot,
        dp: Dispatcher,
        sessions: async_sessionmaker[AsyncSession],
        i18n: I18n,
        *,
        polling_timeout: int = 30,
    ) -> None:
        self.bot = bot
        self.dp = dp
        self.sessions = sessions
        self.i18n = i18n
        self.polling_timeout = polling_timeout
        self.in_flight: dict[int, asyncio.Task[Any]] = {}
        self.finished: set[int] = set()
        self.next_offset: int | None = None
        self._stopping = asyncio.Event()
        self._poll: asyncio.Future[list[Update]] | None = None

    async def run(self) -> None:
        """Polls and handles updates until stop() or cancellation."""
        backoff = 1.0
        try:
            await self._recover()
            while not self._stopping.is_set():
                self._poll = asyncio.ensure_future(
                    self.bot(
                        GetUpdates(offset=self.next_offset, timeout=self.polling_timeout, limit=100),
                        request_timeout=int(self.bot.session.timeout + self.polling_timeout),
                    )
                )
                try:
                    updates = await self._poll
                    fresh = [
                        u
                        for u in updates
                        if u.update_id not in self.in_flight and u.update_id not in self.finished
                    ]
                    handled: set[int] = set()
                    if fresh:
                        handled = await self._write_down(fresh)
                except asyncio.CancelledError:
                    if self._stopping.is_set():
                        break
                    raise
                except Exception as exc:
                    # Nothing was confirmed: the same updates come again on the next try.
                    log.error(
                        "getUpdates failed (%s: %s); retrying in %.0f s", type(exc).__name__, exc, backoff
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                backoff = 1.0
                if updates:
                    self.next_offset = max(update.update_id for update in updates) + 1
                    self.finished = {
                        update_id for update_id in self.finished if update_id >= self.next_offset
                    }
                for update in fresh:
                    if update.update_id in handled:
                        # Handled by a run that died before confirming it: Telegram sent it again.
                        log.info("update %s was already handled; skipping the repeat", update.update_id)
                        self.finished.add(update.update_id)
                    else:
                        self._start(update)
        except asyncio.CancelledError:
            # Not a graceful stop: abandon the updates in flight. Their transactions roll back and
            # they stay in the inbox, so the next start handles them.
            for task in self.in_flight.values():
                task.cancel()
            await asyncio.gather(*self.in_flight.values(), return_exceptions=True)
            raise
        await self._drain()

    async def _recover(self) -> None:
        """Starts the inbox updates a previous run fetched but never finished.

        Each start that finds an update unfinished counts it, before handling it: an update
        that takes the whole process down with it (not an error in a handler, which is
        answered with an apology) would otherwise be retried at every start, for ever.
        After MAX_RECOVERIES starts it is given up: marked handled, audited, and its sender
        asked to send it again.
        """
        async with self.sessions() as session, session.begin():
            rows = await storage.unhandled_inbox(session=session, bot_id=self.bot.id)
            for row in rows:
                row.recoveries += 1
            left = [(row.update_id, row.recoveries, row.payload) for row in rows]
        for update_id, recoveries, payload in left:
            update = Update.model_validate(payload, context={"bot": self.bot})
            if recoveries > MAX_RECOVERIES:
                await self._give_up(update, recoveries)
                continue
            log.warning("handling update %s left unhandled by the previous run (start %d)", update_id, recoveries)
            self._start(update)

    async def _give_up(self, update: Update, runs: int) -> None:
        """Marks an update that ``runs`` runs in a row never finished as handled, audits it, tells its sender."""
        log.error("update %s was left unfinished by %d runs in a row; giving up on it", update.update_id, runs)
        async with self.sessions() as session, session.begin():
            await storage.mark_processed(session=session, bot_id=self.bot.id, update_id=update.update_id)
            await audit.record(
                session=session,
                actor=audit.SYSTEM_ACTOR,
                action="bot.update_abandoned",
                target_type="telegram_update",
                target_id=update.update_id,
                detail={"runs": runs},
            )
        chat_id = chat_of(update)
        if chat_id is None:
            return
        try:
            text = self.i18n.gettext(
                "Sorry, your last message could not be processed. Please send it again.",
                locale=self.i18n.default_locale,
            )
            await self.bot.send_message(chat_id, text)
        except Exception:
            log.exception("could not tell chat %s that update %s was given up", chat_id, update.update_id)

    async def _write_down(self, updates: list[Update]) -> set[int]:
        """Writes fetched updates to the inbox before Telegram is told they arrived; returns those already handled."""
        payloads = [(u.update_id, u.model_dump(mode="json", exclude_none=True)) for u in updates]
        async with self.sessions() as session, session.begin():
            # One query for the whole batch, so each update's own transaction need not ask again.
            handled = await storage.processed_among(
                session=session, bot_id=self.bot.id, update_ids=[u.update_id for u in updates]
            )
            await storage.add_to_inbox(session=session, bot_id=self.bot.id, updates=payloads)
        return handled

    def _start(self, update: Update) -> None:
        self.in_flight[update.update_id] = asyncio.create_task(self._handle(update))

    async def _handle(self, update: Update) -> None:
        try:
            # The inbox write (or the recovery query) already found it unhandled.
            await self.dp.feed_update(self.bot, update, **{PROCESSED_CHECKED: True})
        except Exception:
            log.exception("update %s failed outside the handlers", update.update_id)
        finally:
            self.in_flight.pop(update.update_id, None)
            self.finished.add(update.update_id)

    async def _drain(self) -> None:
        if self.in_flight:
            await asyncio.gather(*self.in_flight.values(), return_exceptions=True)
        # Confirm the last batch, so the next start does not fetch it again.
        if self.next_offset is not None:
            with contextlib.suppress(Exception):
                await self.bot(GetUpdates(offset=self.next_offset, timeout=0, limit=1))

    def stop(self) -> None:
        """Asks the loop to finish after the updates in flight."""
        self._stopping.set()
        if self._poll is not None and not self._poll.done():
            self._poll.cancel()
