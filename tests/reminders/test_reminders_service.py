"""Answers to reminder buttons at the service level: handled, extended, snoozed, listed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from reminders_helpers import TZ, local, rows
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import AuditEvent
from core.identity import Officer
from core.outbox import OutboxMessage
from core.settings import Settings
from reminders import service
from reminders.cases import import_cases
from reminders.models import CaseEvent, Deadline
from reminders.schedule import scan
from reminders.service import ReminderError

NOW = local(2026, 3, 3, 9)


async def _detention(
    session: AsyncSession, settings: Settings, *, flags: str = "", number: str = "A1", badge: str = "1001"
) -> Deadline:
    """Imports a detention of 2 March 2026 10:00 whose first-day duties are done: the arrest request is due 5 March."""
    report = await import_cases(
        session=session,
        settings=settings,
        now=NOW,
        rows=rows(
            (number, "孙某某涉嫌盗窃案", "criminal", badge, "刑事拘留", "2026-03-02 10:00"),
            extra={0: {"flags": flags}},
        ),
    )
    assert report.ok, report.errors
    first_day = await session.scalar(
        select(Deadline).where(Deadline.rule_id == "detention_first_day").order_by(Deadline.id.desc())
    )
    assert first_day is not None
    first_day.status, first_day.outcome, first_day.next_remind_at = "done", "done", None
    deadline = await session.scalar(
        select(Deadline).where(Deadline.rule_id == "detention_arrest_request").order_by(Deadline.id.desc())
    )
    assert deadline is not None
    return deadline


@pytest.fixture
async def officer(make_officer) -> Officer:  # type: ignore[no-untyped-def]  # shared fixture
    return await make_officer(badge="1001")


async def _actions(session: AsyncSession) -> list[str]:
    return list(
        (await session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("deadline.%")))).all()
    )


class TestMarkDone:
    async def test_marking_handled_stops_the_reminders_and_is_audited(
        self, session: AsyncSession, settings: Settings, officer: Officer
    ) -> None:
        """已提请批准逮捕: the deadline is done with that outcome and no longer scanned."""
        deadline = await _detention(session, settings)
        done = await service.mark_done(
            session=session,
            deadline_id=deadline.id,
            officer=officer,
            outcome="arrest",
            now=NOW,
            settings=settings,
        )
        assert (done.status, done.outcome, done.next_remind_at) == ("done", "arrest", None)
        assert await _actions(session) == ["deadline.done"]
        with pytest.raises(ReminderError) as caught:
            await service.mark_done(
                session=session,
                deadline_id=deadline.id,
                officer=officer,
                outcome="other",
                now=NOW,
                settings=settings,
            )
        assert caught.value.code == "not_active"

    async def test_an_unknown_outcome_is_refused(
        self, session: AsyncSession, settings: Settings, officer: Officer
    ) -> None:
        """Outcomes come from a fixed list."""
        deadline = await _detention(session, settings)
        with pytest.raises(ReminderError, match="bad_outcome"):
            await service.mark_done(
                session=session,
                deadline_id=deadline.id,
                officer=officer,
                outcome="??",
                now=NOW,
                settings=settings,
            )

    async def test_another_officer_may_not_answer(
        self,
        session: AsyncSession,
        settings: Settings,
        officer: Officer,
        make_officer,  # type: ignore[no-untyped-def]  # shared fixture
    ) -> None:
        """Only the case officer, the case's supervisor or the legal brigade may answer."""
        deadline = await _detention(session, settings)
        other = await make_officer(badge="1002")
        legal = await make_officer(badge="3001", roles=("legal",))
        with pytest.raises(ReminderError, match="forbidden"):
            await service.mark_done(
                session=session,
                deadline_id=deadline.id,
                officer=other,
                outcome="other",
                now=NOW,
                settings=settings,
            )
        await service.mark_done(
            session=session,
            deadline_id=deadline.id,
            officer=legal,
            outcome="other",
            now=NOW,
            settings=settings,
        )

    async def test_a_missing_deadline_is_reported(
        self, session: AsyncSession, settings: Settings, officer: Officer
    ) -> None:
        """A button of a deleted deadline gets a clear error."""
        with pytest.raises(ReminderError, match="not_found"):
            await service.mark_done(
                session=session,
                deadline_id=424242,
                officer=officer,
                outcome="other",
                now=NOW,
                settings=settings,
            )


