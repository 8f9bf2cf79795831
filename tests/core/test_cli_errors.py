"""Whatever the command, an operator's mistake is one line on stderr and an exit code, never a traceback.

These run the real entry point (``cli.main``, what the ``frontline`` script calls) in this
process: a bad setting exits 2 naming the variable; a database that is unreachable, missing
or not set up exits 1 saying so; a closed pipe ends quietly.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import cli
from core.migrate import upgrade_url
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]

# Every command that reads or writes the database, with arguments that would otherwise work.
DATABASE_COMMANDS = [
    ["units", "add", "城关派出所"],
    ["units", "list"],
    ["officers", "add", "--badge", "1", "--name", "甲", "--unit", "城关派出所"],
    ["officers", "import", "officers.csv"],
    ["officers", "list"],
    ["officers", "set-roles", "1", "--role", "officer"],
    ["officers", "deactivate", "1"],
    ["officers", "enroll-code", "1"],
    ["audit", "tail"],
    ["outbox", "status"],
    ["outbox", "retry-dead", "--all"],
    ["reminders", "status"],
    ["cases", "import", "cases.csv"],
]
WITH_TOKEN = [["worker"], ["run"]]  # they check the token first; then the database


def run_main(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """Runs `frontline ARGS` through cli.main; returns the exit code, stdout and stderr."""
    monkeypatch.setattr(sys, "argv", ["frontline", *args])
    with pytest.raises(SystemExit) as done:
        cli.main()
    out, err = capsys.readouterr()
    code = done.value.code
    return (code if isinstance(code, int) else (0 if code is None else 1)), out, err


@pytest.fixture
def files(settings: Settings) -> Settings:
    """Input files the import commands can read, in the working directory."""
    Path("officers.csv").write_text("badge,name,unit\n1,甲,城关派出所\n", encoding="utf-8")
    Path("cases.csv").write_text(
        "case_number,case_title,case_type,officer_badge,event,event_date\nA1,某案,criminal,1,受案,2026-03-01\n",
        encoding="utf-8",
    )
    return settings


class TestDatabaseProblems:
    @pytest.mark.parametrize("args", DATABASE_COMMANDS, ids=lambda a: " ".join(a[:2]))
    def test_an_unreachable_database_is_one_line(
        self, args: list[str], files: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A PostgreSQL server that refuses connections is named with its address, exit 1, no traceback."""
        monkeypatch.setenv("FRONTLINE_DATABASE_URL", "postgresql+asyncpg://frontline@127.0.0.1:1/frontline")
        code, _out, err = run_main(args, capsys, monkeypatch)
        assert code == 1, err
        assert err.strip().splitlines() == [err.strip()], err
        assert err.startswith("frontline: cannot reach the database at 127.0.0.1:1/frontline"), err

    @pytest.mark.parametrize("args", DATABASE_COMMANDS, ids=lambda a: " ".join(a[:2]))
    def test_a_missing_database_is_one_line(
        self,
        args: list[str],
        files: Settings,
        pg_url: str,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A database that does not exist on the server is named as such (not 'run db upgrade')."""
        from core.testing import database_url

        monkeypatch.setenv("FRONTLINE_DATABASE_URL", database_url(pg_url, "frontline_no_such_database"))
        code, _out, err = run_main(args, capsys, monkeypatch)
        assert code == 1, err
        assert len(err.strip().splitlines()) == 1, err
        assert 'database "frontline_no_such_database" does not exist' in err, err

    def test_db_upgrade_on_an_unreachable_database_is_one_line(
        self, settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`db upgrade` itself says the database cannot be reached instead of telling to run itself."""
        monkeypatch.setenv("FRONTLINE_DATABASE_URL", "postgresql+asyncpg://frontline@127.0.0.1:1/frontline")
        code, _out, err = run_main(["db", "upgrade"], capsys, monkeypatch)
        assert code == 1
        assert err.startswith("frontline: cannot reach the database") and "db upgrade" not in err

    def test_a_database_that_is_not_set_up_says_to_run_the_upgrade(
        self, files: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An empty SQLite file (no tables) gets the hint to run `frontline db upgrade`."""
        files.data_dir.mkdir(parents=True)
        (files.data_dir / "frontline.db").touch()
        for args in (["officers", "list"], ["outbox", "status"], ["audit", "tail"]):
            code, _out, err = run_main(args, capsys, monkeypatch)
            assert code == 1
            assert err.strip() == "frontline: the database is not set up yet: run `frontline db upgrade`", err


class TestProcessesAtStart:
    @pytest.mark.parametrize("args", WITH_TOKEN, ids=lambda a: a[0])
    def test_an_unreachable_database_stops_the_bot_and_the_worker_in_one_line(
        self,
        args: list[str],
        settings: Settings,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """With a token but no database, `run` and `worker` say so in one line before loading anything."""
        monkeypatch.setenv("FRONTLINE_BOT_TOKEN", "123:abc")
        monkeypatch.setenv("FRONTLINE_TELEGRAM_API_BASE", "http://127.0.0.1:1")
        monkeypatch.setenv("FRONTLINE_DATABASE_URL", "postgresql+asyncpg://frontline@127.0.0.1:1/frontline")
        code, _out, err = run_main(args, capsys, monkeypatch)
        assert code == 1, err
        assert err.startswith("frontline: cannot reach the database at 127.0.0.1:1/frontline"), err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


    @pytest.mark.parametrize("knowledge_process", ["false", "true"])
    def test_an_unreachable_chroma_server_stops_the_bot_in_one_line(
        self,
        knowledge_process: str,
        settings: Settings,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A knowledge base that cannot open (Chroma server down) is one line, in the bot's process or its child."""
        monkeypatch.setenv("FRONTLINE_BOT_TOKEN", "123:abc")
        monkeypatch.setenv("FRONTLINE_TELEGRAM_API_BASE", "http://127.0.0.1:1")
        monkeypatch.setenv("FRONTLINE_CHROMA_URL", "http://127.0.0.1:1")
        monkeypatch.setenv("FRONTLINE_KNOWLEDGE_PROCESS", knowledge_process)
        code, _out, err = run_main(["run"], capsys, monkeypatch)
        assert code == 1, err
        assert err.startswith("frontline: the knowledge base could not be opened"), err
        assert "Chroma" in err and len(err.strip().splitlines()) == 1, err


    def test_chat_with_an_unknown_badge_says_so_before_loading_anything(
        self, settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`frontline chat --badge NOPE` is one line, exit 1, without opening the knowledge base first."""
        import bot.commands

        def no_knowledge_base(_settings: Settings) -> None:
            raise AssertionError("the knowledge base was opened for an unknown badge")

        monkeypatch.setattr(bot.commands, "_open_knowledge_base", no_knowledge_base)
        code, _out, err = run_main(["chat", "--badge", "NOPE"], capsys, monkeypatch)
        assert code == 1 and err.strip() == "frontline: no officer with badge NOPE"


class TestBadSettings:
    @pytest.mark.parametrize(
        "args",
        [
            *DATABASE_COMMANDS,
            ["db", "upgrade"],
            ["health", "bot"],
            ["run"],
            ["chat", "--badge", "1"],
            ["worker"],
        ],
        ids=lambda a: " ".join(a[:2]),
    )
    def test_a_bad_setting_stops_every_command_with_exit_2(
        self, args: list[str], files: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """FRONTLINE_QUIET_HOURS=25:00-07:00 is refused by every command, naming the variable."""
        monkeypatch.setenv("FRONTLINE_QUIET_HOURS", "25:00-07:00")
        code, _out, err = run_main(args, capsys, monkeypatch)
        assert code == 2, err
        assert err.strip().splitlines() == [
            "frontline: FRONTLINE_QUIET_HOURS: invalid value '25:00-07:00', "
            "expected a window such as 22:00-07:00 (hours 00-23, minutes 00-59)"
        ]

    @pytest.mark.parametrize(
        ("variable", "value"),
        [
            ("FRONTLINE_REDIS_URL", "localhost:6379"),
            ("FRONTLINE_BOT_TOKEN", "not-a-token"),
            ("FRONTLINE_DEFAULT_LANGUAGE", "fr"),
        ],
    )
    def test_bad_redis_url_token_or_language_stop_the_bot_with_exit_2(
        self,
        variable: str,
        value: str,
        settings: Settings,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """`frontline run` refuses them before starting anything."""
        monkeypatch.setenv(variable, value)
        code, _out, err = run_main(["run"], capsys, monkeypatch)
        assert code == 2
        assert len(err.strip().splitlines()) == 1 and err.startswith(f"frontline: {variable}: invalid value")
        assert not settings.data_dir.exists(), "nothing may be created before the settings are checked"


class TestOutput:
    def test_health_names_only_bot_or_worker(
        self, settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`frontline health foo` is a usage error (exit 2) listing the choices."""
        code, _out, err = run_main(["health", "foo"], capsys, monkeypatch)
        assert code == 2
        assert "bot" in err and "worker" in err

    def test_a_reader_that_goes_away_ends_the_command_quietly(self, tmp_path: Path) -> None:
        """`frontline officers list | head -1` prints no 'Broken pipe' and no traceback."""
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "FRONTLINE_DATA_DIR": str(tmp_path / "data"),
            "PYTHONPATH": str(ROOT),
        }
        frontline = f"{sys.executable} -c 'import cli; cli.main()'"
        (tmp_path / "data").mkdir()
        asyncio.run(upgrade_url(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'frontline.db'}"))
        # Far more output than a pipe holds, so the writer meets the closed pipe mid-way.
        with sqlite3.connect(tmp_path / "data" / "frontline.db") as db:
            db.execute("INSERT INTO units (id, name, created_at) VALUES (1, '一中队', '2026-01-01')")
            db.executemany(
                "INSERT INTO officers (badge, name, unit_id, active, language, reachable, created_at) "
                "VALUES (?, ?, 1, 1, 'zh', 1, '2026-01-01')",
                [(f"{n:06d}", f"警员{n}") for n in range(3000)],
            )
        for args in ("officers list",):
            result = subprocess.run(
                f"{frontline} {args} | head -1", shell=True, executable="/bin/bash", cwd=tmp_path, env=env,
                capture_output=True, text=True, timeout=120,
            )
            assert result.stdout.strip(), "the first line arrives"
            assert result.stderr == "", result.stderr


class TestDeliberateExits:
    def test_a_commands_own_exit_is_not_reported_as_an_error(self, capsys) -> None:
        """typer.Exit raised by a command passes through the error handler unchanged, with no extra line."""
        import typer

        from core.cli_support import cli_errors

        @cli_errors(Exception)
        def command() -> None:
            raise typer.Exit(3)

        with pytest.raises(typer.Exit) as done:
            command()
        assert done.value.exit_code == 3
        assert capsys.readouterr().err == ""
