"""The reminder scan: finds every deadline whose reminder is due and queues it through the outbox.

The scan is set-based so that 100,000 open cases stay cheap: one query picks the deadlines whose
``next_remind_at`` has passed (an indexed column), the recipients come from one load of the officer
directory, the messages go to the outbox in one batch with dedupe keys
(``reminder:{deadline}:{due}:{offset}:{recipient}``) and the deadlines are advanced in one bulk
update. Running the scan again at the same moment finds nothing new, and even a scan that
crashed between enqueueing and advancing cannot send twice, because the outbox refuses a
dedupe key it has seen.

The case officer gets one message per deadline, with the answer buttons. A supervisor or legal
officer who is to hear of several deadlines in one scan gets them as one digest (most urgent
first), so a bad morning does not bury them under hundreds of messages.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import outbox
from core.db import transaction, utcnow
from core.i18n import gettext_for
from core.identity import Officer, OfficerRole, Role, Unit
from core.outbox import OutboxItem
from core.settings import Settings
from reminders.models import ACTIVE_STATUSES, Case, Deadline
from reminders.planning import Slot, current_slot, next_check, time_left
from reminders.rules import Rule, RuleSet, load_rules

log = logging.getLogger(__name__)

RiskTips = Callable[[str], list[str]]
"""Gives the risk tip texts for a topic (e.g. 取保候审); the wiring passes the knowledge base's."""

REMINDER_KIND = "reminder"
MAX_TIPS = 3
MAX_TIP_CHARS = 400
CALLBACK_PREFIX = "rem"

# gettext msgids; the catalogues carry the Chinese wording.
M_HEAD_OFFICER = "⏰ <b>Case deadline reminder</b>"
M_HEAD_SUPERVISOR = "🔔 <b>Case deadline for your supervision</b>"
M_HEAD_LEGAL = "⚠️ <b>Overdue case deadline (legal brigade)</b>"
M_CASE_OWN = "Your case {title} ({case_number}): {measure} ends on {deadline}."
M_CASE_OTHER = "Case {title} ({case_number}) handled by {officer}: {measure} ends on {deadline}."
M_DAYS_LEFT = "{n} day(s) left."
M_DUE_TODAY = "It ends today."
M_OVERDUE_DAYS = "Overdue by {n} day(s)."
M_HOURS_LEFT = "{n} hour(s) left."
M_DUE_NOW = "It ends now."
M_OVERDUE_HOURS = "Overdue by {n} hour(s)."
M_ACT = "Please handle it in accordance with the law in good time."
M_BASIS = "Legal basis: {article}"
M_TIPS = "Risk tips for cases of this kind:"
M_DIGEST_SUPERVISOR = "🔔 <b>{n} case deadlines for your supervision</b>"
M_DIGEST_LEGAL = "⚠️ <b>{n} overdue case deadlines (legal brigade)</b>"
M_DIGEST_ACT = "Please make sure each is handled in accordance with the law."
M_MORE = "…and {n} more."
DIGEST_LINES = 15
M_BTN_DONE = "✅ Handled"
M_BTN_EXTEND = "📅 Extended"
M_BTN_SNOOZE = "⏰ Remind me later"


def callback_data(action: str, deadline_id: int, arg: str = "") -> str:
    """Packs a reminder button exactly as the router's CallbackData factory does (prefix:action:id:arg)."""
    return f"{CALLBACK_PREFIX}:{action}:{deadline_id}:{arg}"


def _button_texts(language: str) -> tuple[str, str, str]:
    _ = gettext_for(language)
    return _(M_BTN_DONE), _(M_BTN_EXTEND), _(M_BTN_SNOOZE)


def reminder_buttons(deadline_id: int, language: str) -> list[list[dict[str, str]]]:
    """Builds the three answer buttons under a reminder, in the officer's language."""
    done, extend, later = _button_texts(language)
    return [
        [
            {"text": done, "callback_data": callback_data("done", deadline_id)},
            {"text": extend, "callback_data": callback_data("ext", deadline_id)},
        ],
        [{"text": later, "callback_data": callback_data("snz", deadline_id)}],
    ]


def format_deadline(due: datetime, *, hourly: bool, settings: Settings) -> str:
    """Writes a due time as an officer reads it: the date, plus the time for hour limits."""
    local = due.astimezone(settings.tz)
    return local.strftime("%Y-%m-%d %H:%M") if hourly else local.strftime("%Y-%m-%d")


