"""Reminder timing, escalation, rendering, and the scan's dedupe through the real outbox table."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from reminders_helpers import TZ, local, rows
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import identity
from core.outbox import OutboxMessage
from core.settings import Settings
from reminders.cases import import_cases
from reminders.messages import ReminderFacts, render_reminder
from reminders.models import Deadline
from reminders.planning import current_slot, next_check, next_slot
from reminders.rules import ReminderPlan, RuleSet
from reminders.schedule import scan

PLAN = ReminderPlan(offsets=[-7, -3, -1, 0], overdue_every=1, supervisor_from=0, legal_from=1)
DUE = datetime(2026, 3, 20, 23, 59, 59, tzinfo=TZ)


class TestDailySlots:
    def test_nothing_fires_before_seven_days_ahead(self) -> None:
        """On 13 March 07:59 the first reminder (T-7 at 08:00) has not fired yet."""
        assert current_slot(DUE, local(2026, 3, 13, 7, 59), PLAN, hourly=False, tz=TZ) is None

    @pytest.mark.parametrize(
        ("now", "label"),
        [
            (local(2026, 3, 13, 8, 0), "d-7"),
            (local(2026, 3, 16, 23, 0), "d-7"),
            (local(2026, 3, 17, 8, 0), "d-3"),
            (local(2026, 3, 19, 9, 0), "d-1"),
            (local(2026, 3, 20, 8, 0), "d0"),
            (local(2026, 3, 21, 7, 59), "d0"),
            (local(2026, 3, 21, 8, 0), "d+1"),
            (local(2026, 3, 25, 12, 0), "d+5"),
        ],
    )
    def test_the_latest_fired_offset_is_current(self, now: datetime, label: str) -> None:
        """T-7, T-3, T-1 and the due day at 08:00, then one a day while overdue."""
        slot = current_slot(DUE, now, PLAN, hourly=False, tz=TZ)
        assert slot is not None and slot.label == label

    def test_the_next_slot_follows_the_plan_into_overdue_days(self) -> None:
        """After T-1 comes the due day, after the due day the next morning, and so on."""
        assert next_slot(DUE, local(2026, 3, 19, 8), PLAN, hourly=False, tz=TZ).at == local(2026, 3, 20, 8)
        assert next_slot(DUE, local(2026, 3, 20, 8), PLAN, hourly=False, tz=TZ).at == local(2026, 3, 21, 8)
        assert next_slot(DUE, local(2026, 3, 23, 9), PLAN, hourly=False, tz=TZ).label == "d+4"

    def test_a_snooze_cannot_skip_the_due_day_reminder(self) -> None:
        """Snoozed on T-1 until two days later, the due-day reminder still comes on time."""
        nxt = next_check(
            DUE, local(2026, 3, 19, 9), PLAN, hourly=False, tz=TZ, snoozed_until=local(2026, 3, 21, 8)
        )
        assert nxt == local(2026, 3, 20, 8)

    def test_a_snooze_postpones_early_reminders(self) -> None:
        """Snoozed at T-7 until T-2, the T-3 reminder is skipped and the scan looks again at T-2."""
        until = local(2026, 3, 18, 8)
        assert next_check(DUE, local(2026, 3, 13, 9), PLAN, hourly=False, tz=TZ, snoozed_until=until) == until


class TestHourlySlots:
    def test_hour_rules_remind_four_and_one_hour_ahead_then_escalate_then_slow_down(self) -> None:
        """A 12-hour summons due 22:00: 18:00, 21:00, 22:00, then +1 h and +3 h, then every 12 hours."""
        due = local(2026, 3, 3, 22)
        plan = ReminderPlan(offsets=[-4, -1, 0], overdue=[1, 3], overdue_every=12, supervisor_from=-1, legal_from=1)
        labels = []
        for when in (
            local(2026, 3, 3, 17, 5),
            local(2026, 3, 3, 18, 5),
            local(2026, 3, 3, 21, 5),
            local(2026, 3, 3, 22, 5),
            local(2026, 3, 3, 23, 5),
            local(2026, 3, 4, 0, 5),
            local(2026, 3, 4, 1, 5),
            local(2026, 3, 4, 12, 59),
            local(2026, 3, 4, 13, 5),
            local(2026, 3, 5, 1, 5),
        ):
            slot = current_slot(due, when, plan, hourly=True, tz=TZ)
            labels.append(slot.label if slot else None)
        assert labels == [None, "h-4", "h-1", "h0", "h+1", "h+1", "h+3", "h+3", "h+15", "h+27"]
        following = next_slot(due, local(2026, 3, 4, 1, 5), plan, hourly=True, tz=TZ)
        assert following is not None and following.at == local(2026, 3, 4, 13)

    def test_an_hour_limit_long_past_stops_repeating(self) -> None:
        """With overdue_until 72 the last reminder is +63 h; after it the scan no longer looks."""
        due = local(2026, 3, 3, 22)
        plan = ReminderPlan(offsets=[-1, 0], overdue=[1, 3], overdue_every=12, overdue_until=72)
        last = current_slot(due, local(2026, 3, 10, 9), plan, hourly=True, tz=TZ)
        assert last is not None and last.label == "h+63"
        assert next_check(due, local(2026, 3, 6, 14), plan, hourly=True, tz=TZ, snoozed_until=None) is None

    def test_every_bundled_hour_rule_has_a_bounded_overdue_cadence(self, rules: RuleSet) -> None:
        """No hour limit reminds everyone every hour once it has run out."""
        for rule in rules.rules:
            if rule.hourly:
                assert rule.reminders.overdue and rule.reminders.overdue_every >= 4, rule.id
                assert rule.reminders.overdue_until is not None, rule.id


class TestRender:
    def test_a_reminder_names_case_measure_deadline_time_left_article_and_three_tips(self) -> None:
        """The Chinese text follows the legal brigade's wording, escapes HTML and lists at most three tips."""
        facts = ReminderFacts(
            case_number="A<1>",
            title="孙某某涉嫌<盗窃>案",
            measure="取保候审",
            deadline="2026-03-20",
            left=3,
            hourly=False,
            article="刑事诉讼法第七十九条",
            officer_name="王",
            officer_badge="1001",
        )
        text = render_reminder(facts, audience="officer", language="zh", tips=["一", "<二>", "三", "四"])
        assert (
            "您办理的<b>孙某某涉嫌&lt;盗窃&gt;案</b>（A&lt;1&gt;），取保候审于<b>2026-03-20</b>到期。" in text
        )
        assert "还剩3天。" in text and "请依法及时处理。" in text
        assert "法律依据：刑事诉讼法第七十九条" in text
        assert "以下是同类案件执法风险提示：\n1. 一\n2. &lt;二&gt;\n3. 三" in text
        assert "四" not in text

    def test_english_officers_read_english(self) -> None:
        """The same reminder in English, for an overdue deadline."""
        facts = ReminderFacts(
            case_number="A1",
            title="Theft",
            measure="bail pending trial",
            deadline="2026-03-20",
            left=-2,
            hourly=False,
            article="刑事诉讼法第七十九条",
            officer_name="Wang",
            officer_badge="1001",
        )
        text = render_reminder(facts, audience="supervisor", language="en", tips=[])
        assert "Case deadline for your supervision" in text
        assert "handled by Wang（1001）" in text
        assert "Overdue by 2 day(s)." in text
        assert "Risk tips" not in text


