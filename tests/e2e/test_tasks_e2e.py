"""Tasks end to end over HTTP: a supervisor gives a task, officers complete it from the phone, the
creator's card follows in place, a completion is sent back, overdue tasks are escalated."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from redis.asyncio import Redis
from sqlalchemy import select

from core import identity
from core.audit import AuditEvent
from core.db import utcnow
from core.holidays import load_calendar
from tasks import service
from tasks.models import TaskAssignment, TaskCompletion, TaskOccurrence, TaskSeries
from tasks.recurrence import Repeat
from tasks.schedule import scan
from tasks.service import TaskSpec
from tests.e2e.conftest import Harness, MakeHarness, SimUser
from tests.fakebotapi import SentMessage

SUPERVISOR, ZHANG, LI, WANG = 801, 802, 803, 804


async def station(harness: Harness) -> dict[str, SimUser]:
    """城关派出所 (supervisor S001) > 一中队 (1001 张三, 1002 李四); 三中队 elsewhere (1004 王五)."""
    async with harness.session() as session:
        await identity.add_unit(session=session, name="城关派出所")
        await identity.add_unit(session=session, name="一中队", parent="城关派出所")
        await identity.add_unit(session=session, name="三中队")
    await harness.add_officer("S001", name="王所长", roles=("supervisor",), unit="城关派出所")
    await harness.add_officer("1001", name="张三", unit="一中队")
    await harness.add_officer("1002", name="李四", unit="一中队", language="en")
    await harness.add_officer("1004", name="王五", unit="三中队")
    return {
        "S001": await harness.enroll(SUPERVISOR, "S001"),
        "1001": await harness.enroll(ZHANG, "1001"),
        "1002": await harness.enroll(LI, "1002"),
        "1004": await harness.enroll(WANG, "1004"),
    }


async def press(user: SimUser, message: SentMessage, button: str) -> None:
    """Presses a button the way a person does: once the bot has finished with the last update.

    (A simulated user answers within a millisecond; the update before may not be committed yet.)
    """
    await user.harness.server.wait_idle(timeout=10)
    await user.press(message, button)


async def answered(harness: Harness, since: int) -> str:
    """Waits for the next answer to a button press (after ``since`` answers); returns its text."""
    for _ in range(500):
        if len(harness.server.callback_answers) > since:
            return str(harness.server.callback_answers[since].get("text") or "")
        await asyncio.sleep(0.02)
    raise TimeoutError("no answer to the button press")


async def say(user: SimUser, text: str) -> SentMessage:
    """Types a message once the bot has finished with the last update; returns the first answer."""
    await user.harness.server.wait_idle(timeout=10)
    return await user.say(text, wait=10)


async def send(user: SimUser, text: str) -> None:
    """Types a message once the bot has finished with the last update, without waiting for an answer."""
    await user.harness.server.wait_idle(timeout=10)
    user.send(text)


async def press_and_wait(user: SimUser, message: SentMessage, button: str, expect: str) -> SentMessage:
    """Presses a button and waits for a new message containing ``expect``."""
    since = user.mark()
    await press(user, message, button)
    return await user.wait_for(lambda m: expect in m.text, since=since, wait=10)


async def edited(user: SimUser, message: SentMessage, expect: str, *, wait: float = 8.0) -> SentMessage:
    """Waits until a message's text was edited to contain ``expect``."""
    return await user.wait_for(lambda m: m.message_id == message.message_id and expect in m.text, wait=wait)


async def offers(user: SimUser, message: SentMessage, button: str, *, wait: float = 8.0) -> SentMessage:
    """Waits until a message's buttons were changed to include one labelled with ``button``."""
    return await user.wait_for(
        lambda m: m.message_id == message.message_id and any(button in b.text for row in m.buttons() for b in row),
        wait=wait,
    )


def current(user: SimUser, message: SentMessage) -> SentMessage:
    """The message as the chat shows it now (edits applied)."""
    return next(m for m in user.messages if m.message_id == message.message_id)


