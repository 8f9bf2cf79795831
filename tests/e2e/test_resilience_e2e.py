"""Crashes, redelivery, Bot API faults, Redis-backed state and the webhook transport."""

from __future__ import annotations

import asyncio
import socket
import threading

import aiohttp
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from bot import storage
from bot.app import create_app
from bot.polling import MAX_RECOVERIES
from core import audit
from knowledge.citations import Answer
from tests.e2e.conftest import Harness, MakeHarness
from tests.e2e.fakes import FakeKnowledgeBase
from tests.fakebotapi import FakeBotAPI


class _SlowKnowledgeBase(FakeKnowledgeBase):
    """Blocks on questions containing 慢 until released, to crash the bot mid-update."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def ask(self, question: str, *, language: str = "zh") -> Answer:
        if "慢" in question and not self.release.is_set():
            self.entered.set()
            self.release.wait(5)
        return super().ask(question, language=language)


async def _with_knowledge_base(harness: Harness, kb: FakeKnowledgeBase) -> None:
    """Restarts the bot on another knowledge base."""
    await harness.stop(close_db=True)
    harness.kb = kb
    await harness.start()


async def _die_mid_update(harness: Harness, slow: _SlowKnowledgeBase) -> None:
    """Waits until an update is inside the knowledge base, then kills polling with no graceful drain."""
    assert await asyncio.to_thread(slow.entered.wait, 5)
    slow.entered.clear()
    polling = harness._tasks[0]
    polling.cancel()
    await asyncio.gather(polling, return_exceptions=True)


class TestCrash:
    """An update being handled when the process dies is handled after the restart, once."""

    async def test_update_in_flight_at_a_crash_is_answered_after_restart(self, harness: Harness) -> None:
        """Killing polling mid-update leaves the update in the inbox; the next run answers it once."""
        await harness.add_officer("7001")
        alice = await harness.enroll(1001, "7001")
        slow = _SlowKnowledgeBase()
        await _with_knowledge_base(harness, slow)

        since = alice.mark()
        alice.send("慢 取保候审最长多久？")
        await _die_mid_update(harness, slow)
        slow.release.set()
        assert alice.mark() == since
        async with harness.session() as session:
            left = await storage.unhandled_inbox(session=session, bot_id=harness.server.bot_id)
        assert [row.payload["message"]["text"] for row in left] == ["慢 取保候审最长多久？"]

        await harness.restart()
        reply = await alice.wait_for(lambda m: "第七十九条" in m.text, since=since)
        await harness.server.wait_idle(quiet=0.4)
        assert alice.messages[since:] == [reply]
        assert harness.server.pending_updates == 0


class TestUpdateThatKillsTheProcess:
    """An update that takes the process down at every start is given up, not retried for ever."""

    async def test_it_is_given_up_after_max_recoveries_starts(self, harness: Harness) -> None:
        """Four runs die handling it; the fifth start marks it handled, audits it and asks for it again."""
        await harness.add_officer("7004")
        alice = await harness.enroll(1004, "7004")
        stuck = _SlowKnowledgeBase()
        await _with_knowledge_base(harness, stuck)
        since = alice.mark()
        update_id = alice.send("慢 取保候审最长多久？")
        for _run in range(MAX_RECOVERIES + 1):  # the first run, then MAX_RECOVERIES starts that retry it
            await _die_mid_update(harness, stuck)
            await harness.restart()
        apology = await alice.wait_for(lambda m: "请重新发送" in m.text, since=since)
        await harness.server.wait_idle(quiet=0.4)
        assert not stuck.entered.is_set()  # the last start did not handle it again
        assert alice.messages[since:] == [apology]
        async with harness.session() as session:
            assert await storage.already_processed(session=session, bot_id=harness.server.bot_id, update_id=update_id)
            assert await storage.unhandled_inbox(session=session, bot_id=harness.server.bot_id) == []
            events = await audit.tail(session=session, limit=5)
        abandoned = [e for e in events if e.action == "bot.update_abandoned"]
        assert [(e.target_id, e.detail) for e in abandoned] == [(str(update_id), {"runs": MAX_RECOVERIES + 1})]
        stuck.release.set()


class TestRedelivery:
    """An update handled by a run that died before confirming it is not answered again."""

    async def test_redelivered_handled_update_is_confirmed_without_a_second_answer(
        self, harness: Harness
    ) -> None:
        """Telegram sends a handled update again; the poller sees it handled and only confirms it."""
        await harness.add_officer("7002")
        alice = await harness.enroll(1002, "7002")
        await harness.stop()
        since = alice.mark()
        update_id = alice.send("取保候审最长多久？")
        async with harness.session() as session:
            await storage.mark_processed(session=session, bot_id=harness.server.bot_id, update_id=update_id)
        await harness.start()
        fresh = alice.send("拘留后多久提请批准逮捕？")
        reply = await alice.wait_for(lambda m: "第九十一条" in m.text, since=since)
        await harness.server.wait_idle(quiet=0.4)
        assert fresh > update_id
        assert alice.messages[since:] == [reply]
        assert harness.server.pending_updates == 0


class TestTyping:
    """The typing indicator is shown while a search takes long enough to notice, not for quick answers."""

    async def test_typing_is_shown_only_for_a_slow_search(self, harness: Harness) -> None:
        """A quick answer comes without sendChatAction; a slow search gets one before its answer."""
        await harness.add_officer("7003")
        alice = await harness.enroll(1003, "7003")
        slow = _SlowKnowledgeBase()
        await harness.stop(close_db=True)
        harness.kb = slow
        await harness.start()

        await alice.say("取保候审最长多久？")
        assert harness.server.calls_to("sendChatAction") == []

        since = alice.mark()
        alice.send("慢 拘留后多久提请批准逮捕？")
        assert await asyncio.to_thread(slow.entered.wait, 5)
        for _attempt in range(40):
            if harness.server.calls_to("sendChatAction"):
                break
            await asyncio.sleep(0.05)
        slow.release.set()
        await alice.wait_for(lambda m: "第九十一条" in m.text, since=since)
        [typing] = harness.server.calls_to("sendChatAction")
        assert typing.params["chat_id"] == 1003


class TestSlowUpdates:
    """A slow update does not hold back others, and none is handled twice while it is in flight."""

    async def test_other_officers_are_answered_while_one_update_is_slow(self, harness: Harness) -> None:
        """B is answered while A's question is stuck; A is then answered once, B once."""
        await harness.add_officer("7011")
        await harness.add_officer("7012")
        alice = await harness.enroll(1011, "7011")
        bob = await harness.enroll(1012, "7012")
        slow = _SlowKnowledgeBase()
        await harness.stop(close_db=True)
        harness.kb = slow
        await harness.start()

        since_alice, since_bob = alice.mark(), bob.mark()
        alice.send("慢 取保候审最长多久？")
        assert await asyncio.to_thread(slow.entered.wait, 5)
        bob_reply = await bob.say("拘留后多久提请逮捕？")
        assert "第九十一条" in bob_reply.text
        assert alice.mark() == since_alice
        await harness.server.wait_idle(quiet=0.3)  # Bob's update commits just after his reply
        async with harness.session() as session:
            left = await storage.unhandled_inbox(session=session, bot_id=harness.server.bot_id)
        assert [row.payload["message"]["text"] for row in left] == ["慢 取保候审最长多久？"]

        slow.release.set()
        await alice.wait_for(lambda m: "第七十九条" in m.text, since=since_alice)
        await harness.server.wait_idle(quiet=0.4)
        assert len(alice.messages[since_alice:]) == 1
        assert len(bob.messages[since_bob:]) == 1
        assert harness.server.pending_updates == 0
        assert [q for q, _language in slow.asked].count("慢 取保候审最长多久？") == 1