async def _org(session: AsyncSession, make_officer):  # type: ignore[no-untyped-def]  # shared fixture
    """A bureau with a team, a supervisor, a legal brigade, and a second bureau's legal officer."""
    await identity.add_unit(session=session, name="城关分局")
    await identity.add_unit(session=session, name="刑侦大队", parent="城关分局")
    await identity.add_unit(session=session, name="一中队", parent="刑侦大队")
    await identity.add_unit(session=session, name="法制大队", parent="城关分局")
    await identity.add_unit(session=session, name="另一分局")
    return {
        "officer": await make_officer(badge="1001", unit="一中队"),
        "english": await make_officer(badge="1003", unit="一中队", language="en"),
        "supervisor": await make_officer(badge="2001", unit="刑侦大队", roles=("officer", "supervisor")),
        "legal": await make_officer(badge="3001", unit="法制大队", roles=("legal",)),
        "stranger": await make_officer(badge="3999", unit="另一分局", roles=("legal",)),
    }


async def _bail(
    session: AsyncSession, settings: Settings, badge: str = "1001", number: str = "A1"
) -> Deadline:
    """Imports a bail decision of 20 March 2025: its 12 months end on 20 March 2026 (a Friday)."""
    report = await import_cases(
        session=session,
        settings=settings,
        now=local(2025, 3, 21),
        rows=rows((number, "孙某某涉嫌<盗窃>案", "criminal", badge, "取保候审", "2025-03-20")),
    )
    assert report.ok, report.errors
    deadline = await session.scalar(
        select(Deadline).where(Deadline.rule_id == "bail").order_by(Deadline.id.desc())
    )
    assert deadline is not None and deadline.due_at == DUE
    return deadline


