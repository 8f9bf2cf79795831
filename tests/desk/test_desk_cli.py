"""`frontline desk`: sign-in links from the command line, the health check, bad settings."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import cli
from core.settings import Settings
from desk.server import bind

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(settings: Settings) -> Settings:
    """A migrated SQLite database with a legal officer and a plain officer."""
    for args in (
        ["db", "upgrade"],
        ["units", "add", "法制大队"],
        ["officers", "add", "--badge", "L1", "--name", "周法制", "--unit", "法制大队", "--role", "legal"],
        ["officers", "add", "--badge", "P1", "--name", "张伟", "--unit", "法制大队"],
    ):
        result = runner.invoke(cli.app, args)
        assert result.exit_code == 0, result.output
    return settings


class TestDeskCommands:
    def test_login_link_prints_the_link_alone_on_the_last_line(self, db: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
        """The link starts with the desk's public address and can be taken with tail -n1."""
        monkeypatch.setenv("FRONTLINE_DESK_URL", "https://desk.example.gov.cn/")
        result = runner.invoke(cli.app, ["desk", "login-link", "L1"])
        assert result.exit_code == 0, result.output
        last = result.output.strip().splitlines()[-1]
        assert last.startswith("https://desk.example.gov.cn/signin/") and len(last) > 60

    def test_login_link_refuses_unknown_badges_and_plain_officers(self, db: Settings) -> None:
        """No link for a badge that does not exist or an officer without a desk role: one line, exit 1."""
        for badge, words in (("NOPE", "no such officer"), ("P1", "no desk role")):
            result = runner.invoke(cli.app, ["desk", "login-link", badge])
            assert result.exit_code == 1 and words in result.output and "Traceback" not in result.output

    def test_a_bad_desk_setting_stops_with_exit_2_naming_it(self, db: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
        """FRONTLINE_DESK_URL must be an http(s) address; a bad one is one line and exit 2."""
        monkeypatch.setenv("FRONTLINE_DESK_URL", "desk.example")
        result = runner.invoke(cli.app, ["desk", "login-link", "L1"])
        assert result.exit_code == 2 and "FRONTLINE_DESK_URL" in result.output

    def test_health_fails_when_nothing_answers(self, db: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
        """`frontline desk health` exits 1 with a line when no desk listens on the port."""
        sock = bind("127.0.0.1", 0)
        port = sock.getsockname()[1]
        sock.close()
        monkeypatch.setenv("FRONTLINE_DESK_PORT", str(port))
        result = runner.invoke(cli.app, ["desk", "health", "--timeout", "1"])
        assert result.exit_code == 1 and "does not answer" in result.output

    @pytest.mark.slow
    def test_frontline_desk_serves_until_stopped(self, db: Settings, tmp_path: Path) -> None:
        """The real command serves the desk; the health check passes; SIGTERM shuts it down cleanly."""
        sock = bind("127.0.0.1", 0)
        port = sock.getsockname()[1]
        sock.close()
        env = {**os.environ, "FRONTLINE_DATA_DIR": str(db.data_dir), "FRONTLINE_DESK_PORT": str(port)}
        process = subprocess.Popen(
            [sys.executable, "-c", "import cli; cli.main()", "desk"], cwd=tmp_path, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            for _ in range(300):
                try:
                    answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    asyncio.run(asyncio.sleep(0.1))
            else:
                raise AssertionError("the desk did not start")
            assert answer.json() == {"status": "ok"}
            assert "cache-control" in answer.headers and "content-security-policy" in answer.headers
            health = subprocess.run(
                [sys.executable, "-c", "import cli; cli.main()", "desk", "health"], cwd=tmp_path, env=env,
                capture_output=True, text=True, timeout=60,
            )
            assert health.returncode == 0, health.stdout + health.stderr
        finally:
            process.terminate()
            output, _ = process.communicate(timeout=30)
        # Uvicorn finishes the requests in flight, then lets SIGTERM end the process as it would have.
        assert process.returncode in (0, -15), output
        assert "Finished server process" in output and f"desk: http://127.0.0.1:{port}" in output
