"""The command line: every command has --help, bad input is one clear line and a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

import cli
from core.settings import Settings

runner = CliRunner()


def _commands(app: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for command in app.registered_commands:
        name = command.name or (command.callback.__name__.replace("_", "-") if command.callback else "")
        found.append((*prefix, name))
    for group in app.registered_groups:
        if group.typer_instance is not None and group.name:
            found.append((*prefix, group.name))
            found.extend(_commands(group.typer_instance, (*prefix, group.name)))
    return found


@pytest.fixture
def db(settings: Settings) -> Settings:
    """A migrated SQLite database in the test's data dir (the CLI reads the working directory)."""
    result = runner.invoke(cli.app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    return settings


class TestCli:
    def test_every_command_has_help(self) -> None:
        """`--help` works on every command and group."""
        commands = _commands(cli.app)
        assert ("officers", "enroll-code") in commands and ("audit", "tail") in commands
        for path in commands:
            result = runner.invoke(cli.app, [*path, "--help"])
            assert result.exit_code == 0, (path, result.output)
            assert "Usage" in result.output

    def test_enroll_code_is_alone_on_the_last_line(self, db: Settings) -> None:
        """The code can be taken with `tail -n1` by scripts."""
        assert runner.invoke(cli.app, ["units", "add", "一中队"]).exit_code == 0
        added = runner.invoke(cli.app, ["officers", "add", "--badge", "1001", "--name", "张三", "--unit", "一中队"])
        assert added.exit_code == 0, added.output
        result = runner.invoke(cli.app, ["officers", "enroll-code", "1001", "--hours", "24"])
        assert result.exit_code == 0
        last = result.output.strip().splitlines()[-1]
        assert len(last) == 8 and last.isalnum()

    def test_bad_input_is_one_line_without_traceback(self, db: Settings) -> None:
        """Unknown units, badges and files give one line and exit 1."""
        cases = [
            ["officers", "add", "--badge", "1", "--name", "x", "--unit", "nowhere"],
            ["officers", "deactivate", "404"],
            ["officers", "import", "missing.csv"],
            ["audit", "tail", "--since", "yesterday"],
        ]
        for args in cases:
            result = runner.invoke(cli.app, args)
            assert result.exit_code == 1, (args, result.output)
            assert "Traceback" not in result.output
            assert len(result.output.strip().splitlines()) == 1, result.output

    def test_import_reports_lines_and_writes_nothing(self, db: Settings, tmp_path: Path) -> None:
        """A CSV with a bad row is refused whole, naming the line."""
        runner.invoke(cli.app, ["units", "add", "一中队"])
        path = tmp_path / "o.csv"
        path.write_text("badge,name,unit\n1,甲,一中队\n2,,一中队\n", encoding="utf-8")
        result = runner.invoke(cli.app, ["officers", "import", str(path)])
        assert result.exit_code == 1
        assert "o.csv: line 3: name is empty" in result.output
        listed = runner.invoke(cli.app, ["officers", "list", "--json"])
        assert listed.output.strip() == "[]"

    def test_unmigrated_database_says_what_to_do(self, settings: Settings) -> None:
        """Using the CLI before `db upgrade` tells the operator to run it."""
        result = runner.invoke(cli.app, ["officers", "list"])
        assert result.exit_code == 1
        assert "frontline db upgrade" in result.output

    def test_audit_tail_filters_by_actor_subject_or_either(self, db: Settings) -> None:
        """--actor: done by the badge; --subject: about the officer; --officer: either; --json carries officer_id."""
        runner.invoke(cli.app, ["units", "add", "一中队"])
        runner.invoke(cli.app, ["officers", "add", "--badge", "7", "--name", "甲", "--unit", "一中队"])
        runner.invoke(cli.app, ["officers", "add", "--badge", "8", "--name", "乙", "--unit", "一中队"])
        runner.invoke(cli.app, ["officers", "set-roles", "7", "--role", "民警", "--role", "法制"])
        everything = runner.invoke(cli.app, ["audit", "tail"])
        assert "officer.add" in everything.output and "unit.add" in everything.output

        def actions(*args: str) -> list[tuple[str, str, str | None]]:
            result = runner.invoke(cli.app, ["audit", "tail", "--json", *args])
            assert result.exit_code == 0, result.output
            rows = [json.loads(line) for line in result.output.splitlines()]
            return [(r["actor"], r["action"], r["target_id"]) for r in rows]

        assert actions("--actor", "7") == []
        assert actions("--subject", "7") == [("cli", "officer.add", "7"), ("cli", "officer.roles", "7")]
        assert actions("--officer", "7") == actions("--subject", "7")
        assert actions("--actor", "cli", "--subject", "8") == [("cli", "officer.add", "8")]
        assert actions("--subject", "404") == []
        both = runner.invoke(cli.app, ["audit", "tail", "--officer", "7", "--actor", "cli"])
        assert both.exit_code == 2 and "--officer" in both.output

    async def test_audit_tail_officer_includes_what_they_did(self, session: AsyncSession) -> None:
        """Actions an officer took (their badge as actor) and actions about them are both found with --officer."""
        from core import audit, identity

        await identity.add_unit(session=session, name="一中队")
        officer = await identity.add_officer(session=session, badge="9", name="丙", unit="一中队")
        await identity.set_language(session=session, officer=officer, language="en")
        await audit.record(session=session, actor="9", action="question.ask")
        about = audit.about_officer(officer_id=officer.id, badge="9")
        either = await audit.tail(session=session, actor="9", about=about, actor_or_about=True)
        assert [e.action for e in either] == ["officer.add", "officer.language", "question.ask"]
        done = await audit.tail(session=session, actor="9")
        assert [e.action for e in done] == ["officer.language", "question.ask"]


    def test_a_unit_gets_and_drops_its_own_quiet_hours(self, db: Settings) -> None:
        """`units quiet-hours` sets a checked window (shown by `units list`), refuses a bad one, --clear drops it."""
        runner.invoke(cli.app, ["units", "add", "刑侦大队"])
        runner.invoke(cli.app, ["units", "add", "夜班中队", "--parent", "刑侦大队"])
        done = runner.invoke(cli.app, ["units", "quiet-hours", "夜班中队", "8:00-16:00"])
        assert done.exit_code == 0 and "08:00-16:00" in done.output, done.output
        listed = runner.invoke(cli.app, ["units", "list"]).output.splitlines()
        assert listed == ["刑侦大队", "  夜班中队  (quiet hours 08:00-16:00)"]
        bad = runner.invoke(cli.app, ["units", "quiet-hours", "夜班中队", "25:00-07:00"])
        assert bad.exit_code == 1 and len(bad.output.strip().splitlines()) == 1 and "22:00-07:00" in bad.output
        assert runner.invoke(cli.app, ["units", "quiet-hours", "夜班中队"]).exit_code == 2
        cleared = runner.invoke(cli.app, ["units", "quiet-hours", "夜班中队", "--clear"])
        assert cleared.exit_code == 0 and "parent" in cleared.output
        assert runner.invoke(cli.app, ["units", "list"]).output.splitlines()[1] == "  夜班中队"
        audited = runner.invoke(cli.app, ["audit", "tail", "--action", "unit.quiet_hours", "--json"])
        assert len(audited.output.splitlines()) == 2


class TestHealth:
    def test_health_follows_the_heartbeat(self, settings: Settings) -> None:
        """`frontline health bot` fails before the first beat and after a stale one, passes when fresh."""
        import os

        from core import heartbeat

        assert runner.invoke(cli.app, ["health", "bot"]).exit_code == 1
        heartbeat.beat(settings.data_dir, "bot")
        assert runner.invoke(cli.app, ["health", "bot"]).exit_code == 0
        path = heartbeat.heartbeat_path(settings.data_dir, "bot")
        path.write_text("1000\n", encoding="ascii")
        os.utime(path)
        stale = runner.invoke(cli.app, ["health", "bot", "--max-age", "60"])
        assert stale.exit_code == 1 and "last heartbeat" in stale.output
