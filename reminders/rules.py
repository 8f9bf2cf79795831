"""Statutory deadline rules, loaded from YAML and validated, so the legal brigade can edit them."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from core.holidays import HolidayCalendar
from core.settings import Settings
from reminders.calendar import HolidayRule, PeriodEnd, Unit, last_day, period_end
from reminders.events import EVENTS, FLAGS, CaseType

BUNDLED_RULES = Path(__file__).resolve().parent / "rules.yaml"
RULES_FILE_NAME = "rules.yaml"
RULES_VERSION = 2
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_ARTICLE_TEXT = 128
# An hour limit that has run out is serious (a person held too long), but reminding everyone every
# hour forever buries the message: after the listed overdue reminders, at most one per this many hours.
MIN_HOURLY_OVERDUE_EVERY = 4
_ARTICLE = r"^第[零一二三四五六七八九十百千]+条(之[一二三四五六七八九十]+)?(第[一二三四五六七八九十]+款)?$"


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


# Why a deadline was handled, as the officer picks it under 已处理. Codes go in callback data.
OUTCOMES: dict[str, Text] = {
    "arrest": Text(zh="已提请批准逮捕", en="arrest approval requested"),
    "changed": Text(zh="已变更强制措施", en="measure changed"),
    "released": Text(zh="已解除/释放", en="lifted / released"),
    "prosecution": Text(zh="已移送审查起诉", en="sent for prosecution"),
    "closed": Text(zh="已结案", en="case closed"),
    "decided": Text(zh="已作出决定", en="decision made"),
    "served": Text(zh="已送达", en="served"),
    "notified": Text(zh="已通知家属", en="family notified"),
    "done": Text(zh="已送押、通知并讯问", en="held, family told, interrogated"),
    "reported": Text(zh="已报批", en="submitted for approval"),
    "transferred": Text(zh="已移送", en="transferred"),
    "other": Text(zh="其他", en="other"),
}


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


class Cite(_Strict):
    """Articles of one law that a rule rests on."""

    law: Annotated[str, Field(min_length=1)]
    articles: Annotated[list[Annotated[str, Field(pattern=_ARTICLE)]], Field(min_length=1)]
    version: Annotated[str, BeforeValidator(_iso), Field(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None
    """The date of the text cited, where the corpus holds several (治安管理处罚法 2012 / 2025)."""
    quote: list[Annotated[str, Field(min_length=2)]] = Field(default_factory=list)
    """Words of the cited articles the rule rests on; a test finds each in the statute text."""
    superseded: Text | None = None
    """Says that (and since when) the cited text is no longer in force, when an old text is cited."""

    @property
    def name(self) -> str:
        """Returns the law's name as cited, with the year of the text where the corpus holds several."""
        return f"{self.law}（{self.version[:4]}年版）" if self.version else self.law

    def text(self) -> str:
        """Returns the citation as written on a reminder, e.g. 刑事诉讼法第八十五条、第八十六条."""
        return f"{self.name}{'、'.join(self.articles)}"


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str | dict) else value


Cites = Annotated[list[Cite], BeforeValidator(_listed), Field(min_length=1)]


def cite_text(cites: list[Cite]) -> str:
    """Joins citations as a reminder shows them (刑事诉讼法第七十六条、第七十九条；公安机关…第一百零七条)."""
    groups: list[tuple[str, list[str]]] = []
    for cite in cites:
        if groups and groups[-1][0] == cite.name:
            groups[-1][1].extend(a for a in cite.articles if a not in groups[-1][1])
        else:
            groups.append((cite.name, list(cite.articles)))
    return "；".join(f"{name}{'、'.join(articles)}" for name, articles in groups)