async def give_through_the_flow(boss: SimUser, *, who: str = "一中队") -> SentMessage:
    """The supervisor assigns a working-day task to 一中队 through the guided flow; returns the card."""
    start = await say(boss, "布置任务")
    assert "布置任务" in start.text and "标题" in start.text
    asked = await say(boss, "整改执法记录仪未上传问题\n按督察通报，逐人上传并说明")
    assert "布置给谁" in asked.text
    since = boss.mark()
    await send(boss, who)
    due_step = await boss.wait_for(lambda m: "截止时间" in m.text, since=since)
    resolved = next(m for m in boss.messages[since:] if "→" in m.text)
    assert "共2人" in resolved.text and "张三（1001）" in resolved.text and "李四（1002）" in resolved.text
    repeat_step = await press_and_wait(boss, due_step, "明天18:00", "多久一次")
    end_step = await press_and_wait(boss, repeat_step, "每个工作日", "到什么时候结束")
    source_step = await press_and_wait(boss, end_step, "不设结束", "任务来源")
    priority_step = await press_and_wait(boss, source_step, "执法问题整改", "紧急程度")
    summary = await press_and_wait(boss, priority_step, "普通", "请确认任务")
    assert "每个工作日 18:00（日结）" in summary.text and "承办人（2人）" in summary.text
    since = boss.mark()
    await press(boss, summary, "确认布置")
    return await boss.wait_for(lambda m: "完成 0/2" in m.text, since=since)


class TestGivingAndCompleting:
    async def test_a_task_goes_from_the_flow_to_the_phones_and_back_to_the_creators_card(
        self, harness: Harness
    ) -> None:
        """Assigned through the flow; 张三 completes with a photo, 李四 at once; the card follows in place;
        the creator sends 张三's completion back with a reason."""
        users = await station(harness)
        boss, zhang, li = users["S001"], users["1001"], users["1002"]
        card = await give_through_the_flow(boss)
        assert "⏳ 张三（1001）" in card.text and "⏳ 李四（1002）" in card.text

        notice = await zhang.wait_for(lambda m: "新任务" in m.text, wait=8)
        assert "整改执法记录仪未上传问题" in notice.text and "布置人：王所长（S001）" in notice.text
        english = await li.wait_for(lambda m: "New task" in m.text, wait=8)
        assert "Every working day at 18:00 (daily check)" in english.text

        await press(zhang, notice, "完成")
        await offers(zhang, notice, "附说明或照片")
        prompt = await press_and_wait(zhang, current(zhang, notice), "附说明或照片", "请发送文字说明")
        assert "/cancel" in prompt.text
        since = zhang.mark()
        harness.server.send_photo(ZHANG, caption="已逐人上传")
        thanks = await zhang.wait_for(lambda m: "照片已附上" in m.text, since=since)
        assert "已于" in thanks.text
        await edited(zhang, notice, "已于")
        assert current(zhang, notice).buttons() == []

        live = await edited(boss, card, "完成 1/2")
        assert "✅ 张三（1001）" in live.text and "📷" in live.text and "已逐人上传" in live.text

        await press(li, english, "Done")
        await offers(li, english, "Confirm: done")
        await press(li, current(li, english), "Confirm: done")
        await edited(li, english, "Marked as done")
        await edited(boss, card, "完成 2/2")
        await boss.wait_for(lambda m: "任务已全部完成" in m.text, wait=8)

        await press(boss, current(boss, card), "退回")
        await offers(boss, card, "张三（1001）")
        ask = await press_and_wait(boss, current(boss, card), "张三", "退回原因")
        confirm = await say(boss, "照片看不清，请重新拍摄上传")
        assert "已退回给张三（1001）" in confirm.text
        back = await zhang.wait_for(lambda m: "任务被退回" in m.text, wait=8)
        assert "照片看不清" in back.text and "王所长" in back.text and ask.text
        await edited(boss, card, "完成 1/2")

        await harness.server.wait_idle()
        async with harness.session() as session:
            photo = await session.scalar(select(TaskCompletion.photo_file_id).where(TaskCompletion.note == "已逐人上传"))
            assert photo == "photo1"
            actions = (await session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("task.%")))).all()
        assert {"task.create", "task.done", "task.reopen"} <= set(actions)

    async def test_only_an_assignee_can_complete_even_with_a_forged_button(self, harness: Harness) -> None:
        """王五 (another unit) pressing a button carrying 张三's task is refused; 张三's task stays open."""
        users = await station(harness)
        await give_through_the_flow(users["S001"])
        notice = await users["1001"].wait_for(lambda m: "新任务" in m.text, wait=8)
        forged = notice.button("完成").callback_data
        assert forged is not None
        own = users["1004"].messages[-1]
        before = len(harness.server.callback_answers)
        harness.server.press(WANG, own.message_id, forged)
        assert await answered(harness, before) == "只有该任务的承办人可以标记完成。"
        async with harness.session() as session:
            statuses = (await session.scalars(select(TaskAssignment.status))).all()
        assert statuses == ["open", "open"]

    async def test_a_plain_officer_cannot_assign_tasks(self, harness: Harness) -> None:
        """布置任务 from an officer without the role gets a polite refusal, and no form opens."""
        users = await station(harness)
        reply = await users["1001"].say("布置任务")
        assert reply.text == "只有领导和法制大队可以布置任务。"
        after = await users["1001"].say("/newtask")
        assert after.text == "只有领导和法制大队可以布置任务。"

    async def test_a_photo_where_text_is_expected_gets_a_hint_and_the_step_stays(self, harness: Harness) -> None:
        """At the title step a photo is answered politely; the title typed next is taken."""
        users = await station(harness)
        boss = users["S001"]
        await say(boss, "/newtask")
        await harness.server.wait_idle(timeout=10)
        since = boss.mark()
        harness.server.send_photo(SUPERVISOR)
        hint = await boss.wait_for(lambda m: True, since=since, wait=10)
        assert hint.text == "请输入文字或点击上方按钮，或发送 /cancel 取消。"
        asked = await say(boss, "周末安全检查")
        assert "布置给谁" in asked.text

    async def test_a_unit_outside_the_supervisors_station_is_refused_and_can_be_corrected(
        self, harness: Harness
    ) -> None:
        """三中队 is not under 城关派出所: a clear refusal, the step stays open, 一中队 is then accepted."""
        users = await station(harness)
        boss = users["S001"]
        await say(boss, "/newtask")
        await say(boss, "周末安全检查")
        refused = await say(boss, "三中队 9999")
        assert refused.text.startswith("未找到：9999")
        refused = await say(boss, "三中队")
        assert refused.text == "超出您可布置任务的单位范围：三中队。"
        since = boss.mark()
        await send(boss, "1001")
        await boss.wait_for(lambda m: "截止时间" in m.text, since=since)