async def _outbox(session: AsyncSession) -> list[OutboxMessage]:
    return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


class TestScan:
    async def test_seven_days_before_bail_expires_the_officer_is_reminded_once(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,
        tips: Callable[[str], list[str]],  # type: ignore[no-untyped-def]  # shared fixture
    ) -> None:
        """One message with the three buttons; scanning again at once queues nothing."""
        org = await _org(session, make_officer)
        deadline = await _bail(session, settings)
        report = await scan(session=session, now=local(2026, 3, 13, 8, 5), settings=settings, risk_tips=tips)
        assert (report.checked, report.enqueued) == (1, 1)
        [message] = await _outbox(session)
        assert message.officer_id == org["officer"].id
        assert message.dedupe_key == f"reminder:{deadline.id}:202603202359:d-7:{org['officer'].id}"
        assert message.urgent is False
        assert "还剩7天" in message.payload["text"] and "&lt;盗窃&gt;" in message.payload["text"]
        assert "取保候审风险提示一" in message.payload["text"]
        buttons = [b["callback_data"] for row in message.payload["buttons"] for b in row]
        assert buttons == [f"rem:done:{deadline.id}:", f"rem:ext:{deadline.id}:", f"rem:snz:{deadline.id}:"]
        again = await scan(session=session, now=local(2026, 3, 13, 8, 20), settings=settings, risk_tips=tips)
        assert (again.checked, again.enqueued) == (0, 0)
        assert len(await _outbox(session)) == 1

    async def test_a_rescan_after_a_crash_is_deduplicated_by_the_outbox(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,
        tips: Callable[[str], list[str]],  # type: ignore[no-untyped-def]  # shared fixture
    ) -> None:
        """If the deadline's progress was lost, the dedupe key still stops a second message."""
        await _org(session, make_officer)
        deadline = await _bail(session, settings)
        await scan(session=session, now=local(2026, 3, 17, 8, 5), settings=settings, risk_tips=tips)
        await session.execute(
            update(Deadline)
            .where(Deadline.id == deadline.id)
            .values(next_remind_at=local(2026, 3, 1), last_planned=None)
        )
        report = await scan(session=session, now=local(2026, 3, 17, 9), settings=settings, risk_tips=tips)
        assert (report.messages, report.enqueued, report.duplicates) == (1, 0, 1)
        assert len(await _outbox(session)) == 1

    async def test_a_late_import_sends_only_the_latest_reminder(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,
        tips: Callable[[str], list[str]],  # type: ignore[no-untyped-def]  # shared fixture
    ) -> None:
        """First scanned the day before the deadline: only T-1 goes out, not T-7 and T-3 as well."""
        await _org(session, make_officer)
        await _bail(session, settings)
        report = await scan(session=session, now=local(2026, 3, 19, 10), settings=settings, risk_tips=tips)
        assert [p.offset for p in report.planned] == ["d-1"]
        assert report.enqueued == 1

    async def test_escalates_to_the_supervisor_on_the_due_day_and_the_legal_brigade_after(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,
        tips: Callable[[str], list[str]],  # type: ignore[no-untyped-def]  # shared fixture
    ) -> None:
        """Due day: officer + nearest supervisor; T+1: also the legal brigade of the same bureau only."""
        org = await _org(session, make_officer)
        await _bail(session, settings)
        due_day = await scan(session=session, now=local(2026, 3, 20, 8, 1), settings=settings, risk_tips=tips)
        assert due_day.planned[0].recipients == ["1001", "2001"]
        assert due_day.planned[0].urgent
        overdue = await scan(session=session, now=local(2026, 3, 21, 8, 1), settings=settings, risk_tips=tips)
        assert overdue.planned[0].recipients == ["1001", "2001", "3001"]
        assert overdue.planned[0].days_left == -1
        messages = await _outbox(session)
        by_officer = {(m.officer_id, m.dedupe_key.split(":")[3]) for m in messages}
        assert (org["legal"].id, "d+1") in by_officer
        assert all(m.officer_id != org["stranger"].id for m in messages)
        legal_text = next(m for m in messages if m.officer_id == org["legal"].id).payload["text"]
        assert "案件期限超期提醒（法制大队）" in legal_text and "已超期1天" in legal_text
        assert "buttons" not in next(m for m in messages if m.officer_id == org["legal"].id).payload
        second = await scan(session=session, now=local(2026, 3, 22, 8, 1), settings=settings, risk_tips=tips)
        assert second.planned[0].offset == "d+2" and second.enqueued == 3

    async def test_the_case_supervisor_named_in_the_import_is_preferred(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,
        tips: Callable[[str], list[str]],  # type: ignore[no-untyped-def]  # shared fixture
    ) -> None:
        """A supervisor_badge on the case replaces the unit's supervisors."""
        await _org(session, make_officer)
        await make_officer(badge="2002", unit="法制大队", roles=("supervisor",))
        await import_cases(
            session=session,
            settings=settings,
            now=local(2025, 3, 21),
            rows=rows(("A1", "案", "criminal", "1001", "取保候审", "2025-03-20")),
        )
        await import_cases(
            session=session,
            settings=settings,
            now=local(2025, 3, 21),
            rows=rows(
                ("A1", "案", "criminal", "1001", "取保候审", "2025-03-20"),
                extra={0: {"supervisor_badge": "2002"}},
            ),
        )
        report = await scan(session=session, now=local(2026, 3, 20, 9), settings=settings, risk_tips=tips)
        assert report.planned[0].recipients == ["1001", "2002"]

    async def test_risk_tips_are_fetched_once_per_topic_per_scan(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,
        tips: Callable[[str], list[str]],  # type: ignore[no-untyped-def]  # shared fixture
    ) -> None:
        """Two bail deadlines due together ask the knowledge base once; English officers read English."""
        org = await _org(session, make_officer)
        await _bail(session, settings, number="A1")
        await _bail(session, settings, badge="1003", number="A2")
        report = await scan(session=session, now=local(2026, 3, 17, 8, 30), settings=settings, risk_tips=tips)
        assert report.enqueued == 2
        assert tips.calls == {"取保候审": 1}  # type: ignore[attr-defined]  # set by the fixture
        english = next(m for m in await _outbox(session) if m.officer_id == org["english"].id)
        assert "Your case" in english.payload["text"] and "bail pending trial" in english.payload["text"]
        assert "3 day(s) left." in english.payload["text"]

    async def test_a_dry_run_writes_nothing(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,
        tips: Callable[[str], list[str]],  # type: ignore[no-untyped-def]  # shared fixture
    ) -> None:
        """A preview reports what would go out and leaves the outbox and deadlines alone."""
        await _org(session, make_officer)
        deadline = await _bail(session, settings)
        before = deadline.next_remind_at
        report = await scan(
            session=session, now=local(2026, 3, 20, 23), settings=settings, risk_tips=tips, dry_run=True
        )
        assert report.planned[0].as_json()["recipients"] == ["1001", "2001"]
        assert report.messages == 2 and report.enqueued == 0
        await session.refresh(deadline)
        assert deadline.next_remind_at == before
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0

    async def test_an_hour_rule_reminds_in_hours_and_tells_the_supervisor_an_hour_ahead(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,
        tips: Callable[[str], list[str]],  # type: ignore[no-untyped-def]  # shared fixture
    ) -> None:
        """An administrative summons at 14:30 (8 hours): T-2h to the officer, T-1h also to the supervisor."""
        await _org(session, make_officer)
        await import_cases(
            session=session,
            settings=settings,
            now=local(2026, 3, 3, 15),
            rows=rows(("X1", "殴打他人案", "public_order", "1001", "传唤", "2026-03-03 14:30")),
        )
        first = await scan(session=session, now=local(2026, 3, 3, 20, 31), settings=settings, risk_tips=tips)
        assert [(p.offset, p.hours_left, p.recipients) for p in first.planned] == [("h-2", 2, ["1001"])]
        second = await scan(session=session, now=local(2026, 3, 3, 21, 30), settings=settings, risk_tips=tips)
        assert [(p.offset, p.recipients) for p in second.planned] == [("h-1", ["1001", "2001"])]
        texts = [m.payload["text"] for m in await _outbox(session)]
        assert "2026-03-03 22:30" in texts[-1] and "还剩1小时" in texts[-1]
        assert all(m.urgent for m in await _outbox(session))

    async def test_deadlines_of_removed_rules_stop_being_scanned(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,
        tips: Callable[[str], list[str]],
        rules: RuleSet,  # type: ignore[no-untyped-def]  # shared fixture
    ) -> None:
        """If the legal brigade deletes a rule, its open deadlines are reported and left alone."""
        await _org(session, make_officer)
        deadline = await _bail(session, settings)
        without_bail = rules.model_copy(update={"rules": [r for r in rules.rules if r.id != "bail"]})
        report = await scan(
            session=session, now=local(2026, 3, 20, 9), settings=settings, risk_tips=tips, rules=without_bail
        )
        assert report.unknown_rules == ["bail"] and report.enqueued == 0
        await session.refresh(deadline)
        assert deadline.next_remind_at is None


