"""People (units, officers, imports, printable enrollment codes) and the audit log's search and export."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import func, select

from core import identity
from core.audit import AuditEvent
from core.identity import EnrollmentCode, Officer
from tests.desk.conftest import BOT_USERNAME, DeskHarness


async def _officers(desk: DeskHarness) -> int:
    async with desk.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Officer)) or 0)


class TestPeople:
    async def test_the_unit_tree_counts_enrolled_officers(self, desk: DeskHarness) -> None:
        """Each unit shows enrolled over active officers; a supervisor sees only their own units."""
        await desk.add_officer("A1", roles=("officer", "admin"), unit="城关分局")
        await desk.add_officer("S1", roles=("officer", "supervisor"), unit="东关派出所", parent="城关分局", telegram_user_id=1)
        await desk.add_officer("P1", unit="东关派出所", parent="城关分局")
        await desk.add_officer("P2", unit="西关派出所", parent="城关分局", telegram_user_id=2)
        admin = await desk.signed_in("A1")
        page = (await admin.get("/people")).text
        assert "东关派出所" in page and "西关派出所" in page and "1 / 2" in page
        supervisor = await desk.signed_in("S1")
        mine = (await supervisor.get("/people")).text
        assert "东关派出所" in mine and "西关派出所" not in mine and "P2" not in mine

    async def test_an_admin_adds_a_unit_and_a_name_taken_is_refused(self, desk: DeskHarness) -> None:
        """Adding a unit works once; the same name again is refused with a reason."""
        await desk.add_officer("A1", roles=("officer", "admin"), unit="城关分局")
        client = await desk.signed_in("A1")
        added = await desk.post(client, "/people/units", {"name": "南关派出所", "parent": "城关分局"}, page="/people")
        assert added.status_code == 200 and "已新增单位 南关派出所" in added.text
        again = await desk.post(client, "/people/units", {"name": "南关派出所", "parent": ""}, page="/people")
        assert again.status_code == 400 and "已有名为 南关派出所 的单位" in again.text

    async def test_an_officer_file_with_a_bad_row_imports_nothing(self, desk: DeskHarness) -> None:
        """One unknown unit on line 3: the row is listed in Chinese and no officer is added."""
        await desk.add_officer("A1", roles=("officer", "admin"), unit="城关分局")
        client = await desk.signed_in("A1")
        body = "警号,姓名,单位,角色\n9001,甲,城关分局,officer\n9002,乙,火星派出所,officer\n9003,丙,城关分局,boss\n"
        refused = await desk.post(client, "/people/import", page="/people/import",
                                  files={"file": ("officers.csv", body.encode("utf-8"), "text/csv")})
        assert refused.status_code == 422
        assert "没有名为 火星派出所 的单位" in refused.text and "无法识别的角色 boss" in refused.text
        assert await _officers(desk) == 1
        good = "警号,姓名,单位\n9001,甲,城关分局\n9002,乙,城关分局\n"
        done = await desk.post(client, "/people/import", page="/people/import",
                               files={"file": ("officers.csv", good.encode("utf-8"), "text/csv")})
        assert done.status_code == 200 and await _officers(desk) == 3

    async def test_codes_print_with_a_qr_code_of_the_deep_link(self, desk: DeskHarness) -> None:
        """Printing codes for a unit makes one code per unenrolled officer, each with a t.me QR code."""
        await desk.add_officer("S1", roles=("officer", "supervisor"), unit="东关派出所", telegram_user_id=1)
        await desk.add_officer("P1", name="张伟", unit="东关派出所")
        await desk.add_officer("P2", name="王芳", unit="东关派出所")
        await desk.add_officer("P3", name="已登记", unit="东关派出所", telegram_user_id=3)
        async with desk.session() as session:
            unit = await identity.get_unit(session=session, name="东关派出所")
        assert unit is not None
        client = await desk.signed_in("S1")
        sheet = await desk.post(client, "/people/codes", {"unit": str(unit.id)}, page="/people")
        assert sheet.status_code == 200
        text = sheet.text
        assert text.count('class="code-card"') == 2 and "张伟" in text and "已登记" not in text
        assert text.count("<svg") == 2 and f"https://t.me/{BOT_USERNAME}?start=" in text
        codes = re.findall(r"<div class=\"code\">([A-Z0-9]+)</div>", text)
        assert len(codes) == 2, codes
        async with desk.session() as session:
            assert await session.scalar(select(func.count()).select_from(EnrollmentCode)) == 2
            for code in codes:
                assert await session.scalar(select(EnrollmentCode).where(EnrollmentCode.code_hash == identity.hash_code(code)))

    async def test_a_supervisor_cannot_print_codes_for_another_unit(self, desk: DeskHarness) -> None:
        """Codes for officers outside the supervisor's units are not issued."""
        await desk.add_officer("S1", roles=("officer", "supervisor"), unit="东关派出所", parent="城关分局")
        await desk.add_officer("P9", unit="西关派出所", parent="城关分局")
        async with desk.session() as session:
            other = await identity.get_unit(session=session, name="西关派出所")
        assert other is not None
        client = await desk.signed_in("S1")
        by_unit = await desk.post(client, "/people/codes", {"unit": str(other.id)}, page="/people")
        by_badge = await desk.post(client, "/people/codes", {"badge": "P9"}, page="/people")
        assert by_unit.status_code == 404 and by_badge.status_code == 400
        async with desk.session() as session:
            assert await session.scalar(select(func.count()).select_from(EnrollmentCode)) == 0

    async def test_without_the_bots_username_the_cards_carry_the_code_alone(self, desk: DeskHarness) -> None:
        """When the bot's username cannot be known the sheet says so and prints /start CODE instead."""
        from desk.app import create_app

        async def unknown() -> None:
            return None

        desk.app = create_app(desk.settings, sessions=desk.sessions, bot_username=unknown)
        await desk.add_officer("A1", roles=("officer", "admin"))
        await desk.add_officer("P1")
        client = await desk.signed_in("A1")
        sheet = (await desk.post(client, "/people/codes", {"badge": "P1"}, page="/people")).text
        assert "<svg" not in sheet and "FRONTLINE_BOT_USERNAME" in sheet and "/start " in sheet


