"""The reminder scan: finds every deadline whose reminder is due and queues it through the outbox.

The scan is set-based so that 100,000 open cases stay cheap: one query picks the deadlines whose
``next_remind_at`` has passed (an indexed column), the recipients come from one load of the officer
directory (reminders.recipients), the messages go to the outbox in one batch with dedupe keys
(``reminder:{deadline}:{due}:{offset}:{recipient}``) and the deadlines are advanced in one bulk
update. Running the scan again at the same moment finds nothing new, and even a scan that
crashed between enqueueing and advancing cannot send twice, because the outbox refuses a
dedupe key it has seen.

The case officer gets one message per deadline, with the answer buttons. A supervisor or legal
officer who is to hear of several deadlines in one scan gets them as one digest (most urgent
first), so a bad morning does not bury them under hundreds of messages. A paused clock (an
expert examination, a hearing) is not reminded about as if it ran out: its officer hears once a
week that it is paused, with a button to resume it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import outbox
from core.db import transaction, utcnow
from core.outbox import OutboxItem
from core.settings import Settings
from reminders.derive import PAUSED_NUDGE
from reminders.messages import (
    MAX_TIP_CHARS,
    MAX_TIPS,
    REMINDER_KIND,
    Audience,
    Escalation,
    ReminderFacts,
    RequestFacts,
    format_deadline,
    reminder_buttons,
    render_digest,
    render_reminder,
)
from reminders.models import ACTIVE_STATUSES, Case, Deadline
from reminders.planning import Slot, current_slot, next_check, time_left
from reminders.recipients import Directory, recipients_for
from reminders.rules import Rule, RuleSet, cite_text, load_rules

log = logging.getLogger(__name__)

# An early reminder (before the due day) that fired longer ago than this is not sent late.
STALE_EARLY_REMINDER = timedelta(days=7)

RiskTips = Callable[[str], list[str]]
"""Gives the risk tip texts for a topic (e.g. 取保候审); the wiring passes the knowledge base's."""


def no_risk_tips(_topic: str) -> list[str]:
    """Gives no tips (previews, and processes without a knowledge base)."""
    return []


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
    provisional: bool = False
    paused: bool = False

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
            "provisional": self.provisional,
            "paused": self.paused,
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


def request_facts(
    rule: Rule, *, due: datetime, current_total: int, flags: list[str], now: datetime, settings: Settings, language: str
) -> RequestFacts | None:
    """Says by when the next extension's request must reach its approver, when the law sets a day."""
    for ext in rule.next_extensions(current_total, flags):
        if ext.request_days_before is None:
            continue
        tz = settings.tz
        by = due.astimezone(tz).date() - timedelta(days=ext.request_days_before)
        today = now.astimezone(tz).date()
        state = "today" if today == by else "missed" if today > by else "ahead"
        return RequestFacts(
            label=ext.label.get(language),
            approval=ext.approval.get(language) if ext.approval else "",
            by=by.isoformat(),
            article=cite_text(ext.cite) if ext.cite else rule.article,
            state=state,
        )
    return None


def reminder_facts(
    *,
    rule: Rule,
    case_number: str,
    title: str,
    flags: list[str],
    starts_at: datetime,
    due: datetime,
    current_total: int,
    provisional: bool,
    excluded_days: int,
    paused_since: datetime | None,
    review: str | None,
    article: str,
    officer_name: str,
    officer_badge: str,
    now: datetime,
    settings: Settings,
    language: str,
    review_date: datetime | None = None,
) -> ReminderFacts:
    """Gathers what a reminder of one deadline says, in a language."""
    hourly = rule.hourly
    return ReminderFacts(
        case_number=case_number,
        title=title,
        measure=rule.measure.get(language),
        deadline=format_deadline(due, hourly=hourly, settings=settings),
        left=time_left(due, now, hourly=hourly, tz=settings.tz),
        hourly=hourly,
        article=article,
        officer_name=officer_name,
        officer_badge=officer_badge,
        start=format_deadline(starts_at, hourly=hourly, settings=settings),
        note=rule.note.get(language) if rule.note else "",
        provisional_year=due.astimezone(settings.tz).year if provisional else None,
        excluded_days=excluded_days,
        paused_since=format_deadline(paused_since, hourly=False, settings=settings) if paused_since else "",
        request=None
        if paused_since
        else request_facts(
            rule,
            due=due,
            current_total=current_total,
            flags=flags,
            now=now,
            settings=settings,
            language=language,
        ),
        review=review,
        review_date=format_deadline(review_date, hourly=False, settings=settings) if review_date else "",
    )


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
                Deadline.starts_at,
                Deadline.due_at,
                Deadline.extended_to,
                Deadline.extension_total,
                Deadline.snoozed_until,
                Deadline.last_planned,
                Deadline.article,
                Deadline.provisional,
                Deadline.excluded_days,
                Deadline.paused_since,
                Deadline.review,
                Deadline.reviewed_by,
                Case.id.label("case_id"),
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
    flags = await _flags_needed(session=session, rows=rows, rules=rules)
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
        if row.paused_since is not None:
            updates.append(
                _paused_reminder(row=row, rule=rule, now=now, directory=directory, settings=settings, items=items, report=report)
            )
            continue
        hourly = rule.hourly
        due: datetime = row.extended_to or row.due_at
        plan = rule.plan_for(row.starts_at, due, tz=tz)
        slot: Slot | None = current_slot(due, now, plan, hourly=hourly, tz=tz)
        if slot is not None and slot.offset < 0 and slot.at < now - STALE_EARLY_REMINDER:
            # A heads-up that fired long ago (half-way through bail, T-30) is stale news for a case
            # imported late: the next reminder of the plan comes in time.
            slot = None
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
                flags=flags,
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