def time_left_text(left: int, *, hourly: bool, language: str) -> str:
    """Says how much time is left, or how long it is overdue, in a language."""
    _ = gettext_for(language)
    if hourly:
        if left > 0:
            return _(M_HOURS_LEFT).format(n=left)
        return _(M_DUE_NOW) if left == 0 else _(M_OVERDUE_HOURS).format(n=-left)
    if left > 0:
        return _(M_DAYS_LEFT).format(n=left)
    return _(M_DUE_TODAY) if left == 0 else _(M_OVERDUE_DAYS).format(n=-left)


class Audience:
    """Who a reminder is for; decides its heading."""

    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    LEGAL = "legal"


@dataclass(frozen=True)
class ReminderFacts:
    """Everything a reminder text says."""

    case_number: str
    title: str
    measure: str
    deadline: str
    left: int
    hourly: bool
    article: str
    officer_name: str
    officer_badge: str


def render_reminder(facts: ReminderFacts, *, audience: str, language: str, tips: Sequence[str]) -> str:
    """Renders a reminder as Telegram HTML in a language (every outside text escaped)."""
    _ = gettext_for(language)
    esc = html.escape
    head = {Audience.OFFICER: M_HEAD_OFFICER, Audience.SUPERVISOR: M_HEAD_SUPERVISOR}.get(
        audience, M_HEAD_LEGAL
    )
    values = {
        "title": f"<b>{esc(facts.title)}</b>",
        "case_number": esc(facts.case_number),
        "measure": esc(facts.measure),
        "deadline": f"<b>{esc(facts.deadline)}</b>",
        "officer": esc(f"{facts.officer_name}（{facts.officer_badge}）"),
    }
    body = _(M_CASE_OWN if audience == Audience.OFFICER else M_CASE_OTHER).format(**values)
    lines = [_(head), body, time_left_text(facts.left, hourly=facts.hourly, language=language), _(M_ACT)]
    lines.append(_(M_BASIS).format(article=esc(facts.article)))
    if tips:
        lines.append("")
        lines.append(_(M_TIPS))
        lines.extend(f"{i}. {esc(tip)}" for i, tip in enumerate(tips[:MAX_TIPS], start=1))
    return "\n".join(lines)


@dataclass(frozen=True)
class Person:
    """The few officer fields a scan needs."""

    id: int
    badge: str
    name: str
    language: str
    unit_id: int


@dataclass
class Directory:
    """Officers, units and roles, loaded once per scan so recipients cost no query each."""

    people: dict[int, Person]
    """The active officers: only they receive reminders."""
    parent: dict[int, int | None]
    supervisors_by_unit: dict[int, list[int]]
    legal_by_root: dict[int, list[int]]
    all_legal: list[int]
    everyone: dict[int, Person] = field(default_factory=dict)
    """Every officer, active or not: a deactivated case officer still has a unit and a name."""

    @classmethod
    async def load(cls, *, session: AsyncSession) -> Directory:
        """Loads the active officers, the unit tree and who holds the supervisor and legal roles."""
        everyone: dict[int, Person] = {}
        people: dict[int, Person] = {}
        for row in await session.execute(
            select(Officer.id, Officer.badge, Officer.name, Officer.language, Officer.unit_id, Officer.active)
        ):
            person = Person(row.id, row.badge, row.name, row.language, row.unit_id)
            everyone[row.id] = person
            if row.active:
                people[row.id] = person
        parent = {row.id: row.parent_id for row in await session.execute(select(Unit.id, Unit.parent_id))}
        directory = cls(people, parent, {}, {}, [], everyone)
        roles = await session.execute(
            select(OfficerRole.officer_id, OfficerRole.role).where(
                OfficerRole.role.in_([Role.SUPERVISOR.value, Role.LEGAL.value])
            )
        )
        for officer_id, role in roles:
            holder = people.get(officer_id)
            if holder is None:
                continue
            if role == Role.SUPERVISOR.value:
                directory.supervisors_by_unit.setdefault(holder.unit_id, []).append(officer_id)
            else:
                directory.legal_by_root.setdefault(directory.root_of(holder.unit_id), []).append(officer_id)
                directory.all_legal.append(officer_id)
        return directory

    def root_of(self, unit_id: int) -> int:
        """Returns the top unit (the bureau) above a unit."""
        seen: set[int] = set()
        while (up := self.parent.get(unit_id)) is not None and unit_id not in seen:
            seen.add(unit_id)
            unit_id = up
        return unit_id

    def supervisors_of(self, officer_id: int) -> list[int]:
        """Finds an officer's supervisors: the nearest unit up the tree that has any (as identity does)."""
        person = self.everyone.get(officer_id)
        unit_id: int | None = person.unit_id if person else None
        seen: set[int] = set()
        while unit_id is not None and unit_id not in seen:
            seen.add(unit_id)
            found = [s for s in self.supervisors_by_unit.get(unit_id, []) if s != officer_id]
            if found:
                return found
            unit_id = self.parent.get(unit_id)
        return []

    def legal_for(self, officer_id: int) -> list[int]:
        """Finds the legal brigade of an officer's bureau (all legal officers if the bureau has none)."""
        person = self.everyone.get(officer_id)
        if person is None:
            return list(self.all_legal)
        return list(self.legal_by_root.get(self.root_of(person.unit_id), self.all_legal))


