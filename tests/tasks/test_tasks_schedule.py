"""The task scan with frozen time: occurrences as they come due, reminders, escalation, the loop."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tasks_helpers import Org, build_org, local, pushes, pushes_to

from core.db import utcnow
from core.holidays import HolidayCalendar
from core.identity import Officer
from core.settings import Settings, load_settings
from tasks import schedule, service
from tasks.models import TaskAssignment, TaskOccurrence, TaskSeries
from tasks.progress import ScanReport
from tasks.recurrence import Repeat
from tasks.schedule import run_task_loop, scan
from tasks.service import TaskSpec


async def give(
    session: AsyncSession,
    settings: Settings,
    calendar: HolidayCalendar,
    creator: Officer | None,
    *,
    assignees: list[str],
    due: datetime,
    now: datetime,
    repeat: Repeat = Repeat.NONE,
    title: str = "上传执法记录仪视频",
    **extra: Any,
) -> service.Created:
    """Gives a task at ``now``."""
    return await service.create_task(
        session=session,
        spec=TaskSpec(title=title, assignees=assignees, due=due, repeat=repeat, **extra),
        settings=settings,
        calendar=calendar,
        creator=creator,
        actor=creator.badge if creator else "cli",
        now=now,
        past_ok=creator is None,
    )


async def run(session: AsyncSession, settings: Settings, calendar: HolidayCalendar, now: datetime) -> ScanReport:
    """One scan at ``now``."""
    return await scan(session=session, now=now, settings=settings, calendar=calendar)


async def dues(session: AsyncSession, series_id: int) -> list[str]:
    """The due times of a series' occurrences, local, in order."""
    rows = await session.scalars(
        select(TaskOccurrence.due_at).where(TaskOccurrence.series_id == series_id).order_by(TaskOccurrence.seq)
    )
    return [d.astimezone(local(2026, 1, 1).tzinfo).strftime("%m-%d %a %H:%M") for d in rows]


async def complete(
    session: AsyncSession, settings: Settings, calendar: HolidayCalendar, occurrence_id: int, officer: Officer,
    now: datetime,
) -> None:
    """Completes an officer's part of an occurrence."""
    assignment = await session.scalar(
        select(TaskAssignment).where(
            TaskAssignment.occurrence_id == occurrence_id, TaskAssignment.officer_id == officer.id
        )
    )
    assert assignment is not None
    await service.complete(
        session=session, assignment_id=assignment.id, officer=officer, settings=settings, calendar=calendar, now=now
    )


