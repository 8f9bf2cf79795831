"""The fake Bot API server other tests and benchmarks rely on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter, TelegramServerError

from tests.fakebotapi import FakeBotAPI


@pytest.fixture
async def server() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI(rate_per_second=5)
    await api.start()
    yield api
    await api.stop()


async def _bot(api: FakeBotAPI) -> Bot:
    return Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))


class TestFakeBotAPI:
    """Updates, messages, faults and the rate limiter behave like Telegram's."""

    async def test_getupdates_confirms_by_offset_and_long_polls(self, server: FakeBotAPI) -> None:
        """Updates stay until confirmed; a long poll returns as soon as one is queued."""
        bot = await _bot(server)
        try:
            first = server.send_text(5, "一")
            assert [u.update_id for u in await bot.get_updates(timeout=0)] == [first]
            assert [u.update_id for u in await bot.get_updates(timeout=0)] == [first]
            assert await bot.get_updates(offset=first + 1, timeout=0) == []
            waiting = asyncio.create_task(bot.get_updates(offset=first + 1, timeout=5))
            await asyncio.sleep(0.05)
            second = server.send_text(5, "二")
            updates = await asyncio.wait_for(waiting, 1)
            assert [u.update_id for u in updates] == [second]
            assert updates[0].message is not None and updates[0].message.text == "二"
        finally:
            await bot.session.close()

    async def test_messages_edits_and_presses_are_recorded(self, server: FakeBotAPI) -> None:
        """sendMessage and editMessageText show up in messages_to; a press carries the message."""
        bot = await _bot(server)
        try:
            markup = {"inline_keyboard": [[{"text": "好", "callback_data": "ok"}]]}
            sent = await bot.send_message(7, "<b>你好</b>", parse_mode="HTML", reply_markup=markup)  # type: ignore[arg-type]
            await bot.edit_message_text("改了", chat_id=7, message_id=sent.message_id)
            (message,) = server.messages_to(7)
            assert message.text == "改了" and message.edits == 1 and message.buttons() == []
            server.press(7, sent.message_id, "ok")
            (update,) = await bot.get_updates(timeout=0)
            assert update.callback_query is not None and update.callback_query.data == "ok"
        finally:
            await bot.session.close()

    async def test_fail_next_and_the_rate_limiter_answer_like_telegram(self, server: FakeBotAPI) -> None:
        """An injected fault comes once; beyond 5/s the server answers 429 with retry_after."""
        bot = await _bot(server)
        try:
            server.fail_next("sendMessage", 500, "Internal Server Error")
            with pytest.raises(TelegramServerError):
                await bot.send_message(1, "x")
            with pytest.raises(TelegramRetryAfter) as limited:
                for number in range(10):
                    await bot.send_message(1, f"m{number}")
            assert limited.value.retry_after >= 1
            assert server.rejected_429 == 1
        finally:
            await bot.session.close()

    async def test_unknown_methods_are_recorded_and_answered_ok(self, server: FakeBotAPI) -> None:
        """A method the fake does not know is recorded and answered ok."""
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{server.base_url}/bot{server.token}/setChatMenuButton", json={}) as response,
        ):
            assert (await response.json()) == {"ok": True, "result": True}
        assert server.unknown_methods == ["setChatMenuButton"]
