"""Cases on the desk: the deadline figures of the overview, uploads, the reminder calendar, one case's timeline."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import openpyxl
import time_machine
from sqlalchemy import func, select

from core.audit import AuditEvent
from core.db import utcnow
from desk.modules.cases import reminder_moments
from reminders.models import ACTIVE_STATUSES, Case, Deadline
from reminders.rules import bundled_rules
from tests.desk.conftest import DeskHarness
from tests.desk.desk_fakes import BUREAU, STATIONS, seed

HEADER = "case_number,case_title,case_type,officer_badge,event,event_date"


def _csv(*lines: str) -> bytes:
    return ("\n".join((HEADER, *lines)) + "\n").encode("utf-8")


async def _count(desk: DeskHarness, model: type) -> int:
    async with desk.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


class TestUpload:
    async def test_a_file_with_a_bad_row_writes_nothing_and_lists_the_row(self, desk: DeskHarness) -> None:
        """One unknown badge on line 3: the answer names line 3 in Chinese, and no case is written."""
        await desk.add_officer("L1", roles=("officer", "legal"))
        await desk.add_officer("P1")
        client = await desk.signed_in("L1")
        body = _csv(
            "XZ-1,打架案,治安,P1,行政案件受理,2026-01-05",
            "XZ-2,盗窃案,治安,NOPE,行政案件受理,2026-01-05",
            "XZ-3,诈骗案,刑事,P1,刑事拘留,2030-01-01",
        )
        answer = await desk.post(client, "/cases/upload", page="/cases/upload",
                                 files={"file": ("cases.csv", body, "text/csv")})
        assert answer.status_code == 422
        text = answer.text
        assert "没有警号为 NOPE 的民警" in text
        assert "事件日期 2030-01-01 晚于今天" in text
        assert '<td class="num">3</td>' in text and '<td class="num">4</td>' in text
        assert await _count(desk, Case) == 0
        async with desk.session() as session:
            event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "desk.cases_import"))
        assert event is not None and event.detail["ok"] is False and event.detail["bad_rows"] == 2

    async def test_a_good_xlsx_is_imported_with_its_deadlines(self, desk: DeskHarness) -> None:
        """An XLSX with Chinese headers is imported: cases, events and deadlines, summarised."""
        await desk.add_officer("L1", roles=("officer", "legal"))
        await desk.add_officer("P1")
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["案件编号", "案件名称", "案件类型", "办案民警警号", "事件", "事件日期"])
        sheet.append(["XS-9", "盗窃案", "刑事", "P1", "刑事拘留", "2026-01-05 10:00"])
        sheet.append(["XS-9", "盗窃案", "刑事", "P1", "提请批准逮捕", "2026-01-07 09:00"])
        buffer = io.BytesIO()
        book.save(buffer)
        client = await desk.signed_in("L1")
        answer = await desk.post(client, "/cases/upload", page="/cases/upload", files={"file": (
            "案件.xlsx", buffer.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
        assert answer.status_code == 200, answer.text
        assert await _count(desk, Case) == 1
        async with desk.session() as session:
            rules = set((await session.scalars(select(Deadline.rule_id))).all())
        # the detention's three days to request an arrest, and its first-day duties (24 h)
        assert {"detention_arrest_request", "detention_first_day"} <= rules

    async def test_a_file_that_is_not_a_table_is_refused_politely(self, desk: DeskHarness) -> None:
        """A .pdf or an empty file is refused with a reason; nothing is written."""
        await desk.add_officer("L1", roles=("officer", "legal"))
        client = await desk.signed_in("L1")
        pdf = await desk.post(client, "/cases/upload", page="/cases/upload", files={"file": ("a.pdf", b"%PDF", "application/pdf")})
        empty = await desk.post(client, "/cases/upload", page="/cases/upload", files={"file": ("a.csv", b"", "text/csv")})
        assert pdf.status_code == 400 and ".csv" in pdf.text
        assert empty.status_code == 400
        assert await _count(desk, Case) == 0

    async def test_an_oversized_upload_is_refused_unread(self, desk: DeskHarness) -> None:
        """A body over the desk's limit is answered 413 and nothing is imported."""
        from desk.app import MAX_BODY_BYTES

        await desk.add_officer("L1", roles=("officer", "legal"))
        client = await desk.signed_in("L1")
        huge = _csv() + b"x" * (MAX_BODY_BYTES + 1)
        answer = await desk.post(client, "/cases/upload", page="/cases/upload", files={"file": ("big.csv", huge, "text/csv")})
        assert answer.status_code == 413 and "20 MB" in answer.text
        assert await _count(desk, Case) == 0

    async def test_an_oversized_upload_without_a_length_is_cut_off(self, desk: DeskHarness) -> None:
        """A body sent in chunks, with no length declared, is refused once it passes the limit."""
        from desk.app import MAX_BODY_BYTES

        await desk.add_officer("L1", roles=("officer", "legal"))
        client = await desk.signed_in("L1")

        async def chunks():  # type: ignore[no-untyped-def]
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
            for _ in range(MAX_BODY_BYTES // (1024 * 1024) + 2):
                yield b"x" * (1024 * 1024)

        answer = await client.post("/cases/upload", content=chunks(),
                                   headers={"content-type": "multipart/form-data; boundary=b"})
        assert answer.status_code == 413 and "20 MB" in answer.text

    async def test_the_example_files_download(self, desk: DeskHarness) -> None:
        """The upload page offers the example files the CLI writes."""
        await desk.add_officer("L1", roles=("officer", "legal"))
        client = await desk.signed_in("L1")
        csv_file = await client.get("/cases/template.csv")
        assert csv_file.status_code == 200 and "case_number" in csv_file.content.decode("utf-8-sig")
        xlsx = await client.get("/cases/template.xlsx")
        assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


class TestOverviewDeadlines:
    async def test_the_chart_counts_deadlines_by_station_and_urgency(self, desk: DeskHarness) -> None:
        """With the sample bureau, the overview drills into the bureau and counts each station's deadlines."""
        now = utcnow()
        async with desk.session() as session:
            seeded = await seed(session, desk.settings, now)
        client = await desk.signed_in(seeded.admin)
        page = (await client.get("/")).text
        async with desk.session() as session:
            due = func.coalesce(Deadline.extended_to, Deadline.due_at)
            soon = await session.scalar(
                select(func.count()).select_from(Deadline).where(due <= now + timedelta(days=8), Deadline.status == "open")
            )
            overdue = await session.scalar(
                select(func.count()).select_from(Deadline).where(due < now, Deadline.status.in_(ACTIVE_STATUSES))
            )
        assert overdue and soon
        for station in STATIONS:
            assert station in page
        assert f'<span class="num">{overdue}</span>' in page
        assert "<svg" in page and 'class="seg seg-overdue"' in page
        assert BUREAU in page  # the trail: all units › the bureau
        # Drilling into one station lists it alone.
        async with desk.session() as session:
            from core.identity import Unit

            station = await session.scalar(select(Unit).where(Unit.name == STATIONS[0]))
        assert station is not None
        assert (await client.get("/", params={"unit": station.id})).status_code == 200

    async def test_a_quiet_day_says_so_instead_of_an_empty_chart(self, desk: DeskHarness) -> None:
        """With no deadline due within seven days, the panel says so."""
        await desk.add_officer("L1", roles=("officer", "legal"))
        client = await desk.signed_in("L1")
        page = (await client.get("/")).text
        assert "未来7日内没有到期的办案期限，也没有超期的。" in page


class TestCalendar:
    def test_reminders_are_planned_as_the_scan_fires_them(self) -> None:
        """A bail deadline reminds at 08:00 on T-7, T-3, T-1 and the due day, then daily while overdue."""
        from zoneinfo import ZoneInfo

        tz = ZoneInfo("Asia/Shanghai")
        rule = bundled_rules().get("bail")
        assert rule is not None
        due = datetime(2026, 3, 20, 23, 59, 59, tzinfo=tz)
        start = datetime(2026, 3, 1, tzinfo=tz)
        end = datetime(2026, 3, 23, tzinfo=tz)
        moments = reminder_moments(due, rule, start, end, tz)
        assert [(at.day, at.hour, offset) for at, offset in moments] == [
            (13, 8, -7), (17, 8, -3), (19, 8, -1), (20, 8, 0), (21, 8, 1), (22, 8, 2),
        ]

    def test_hour_limits_remind_by_the_hour(self) -> None:
        """A 12-hour summons reminds hours before its end, then at the rule's overdue hours."""
        from zoneinfo import ZoneInfo

        tz = ZoneInfo("Asia/Shanghai")
        rule = bundled_rules().get("criminal_summons")
        assert rule is not None
        due = datetime(2026, 3, 20, 12, 0, tzinfo=tz)
        moments = reminder_moments(due, rule, datetime(2026, 3, 20, 0, 0, tzinfo=tz), datetime(2026, 3, 20, 14, 30, tzinfo=tz), tz)
        offsets = [offset for _at, offset in moments]
        assert offsets[: len(rule.reminders.offsets)] == sorted(rule.reminders.offsets)
        assert offsets[len(rule.reminders.offsets):] == [1]  # +1 h at 13:00; +3 h would be 15:00

    async def test_the_month_shows_each_days_reminders_and_the_day_lists_them(self, desk: DeskHarness) -> None:
        """The calendar counts reminders per day; a day's list names the case and who gets it."""
        with time_machine.travel(datetime(2026, 3, 2, 1, 0, tzinfo=UTC), tick=False):
            async with desk.session() as session:
                from core.tabular import Row
                from reminders.cases import import_cases

                await desk.add_officer("L1", roles=("officer", "legal"))
                await desk.add_officer("P1", name="张伟")
                rows = [Row(2, {"case_number": "XZ-1", "case_title": "打架案", "case_type": "治安", "officer_badge": "P1",
                                "event": "行政案件受理", "event_date": "2026-02-20"})]
                report = await import_cases(session=session, rows=rows, settings=desk.settings)
                assert report.ok
            client = await desk.signed_in("L1")
            month = (await client.get("/cases/calendar", params={"month": "2026-03"})).text
            # accepted 02-20: 30 days end on 03-23 (a Monday); reminders 03-16, 03-20, 03-22, 03-23, then daily.
            assert 'href="/cases/calendar/2026-03-16"' in month
            day = await client.get("/cases/calendar/2026-03-16")
            assert day.status_code == 200 and "XZ-1" in day.text and "张伟" in day.text
            empty = await client.get("/cases/calendar/2026-03-10")
            assert "XZ-1" not in empty.text


class TestTimeline:
    async def test_a_case_shows_events_deadlines_and_the_article_text(self, desk: DeskHarness) -> None:
        """The timeline lists the events and deadlines in order, with the cited article quoted."""
        async with desk.session() as session:
            seeded = await seed(session, desk.settings, utcnow())
            case = await session.scalar(select(Case).where(Case.case_number == "XS20260001"))
        assert case is not None
        client = await desk.signed_in(seeded.legal)
        page = await client.get(f"/cases/{case.id}")
        assert page.status_code == 200
        text = page.text
        assert "刑事拘留" in text and "盗窃案1号" in text
        assert "第九十一条" in text and "公安机关对被拘留的人，认为需要逮捕的" in text
        # The detention comes first, then the three days to request an arrest running out.
        assert text.index("<strong>刑事拘留</strong>") < text.index("刑事拘留后提请批准逮捕")