def recipients_for(
    *, rule: Rule, offset: int | None, officer_id: int, supervisor_id: int | None, directory: Directory
) -> list[tuple[int, str]]:
    """Lists who gets a reminder at an offset: the officer, then supervisors and legal as it escalates."""
    result: list[tuple[int, str]] = []
    seen: set[int] = set()

    def add(ids: Sequence[int], audience: str) -> None:
        for officer in ids:
            if officer not in seen and officer in directory.people:
                seen.add(officer)
                result.append((officer, audience))

    add([officer_id], Audience.OFFICER)
    # A deactivated case officer reads nothing: the supervisors hear of every reminder instead.
    orphaned = officer_id not in directory.people
    if orphaned or (offset is not None and offset >= rule.reminders.supervisor_from):
        if supervisor_id is not None and supervisor_id in directory.people:
            add([supervisor_id], Audience.SUPERVISOR)
        else:
            add(directory.supervisors_of(officer_id), Audience.SUPERVISOR)
    if offset is not None and offset >= rule.reminders.legal_from:
        add(directory.legal_for(officer_id), Audience.LEGAL)
    return result


@dataclass(frozen=True)
class PlannedReminder:
    """One deadline's reminder as a scan decided it (sent or, in a preview, not)."""

    deadline_id: int
    case_number: str
    rule: str
    measure: str
    deadline: datetime
    offset: str
    days_left: int
    hours_left: int | None
    recipients: list[str]
    article: str
    urgent: bool

    def as_json(self) -> dict[str, Any]:
        """Returns the reminder as a JSON-ready dict."""
        return {
            "deadline_id": self.deadline_id,
            "case_number": self.case_number,
            "rule": self.rule,
            "measure": self.measure,
            "deadline": self.deadline.isoformat(),
            "offset": self.offset,
            "days_left": self.days_left,
            "hours_left": self.hours_left,
            "recipients": self.recipients,
            "article": self.article,
            "urgent": self.urgent,
        }


@dataclass
class ScanReport:
    """What a scan looked at and queued."""

    checked: int = 0
    planned: list[PlannedReminder] = field(default_factory=list)
    messages: int = 0
    enqueued: int = 0
    duplicates: int = 0
    unknown_rules: list[str] = field(default_factory=list)


class EnqueueMany(Protocol):
    """Queues many outbox items at once, skipping dedupe keys already seen; returns how many were new."""

    def __call__(self, *, session: AsyncSession, items: list[OutboxItem]) -> Awaitable[int]: ...


class _TipCache:
    def __init__(self, risk_tips: RiskTips) -> None:
        self.risk_tips = risk_tips
        self.cache: dict[str, list[str]] = {}

    def get(self, topic: str) -> list[str]:
        if topic not in self.cache:
            try:
                # Cut long tips: three of them must never push a reminder past Telegram's 4096
                # characters, or the outbox would refuse the whole batch.
                self.cache[topic] = [
                    tip if len(tip) <= MAX_TIP_CHARS else tip[: MAX_TIP_CHARS - 1] + "…"
                    for tip in list(self.risk_tips(topic))[:MAX_TIPS]
                ]
            except Exception:
                # A reminder without tips still has to go out.
                log.exception("risk tips for %s failed; sending reminders without them", topic)
                self.cache[topic] = []
        return self.cache[topic]