class TestAudit:
    async def test_search_by_actor_subject_action_and_day(self, desk: DeskHarness) -> None:
        """Filters combine: an officer's sign-ins, the events about a badge, actions by prefix."""
        await desk.add_officer("A1", roles=("officer", "admin"))
        await desk.add_officer("L1", roles=("officer", "legal"))
        await desk.signed_in("L1")
        client = await desk.signed_in("A1")
        by_actor = (await client.get("/audit", params={"actor": "L1", "action": "desk.signin"})).text
        assert by_actor.count("desk.signin</td>") == 1
        about = (await client.get("/audit", params={"subject": "L1"})).text
        assert "officer.add" in about and "desk.link_issued" in about
        prefix = (await client.get("/audit", params={"action": "desk."})).text
        assert "desk.signin" in prefix and "officer.add" not in prefix
        bad_day = await client.get("/audit", params={"since": "yesterday"})
        assert "YYYY-MM-DD" in bad_day.text
        future = (await client.get("/audit", params={"since": "2999-01-01"})).text
        assert "没有符合条件的审计记录" in future

    async def test_the_export_is_csv_of_what_was_found_and_is_audited(self, desk: DeskHarness) -> None:
        """The CSV export holds the filtered events (UTF-8 with BOM) and the export itself is recorded."""
        await desk.add_officer("A1", roles=("officer", "admin"))
        await desk.add_officer("L1", name="周法制", roles=("officer", "legal"))
        client = await desk.signed_in("A1")
        answer = await client.get("/audit/export.csv", params={"subject": "L1"})
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        text = answer.content.decode("utf-8")
        assert text.startswith("\ufeff")
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
        assert rows[0][:4] == ["id", "at", "actor", "action"]
        assert {r[3] for r in rows[1:]} == {"officer.add"} and "周法制" in text
        async with desk.session() as session:
            export = await session.scalar(select(AuditEvent).where(AuditEvent.action == "desk.audit_export"))
        assert export is not None and export.detail == {"filter": {"subject": "L1"}}
