"""Settings: defaults, environment, .env, and one clear line for a bad value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import OFFICIAL_BOT_API, SettingsError, load_settings


class TestSettings:
    def test_embedded_defaults_need_no_configuration(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """With nothing set, Frontline runs on SQLite in ./data and the official Bot API."""
        monkeypatch.chdir(tmp_path)
        s = load_settings(_env_file=None)
        assert s.data_dir == Path("data")
        assert s.effective_database_url.startswith("sqlite+aiosqlite:///")
        assert s.effective_database_url.endswith("/data/frontline.db")
        assert s.telegram_api_base == OFFICIAL_BOT_API
        assert s.timezone == "Asia/Shanghai"
        assert s.default_language == "zh"
        assert s.redis_url is None and s.chroma_url is None and s.bot_token is None

    def test_reads_prefixed_environment_and_dotenv(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """FRONTLINE_ variables and a .env file both configure it; empty values mean unset."""
        monkeypatch.chdir(tmp_path)
        (tmp_path / ".env").write_text(
            "FRONTLINE_TELEGRAM_API_BASE=http://127.0.0.1:8081/\nFRONTLINE_REDIS_URL=\n", encoding="utf-8"
        )
        monkeypatch.setenv("FRONTLINE_BOT_TOKEN", "123:abc")
        s = load_settings()
        assert s.telegram_api_base == "http://127.0.0.1:8081"
        assert s.bot_token_value == "123:abc"
        assert s.redis_url is None

    @pytest.mark.parametrize(
        ("variable", "value", "expected"),
        [
            ("FRONTLINE_TIMEZONE", "Mars/Olympus", "IANA time zone"),
            ("FRONTLINE_DATABASE_URL", "mysql://x", "postgresql+asyncpg"),
            ("FRONTLINE_TELEGRAM_API_BASE", "ftp://x", "http"),
            ("FRONTLINE_DEFAULT_LANGUAGE", "fr", "invalid value 'fr', expected zh or en"),
            ("FRONTLINE_WEBHOOK_PORT", "99999", "invalid value '99999', expected a number no greater than 65535"),
            ("FRONTLINE_QUESTIONS_PER_MINUTE", "many", "expected a whole number"),
            ("FRONTLINE_KNOWLEDGE_PROCESS", "maybe", "expected true or false"),
            ("FRONTLINE_QUIET_HOURS", "25:00-07:00", "expected a window such as 22:00-07:00"),
            ("FRONTLINE_QUIET_HOURS", "22:00", "expected a window such as 22:00-07:00"),
            ("FRONTLINE_QUIET_HOURS", "22:00-07:60", "expected a window such as 22:00-07:00"),
            ("FRONTLINE_REDIS_URL", "localhost:6379", "redis://host:6379/0"),
            ("FRONTLINE_REDIS_URL", "redis://:6379/x", "redis://host:6379/0"),
            ("FRONTLINE_REDIS_URL", "http://localhost:6379", "redis://host:6379/0"),
            ("FRONTLINE_BOT_TOKEN", "not a token", "@BotFather"),
            ("FRONTLINE_BOT_TOKEN", "123456", "@BotFather"),
            ("FRONTLINE_DATABASE_URL", "postgresql+asyncpg://db:port/x", "postgresql+asyncpg://user"),
            ("FRONTLINE_DATABASE_URL", "postgresql+asyncpg://", "postgresql+asyncpg://user"),
        ],
    )
    def test_bad_value_names_the_variable(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
    ) -> None:
        """A bad value is one line naming the variable and what is expected."""
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv(variable, value)
        with pytest.raises(SettingsError) as err:
            load_settings(_env_file=None)
        message = str(err.value)
        assert message.startswith(f"{variable}: invalid value")
        assert expected in message
        assert "\n" not in message
        assert "Input should" not in message and "Value error" not in message

    def test_secrets_and_urls_are_not_repeated_in_the_error(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A bad token or URL (which may hold a password) is named, never echoed."""
        monkeypatch.chdir(tmp_path)
        for variable, value in (
            ("FRONTLINE_BOT_TOKEN", "secret token"),
            ("FRONTLINE_DATABASE_URL", "mysql://user:hunter2@db/x"),
        ):
            monkeypatch.setenv(variable, value)
            with pytest.raises(SettingsError) as err:
                load_settings(_env_file=None)
            assert value not in str(err.value) and "hunter2" not in str(err.value)
            monkeypatch.delenv(variable)

    def test_good_values_are_accepted_and_normalised(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Usual spellings of the new checks pass: a one-digit hour, redis URLs of every scheme, a real token shape."""
        monkeypatch.chdir(tmp_path)
        s = load_settings(
            _env_file=None,
            quiet_hours="7:30-8:00",
            redis_url="rediss://user:pw@cache.internal:6380/2",
            bot_token="123456789:AAH-ab_cd",
        )
        assert s.quiet_hours == "07:30-08:00"
        assert load_settings(_env_file=None, redis_url="unix:///run/redis.sock").redis_url == "unix:///run/redis.sock"
        assert load_settings(_env_file=None, quiet_hours="00:00-00:00").quiet_hours == "00:00-00:00"

    def test_cli_exits_with_code_2_on_a_bad_setting(self, tmp_path: Path) -> None:
        """The command line stops with exit code 2 and one line on stderr, no traceback."""
        env = {"PATH": "/usr/bin:/bin", "FRONTLINE_TIMEZONE": "Nowhere/Nothing", "HOME": str(tmp_path)}
        result = subprocess.run(
            [sys.executable, "-m", "cli", "officers", "list"],
            cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            "frontline: FRONTLINE_TIMEZONE: invalid value 'Nowhere/Nothing', expected an IANA time zone such as Asia/Shanghai"
        ]