class TestBotApiFaults:
    """Failures of the Bot API do not stop the bot."""

    async def test_failing_getupdates_is_retried(self, harness: Harness) -> None:
        """A 502 from getUpdates is retried and the message still answered."""
        await harness.add_officer("7002")
        alice = await harness.enroll(1002, "7002")
        harness.server.fail_next("getUpdates", 502, "Bad Gateway")
        reply = await alice.say("取保候审最长多久？", wait=8)
        assert "第七十九条" in reply.text

    async def test_failing_setmycommands_does_not_stop_start_up(
        self, make_harness: MakeHarness, fake_api: FakeBotAPI
    ) -> None:
        """setMyCommands failing at start-up is logged and the bot runs."""
        for _attempt in range(3):
            fake_api.fail_next("setMyCommands", 500, "Internal Server Error")
        harness = await make_harness()
        await harness.add_officer("7003")
        alice = await harness.enroll(1003, "7003")
        assert "第七十九条" in (await alice.say("取保候审最长多久？")).text
        assert set(fake_api.commands) == set()


class TestCommands:
    """The / commands are set in both languages."""

    async def test_commands_are_set_in_chinese_and_english(self, harness: Harness) -> None:
        """setMyCommands is called for the default, zh and en."""
        zh = {c["command"]: c["description"] for c in harness.server.commands["zh"]}
        en = {c["command"]: c["description"] for c in harness.server.commands["en"]}
        assert zh["language"] == "设置/语言" and en["language"] == "Settings / Language"
        assert "unanswered" not in zh and "unanswered" not in en  # the legal brigade's own lists have it
        assert harness.server.commands[""] == harness.server.commands["zh"]

    async def test_only_the_legal_brigade_is_shown_its_queue(self, harness: Harness) -> None:
        """An officer's / list has no 未答问题; a legal officer's own list has it, in Chinese."""
        await harness.add_officer("7301")
        await harness.add_officer("7390", roles=("legal",), unit="法制大队")
        await harness.enroll(1301, "7301")
        await harness.enroll(1390, "7390")
        await harness.server.wait_idle()
        assert "unanswered" not in harness.server.commands_seen_by(1301, "zh")
        assert harness.server.commands_seen_by(1390, "zh") == [
            "start", "help", "language", "reminders", "tasks", "notices", "rights",
            "unanswered", "broadcast", "newtask", "desk", "cancel",
        ]
        own = {c["command"]: c["description"] for c in harness.server.chat_commands[1390]}
        assert own["unanswered"] == "未答问题（法制大队）"

    async def test_legal_officers_enrolled_before_a_restart_get_their_list_at_start_up(self, harness: Harness) -> None:
        """Start-up sets the own list of every enrolled legal officer; plain officers keep the common one."""
        await harness.add_officer("7391", roles=("legal",), unit="法制大队", telegram_user_id=1391)
        await harness.add_officer("7302", telegram_user_id=1302)
        await harness.restart()
        assert "unanswered" in harness.server.commands_seen_by(1391, "zh")
        assert 1302 not in harness.server.chat_commands

    async def test_switching_language_switches_the_own_list(self, harness: Harness) -> None:
        """A legal officer who picks English is shown the commands in English."""
        await harness.add_officer("7392", roles=("legal",), unit="法制大队")
        legal = await harness.enroll(1392, "7392")
        menu = await legal.say("设置/语言")
        since = legal.mark()
        await legal.press(menu, "English")
        await legal.wait_for(lambda m: m.text == "Language set to English.", since=since)
        await harness.server.wait_idle()
        own = {c["command"]: c["description"] for c in harness.server.chat_commands[1392]}
        assert own["unanswered"] == "Unanswered questions (legal brigade)"


