"""`frontline run` as an operator meets it: the real process, its heartbeat, and what stops it at start."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

import cli
from bot.commands import RedisUnavailable, preflight
from bot.messenger import BadBotToken
from core.settings import Settings, load_settings
from tests.fakebotapi import FakeBotAPI

ROOT = Path(__file__).resolve().parents[2]


def run_main(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """Runs `frontline ARGS` through cli.main; returns the exit code and stderr."""
    monkeypatch.setattr(sys, "argv", ["frontline", *args])
    with pytest.raises(SystemExit) as done:
        cli.main()
    code = done.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


class TestRunWithoutToken:
    def test_a_configured_database_gets_no_demo(
        self, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With FRONTLINE_DATABASE_URL set and no token: exit 2 saying the token is missing; nothing seeded."""
        database = tmp_path / "production.db"
        monkeypatch.setenv("FRONTLINE_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
        monkeypatch.setattr(sys.stdin, "isatty", lambda: True)  # even from a terminal
        code, err = run_main(["run"], capsys, monkeypatch)
        assert code == 2
        assert err.startswith("frontline: FRONTLINE_BOT_TOKEN is not set") and len(err.splitlines()) == 1
        assert not database.exists()

    async def test_postgresql_gets_no_demo(
        self, settings: Settings, pg_db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No demo officers or tables are ever written into a PostgreSQL database."""
        monkeypatch.setenv("FRONTLINE_DATABASE_URL", pg_db_url)
        monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
        code, err = await asyncio.to_thread(run_main, ["run"], capsys, monkeypatch)
        assert code == 2 and "FRONTLINE_BOT_TOKEN is not set" in err
        from core.db import make_engine

        engine = make_engine(pg_db_url)
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        await engine.dispose()
        assert tables == []

    def test_no_terminal_means_no_demo(
        self, settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """On the embedded default but with no terminal (a container, a service): exit 2, not a silent exit 0."""
        monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
        code, err = run_main(["run"], capsys, monkeypatch)
        assert code == 2 and "FRONTLINE_BOT_TOKEN is not set" in err
        assert not settings.data_dir.exists()


class TestPreflight:
    async def test_a_refused_token_stops_start_up(self, settings: Settings) -> None:
        """A token the Bot API answers 401 to is a BadBotToken (exit 2 in `frontline run`)."""
        api = FakeBotAPI()
        await api.start()
        try:
            wrong = load_settings(
                data_dir=settings.data_dir, bot_token="999:wrong", telegram_api_base=api.base_url, _env_file=None
            )
            with pytest.raises(BadBotToken, match="refused FRONTLINE_BOT_TOKEN"):
                await preflight(wrong)
            right = wrong.model_copy(update={"bot_token": load_settings(bot_token=api.token, _env_file=None).bot_token})
            await preflight(right)
        finally:
            await api.stop()

    async def test_an_unreachable_telegram_does_not_stop_start_up(self, settings: Settings) -> None:
        """A Bot API that cannot be reached now is retried by polling later, so start-up goes on."""
        offline = load_settings(
            data_dir=settings.data_dir, bot_token="1:abc", telegram_api_base="http://127.0.0.1:1", _env_file=None
        )
        await preflight(offline)

    async def test_an_unreachable_redis_stops_start_up(self, settings: Settings) -> None:
        """A configured Redis that does not answer is named in one line (no traceback per update later)."""
        api = FakeBotAPI()
        await api.start()
        try:
            configured = load_settings(
                data_dir=settings.data_dir,
                bot_token=api.token,
                telegram_api_base=api.base_url,
                redis_url="redis://127.0.0.1:1/0",
                _env_file=None,
            )
            with pytest.raises(RedisUnavailable, match="cannot reach Redis"):
                await preflight(configured)
        finally:
            await api.stop()


async def _frontline(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import cli; cli.main()", *args,
        cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode()


@pytest.mark.slow
class TestTheRunningProcess:
    async def test_the_bot_beats_its_heartbeat_answers_and_stops_on_sigterm(self, tmp_path: Path) -> None:
        """`frontline run` started for real: `health bot` passes while it runs and fails once SIGTERM stopped it."""
        api = FakeBotAPI()
        await api.start()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "PYTHONPATH": str(ROOT),
            "FRONTLINE_DATA_DIR": str(tmp_path / "data"),
            "FRONTLINE_BOT_TOKEN": api.token,
            "FRONTLINE_TELEGRAM_API_BASE": api.base_url,
        }
        code, out = await _frontline("health", "bot", env=env, cwd=tmp_path)
        assert code == 1 and "no heartbeat" in out
        bot = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import cli; cli.main()", "run",
            cwd=tmp_path, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        try:
            beat = tmp_path / "data" / "heartbeat-bot"
            for _ in range(1200):
                if beat.exists() or bot.returncode is not None:
                    break
                await asyncio.sleep(0.1)
            assert beat.exists(), "the bot never wrote its heartbeat"
            code, out = await _frontline("health", "bot", env=env, cwd=tmp_path)
            assert code == 0 and "bot: alive" in out, out
            assert any(call.method == "getUpdates" for call in api.calls), "the bot is polling"
        finally:
            if bot.returncode is None:
                bot.send_signal(signal.SIGTERM)
            _out, err = await asyncio.wait_for(bot.communicate(), 60)
            await api.stop()
        assert bot.returncode == 0, err.decode()[-2000:]
        code, out = await _frontline("health", "bot", env=env, cwd=tmp_path)
        assert code == 1 and "no heartbeat" in out
