"""Case import: validation by line, all-or-nothing writes, idempotent re-import, derived deadlines."""

from __future__ import annotations

from pathlib import Path

import pytest
from reminders_helpers import TZ, local, rows
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import AuditEvent
from core.settings import Settings
from core.tabular import read_table
from reminders.cases import import_cases, parse_when, write_template
from reminders.models import Case, CaseEvent, Deadline

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
        assert set(deadlines) == {"detention_arrest_request", "bail"}
        assert deadlines["detention_arrest_request"].status == "done"
        assert deadlines["detention_arrest_request"].outcome == "event:取保候审"
        assert deadlines["bail"].status == "open"
        assert deadlines["bail"].due_at.astimezone(TZ).date().isoformat() == "2027-03-05"
        assert deadlines["bail"].article == "刑事诉讼法第七十九条"

    async def test_reimporting_the_same_rows_changes_nothing(
        self, session: AsyncSession, settings: Settings, officers: dict
    ) -> None:
        """Cases match by number, events by (case, event, time): a second import adds nothing."""
        table = rows(
            ("A1", "孙某某涉嫌盗窃案", "criminal", "1001", "刑事拘留", "2026-03-08 10:00"),
            ("X9", "李某某殴打他人案", "administrative", "1001", "行政案件受理", "2026-03-03"),
        )
        first = await import_cases(session=session, settings=settings, now=NOW, rows=table)
        second = await import_cases(session=session, settings=settings, now=NOW, rows=table)
        assert (first.events_added, first.deadlines_added) == (2, 2)
        assert (second.events_added, second.deadlines_added, second.events_unchanged) == (0, 0, 2)
        assert second.cases_added == [] and second.cases_updated == []
        assert await _count(session, CaseEvent) == 2
        assert await _count(session, Deadline) == 2

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
        assert report.events_added == 1 and report.deadlines_closed == 1
        case = await session.scalar(select(Case))
        assert case is not None and case.title == "孙某某涉嫌盗窃案"
        assert case.in_custody is True
        deadline = await session.scalar(select(Deadline))
        assert deadline is not None and deadline.outcome == "event:提请批准逮捕"

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
                ("C3", "Fight", "administrative", "1001", "summons", "2026-03-09 18:00"),
            ),
        )
        assert report.ok, report.errors
        rule_ids = sorted((await session.scalars(select(Deadline.rule_id))).all())
        assert rule_ids == ["administrative_questioning", "detention_arrest_request"]

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
        assert row.target_id == "A1" and row.detail["deadlines"] == {"opened": 1, "closed": 0}
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
                ("X1", "殴打他人案", "administrative", "1001", "行政案件受理", "2026-03-01"),
                ("X1", "殴打他人案", "administrative", "1001", "结案", "2026-03-09"),
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
        session: AsyncSession,
        settings: Settings,
        make_officer,  # type: ignore[no-untyped-def]  # shared fixture
    ) -> None:
        """The example file is a valid import for officers 1001, 1002 and supervisor 2001."""
        for badge in ("1001", "1002", "2001"):
            await make_officer(badge=badge)
        path = tmp_path / name
        write_template(path)
        table = read_table(path)
        report = await import_cases(session=session, settings=settings, now=NOW, rows=table)
        assert report.ok, report.errors
        assert sorted(report.cases_added) == ["A2026-001", "X2026-015"]