class TestOccurrences:
    async def test_a_working_day_series_crosses_the_holiday_week_and_works_the_make_up_saturday(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """日结 at 18:00 from Tue 29 Sep: each due time makes the next, past National Day, to Sat 10 Oct."""
        with time_machine.travel(local(2026, 9, 29, 10), tick=False):
            created = await give(
                session, settings, calendar, org["S001"], assignees=["1001"], due=local(2026, 9, 29, 18),
                now=utcnow(), repeat=Repeat.WORKDAYS,
            )
            assert await dues(session, created.series.id) == ["09-29 Tue 18:00"]
        for day in ((9, 29), (9, 30), (10, 8), (10, 9)):
            with time_machine.travel(local(2026, *day, 18, 1), tick=False):
                report = await run(session, settings, calendar, utcnow())
                assert report.occurrences_created == 1
        assert await dues(session, created.series.id) == [
            "09-29 Tue 18:00",
            "09-30 Wed 18:00",
            "10-08 Thu 18:00",
            "10-09 Fri 18:00",
            "10-10 Sat 18:00",
        ]

    async def test_only_the_next_occurrence_exists_and_a_missed_one_stays_overdue(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """A daily task: no row ahead of time; the missed Monday stays, overdue, beside Tuesday's."""
        created = await give(
            session, settings, calendar, org["S001"], assignees=["1001"], due=local(2026, 3, 2, 18),
            now=local(2026, 3, 2, 9), repeat=Repeat.DAILY,
        )
        await run(session, settings, calendar, local(2026, 3, 2, 17, 59))
        assert await dues(session, created.series.id) == ["03-02 Mon 18:00"]
        await run(session, settings, calendar, local(2026, 3, 2, 18, 0))
        assert await dues(session, created.series.id) == ["03-02 Mon 18:00", "03-03 Tue 18:00"]
        items, total = await service.my_tasks(
            session=session, officer=org["1001"], settings=settings, now=local(2026, 3, 3, 9)
        )
        assert total == 2
        assert [(i.facts.due, i.state) for i in items] == [
            (local(2026, 3, 2, 18), "overdue"),
            (local(2026, 3, 3, 18), "open"),
        ]
        rows = await service.list_rows(session=session, settings=settings, now=local(2026, 3, 3, 9), status="overdue")
        assert [(r["assignee_badge"], r["due"]) for r in rows] == [("1001", "2026-03-02T18:00:00+08:00")]

    async def test_a_scan_after_downtime_makes_every_missed_occurrence_once(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """Down from Monday to Thursday morning: Tue and Wed are made (overdue) and Thu; a rerun adds nothing."""
        created = await give(
            session, settings, calendar, org["S001"], assignees=["1001"], due=local(2026, 3, 2, 18),
            now=local(2026, 3, 2, 9), repeat=Repeat.DAILY,
        )
        first = await run(session, settings, calendar, local(2026, 3, 5, 9))
        again = await run(session, settings, calendar, local(2026, 3, 5, 9))
        assert (first.occurrences_created, again.occurrences_created) == (3, 0)
        assert await dues(session, created.series.id) == [
            "03-02 Mon 18:00", "03-03 Tue 18:00", "03-04 Wed 18:00", "03-05 Thu 18:00",
        ]

    async def test_a_series_ends_after_its_count_and_another_on_its_end_date(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """Weekly twice: two occurrences then ended; weekly until 16 March: three, then ended."""
        twice = await give(
            session, settings, calendar, org["S001"], assignees=["1001"], due=local(2026, 3, 2, 18),
            now=local(2026, 3, 2, 9), repeat=Repeat.WEEKLY, count=2,
        )
        until = await give(
            session, settings, calendar, org["S001"], assignees=["1002"], due=local(2026, 3, 2, 18),
            now=local(2026, 3, 2, 9), repeat=Repeat.WEEKLY, until=local(2026, 3, 16).date(),
        )
        for week in range(5):
            await run(session, settings, calendar, local(2026, 3, 2, 18) + timedelta(weeks=week, minutes=1))
        assert await dues(session, twice.series.id) == ["03-02 Mon 18:00", "03-09 Mon 18:00"]
        assert await dues(session, until.series.id) == ["03-02 Mon 18:00", "03-09 Mon 18:00", "03-16 Mon 18:00"]
        for series_id in (twice.series.id, until.series.id):
            series = await session.get(TaskSeries, series_id)
            assert series is not None and series.status == "ended"


class TestReminders:
    async def test_reminds_a_day_and_two_hours_before_and_on_the_due_time_once_each(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """Given Monday for Wednesday 18:00: Tue 18:00, Wed 16:00 and Wed 18:00; repeated scans add nothing."""
        await give(
            session, settings, calendar, org["S001"], assignees=["1001"], due=local(2026, 3, 4, 18),
            now=local(2026, 3, 2, 9),
        )
        moments = [
            (local(2026, 3, 3, 17, 59), 0),
            (local(2026, 3, 3, 18, 0), 1),
            (local(2026, 3, 3, 18, 30), 0),
            (local(2026, 3, 4, 16, 0), 1),
            (local(2026, 3, 4, 18, 0), 1),
            (local(2026, 3, 4, 18, 1), 0),
        ]
        for moment, expected in moments:
            report = await run(session, settings, calendar, moment)
            assert report.reminders == expected, moment
        texts = [row.payload["text"] for row in await pushes_to(session, org["1001"], kind="task.remind")]
        assert len(texts) == 3
        assert "任务提醒" in texts[0] and "还有24小时" in texts[0]
        assert "还有2小时" in texts[1]
        assert "任务已到截止时间" in texts[2]
        buttons = (await pushes_to(session, org["1001"], kind="task.remind"))[0].payload["buttons"]
        assert buttons[0][0]["callback_data"].startswith("tk:done:")

    async def test_a_daily_task_is_not_reminded_a_day_ahead(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """The second occurrence opens at the first's due time: only the 2-hour and due-time reminders."""
        created = await give(
            session, settings, calendar, org["S001"], assignees=["1001"], due=local(2026, 3, 2, 18),
            now=local(2026, 3, 2, 9), repeat=Repeat.DAILY,
        )
        await complete(session, settings, calendar, created.occurrence.id, org["1001"], local(2026, 3, 2, 12))
        for hour in range(12, 43):
            await run(session, settings, calendar, local(2026, 3, 2, 0) + timedelta(hours=hour))
        reminded = [r.payload["text"] for r in await pushes_to(session, org["1001"], kind="task.remind")]
        assert len(reminded) == 2
        assert "还有2小时" in reminded[0] and "任务已到截止时间" in reminded[1]

    async def test_a_scan_after_downtime_sends_only_the_latest_reminder(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """First scan after the due time: one due-time reminder, not the three missed ones."""
        await give(
            session, settings, calendar, org["S001"], assignees=["1001"], due=local(2026, 3, 4, 18),
            now=local(2026, 3, 2, 9),
        )
        report = await run(session, settings, calendar, local(2026, 3, 4, 18, 5))
        assert report.reminders == 1
        (only,) = await pushes_to(session, org["1001"], kind="task.remind")
        assert "任务已到截止时间" in only.payload["text"]

    async def test_remind_me_later_replaces_the_reminders_before_it_but_never_the_due_time(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """Snoozed at 15:30 for an hour: no 16:00 reminder, one at 16:30, and the 18:00 one still comes."""
        created = await give(
            session, settings, calendar, org["S001"], assignees=["1001"], due=local(2026, 3, 4, 18),
            now=local(2026, 3, 4, 9),
        )
        assignment = await session.scalar(
            select(TaskAssignment).where(TaskAssignment.occurrence_id == created.occurrence.id)
        )
        assert assignment is not None
        now = local(2026, 3, 4, 15, 30)
        until = service.snooze_until("1h", now=now, settings=settings)
        await service.snooze(
            session=session, assignment_id=assignment.id, officer=org["1001"], until=until, settings=settings, now=now
        )
        assert assignment.next_remind_at == local(2026, 3, 4, 16, 30)
        counts = [
            (await run(session, settings, calendar, moment)).reminders
            for moment in (local(2026, 3, 4, 16), local(2026, 3, 4, 16, 30), local(2026, 3, 4, 18))
        ]
        assert counts == [0, 1, 1]

    async def test_nothing_is_reminded_once_the_task_is_done(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """Completed on Tuesday: no reminder on Wednesday."""
        created = await give(
            session, settings, calendar, org["S001"], assignees=["1001"], due=local(2026, 3, 4, 18),
            now=local(2026, 3, 2, 9),
        )
        await complete(session, settings, calendar, created.occurrence.id, org["1001"], local(2026, 3, 3, 10))
        for moment in (local(2026, 3, 4, 16), local(2026, 3, 4, 18), local(2026, 3, 5, 18)):
            assert (await run(session, settings, calendar, moment)).reminders == 0


class TestEscalation:
    async def test_at_the_due_time_the_creator_learns_who_has_not_completed(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """张三 done; 李四 and 王五 not: the creator's message names them, not him, with view and remind."""
        created = await give(
            session, settings, calendar, org["S001"], assignees=["1001", "1002", "1003"],
            due=local(2026, 3, 4, 18), now=local(2026, 3, 2, 9),
        )
        await complete(session, settings, calendar, created.occurrence.id, org["1001"], local(2026, 3, 4, 17))
        assert (await run(session, settings, calendar, local(2026, 3, 4, 17, 59))).escalations == 0
        assert (await run(session, settings, calendar, local(2026, 3, 4, 18))).escalations == 1
        (told,) = await pushes_to(session, org["S001"], kind="task.escalate")
        text = told.payload["text"]
        assert "任务超期" in text and "未完成2/3" in text
        assert "李四" in text and "王五" in text and "张三" not in text
        actions = [b["callback_data"] for b in told.payload["buttons"][0]]
        assert actions == [f"tm:v:{created.occurrence.id}:", f"tm:n:{created.occurrence.id}:"]
        assert await pushes_to(session, org["B001"], kind="task.escalate") == []

    async def test_after_the_configured_delay_the_creators_supervisor_hears_of_it(
        self, session: AsyncSession, calendar: HolidayCalendar, org: Org, settings: Settings
    ) -> None:
        """With a 2-hour delay: at 20:00 the bureau's supervisor (above the station's) is told, once."""
        later = load_settings(
            data_dir=settings.data_dir, _env_file=None, task_supervisor_escalation_hours=2
        )
        created = await give(
            session, later, calendar, org["S001"], assignees=["1001"], due=local(2026, 3, 4, 18),
            now=local(2026, 3, 2, 9),
        )
        await run(session, later, calendar, local(2026, 3, 4, 18))
        assert await pushes_to(session, org["B001"], kind="task.escalate") == []
        await run(session, later, calendar, local(2026, 3, 4, 19, 59))
        assert await pushes_to(session, org["B001"], kind="task.escalate") == []
        await run(session, later, calendar, local(2026, 3, 4, 20))
        await run(session, later, calendar, local(2026, 3, 5, 20))
        (told,) = await pushes_to(session, org["B001"], kind="task.escalate")
        assert "超期任务督办" in told.payload["text"] and "王所长" in told.payload["text"]
        occurrence = await session.get(TaskOccurrence, created.occurrence.id)
        assert occurrence is not None and occurrence.escalation_level == 2 and occurrence.next_escalate_at is None

    async def test_a_task_completed_in_time_is_not_escalated(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """Everyone done before 18:00: nobody hears of it, then or a day later."""
        created = await give(
            session, settings, calendar, org["S001"], assignees=["1001"], due=local(2026, 3, 4, 18),
            now=local(2026, 3, 2, 9),
        )
        await complete(session, settings, calendar, created.occurrence.id, org["1001"], local(2026, 3, 4, 12))
        for moment in (local(2026, 3, 4, 18), local(2026, 3, 5, 18, 1)):
            assert (await run(session, settings, calendar, moment)).escalations == 0
        assert await pushes(session, kind="task.escalate") == []

    async def test_several_overdue_tasks_reach_their_creator_as_one_digest(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """Two tasks overdue in the same pass: one message listing both, a view button for each."""
        first = await give(
            session, settings, calendar, org["S001"], assignees=["1001"], due=local(2026, 3, 4, 17),
            now=local(2026, 3, 2, 9), title="任务甲",
        )
        second = await give(
            session, settings, calendar, org["S001"], assignees=["1003"], due=local(2026, 3, 4, 18),
            now=local(2026, 3, 2, 9), title="任务乙",
        )
        await run(session, settings, calendar, local(2026, 3, 4, 18, 30))
        (digest,) = await pushes_to(session, org["S001"], kind="task.escalate")
        assert "2项任务已超期" in digest.payload["text"]
        assert digest.payload["text"].index("任务甲") < digest.payload["text"].index("任务乙")
        views = [row[0]["callback_data"] for row in digest.payload["buttons"]]
        assert views == [f"tm:v:{first.occurrence.id}:", f"tm:v:{second.occurrence.id}:"]

    async def test_a_task_imported_without_a_creator_escalates_to_the_assignees_supervisors(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """No creator: 一中队's officer is overdue, so the station's supervisor hears of it (no buttons)."""
        await give(
            session, settings, calendar, None, assignees=["1001"], due=local(2026, 3, 4, 18), now=local(2026, 3, 2, 9)
        )
        await run(session, settings, calendar, local(2026, 3, 4, 18))
        (told,) = await pushes_to(session, org["S001"], kind="task.escalate")
        assert "超期任务督办" in told.payload["text"] and "张三" in told.payload["text"]
        assert told.payload.get("buttons") is None


class TestLoop:
    async def test_the_loop_scans_at_once_and_stops_when_asked(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings, calendar: HolidayCalendar
    ) -> None:
        """Started after a due time, the first pass escalates and the loop ends on stop."""
        async with sessions() as session:
            org = await build_org(session)
            await give(
                session, settings, calendar, org["S001"], assignees=["1001"], due=local(2026, 3, 4, 18),
                now=local(2026, 3, 2, 9),
            )
            await session.commit()
        stop = asyncio.Event()
        passes: list[ScanReport] = []

        async def counting(**kwargs: Any) -> ScanReport:
            report = await scan(**kwargs)
            passes.append(report)
            stop.set()
            return report

        with time_machine.travel(local(2026, 3, 4, 18, 5), tick=False):
            await asyncio.wait_for(
                run_task_loop(
                    sessions=sessions, settings=settings, calendar=calendar, stop=stop, interval_seconds=60,
                    scan_once=counting,
                ),
                timeout=10,
            )
        assert len(passes) == 1 and passes[0].escalations == 1
        async with sessions() as session:
            assert len(await pushes(session, kind="task.escalate")) == 1

    async def test_a_pass_that_hits_its_limit_is_followed_by_another_at_once(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        calendar: HolidayCalendar,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Limited to one row a pass, three overdue tasks are escalated in back-to-back passes, not a
        minute apart (the loop's interval here is an hour)."""
        monkeypatch.setattr(schedule, "SCAN_LIMIT", 1)
        async with sessions() as session:
            org = await build_org(session)
            for hour in (15, 16, 17):
                await give(
                    session, settings, calendar, org["S001"], assignees=["1001"], due=local(2026, 3, 4, hour),
                    now=local(2026, 3, 2, 9), title=f"任务{hour}",
                )
            await session.commit()
        stop = asyncio.Event()
        escalated: list[int] = []

        async def counting(**kwargs: Any) -> ScanReport:
            report = await scan(**kwargs)
            escalated.append(report.escalations)
            if sum(escalated) >= 3:
                stop.set()
            return report

        with time_machine.travel(local(2026, 3, 4, 18), tick=False):
            await asyncio.wait_for(
                run_task_loop(
                    sessions=sessions, settings=settings, calendar=calendar, stop=stop, interval_seconds=3600,
                    scan_once=counting,
                ),
                timeout=10,
            )
        assert escalated[:3] == [1, 1, 1]
