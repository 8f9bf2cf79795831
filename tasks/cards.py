"""Creators' progress cards, kept up to date in place: each card shown is remembered, and every
change to what it shows queues an edit of that message through the outbox."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox
from core.holidays import HolidayCalendar
from core.identity import Officer
from core.outbox import OutboxItem
from core.settings import Settings
from tasks import texts
from tasks.models import TaskCard, TaskOccurrence, TaskSeries
from tasks.progress import OccurrenceProgress, SeriesProgress
from tasks.reading import occurrence_progress, officers_by_id, series_progress
from tasks.spec import KIND_CARD, may_manage

CARD_LIFETIME = timedelta(days=7)  # cards older than this are no longer edited in place


async def remember_card(
    *, session: AsyncSession, officer: Officer, scope: str, target_id: int, message_id: int, now: datetime
) -> None:
    """Records a progress card shown to an officer, so that it is kept up to date in place.

    A message shows one card at a time: whatever it showed before is no longer kept up to date.
    """
    for other in await session.scalars(
        select(TaskCard).where(TaskCard.officer_id == officer.id, TaskCard.message_id == message_id)
    ):
        if (other.scope, other.target_id) != (scope, target_id):
            await session.delete(other)
    card = await session.scalar(
        select(TaskCard).where(
            TaskCard.officer_id == officer.id, TaskCard.scope == scope, TaskCard.target_id == target_id
        )
    )
    if card is None:
        session.add(
            TaskCard(officer_id=officer.id, scope=scope, target_id=target_id, message_id=message_id, version=0, updated_at=now)
        )
    else:
        card.message_id = message_id
        card.updated_at = now
    await session.flush()


async def refresh_cards(
    *,
    session: AsyncSession,
    occurrence: TaskOccurrence,
    series: TaskSeries,
    settings: Settings,
    calendar: HolidayCalendar,
    now: datetime,
) -> int:
    """Queues an in-place edit of every recent card showing this occurrence or its series; returns how many."""
    cards = list(
        await session.scalars(
            select(TaskCard).where(
                TaskCard.updated_at >= now - CARD_LIFETIME,
                ((TaskCard.scope == "occurrence") & (TaskCard.target_id == occurrence.id))
                | ((TaskCard.scope == "series") & (TaskCard.target_id == series.id)),
            )
        )
    )
    if not cards:
        return 0
    owners = await officers_by_id(session=session, ids=[c.officer_id for c in cards])
    items: list[OutboxItem] = []
    occurrence_view: OccurrenceProgress | None = None
    series_view: SeriesProgress | None = None
    for card in cards:
        owner = owners.get(card.officer_id)
        if owner is None or not owner.active or not may_manage(owner, series):
            continue
        if card.scope == "occurrence":
            if occurrence_view is None:
                occurrence_view = await occurrence_progress(
                    session=session, occurrence_id=occurrence.id, settings=settings, now=now
                )
            text = texts.progress_text(occurrence_view, owner.language, settings.tz)
            buttons = texts.progress_buttons(occurrence_view, owner.language)
        else:
            if series_view is None:
                series_view = await series_progress(
                    session=session, series_id=series.id, settings=settings, calendar=calendar, now=now
                )
            text = texts.series_text(series_view, owner.language, settings.tz)
            buttons = texts.series_buttons(series_view, owner.language)
        card.version += 1
        items.append(
            OutboxItem(
                officer_id=owner.id,
                text=text,
                kind=KIND_CARD,
                dedupe_key=f"task-card:{card.id}:{card.version}",
                buttons=buttons,
                # An edit makes no sound, and a creator looking at the card wants it now.
                urgent=True,
                edit_message_id=card.message_id,
            )
        )
    await session.flush()
    return await outbox.enqueue_many(session=session, items=items)