class TestExtend:
    async def test_extending_by_a_quick_choice_replans_the_reminders(
        self, session: AsyncSession, settings: Settings, officer: Officer, tips: Callable[[str], list[str]]
    ) -> None:
        """Extended to 7 days, the deadline ends 9 March and reminders restart against the new date."""
        deadline = await _detention(session, settings)
        first = await scan(session=session, now=local(2026, 3, 3, 8, 30), settings=settings, risk_tips=tips)
        assert first.planned[0].offset == "d-2"
        with pytest.raises(ReminderError, match="needs_confirmation"):
            await service.extend(
                session=session, deadline_id=deadline.id, officer=officer, now=NOW, settings=settings, total=7
            )
        extended = await service.extend(
            session=session, deadline_id=deadline.id, officer=officer, now=NOW, settings=settings, total=7, confirmed=True
        )
        assert extended.status == "extended"
        assert (
            extended.extended_to is not None
            and extended.extended_to.astimezone(TZ).date().isoformat() == "2026-03-09"
        )
        assert extended.due_at.astimezone(TZ).date().isoformat() == "2026-03-05"
        later = await scan(session=session, now=local(2026, 3, 7, 8, 30), settings=settings, risk_tips=tips)
        assert [p.offset for p in later.planned] == ["d-2"]
        keys = [k for k in (await session.scalars(select(OutboxMessage.dedupe_key))).all()]
        assert keys[0].split(":")[2] == "202603052359" and keys[1].split(":")[2] == "202603092359"
        assert await _actions(session) == ["deadline.extend"]
        audit_row = await session.scalar(select(AuditEvent).where(AuditEvent.action == "deadline.extend"))
        assert audit_row is not None and audit_row.detail["approval"] == "县级以上公安机关负责人批准"
        assert audit_row.detail["confirmed"] is True

    async def test_thirty_days_needs_a_roving_repeated_or_gang_flag(
        self, session: AsyncSession, settings: Settings, officer: Officer
    ) -> None:
        """Without 流窜/多次/结伙 the 30-day extension is refused; with 多次 it is allowed."""
        plain = await _detention(session, settings)
        with pytest.raises(ReminderError, match="bad_extension"):
            await service.extend(
                session=session, deadline_id=plain.id, officer=officer, now=NOW, settings=settings, total=30, confirmed=True
            )
        flagged = await _detention(session, settings, flags="多次", number="A2")
        done = await service.extend(
            session=session, deadline_id=flagged.id, officer=officer, now=NOW, settings=settings, total=30, confirmed=True
        )
        assert (
            done.extended_to is not None
            and done.extended_to.astimezone(TZ).date().isoformat() == "2026-04-01"
        )

    async def test_a_typed_date_must_lie_within_the_legal_maximum(
        self, session: AsyncSession, settings: Settings, officer: Officer
    ) -> None:
        """Typed 8 March is fine (<= 7 days); 10 March is beyond what 刑诉法91 allows without flags."""
        deadline = await _detention(session, settings)
        with pytest.raises(ReminderError) as caught:
            await service.extend(
                session=session,
                deadline_id=deadline.id,
                officer=officer,
                now=NOW,
                settings=settings,
                new_due=local(2026, 3, 10),
            )
        assert caught.value.code == "beyond_limit"
        with pytest.raises(ReminderError, match="not_later"):
            await service.extend(
                session=session,
                deadline_id=deadline.id,
                officer=officer,
                now=NOW,
                settings=settings,
                new_due=local(2026, 3, 4),
            )
        with pytest.raises(ReminderError, match="needs_confirmation: 6"):
            await service.extend(
                session=session,
                deadline_id=deadline.id,
                officer=officer,
                now=NOW,
                settings=settings,
                new_due=local(2026, 3, 8),
            )
        done = await service.extend(
            session=session,
            deadline_id=deadline.id,
            officer=officer,
            now=NOW,
            settings=settings,
            new_due=local(2026, 3, 8),
            confirmed=True,
        )
        assert done.extended_to == local(2026, 3, 8, 23, 59).replace(second=59)
        assert done.extension_total is None

    async def test_bail_cannot_be_extended(
        self, session: AsyncSession, settings: Settings, officer: Officer
    ) -> None:
        """Twelve months is the legal maximum of 取保候审."""
        await import_cases(
            session=session,
            settings=settings,
            now=NOW,
            rows=rows(("B1", "案", "criminal", "1001", "取保候审", "2026-03-01")),
        )
        deadline = await session.scalar(select(Deadline).where(Deadline.rule_id == "bail"))
        assert deadline is not None
        with pytest.raises(ReminderError, match="not_extendable"):
            await service.extend(
                session=session,
                deadline_id=deadline.id,
                officer=officer,
                now=NOW,
                settings=settings,
                total=13,
            )