def test_next_check_is_strictly_after_now() -> None:
    """A scan exactly at a repeat time plans the following one, never the same instant."""
    now = local(2026, 3, 22, 8)
    assert next_check(DUE, now, PLAN, hourly=False, tz=TZ, snoozed_until=None) == now + timedelta(days=1)


class TestDigests:
    async def test_a_supervisor_hears_of_many_cases_in_one_digest(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,  # type: ignore[no-untyped-def]  # shared fixture
        tips: Callable[[str], list[str]],
    ) -> None:
        """Three cases overdue the same morning: three officer messages, one digest each for the
        supervisor and the legal officer, most overdue first; a forced rescan queues none again."""
        org = await _org(session, make_officer)
        for number in ("A1", "A2", "A3"):
            await _bail(session, settings, number=number)
        await import_cases(
            session=session,
            settings=settings,
            now=local(2025, 3, 21),
            rows=rows(("A0", "更早的案件", "criminal", "1001", "取保候审", "2025-03-18")),
        )
        report = await scan(session=session, now=local(2026, 3, 21, 8, 1), settings=settings, risk_tips=tips)
        assert len(report.planned) == 4
        messages = await _outbox(session)
        by_officer: dict[int, list[OutboxMessage]] = {}
        for message in messages:
            by_officer.setdefault(message.officer_id, []).append(message)
        assert len(by_officer[org["officer"].id]) == 4
        [digest] = by_officer[org["supervisor"].id]
        assert digest.dedupe_key.startswith(f"reminder-digest:{org['supervisor'].id}:")
        text = digest.payload["text"]
        assert text.startswith("🔔 <b>4项案件期限督办提醒</b>")
        assert text.index("更早的案件") < text.index("A1")
        assert "已超期3天" in text and "请督促依法及时处理。" in text
        [legal] = by_officer[org["legal"].id]
        assert "4项案件期限超期提醒（法制大队）" in legal.payload["text"]
        await session.execute(update(Deadline).values(next_remind_at=local(2026, 3, 1), last_planned=None))
        forced = await scan(session=session, now=local(2026, 3, 21, 8, 1), settings=settings, risk_tips=tips)
        assert (forced.enqueued, forced.duplicates) == (0, 6)