class Extension(_Strict):
    """One way a period can be extended: to a new total counted from the same start."""

    total: Annotated[int, Field(gt=0)]
    label: Text
    requires_flags: list[str] = Field(default_factory=list)
    after: int | None = None
    """Only from this total (the steps of a chain: 2 -> 3 -> 5 -> 7 months)."""
    condition: Text | None = None
    """What the law requires of the case; the officer confirms it before extending."""
    approval: Text | None = None
    """Who must have approved; the officer confirms the approval before extending."""
    cite: Annotated[list[Cite], BeforeValidator(_listed)] = Field(default_factory=list)
    request_days_before: Annotated[int, Field(gt=0)] | None = None
    """The request must reach the approving body this many days before the period runs out."""

    @field_validator("requires_flags")
    @classmethod
    def _known_flags(cls, value: list[str]) -> list[str]:
        unknown = [f for f in value if f not in FLAGS]
        if unknown:
            raise ValueError(f"unknown flag(s) {unknown}; known: {list(FLAGS)}")
        return value

    @property
    def needs_confirmation(self) -> bool:
        """Tells whether the officer must confirm a condition or an approval to use it."""
        return self.condition is not None or self.approval is not None

    def allowed_for(self, flags: list[str]) -> bool:
        """Tells whether a case with these flags may use this extension."""
        return not self.requires_flags or any(f in flags for f in self.requires_flags)


class ReminderPlan(_Strict):
    """When reminders go out, as offsets from the due day (or due hour for hour rules)."""

    offsets: Annotated[list[int], Field(min_length=1)]
    midpoint: bool = False
    """Also remind half-way through the period (a long measure must not be forgotten)."""
    overdue: list[int] = Field(default_factory=list)
    """Reminders after the due day/hour, before the regular repeats take over."""
    overdue_every: Annotated[int, Field(ge=1)] = 1
    overdue_until: Annotated[int, Field(gt=0)] | None = None
    """No reminder after this offset: an hour limit long past is listed, not repeated for ever."""
    supervisor_from: int = 0
    legal_from: int = 1

    @field_validator("offsets")
    @classmethod
    def _sorted_not_after_due(cls, value: list[int]) -> list[int]:
        if any(v > 0 for v in value):
            raise ValueError(
                "offsets are 0 (the due day) or negative (before it); use overdue after it"
            )
        return sorted(set(value))

    @field_validator("overdue")
    @classmethod
    def _after_due(cls, value: list[int]) -> list[int]:
        if any(v <= 0 for v in value):
            raise ValueError("overdue offsets come after the due day/hour (positive)")
        if len(value) > 6:
            raise ValueError("at most 6 overdue offsets; overdue_every repeats after them")
        return sorted(set(value))

    def with_extra(self, offset: int) -> ReminderPlan:
        """Returns the plan with one more reminder before the due day (e.g. the midpoint)."""
        if offset >= 0 or offset in self.offsets:
            return self
        return self.model_copy(update={"offsets": sorted({*self.offsets, offset})})


class Repeat(StrEnum):
    """What a second trigger does while the period of the first still runs."""

    RESTART = "restart"
    """A new decision: the new period replaces the running one (a second summons)."""
    KEEP = "keep"
    """The first still counts; the later one is only recorded (立案 after 受理)."""
    FLAG = "flag"
    """The first still counts, and the legal brigade is asked to review (a second bail decision
    must not silently restart the 12 months)."""


