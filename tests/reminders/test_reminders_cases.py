"""Case import: validation by line, all-or-nothing writes, idempotent re-import, derived deadlines."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from reminders_helpers import TZ, local, rows
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import AuditEvent
from core.outbox import OutboxMessage
from core.settings import Settings
from core.tabular import read_table
from reminders.cases import import_cases, parse_when, write_template
from reminders.models import Case, CaseEvent, Deadline
from reminders.rules import RuleSet

NOW = local(2026, 3, 10, 12)


async def _count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
async def officers(make_officer):  # type: ignore[no-untyped-def]  # fixture of the shared conftest
    return {
        "1001": await make_officer(badge="1001", name="王警官"),
        "2001": await make_officer(badge="2001", name="李所长", roles=("officer", "supervisor")),
    }


class TestParseWhen:
    def test_reads_dates_and_times_in_local_time(self) -> None:
        """ISO dates are local midnight; a time is kept and flagged as given."""
        assert parse_when("2026-03-01", TZ) == (local(2026, 3, 1), False)
        assert parse_when("2026-03-01 10:30", TZ) == (local(2026, 3, 1, 10, 30), True)
        assert parse_when("2026/03/01 10:30", TZ) == (local(2026, 3, 1, 10, 30), True)
        assert parse_when("2026-03-01T10:30:00", TZ) == (local(2026, 3, 1, 10, 30), True)
        assert parse_when("yesterday", TZ) is None
        assert parse_when("2026-02-30", TZ) is None


class TestImportCases:
    async def test_imports_cases_events_and_their_deadlines(
        self, session: AsyncSession, settings: Settings, officers: dict
    ) -> None:
        """A detention and a bail decision open their deadlines; the bail ends the detention's."""
        report = await import_cases(
            session=session,
            settings=settings,
            now=NOW,
            rows=rows(
                ("A1", "孙某某涉嫌盗窃案", "criminal", "1001", "受案", "2026-03-01"),
                ("A1", "孙某某涉嫌盗窃案", "criminal", "1001", "刑事拘留", "2026-03-02 10:00"),
                ("A1", "孙某某涉嫌盗窃案", "criminal", "1001", "取保候审", "2026-03-05"),
                extra={1: {"supervisor_badge": "2001", "flags": "流窜、结伙"}},
            ),
        )
        assert report.ok, report.errors
        assert report.cases_added == ["A1"]
        assert report.events_added == 3
        case = await session.scalar(select(Case))
        assert case is not None
        assert case.supervisor_id == officers["2001"].id
        assert case.flags == ["流窜", "结伙"]
        assert case.in_custody is False
        deadlines = {d.rule_id: d for d in (await session.scalars(select(Deadline))).all()}
        assert set(deadlines) == {"detention_first_day", "detention_arrest_request", "bail"}
        assert deadlines["detention_arrest_request"].status == "done"
        assert deadlines["detention_arrest_request"].outcome == "event:取保候审"
        assert deadlines["detention_first_day"].due_at == local(2026, 3, 3, 10)
        assert deadlines["bail"].status == "open"
        assert deadlines["bail"].due_at.astimezone(TZ).date().isoformat() == "2027-03-05"
        assert deadlines["bail"].article == "刑事诉讼法第七十九条；公安机关办理刑事案件程序规定第一百零七条"
        assert deadlines["bail"].rule_version is not None

    async def test_reimporting_the_same_rows_changes_nothing(
        self, session: AsyncSession, settings: Settings, officers: dict
    ) -> None:
        """Cases match by number, events by (case, event, time): a second import adds nothing."""
        table = rows(
            ("A1", "孙某某涉嫌盗窃案", "criminal", "1001", "刑事拘留", "2026-03-08 10:00"),
            ("X9", "李某某殴打他人案", "治安", "1001", "行政案件受理", "2026-03-03"),
        )
        first = await import_cases(session=session, settings=settings, now=NOW, rows=table)
        second = await import_cases(session=session, settings=settings, now=NOW, rows=table)
        assert (first.events_added, first.deadlines_added) == (2, 3)
        assert (second.events_added, second.deadlines_added, second.events_unchanged) == (0, 0, 2)
        assert second.cases_added == [] and second.cases_updated == [] and second.deadline_changes == []
        assert await _count(session, CaseEvent) == 2
        assert await _count(session, Deadline) == 3

    async def test_reimport_updates_the_case_and_adds_new_events(
        self, session: AsyncSession, settings: Settings, officers: dict
    ) -> None:
        """A corrected title updates the case; a later event stops the running deadline."""
        await import_cases(
            session=session,
            settings=settings,
            now=NOW,
            rows=rows(("A1", "孙某涉嫌盗窃案", "criminal", "1001", "刑事拘留", "2026-03-08 10:00")),
        )
        report = await import_cases(
            session=session,
            settings=settings,
            now=NOW,
            rows=rows(
                ("A1", "孙某某涉嫌盗窃案", "criminal", "1001", "刑事拘留", "2026-03-08 10:00"),
                ("A1", "孙某某涉嫌盗窃案", "criminal", "1001", "arrest request", "2026-03-10 09:00"),
            ),
        )
        assert report.cases_updated == ["A1"]
        assert [str(c) for c in report.changes] == ["A1: title '孙某涉嫌盗窃案' -> '孙某某涉嫌盗窃案'"]
        assert report.events_added == 1 and report.deadlines_closed == 1
        case = await session.scalar(select(Case))
        assert case is not None and case.title == "孙某某涉嫌盗窃案"
        assert case.in_custody is True
        deadline = await session.scalar(select(Deadline).where(Deadline.rule_id == "detention_arrest_request"))
        assert deadline is not None and deadline.outcome == "event:提请批准逮捕"
        review = await session.scalar(select(Deadline).where(Deadline.rule_id == "arrest_review"))
        assert review is not None and review.status == "open"  # the procuratorate's 7 days, suspect held

    async def test_english_aliases_are_accepted(
        self, session: AsyncSession, settings: Settings, officers: dict
    ) -> None:
        """case_type and event may be written in English."""
        report = await import_cases(
            session=session,
            settings=settings,
            now=NOW,
            rows=rows(
                ("B2", "Theft", "Criminal", "1001", "Detention", "2026-03-09 08:00"),
                ("C3", "Fight", "public order", "1001", "summons", "2026-03-09 18:00"),
            ),
        )
        assert report.ok, report.errors
        rule_ids = sorted((await session.scalars(select(Deadline.rule_id))).all())
        assert rule_ids == ["administrative_questioning", "detention_arrest_request", "detention_first_day"]

    async def test_every_bad_row_is_reported_by_line_and_nothing_is_written(
        self, session: AsyncSession, settings: Settings, officers: dict
    ) -> None:
        """Unknown badge, bad date, unknown event, empty cell, future date, hour event without time."""
        report = await import_cases(
            session=session,
            settings=settings,
            now=NOW,
            rows=rows(
                ("A1", "good row", "criminal", "1001", "受案", "2026-03-01"),
                ("A2", "x", "criminal", "9999", "受案", "2026-03-01"),
                ("A3", "x", "criminal", "1001", "受案", "2026-13-01"),
                ("A4", "x", "criminal", "1001", "保释", "2026-03-01"),
                ("A5", "", "criminal", "1001", "受案", "2026-03-01"),
                ("A6", "x", "civil", "1001", "受案", "2026-03-01"),
                ("A7", "x", "criminal", "1001", "受案", "2026-04-01"),
                ("A8", "x", "criminal", "1001", "传唤", "2026-03-01"),
                ("A9", "x", "criminal", "1001", "受案", "2026-03-01"),
                extra={8: {"supervisor_badge": "8888", "flags": "团伙"}},
            ),
        )
        assert not report.ok
        by_line = {e.line: e.reason for e in report.errors}
        assert sorted(by_line) == [3, 4, 5, 6, 7, 8, 9, 10]
        assert "unknown officer badge '9999'" in by_line[3]
        assert "bad event_date '2026-13-01'" in by_line[4]
        assert "unknown event '保释'" in by_line[5]
        assert "case_title is empty" in by_line[6]
        assert "unknown case_type 'civil'" in by_line[7]
        assert "in the future" in by_line[8]
        assert "counted in hours" in by_line[9]
        assert "unknown supervisor badge '8888'" in by_line[10] and "团伙" in by_line[10]
        assert await _count(session, Case) == 0
        assert await _count(session, CaseEvent) == 0

    async def test_conflicting_case_details_within_a_file_are_refused(
        self, session: AsyncSession, settings: Settings, officers: dict
    ) -> None:
        """Two rows of one case number must agree on title, type and officer."""
        report = await import_cases(
            session=session,
            settings=settings,
            now=NOW,
            rows=rows(
                ("A1", "甲案", "criminal", "1001", "受案", "2026-03-01"),
                ("A1", "乙案", "criminal", "1001", "立案", "2026-03-02"),
            ),
        )
        assert [(e.line, e.reason) for e in report.errors] == [
            (3, "case_title '乙案' differs from line 2 ('甲案')")
        ]

    async def test_a_missing_column_is_reported_on_the_header_line(
        self, session: AsyncSession, settings: Settings, officers: dict
    ) -> None:
        """A file without event_date cannot be imported at all."""
        table = rows(("A1", "甲案", "criminal", "1001", "受案", "2026-03-01"))
        del table[0].values["event_date"]
        report = await import_cases(session=session, settings=settings, now=NOW, rows=table)
        assert [(e.line, e.reason) for e in report.errors] == [(1, "missing column(s): event_date")]

    async def test_an_import_is_audited(
        self, session: AsyncSession, settings: Settings, officers: dict
    ) -> None:
        """Adding a case and its events leaves audit records."""
        await import_cases(
            session=session,
            settings=settings,
            now=NOW,
            actor="cli",
            rows=rows(("A1", "甲案", "criminal", "1001", "刑事拘留", "2026-03-08 10:00")),
        )
        actions = set((await session.scalars(select(AuditEvent.action))).all())
        assert {a for a in actions if a.startswith("case.")} == {"case.add"}
        [row] = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "case.add"))).all()
        # The first-day duties ran out more than a day before the import: recorded, not reminded.
        assert row.target_id == "A1" and row.detail["deadlines"] == {"opened": 2, "closed": 1}
        assert row.detail["events"][0]["event"] == "刑事拘留"

    async def test_a_closed_case_stops_every_deadline(
        self, session: AsyncSession, settings: Settings, officers: dict
    ) -> None:
        """结案 ends a running public-order time limit and marks the case closed."""
        report = await import_cases(
            session=session,
            settings=settings,
            now=NOW,
            rows=rows(
                ("X1", "殴打他人案", "public_order", "1001", "行政案件受理", "2026-03-01"),
                ("X1", "殴打他人案", "public_order", "1001", "结案", "2026-03-09"),
            ),
        )
        assert report.deadlines_closed == 1
        case = await session.scalar(select(Case))
        assert case is not None and case.closed