class TestOfficersSide:
    async def test_my_tasks_lists_by_due_time_and_remind_me_later_answers_with_the_time(
        self, harness: Harness
    ) -> None:
        """我的任务 shows the task; its card offers 稍后提醒 -> 1小时后, which is confirmed and stored."""
        users = await station(harness)
        zhang = users["1001"]
        async with harness.session() as session:
            boss = await identity.get_officer(session=session, badge="S001")
            await service.create_task(
                session=session,
                spec=TaskSpec(title="案件材料归档", assignees=["1001"], due=utcnow() + timedelta(days=2)),
                settings=harness.settings,
                calendar=load_calendar(harness.settings),
                creator=boss,
                actor="S001",
                now=utcnow(),
            )
        await zhang.wait_for(lambda m: "新任务" in m.text, wait=8)
        listing = await say(zhang, "我的任务")
        assert "您的任务" in listing.text and "案件材料归档" in listing.text and "还有" in listing.text
        card = await press_and_wait(zhang, listing, "案件材料归档", "布置人")
        await press(zhang, card, "稍后提醒")
        await offers(zhang, card, "1小时后")
        await harness.server.wait_idle()
        before = len(harness.server.callback_answers)
        await press(zhang, current(zhang, card), "1小时后")
        assert "再次提醒您" in await answered(harness, before)
        await harness.server.wait_idle()
        async with harness.session() as session:
            snoozed = await session.scalar(select(TaskAssignment.snoozed_until))
        assert snoozed is not None and snoozed > utcnow() + timedelta(minutes=55)

    async def test_an_empty_list_says_so(self, harness: Harness) -> None:
        """No tasks: one plain sentence."""
        users = await station(harness)
        assert (await users["1001"].say("/tasks")).text == "您目前没有待办任务。"