class TestLongTips:
    async def test_long_risk_tips_are_cut_so_the_reminder_fits_telegram(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,  # type: ignore[no-untyped-def]  # shared fixture
    ) -> None:
        """Three 3,000-character tips would exceed 4096 characters; each is cut to 400."""
        await _org(session, make_officer)
        await _bail(session, settings)
        report = await scan(
            session=session,
            now=local(2026, 3, 13, 9),
            settings=settings,
            risk_tips=lambda topic: ["长" * 3000] * 3,
        )
        assert report.enqueued == 1
        [message] = await _outbox(session)
        assert len(message.payload["text"]) < 2000 and "长…" in message.payload["text"]


class TestOverdueHourLimits:
    async def test_a_day_of_hourly_scans_over_an_overdue_summons_sends_a_handful_of_messages(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,  # type: ignore[no-untyped-def]  # shared fixture
        tips: Callable[[str], list[str]],
    ) -> None:
        """Overdue for 24 hours, scanned every 15 minutes: the due hour, +1 h, +3 h, +15 h; not 24 rounds."""
        org = await _org(session, make_officer)
        await import_cases(
            session=session,
            settings=settings,
            now=local(2026, 3, 3, 10, 30),
            rows=rows(("X1", "殴打他人案", "public_order", "1001", "传唤", "2026-03-03 10:00")),
        )
        due = local(2026, 3, 3, 18)
        when = due
        offsets = []
        while when <= due + timedelta(hours=24):
            report = await scan(session=session, now=when, settings=settings, risk_tips=tips)
            offsets += [p.offset for p in report.planned]
            when += timedelta(minutes=15)
        assert offsets == ["h0", "h+1", "h+3", "h+15"]
        messages = await _outbox(session)
        legal = [m for m in messages if m.officer_id == org["legal"].id]
        assert len(legal) == 3  # escalated from +1 h, then at the bounded cadence


