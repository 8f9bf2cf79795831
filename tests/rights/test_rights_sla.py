"""Time limits: working days with the holiday calendar, paused while waiting, reminders and escalation,
per-unit limits (audited), and the retention of evidence. Time is frozen around 2026's National Day
(1-7 October are rest days; Saturday 10 October is a make-up working day)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from rights_helpers import Org, SubmitApp, pushes, sha
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.audit import AuditEvent
from core.holidays import HolidayCalendar
from core.settings import Settings
from rights import custody, service, sla
from rights.access import Operator, RightsError
from rights.evidence import path_for
from rights.models import EvidenceStatus, RightsApplication, RightsEvent, RightsEvidence

TZ = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    """A moment in Beijing time."""
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]  # year, month, day, hour … as given


def end_of(year: int, month: int, day: int) -> datetime:
    """The end of a local day (the next midnight), as the limits store it."""
    return sla.end_of_day(datetime(year, month, day).date(), TZ)


class TestDueMoments:
    def test_a_working_day_limit_skips_the_national_day_holiday(self) -> None:
        """Submitted on 30 September: one working day ends with 8 October, after the holiday."""
        due = sla.due_after(local(2026, 9, 30, 10), key="accept", amount=1, calendar=HolidayCalendar(), tz=TZ)
        assert due == end_of(2026, 10, 8)

    def test_a_make_up_saturday_counts_as_a_working_day(self) -> None:
        """Three working days from 8 October: 9 October (Fri), 10 October (the make-up Saturday), 12 October."""
        due = sla.due_after(local(2026, 10, 8, 9), key="feedback", amount=3, calendar=HolidayCalendar(), tz=TZ)
        assert due == end_of(2026, 10, 12)

    def test_a_day_limit_ending_on_a_rest_day_moves_to_the_next_working_day(self) -> None:
        """Thirty days from 7 September end on 7 October, a holiday: the limit ends with 8 October."""
        due = sla.due_after(local(2026, 9, 7, 9), key="decide", amount=30, calendar=HolidayCalendar(), tz=TZ)
        assert due == end_of(2026, 10, 8)

    def test_a_pause_within_one_day_moves_nothing(self) -> None:
        """Asked and answered the same day: no working day was lost."""
        due = end_of(2026, 10, 12)
        moved = sla.shifted(due, key="accept", paused_from=local(2026, 10, 9, 9), resumed_at=local(2026, 10, 9, 17),
                            calendar=HolidayCalendar(), tz=TZ)
        assert moved == due


class TestPauseWhileWaiting:
    async def test_a_request_before_acceptance_pauses_the_acceptance_limit_across_the_holiday(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """Submitted 30 Sep (due end of 8 Oct); asked for more the same day; answered 9 Oct: the two working
        days waited (8 and 9 Oct) move the limit to the end of Saturday 10 Oct. Nothing is reminded while waiting."""
        with time_machine.travel(local(2026, 9, 30, 10), tick=False):
            application = await submit_app()
        assert application.accept_due_at == end_of(2026, 10, 8)
        with time_machine.travel(local(2026, 9, 30, 11), tick=False):
            await service.request_more(session=session, settings=settings, viewer=org.rights,
                                       application_id=application.id, text="请补充执法记录仪视频", via="t")
            await session.commit()
        before = len(await pushes(session, org.rights))
        with time_machine.travel(local(2026, 10, 8, 12), tick=False):
            report = await sla.scan(session=session, settings=settings)
        assert (report.reminders, report.escalations) == (0, 0)
        assert len(await pushes(session, org.rights)) == before
        with time_machine.travel(local(2026, 10, 9, 10), tick=False):
            await service.reply(session=session, settings=settings, applicant=org.applicant,
                                application_id=application.id, text="视频已上传")
            await session.commit()
        assert application.accept_due_at == end_of(2026, 10, 10)
        reply = await session.scalar(select(RightsEvent).where(RightsEvent.kind == "reply"))
        assert reply is not None and reply.detail["moved"]["accept"]["new"] == end_of(2026, 10, 10).isoformat()

    async def test_the_decision_limit_pauses_by_days_and_lands_on_a_working_day(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """Accepted 29 Sep (decide by end of 29 Oct; first feedback by end of 9 Oct); waiting from 30 Sep to
        Saturday 10 Oct moves the decision by ten days to Sunday 8 Nov, so the end of Monday 9 Nov."""
        with time_machine.travel(local(2026, 9, 29, 9), tick=False):
            application = await submit_app()
        with time_machine.travel(local(2026, 9, 29, 10), tick=False):
            await service.accept(session=session, settings=settings, viewer=org.rights,
                                 application_id=application.id, via="t")
        assert application.feedback_due_at == end_of(2026, 10, 9)
        assert application.decide_due_at == end_of(2026, 10, 29)
        assert application.limits == {"accept": 1, "feedback": 3, "decide": 30}
        with time_machine.travel(local(2026, 9, 30, 15), tick=False):
            await service.request_more(session=session, settings=settings, viewer=org.rights,
                                       application_id=application.id, text="请补充伤情鉴定", via="t")
        assert application.feedback_due_at is None  # the request was the first feedback
        with time_machine.travel(local(2026, 10, 10, 11), tick=False):
            await service.reply(session=session, settings=settings, applicant=org.applicant,
                                application_id=application.id, text="已补充")
        assert application.decide_due_at == end_of(2026, 11, 9)


class TestRemindersAndEscalation:
    async def test_the_office_is_reminded_before_the_limit_and_the_supervisor_told_after_it(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """Submitted 30 Sep: no reminder during the holiday; 24 h before the end of 8 Oct the office is
        reminded; after it, the office hears it is overdue and 县局's supervisor gets an escalation naming no
        facts. Each goes out once."""
        with time_machine.travel(local(2026, 9, 30, 10), tick=False):
            application = await submit_app()
        counts = {o.badge: len(await pushes(session, o)) for o in (org.rights, org.county_supervisor)}
        with time_machine.travel(local(2026, 10, 5, 9), tick=False):
            assert (await sla.scan(session=session, settings=settings)).reminders == 0
        with time_machine.travel(local(2026, 10, 8, 9), tick=False):
            report = await sla.scan(session=session, settings=settings)
            again = await sla.scan(session=session, settings=settings)
        assert (report.reminders, report.escalations, again.reminders) == (1, 0, 0)
        reminder = (await pushes(session, org.rights))[-1]
        assert "受理时限将于2026-10-08届满" in reminder.payload["text"]
        with time_machine.travel(local(2026, 10, 9, 9), tick=False):
            report = await sla.scan(session=session, settings=settings)
            again = await sla.scan(session=session, settings=settings)
            await session.commit()
        assert (report.escalations, again.escalations) == (1, 0)
        late = (await pushes(session, org.rights))[-1]
        assert "受理时限已于2026-10-08届满" in late.payload["text"]
        office_rows = await pushes(session, org.rights)
        assert len(office_rows) == counts["6001"] + 2
        escalation = await pushes(session, org.county_supervisor)
        assert len(escalation) == counts["9001"] + 1
        text = escalation[-1].payload["text"]
        assert "维权办理时限已超期" in text and application.number in text and "县局" in text
        assert "推倒" not in text and "张三" not in text and "buttons" not in escalation[-1].payload
        assert await pushes(session, org.station_supervisor) == []
        audit = await session.scalar(select(AuditEvent).where(AuditEvent.action == "rights.escalated"))
        assert audit is not None and audit.detail["to"] == ["9001"]
        kinds = list(await session.scalars(select(RightsEvent.kind).order_by(RightsEvent.id)))
        assert kinds == ["submitted", "reminded", "escalated"]

    async def test_the_handler_alone_is_reminded_once_assigned(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """Accepted by 6003: the first-feedback reminder goes to 6003 only."""
        with time_machine.travel(local(2026, 10, 12, 9), tick=False):
            application = await submit_app()
            await service.accept(session=session, settings=settings, viewer=org.rights2,
                                 application_id=application.id, via="t")
        before = len(await pushes(session, org.rights))
        with time_machine.travel(local(2026, 10, 14, 12), tick=False):
            assert (await sla.scan(session=session, settings=settings)).reminders == 0
        with time_machine.travel(local(2026, 10, 15, 12), tick=False):
            report = await sla.scan(session=session, settings=settings)
        assert report.reminders == 1
        assert "首次反馈时限将于2026-10-15届满" in (await pushes(session, org.rights2))[-1].payload["text"]
        assert len(await pushes(session, org.rights)) == before

    async def test_the_loop_scans_at_once_and_stops_when_asked(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings, org: Org, submit_app: SubmitApp,
        session: AsyncSession, monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """run_sla_loop's first pass escalates an overdue application and commits; the loop ends on stop."""
        with time_machine.travel(local(2026, 9, 30, 10), tick=False):
            await submit_app()
        await session.close()
        scanned = asyncio.Event()
        original = sla.scan

        async def spy(**kwargs: object) -> sla.ScanReport:
            report = await original(**kwargs)  # type: ignore[arg-type]  # the loop's own keywords
            scanned.set()
            return report

        monkeypatch.setattr(sla, "scan", spy)
        stop = asyncio.Event()
        with time_machine.travel(local(2026, 10, 9, 9), tick=False):
            # The in-memory database has one shared connection: nothing else touches it until the loop ends.
            task = asyncio.create_task(sla.run_sla_loop(sessions=sessions, settings=settings, stop=stop,
                                                        interval_seconds=3600))
            await asyncio.wait_for(scanned.wait(), timeout=10)
            stop.set()
            await asyncio.wait_for(task, timeout=10)
        async with sessions() as check:
            assert await check.scalar(select(AuditEvent).where(AuditEvent.action == "rights.escalated")) is not None


