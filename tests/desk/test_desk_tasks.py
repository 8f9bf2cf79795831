"""Tasks on the desk: giving a task or a series, polite refusals keeping what was typed, completion
per assignee, and the overview's overdue tasks in the viewer's units."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from core import identity
from core.audit import AuditEvent
from core.db import utcnow
from core.holidays import load_calendar
from core.outbox import OutboxMessage
from tasks import service
from tasks.models import TaskAssignment, TaskOccurrence, TaskSeries
from tasks.recurrence import Repeat
from tasks.spec import TaskSpec
from tests.desk.conftest import DeskHarness


async def _station(desk: DeskHarness) -> None:
    """A station with its supervisor S1 and two officers; another station with its own supervisor."""
    await desk.add_officer("S1", name="赵所长", roles=("officer", "supervisor"), unit="城关派出所", parent="城关分局")
    await desk.add_officer("P1", name="张伟", unit="城关派出所", parent="城关分局", telegram_user_id=901)
    await desk.add_officer("P2", name="王芳", unit="城关派出所", parent="城关分局", telegram_user_id=902)
    await desk.add_officer("S2", name="钱所长", roles=("officer", "supervisor"), unit="东关派出所", parent="城关分局")


def _tomorrow(desk: DeskHarness) -> str:
    return (utcnow() + timedelta(days=1)).astimezone(desk.settings.tz).date().isoformat()


async def _count(desk: DeskHarness, model: type, *where: object) -> int:
    async with desk.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


class TestGiving:
    async def test_a_task_for_a_unit_reaches_each_officer(self, desk: DeskHarness) -> None:
        """A supervisor gives a task to the station: one assignment and one notice per officer."""
        await _station(desk)
        client = await desk.signed_in("S1")
        done = await desk.post(client, "/tasks", {
            "title": "整改执法记录仪使用问题", "assignees": "P1, P2", "due_date": _tomorrow(desk), "due_time": "17:00",
            "repeat": "none", "priority": "high", "source": "rectification",
        }, page="/tasks/new")
        assert done.status_code == 303 and "done=given" in done.headers["location"]
        async with desk.session() as session:
            occurrence = (await session.scalars(select(TaskOccurrence))).one()
            notices = (await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "task.notice"))).all()
        assert len(notices) == 2 and await _count(desk, TaskAssignment) == 2
        page = await client.get(done.headers["location"])
        assert "任务已布置给 2 名民警" in page.text and "张伟" in page.text and "王芳" in page.text
        assert f"/tasks/{occurrence.id}" in done.headers["location"]
        assert await _count(desk, AuditEvent, AuditEvent.action == "task.create") == 1
        assert await _count(desk, AuditEvent, AuditEvent.action == "desk.task_given") == 1

    async def test_a_weekly_series_shows_its_record_across_occurrences(self, desk: DeskHarness) -> None:
        """A repeating task is a series; its page shows the tally across the series."""
        await _station(desk)
        client = await desk.signed_in("S1")
        done = await desk.post(client, "/tasks", {
            "title": "周清案件", "assignees": "unit:城关派出所", "due_date": _tomorrow(desk), "repeat": "weekly", "count": "4",
        }, page="/tasks/new")
        assert done.status_code == 303
        async with desk.session() as session:
            series = (await session.scalars(select(TaskSeries))).one()
        assert series.repeat == "weekly" and series.max_count == 4
        page = await client.get(done.headers["location"])
        assert "整个系列" in page.text and "每周" in page.text

    async def test_bad_input_is_explained_and_kept(self, desk: DeskHarness) -> None:
        """No title, nobody named, an unknown badge or a past due time: explained, typed values kept, nothing given."""
        await _station(desk)
        client = await desk.signed_in("S1")
        empty = await desk.post(client, "/tasks", {"title": "", "assignees": "", "due_date": ""}, page="/tasks/new")
        assert empty.status_code == 400 and "请填写任务对象" in empty.text and "请填写截止日期" in empty.text
        unknown = await desk.post(client, "/tasks", {"title": "学习新法", "assignees": "X999", "due_date": _tomorrow(desk)},
                                  page="/tasks/new")
        assert unknown.status_code == 400 and "X999" in unknown.text and 'value="学习新法"' in unknown.text
        past = (utcnow() - timedelta(days=2)).astimezone(desk.settings.tz).date().isoformat()
        late = await desk.post(client, "/tasks", {"title": "学习新法", "assignees": "P1", "due_date": past}, page="/tasks/new")
        assert late.status_code == 400 and "已过" in late.text
        untitled = await desk.post(client, "/tasks", {"title": " ", "assignees": "P1", "due_date": _tomorrow(desk)},
                                   page="/tasks/new")
        assert untitled.status_code == 400 and "请填写标题" in untitled.text
        assert await _count(desk, TaskSeries) == 0 and await _count(desk, OutboxMessage) == 0

    async def test_officers_outside_the_givers_units_are_refused(self, desk: DeskHarness) -> None:
        """A station supervisor cannot give a task to another station's unit."""
        await _station(desk)
        client = await desk.signed_in("S1")
        refused = await desk.post(client, "/tasks", {"title": "学习新法", "assignees": "unit:东关派出所",
                                                     "due_date": _tomorrow(desk)}, page="/tasks/new")
        assert refused.status_code == 400 and "超出您可布置任务的单位范围" in refused.text