class TestTemplate:
    @pytest.mark.parametrize("name", ["cases.csv", "cases.xlsx"])
    async def test_the_template_reads_back_and_imports(
        self,
        tmp_path: Path,
        name: str,
        rules: RuleSet,
        session: AsyncSession,
        settings: Settings,
        make_officer,  # type: ignore[no-untyped-def]  # shared fixture
    ) -> None:
        """The example file is a valid import for officers 1001, 1002 and supervisor 2001."""
        for badge in ("1001", "1002", "2001"):
            await make_officer(badge=badge)
        path = tmp_path / name
        write_template(path, rules)
        table = read_table(path)
        report = await import_cases(session=session, settings=settings, now=NOW, rows=table)
        assert report.ok, report.errors
        assert sorted(report.cases_added) == ["A2026-001", "A2026-002", "X2026-015"]

    async def test_the_template_says_summons_count_from_arrival(self, tmp_path: Path, rules: RuleSet) -> None:
        """传唤/拘传 run from 到案时间: the example row and the xlsx's notes sheet say so."""
        path = tmp_path / "cases.xlsx"
        write_template(path, rules)
        book = openpyxl.load_workbook(path)
        assert book.sheetnames == ["cases", "填写说明"]
        notes = {(row[0], row[2]) : row[1] for row in book["填写说明"].iter_rows(values_only=True) if row and len(row) > 2}
        summons = [v for (event, rule), v in notes.items() if event == "传唤" and rule and "传唤持续时间" in rule]
        assert summons and "到案时间" in summons[0]
        assert any("到案时间" in (v or "") for (event, _), v in notes.items() if event == "拘传")
        csv_path = tmp_path / "cases.csv"
        write_template(csv_path)
        assert "到案时间" in csv_path.read_text(encoding="utf-8-sig")


