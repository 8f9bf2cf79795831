"""Reminders end to end: a scan queues a reminder, the outbox delivers it, the officer answers by button."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from core.db import utcnow
from core.tabular import Row
from reminders.cases import import_cases
from reminders.models import Deadline
from reminders.schedule import scan
from tests.e2e.conftest import Harness, SimUser


def _no_tips(_topic: str) -> list[str]:
    return []


async def _detained_case(harness: Harness, *, flags: str = "") -> tuple[SimUser, int]:
    """Enrolls officer 1001, imports a detention two days ago, scans, and waits for the reminder."""
    await harness.add_officer("1001", name="王警官")
    officer = await harness.enroll(701, "1001")
    detained = (datetime.now(harness.settings.tz) - timedelta(days=2)).strftime("%Y-%m-%d 10:00")
    async with harness.session() as session:
        report = await import_cases(
            session=session,
            settings=harness.settings,
            rows=[
                Row(
                    line=2,
                    values={
                        "case_number": "A2026-7",
                        "case_title": "孙某某涉嫌<盗窃>案",
                        "case_type": "criminal",
                        "officer_badge": "1001",
                        "event": "刑事拘留",
                        "event_date": detained,
                        "flags": flags,
                    },
                )
            ],
        )
        assert report.ok, report.errors
        # The first-day duties (custody centre, family, interrogation) are done: only the request is left.
        await session.execute(
            update(Deadline)
            .where(Deadline.rule_id == "detention_first_day")
            .values(status="done", outcome="done", next_remind_at=None)
        )
        deadline = await session.scalar(select(Deadline).where(Deadline.rule_id == "detention_arrest_request"))
        assert deadline is not None
        scanned = await scan(session=session, now=utcnow(), settings=harness.settings, risk_tips=_no_tips)
        assert scanned.enqueued == 1
    await officer.wait_for(lambda m: "案件期限提醒" in m.text, wait=10)
    return officer, deadline.id


async def _deadline(harness: Harness, deadline_id: int) -> Deadline:
    """Reads a deadline once the bot has finished (and committed) every update."""
    await harness.server.wait_idle()
    async with harness.session() as session:
        found = await session.get(Deadline, deadline_id)
        assert found is not None
        return found


class TestReminderButtons:
    async def test_the_officer_marks_a_delivered_reminder_handled(self, harness: Harness) -> None:
        """已处理 -> 已提请批准逮捕: the deadline is done, the buttons disappear, the text says so."""
        officer, deadline_id = await _detained_case(harness)
        reminder = next(m for m in officer.messages if "案件期限提醒" in m.text)
        assert "孙某某涉嫌&lt;盗窃&gt;案" in reminder.text and "刑事诉讼法第九十一条" in reminder.text
        await officer.press(reminder, "已处理")
        await officer.wait_for(
            lambda m: m.message_id == reminder.message_id and "已提请批准逮捕" in str(m.reply_markup)
        )
        await officer.press(officer.messages[officer.messages.index(reminder)], "已提请批准逮捕")
        edited = await officer.wait_for(
            lambda m: m.message_id == reminder.message_id and "已标记为已处理" in m.text
        )
        assert edited.buttons() == []
        done = await _deadline(harness, deadline_id)
        assert (done.status, done.outcome) == ("done", "arrest")

    async def test_the_officer_extends_by_a_quick_choice_and_by_a_typed_date(self, harness: Harness) -> None:
        """延长2日 works at once; a typed date beyond the legal maximum is refused politely, then fixed."""
        officer, deadline_id = await _detained_case(harness)
        reminder = next(m for m in officer.messages if "案件期限提醒" in m.text)
        await officer.press(reminder, "已延长")
        await officer.wait_for(
            lambda m: m.message_id == reminder.message_id and "延长2日" in str(m.reply_markup)
        )
        assert "30日" not in str(officer.messages[officer.messages.index(reminder)].reply_markup)
        await officer.press(officer.messages[officer.messages.index(reminder)], "延长2日")
        asked = await officer.wait_for(lambda m: m.message_id == reminder.message_id and "请确认" in m.text)
        assert "特殊情况" in asked.text and "县级以上公安机关负责人批准" in asked.text
        await officer.press(asked, "确认无误")
        await officer.wait_for(lambda m: m.message_id == reminder.message_id and "已延长" in m.text)
        first = await _deadline(harness, deadline_id)
        assert first.status == "extended" and first.extended_to is not None
        assert (first.extended_to - first.due_at) == timedelta(days=2)

        card = await officer.say("/reminders")
        assert "您的案件期限" in card.text and "A2026-7" in card.text
        since = officer.mark()
        await officer.press(card, "孙某某")
        shown = await officer.wait_for(lambda m: "案件期限提醒" in m.text, since=since)
        await officer.press(shown, "已延长")
        await officer.wait_for(
            lambda m: m.message_id == shown.message_id and "输入日期" in str(m.reply_markup)
        )
        since = officer.mark()
        await officer.press(officer.messages[officer.messages.index(shown)], "输入日期")
        prompt = await officer.wait_for(lambda m: "请输入新的期限" in m.text, since=since)
        assert "YYYY-MM-DD" in prompt.text
        hint = await officer.say("下周一")
        assert "请按2026-03-15的格式输入日期" in hint.text
        too_late = (datetime.now(harness.settings.tz) + timedelta(days=40)).strftime("%Y-%m-%d")
        refusal = await officer.say(too_late)
        assert "法律规定最长至" in refusal.text
        fine = (first.starts_at.astimezone(harness.settings.tz) + timedelta(days=7)).strftime("%Y-%m-%d")
        asked = await officer.say(fine)
        assert "请确认" in asked.text and fine in asked.text
        await officer.press(asked, "确认无误")
        accepted = await officer.wait_for(lambda m: m.message_id == asked.message_id and "已延长" in m.text)
        assert fine in accepted.text
        final = await _deadline(harness, deadline_id)
        assert final.extended_to is not None
        assert final.extended_to.astimezone(harness.settings.tz).strftime("%Y-%m-%d") == fine

    async def test_the_officer_snoozes_a_reminder_for_four_hours(self, harness: Harness) -> None:
        """稍后提醒 -> 4小时后: the deadline is snoozed and the officer is told when it comes back."""
        officer, deadline_id = await _detained_case(harness)
        reminder = next(m for m in officer.messages if "案件期限提醒" in m.text)
        await officer.press(reminder, "稍后提醒")
        await officer.wait_for(
            lambda m: m.message_id == reminder.message_id and "4小时后" in str(m.reply_markup)
        )
        answer = await officer.press_for_answer(officer.messages[officer.messages.index(reminder)], "4小时后")
        assert "再次提醒您" in answer
        snoozed = await _deadline(harness, deadline_id)
        assert snoozed.snoozed_until is not None
        assert snoozed.snoozed_until > utcnow() + timedelta(hours=3, minutes=55)

    async def test_a_handed_over_case_can_no_longer_be_answered_by_its_old_officer(
        self, harness: Harness
    ) -> None:
        """The 我的提醒 button lists the case; after the case moves to 1002, 1001's old button is refused."""
        officer, _deadline_id = await _detained_case(harness)
        reminder = next(m for m in officer.messages if "案件期限提醒" in m.text)
        listed = await officer.say("我的提醒")
        assert "A2026-7" in listed.text
        await harness.add_officer("1002", name="赵警官")
        other = await harness.enroll(702, "1002")
        empty = await other.say("/reminders")
        assert empty.text == "您目前没有正在计算的案件期限。"
        async with harness.session() as session:
            moved = await import_cases(
                session=session,
                settings=harness.settings,
                rows=[
                    Row(
                        line=2,
                        values={
                            "case_number": "A2026-7",
                            "case_title": "孙某某涉嫌<盗窃>案",
                            "case_type": "criminal",
                            "officer_badge": "1002",
                            "event": "立案",
                            "event_date": datetime.now(harness.settings.tz).strftime("%Y-%m-%d"),
                        },
                    )
                ],
            )
            assert moved.cases_updated == ["A2026-7"]
        assert (await officer.press_for_answer(reminder, "已处理")).startswith("只有办案民警")
        assert "A2026-7" in (await other.say("/reminders")).text
        assert (await officer.say("/reminders")).text == "您目前没有正在计算的案件期限。"


