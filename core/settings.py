"""Frontline settings: one object, built once at start-up and passed down.

Every setting is read from the environment with the ``FRONTLINE_`` prefix, or from a
``.env`` file in the working directory. Nothing reads the environment at import time.
"""

from __future__ import annotations

import re
import sys
from datetime import time as dtime
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.connection import parse_url as parse_redis_url
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

OFFICIAL_BOT_API = "https://api.telegram.org"
# What @BotFather hands out: the bot's numeric id, a colon, then the secret part.
BOT_TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]+")
QUIET_WINDOW = "a window such as 22:00-07:00 (hours 00-23, minutes 00-59)"
# Values never repeated in an error line: secrets, and URLs that may carry a password.
_NOT_SHOWN = {"bot_token", "webhook_secret", "llm_api_key", "embedding_api_key"}


def parse_window(text: str) -> tuple[dtime, dtime]:
    """Parses a daily window "HH:MM-HH:MM" (quiet hours) into its start and end times."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text or "")
    if match:
        sh, sm, eh, em = (int(g) for g in match.groups())
        if sh <= 23 and eh <= 23 and sm <= 59 and em <= 59:
            return dtime(sh, sm), dtime(eh, em)
    raise ValueError(f"quiet hours must look like 22:00-07:00, not {text!r}")


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
    updates_in_flight: int = Field(
        default=10, ge=1, le=500, description="Updates the bot handles at once; more wait their turn."
    )
    send_rate_per_second: float = Field(default=30.0, gt=0, le=30)
    quiet_hours: str = Field(default="22:00-07:00", description="Non-urgent pushes wait; 00:00-00:00 is off.")
    enroll_max_failures_per_hour: int = Field(default=5, ge=1)
    broadcast_max_reminders: int = Field(
        default=3, ge=0, le=10, description="Reminder rounds a broadcast may send to those who have not read it."
    )

    # rights protection: the office's time limits (units may set their own) and evidence retention
    rights_accept_working_days: int = Field(default=1, ge=1, le=30)
    rights_feedback_working_days: int = Field(default=3, ge=1, le=60)
    rights_decide_days: int = Field(default=30, ge=1, le=365)
    rights_remind_before_hours: int = Field(default=24, ge=1, le=720)
    rights_retention_days: int = Field(default=1825, ge=1)
    # tasks: reminders before the due time, and when the creator's supervisor hears of an unfinished one
    task_remind_before: str = Field(
        default="24h,2h", description="Task reminders before the due time: hours (h) or minutes (m), or none."
    )
    task_supervisor_escalation_hours: float = Field(default=24.0, ge=0, le=24 * 30)
    # the desk (web console) and the bot's name for t.me links
    bot_username: str | None = Field(
        default=None,
        pattern=r"^@?[A-Za-z][A-Za-z0-9_]{3,31}$",
        description="The bot's @username, for t.me deep links; asked from the Bot API when unset.",
    )
    desk_host: str = Field(default="127.0.0.1", min_length=1, description="Address the desk listens on.")
    desk_port: int = Field(default=8081, ge=1, le=65535)
    desk_url: str | None = Field(
        default=None, description="Public address of the desk, for sign-in links; default http://host:port."
    )
    desk_secret_key: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="Signs the desk's cookies; default: a key made once and kept in the data dir.",
    )
    desk_session_hours: float = Field(default=10.0, gt=0, le=24 * 7)
    desk_overview_cache_seconds: float = Field(default=30.0, ge=0, le=600)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("an IANA time zone such as Asia/Shanghai") from exc
        return value

    @field_validator("task_remind_before")
    @classmethod
    def _remind_leads(cls, value: str) -> str:
        normal = value.replace(" ", "").lower()
        if not re.fullmatch(r"none|\d{1,4}[hm](,\d{1,4}[hm])*", normal):
            raise ValueError("times before the due time like 24h,2h or 30m (or none)")
        return normal

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        if value is None:
            return None
        expected = "a URL such as postgresql+asyncpg://user:password@host:5432/frontline or sqlite+aiosqlite:///path.db"
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(expected)
        try:
            url = make_url(value)
            _ = url.port  # a port that is not a number fails here
        except (ArgumentError, ValueError) as exc:
            raise ValueError(expected) from exc
        if url.drivername.startswith("postgresql") and not (url.host and url.database):
            raise ValueError(expected)
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        expected = "a URL such as redis://host:6379/0 (or rediss://, unix://)"
        try:
            parsed = parse_redis_url(value)  # type: ignore[no-untyped-call]  # redis-py leaves parse_url unannotated
        except ValueError as exc:
            raise ValueError(expected) from exc
        if value.startswith(("redis://", "rediss://")):
            db = value.split("?", 1)[0].split("://", 1)[1].partition("/")[2]
            if not parsed.get("host") or (db and not db.isdigit()):
                raise ValueError(expected)
        return value

    @field_validator("bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not BOT_TOKEN_SHAPE.fullmatch(value.get_secret_value().strip()):
            raise ValueError("the token @BotFather gave, such as 123456789:AAH… (digits, a colon, then letters and digits)")
        return SecretStr(value.get_secret_value().strip()) if value is not None else None

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        try:
            start, end = parse_window(value)
        except ValueError as exc:
            raise ValueError(QUIET_WINDOW) from exc
        return f"{start:%H:%M}-{end:%H:%M}"

    @field_validator(
        "telegram_api_base", "chroma_url", "llm_base_url", "embedding_base_url", "webhook_url", "desk_url"
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("an http:// or https:// URL")
        return value.rstrip("/")

    @property
    def task_remind_leads(self) -> tuple[timedelta, ...]:
        """Returns how long before a task's due time its reminders go out, longest first."""
        leads = {
            timedelta(hours=int(part[:-1])) if part.endswith("h") else timedelta(minutes=int(part[:-1]))
            for part in self.task_remind_before.replace(" ", "").lower().split(",")
            if part and part != "none"
        }
        return tuple(sorted((lead for lead in leads if lead > timedelta(0)), reverse=True))

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
    def desk_public_url(self) -> str:
        """Returns the address officers open the desk at (sign-in links start with it)."""
        if self.desk_url:
            return self.desk_url
        host = "127.0.0.1" if self.desk_host in ("0.0.0.0", "::", "") else self.desk_host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.desk_port}"

    @property
    def bot_token_value(self) -> str | None:
        """Returns the bot token as plain text, or None."""
        return self.bot_token.get_secret_value() if self.bot_token else None


def _expected(error: Any) -> str:
    """Says in plain words what a setting should have been."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind == "literal_error":
        return str(ctx.get("expected", "")).replace("'", "")
    bounds = {
        "greater_than_equal": "a number of at least {ge}",
        "greater_than": "a number greater than {gt}",
        "less_than_equal": "a number no greater than {le}",
        "less_than": "a number less than {lt}",
    }
    if kind in bounds:
        return bounds[kind].format(**ctx)
    plain = {
        "int_parsing": "a whole number",
        "int_from_float": "a whole number",
        "float_parsing": "a number",
        "bool_parsing": "true or false",
        "path_type": "a path",
    }
    if kind in plain:
        return plain[kind]
    message = str(error["msg"])
    return message[:1].lower() + message[1:]


def describe_error(exc: ValidationError) -> str:
    """Turns a validation error into one line naming the variable, the value and what is expected."""
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    value = first.get("input")
    shown = ""
    if field not in _NOT_SHOWN and "url" not in field and isinstance(value, str | int | float):
        shown = f" {str(value)!r}"
    return f"FRONTLINE_{field.upper()}: invalid value{shown}, expected {_expected(first)}"


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