class TestCreatorsSide:
    async def test_an_overdue_task_reaches_the_creator_who_reminds_those_not_done(self, harness: Harness) -> None:
        """After the due time the scan tells the creator who is behind; 提醒未完成的人 reaches exactly them."""
        users = await station(harness)
        boss, zhang, li = users["S001"], users["1001"], users["1002"]
        now = utcnow()
        async with harness.session() as session:
            creator = await identity.get_officer(session=session, badge="S001")
            created = await service.create_task(
                session=session,
                spec=TaskSpec(title="补录警情", assignees=["unit:一中队"], due=now + timedelta(hours=3)),
                settings=harness.settings,
                calendar=load_calendar(harness.settings),
                creator=creator,
                actor="S001",
                now=now,
            )
            occurrence_id = created.occurrence.id
        notice = await zhang.wait_for(lambda m: "新任务" in m.text, wait=8)
        await li.wait_for(lambda m: "New task" in m.text, wait=8)
        await press(zhang, notice, "完成")
        await offers(zhang, notice, "确认完成")
        await press(zhang, current(zhang, notice), "确认完成")
        await edited(zhang, notice, "已于")
        await harness.server.wait_idle()
        async with harness.session() as session:
            await scan(
                session=session,
                now=now + timedelta(hours=3, minutes=1),
                settings=harness.settings,
                calendar=load_calendar(harness.settings),
            )
        overdue = await boss.wait_for(lambda m: "任务超期" in m.text, wait=8)
        assert "李四（1002）" in overdue.text and "张三" not in overdue.text
        since = li.mark()
        await harness.server.wait_idle()
        before = len(harness.server.callback_answers)
        await press(boss, overdue, "提醒未完成的人")
        assert await answered(harness, before) == "已提醒1人。"
        nudge = await li.wait_for(lambda m: "reminds you of a task" in m.text, since=since, wait=8)
        assert "补录警情" in nudge.text and nudge.button("Done")
        # The scan ran three hours ahead of the clock; the card, drawn now, shows 李四 still waiting.
        shown = await press_and_wait(boss, overdue, "查看完成情况", "完成 1/2")
        assert "⏳ 李四（1002）" in shown.text and "✅ 张三（1001）" in shown.text
        assert shown.button("退回").callback_data == f"tm:ro:{occurrence_id}:"

    async def test_cancelling_this_and_later_times_ends_the_series_and_tells_the_officers(
        self, harness: Harness
    ) -> None:
        """From the card: 取消任务 -> 取消本次及以后; both officers are told; the series is cancelled."""
        users = await station(harness)
        boss = users["S001"]
        card = await give_through_the_flow(boss)
        await users["1001"].wait_for(lambda m: "新任务" in m.text, wait=8)
        await press(boss, card, "取消任务")
        await offers(boss, card, "取消本次及以后")
        await press(boss, current(boss, card), "取消本次及以后")
        await edited(boss, card, "已取消")
        await users["1001"].wait_for(lambda m: "任务已取消" in m.text, wait=8)
        await users["1002"].wait_for(lambda m: "Task cancelled" in m.text, wait=8)
        async with harness.session() as session:
            series = await session.scalar(select(TaskSeries))
            assert series is not None and series.status == "cancelled"
            assert (await session.scalars(select(TaskOccurrence.status))).all() == ["cancelled"]

    async def test_the_creator_finds_the_tasks_they_gave_from_my_tasks(self, harness: Harness) -> None:
        """我的任务 of a supervisor offers 我布置的任务, which lists the task with its progress."""
        users = await station(harness)
        boss = users["S001"]
        await give_through_the_flow(boss)
        mine = await say(boss, "我的任务")
        assert mine.text == "您目前没有待办任务。"
        listing = await press_and_wait(boss, mine, "我布置的任务", "您布置的任务")
        assert "整改执法记录仪未上传问题" in listing.text and "完成0/2" in listing.text
        card = await press_and_wait(boss, listing, "整改执法记录仪", "完成 0/2")
        assert card.button("刷新")

    async def test_the_series_view_shows_each_officers_record(self, harness: Harness) -> None:
        """整个系列 turns the card into the series' per-officer record, and 本次 turns it back."""
        users = await station(harness)
        boss = users["S001"]
        card = await give_through_the_flow(boss)
        await press(boss, card, "整个系列")
        series_card = await edited(boss, card, "整个系列")
        assert "张三（1001） ✅0 ⏳1" in series_card.text and "已进行1次" in series_card.text
        await press(boss, current(boss, card), "本次")
        await edited(boss, card, "完成 0/2")

    async def test_changing_the_title_from_the_card_tells_the_officers(self, harness: Harness) -> None:
        """修改 -> 标题: the new title is on the card and in a message to each officer."""
        users = await station(harness)
        boss = users["S001"]
        card = await give_through_the_flow(boss)
        await users["1001"].wait_for(lambda m: "新任务" in m.text, wait=8)
        await press(boss, card, "修改")
        await offers(boss, card, "紧急程度")
        prompt = await press_and_wait(boss, current(boss, card), "标题", "请输入新标题")
        assert prompt
        since = boss.mark()
        await send(boss, "整改执法记录仪问题（第二轮）")
        await boss.wait_for(lambda m: "已修改" in m.text, since=since)
        await boss.wait_for(lambda m: "（第二轮）" in m.text and "完成 0/2" in m.text, since=since)
        changed = await users["1001"].wait_for(lambda m: "任务已修改" in m.text, wait=8)
        assert "（第二轮）" in changed.text