class TestCaseIdentity:
    async def test_a_reimport_that_changes_the_case_type_is_refused_by_line(
        self, session: AsyncSession, settings: Settings, officers: dict
    ) -> None:
        """A criminal case re-imported as a public-order case would keep the old type's deadlines: refused."""
        await import_cases(
            session=session,
            settings=settings,
            now=NOW,
            rows=rows(("A1", "甲案", "criminal", "1001", "刑事拘留", "2026-03-08 10:00")),
        )
        before = await _count(session, Deadline)
        report = await import_cases(
            session=session,
            settings=settings,
            now=NOW,
            rows=rows(
                ("B1", "乙案", "criminal", "1001", "受案", "2026-03-08"),
                ("A1", "甲案", "治安", "1001", "立案", "2026-03-09"),
            ),
        )
        assert not report.ok
        [error] = report.errors
        assert error.line == 3 and "case A1 is a criminal case (criminal)" in error.reason
        assert "cannot change to public_order" in error.reason
        assert await _count(session, Case) == 1 and await _count(session, Deadline) == before

    async def test_administrative_without_saying_public_order_is_refused(
        self, session: AsyncSession, settings: Settings, officers: dict
    ) -> None:
        """行政 could be 30 days (治安) or 90 (其他行政): the import asks instead of guessing."""
        report = await import_cases(
            session=session,
            settings=settings,
            now=NOW,
            rows=rows(("X1", "案", "行政", "1001", "立案", "2026-03-01")),
        )
        [error] = report.errors
        assert "does not say whether it is a public-order case" in error.reason
        assert "public_order" in error.reason and "other_admin" in error.reason

    async def test_other_administrative_cases_get_ninety_days(
        self, session: AsyncSession, settings: Settings, officers: dict
    ) -> None:
        """行政处罚法60: 90 days from filing, not the 30 of a public-order case (31 May 2026 is a Sunday)."""
        await import_cases(
            session=session,
            settings=settings,
            now=NOW,
            rows=rows(("Y1", "案", "其他行政", "1001", "立案", "2026-03-02")),
        )
        deadline = await session.scalar(select(Deadline))
        assert deadline is not None and deadline.rule_id == "administrative_case"
        assert deadline.due_at.astimezone(TZ).date().isoformat() == "2026-06-01"

    async def test_a_new_officer_is_told_and_the_change_is_shown(
        self, session: AsyncSession, settings: Settings, officers: dict, make_officer  # type: ignore[no-untyped-def]  # shared fixture
    ) -> None:
        """Case handed from 1001 to 1002: shown in the report, both told through the outbox, audited."""
        await make_officer(badge="1002", name="赵警官")
        table = rows(("A1", "甲案", "criminal", "1001", "取保候审", "2026-03-05"))
        await import_cases(session=session, settings=settings, now=NOW, rows=table)
        table[0].values["officer_badge"] = "1002"
        report = await import_cases(session=session, settings=settings, now=NOW, rows=table)
        assert report.ok and report.cases_updated == ["A1"]
        assert [str(c) for c in report.changes] == ["A1: officer '1001' -> '1002'"]
        assert report.notified == 2
        pushes = {m.officer_id: m.payload["text"] for m in (await session.scalars(select(OutboxMessage))).all()}
        new = await session.scalar(select(Case.officer_id))
        assert "案件移交给您" in pushes[new] and "取保候审" in pushes[new] and "2027-03-05" in pushes[new]
        assert "赵警官" in pushes[officers["1001"].id]
        audit_row = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "case.update").order_by(AuditEvent.id.desc())
        )
        assert audit_row is not None and audit_row.detail["changed"]["officer"] == {"before": "1001", "after": "1002"}


