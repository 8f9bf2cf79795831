"""Per-update plumbing: errors, database session, officer lookup, language, access, flood control."""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.filters import Filter
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.fsm.storage.base import BaseEventIsolation
from aiogram.types import CallbackQuery, Message, TelegramObject, Update, User
from aiogram.utils.i18n import I18n, I18nMiddleware
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import joinedload

from bot import storage
from core import identity
from core.identity import Officer, Role

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

# Passed to feed_update by the poller when it has already checked, for the whole fetched batch at
# once, that the update was never handled: the update's own transaction then skips that query.
PROCESSED_CHECKED = "frontline_processed_checked"


def new_incident_id() -> str:
    """Makes a short id an officer can quote to support."""
    return secrets.token_hex(4)


def chat_of(update: Update) -> int | None:
    """Returns the chat an update came from, if any."""
    if update.message is not None:
        return update.message.chat.id
    if update.callback_query is not None:
        message = update.callback_query.message
        if message is not None:
            return message.chat.id
        return update.callback_query.from_user.id
    return None


class ErrorMiddleware(BaseMiddleware):
    """Turns any handler failure into a short apology with an incident id, logged with the traceback."""

    def __init__(self, i18n: I18n) -> None:
        self.i18n = i18n

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        """Runs the update, apologising if it fails."""
        try:
            return await handler(event, data)
        except Exception:
            incident = new_incident_id()
            update_id = event.update_id if isinstance(event, Update) else None
            log.exception("incident %s: update %s failed", incident, update_id)
            chat_id = chat_of(event) if isinstance(event, Update) else None
            if chat_id is not None:
                # Not the officer object: after the rollback its attributes can no longer be loaded.
                locale = data.get("officer_language") or self.i18n.default_locale
                text = self.i18n.gettext(
                    "Sorry, something went wrong. Please try again. Incident id: {incident}", locale=locale
                ).format(incident=incident)
                try:
                    await data["bot"].send_message(chat_id, text)
                except Exception:
                    log.exception("incident %s: could not send the apology", incident)
            return None


class EventIsolationMiddleware(BaseMiddleware):
    """Handles one update of a chat at a time, from before its session opens until after its commit.

    aiogram's FSM middleware holds the chat's lock only around the handler, and it runs inside the
    update's session: the lock would be released before the commit, so a second tap arriving in
    that moment would read the conversation state from before the first one and overwrite it.
    """

    def __init__(self, fsm: FSMContextMiddleware, isolation: BaseEventIsolation) -> None:
        self.fsm = fsm
        self.isolation = isolation

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        """Runs the update under its chat's lock (updates with no chat run at once)."""
        context = self.fsm.resolve_event_context(data["bot"], data)
        if context is None:
            return await handler(event, data)
        async with self.isolation.lock(key=context.key):
            return await handler(event, data)