class TestProgress:
    async def test_completion_per_assignee_and_overdue_on_the_overview(self, desk: DeskHarness) -> None:
        """One officer completes, the other is overdue: the page and list say so, the overview counts one."""
        await _station(desk)
        now = utcnow()
        async with desk.session() as session:
            creator = await identity.get_officer(session=session, badge="S1")
            spec = TaskSpec(title="上报辖区矛盾纠纷", assignees=["P1", "P2"], due=now - timedelta(hours=2), repeat=Repeat.NONE)
            made = await service.create_task(session=session, spec=spec, settings=desk.settings,
                                             calendar=load_calendar(desk.settings), creator=creator, actor="S1",
                                             now=now - timedelta(days=1), past_ok=True)
            first = await identity.get_officer(session=session, badge="P1")
            assert first is not None
            mine = (await session.scalars(select(TaskAssignment).where(TaskAssignment.officer_id == first.id))).one()
            await service.complete(session=session, assignment_id=mine.id, officer=first, settings=desk.settings,
                                   calendar=load_calendar(desk.settings), now=now, note="已上报三起")
        client = await desk.signed_in("S1")
        page = await client.get(f"/tasks/{made.occurrence.id}")
        assert "完成情况：1 / 2" in page.text and "已上报三起" in page.text
        assert 'data-badge="P2"' in page.text and "已超期" in page.text
        listed = await client.get("/tasks", params={"state": "overdue"})
        assert "上报辖区矛盾纠纷" in listed.text and "1/2" in listed.text
        assert "上报辖区矛盾纠纷" not in (await client.get("/tasks", params={"state": "done"})).text
        overview = await client.get("/")
        assert 'data-slot="tasks"' in overview.text and "上报辖区矛盾纠纷" in overview.text and "1 人未完成" in overview.text
        # The other station's supervisor sees no overdue task of theirs, and cannot open this one.
        other = await desk.signed_in("S2")
        assert "您的单位没有逾期任务" in (await other.get("/")).text
        assert (await other.get(f"/tasks/{made.occurrence.id}")).status_code == 404


class TestAccess:
    async def test_the_rights_office_is_refused_and_forms_need_their_token(self, desk: DeskHarness) -> None:
        """Tasks are for supervisors, the legal brigade and admins; a form without its CSRF token is refused."""
        await _station(desk)
        await desk.add_officer("R1", roles=("officer", "rights"), unit="城关分局")
        rights = await desk.signed_in("R1")
        assert (await rights.get("/tasks")).status_code == 403
        assert (await rights.get("/tasks/new")).status_code == 403
        client = await desk.signed_in("S1")
        refused = await client.post("/tasks", data={"title": "学习新法", "assignees": "P1", "due_date": _tomorrow(desk)})
        assert refused.status_code == 403 and await _count(desk, TaskSeries) == 0
