"""`frontline run` with a token: the bot and its workers in one process, stopping cleanly."""

from __future__ import annotations

import asyncio

from bot.commands import serve
from core import identity
from core.db import make_engine, make_sessionmaker, transaction
from core.migrate import upgrade_async
from core.settings import Settings, load_settings
from tests.e2e.fakes import FakeKnowledgeBase
from tests.fakebotapi import FakeBotAPI


class TestServe:
    """serve() answers officers over the Bot API and stops when asked."""

    async def test_answers_and_stops(self, settings: Settings) -> None:
        """An enrolled officer's question is answered; setting stop ends serve() without errors."""
        api = FakeBotAPI()
        await api.start()
        try:
            configured = load_settings(
                data_dir=settings.data_dir,
                bot_token=api.token,
                telegram_api_base=api.base_url,
                _env_file=None,
            )
            await upgrade_async(configured)
            engine = make_engine(configured.effective_database_url)
            async with transaction(make_sessionmaker(engine)) as session:
                await identity.add_unit(session=session, name="一中队")
                officer = await identity.add_officer(
                    session=session, badge="9001", name="赵六", unit="一中队"
                )
                officer.telegram_user_id = 4242
            await engine.dispose()

            stop = asyncio.Event()
            running = asyncio.create_task(serve(configured, FakeKnowledgeBase(), stop=stop))
            api.send_text(4242, "取保候审最长多久？")
            reply = await api.wait_for(4242, lambda m: "第七十九条" in m.text, timeout=10)
            assert "<blockquote>" in reply.text
            stop.set()
            await asyncio.wait_for(running, 10)
            assert api.pending_updates == 0
        finally:
            await api.stop()

    async def test_a_token_revoked_while_running_stops_the_bot_with_its_reason(self, settings: Settings) -> None:
        """A 401 from getUpdates is not retried for ever behind a passing health check: serve() ends with BadBotToken."""
        import pytest

        from bot.messenger import BadBotToken

        api = FakeBotAPI()
        await api.start()
        try:
            configured = load_settings(
                data_dir=settings.data_dir, bot_token=api.token, telegram_api_base=api.base_url, _env_file=None
            )
            await upgrade_async(configured)
            running = asyncio.create_task(serve(configured, FakeKnowledgeBase()))
            for _ in range(200):
                if any(call.method == "getUpdates" for call in api.calls):
                    break
                await asyncio.sleep(0.05)
            api.token = "123456:revoked"  # @BotFather revoked it: every call now answers 401
            api.send_text(4242, "hello")  # ends the long poll in flight
            with pytest.raises(BadBotToken, match="refused FRONTLINE_BOT_TOKEN"):
                await asyncio.wait_for(running, 20)
        finally:
            await api.stop()