class DbSessionMiddleware(BaseMiddleware):
    """Opens one session per update and owns its commit; skips updates already handled."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        """Runs the update in a session, committing after the handler or rolling back on error."""
        bot_id = data["bot"].id
        update_id = event.update_id if isinstance(event, Update) else None
        async with self.sessions() as session:
            if (
                update_id is not None
                and not data.get(PROCESSED_CHECKED)
                and await storage.already_processed(session=session, bot_id=bot_id, update_id=update_id)
            ):
                log.info("update %s was already handled; skipping the repeat", update_id)
                return UNHANDLED
            data["session"] = session
            user: User | None = data.get("event_from_user")
            if user is not None and data.get("console_badge") is None:
                storage.read_officer_with_state(session, user.id)
            token = storage.current_session.set(session)
            try:
                result = await handler(event, data)
            except Exception:
                await session.rollback()
                if update_id is not None:
                    # A failed update is answered with an apology; it must not be replayed after a restart.
                    async with self.sessions() as marker, marker.begin():
                        await storage.mark_processed(session=marker, bot_id=bot_id, update_id=update_id)
                raise
            finally:
                storage.current_session.reset(token)
            if update_id is not None:
                await storage.mark_processed(session=session, bot_id=bot_id, update_id=update_id)
            await session.commit()
            return result


async def officer_by_telegram(*, session: AsyncSession, telegram_user_id: int) -> Officer | None:
    """Gets the officer bound to a Telegram account, with unit and roles, in one query."""
    # identity.get_by_telegram loads unit and roles with two more queries; on every update that
    # is three round trips to the database where one does.
    result = await session.execute(
        select(Officer)
        .options(joinedload(Officer.unit), joinedload(Officer.role_rows))
        .where(Officer.telegram_user_id == telegram_user_id)
    )
    return result.unique().scalar_one_or_none()


class OfficerMiddleware(BaseMiddleware):
    """Looks up the officer bound to the Telegram account: `account` (any) and `officer` (active only)."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        """Puts the account and the active officer in the handler data."""
        user: User | None = data.get("event_from_user")
        account: Officer | None = None
        console_badge: str | None = data.get("console_badge")
        session: AsyncSession = data["session"]
        if console_badge is not None:
            account = await identity.get_officer(session=session, badge=console_badge)
        elif user is not None:
            read, account = storage.officer_read_with_state(session)
            if not read:
                account = await officer_by_telegram(session=session, telegram_user_id=user.id)
        data["account"] = account
        if account is not None:
            data["officer_language"] = account.language
        data["officer"] = account if account is not None and account.active else None
        # Nothing is written yet: end the read transaction so the connection goes back to the pool
        # while the handler thinks (a knowledge-base search, a network call). Objects stay loaded.
        await session.commit()
        return await handler(event, data)


class OfficerI18nMiddleware(I18nMiddleware):
    """Speaks each officer's language; unknown accounts get the default language."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        """Returns the officer's language."""
        account: Officer | None = data.get("account")
        if account is not None and account.language in self.i18n.available_locales:
            return account.language
        return self.i18n.default_locale


class Enrolled(Filter):
    """Passes only updates from an enrolled, active officer."""

    async def __call__(self, event: TelegramObject, officer: Officer | None = None) -> bool:
        """Tells whether an active officer sent the update."""
        return officer is not None


class NotEnrolled(Filter):
    """Passes only updates from accounts that are not an active officer."""

    async def __call__(self, event: TelegramObject, officer: Officer | None = None) -> bool:
        """Tells whether the sender is unknown or deactivated."""
        return officer is None


class HasRole(Filter):
    """Passes only officers holding one of the roles (admins hold all)."""

    def __init__(self, *roles: Role) -> None:
        self.roles = roles

    async def __call__(self, event: TelegramObject, officer: Officer | None = None) -> bool:
        """Tells whether the officer holds a role."""
        return officer is not None and officer.has_role(*self.roles)


class FloodControl:
    """Counts questions per officer in a sliding minute (Redis when shared, else in this process)."""

    def __init__(self, per_minute: int, redis: Redis | None = None, prefix: str = "frontline:flood") -> None:
        self.per_minute = per_minute
        self.redis = redis
        self.prefix = prefix
        self._local: dict[int, deque[float]] = {}

    async def allow(self, officer_id: int, now: float | None = None) -> bool:
        """Counts one question; tells whether it is within the limit."""
        now = time.time() if now is None else now
        if self.redis is not None:
            key = f"{self.prefix}:{officer_id}"
            member = f"{now:.6f}:{secrets.token_hex(3)}"
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(key, 0, now - 60)
                pipe.zcard(key)
                pipe.zadd(key, {member: now})
                pipe.expire(key, 61)
                _removed, count, _added, _expire = await pipe.execute()
            if int(count) >= self.per_minute:
                await self.redis.zrem(key, member)
                return False
            return True
        window = self._local.setdefault(officer_id, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self.per_minute:
            return False
        window.append(now)
        return True


class FloodMiddleware(BaseMiddleware):
    """Refuses questions beyond the per-minute limit with a polite message."""

    def __init__(self, flood: FloodControl) -> None:
        self.flood = flood

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        """Lets the question through or answers that the officer is asking too fast."""
        officer: Officer | None = data.get("officer")
        if officer is not None and not await self.flood.allow(officer.id):
            i18n: I18n = data["i18n"]
            text = i18n.gettext(
                "You are asking very fast. Please wait a minute and ask again "
                "(limit: {n} questions a minute)."
            ).format(n=self.flood.per_minute)
            if isinstance(event, Message):
                await event.answer(text)
            elif isinstance(event, CallbackQuery):
                await event.answer(text, show_alert=True)
            return None
        return await handler(event, data)
