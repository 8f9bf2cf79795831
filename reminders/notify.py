"""Pushes a case change causes, queued in the same transaction: review requests and handovers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox
from core.outbox import OutboxItem
from core.settings import Settings
from reminders.messages import (
    REMINDER_KIND,
    format_deadline,
    render_handed_away,
    render_handover,
    render_review,
    review_buttons,
    time_left_text,
)
from reminders.models import ACTIVE_STATUSES, Case, CaseEvent, Deadline
from reminders.planning import time_left
from reminders.recipients import Directory
from reminders.rules import RuleSet
from reminders.schedule import reminder_facts


async def notify_reviews(
    *,
    session: AsyncSession,
    case: Case,
    deadlines: Sequence[Deadline],
    rules: RuleSet,
    settings: Settings,
    directory: Directory,
    now: datetime,
) -> int:
    """Asks the legal brigade over the case officer to review newly flagged deadlines; returns pushes queued."""
    items: list[OutboxItem] = []
    legal = directory.legal_for(case.officer_id)
    owner = directory.everyone.get(case.officer_id)
    for deadline in deadlines:
        rule = rules.get(deadline.rule_id)
        if rule is None or deadline.review_code is None:
            continue
        events = (
            await session.scalars(
                select(CaseEvent.occurred_at)
                .where(CaseEvent.case_id == case.id, CaseEvent.event.in_(rule.trigger))
                .order_by(CaseEvent.occurred_at)
            )
        ).all()
        latest = events[-1] if events else deadline.starts_at
        for officer_id in legal:
            person = directory.people[officer_id]
            facts = reminder_facts(
                rule=rule,
                case_number=case.case_number,
                title=case.title,
                flags=list(case.flags or []),
                starts_at=deadline.starts_at,
                due=deadline.effective_due,
                current_total=deadline.extension_total or rule.duration,
                provisional=deadline.provisional,
                excluded_days=deadline.excluded_days,
                paused_since=deadline.paused_since,
                review=deadline.review_code,
                article=deadline.article,
                officer_name=owner.name if owner else "",
                officer_badge=owner.badge if owner else "",
                now=now,
                settings=settings,
                language=person.language,
                review_date=latest,
            )
            items.append(
                OutboxItem(
                    officer_id=officer_id,
                    text=render_review(
                        facts,
                        review=deadline.review_code or "",
                        start=format_deadline(deadline.starts_at, hourly=rule.hourly, settings=settings),
                        occurrences=len(events),
                        language=person.language,
                    ),
                    kind=REMINDER_KIND,
                    dedupe_key=f"deadline-review:{deadline.id}:{deadline.review}:{officer_id}",
                    buttons=review_buttons(deadline.id, person.language),
                    parse_mode="HTML",
                )
            )
    return await outbox.enqueue_many(session=session, items=items) if items else 0


async def notify_handover(
    *,
    session: AsyncSession,
    case: Case,
    previous_officer_id: int,
    rules: RuleSet,
    settings: Settings,
    directory: Directory,
    now: datetime,
) -> int:
    """Tells the new officer of a case it is theirs (with its running deadlines) and the former where it went."""
    deadlines = (
        await session.scalars(
            select(Deadline)
            .where(Deadline.case_id == case.id, Deadline.status.in_(ACTIVE_STATUSES))
            .order_by(Deadline.due_at)
        )
    ).all()
    new = directory.people.get(case.officer_id)
    previous = directory.everyone.get(previous_officer_id)
    items: list[OutboxItem] = []
    stamp = int(now.timestamp())
    if new is not None:
        listed = []
        for deadline in deadlines:
            rule = rules.get(deadline.rule_id)
            hourly = rule.hourly if rule else False
            due = deadline.effective_due
            listed.append(
                (
                    rule.measure.get(new.language) if rule else deadline.measure,
                    format_deadline(due, hourly=hourly, settings=settings),
                    time_left_text(time_left(due, now, hourly=hourly, tz=settings.tz), hourly=hourly, language=new.language),
                )
            )
        items.append(
            OutboxItem(
                officer_id=new.id,
                text=render_handover(
                    title=case.title,
                    case_number=case.case_number,
                    previous=f"{previous.name}（{previous.badge}）" if previous else "",
                    deadlines=listed,
                    language=new.language,
                ),
                kind=REMINDER_KIND,
                dedupe_key=f"case-handover:{case.id}:{new.id}:{stamp}",
                parse_mode="HTML",
            )
        )
    if previous is not None and previous.id in directory.people and new is not None:
        items.append(
            OutboxItem(
                officer_id=previous.id,
                text=render_handed_away(
                    title=case.title,
                    case_number=case.case_number,
                    officer=f"{new.name}（{new.badge}）",
                    language=previous.language,
                ),
                kind=REMINDER_KIND,
                dedupe_key=f"case-handed-away:{case.id}:{previous.id}:{stamp}",
                parse_mode="HTML",
            )
        )
    return await outbox.enqueue_many(session=session, items=items) if items else 0
