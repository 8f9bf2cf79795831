"""Broadcasts end to end: the legal brigade composes in the bot, officers acknowledge, the sender follows.

The real Dispatcher, Bot and HTTP session poll the fake Bot API; the outbox delivery loop and the
broadcast loop run beside them, as in ``frontline run``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.routers.broadcasts import broadcast_uploader
from broadcasts import service
from broadcasts.figures import figures
from broadcasts.loop import run_broadcast_loop
from broadcasts.models import Broadcast, BroadcastAck
from core import identity
from core.outbox import Media
from tests.e2e.conftest import Harness, MakeHarness, SimUser
from tests.fakebotapi import SentMessage

LEGAL, OFFICER, TEAM, EAST, BLOCKED = 801, 802, 803, 804, 805
TIP = "近期多发暴力抗法事件，盘查时务必两人以上并全程开启执法记录仪。"


@pytest.fixture
async def world(make_harness: MakeHarness) -> AsyncIterator[Harness]:
    """A running bot with the broadcast loop, a unit tree, a legal officer and officers in it."""
    harness = await make_harness()
    async with harness.session() as session:
        await identity.add_unit(session=session, name="县公安局")
        await identity.add_unit(session=session, name="法制大队", parent="县公安局")
        await identity.add_unit(session=session, name="城关派出所", parent="县公安局")
        await identity.add_unit(session=session, name="社区警务队", parent="城关派出所")
        await identity.add_unit(session=session, name="东关派出所", parent="县公安局")
    await harness.add_officer("L01", name="李法制", unit="法制大队", roles=("officer", "legal"))
    for badge, name, unit in (
        ("P01", "王警官", "城关派出所"),
        ("P02", "刘警官", "社区警务队"),
        ("P03", "赵警官", "东关派出所"),
        ("P04", "钱警官", "城关派出所"),
        ("P05", "孙警官", "城关派出所"),
    ):
        await harness.add_officer(badge, name=name, unit=unit)
    stop = asyncio.Event()

    async def loop() -> None:
        async with broadcast_uploader(harness.settings) as uploader:
            assert harness.sessions is not None
            await run_broadcast_loop(
                sessions=harness.sessions, settings=harness.settings, stop=stop, uploader=uploader, tick_seconds=0.2
            )

    task = asyncio.create_task(loop())
    yield harness
    stop.set()
    await asyncio.wait_for(task, timeout=10)


async def _enroll_all(harness: Harness) -> dict[str, SimUser]:
    people = {
        "L01": await harness.enroll(LEGAL, "L01"),
        "P01": await harness.enroll(OFFICER, "P01"),
        "P02": await harness.enroll(TEAM, "P02"),
        "P03": await harness.enroll(EAST, "P03"),
        "P05": await harness.enroll(BLOCKED, "P05"),
    }
    harness.server.blocked.add(BLOCKED)  # P05 blocks the bot after enrolling; P04 never enrolls
    return people


def _since(user: SimUser) -> int:
    return user.mark()


async def _next(user: SimUser, since: int, predicate: Callable[[SentMessage], bool] = lambda m: True) -> SentMessage:
    return await user.wait_for(predicate, since=since, wait=10)


async def _settled(user: SimUser) -> None:
    # An update's FSM change commits just after its per-user lock is released; a simulated user
    # quicker than any human could otherwise press the next button before that commit.
    await user.harness.server.wait_idle()


async def _say(user: SimUser, text: str) -> SentMessage:
    await _settled(user)
    return await user.say(text)


async def _press_and_wait(
    user: SimUser, message: SentMessage, button: str, predicate: Callable[[SentMessage], bool]
) -> SentMessage:
    await _settled(user)
    since = user.mark()
    await user.press(message, button)
    return await _next(user, since, predicate)


async def _press_for_toast(user: SimUser, message: SentMessage, button: str) -> str:
    """Presses a button and returns the short answer Telegram shows (answerCallbackQuery's text)."""
    await _settled(user)
    answers = user.harness.server.callback_answers
    before = len(answers)
    await user.press(message, button)
    for _ in range(200):
        if len(answers) > before:
            return str(answers[before].get("text", ""))
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no answer to {button!r}")


async def _press_and_see_edit(
    user: SimUser, message: SentMessage, button: str, predicate: Callable[[SentMessage], bool]
) -> SentMessage:
    """Presses a button and waits for that same message to be edited into what the predicate wants."""
    await _settled(user)
    await user.press(message, button)
    return await user.wait_for(lambda m: m.message_id == message.message_id and predicate(m), wait=10)


async def _compose_to_preview(legal: SimUser, harness: Harness) -> tuple[SentMessage, SentMessage]:
    """Text, a photo, an article, 城关派出所 with its sub-units; returns the preview and the control message."""
    home = await _say(legal, "/broadcast")
    assert "风险提示通知" in home.text
    prompt = await _press_and_wait(legal, home, "发布新通知", lambda m: "请发送通知正文" in m.text)
    assert prompt is not None
    media_step = await _say(legal, TIP)
    assert "可为通知附一张图片" in media_step.text
    await _settled(legal)
    since = legal.mark()
    harness.server.send_photo(LEGAL)
    articles_step = await _next(legal, since, lambda m: "关联法规知识库" in m.text)
    linked = await _say(legal, "刑诉法第79条")
    assert "《刑事诉讼法》第七十九条 (2018-10-26)" in linked.text
    assert articles_step is not None
    panel = await _press_and_wait(legal, linked, "条文选好了", lambda m: "通知发给谁" in m.text)
    units = await _press_and_see_edit(legal, panel, "单位（0）", lambda m: "选择单位" in m.text)
    units = await _press_and_see_edit(legal, units, "城关派出所", lambda m: "🌳 · 城关派出所" in str(m.reply_markup))
    chosen = await _press_and_see_edit(legal, units, "选好了", lambda m: "人数" in m.text)
    assert "城关派出所（含下级单位）" in chosen.text
    assert "4名民警（1人尚未绑定，绑定后即可收到）" in chosen.text
    await _settled(legal)
    since = legal.mark()
    await legal.press(chosen, "预览通知")
    control = await _next(legal, since, lambda m: "以上即民警将看到的内容" in m.text)
    preview = next(m for m in legal.messages[since:] if m.kind == "photo")
    return preview, control


class TestComposeAndDeliver:
    async def test_a_tip_composed_in_the_bot_reaches_exactly_its_audience_and_is_acknowledged(
        self, world: Harness
    ) -> None:
        """Compose, preview, send: the unit and its sub-unit get the photo tip with 已阅; the sender follows it."""
        harness = world
        people = await _enroll_all(harness)
        legal = people["L01"]
        preview, control = await _compose_to_preview(legal, harness)
        assert preview.file == "photo1" and "📢 <b>风险提示</b>" in preview.text
        assert "《刑事诉讼法》第七十九条（2018-10-26版）" in preview.text
        assert preview.button("已阅").callback_data == "bca:0"
        status = await _press_and_see_edit(legal, control, "立即发送", lambda m: "号通知" in m.text)
        assert "发送中" in status.text or "发送完毕" in status.text

        officer = await people["P01"].wait_for(lambda m: m.kind == "photo" and TIP in m.text, wait=10)
        team = await people["P02"].wait_for(lambda m: m.kind == "photo" and TIP in m.text, wait=10)
        # exactly as previewed: same text (the footer's minute aside), same photo, the 已阅 button
        assert officer.text.rsplit("\n", 1)[0] == preview.text.rsplit("\n", 1)[0]
        assert officer.file == "photo1" and team.file == "photo1"
        ack = officer.button("已阅")
        assert ack.callback_data is not None and ack.callback_data.startswith("bca:")
        await harness.server.wait_idle()
        assert not [m for m in people["P03"].messages if TIP in m.text]  # 东关派出所 is not in the audience

        assert await _press_for_toast(people["P01"], officer, "已阅") == "✅ 已确认阅读，谢谢。"
        assert (await _press_for_toast(people["P01"], officer, "已阅")).startswith("您已于")

        broadcast_id = int(ack.callback_data.split(":")[1])
        async with harness.session() as session:
            counted = await figures(session=session, broadcast_id=broadcast_id)
            acks = await session.scalar(select(func.count()).select_from(BroadcastAck))
            blocked = await identity.get_officer(session=session, badge="P05")
        assert counted.as_json() == {
            "id": broadcast_id, "recipients": 4, "sent": 2, "acknowledged": 1, "unreachable": 1, "pending": 1,
            "cancelled": 0,
        }
        assert acks == 1 and blocked is not None and blocked.reachable is False

        # the status message is edited in place until it shows the final figures
        final = await legal.wait_for(
            lambda m: m.message_id == control.message_id and "已阅：1" in m.text and "无法送达：1" in m.text, wait=15
        )
        assert "发送完毕" in final.text and "待发送：1（其中1人尚未绑定" in final.text
        unread = await _press_and_wait(legal, final, "未阅名单", lambda m: "未阅（3人）" in m.text)
        assert "刘警官 P02" in unread.text and "钱警官 P04 <i>(未绑定)</i>" in unread.text
        assert "孙警官 P05 <i>(无法送达)</i>" in unread.text and "王警官" not in unread.text
        by_unit = await _press_and_wait(legal, final, "按单位", lambda m: "按单位" in m.text and "城关派出所" in m.text)
        assert "<b>社区警务队</b>：1人 · 送达1" in by_unit.text

    async def test_my_notices_lists_the_unacknowledged_first_and_opens_a_tip(self, world: Harness) -> None:
        """我的通知 shows 🔴 for unread tips above ✅ read ones; opening one shows it again with 已阅."""
        harness = world
        people = await _enroll_all(harness)
        async with harness.session() as session:
            sender = await identity.get_officer(session=session, badge="L01")
            assert sender is not None
            first = await service.create(
                session=session, sender=sender, text="第一条提示：冬季防火", audience="unit:城关派出所", settings=harness.settings
            )
            second = await service.create(
                session=session, sender=sender, text="第二条提示：节前安全", audience="unit:城关派出所", settings=harness.settings
            )
        officer = people["P01"]
        tip = await officer.wait_for(lambda m: "第一条提示" in m.text, wait=10)
        await officer.wait_for(lambda m: "第二条提示" in m.text, wait=10)
        assert await _press_for_toast(officer, tip, "已阅") == "✅ 已确认阅读，谢谢。"
        listing = await _say(officer, "我的通知")
        assert "（1条未确认）" in listing.text
        lines = listing.text.splitlines()
        assert lines[1].startswith("🔴 1.") and "第二条提示" in lines[1]
        assert lines[2].startswith("✅ 2.") and "第一条提示" in lines[2]
        opened = await _press_and_wait(officer, listing, "🔴 1.", lambda m: "第二条提示" in m.text)
        assert opened.button("已阅").callback_data == f"bca:{second.id}"
        read = await _press_and_wait(officer, listing, "✅ 2.", lambda m: "您已于" in m.text)
        assert read is not None and first.id != second.id

    async def test_an_ordinary_officer_cannot_broadcast(self, world: Harness) -> None:
        """The role is checked whatever the menu shows."""
        officer = await world.enroll(OFFICER, "P01")
        reply = await _say(officer, "/broadcast")
        assert reply.text == "发布通知仅限法制大队。"


class TestResumeScheduleCancel:
    async def test_a_half_written_tip_survives_a_restart(self, world: Harness) -> None:
        """The draft is in the FSM storage: after a restart /broadcast offers to continue it."""
        harness = world
        legal = await harness.enroll(LEGAL, "L01")
        home = await _say(legal, "/broadcast")
        await _press_and_wait(legal, home, "发布新通知", lambda m: "请发送通知正文" in m.text)
        await _say(legal, TIP)
        await harness.restart()
        home = await _say(legal, "/broadcast")
        assert "您有一条未完成的通知" in home.text and TIP[:10] in home.text
        resumed = await _press_and_wait(legal, home, "继续编辑", lambda m: "可为通知附一张图片" in m.text)
        skipped = await _press_and_wait(legal, resumed, "不加附件", lambda m: "关联法规知识库" in m.text)
        assert skipped is not None

    async def test_a_scheduled_tip_can_be_cancelled_before_it_goes_out(self, world: Harness) -> None:
        """Scheduled for tomorrow, then cancelled from its status message: nothing is sent, all withdrawn."""
        harness = world
        people = await _enroll_all(harness)
        legal = people["L01"]
        preview, control = await _compose_to_preview(legal, harness)
        assert preview is not None
        picks = await _press_and_wait(legal, control, "定时发送", lambda m: "何时发送" in m.text)
        await _settled(legal)
        since = legal.mark()
        await legal.press(picks, "明天14:00")
        new_control = await _next(legal, since, lambda m: "以上即民警将看到的内容" in m.text)
        assert "发送时间：" in new_control.text
        status = await _press_and_see_edit(legal, new_control, "定时于", lambda m: "定于" in m.text)
        confirm = await _press_and_wait(legal, status, "取消发送", lambda m: "撤回第" in m.text)
        done = await _press_and_see_edit(legal, confirm, "确认撤回", lambda m: "已撤回" in m.text)
        assert "4条在发出前撤回" in done.text
        cancelled = await legal.wait_for(lambda m: m.message_id == status.message_id and "已撤回" in m.text, wait=10)
        assert "发出前撤回：4" in cancelled.text
        await harness.server.wait_idle()
        assert not [m for m in people["P01"].messages if TIP in m.text]
        async with harness.session() as session:
            broadcast = await session.scalar(select(Broadcast))
            assert broadcast is not None and broadcast.status == "cancelled"


class TestSingleUpload:
    async def test_a_file_from_the_command_line_is_uploaded_once(
        self, world: Harness, tmp_path: Path
    ) -> None:
        """The sender's copy uploads the file; every officer's tip reuses the file id Telegram returned."""
        harness = world
        people = await _enroll_all(harness)
        leaflet = tmp_path / "指引.pdf"
        leaflet.write_bytes(b"%PDF-1.4 guidance")
        async with harness.session() as session:
            sender = await identity.get_officer(session=session, badge="L01")
            assert sender is not None
            broadcast = await service.create(
                session=session,
                sender=sender,
                text="附件为最新执法指引",
                audience="unit:城关派出所",
                settings=harness.settings,
                media=Media(kind="document", path=str(leaflet), filename="指引.pdf"),
            )
        copy = await people["L01"].wait_for(lambda m: m.kind == "document" and "最新执法指引" in m.text, wait=10)
        assert isinstance(copy.file, dict) and copy.file["filename"] == "指引.pdf"
        tip = await people["P01"].wait_for(lambda m: m.kind == "document", wait=10)
        team = await people["P02"].wait_for(lambda m: m.kind == "document", wait=10)
        file_id = f"document{copy.message_id}"
        assert tip.file == file_id and team.file == file_id
        documents = [m for chat in (LEGAL, OFFICER, TEAM, EAST) for m in harness.server.messages_to(chat) if m.kind == "document"]
        assert len(documents) == 3 and sum(isinstance(m.file, dict) for m in documents) == 1  # one upload
        async with harness.session() as session:
            stored = await session.get(Broadcast, broadcast.id)
            assert stored is not None and stored.media_file_id == file_id


