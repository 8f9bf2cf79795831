"""Frontline settings: one object, built once at start-up and passed down.

Every setting is read from the environment with the ``FRONTLINE_`` prefix, or from a
``.env`` file in the working directory. Nothing reads the environment at import time.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

OFFICIAL_BOT_API = "https://api.telegram.org"


class SettingsError(Exception):
    """A setting has a value that Frontline cannot use."""


class Settings(BaseSettings):
    """Everything Frontline can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="FRONTLINE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,
    )

    data_dir: Path = Field(default=Path("./data"), description="Where embedded data lives.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default: SQLite file frontline.db in the data dir.",
    )
    redis_url: str | None = Field(default=None, description="Redis for shared bot state (optional).")
    chroma_url: str | None = Field(
        default=None, description="Chroma server URL; default: embedded persistent Chroma in the data dir."
    )
    bot_token: SecretStr | None = Field(default=None, description="Telegram bot token.")
    telegram_api_base: str = Field(default=OFFICIAL_BOT_API, description="Bot API base URL.")
    webhook_url: str | None = Field(default=None, description="Public webhook URL; long polling when unset.")
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    webhook_secret: SecretStr | None = None
    timezone: str = "Asia/Shanghai"
    default_language: Literal["zh", "en"] = "zh"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    llm_base_url: str | None = Field(default=None, description="OpenAI-compatible chat endpoint.")
    llm_model: str = "gpt-4o-mini"
    llm_api_key: SecretStr | None = None
    llm_timeout_seconds: float = Field(default=20.0, gt=0)

    embedding_base_url: str | None = Field(
        default=None, description="OpenAI-compatible embedding server; bundled e5-small otherwise."
    )
    embedding_model: str = "multilingual-e5-small"
    embedding_api_key: SecretStr | None = None
    knowledge_process: bool = Field(
        default=True,
        description="The bot runs the knowledge base in a process of its own (the console chat does not).",
    )

    questions_per_minute: int = Field(default=20, ge=1)
    send_rate_per_second: float = Field(default=30.0, gt=0, le=30)
    quiet_hours: str = Field(default="22:00-07:00", pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")
    enroll_max_failures_per_hour: int = Field(default=5, ge=1)
    broadcast_max_reminders: int = Field(
        default=3, ge=0, le=10, description="Reminder rounds a broadcast may send to those who have not read it."
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("an IANA time zone such as Asia/Shanghai") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("sqlite+aiosqlite://… or postgresql+asyncpg://…")
        return value

    @field_validator("telegram_api_base", "chroma_url", "llm_base_url", "embedding_base_url", "webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("an http:// or https:// URL")
        return value.rstrip("/")

    @property
    def tz(self) -> ZoneInfo:
        """Returns the configured time zone."""
        return ZoneInfo(self.timezone)

    @property
    def effective_database_url(self) -> str:
        """Returns the database URL, defaulting to SQLite in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'frontline.db').resolve()}"

    @property
    def bot_token_value(self) -> str | None:
        """Returns the bot token as plain text, or None."""
        return self.bot_token.get_secret_value() if self.bot_token else None


def describe_error(exc: ValidationError) -> str:
    """Turns a validation error into one line naming the variable and what is expected."""
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    message = first["msg"]
    message = message.removeprefix("Value error, ")
    return f"FRONTLINE_{field.upper()}: invalid value, expected {message}"


def load_settings(**overrides: object) -> Settings:
    """Builds the settings; a bad value raises SettingsError with one clear line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]  # pydantic accepts field overrides
    except ValidationError as exc:
        raise SettingsError(describe_error(exc)) from exc


def load_settings_or_exit() -> Settings:
    """Builds the settings or stops the process with exit code 2 and one line on stderr."""
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"frontline: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
