"""The desk speaks Chinese by default and English on request, down to the reasons a row is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import jinja2
import pytest
from babel.messages.extract import extract_python
from babel.messages.pofile import read_po
from sqlalchemy.ext.asyncio import AsyncSession

from core import roster
from core.i18n import gettext_for
from core.settings import Settings
from core.tabular import Row
from desk import rowerrors, web
from desk.modules import all_modules, broadcasts, cases, questions, rights, tasks
from desk.rowerrors import translate_reason
from reminders.cases import import_cases
from tests.conftest import MakeOfficer
from tests.desk.conftest import DeskHarness

ROOT = Path(__file__).resolve().parents[2]


def desk_msgids() -> set[str]:
    """Every English msgid the desk shows: in templates, in _() calls, and in its message tables."""
    found: set[str] = set()
    env = jinja2.Environment(extensions=["jinja2.ext.i18n"])
    for path in (ROOT / "desk" / "templates").rglob("*.html"):
        for _line, _func, message in env.extract_translations(path.read_text(encoding="utf-8"), gettext_functions=("_",)):
            if isinstance(message, str):
                found.add(message)
    for path in [*(ROOT / "desk").rglob("*.py"), ROOT / "bot" / "routers" / "desk.py"]:
        with path.open("rb") as handle:
            for _line, _func, message, _comments in extract_python(handle, ["_"], [], {}):
                if isinstance(message, str):
                    found.add(message)
    found |= {item.label for module in all_modules() for item in module.nav}
    for table in (questions.DONE_MESSAGES, questions.ERROR_MESSAGES, rowerrors.COLUMN_NAMES, web.ROLE_LABELS,
                  rights.SLA_LABELS, rights.DONE_MESSAGES, rights.ERROR_MESSAGES, rights.EVENT_LABELS,
                  rights.CUSTODY_LABELS, broadcasts.ERROR_MESSAGES, broadcasts.DONE_MESSAGES, broadcasts.STATE_LABELS,
                  tasks.REPEAT_LABELS, tasks.PRIORITY_LABELS, tasks.SOURCE_LABELS, tasks.STATE_LABELS,
                  tasks.ERROR_MESSAGES):
        found |= set(table.values())
    found |= {tasks.NO_ASSIGNEE, tasks.NO_DUE, "That did not work: {detail}"}
    found |= {msgid for _pattern, msgid in rowerrors.PATTERNS}
    found |= {series.label for series in cases.BUCKET_SERIES}
    return found


def chinese_catalogue() -> dict[str, str]:
    """Every translated msgid of the Chinese catalogues."""
    merged: dict[str, str] = {}
    for path in sorted((ROOT / "locales" / "zh" / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale="zh"):
                if message.id and message.string:
                    merged[str(message.id)] = str(message.string)
    return merged


class TestCatalogues:
    def test_every_desk_string_has_chinese(self) -> None:
        """No English leaks into the Chinese desk: each msgid has a translation (desk.po or the bot's)."""
        missing = sorted(desk_msgids() - set(chinese_catalogue()))
        assert missing == [], missing

    def test_placeholders_survive_translation(self) -> None:
        """A translation keeps exactly the {placeholders} of its msgid, so .format never fails."""
        import re

        catalogue = chinese_catalogue()
        for msgid in desk_msgids():
            names = set(re.findall(r"\{(\w*)\}", msgid))
            assert set(re.findall(r"\{(\w*)\}", catalogue[msgid])) == names, msgid

    def test_english_shows_the_english_msgids(self) -> None:
        """The English catalogue reads the msgids as they are."""
        english = gettext_for("en")
        for msgid in ("Overview", "Sign in to the desk", "Case deadlines: next 7 days and overdue"):
            assert english(msgid) == msgid


def _untranslated(reason: str) -> list[str]:
    """The problems of a reason that no pattern put into Chinese: those still there, word for word,
    in the translation (a problem may itself hold "; ", so every part is looked for)."""
    translated = translate_reason(reason, gettext_for("zh"))
    return [part for part in reason.split("; ") if part in translated]


class TestRowErrors:
    async def test_every_reason_a_case_import_gives_is_put_into_chinese(
        self, session: AsyncSession, make_officer: MakeOfficer, settings: Settings
    ) -> None:
        """Feeding the case import one row per kind of mistake, every reason comes back in Chinese."""
        await make_officer("P1")
        await make_officer("P2")
        from core import identity

        await identity.deactivate(session=session, badge="P2")
        good = {"case_number": "A1", "case_title": "案", "case_type": "治安", "officer_badge": "P1",
                "event": "行政案件受理", "event_date": "2026-01-05"}
        mistakes = [
            {"case_number": ""},
            {"case_number": "X" * 70},
            {"case_title": "长" * 300},
            {"case_type": "民事"},
            {"officer_badge": "NOPE"},
            {"officer_badge": "P2"},
            {"supervisor_badge": "NOPE"},
            {"event": "吃饭"},
            {"event_date": "昨天"},
            {"event_date": "2999-01-01"},
            {"case_type": "刑事", "event": "传唤", "event_date": "2026-01-05"},
            {"note": "注" * 600},
            {"flags": "飞天"},
            {"__extra__": "yes"},
        ]
        rows = [Row(2, dict(good))] + [Row(i + 3, {**good, "case_number": f"B{i}", **m}) for i, m in enumerate(mistakes)]
        rows.append(Row(len(rows) + 2, {**good, "case_title": "另一个名字"}))
        report = await import_cases(session=session, rows=rows, settings=settings, now=datetime(2026, 3, 1, tzinfo=UTC))
        assert len(report.errors) == len(mistakes) + 1
        for error in report.errors:
            assert _untranslated(error.reason) == [], error.reason
        # a case imported before cannot change its type by a re-import (its reason holds a "; ")
        first = await import_cases(session=session, rows=[Row(2, dict(good))], settings=settings,
                                   now=datetime(2026, 3, 1, tzinfo=UTC))
        assert first.ok
        retyped = await import_cases(
            session=session, rows=[Row(2, {**good, "case_type": "刑事", "event": "刑事拘留", "event_date": "2026-01-05 10:00"})],
            settings=settings, now=datetime(2026, 3, 1, tzinfo=UTC),
        )
        assert [e.line for e in retyped.errors] == [2] and "; its type cannot change" in retyped.errors[0].reason
        assert translate_reason(retyped.errors[0].reason, gettext_for("zh")).startswith("案件 A1")
        assert _untranslated(retyped.errors[0].reason) == []
        missing = await import_cases(session=session, rows=[Row(2, {"case_number": "x"})], settings=settings)
        assert _untranslated(missing.errors[0].reason) == []
        assert translate_reason("unknown officer badge 'NOPE'", gettext_for("zh")) == "没有警号为 NOPE 的民警"

    async def test_every_reason_an_officer_import_gives_is_put_into_chinese(
        self, session: AsyncSession, make_officer: MakeOfficer
    ) -> None:
        """Bad badges, names, units, languages and roles come back in Chinese."""
        await make_officer("1001", unit="一中队")
        header = ["badge", "name", "unit", "roles", "language"]
        rows = [
            Row(2, {"badge": "", "name": "甲", "unit": "一中队"}),
            Row(3, {"badge": "2", "name": "", "unit": ""}),
            Row(4, {"badge": "3", "name": "丙", "unit": "火星"}),
            Row(5, {"badge": "3", "name": "丁", "unit": "一中队", "language": "fr"}),
            Row(6, {"badge": "4", "name": "戊", "unit": "一中队", "roles": "boss"}),
        ]
        report = await roster.import_officers(session=session, rows=rows, header=header)
        assert len(report.errors) == 5
        for error in report.errors:
            assert _untranslated(error.reason) == [], error.reason
        columns = await roster.import_officers(session=session, rows=rows, header=["badge"])
        assert translate_reason(columns.errors[0].reason, gettext_for("zh")) == "缺少列：姓名、单位"

    def test_an_unknown_reason_is_shown_as_written(self) -> None:
        """A reason no pattern knows is passed through, never hidden."""
        assert translate_reason("the moon is full", gettext_for("zh")) == "the moon is full"


class TestLanguageSwitch:
    async def test_the_switch_turns_the_desk_english_and_back(self, desk: DeskHarness) -> None:
        """The English link keeps the page and shows it in English; the Chinese link brings it back."""
        await desk.add_officer("L1", roles=("officer", "legal"))
        client = await desk.signed_in("L1")
        assert "总览" in (await client.get("/")).text
        switched = await client.get("/language/en", params={"next": "/cases"})
        assert switched.status_code == 303 and switched.headers["location"] == "/cases"
        assert ">Cases<" in (await client.get("/cases")).text
        back = await client.get("/language/zh", params={"next": "https://evil.example/"})
        assert back.headers["location"] == "/"
        assert "总览" in (await client.get("/")).text

    @pytest.mark.parametrize("language", ["zh", "en"])
    async def test_an_officer_who_reads_english_gets_english_first(self, desk: DeskHarness, language: str) -> None:
        """Without the switch, the desk opens in the officer's own language."""
        await desk.add_officer("L1", roles=("officer", "legal"), language=language)
        client = await desk.signed_in("L1")
        page = (await client.get("/")).text
        assert ("Overview" in page) == (language == "en")