class TestUnitLimits:
    async def test_a_unit_sets_its_own_limits_and_every_change_is_audited(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """县局 sets 2 working days to accept: new applications get it, running ones keep theirs; the audit holds
        who, when, old and new; clearing goes back to the setting; bad figures are refused."""
        with time_machine.travel(local(2026, 10, 12, 9), tick=False):
            old = await submit_app()
            before, after = await sla.set_unit_limits(session=session, settings=settings, viewer=org.rights,
                                                      unit_name="县局", accept=2, decide=20)
            new = await submit_app()
        assert (before.accept, after.accept, after.decide, after.feedback) == (1, 2, 20, 3)
        assert after.sources == {"accept": "县局", "feedback": None, "decide": "县局"}
        assert old.accept_due_at == end_of(2026, 10, 13)
        assert new.accept_due_at == end_of(2026, 10, 14) and new.limits == {"accept": 2}
        child = await sla.limits_for(session=session, settings=settings, unit_id=org.applicant.unit_id)
        assert child.accept == 2  # 城关派出所 inherits from 县局
        with time_machine.travel(local(2026, 10, 13, 9), tick=False):
            await sla.set_unit_limits(session=session, settings=settings, viewer=Operator(), unit_name="县局", clear=True)
        changes = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == "rights.limits")))
        assert [(c.actor, c.at) for c in changes] == [
            ("6001", local(2026, 10, 12, 9).astimezone(UTC)), ("cli", local(2026, 10, 13, 9).astimezone(UTC))
        ]
        assert changes[0].detail["own"] == {
            "old": {"accept": None, "feedback": None, "decide": None},
            "new": {"accept": 2, "feedback": None, "decide": 20},
        }
        assert changes[1].detail["in_force"] == {
            "old": {"accept": 2, "feedback": 3, "decide": 20},
            "new": {"accept": 1, "feedback": 3, "decide": 30},
        }
        for bad in ({"accept": 0}, {"decide": 400}, {}):
            with pytest.raises(RightsError):
                await sla.set_unit_limits(session=session, settings=settings, viewer=org.rights, unit_name="县局", **bad)