async def scan(
    *,
    session: AsyncSession,
    now: datetime,
    settings: Settings,
    risk_tips: RiskTips,
    rules: RuleSet | None = None,
    enqueue_many: EnqueueMany = outbox.enqueue_many,
    dry_run: bool = False,
) -> ScanReport:
    """Queues every reminder due at ``now`` and advances each deadline to its next reminder.

    With ``dry_run`` nothing is written: the report says what would be sent.
    """
    rules = rules or load_rules(settings)
    tz = settings.tz
    report = ScanReport()
    rows = (
        await session.execute(
            select(
                Deadline.id,
                Deadline.rule_id,
                Deadline.due_at,
                Deadline.extended_to,
                Deadline.snoozed_until,
                Deadline.last_planned,
                Deadline.article,
                Case.case_number,
                Case.title,
                Case.officer_id,
                Case.supervisor_id,
            )
            .join(Case, Case.id == Deadline.case_id)
            .where(Deadline.next_remind_at <= now, Deadline.status.in_(ACTIVE_STATUSES))
            .order_by(Deadline.id)
        )
    ).all()
    report.checked = len(rows)
    if not rows:
        return report
    directory = await Directory.load(session=session)
    tips = _TipCache(risk_tips)
    items: list[OutboxItem] = []
    escalations: dict[int, list[Escalation]] = {}
    updates: list[dict[str, Any]] = []
    for row in rows:
        rule = rules.get(row.rule_id)
        if rule is None:
            # The rule was removed from rules.yaml: stop scanning this deadline rather than guess.
            report.unknown_rules.append(row.rule_id)
            updates.append({"id": row.id, "next_remind_at": None})
            continue
        hourly = rule.hourly
        due: datetime = row.extended_to or row.due_at
        plan = rule.reminders
        slot: Slot | None = current_slot(due, now, plan, hourly=hourly, tz=tz)
        snoozed: datetime | None = row.snoozed_until
        label: str | None
        if snoozed is not None and snoozed <= now:
            label = f"s{int(snoozed.timestamp())}"
            snoozed = None
        else:
            label = slot.label if slot is not None else None
        change: dict[str, Any] = {
            "id": row.id,
            "next_remind_at": next_check(due, now, plan, hourly=hourly, tz=tz, snoozed_until=snoozed),
            "snoozed_until": snoozed,
        }
        if label is not None and label != row.last_planned:
            change["last_planned"] = label
            offset = slot.offset if slot is not None else None
            planned = _plan_messages(
                row=row,
                rule=rule,
                due=due,
                now=now,
                offset=offset,
                label=label,
                directory=directory,
                tips=tips,
                settings=settings,
                items=items,
                escalations=escalations,
            )
            report.planned.append(planned)
        else:
            change["last_planned"] = row.last_planned
        updates.append(change)
    items.extend(_escalation_messages(escalations, directory=directory))
    report.messages = len(items)
    if dry_run:
        return report
    if items:
        report.enqueued = await enqueue_many(session=session, items=items)
        report.duplicates = len(items) - report.enqueued
    for start in range(0, len(updates), 5000):
        await session.execute(update(Deadline), updates[start : start + 5000])
    return report


def _plan_messages(
    *,
    row: Any,
    rule: Rule,
    due: datetime,
    now: datetime,
    offset: int | None,
    label: str,
    directory: Directory,
    tips: _TipCache,
    settings: Settings,
    items: list[OutboxItem],
    escalations: dict[int, list[Escalation]],
) -> PlannedReminder:
    hourly = rule.hourly
    tz = settings.tz
    left = time_left(due, now, hourly=hourly, tz=tz)
    days_left = left if not hourly else time_left(due, now, hourly=False, tz=tz)
    urgent = hourly or (offset is not None and offset >= 0)
    recipients = recipients_for(
        rule=rule,
        offset=offset,
        officer_id=row.officer_id,
        supervisor_id=row.supervisor_id,
        directory=directory,
    )
    owner = directory.everyone.get(row.officer_id)
    stamp = due.astimezone(tz).strftime("%Y%m%d%H%M")
    deadline_text = format_deadline(due, hourly=hourly, settings=settings)
    topic_tips = tips.get(rule.risk_topic)
    # Recipients of one audience and language read the same text: render it once.
    texts: dict[tuple[str, str], str] = {}
    facts_by_language: dict[str, ReminderFacts] = {}
    for officer_id, audience in recipients:
        language = directory.people[officer_id].language
        facts = facts_by_language.get(language)
        if facts is None:
            facts = ReminderFacts(
                case_number=row.case_number,
                title=row.title,
                measure=rule.measure.get(language),
                deadline=deadline_text,
                left=left,
                hourly=hourly,
                article=row.article,
                officer_name=owner.name if owner else "",
                officer_badge=owner.badge if owner else "",
            )
            facts_by_language[language] = facts
        key = f"reminder:{row.id}:{stamp}:{label}:{officer_id}"
        if audience != Audience.OFFICER:
            # Supervisors and the legal brigade may hear of many cases in one scan: gathered first,
            # they get one digest instead of a message per case (see _escalation_messages).
            escalations.setdefault(officer_id, []).append(
                Escalation(
                    audience=audience, facts=facts, tips=tuple(topic_tips), dedupe_key=key, urgent=urgent
                )
            )
            continue
        text = texts.get((audience, language))
        if text is None:
            text = render_reminder(facts, audience=audience, language=language, tips=topic_tips)
            texts[(audience, language)] = text
        items.append(
            OutboxItem(
                officer_id=officer_id,
                text=text,
                kind=REMINDER_KIND,
                dedupe_key=key,
                buttons=reminder_buttons(row.id, language),
                urgent=urgent,
                parse_mode="HTML",
            )
        )
    return PlannedReminder(
        deadline_id=row.id,
        case_number=row.case_number,
        rule=rule.id,
        measure=rule.measure.zh,
        deadline=due.astimezone(tz),
        offset=label,
        days_left=days_left,
        hours_left=left if hourly else None,
        recipients=[directory.people[o].badge for o, _ in recipients],
        article=row.article,
        urgent=urgent,
    )