def _trigger_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Rule(_Strict):
    """One statutory time limit."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
    measure: Text
    case_types: Annotated[list[CaseType], Field(min_length=1)]
    trigger: Annotated[list[str], BeforeValidator(_trigger_list), Field(min_length=1)]
    requires_held: bool = False
    """Only when the suspect is held at the trigger (the procuratorate's 7 days on an arrest request)."""
    starts: Text | None = None
    """What the trigger's date must be (e.g. 到案时间), shown in the import template."""
    stop: list[str] = Field(default_factory=list)
    restart_on: list[str] = Field(default_factory=list)
    """Events that start the period anew while it runs (刑诉法160: another serious crime found)."""
    pause_on: list[str] = Field(default_factory=list)
    resume_on: list[str] = Field(default_factory=list)
    duration: Annotated[int, Field(gt=0)]
    unit: Unit
    held: bool
    """The person is held (or, as in 指定居所监视居住, held in substance) during the period."""
    holidays: HolidayRule
    repeat: Repeat = Repeat.RESTART
    max_triggers: Annotated[int, Field(gt=0)] | None = None
    """More trigger events than this in one case are flagged for the legal brigade (补充侦查以二次为限)."""
    extensions: list[Extension] = Field(default_factory=list)
    cite: Cites
    note: Text | None = None
    """Said on every reminder (e.g. why the last day is not moved past holidays)."""
    outcomes: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: ["other"])
    risk_topic: Annotated[str, Field(min_length=1)]
    reminders: ReminderPlan

    @field_validator("trigger", "stop", "restart_on", "pause_on", "resume_on")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in EVENTS]
        if unknown:
            raise ValueError(f"unknown event(s) {unknown}; known: {', '.join(EVENTS)}")
        return value

    @field_validator("outcomes")
    @classmethod
    def _known_outcomes(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in OUTCOMES]
        if unknown:
            raise ValueError(f"unknown outcome(s) {unknown}; known: {', '.join(OUTCOMES)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        totals = {self.duration}
        for ext in self.extensions:
            if ext.total <= self.duration:
                raise ValueError(f"extension total {ext.total} must exceed the duration {self.duration}")
            totals.add(ext.total)
        for ext in self.extensions:
            if ext.after is not None and (ext.after not in totals or ext.after >= ext.total):
                raise ValueError(f"extension to {ext.total}: after {ext.after} is not a shorter total of this rule")
        if bool(self.pause_on) != bool(self.resume_on):
            raise ValueError("pause_on and resume_on go together")
        if self.pause_on and self.unit is Unit.HOURS:
            raise ValueError("only day and month periods can be paused")
        if self.unit is Unit.HOURS and self.holidays is not HolidayRule.KEEP:
            raise ValueError("hour periods run by the clock: holidays must be keep")
        if self.unit is Unit.HOURS and self.reminders.overdue_every < MIN_HOURLY_OVERDUE_EVERY:
            raise ValueError(
                f"reminders.overdue_every: an overdue hour limit repeats at most every "
                f"{MIN_HOURLY_OVERDUE_EVERY} hours (list the first ones in overdue)"
            )
        if len(self.article) > MAX_ARTICLE_TEXT:
            raise ValueError(f"cite: the citation is longer than {MAX_ARTICLE_TEXT} characters")
        return self

    @property
    def hourly(self) -> bool:
        """Tells whether the rule counts in hours (its reminder offsets are then hours too)."""
        return self.unit is Unit.HOURS

    @property
    def article(self) -> str:
        """Returns the citation shown on every reminder."""
        return cite_text(self.cite)

    @cached_property
    def version(self) -> str:
        """Returns a short fingerprint of the rule, stored on the deadlines it computed."""
        body = json.dumps(self.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)
        return hashlib.sha1(body.encode()).hexdigest()[:12]

    def moves_past_holidays(self, *, held: bool) -> bool:
        """Tells whether the last day moves past rest days (``held``: the suspect is held at the start)."""
        if self.holidays is HolidayRule.MOVE:
            return True
        return self.holidays is HolidayRule.KEEP_IF_HELD and not held

    def due(
        self,
        start: datetime,
        *,
        tz: ZoneInfo,
        calendar: HolidayCalendar,
        total: int | None = None,
        held: bool = False,
        excluded_days: int = 0,
    ) -> PeriodEnd:
        """Returns when the period (or an extension to ``total``) that began at ``start`` runs out."""
        return period_end(
            start,
            total or self.duration,
            self.unit,
            move=self.moves_past_holidays(held=held),
            calendar=calendar,
            tz=tz,
            excluded_days=excluded_days,
        )

    def plan_for(self, start: datetime, due: datetime, *, tz: ZoneInfo) -> ReminderPlan:
        """Returns the reminder plan of one deadline (with its midpoint, when the rule asks for one)."""
        if not self.reminders.midpoint or self.hourly:
            return self.reminders
        first = start.astimezone(tz).date()
        end = due.astimezone(tz).date()
        unmoved = last_day(first, self.duration, self.unit)
        middle = first + timedelta(days=(unmoved - first).days // 2)
        return _with_extra(self.reminders, (middle - end).days)

    def next_extensions(self, current_total: int, flags: list[str]) -> list[Extension]:
        """Lists the extensions a case with these flags may take from its current total."""
        return [
            e
            for e in self.extensions
            if e.total > current_total and (e.after is None or e.after == current_total) and e.allowed_for(flags)
        ]

    def extensions_for(self, flags: list[str]) -> list[Extension]:
        """Lists every extension a case with these flags may use at some point."""
        return [e for e in self.extensions if e.allowed_for(flags)]

    def applies_to(self, case_type: str, event: str) -> bool:
        """Tells whether an event in a case of this type starts this rule's period."""
        return event in self.trigger and case_type in self.case_types


class RuleSet(_Strict):
    """Every rule in force."""

    version: int = RULES_VERSION
    rules: Annotated[list[Rule], Field(min_length=1)]

    @field_validator("version")
    @classmethod
    def _current(cls, value: int) -> int:
        if value != RULES_VERSION:
            raise ValueError(
                f"version {value} rules are not read any more (this Frontline reads version "
                f"{RULES_VERSION}): start again from the bundled reminders/rules.yaml"
            )
        return value

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

    def for_case_type(self, case_type: str) -> list[Rule]:
        """Lists the rules that can apply to a case of this type."""
        return [r for r in self.rules if case_type in r.case_types]

    def hour_events(self) -> set[tuple[str, str]]:
        """Lists (case type, event) pairs that start an hour-counted period: they need a time of day."""
        return {(ct.value, t) for r in self.rules if r.hourly for ct in r.case_types for t in r.trigger}


_plans: dict[tuple[int, int], tuple[ReminderPlan, ReminderPlan]] = {}


def _with_extra(plan: ReminderPlan, offset: int) -> ReminderPlan:
    """Returns ``plan`` with one more offset, built once per (plan, offset): a scan asks thousands of times.

    The cache holds the plan itself, so its id is not reused while the entry lives.
    """
    key = (id(plan), offset)
    found = _plans.get(key)
    if found is None:
        if len(_plans) > 10_000:
            _plans.clear()
        found = _plans[key] = (plan, plan.with_extra(offset))
    return found[1]


def _describe(exc: ValidationError, source: str, data: Any) -> str:
    parts = []
    for error in exc.errors()[:5]:
        loc = error["loc"]
        where = ".".join(str(p) for p in loc) or "(top)"
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            rules = data.get("rules") if isinstance(data, dict) else None
            if isinstance(rules, list) and loc[1] < len(rules) and isinstance(rules[loc[1]], dict):
                rule_id = rules[loc[1]].get("id")
                if rule_id:
                    where = f"{where} ({rule_id})"
        parts.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return f"{source}: " + "; ".join(parts) + more


def parse_rules(text: str, *, source: str = RULES_FILE_NAME) -> RuleSet:
    """Parses and validates rules YAML, raising RulesError with the bad field on failure."""
    try:
        data = yaml.load(text, Loader=_LOADER)  # a safe loader, C-accelerated when built
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise RulesError(f"{source}:{where} not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if not isinstance(data, dict):
        raise RulesError(f"{source}: expected a mapping with a 'rules' list")
    if isinstance(data.get("version"), date):
        raise RulesError(f"{source}: version must be {RULES_VERSION}")
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        raise RulesError(_describe(exc, source, data)) from exc


_cache: dict[Path, tuple[float, RuleSet]] = {}


def rules_path(settings: Settings) -> Path:
    """Returns the rules file in force: the data dir's override if present, else the bundled one."""
    override = settings.data_dir / RULES_FILE_NAME
    return override if override.exists() else BUNDLED_RULES


def load_rules(settings: Settings) -> RuleSet:
    """Loads the rules in force, re-reading the file when it changes."""
    return _read(rules_path(settings))


def _read(path: Path) -> RuleSet:
    mtime = path.stat().st_mtime
    cached = _cache.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    ruleset = parse_rules(path.read_text(encoding="utf-8"), source=str(path))
    _cache[path] = (mtime, ruleset)
    return ruleset


def bundled_rules() -> RuleSet:
    """Loads the rules shipped with Frontline."""
    return _read(BUNDLED_RULES)