class TestWhatRemindersSay:
    async def test_custody_reminders_say_by_when_the_extension_request_must_go(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,  # type: ignore[no-untyped-def]  # shared fixture
        tips: Callable[[str], list[str]],
    ) -> None:
        """Arrested 10 Jan 2026, custody ends 10 Mar: T-14 and T-10 name 3 Mar; T-7 says today is the last day."""
        await _org(session, make_officer)
        await import_cases(
            session=session,
            settings=settings,
            now=local(2026, 1, 11),
            rows=rows(("A1", "甲案", "criminal", "1001", "逮捕", "2026-01-10 09:00")),
        )
        texts = {}
        for day in (24, 28):
            report = await scan(session=session, now=local(2026, 2, day, 8, 5), settings=settings, risk_tips=tips)
            texts[day] = report
        await scan(session=session, now=local(2026, 3, 3, 8, 5), settings=settings, risk_tips=tips)
        custody = [
            m.payload["text"]
            for m in await _outbox(session)
            if "逮捕后侦查羁押期限" in m.payload["text"] and m.officer_id
        ]
        assert [p.offset for p in texts[24].planned if p.rule == "custody_after_arrest"] == ["d-14"]
        assert "须于<b>2026-03-03</b>前送出" in custody[0] and "上一级人民检察院批准" in custody[0]
        assert "须于<b>2026-03-03</b>前送出" in custody[1]
        assert "今天是送出提请延长意见书" in custody[2]
        assert "公安机关办理刑事案件程序规定第一百四十八条" in custody[2]

    async def test_a_provisional_date_says_so(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,  # type: ignore[no-untyped-def]  # shared fixture
        tips: Callable[[str], list[str]],
    ) -> None:
        """Filed 10 Dec 2026: 30 days end on Saturday 9 Jan 2027, a year with no schedule: not moved, provisional."""
        await _org(session, make_officer)
        await import_cases(
            session=session,
            settings=settings,
            now=local(2026, 12, 10, 12),
            rows=rows(("X1", "案", "public_order", "1001", "立案", "2026-12-10")),
        )
        deadline = await session.scalar(select(Deadline))
        assert deadline is not None and deadline.provisional
        assert deadline.due_at.astimezone(TZ).date().isoformat() == "2027-01-09"
        await scan(session=session, now=local(2027, 1, 2, 8, 5), settings=settings, risk_tips=tips)
        [message] = await _outbox(session)
        assert "暂定日期：2027年的节假日安排尚未录入" in message.payload["text"]

    async def test_the_maximum_of_bail_says_why_it_is_not_moved_and_reminds_half_way(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,  # type: ignore[no-untyped-def]  # shared fixture
        tips: Callable[[str], list[str]],
    ) -> None:
        """Bail of 20 Mar 2025: a reminder half-way (18 Sep 2025), and every one states the rule and article."""
        await _org(session, make_officer)
        await _bail(session, settings)
        report = await scan(session=session, now=local(2025, 9, 18, 8, 5), settings=settings, risk_tips=tips)
        assert [p.offset for p in report.planned] == ["d-183"]
        [message] = await _outbox(session)
        text = message.payload["text"]
        assert "还剩183天" in text and "不因节假日顺延" in text and "刑事诉讼法第七十九条" in text

    async def test_a_paused_clock_is_reminded_weekly_with_a_resume_button(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,  # type: ignore[no-untyped-def]  # shared fixture
        tips: Callable[[str], list[str]],
    ) -> None:
        """A public-order case paused for 鉴定 on 5 Feb: no countdown, one note a week, a button to resume."""
        await _org(session, make_officer)
        await import_cases(
            session=session,
            settings=settings,
            now=local(2026, 2, 6),
            rows=rows(
                ("X1", "案", "public_order", "1001", "立案", "2026-02-01"),
                ("X1", "案", "public_order", "1001", "鉴定开始", "2026-02-05"),
            ),
        )
        offsets = []
        for day in range(6, 27):
            report = await scan(session=session, now=local(2026, 2, day, 9), settings=settings, risk_tips=tips)
            offsets += [p.offset for p in report.planned]
        assert offsets == ["p1", "p2", "p3"]  # 13, 19 and 26 Feb: weeks counted from the pause
        first = (await _outbox(session))[0]
        assert "案件期限暂停计算" in first.payload["text"] and "自2026-02-05起暂停计算" in first.payload["text"]
        assert any(b["callback_data"].startswith("rem:res:") for row in first.payload["buttons"] for b in row)

    async def test_a_deadline_under_review_says_so(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,  # type: ignore[no-untyped-def]  # shared fixture
        tips: Callable[[str], list[str]],
    ) -> None:
        """A bail decided twice: the officer's reminder says the first period still counts, under review."""
        await _org(session, make_officer)
        await _bail(session, settings)
        await import_cases(
            session=session,
            settings=settings,
            now=local(2026, 1, 5),
            rows=rows(("A1", "孙某某涉嫌<盗窃>案", "criminal", "1001", "取保候审", "2026-01-05")),
        )
        await scan(session=session, now=local(2026, 3, 13, 8, 5), settings=settings, risk_tips=tips)
        officer_text = next(
            m.payload["text"] for m in await _outbox(session) if m.dedupe_key.startswith("reminder:")
        )
        assert "已再次录入" in officer_text and "法制大队正在核查" in officer_text


