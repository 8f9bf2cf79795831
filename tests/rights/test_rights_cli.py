"""`frontline rights …`: the stable JSON of list and show, export and dossier contents, verify, limits."""

from __future__ import annotations

import asyncio
import csv
import json
import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from docx import Document
from openpyxl import load_workbook
from rights_helpers import FakeFetcher, item, sha
from sqlalchemy import select
from typer.testing import CliRunner

import cli
import schema
from core import identity
from core.audit import AuditEvent
from core.db import make_engine, make_sessionmaker, transaction
from core.settings import Settings
from rights import custody, service
from rights.evidence import path_for
from rights.models import RightsApplication
from rights.service import Draft

TZ = ZoneInfo("Asia/Shanghai")
runner = CliRunner()
LIST_KEYS = {"number", "type", "status", "unit", "applicant_badge", "submitted_at", "evidence_count", "due_at"}


def _local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)  # type: ignore[misc]  # year, month, day, hour as given


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A data dir whose database holds three applications, as the command line will find it:

    WQ-2026-000001 assault by 1001 (城关派出所): accepted after 2 h, decided (移送追责 + 抚慰救助), concluded;
    WQ-2026-000002 insult by 1002 (城关派出所): accepted late, after 54 h, waiting for the applicant;
    WQ-2026-000003 assault by 2001 (东城派出所): submitted, not accepted.
    """
    monkeypatch.setenv("FRONTLINE_DATA_DIR", str(settings.data_dir))
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def setup() -> None:
        engine = make_engine(settings.effective_database_url)
        async with engine.begin() as conn:
            await conn.run_sync(schema.load_models().create_all)
        async with transaction(make_sessionmaker(engine)) as session:
            await identity.add_unit(session=session, name="县局")
            await identity.add_unit(session=session, name="城关派出所", parent="县局")
            await identity.add_unit(session=session, name="东城派出所", parent="县局")
            people = {}
            for badge, name, unit, roles in (
                ("1001", "张三", "城关派出所", ("officer",)), ("1002", "李四", "城关派出所", ("officer",)),
                ("2001", "吴五", "东城派出所", ("officer",)), ("6001", "赵维权", "县局", ("rights",)),
            ):
                people[badge] = await identity.add_officer(session=session, badge=badge, name=name, unit=unit, roles=roles)
            fetcher = FakeFetcher()

            async def submit(badge: str, type_code: str, when: datetime, evidence: list) -> RightsApplication:  # type: ignore[type-arg]  # items
                draft = Draft(type=type_code, account=f"{type_code} 经过", place="路口", evidence=evidence)
                return await service.submit(session=session, settings=settings, applicant=people[badge], draft=draft,
                                            fetcher=fetcher, now=when)

            first = await submit("1001", "assault", _local(2026, 3, 2, 9), [
                item(fetcher, "p1", b"photo one"), item(fetcher, "d1", b"%PDF report", kind="document", filename="诊断.pdf"),
            ])
            common = {"session": session, "settings": settings, "viewer": people["6001"], "via": "test"}
            await service.accept(**common, application_id=first.id, now=_local(2026, 3, 2, 11))
            await service.decide(**common, application_id=first.id, outcome="referral", detail="城公刑字〔2026〕7号",
                                 now=_local(2026, 3, 5, 9))
            await service.decide(**common, application_id=first.id, outcome="relief", detail=None,
                                 now=_local(2026, 3, 5, 9, 5))
            await service.close(**common, application_id=first.id, now=_local(2026, 3, 6, 9))
            second = await submit("1002", "insult", _local(2026, 3, 3, 9), [item(fetcher, "p2", b"screenshot")])
            await service.accept(**common, application_id=second.id, now=_local(2026, 3, 5, 15))
            await service.request_more(**common, application_id=second.id, text="请补充录音", now=_local(2026, 3, 5, 16))
            await submit("2001", "assault", _local(2026, 3, 10, 9), [])
        await engine.dispose()

    asyncio.run(setup())
    return settings


def _audit(settings: Settings, action: str) -> list[AuditEvent]:
    async def read() -> list[AuditEvent]:
        engine = make_engine(settings.effective_database_url)
        async with make_sessionmaker(engine)() as session:
            rows = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action)))
        await engine.dispose()
        return rows

    return asyncio.run(read())


class TestListAndShow:
    def test_list_json_is_the_stable_contract(self, cli_env: Settings) -> None:
        """Each object has exactly the documented keys; filters by status and unit work; the listing is audited."""
        result = runner.invoke(cli.app, ["rights", "list", "--json"])
        assert result.exit_code == 0, result.output
        records = json.loads(result.output)
        assert [r["number"] for r in records] == ["WQ-2026-000001", "WQ-2026-000002", "WQ-2026-000003"]
        assert all(set(r) == LIST_KEYS for r in records)
        first, second, third = records
        assert (first["type"], first["status"], first["unit"], first["applicant_badge"]) == (
            "assault", "closed", "城关派出所", "1001"
        )
        assert first["submitted_at"] == "2026-03-02T09:00:00+08:00" and first["evidence_count"] == 2
        assert first["due_at"] is None and second["due_at"] is None  # concluded; paused while waiting
        assert third["due_at"] == "2026-03-12T00:00:00+08:00"  # one working day: the end of 11 March
        waiting = json.loads(runner.invoke(cli.app, ["rights", "list", "--status", "waiting", "--json"]).output)
        assert [r["number"] for r in waiting] == ["WQ-2026-000002"]
        east = json.loads(runner.invoke(cli.app, ["rights", "list", "--unit", "东城派出所", "--json"]).output)
        assert [r["number"] for r in east] == ["WQ-2026-000003"]
        assert _audit(cli_env, "rights.list")[0].actor == "cli"

    def test_show_json_has_facts_evidence_hashes_outcomes_and_timeline(self, cli_env: Settings) -> None:
        """show --json of the concluded application; the view is audited."""
        result = runner.invoke(cli.app, ["rights", "show", "wq-2026-000001", "--json"])
        assert result.exit_code == 0, result.output
        shown = json.loads(result.output)
        assert shown["number"] == "WQ-2026-000001" and shown["office_unit"] == "县局"
        assert shown["handler_badge"] == "6001" and shown["account"] == "assault 经过"
        assert [e["sha256"] for e in shown["evidence"]] == [sha(b"photo one"), sha(b"%PDF report")]
        assert [(o["kind"], o["detail"]) for o in shown["outcomes"]] == [
            ("referral", "城公刑字〔2026〕7号"), ("relief", None)
        ]
        assert [t["kind"] for t in shown["timeline"]] == ["submitted", "accepted", "decided", "decided", "closed"]
        assert shown["law"][0] == "《刑法》第二百七十七条第一款、第五款（2023-12-29）"
        assert shown["custody"]["entries"] == 4
        assert [e.target_id for e in _audit(cli_env, "rights.view")] == ["WQ-2026-000001"]

    def test_bad_input_is_one_line_and_exit_1(self, cli_env: Settings) -> None:
        """An unknown number, status or unit is one line on stderr."""
        for args, expected in (
            (["rights", "show", "WQ-2026-999999"], "no such application: WQ-2026-999999"),
            (["rights", "list", "--status", "lost"], "unknown status 'lost'"),
            (["rights", "list", "--unit", "火星"], "no such unit: 火星"),
            (["rights", "export", "--from", "2026-03-09", "--to", "2026-03-01", "--out", "x.csv"], "--to is before"),
        ):
            result = runner.invoke(cli.app, args)
            assert result.exit_code == 1, (args, result.output)
            assert expected in result.output and "Traceback" not in result.output
            assert len(result.output.strip().splitlines()) == 1


class TestExport:
    def test_csv_counts_by_type_unit_outcome_and_time_to_acceptance(self, cli_env: Settings, tmp_path: Path) -> None:
        """The first ten days of March: two assaults and an insult; 2 h (on time) and 54 h (late) to acceptance;
        one never accepted."""
        out = tmp_path / "stats.csv"
        result = runner.invoke(cli.app, ["rights", "export", "--from", "2026-03-01", "--to", "2026-03-10",
                                         "--format", "csv", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert "3 application(s)" in result.output
        with out.open(encoding="utf-8-sig") as handle:
            rows = {(r["group"], r["key"]): r for r in csv.DictReader(handle)}
        assert rows[("total", "all")]["count"] == "3"
        assert rows[("total", "all")]["median_hours_to_acceptance"] == "28.00"
        assert (rows[("type", "assault")]["count"], rows[("type", "assault")]["label"]) == ("2", "暴力袭警")
        assert rows[("type", "insult")]["median_hours_to_acceptance"] == "54.00"
        assert rows[("unit", "城关派出所")]["count"] == "2" and rows[("unit", "东城派出所")]["count"] == "1"
        assert rows[("outcome", "referral")]["count"] == "1" and rows[("outcome", "none")]["count"] == "2"
        assert rows[("time_to_acceptance", "within 4 h")]["count"] == "1"
        assert rows[("time_to_acceptance", "1-3 days")]["count"] == "1"
        assert rows[("time_to_acceptance", "not accepted")]["count"] == "1"
        assert rows[("accepted_on_time", "yes")]["count"] == "1" and rows[("accepted_on_time", "no")]["count"] == "1"
        audit = _audit(cli_env, "rights.export")
        assert audit[0].detail["applications"] == 3 and audit[0].actor == "cli"

    def test_xlsx_has_the_summary_and_a_row_per_application_without_names(
        self, cli_env: Settings, tmp_path: Path
    ) -> None:
        """The workbook's applications sheet has numbers, units and hours, not names or accounts; the period
        bounds are local days, inclusive."""
        out = tmp_path / "stats.xlsx"
        result = runner.invoke(cli.app, ["rights", "export", "--from", "2026-03-02", "--to", "2026-03-03",
                                         "--format", "xlsx", "--out", str(out)])
        assert result.exit_code == 0, result.output
        book = load_workbook(out)
        assert book.sheetnames == ["summary", "applications"]
        rows = list(book["applications"].iter_rows(values_only=True))
        assert rows[0][:3] == ("number", "type", "unit")
        assert [r[0] for r in rows[1:]] == ["WQ-2026-000001", "WQ-2026-000002"]
        assert rows[1][7] == 2 and rows[1][11] == "referral,relief"
        flat = json.dumps([list(r) for r in rows], ensure_ascii=False, default=str)
        assert "张三" not in flat and "经过" not in flat
        summary = {(r[0], r[1]): r[3] for r in book["summary"].iter_rows(min_row=2, values_only=True)}
        assert summary[("total", "all")] == 2


class TestDossierAndVerify:
    def test_the_dossier_has_facts_timeline_evidence_hashes_and_decisions(self, cli_env: Settings, tmp_path: Path) -> None:
        """The .docx carries every part; writing it is audited and logged as an export in the custody log."""
        out = tmp_path / "WQ-2026-000001.docx"
        result = runner.invoke(cli.app, ["rights", "dossier", "WQ-2026-000001", "--out", str(out)])
        assert result.exit_code == 0, result.output
        document = Document(str(out))
        text = "\n".join(p.text for p in document.paragraphs)
        cells = "\n".join(c.text for t in document.tables for row in t.rows for c in row.cells)
        assert "维权申请案卷 WQ-2026-000001" in text
        for heading in ("一、申请基本情况", "二、事情经过", "三、适用的法律规定", "四、办理过程", "五、证据清单",
                        "六、处理决定", "七、证据保管链"):
            assert heading in text
        assert "张三（1001），城关派出所" not in cells and "张三 (1001), 城关派出所" in cells
        assert "暴力袭警" in cells and "已办结" in cells
        assert "assault 经过" in text
        assert "《刑法》第二百七十七条第一款、第五款（2023-12-29版）" in text
        assert "受理" in cells and "作出处理决定" in cells and "办结" in cells
        assert sha(b"photo one") in cells and sha(b"%PDF report") in cells and "诊断.pdf" in cells
        assert "移送追责" in text and "城公刑字〔2026〕7号" in text and "抚慰救助" in text
        assert "保管链完整" in text
        assert _audit(cli_env, "rights.dossier")[0].detail["file"] == out.name

        async def last_action() -> str:
            engine = make_engine(cli_env.effective_database_url)
            async with make_sessionmaker(engine)() as session:
                application = await service.find(session=session, number="WQ-2026-000001")
                assert application is not None
                log = await custody.entries(session=session, application_id=application.id)
            await engine.dispose()
            return log[-1].action

        assert asyncio.run(last_action()) == "exported"

    def test_verify_passes_then_catches_a_changed_file(self, cli_env: Settings) -> None:
        """OK with exit 0; after a stored photo is altered, MISMATCH naming the evidence, exit 1."""
        ok = runner.invoke(cli.app, ["rights", "verify", "WQ-2026-000001"])
        assert ok.exit_code == 0, ok.output
        assert "OK" in ok.output and "2 file(s) match" in ok.output
        photo = path_for(cli_env, sha(b"photo one"))
        os.chmod(photo, 0o640)
        photo.write_bytes(b"photo one, edited")
        bad = runner.invoke(cli.app, ["rights", "verify", "WQ-2026-000001"])
        assert bad.exit_code == 1
        assert "MISMATCH" in bad.output and "evidence #1: the file was changed" in bad.output
        checks = _audit(cli_env, "rights.verified")
        assert [c.detail["ok"] for c in checks] == [True, False]


class TestEvidenceCopies:
    def test_stored_files_are_copied_out_and_each_copy_is_logged(self, cli_env: Settings, tmp_path: Path) -> None:
        """Both files of WQ-2026-000001 are copied, named by number and ordinal; the custody log records two
        downloads and still verifies."""
        out = tmp_path / "copies"
        result = runner.invoke(cli.app, ["rights", "evidence", "WQ-2026-000001", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert sorted(p.name for p in out.iterdir()) == ["WQ-2026-000001-01-photo.jpg", "WQ-2026-000001-02-document.pdf"]
        assert (out / "WQ-2026-000001-02-document.pdf").read_bytes() == b"%PDF report"
        assert [a.detail["ordinal"] for a in _audit(cli_env, "rights.download")] == [1, 2]

        async def actions() -> list[str]:
            engine = make_engine(cli_env.effective_database_url)
            async with make_sessionmaker(engine)() as session:
                application = await service.find(session=session, number="WQ-2026-000001")
                assert application is not None
                log = await custody.entries(session=session, application_id=application.id)
                assert (await custody.verify(session=session, settings=cli_env, application=application)).ok
            await engine.dispose()
            return [e.action for e in log]

        assert asyncio.run(actions())[-2:] == ["downloaded", "downloaded"]


class TestLimits:
    def test_set_and_show_a_units_limits(self, cli_env: Settings) -> None:
        """set prints old -> new and is audited; show says where each figure comes from; a bad figure is refused."""
        changed = runner.invoke(cli.app, ["rights", "limits", "set", "--unit", "县局", "--accept", "2"])
        assert changed.exit_code == 0, changed.output
        assert "县局: accept within 2 working day(s) (set by 县局)  (was: accept within 1 working day(s) (setting))" in changed.output
        shown = runner.invoke(cli.app, ["rights", "limits", "show", "--unit", "城关派出所"])
        assert "accept within 2 working day(s) (set by 县局)" in shown.output
        assert "decide within 30 day(s) (setting)" in shown.output
        bad = runner.invoke(cli.app, ["rights", "limits", "set", "--unit", "县局", "--accept", "0"])
        assert bad.exit_code == 1 and "between 1 and 30" in bad.output
        assert _audit(cli_env, "rights.limits")[0].detail["in_force"]["new"]["accept"] == 2