class TestDerivedDeadlines:
    async def test_a_second_bail_decision_keeps_the_first_twelve_months_and_asks_the_legal_brigade(
        self, session: AsyncSession, settings: Settings, officers: dict, make_officer  # type: ignore[no-untyped-def]  # shared fixture
    ) -> None:
        """取保候审 recorded again while bail runs: no silent restart; the legal brigade is told once."""
        legal = await make_officer(badge="9001", name="法制员", roles=("legal",))
        first = rows(("A1", "甲案", "criminal", "1001", "取保候审", "2025-06-01"))
        await import_cases(session=session, settings=settings, now=NOW, rows=first)
        again = rows(("A1", "甲案", "criminal", "1001", "取保候审", "2026-03-01"))
        report = await import_cases(session=session, settings=settings, now=NOW, rows=again)
        assert [c.kind for c in report.deadline_changes] == ["flagged"]
        [bail] = (await session.scalars(select(Deadline))).all()
        assert bail.due_at.astimezone(TZ).date().isoformat() == "2026-06-01"
        assert bail.review_code == "repeat" and bail.reviewed_by is None
        [push] = (await session.scalars(select(OutboxMessage))).all()
        assert push.officer_id == legal.id and "未重新计算" in push.payload["text"]
        assert "2026-06-01" in push.payload["text"]
        repeat = await import_cases(session=session, settings=settings, now=NOW, rows=again)
        assert repeat.deadline_changes == [] and await _count(session, OutboxMessage) == 1
        bail.reviewed_by = "9001"
        third = rows(("A1", "甲案", "criminal", "1001", "取保候审", "2026-03-08"))
        asked_again = await import_cases(session=session, settings=settings, now=NOW, rows=third)
        assert [c.kind for c in asked_again.deadline_changes] == ["flagged"]
        assert bail.under_review and await _count(session, OutboxMessage) == 2

    async def test_a_third_return_for_supplementary_investigation_is_flagged(
        self, session: AsyncSession, settings: Settings, officers: dict
    ) -> None:
        """补充侦查以二次为限: the third return is opened, and put to the legal brigade."""
        report = await import_cases(
            session=session,
            settings=settings,
            now=NOW,
            rows=rows(
                ("A1", "甲案", "criminal", "1001", "退回补充侦查", "2025-10-01"),
                ("A1", "甲案", "criminal", "1001", "移送审查起诉", "2025-10-20"),
                ("A1", "甲案", "criminal", "1001", "退回补充侦查", "2025-11-20"),
                ("A1", "甲案", "criminal", "1001", "移送审查起诉", "2025-12-10"),
                ("A1", "甲案", "criminal", "1001", "退回补充侦查", "2026-03-01"),
            ),
        )
        deadlines = (await session.scalars(select(Deadline).order_by(Deadline.starts_at))).all()
        assert [(d.status, d.review_code) for d in deadlines] == [("done", None), ("done", None), ("open", "limit")]
        assert [c.kind for c in report.deadlines_flagged] == ["flagged"]

    async def test_custody_restarts_when_another_crime_is_recorded(
        self, session: AsyncSession, settings: Settings, officers: dict
    ) -> None:
        """逮捕 1 Feb; another crime found 20 Feb (5 days to report); restarted from 20 Feb: 2 months to 20 Apr."""
        report = await import_cases(
            session=session,
            settings=settings,
            now=NOW,
            rows=rows(
                ("A1", "甲案", "criminal", "1001", "逮捕", "2026-02-01 10:00"),
                ("A1", "甲案", "criminal", "1001", "发现另有重要罪行", "2026-02-20"),
                ("A1", "甲案", "criminal", "1001", "重新计算羁押期限", "2026-02-20"),
            ),
        )
        assert report.ok, report.errors
        custody = (
            await session.scalars(
                select(Deadline).where(Deadline.rule_id == "custody_after_arrest").order_by(Deadline.starts_at)
            )
        ).all()
        assert [(d.status, d.outcome) for d in custody] == [("done", "restarted:重新计算羁押期限"), ("open", None)]
        assert custody[1].due_at.astimezone(TZ).date().isoformat() == "2026-04-20"
        report_deadline = await session.scalar(select(Deadline).where(Deadline.rule_id == "new_crime_report"))
        assert report_deadline is not None and report_deadline.outcome == "event:重新计算羁押期限"

    async def test_expert_examination_days_do_not_count_in_a_public_order_case(
        self, session: AsyncSession, settings: Settings, officers: dict
    ) -> None:
        """Filed 1 Feb; 鉴定 from 5 to 15 Feb (10 days): 30 days end 13 Mar, not 3 Mar; open pause shows paused."""
        table = rows(
            ("X1", "案", "public_order", "1001", "立案", "2026-02-01"),
            ("X1", "案", "public_order", "1001", "鉴定开始", "2026-02-05"),
        )
        await import_cases(session=session, settings=settings, now=NOW, rows=table)
        deadline = await session.scalar(select(Deadline))
        assert deadline is not None and deadline.paused and deadline.next_remind_at > NOW
        report = await import_cases(
            session=session,
            settings=settings,
            now=NOW,
            rows=[*table, *rows(("X1", "案", "public_order", "1001", "鉴定结束", "2026-02-15"))][:2]
            + rows(("X1", "案", "public_order", "1001", "鉴定结束", "2026-02-15")),
        )
        [change] = report.deadlines_moved
        assert change.kind == "resumed"
        assert not deadline.paused and deadline.excluded_days == 10
        assert deadline.due_at.astimezone(TZ).date().isoformat() == "2026-03-13"

    async def test_the_procuratorates_seven_days_run_only_for_a_held_suspect(
        self, session: AsyncSession, settings: Settings, officers: dict
    ) -> None:
        """An arrest request for a suspect on bail opens no 7-day deadline (刑诉法91③ is about the detained)."""
        await import_cases(
            session=session,
            settings=settings,
            now=NOW,
            rows=rows(
                ("A1", "甲案", "criminal", "1001", "取保候审", "2026-02-01"),
                ("A1", "甲案", "criminal", "1001", "提请批准逮捕", "2026-03-01"),
            ),
        )
        assert (await session.scalars(select(Deadline.rule_id))).all() == ["bail"]