async def _flags_needed(*, session: AsyncSession, rows: Any, rules: RuleSet) -> dict[int, list[str]]:
    """Loads the case flags (流窜/多次/结伙) only where a reminder's extension request depends on them.

    Decoding every case's flags would cost a JSON parse per deadline on every scan; no bundled
    rule needs them for a request line, so this query normally does not run.
    """
    needing = {
        r.id for r in rules.rules if any(e.request_days_before and e.requires_flags for e in r.extensions)
    }
    case_ids = sorted({row.case_id for row in rows if row.rule_id in needing})
    found: dict[int, list[str]] = {}
    for start in range(0, len(case_ids), 500):
        chunk = case_ids[start : start + 500]
        for case_id, flags in await session.execute(select(Case.id, Case.flags).where(Case.id.in_(chunk))):
            found[case_id] = list(flags or [])
    return found


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
    flags: dict[int, list[str]],
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
    topic_tips = tips.get(rule.risk_topic)
    review = row.review.split("@", 1)[0] if row.review is not None and row.reviewed_by is None else None
    # Recipients of one audience and language read the same text: render it once.
    texts: dict[tuple[str, str], str] = {}
    facts_by_language: dict[str, ReminderFacts] = {}
    for officer_id, audience in recipients:
        language = directory.people[officer_id].language
        facts = facts_by_language.get(language)
        if facts is None:
            facts = reminder_facts(
                rule=rule,
                case_number=row.case_number,
                title=row.title,
                flags=flags.get(row.case_id, []),
                starts_at=row.starts_at,
                due=due,
                current_total=row.extension_total or rule.duration,
                provisional=row.provisional,
                excluded_days=row.excluded_days or 0,
                paused_since=None,
                review=review,
                article=row.article,
                officer_name=owner.name if owner else "",
                officer_badge=owner.badge if owner else "",
                now=now,
                settings=settings,
                language=language,
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
                buttons=reminder_buttons(row.id, language, pausable=bool(rule.pause_on)),
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
        provisional=bool(row.provisional),
    )


def _paused_reminder(
    *,
    row: Any,
    rule: Rule,
    now: datetime,
    directory: Directory,
    settings: Settings,
    items: list[OutboxItem],
    report: ScanReport,
) -> dict[str, Any]:
    """Tells the officer (or, for an orphaned case, the supervisors) once a week that a clock is paused."""
    weeks = max(0, (now - row.paused_since) // PAUSED_NUDGE)
    recipients = recipients_for(
        rule=rule, offset=None, officer_id=row.officer_id, supervisor_id=row.supervisor_id, directory=directory
    )
    owner = directory.everyone.get(row.officer_id)
    due: datetime = row.extended_to or row.due_at
    label = f"p{weeks}"
    for officer_id, audience in recipients:
        language = directory.people[officer_id].language
        facts = reminder_facts(
            rule=rule,
            case_number=row.case_number,
            title=row.title,
            flags=[],
            starts_at=row.starts_at,
            due=due,
            current_total=row.extension_total or rule.duration,
            provisional=row.provisional,
            excluded_days=row.excluded_days or 0,
            paused_since=row.paused_since,
            review=None,
            article=row.article,
            officer_name=owner.name if owner else "",
            officer_badge=owner.badge if owner else "",
            now=now,
            settings=settings,
            language=language,
        )
        items.append(
            OutboxItem(
                officer_id=officer_id,
                text=render_reminder(facts, audience=audience, language=language, tips=()),
                kind=REMINDER_KIND,
                dedupe_key=f"reminder:{row.id}:paused:{int(row.paused_since.timestamp())}:{label}:{officer_id}",
                buttons=reminder_buttons(row.id, language, paused=True) if audience == Audience.OFFICER else None,
                parse_mode="HTML",
            )
        )
    report.planned.append(
        PlannedReminder(
            deadline_id=row.id,
            case_number=row.case_number,
            rule=rule.id,
            measure=rule.measure.zh,
            deadline=due.astimezone(settings.tz),
            offset=label,
            days_left=time_left(due, row.paused_since, hourly=False, tz=settings.tz),
            hours_left=None,
            recipients=[directory.people[o].badge for o, _ in recipients],
            article=row.article,
            urgent=False,
            provisional=bool(row.provisional),
            paused=True,
        )
    )
    return {
        "id": row.id,
        "next_remind_at": row.paused_since + (weeks + 1) * PAUSED_NUDGE,
        "snoozed_until": None,
        "last_planned": label,
    }


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

