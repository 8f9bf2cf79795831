"""One update of a chat at a time, until its commit: quick taps never read a stale conversation."""

from __future__ import annotations

import asyncio
import datetime as dt

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from aiogram.types import CallbackQuery, Update, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import create_app
from bot.console import ConsoleSession
from bot.services import default_feedback
from core import identity
from core.db import make_engine, transaction
from core.migrate import upgrade_async
from core.settings import Settings
from tests.e2e.fakes import FakeKnowledgeBase

CHAT = 555


class SlowCommitSession(AsyncSession):
    """A session whose commit takes a while, as on a busy database: the window a race needs."""

    async def commit(self) -> None:
        await asyncio.sleep(0.05)
        await super().commit()


def _tap(update_id: int) -> Update:
    user = User(id=CHAT, is_bot=False, first_name="Tap")
    query = CallbackQuery(id=f"q{update_id}", from_user=user, chat_instance="ci", data="count")
    return Update(update_id=update_id, callback_query=query)


class TestEventIsolation:
    async def test_taps_in_quick_succession_each_see_the_one_before(self, settings: Settings) -> None:
        """Five taps at once on the database store: each reads the state the previous one committed."""
        await upgrade_async(settings)
        engine = make_engine(settings.effective_database_url)
        sessions = async_sessionmaker(engine, class_=SlowCommitSession, expire_on_commit=False)
        async with transaction(sessions) as session:
            await identity.add_unit(session=session, name="城关派出所")
            officer = await identity.add_officer(session=session, badge="1", name="甲", unit="城关派出所")
            officer.telegram_user_id = CHAT
            officer.enrolled_at = dt.datetime.now(dt.UTC)
        app = create_app(
            settings,
            sessions=sessions,
            kb=FakeKnowledgeBase(),
            feedback=default_feedback(),
            bot_session=ConsoleSession(lambda _line: None, own_chat=CHAT),
        )
        counter = Router(name="counter")

        @counter.callback_query(F.data == "count")
        async def count(query: CallbackQuery, state: FSMContext) -> None:
            seen = (await state.get_data()).get("taps", 0)
            await state.update_data(taps=seen + 1)

        app.dp.include_router(counter)
        try:
            await asyncio.gather(*(app.dp.feed_update(app.bot, _tap(n)) for n in range(1, 6)))
            key = StorageKey(bot_id=app.bot.id, chat_id=CHAT, user_id=CHAT)
            assert await app.dp.storage.get_data(key) == {"taps": 5}
        finally:
            await app.close()
            await engine.dispose()