class TestSnooze:
    async def test_snoozing_four_hours_sends_one_reminder_then(
        self, session: AsyncSession, settings: Settings, officer: Officer, tips: Callable[[str], list[str]]
    ) -> None:
        """稍后提醒 4 h: nothing in between, one reminder when the snooze ends, audited."""
        deadline = await _detention(session, settings)
        await scan(session=session, now=local(2026, 3, 3, 8, 30), settings=settings, risk_tips=tips)
        until = service.snooze_until("4h", now=NOW, settings=settings)
        assert until == local(2026, 3, 3, 13)
        await service.snooze(
            session=session, deadline_id=deadline.id, officer=officer, until=until, now=NOW, settings=settings
        )
        quiet = await scan(session=session, now=local(2026, 3, 3, 12, 59), settings=settings, risk_tips=tips)
        assert quiet.checked == 0
        woken = await scan(session=session, now=local(2026, 3, 3, 13, 1), settings=settings, risk_tips=tips)
        assert [p.offset for p in woken.planned] == [f"s{int(until.timestamp())}"]
        assert woken.enqueued == 1
        await session.refresh(deadline)
        assert deadline.snoozed_until is None
        assert deadline.next_remind_at == local(2026, 3, 4, 8)
        assert await _actions(session) == ["deadline.snooze"]

    async def test_tomorrow_means_eight_in_the_morning_local_time(self, settings: Settings) -> None:
        """The second snooze choice is tomorrow 08:00 in the bureau's time zone."""
        assert service.snooze_until("tomorrow", now=local(2026, 3, 3, 23, 30), settings=settings) == local(
            2026, 3, 4, 8
        )
        with pytest.raises(ReminderError):
            service.snooze_until("forever", now=NOW, settings=settings)


class TestOpenDeadlines:
    async def test_lists_running_deadlines_most_urgent_first(
        self, session: AsyncSession, settings: Settings, officer: Officer
    ) -> None:
        """Detention (due in days) comes before bail (due in a year); handled ones disappear."""
        await import_cases(
            session=session,
            settings=settings,
            now=NOW,
            rows=rows(("B1", "取保案", "criminal", "1001", "取保候审", "2026-03-01")),
        )
        detention = await _detention(session, settings)
        listed = await service.open_deadlines_for(session=session, officer=officer, settings=settings)
        assert [v.deadline.rule_id for v in listed] == ["detention_arrest_request", "bail"]
        assert listed[0].rule is not None and listed[0].case.case_number == "A1"
        assert await service.count_open_for(session=session, officer=officer) == 2
        await service.mark_done(
            session=session,
            deadline_id=detention.id,
            officer=officer,
            outcome="changed",
            now=NOW,
            settings=settings,
        )
        assert [
            v.deadline.rule_id
            for v in await service.open_deadlines_for(session=session, officer=officer, settings=settings)
        ] == ["bail"]

    async def test_typed_dates_follow_the_rule_unit(self, settings: Settings, rules) -> None:  # type: ignore[no-untyped-def]  # fixture
        """Day limits take a date (end of that day); hour limits need a time."""
        detention, summons = rules.get("detention_arrest_request"), rules.get("criminal_summons")
        assert service.typed_due("2026-03-08", rule=detention, settings=settings) == local(
            2026, 3, 8, 23, 59
        ).replace(second=59)
        assert service.typed_due("2026-03-08", rule=summons, settings=settings) is None
        assert service.typed_due("2026-03-08 21:00", rule=summons, settings=settings) == local(2026, 3, 8, 21)
        assert service.typed_due("next week", rule=detention, settings=settings) is None


class TestExtensionChains:
    async def test_custody_extends_one_step_at_a_time(
        self, session: AsyncSession, settings: Settings, officer: Officer
    ) -> None:
        """2 -> 3 months (higher procuratorate), then 3 -> 5 (province); never 2 -> 5 at once."""
        await import_cases(
            session=session,
            settings=settings,
            now=NOW,
            rows=rows(("A1", "甲案", "criminal", "1001", "逮捕", "2026-01-10 09:00")),
        )
        custody = await session.scalar(select(Deadline).where(Deadline.rule_id == "custody_after_arrest"))
        assert custody is not None
        with pytest.raises(ReminderError, match="bad_extension"):
            await service.extend(
                session=session, deadline_id=custody.id, officer=officer, now=NOW, settings=settings, total=5, confirmed=True
            )
        await service.extend(
            session=session, deadline_id=custody.id, officer=officer, now=NOW, settings=settings, total=3, confirmed=True
        )
        assert custody.extended_to is not None and custody.extended_to.astimezone(TZ).date().isoformat() == "2026-04-10"
        case = (await service.get_deadline(session=session, deadline_id=custody.id))
        assert case is not None
        assert [e.total for e in service.extension_choices(service.load_rules(settings).get("custody_after_arrest"), case[1], custody, settings)] == [5]  # type: ignore[arg-type]  # the rule exists
        await service.extend(
            session=session, deadline_id=custody.id, officer=officer, now=NOW, settings=settings, total=5, confirmed=True
        )
        assert custody.extension_total == 5
        assert custody.extended_to is not None and custody.extended_to.astimezone(TZ).date().isoformat() == "2026-06-10"

    async def test_continued_questioning_reaches_48_hours_only_from_24(
        self, session: AsyncSession, settings: Settings, officer: Officer
    ) -> None:
        """继续盘问规定17: never straight from 12 to 48 hours."""
        await import_cases(
            session=session,
            settings=settings,
            now=local(2026, 3, 3, 2),
            rows=rows(("P1", "盘问", "public_order", "1001", "继续盘问", "2026-03-03 01:00")),
        )
        deadline = await session.scalar(select(Deadline))
        assert deadline is not None
        with pytest.raises(ReminderError, match="bad_extension"):
            await service.extend(
                session=session, deadline_id=deadline.id, officer=officer, now=local(2026, 3, 3, 2), settings=settings, total=48, confirmed=True
            )
        await service.extend(
            session=session, deadline_id=deadline.id, officer=officer, now=local(2026, 3, 3, 2), settings=settings, total=24, confirmed=True
        )
        await service.extend(
            session=session, deadline_id=deadline.id, officer=officer, now=local(2026, 3, 3, 2), settings=settings, total=48, confirmed=True
        )
        assert deadline.extended_to == local(2026, 3, 5, 1)


