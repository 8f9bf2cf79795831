"""Long polling that loses no update: each fetched batch goes to the inbox table before Telegram is told.

aiogram's own polling confirms an update to Telegram as soon as it is fetched, so a crash while
handling loses it. :class:`Poller` writes each fetched batch to the inbox table first and only then
confirms it (by the next getUpdates offset); an update is marked handled in the same transaction
as its handler's changes, and at start the inbox entries a crash left unhandled are handled first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.methods import GetUpdates
from aiogram.types import Update
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import storage
from bot.messenger import BadBotToken
from bot.middlewares import PROCESSED_CHECKED, chat_of
from core import audit

log = logging.getLogger(__name__)

# Starts that may find one update unfinished before it is given up (see Poller._recover).
MAX_RECOVERIES = 3


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
        max_in_flight: int = 10,
    ) -> None:
        self.bot = bot
        self.dp = dp
        self.sessions = sessions
        self.i18n = i18n
        self.polling_timeout = polling_timeout
        self.in_flight: dict[int, asyncio.Task[Any]] = {}
        # A burst (a broadcast's 已阅 presses) queues here, not in the database pool: an update
        # waiting for a connection beyond the pool's timeout would fail and be answered with an
        # apology, itself one more message against Telegram's limit.
        self._slots = asyncio.Semaphore(max_in_flight)
        self.finished: set[int] = set()
        self.next_offset: int | None = None
        self._stopping = asyncio.Event()
        self._poll: asyncio.Future[list[Update]] | None = None

    async def run(self) -> None:
        """Polls and handles updates until stop() or cancellation."""
        backoff = 1.0
        failure: BadBotToken | None = None
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
                except TelegramUnauthorizedError as exc:
                    # A revoked token never works again: finish what is in flight, then say so.
                    failure = BadBotToken(f"the Bot API refused FRONTLINE_BOT_TOKEN ({exc.message})")
                    log.error("%s; stopping", failure)
                    break
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
        if failure is not None:
            raise failure

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
            async with self._slots:
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