class TestPausesAndReviews:
    async def test_a_public_order_case_is_paused_for_a_hearing_and_resumed_from_the_phone(
        self, harness: Harness
    ) -> None:
        """暂停计时 -> 听证: the clock stops (a case event); 恢复计时 starts it again with a later end."""
        await harness.add_officer("1001", name="王警官")
        officer = await harness.enroll(701, "1001")
        filed = (datetime.now(harness.settings.tz) - timedelta(days=24)).strftime("%Y-%m-%d")
        async with harness.session() as session:
            report = await import_cases(
                session=session,
                settings=harness.settings,
                rows=[
                    Row(
                        line=2,
                        values={
                            "case_number": "X7",
                            "case_title": "李某某殴打他人案",
                            "case_type": "治安",
                            "officer_badge": "1001",
                            "event": "立案",
                            "event_date": filed,
                        },
                    )
                ],
            )
            assert report.ok, report.errors
            deadline = await session.scalar(select(Deadline))
            assert deadline is not None
            # The scan as it runs the day before the end (whatever today's date and holidays make it).
            day_before = deadline.due_at - timedelta(hours=12)
            await scan(session=session, now=day_before, settings=harness.settings, risk_tips=_no_tips)
        reminder = await officer.wait_for(lambda m: "案件期限提醒" in m.text, wait=10)
        await officer.press(reminder, "暂停计时")
        await officer.wait_for(lambda m: m.message_id == reminder.message_id and "听证" in str(m.reply_markup))
        await officer.press(officer.messages[officer.messages.index(reminder)], "听证")
        paused = await officer.wait_for(lambda m: m.message_id == reminder.message_id and "已暂停计时" in m.text)
        assert "恢复计时" in str(paused.reply_markup)
        stopped = await _deadline(harness, deadline.id)
        assert stopped.paused_since is not None
        await officer.press(paused, "恢复计时")
        await officer.wait_for(lambda m: m.message_id == reminder.message_id and "已恢复计时" in m.text)
        running = await _deadline(harness, deadline.id)
        assert running.paused_since is None

    async def test_the_legal_brigade_confirms_a_flagged_second_bail_decision(self, harness: Harness) -> None:
        """A second 取保候审 reaches the legal officer with 已核查, who confirms the first period stands."""
        await harness.add_officer("1001", name="王警官")
        await harness.add_officer("3001", name="法制员", roles=("legal",))
        legal = await harness.enroll(703, "3001")
        today = datetime.now(harness.settings.tz)

        def bail_row(day: datetime) -> Row:
            return Row(
                line=2,
                values={
                    "case_number": "A8",
                    "case_title": "周某某涉嫌诈骗案",
                    "case_type": "criminal",
                    "officer_badge": "1001",
                    "event": "取保候审",
                    "event_date": day.strftime("%Y-%m-%d"),
                },
            )

        async with harness.session() as session:
            assert (await import_cases(session=session, settings=harness.settings, rows=[bail_row(today - timedelta(days=90))])).ok
        async with harness.session() as session:
            assert (await import_cases(session=session, settings=harness.settings, rows=[bail_row(today)])).ok
        request = await legal.wait_for(lambda m: "待法制大队核查" in m.text, wait=10)
        assert "未重新计算" in request.text
        await legal.press(request, "已核查")
        await legal.wait_for(lambda m: m.message_id == request.message_id and "已核查：期限不变" in m.text)
        async with harness.session() as session:
            bail_id = await session.scalar(select(Deadline.id))
        assert bail_id is not None and (await _deadline(harness, bail_id)).reviewed_by == "3001"