class TestPauseAndResume:
    async def test_a_hearing_pauses_a_public_order_case_and_resuming_moves_its_end(
        self, session: AsyncSession, settings: Settings, officer: Officer
    ) -> None:
        """Paused by button on 10 Feb, resumed on 17 Feb: the 30 days end 7 days later; both are case events."""
        await import_cases(
            session=session,
            settings=settings,
            now=local(2026, 2, 2),
            rows=rows(("X1", "案", "public_order", "1001", "立案", "2026-02-01")),
        )
        deadline = await session.scalar(select(Deadline))
        assert deadline is not None
        assert deadline.due_at.astimezone(TZ).date().isoformat() == "2026-03-03"
        await service.pause(
            session=session, deadline_id=deadline.id, officer=officer, reason="听证", now=local(2026, 2, 10, 9), settings=settings
        )
        assert deadline.paused
        with pytest.raises(ReminderError, match="paused"):
            await service.snooze(
                session=session, deadline_id=deadline.id, officer=officer, until=local(2026, 2, 11), now=local(2026, 2, 10, 9), settings=settings
            )
        await service.resume(session=session, deadline_id=deadline.id, officer=officer, now=local(2026, 2, 17, 15), settings=settings)
        assert not deadline.paused and deadline.excluded_days == 7
        assert deadline.due_at.astimezone(TZ).date().isoformat() == "2026-03-10"
        events = (await session.scalars(select(CaseEvent.event).order_by(CaseEvent.occurred_at))).all()
        assert list(events) == ["立案", "听证开始", "听证结束"]
        assert await _actions(session) == ["deadline.pause", "deadline.resume"]

    async def test_a_rule_that_cannot_pause_refuses(
        self, session: AsyncSession, settings: Settings, officer: Officer
    ) -> None:
        """Custody cannot be paused for a hearing: the button is refused."""
        deadline = await _detention(session, settings)
        with pytest.raises(ReminderError, match="not_pausable"):
            await service.pause(session=session, deadline_id=deadline.id, officer=officer, reason="听证", now=NOW, settings=settings)


class TestReview:
    async def test_only_the_legal_brigade_confirms_a_review_once(
        self, session: AsyncSession, settings: Settings, officer: Officer, make_officer  # type: ignore[no-untyped-def]  # shared fixture
    ) -> None:
        """A second bail decision is flagged; the case officer cannot clear it, a legal officer can, once."""
        legal = await make_officer(badge="3001", roles=("legal",))
        table = rows(("A1", "甲案", "criminal", "1001", "取保候审", "2025-06-01"))
        await import_cases(session=session, settings=settings, now=NOW, rows=table)
        table[0].values["event_date"] = "2026-02-01"
        await import_cases(session=session, settings=settings, now=NOW, rows=table)
        deadline = await session.scalar(select(Deadline))
        assert deadline is not None and deadline.under_review
        with pytest.raises(ReminderError, match="forbidden"):
            await service.acknowledge_review(session=session, deadline_id=deadline.id, officer=officer, now=NOW)
        await service.acknowledge_review(session=session, deadline_id=deadline.id, officer=legal, now=NOW)
        assert deadline.reviewed_by == "3001" and not deadline.under_review
        with pytest.raises(ReminderError, match="already_reviewed"):
            await service.acknowledge_review(session=session, deadline_id=deadline.id, officer=legal, now=NOW)
        assert "deadline.review" in await _actions(session)
