"""Giving, completing, sending back, changing and cancelling tasks through the service."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tasks_helpers import Org, local, pushes, pushes_to

from core.audit import AuditEvent
from core.holidays import HolidayCalendar
from core.identity import Officer
from core.settings import Settings
from reminders.models import Case
from tasks import service, texts
from tasks.models import (
    AssignmentStatus,
    OccurrenceStatus,
    SeriesStatus,
    TaskAssignment,
    TaskCompletion,
    TaskOccurrence,
    TaskReopening,
)
from tasks.recurrence import Repeat
from tasks.service import Changes, TaskError, TaskSpec

NOW = local(2026, 3, 2, 9)  # a Monday


def spec(assignees: list[str], **overrides: object) -> TaskSpec:
    """A task due on Wednesday 18:00 unless told otherwise."""
    values: dict[str, object] = {"title": "整改执法记录仪未上传问题", "assignees": assignees, "due": local(2026, 3, 4, 18)}
    values.update(overrides)
    return TaskSpec(**values)  # type: ignore[arg-type]  # test overrides


async def give(
    session: AsyncSession,
    settings: Settings,
    calendar: HolidayCalendar,
    creator: Officer | None,
    task: TaskSpec,
    now: object = NOW,
) -> service.Created:
    """Gives a task as a creator at NOW."""
    return await service.create_task(
        session=session, spec=task, settings=settings, calendar=calendar, creator=creator,
        actor=creator.badge if creator else "cli", now=now,  # type: ignore[arg-type]  # a datetime
    )


async def assignment_of(session: AsyncSession, occurrence_id: int, officer: Officer) -> TaskAssignment:
    """The assignment of an officer on an occurrence."""
    found = await session.scalar(
        select(TaskAssignment).where(
            TaskAssignment.occurrence_id == occurrence_id, TaskAssignment.officer_id == officer.id
        )
    )
    assert found is not None
    return found


class TestGiving:
    async def test_a_unit_reaches_exactly_its_active_officers_and_those_of_its_sub_units(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """城关派出所 means 一中队 and 二中队 too: 1001, 1002, 1003; not the deactivated 1005, nor the
        other station's 1004, nor the supervisor who gives the task."""
        created = await give(session, settings, calendar, org["S001"], spec(["unit:城关派出所"]))
        assert [o.badge for o in created.assignees] == ["1001", "1002", "1003"]
        rows = (
            await session.scalars(
                select(TaskAssignment.officer_id).where(TaskAssignment.occurrence_id == created.occurrence.id)
            )
        ).all()
        assert sorted(rows) == sorted(org[b].id for b in ("1001", "1002", "1003"))
        assert created.series.assignees == ["unit:城关派出所"]

    async def test_a_role_is_expanded_within_the_creators_reach(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """role:officer from the station's supervisor reaches the station; from the legal brigade, the bureau."""
        station = await give(session, settings, calendar, org["S001"], spec(["role:officer"]))
        assert [o.badge for o in station.assignees] == ["1001", "1002", "1003"]
        bureau = await give(session, settings, calendar, org["L001"], spec(["role:民警"]))
        assert [o.badge for o in bureau.assignees] == ["1001", "1002", "1003", "1004"]

    async def test_officers_and_units_beyond_the_creators_reach_are_refused(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """The station's supervisor cannot give work to the other station, by badge or by unit."""
        for target in (["1004"], ["unit:三中队"], ["1001", "1004"]):
            with pytest.raises(TaskError) as raised:
                await give(session, settings, calendar, org["S001"], spec(target))
            assert raised.value.code == "outside"
        admin = await give(session, settings, calendar, org["A001"], spec(["1004"]))
        assert [o.badge for o in admin.assignees] == ["1004"]

    async def test_unknown_names_an_empty_unit_and_an_officer_without_the_role_are_refused(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """A badge or unit nobody knows, only deactivated officers, or a creator who is a plain officer."""
        with pytest.raises(TaskError) as raised:
            await give(session, settings, calendar, org["S001"], spec(["9999", "unit:不存在"]))
        assert raised.value.code == "unknown_assignee" and "9999" in raised.value.detail
        with pytest.raises(TaskError) as raised:
            await give(session, settings, calendar, org["S001"], spec(["1005"]))
        assert raised.value.code == "nobody"
        with pytest.raises(TaskError) as raised:
            await give(session, settings, calendar, org["1001"], spec(["1002"]))
        assert raised.value.code == "not_creator_role"
        assert await pushes(session) == []

    async def test_bad_titles_dates_ends_and_case_numbers_are_refused(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """Empty title, a due time already past, an end before the start, and a case nobody registered."""
        cases = [
            (spec(["1001"], title="  "), "title_empty"),
            (spec(["1001"], due=local(2026, 3, 1, 18)), "due_past"),
            (spec(["1001"], repeat=Repeat.DAILY, until=local(2026, 3, 1).date()), "until_before_due"),
            (spec(["1001"], repeat=Repeat.DAILY, count=0), "bad_count"),
            (spec(["1001"], case_number="A2026-404"), "unknown_case"),
        ]
        for task, code in cases:
            with pytest.raises(TaskError) as raised:
                await give(session, settings, calendar, org["S001"], task)
            assert raised.value.code == code

    async def test_a_known_case_number_is_linked(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """案件跟进 on a registered case keeps its number."""
        session.add(Case(case_number="A2026-7", title="盗窃案", case_type="criminal", officer_id=org["1001"].id))
        await session.flush()
        created = await give(
            session, settings, calendar, org["S001"],
            spec(["1001"], case_number="A2026-7", source=service.Source.CASE),
        )
        assert created.series.case_number == "A2026-7" and created.series.source == "case"

    async def test_every_assignee_is_notified_through_the_outbox_and_the_creation_is_audited(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """One notice per assignee, in their language, with 完成 and 稍后提醒 buttons and the task's topic."""
        created = await give(session, settings, calendar, org["S001"], spec(["1001", "1002"]))
        notices = await pushes(session, kind="task.notice")
        assert [n.officer_id for n in notices] == [org["1001"].id, org["1002"].id]
        zh, en = notices
        assert "新任务" in zh.payload["text"] and "整改执法记录仪未上传问题" in zh.payload["text"]
        assert "New task" in en.payload["text"]
        assignment = await assignment_of(session, created.occurrence.id, org["1001"])
        assert zh.payload["buttons"][0][0]["callback_data"] == f"tk:done:{assignment.id}:"
        assert zh.topic == f"task:{created.occurrence.id}"
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "task.create"))
        assert event is not None and event.actor == "S001"
        assert event.detail["officers"] == ["1001", "1002"]


class TestCompletion:
    async def test_only_an_assignee_can_complete_their_own_part(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """Another officer, or the creator, pressing 完成 on 1001's task is refused; 1001 is not."""
        created = await give(session, settings, calendar, org["S001"], spec(["1001", "1003"]))
        mine = await assignment_of(session, created.occurrence.id, org["1001"])
        for intruder in (org["1003"], org["S001"], org["1002"]):
            with pytest.raises(TaskError) as raised:
                await service.complete(
                    session=session, assignment_id=mine.id, officer=intruder, settings=settings,
                    calendar=calendar, now=NOW,
                )
            assert raised.value.code == "not_assignee"
        done = await service.complete(
            session=session, assignment_id=mine.id, officer=org["1001"], settings=settings, calendar=calendar,
            now=NOW + timedelta(hours=1), note="已上传", photo_file_id="photo-1",
        )
        assert done.status == "done"
        completion = await session.scalar(select(TaskCompletion).where(TaskCompletion.assignment_id == mine.id))
        assert completion is not None and (completion.note, completion.photo_file_id) == ("已上传", "photo-1")
        with pytest.raises(TaskError) as raised:
            await service.complete(
                session=session, assignment_id=mine.id, officer=org["1001"], settings=settings,
                calendar=calendar, now=NOW,
            )
        assert raised.value.code == "already_done"

    async def test_when_everyone_is_done_the_occurrence_closes_and_the_creator_hears_of_it(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """The last completion closes the occurrence and queues one 全部完成 message to the creator."""
        created = await give(session, settings, calendar, org["S001"], spec(["1001", "1003"]))
        for badge in ("1001", "1003"):
            assignment = await assignment_of(session, created.occurrence.id, org[badge])
            await service.complete(
                session=session, assignment_id=assignment.id, officer=org[badge], settings=settings,
                calendar=calendar, now=NOW,
            )
        occurrence = await session.get(TaskOccurrence, created.occurrence.id)
        assert occurrence is not None and occurrence.status == OccurrenceStatus.DONE.value
        assert occurrence.next_escalate_at is None
        told = await pushes_to(session, org["S001"], kind="task.done")
        assert len(told) == 1 and "2/2" in told[0].payload["text"]

    async def test_completing_a_repeating_task_makes_the_next_occurrence_at_once(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """周清: done on Monday, next Wednesday's occurrence exists straight away (and no more)."""
        created = await give(session, settings, calendar, org["S001"], spec(["1001"], repeat=Repeat.WEEKLY))
        assignment = await assignment_of(session, created.occurrence.id, org["1001"])
        await service.complete(
            session=session, assignment_id=assignment.id, officer=org["1001"], settings=settings,
            calendar=calendar, now=NOW,
        )
        dues = (
            await session.scalars(
                select(TaskOccurrence.due_at).where(TaskOccurrence.series_id == created.series.id)
            )
        ).all()
        assert sorted(dues) == [local(2026, 3, 4, 18), local(2026, 3, 11, 18)]

    async def test_an_administrator_completes_for_an_officer_and_the_audit_says_so(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """officer=None is the command line acting as an administrator: on_behalf, actor cli."""
        created = await give(session, settings, calendar, org["S001"], spec(["1001"]))
        assignment = await assignment_of(session, created.occurrence.id, org["1001"])
        await service.complete(
            session=session, assignment_id=assignment.id, officer=None, settings=settings, calendar=calendar,
            now=NOW, note="电话确认已完成", actor="cli",
        )
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "task.done"))
        assert event is not None and event.actor == "cli"
        assert event.detail["on_behalf"] is True and event.detail["as"] == "admin"
        assert event.detail["assignee"] == "1001"


class TestReopening:
    async def test_the_creator_sends_a_completion_back_with_a_reason(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """The assignment is open again, the old completion is kept, the assignee reads the reason."""
        created = await give(session, settings, calendar, org["S001"], spec(["1001"]))
        assignment = await assignment_of(session, created.occurrence.id, org["1001"])
        await service.complete(
            session=session, assignment_id=assignment.id, officer=org["1001"], settings=settings,
            calendar=calendar, now=NOW, note="已整改",
        )
        with pytest.raises(TaskError) as raised:
            await service.reopen(
                session=session, assignment_id=assignment.id, officer=org["1003"], reason="不行",
                settings=settings, calendar=calendar, now=NOW,
            )
        assert raised.value.code == "forbidden"
        with pytest.raises(TaskError) as raised:
            await service.reopen(
                session=session, assignment_id=assignment.id, officer=org["S001"], reason="  ",
                settings=settings, calendar=calendar, now=NOW,
            )
        assert raised.value.code == "reason_empty"
        await service.reopen(
            session=session, assignment_id=assignment.id, officer=org["S001"], reason="照片不清晰，请重新拍摄",
            settings=settings, calendar=calendar, now=NOW + timedelta(hours=2),
        )
        assert assignment.status == "open" and assignment.completion_id is None
        occurrence = await session.get(TaskOccurrence, created.occurrence.id)
        assert occurrence is not None and occurrence.status == "open"
        assert occurrence.next_escalate_at == local(2026, 3, 4, 18)
        reopening = await session.scalar(select(TaskReopening))
        assert reopening is not None and reopening.reason == "照片不清晰，请重新拍摄"
        told = await pushes_to(session, org["1001"], kind="task.change")
        assert "照片不清晰" in told[-1].payload["text"] and "王所长" in told[-1].payload["text"]
        assert len((await session.scalars(select(TaskCompletion))).all()) == 1
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "task.reopen"))
        assert event is not None and event.detail["reason"] == "照片不清晰，请重新拍摄"


class TestChangingAndCancelling:
    async def test_a_change_applies_to_this_and_later_occurrences_only(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """Three weekly occurrences made; changing from the second renames and moves it and the third."""
        created = await give(session, settings, calendar, org["S001"], spec(["1001"], repeat=Repeat.WEEKLY))
        for _ in range(2):
            latest = await session.scalar(
                select(TaskOccurrence).order_by(TaskOccurrence.seq.desc()).limit(1)
            )
            assert latest is not None
            assignment = await assignment_of(session, latest.id, org["1001"])
            await service.complete(
                session=session, assignment_id=assignment.id, officer=org["1001"], settings=settings,
                calendar=calendar, now=NOW,
            )
        occurrences = (await session.scalars(select(TaskOccurrence).order_by(TaskOccurrence.seq))).all()
        assert len(occurrences) == 3
        first, second, third = occurrences
        await service.change(
            session=session, occurrence_id=second.id, officer=org["S001"],
            changes=Changes(title="每周案件清理", due=local(2026, 3, 11, 9, 30)),
            settings=settings, calendar=calendar, now=NOW,
        )
        assert first.title == "整改执法记录仪未上传问题" and first.due_at == local(2026, 3, 4, 18)
        assert second.title == third.title == "每周案件清理"
        assert second.due_at == local(2026, 3, 11, 18)  # second was already done: its due time stays
        assert third.due_at == local(2026, 3, 18, 9, 30)
        assert created.series.due_time == "09:30"
        told = await pushes_to(session, org["1001"], kind="task.change")
        assert told and "每周案件清理" in told[-1].payload["text"]
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "task.change"))
        assert event is not None and event.detail["after"]["title"] == "每周案件清理"

    async def test_changing_the_assignees_notifies_newcomers_and_releases_those_taken_off(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """From 1001+1002 to 1002+1003: 1003 gets the notice, 1001 is told it is no longer theirs."""
        created = await give(session, settings, calendar, org["S001"], spec(["1001", "1002"]))
        await service.change(
            session=session, occurrence_id=created.occurrence.id, officer=org["S001"],
            changes=Changes(assignees=["1002", "1003"]), settings=settings, calendar=calendar, now=NOW,
        )
        released = await assignment_of(session, created.occurrence.id, org["1001"])
        assert released.status == AssignmentStatus.REMOVED.value
        assert len(await pushes_to(session, org["1003"], kind="task.notice")) == 1
        assert "无需再办理" in (await pushes_to(session, org["1001"], kind="task.change"))[-1].payload["text"]
        with pytest.raises(TaskError) as raised:
            await service.complete(
                session=session, assignment_id=released.id, officer=org["1001"], settings=settings,
                calendar=calendar, now=NOW,
            )
        assert raised.value.code == "closed"

    async def test_a_refused_change_leaves_the_task_as_it_was(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """A new title with an unknown assignee is refused as a whole: the title stays, nobody is told."""
        created = await give(session, settings, calendar, org["S001"], spec(["1001"]))
        before = len(await pushes(session))
        with pytest.raises(TaskError) as raised:
            await service.change(
                session=session, occurrence_id=created.occurrence.id, officer=org["S001"],
                changes=Changes(title="新标题", assignees=["9999"]), settings=settings, calendar=calendar, now=NOW,
            )
        assert raised.value.code == "unknown_assignee"
        assert created.series.title == created.occurrence.title == "整改执法记录仪未上传问题"
        assert len(await pushes(session)) == before
        assert await session.scalar(select(AuditEvent).where(AuditEvent.action == "task.change")) is None

    async def test_only_the_creator_or_an_administrator_changes_or_cancels(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """Another supervisor, or the assignee, may not touch the task; an administrator may."""
        created = await give(session, settings, calendar, org["S001"], spec(["1001"]))
        for stranger in (org["B001"], org["1001"]):
            with pytest.raises(TaskError) as raised:
                await service.change(
                    session=session, occurrence_id=created.occurrence.id, officer=stranger,
                    changes=Changes(title="x"), settings=settings, calendar=calendar, now=NOW,
                )
            assert raised.value.code == "forbidden"
        await service.cancel(
            session=session, occurrence_id=created.occurrence.id, officer=org["A001"], following=False,
            settings=settings, calendar=calendar, now=NOW,
        )
        assert created.occurrence.status == "cancelled"

    async def test_cancelling_from_an_occurrence_on_ends_the_series(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """取消本次及以后: the open occurrence is cancelled, the series makes no more, the assignee is told."""
        created = await give(session, settings, calendar, org["S001"], spec(["1001"], repeat=Repeat.DAILY))
        cancelled = await service.cancel(
            session=session, occurrence_id=created.occurrence.id, officer=org["S001"], following=True,
            settings=settings, calendar=calendar, now=NOW,
        )
        assert [o.id for o in cancelled] == [created.occurrence.id]
        assert created.series.status == SeriesStatus.CANCELLED.value
        assignment = await assignment_of(session, created.occurrence.id, org["1001"])
        assert assignment.status == "cancelled" and assignment.next_remind_at is None
        told = await pushes_to(session, org["1001"], kind="task.change")
        assert "取消" in told[-1].payload["text"]
        made = await service.advance(
            session=session, series=created.series, settings=settings, calendar=calendar, now=local(2026, 3, 9)
        )
        assert made == []

    async def test_cancelling_only_this_time_makes_the_next_one(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """取消本次 on a daily task: the next day's occurrence is made, as after a completion."""
        created = await give(session, settings, calendar, org["S001"], spec(["1001"], repeat=Repeat.DAILY))
        await service.cancel(
            session=session, occurrence_id=created.occurrence.id, officer=org["S001"], following=False,
            settings=settings, calendar=calendar, now=NOW,
        )
        dues = (await session.scalars(select(TaskOccurrence.due_at).order_by(TaskOccurrence.seq))).all()
        assert dues == [local(2026, 3, 4, 18), local(2026, 3, 5, 18)]
        assert created.series.status == "active"


class TestProgressAndCards:
    async def test_the_creators_card_shows_each_assignee_and_is_edited_in_place_on_completion(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """A remembered card gets an outbox edit of its message (edit_message_id) when 1001 completes."""
        created = await give(session, settings, calendar, org["S001"], spec(["1001", "1003"]))
        progress = await service.occurrence_progress(
            session=session, occurrence_id=created.occurrence.id, settings=settings, now=NOW, officer=org["S001"]
        )
        assert [(r.badge, r.state) for r in progress.rows] == [("1001", "open"), ("1003", "open")]
        await service.remember_card(
            session=session, officer=org["S001"], scope="occurrence", target_id=created.occurrence.id,
            message_id=4242, now=NOW,
        )
        assignment = await assignment_of(session, created.occurrence.id, org["1001"])
        await service.complete(
            session=session, assignment_id=assignment.id, officer=org["1001"], settings=settings,
            calendar=calendar, now=NOW + timedelta(minutes=5), note="已完成",
        )
        edits = await pushes_to(session, org["S001"], kind="task.card")
        assert len(edits) == 1
        assert edits[0].payload["edit_message_id"] == 4242
        assert "完成 1/2" in edits[0].payload["text"] and "已完成" in edits[0].payload["text"]
        with pytest.raises(TaskError) as raised:
            await service.occurrence_progress(
                session=session, occurrence_id=created.occurrence.id, settings=settings, now=NOW,
                officer=org["1003"],
            )
        assert raised.value.code == "forbidden"

    async def test_the_series_view_counts_each_officers_record(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """Daily, three times made: 张三 on time once and late once, 李四 never; the worst record first."""
        from tasks.schedule import scan

        created = await give(session, settings, calendar, org["S001"], spec(["1001", "1002"], repeat=Repeat.DAILY))
        first = created.occurrence
        await service.complete(
            session=session, assignment_id=(await assignment_of(session, first.id, org["1001"])).id,
            officer=org["1001"], settings=settings, calendar=calendar, now=local(2026, 3, 4, 12),
        )
        await scan(session=session, now=local(2026, 3, 4, 18), settings=settings, calendar=calendar)
        second = await session.scalar(select(TaskOccurrence).where(TaskOccurrence.seq == 2))
        assert second is not None
        await service.complete(
            session=session, assignment_id=(await assignment_of(session, second.id, org["1001"])).id,
            officer=org["1001"], settings=settings, calendar=calendar, now=local(2026, 3, 5, 19),
        )
        await scan(session=session, now=local(2026, 3, 5, 19), settings=settings, calendar=calendar)
        view = await service.series_progress(
            session=session, series_id=created.series.id, settings=settings, calendar=calendar,
            now=local(2026, 3, 5, 20), officer=org["S001"],
        )
        assert view.made == 3
        assert [(t.badge, t.done, t.late, t.open, t.overdue) for t in view.officers] == [
            ("1002", 0, 0, 1, 2),
            ("1001", 2, 1, 1, 0),
        ]
        assert [(r.seq, r.done, r.total) for r in view.recent] == [(3, 0, 2), (2, 1, 2), (1, 1, 2)]
        assert view.next_due == local(2026, 3, 6, 18)
        text = texts.series_text(view, "zh", settings.tz)
        assert "李四（1002） ✅0 ⏳1 🔴2" in text and "张三（1001） ✅2 ⌛1 ⏳1" in text

    async def test_my_tasks_lists_open_ones_by_due_time_with_overdue_marked(
        self, session: AsyncSession, settings: Settings, calendar: HolidayCalendar, org: Org
    ) -> None:
        """Two tasks for 1001; at Thursday noon the Wednesday one is overdue and listed first."""
        await give(session, settings, calendar, org["S001"], spec(["1001"], title="周五任务", due=local(2026, 3, 6, 18)))
        await give(session, settings, calendar, org["S001"], spec(["1001"], title="周三任务"))
        items, total = await service.my_tasks(
            session=session, officer=org["1001"], settings=settings, now=local(2026, 3, 5, 12)
        )
        assert total == 2
        assert [(i.facts.title, i.state) for i in items] == [("周三任务", "overdue"), ("周五任务", "open")]
