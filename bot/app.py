"""The one wiring point of the Telegram bot: the application, its Dispatcher, storage and services.

:func:`create_app` builds a :class:`Frontline`: the Bot (``bot.botapi``), the Dispatcher with
its FSM storage (the database, or Redis when configured), the middlewares that give each
update its database session, officer and language, and every router. The transports run it:
long polling through the inbox (``bot.polling``), a webhook, or the console
(``bot.console``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from urllib.parse import urlparse

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import DisabledEventIsolation, SimpleEventIsolation
from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage
from aiogram.utils.i18n import I18n
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.botapi import CONSOLE_TOKEN, BotApiSession, build_bot
from bot.command_menu import set_commands, set_role_commands
from bot.middlewares import (
    DbSessionMiddleware,
    ErrorMiddleware,
    EventIsolationMiddleware,
    FloodControl,
    OfficerI18nMiddleware,
    OfficerMiddleware,
)
from bot.polling import MAX_RECOVERIES, Poller
from bot.routers import all_routers
from bot.services import FeedbackLike, KnowledgeBaseLike
from bot.storage import DatabaseStorage, prune_processed
from core import i18n as catalogues
from core.heap import settle_heap
from core.settings import Settings

__all__ = [
    "CONSOLE_TOKEN",
    "MAX_RECOVERIES",
    "REDIS_PREFIX",
    "BotApiSession",
    "Frontline",
    "Poller",
    "build_bot",
    "build_dispatcher",
    "build_i18n",
    "create_app",
]

log = logging.getLogger(__name__)

REDIS_PREFIX = "frontline:fsm"


def build_i18n(settings: Settings) -> I18n:
    """Compiles the catalogues if needed and loads them for aiogram."""
    catalogues.compile_catalogues()
    return I18n(
        path=catalogues.LOCALES_DIR, default_locale=settings.default_language, domain=catalogues.DOMAIN
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
            await self.dp["events_isolation"].close()
        await self.bot.session.close()
        if self.redis is not None:
            await self.redis.aclose()

    async def run_polling(self, *, polling_timeout: int = 30) -> None:
        """Long-polls Telegram until cancelled or stopped."""
        if self.poller is None:
            self.poller = Poller(
                self.bot, self.dp, self.sessions, self.i18n, max_in_flight=self.settings.updates_in_flight
            )
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
    # read on the update's connection instead of checking out a second one for every update. The
    # chat's lock is taken outside the session instead (EventIsolationMiddleware), so that it is
    # held until the update's commit; the FSM middleware's own lock is then a no-op.
    dp = Dispatcher(storage=storage, events_isolation=DisabledEventIsolation(), disable_fsm=True)
    dp["settings"] = settings
    dp["kb"] = kb
    dp["feedback"] = feedback
    dp["events_isolation"] = isolation
    dp.update.outer_middleware(ErrorMiddleware(i18n))
    dp.update.outer_middleware(EventIsolationMiddleware(dp.fsm, isolation))
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
    app.poller = Poller(bot, dp, sessions, i18n, max_in_flight=settings.updates_in_flight)
    return app