class TestRetention:
    async def test_evidence_files_go_after_the_retention_period_and_the_log_stays(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """Withdrawn on 12 Oct 2026 with 1825 days' retention: nothing happens on 10 Oct 2031, the files go on
        11 Oct 2031, the rows say purged, the custody log records it and still verifies."""
        with time_machine.travel(local(2026, 10, 12, 9), tick=False):
            application = await submit_app()
            await service.withdraw(session=session, settings=settings, applicant=org.applicant,
                                   application_id=application.id)
            await session.commit()
        photo = path_for(settings, sha(b"photo one"))
        with time_machine.travel(local(2031, 10, 10, 9), tick=False):
            assert (await sla.purge_expired(session=session, settings=settings)).purged == []
        with time_machine.travel(local(2031, 10, 11, 9), tick=False):
            report = await sla.purge_expired(session=session, settings=settings)
            await session.commit()
            removed = await sla.remove_purged_files(session=session, settings=settings, hashes=report.purged_hashes)
        assert report.purged == [application.number] and removed == 2 and not photo.exists()
        rows = list(await session.scalars(select(RightsEvidence)))
        assert {r.status for r in rows} == {EvidenceStatus.PURGED} and all(r.sha256 for r in rows)
        verified = await custody.verify(session=session, settings=settings, application=application)
        assert verified.ok and verified.purged == 2
        assert [e.action for e in await custody.entries(session=session, application_id=application.id)][-2:] == [
            "purged", "purged"
        ]
        purged = await session.scalar(select(AuditEvent).where(AuditEvent.action == "rights.purged"))
        assert purged is not None and purged.target_id == application.number and purged.detail["files"] == 2
        app_row = await session.get(RightsApplication, application.id)
        assert app_row is not None and app_row.purged_at is not None

    async def test_a_file_still_used_by_a_live_application_is_kept(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """The same photo in an old purged application and a live one stays in the store."""
        with time_machine.travel(local(2026, 10, 12, 9), tick=False):
            old = await submit_app()
            await service.withdraw(session=session, settings=settings, applicant=org.applicant, application_id=old.id)
            await session.commit()
        with time_machine.travel(local(2031, 10, 12, 9), tick=False):
            await submit_app()
        with time_machine.travel(local(2031, 10, 13, 9), tick=False):
            report = await sla.purge_expired(session=session, settings=settings)
            await session.commit()
            removed = await sla.remove_purged_files(session=session, settings=settings, hashes=report.purged_hashes)
        assert removed == 0 and path_for(settings, sha(b"photo one")).exists()