class TestRestart:
    async def test_a_half_filled_form_survives_a_restart(self, harness: Harness) -> None:
        """Title and assignees typed, the bot restarts, the due time is typed: the flow goes on."""
        users = await station(harness)
        boss = users["S001"]
        await say(boss, "/newtask")
        await say(boss, "季度培训签到")
        since = boss.mark()
        await send(boss, "1001")
        await boss.wait_for(lambda m: "截止时间" in m.text, since=since)
        await harness.restart()
        due = (utcnow() + timedelta(days=3)).astimezone(harness.settings.tz).strftime("%Y-%m-%d 17:00")
        repeat = await say(boss, due)
        assert "多久一次" in repeat.text
        source = await press_and_wait(boss, repeat, "单次任务", "任务来源")
        priority = await press_and_wait(boss, source, "培训", "紧急程度")
        summary = await press_and_wait(boss, priority, "紧急", "请确认任务")
        assert "季度培训签到" in summary.text and "张三（1001）" in summary.text and "17:00" in summary.text

    async def test_a_half_filled_form_survives_a_restart_in_redis(self, make_harness: MakeHarness, redis_url: str) -> None:
        """The same with Redis holding the conversation state."""
        redis = Redis.from_url(redis_url)
        harness = await make_harness(redis=redis)
        try:
            users = await station(harness)
            boss = users["S001"]
            await say(boss, "/newtask")
            asked = await say(boss, "季度培训签到")
            assert "布置给谁" in asked.text
            await harness.restart()
            since = boss.mark()
            await send(boss, "1002")
            await boss.wait_for(lambda m: "截止时间" in m.text, since=since)
            keys = [key async for key in redis.scan_iter(f"{harness.redis_prefix}:*")]
            assert any(key.endswith(b":data") for key in keys)
        finally:
            await harness.stop(close_db=True)
            keys = [key async for key in redis.scan_iter(f"{harness.redis_prefix}*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()


class TestRepeat:
    def test_repeat_names_match_the_flow_buttons(self) -> None:
        """Every rule has a distinct button label (the flow offers all six)."""
        from core.settings import load_settings
        from tasks import texts
        from tasks.recurrence import Recurrence

        settings = load_settings(_env_file=None)
        due = utcnow() + timedelta(days=1)
        labels = {texts.repeat_text(Recurrence.starting(r, due, settings.tz), "zh") for r in Repeat}
        assert len(labels) == len(Repeat)