class TestRedisStorage:
    """With Redis configured, conversation state lives there and survives a restart."""

    async def test_state_survives_a_restart_in_redis(self, make_harness: MakeHarness, redis_url: str) -> None:
        """A legal officer's pending answer is kept in Redis across a restart."""
        redis = Redis.from_url(redis_url)
        harness = await make_harness(redis=redis)
        try:
            await harness.add_officer("7101")
            await harness.add_officer("7190", roles=("legal",), unit="法制大队")
            asker = await harness.enroll(1101, "7101")
            legal = await harness.enroll(1190, "7190")
            answer = await asker.say("外星人入境怎么处理？")
            await asker.press(answer, "转法制大队")
            await legal.wait_for(lambda m: "新问题" in m.text, wait=8)
            listing = await legal.say("未答问题")
            since = legal.mark()
            await legal.press(listing, "1.")
            await legal.wait_for(lambda m: "请输入对该问题的答复" in m.text, since=since)
            keys = [key async for key in redis.scan_iter(f"{harness.redis_prefix}:*")]
            assert any(key.endswith(b":state") for key in keys)

            await harness.restart()
            since_asker = asker.mark()
            confirm = await legal.say("按规定处理。")
            assert confirm.text == "答复已发送给提问民警。"
            await asker.wait_for(lambda m: "按规定处理。" in m.text, since=since_asker, wait=8)
        finally:
            await harness.stop(close_db=True)
            keys = [key async for key in redis.scan_iter(f"{harness.redis_prefix}*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()


class TestWebhook:
    """In webhook mode an update is handled before Telegram gets its answer."""

    async def test_webhook_answers_after_the_reply_is_sent(
        self, make_harness: MakeHarness, fake_api: FakeBotAPI, unused_tcp_port: int
    ) -> None:
        """The HTTP answer to the webhook call comes after sendMessage; a wrong secret is refused."""
        harness = await make_harness()
        await harness.add_officer("7201")
        await harness.enroll(1201, "7201")
        await harness.stop()
        settings = harness.settings.model_copy(
            update={
                "webhook_url": f"http://127.0.0.1:{unused_tcp_port}/tg/hook",
                "webhook_host": "127.0.0.1",
                "webhook_port": unused_tcp_port,
                "webhook_secret": SecretStr("s3cret"),
            }
        )
        assert harness.sessions is not None
        app = create_app(settings, sessions=harness.sessions, kb=harness.kb, feedback=harness.feedback)
        serving = asyncio.create_task(app.run_webhook())
        try:
            for _attempt in range(50):
                if fake_api.webhook is not None:
                    break
                await asyncio.sleep(0.05)
            assert fake_api.webhook is not None and fake_api.webhook["secret_token"] == "s3cret"
            update = {
                "update_id": 99_001,
                "message": {
                    "message_id": 5,
                    "date": 1,
                    "chat": {"id": 1201, "type": "private"},
                    "from": {"id": 1201, "is_bot": False, "first_name": "A"},
                    "text": "取保候审最长多久？",
                },
            }
            url = f"http://127.0.0.1:{unused_tcp_port}/tg/hook"
            async with aiohttp.ClientSession() as http:
                async with http.post(
                    url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "bad"}
                ) as bad:
                    assert bad.status == 401
                before = len(fake_api.messages_to(1201))
                async with http.post(
                    url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
                ) as ok:
                    assert ok.status == 200
                    assert len(fake_api.messages_to(1201)) == before + 1
            assert "第七十九条" in fake_api.messages_to(1201)[-1].text
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            await app.close()


@pytest.fixture
def unused_tcp_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