@dataclass(frozen=True)
class Escalation:
    """One deadline a supervisor or legal officer is to hear of in this scan."""

    audience: str
    facts: ReminderFacts
    tips: tuple[str, ...]
    dedupe_key: str
    urgent: bool


def render_digest(entries: Sequence[Escalation], *, language: str) -> str:
    """Renders many escalated deadlines as one message, most urgent first (at most DIGEST_LINES)."""
    _ = gettext_for(language)
    esc = html.escape
    ordered = sorted(entries, key=lambda e: e.facts.left if not e.facts.hourly else e.facts.left / 24)
    legal = all(e.audience == Audience.LEGAL for e in entries)
    lines = [_(M_DIGEST_LEGAL if legal else M_DIGEST_SUPERVISOR).format(n=len(entries))]
    for number, entry in enumerate(ordered[:DIGEST_LINES], start=1):
        f = entry.facts
        left = time_left_text(f.left, hourly=f.hourly, language=language)
        # Titles are cut so that fifteen lines stay well inside Telegram's 4096 characters.
        title = f.title if len(f.title) <= 40 else f.title[:39] + "…"
        lines.append(
            f"{number}. <b>{esc(title)}</b>（{esc(f.case_number)}）· {esc(f.measure)} · {esc(f.deadline)} · "
            f"{left} · {esc(f.officer_name)}（{esc(f.officer_badge)}）· {esc(f.article)}"
        )
    if len(ordered) > DIGEST_LINES:
        lines.append(_(M_MORE).format(n=len(ordered) - DIGEST_LINES))
    lines.append(_(M_DIGEST_ACT))
    return "\n".join(lines)


def _escalation_messages(
    escalations: dict[int, list[Escalation]], *, directory: Directory
) -> list[OutboxItem]:
    """Turns each supervisor's or legal officer's escalations into one message (one case: the full reminder)."""
    items: list[OutboxItem] = []
    for officer_id, entries in escalations.items():
        language = directory.people[officer_id].language
        if len(entries) == 1:
            entry = entries[0]
            text = render_reminder(entry.facts, audience=entry.audience, language=language, tips=entry.tips)
            key = entry.dedupe_key
        else:
            text = render_digest(entries, language=language)
            digest = hashlib.sha1("\n".join(sorted(e.dedupe_key for e in entries)).encode()).hexdigest()[:24]
            key = f"reminder-digest:{officer_id}:{digest}"
        items.append(
            OutboxItem(
                officer_id=officer_id,
                text=text,
                kind=REMINDER_KIND,
                dedupe_key=key,
                urgent=any(e.urgent for e in entries),
                parse_mode="HTML",
            )
        )
    return items


async def run_daily_scan_loop(
    *,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    risk_tips: RiskTips,
    stop: asyncio.Event,
    interval_seconds: float = 900.0,
    enqueue_many: EnqueueMany = outbox.enqueue_many,
) -> None:
    """Runs the scan every ``interval_seconds`` (cheap: dedupe keys and next_remind_at) until ``stop``."""
    while not stop.is_set():
        try:
            async with transaction(sessions) as session:
                report = await scan(
                    session=session,
                    now=utcnow(),
                    settings=settings,
                    risk_tips=risk_tips,
                    enqueue_many=enqueue_many,
                )
            if report.checked:
                log.info(
                    "reminder scan: %d deadlines checked, %d reminders queued, %d already queued",
                    report.checked,
                    report.enqueued,
                    report.duplicates,
                )
        except Exception:
            # One failed scan must not end the loop: the next one catches up (dedupe keys keep it single).
            log.exception("reminder scan failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
        except TimeoutError:
            continue
