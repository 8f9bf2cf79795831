"""Statutory deadline rules, loaded from YAML and validated, so the legal brigade can edit them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.settings import Settings
from reminders.calendar import Unit, period_end
from reminders.events import EVENTS, FLAGS, CaseType

BUNDLED_RULES = Path(__file__).resolve().parent / "rules.yaml"
RULES_FILE_NAME = "rules.yaml"


class RulesError(Exception):
    """A rules file that cannot be used; the message names the file and the bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    """A text in Chinese and English."""

    zh: Annotated[str, Field(min_length=1)]
    en: Annotated[str, Field(min_length=1)]

    def get(self, language: str) -> str:
        """Returns the text in a language (Chinese unless English is asked for)."""
        return self.en if language == "en" else self.zh


class Cite(_Strict):
    """The governing provision of a rule."""

    law: Annotated[str, Field(min_length=1)]
    article: Annotated[str, Field(pattern=r"^第[零一二三四五六七八九十百千]+条(之[一二三四五六七八九十]+)?$")]
    also: str | None = None

    def text(self) -> str:
        """Returns the citation as written on a reminder, e.g. 刑事诉讼法第七十九条."""
        main = f"{self.law}{self.article}"
        return f"{main}；{self.also}" if self.also else main


class Extension(_Strict):
    """One way a period can be extended: to a new total counted from the same start."""

    total: Annotated[int, Field(gt=0)]
    label: Text
    requires_flags: list[str] = Field(default_factory=list)

    @field_validator("requires_flags")
    @classmethod
    def _known_flags(cls, value: list[str]) -> list[str]:
        unknown = [f for f in value if f not in FLAGS]
        if unknown:
            raise ValueError(f"unknown flag(s) {unknown}; known: {list(FLAGS)}")
        return value

    def allowed_for(self, flags: list[str]) -> bool:
        """Tells whether a case with these flags may use this extension."""
        return not self.requires_flags or any(f in flags for f in self.requires_flags)


class ReminderPlan(_Strict):
    """When reminders go out, as offsets from the due day (or due hour for hour rules)."""

    offsets: Annotated[list[int], Field(min_length=1)]
    overdue_every: Annotated[int, Field(ge=1)] = 1
    supervisor_from: int = 0
    legal_from: int = 1

    @field_validator("offsets")
    @classmethod
    def _sorted_not_after_due(cls, value: list[int]) -> list[int]:
        if any(v > 0 for v in value):
            raise ValueError(
                "offsets are 0 (the due day) or negative (before it); use overdue_every after it"
            )
        return sorted(set(value))


class Rule(_Strict):
    """One statutory time limit."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
    measure: Text
    case_types: Annotated[list[CaseType], Field(min_length=1)]
    trigger: str
    stop: list[str] = Field(default_factory=list)
    duration: Annotated[int, Field(gt=0)]
    unit: Unit
    in_custody: bool
    extensions: list[Extension] = Field(default_factory=list)
    cite: Cite
    risk_topic: Annotated[str, Field(min_length=1)]
    reminders: ReminderPlan

    @field_validator("trigger")
    @classmethod
    def _known_trigger(cls, value: str) -> str:
        if value not in EVENTS:
            raise ValueError(f"unknown event {value!r}; known: {', '.join(EVENTS)}")
        return value

    @field_validator("stop")
    @classmethod
    def _known_stops(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in EVENTS]
        if unknown:
            raise ValueError(f"unknown event(s) {unknown}; known: {', '.join(EVENTS)}")
        return value

    @model_validator(mode="after")
    def _extensions_lengthen(self) -> Rule:
        for ext in self.extensions:
            if ext.total <= self.duration:
                raise ValueError(f"extension total {ext.total} must exceed the duration {self.duration}")
        return self

    @property
    def hourly(self) -> bool:
        """Tells whether the rule counts in hours (its reminder offsets are then hours too)."""
        return self.unit is Unit.HOURS

    def due(self, start: datetime, *, tz: ZoneInfo, total: int | None = None) -> datetime:
        """Returns when the period (or an extension to ``total``) that began at ``start`` runs out."""
        return period_end(start, total or self.duration, self.unit, in_custody=self.in_custody, tz=tz)

    def extensions_for(self, flags: list[str]) -> list[Extension]:
        """Lists the extensions a case with these flags may use."""
        return [e for e in self.extensions if e.allowed_for(flags)]

    def applies_to(self, case_type: str, event: str) -> bool:
        """Tells whether an event in a case of this type starts this rule's period."""
        return event == self.trigger and case_type in self.case_types


class RuleSet(_Strict):
    """Every rule in force."""

    version: Literal[1] = 1
    rules: Annotated[list[Rule], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSet:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"duplicate rule id {rule.id!r}")
            seen.add(rule.id)
        return self

    def get(self, rule_id: str) -> Rule | None:
        """Gets a rule by its id."""
        return next((r for r in self.rules if r.id == rule_id), None)

    def triggered_by(self, case_type: str, event: str) -> list[Rule]:
        """Lists the rules whose period an event starts in a case of this type."""
        return [r for r in self.rules if r.applies_to(case_type, event)]


def _describe(exc: ValidationError, source: str) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "(top)"
        parts.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return f"{source}: " + "; ".join(parts) + more


def parse_rules(text: str, *, source: str = RULES_FILE_NAME) -> RuleSet:
    """Parses and validates rules YAML, raising RulesError with the bad field on failure."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise RulesError(f"{source}:{where} not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if not isinstance(data, dict):
        raise RulesError(f"{source}: expected a mapping with a 'rules' list")
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        raise RulesError(_describe(exc, source)) from exc


_cache: dict[Path, tuple[float, RuleSet]] = {}


def rules_path(settings: Settings) -> Path:
    """Returns the rules file in force: the data dir's override if present, else the bundled one."""
    override = settings.data_dir / RULES_FILE_NAME
    return override if override.exists() else BUNDLED_RULES


def load_rules(settings: Settings) -> RuleSet:
    """Loads the rules in force, re-reading the file when it changes."""
    path = rules_path(settings)
    mtime = path.stat().st_mtime
    cached = _cache.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    ruleset = parse_rules(path.read_text(encoding="utf-8"), source=str(path))
    _cache[path] = (mtime, ruleset)
    return ruleset


def bundled_rules() -> RuleSet:
    """Loads the rules shipped with Frontline."""
    return parse_rules(BUNDLED_RULES.read_text(encoding="utf-8"), source=str(BUNDLED_RULES))