class TestEscalationChain:
    async def test_with_no_legal_brigade_up_the_chain_every_legal_officer_hears(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,  # type: ignore[no-untyped-def]  # shared fixture
        tips: Callable[[str], list[str]],
    ) -> None:
        """An overdue deadline in a bureau without a legal brigade still reaches the legal brigades."""
        org = await _org(session, make_officer)
        await make_officer(badge="5001", unit="另一分局")
        await import_cases(
            session=session,
            settings=settings,
            now=local(2025, 3, 21),
            rows=rows(("B1", "案", "criminal", "5001", "取保候审", "2025-03-20")),
        )
        report = await scan(session=session, now=local(2026, 3, 21, 8, 5), settings=settings, risk_tips=tips)
        assert report.planned[0].recipients == ["5001", "3999"]
        assert org["stranger"].badge == "3999"

    async def test_the_legal_brigade_beside_the_stations_of_a_bureau_is_found(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,  # type: ignore[no-untyped-def]  # shared fixture
        tips: Callable[[str], list[str]],
    ) -> None:
        """城关分局 -> 法制大队 and 城关分局 -> 刑侦大队 -> 一中队: the team's overdue deadline goes to 3001 only."""
        org = await _org(session, make_officer)
        await _bail(session, settings)
        report = await scan(session=session, now=local(2026, 3, 21, 8, 5), settings=settings, risk_tips=tips)
        assert report.planned[0].recipients == ["1001", "2001", "3001"]
        assert org["legal"].badge == "3001"


class TestLateImports:
    async def test_a_heads_up_that_fired_long_ago_is_not_sent_late(
        self,
        session: AsyncSession,
        settings: Settings,
        make_officer,  # type: ignore[no-untyped-def]  # shared fixture
        tips: Callable[[str], list[str]],
    ) -> None:
        """Bail imported 80 days before its end: the half-way reminder (months ago) is skipped; T-30 comes."""
        await _org(session, make_officer)
        await _bail(session, settings)
        first = await scan(session=session, now=local(2025, 12, 30, 9), settings=settings, risk_tips=tips)
        assert first.checked == 1 and first.planned == [] and await _outbox(session) == []
        later = await scan(session=session, now=local(2026, 2, 18, 8, 5), settings=settings, risk_tips=tips)
        assert [p.offset for p in later.planned] == ["d-30"]
