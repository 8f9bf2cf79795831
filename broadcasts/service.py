"""Broadcast services: write, release, acknowledge, remind, cancel, list and search.

The bot, the command line and the desk all go through these. Each takes ``*, session`` and never
commits; every broadcast, release, reminder round, cancellation and acknowledgement is audited
in the caller's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import and_, delete, exists, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts import audience as audiences
from broadcasts.articles import ArticleQuote
from broadcasts.figures import figures, reminder_targets
from broadcasts.models import (
    Broadcast,
    BroadcastAck,
    BroadcastRecipient,
    BroadcastStatus,
    reminder_topic,
    status_topic,
    tip_topic,
)
from broadcasts.render import (
    StatusView,
    Tip,
    TipTooLong,
    ack_buttons,
    check_tip,
    render_status,
    render_tip,
    status_buttons,
)
from core import audit, identity
from core.db import UTCDateTime, utcnow
from core.i18n import gettext_for
from core.identity import Officer, Role, Unit
from core.outbox import Media, OutboxItem, OutboxMessage, OutboxStatus, enqueue, enqueue_many
from core.settings import Settings

log = logging.getLogger(__name__)

TIP_KIND = "broadcast"
REMINDER_KIND = "broadcast.reminder"
STATUS_KIND = "broadcast.status"
MIN_REMINDER_GAP = timedelta(hours=1)
MAX_TEXT = 3500  # a tip's own words; the message limit is checked on the whole rendering
SCHEDULE_GRACE = timedelta(minutes=1)  # "now" typed a little late is still now
RECIPIENT_CHUNK = 1000


class BroadcastError(Exception):
    """A broadcast request that cannot be carried out; ``code`` says why (the bot words it per language)."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "not_found": "no such broadcast: {detail}",
        "no_officer": "no such officer: {detail}",
        "forbidden": "{detail} may not send broadcasts (the legal or admin role is needed)",
        "not_active": "officer {detail} is deactivated",
        "empty_text": "the tip has no text",
        "text_too_long": "the tip text is longer than {detail} characters",
        "too_long": "the tip is {detail} characters too long for one Telegram message",
        "no_recipients": "the audience has no active officers: {detail}",
        "in_past": "the send time is in the past: {detail}",
        "not_recipient": "this tip was not sent to you",
        "preview": "this is only the preview",
        "not_released": "the tip has not been sent yet",
        "already_cancelled": "the tip was already cancelled",
        "nothing_to_cancel": "everything has been sent already; nothing is left to cancel",
        "reminders_used": "all {detail} reminder rounds have been used",
        "too_soon": "reminders are at least an hour apart; the next one is possible at {detail}",
        "nobody_to_remind": "everyone the tip reached has acknowledged it",
        "failed": "the tip could not be sent: {detail}",
    }

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(self.MESSAGES.get(code, code).format(detail=detail))


def may_broadcast(officer: Officer) -> bool:
    """Tells whether an officer may write, follow and manage broadcasts (legal brigade, admins)."""
    return officer.active and officer.has_role(Role.LEGAL)


def tip_of(broadcast: Broadcast, sender: Officer, *, at: datetime | None = None) -> Tip:
    """Returns what officers' copies of a broadcast are made of."""
    return Tip(
        text=broadcast.text,
        sender_name=sender.name,
        sender_unit=sender.unit.name,
        sent_at=at or broadcast.released_at or broadcast.send_at,
        urgent=broadcast.urgent,
        has_media=broadcast.media_kind is not None,
        articles=tuple(ArticleQuote.from_json(a) for a in broadcast.articles or ()),
    )


def media_of(broadcast: Broadcast) -> Media | None:
    """Returns a broadcast's photo or document: by file id once known, else the local file."""
    if broadcast.media_kind is None:
        return None
    if broadcast.media_file_id:
        return Media(kind=broadcast.media_kind, file_id=broadcast.media_file_id, filename=broadcast.media_filename)
    return Media(kind=broadcast.media_kind, path=broadcast.media_path, filename=broadcast.media_filename)


def needs_upload(broadcast: Broadcast) -> bool:
    """Tells whether a broadcast's attachment is a local file not yet uploaded."""
    return broadcast.media_kind is not None and not broadcast.media_file_id


def check_draft(
    *,
    text: str,
    sender: Officer,
    settings: Settings,
    articles: Sequence[ArticleQuote] = (),
    has_media: bool = False,
    urgent: bool = False,
) -> Tip:
    """Checks a tip's text against the limits; returns it as officers will get it, or raises BroadcastError."""
    text = text.strip()
    if not text:
        raise BroadcastError("empty_text")
    if len(text) > MAX_TEXT:
        raise BroadcastError("text_too_long", str(MAX_TEXT))
    tip = Tip(
        text=text,
        sender_name=sender.name,
        sender_unit=sender.unit.name,
        sent_at=utcnow(),
        urgent=urgent,
        has_media=has_media,
        articles=tuple(articles),
    )
    try:
        check_tip(tip, settings.tz)
    except TipTooLong as exc:
        raise BroadcastError("too_long", str(exc.excess)) from exc
    return tip


async def get(*, session: AsyncSession, broadcast_id: int) -> Broadcast | None:
    """Gets a broadcast by its id."""
    return await session.get(Broadcast, broadcast_id)


async def require(*, session: AsyncSession, broadcast_id: int) -> Broadcast:
    """Gets a broadcast by its id, or raises BroadcastError("not_found")."""
    found = await get(session=session, broadcast_id=broadcast_id)
    if found is None:
        raise BroadcastError("not_found", str(broadcast_id))
    return found


async def create(
    *,
    session: AsyncSession,
    sender: Officer,
    text: str,
    audience: str,
    settings: Settings,
    articles: Sequence[ArticleQuote] = (),
    media: Media | None = None,
    send_at: datetime | None = None,
    urgent: bool = False,
    status_message_id: int | None = None,
    now: datetime | None = None,
) -> Broadcast:
    """Writes a broadcast and its recipients; releases it at once when it is due and needs no upload."""
    now = now or utcnow()
    if not sender.active:
        raise BroadcastError("not_active", sender.badge)
    if not may_broadcast(sender):
        raise BroadcastError("forbidden", sender.badge)
    check_draft(
        text=text, sender=sender, settings=settings, articles=articles, has_media=media is not None, urgent=urgent
    )
    parsed = audiences.parse(audience)
    if send_at is not None and send_at.tzinfo is None:
        raise ValueError("send_at must be timezone-aware")
    if send_at is not None and send_at < now - SCHEDULE_GRACE:
        raise BroadcastError("in_past", send_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M"))
    recipients = await audiences.resolve(session=session, audience=parsed, exclude_officer_id=sender.id)
    if not recipients:
        raise BroadcastError("no_recipients", parsed.spec())
    broadcast = Broadcast(
        sender_id=sender.id,
        text=text.strip(),
        audience=parsed.spec(),
        urgent=urgent,
        media_kind=media.kind if media else None,
        media_file_id=media.file_id if media else None,
        media_path=media.path if media else None,
        media_filename=media.filename if media else None,
        articles=[a.to_json() for a in articles],
        status=BroadcastStatus.SCHEDULED.value,
        send_at=max(send_at or now, now),
        created_at=now,
        status_message_id=status_message_id,
        status_edits=0,
        reminder_rounds=0,
    )
    session.add(broadcast)
    await session.flush()
    values = [
        {"broadcast_id": broadcast.id, "officer_id": r.officer_id, "unit_id": r.unit_id} for r in recipients
    ]
    for start in range(0, len(values), RECIPIENT_CHUNK):
        await session.execute(insert(BroadcastRecipient), values[start : start + RECIPIENT_CHUNK])
    await audit.record(
        session=session,
        actor=sender.badge,
        action="broadcast.create",
        target_type="broadcast",
        target_id=broadcast.id,
        officer_id=sender.id,
        detail={
            "audience": broadcast.audience,
            "recipients": len(recipients),
            "urgent": urgent,
            "send_at": broadcast.send_at.isoformat(),
            "articles": [a.reference for a in articles],
            "media": media.kind if media else None,
        },
        at=now,
    )
    if broadcast.send_at <= now and not needs_upload(broadcast):
        await release(session=session, broadcast=broadcast, settings=settings, now=now)
    return broadcast


async def _sender(session: AsyncSession, broadcast: Broadcast) -> Officer:
    sender = await identity.get_officer_by_id(session=session, officer_id=broadcast.sender_id)
    if sender is None:  # officers are never deleted; a foreign key keeps the sender
        raise BroadcastError("not_found", f"sender of broadcast {broadcast.id}")
    return sender


async def release(
    *, session: AsyncSession, broadcast: Broadcast, settings: Settings, now: datetime | None = None
) -> int:
    """Queues one tip per recipient through the outbox; returns how many (0 if it was released already)."""
    now = now or utcnow()
    claimed = await session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast.id, Broadcast.status == BroadcastStatus.SCHEDULED.value)
        .values(status=BroadcastStatus.SENDING.value, released_at=now, retry_at=None)
        .returning(Broadcast.id),
        execution_options={"synchronize_session": False},
    )
    if claimed.first() is None:
        return 0
    await session.refresh(broadcast)
    sender = await _sender(session, broadcast)
    tip = tip_of(broadcast, sender, at=now)
    media = media_of(broadcast)
    rows = await session.execute(
        select(BroadcastRecipient.officer_id, Officer.language)
        .join(Officer, Officer.id == BroadcastRecipient.officer_id)
        .where(BroadcastRecipient.broadcast_id == broadcast.id, BroadcastRecipient.cancelled_at.is_(None))
    )
    rendered: dict[str, tuple[str, list[list[dict[str, str]]]]] = {}
    items: list[OutboxItem] = []
    for officer_id, language in rows.all():
        if language not in rendered:
            rendered[language] = (render_tip(tip, language, settings.tz), ack_buttons(broadcast.id, language))
        text, buttons = rendered[language]
        items.append(
            OutboxItem(
                officer_id=officer_id,
                text=text,
                kind=TIP_KIND,
                dedupe_key=f"broadcast:{broadcast.id}:{officer_id}",
                buttons=buttons,
                urgent=broadcast.urgent,
                media=(media,) if media else (),
                topic=tip_topic(broadcast.id),
            )
        )
    queued = await enqueue_many(session=session, items=items)
    if broadcast.status_message_id is None and sender.telegram_user_id is not None:
        await _queue_status_message(session=session, broadcast=broadcast, sender=sender, settings=settings, now=now)
    await audit.record(
        session=session,
        actor=audit.SYSTEM_ACTOR,
        action="broadcast.release",
        target_type="broadcast",
        target_id=broadcast.id,
        detail={"queued": queued, "media": "file_id" if broadcast.media_file_id else broadcast.media_kind},
        at=now,
    )
    return queued


async def status_view(*, session: AsyncSession, broadcast: Broadcast, settings: Settings) -> StatusView:
    """Returns what the sender's status message says now."""
    sender = await _sender(session, broadcast)
    _ = gettext_for(sender.language)
    return StatusView(
        broadcast_id=broadcast.id,
        status=broadcast.status,
        text=broadcast.text,
        audience=audiences.describe_spec(broadcast.audience, _),
        urgent=broadcast.urgent,
        send_at=broadcast.send_at,
        figures=await figures(session=session, broadcast_id=broadcast.id),
        reminder_rounds=broadcast.reminder_rounds,
        max_reminders=settings.broadcast_max_reminders,
        failure=broadcast.failure,
    )


async def _queue_status_message(
    *, session: AsyncSession, broadcast: Broadcast, sender: Officer, settings: Settings, now: datetime
) -> None:
    """Queues the sender's status message (the loop edits it in place once it is out)."""
    view = await status_view(session=session, broadcast=broadcast, settings=settings)
    await enqueue(
        session=session,
        officer_id=sender.id,
        text=render_status(view, sender.language, settings.tz, now),
        kind=STATUS_KIND,
        dedupe_key=f"broadcast:{broadcast.id}:status",
        buttons=status_buttons(view, sender.language),
        urgent=True,
        # due a moment before the tips, so it is claimed ahead of them
        not_before=now - timedelta(seconds=1),
        topic=status_topic(broadcast.id),
    )


# --- acknowledgements -------------------------------------------------------------------------


@dataclass(frozen=True)
class Acknowledgement:
    """An officer's acknowledgement: when, and whether this call made it."""

    acknowledged_at: datetime
    new: bool


def _insert_for(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def is_recipient(*, session: AsyncSession, broadcast_id: int, officer_id: int) -> bool:
    """Tells whether a broadcast was addressed to an officer."""
    found = await session.scalar(
        select(BroadcastRecipient.id).where(
            BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.officer_id == officer_id
        )
    )
    return found is not None


async def acknowledge(
    *, session: AsyncSession, broadcast_id: int, officer: Officer, now: datetime | None = None
) -> Acknowledgement:
    """Records that an officer read a tip (once: a second press changes nothing and says when it was)."""
    now = now or utcnow()
    if broadcast_id == 0:
        raise BroadcastError("preview")
    # One round trip in the common case (a first press by a recipient): insert if addressed to them.
    addressed = (
        select(literal(broadcast_id), literal(officer.id), literal(now, UTCDateTime()))
        .where(
            exists().where(
                BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.officer_id == officer.id
            )
        )
    )
    insert_ = _insert_for(session)
    added = await session.execute(
        insert_(BroadcastAck)
        .from_select(["broadcast_id", "officer_id", "acknowledged_at"], addressed)
        .on_conflict_do_nothing(index_elements=["broadcast_id", "officer_id"])
        .returning(BroadcastAck.acknowledged_at)
    )
    at = added.scalar_one_or_none()
    if at is None:
        earlier = await session.scalar(
            select(BroadcastAck.acknowledged_at).where(
                BroadcastAck.broadcast_id == broadcast_id, BroadcastAck.officer_id == officer.id
            )
        )
        if earlier is None:
            raise BroadcastError("not_recipient")
        return Acknowledgement(acknowledged_at=earlier, new=False)
    await audit.record(
        session=session,
        actor=officer.badge,
        action="broadcast.ack",
        target_type="broadcast",
        target_id=broadcast_id,
        officer_id=officer.id,
        at=now,
        flush=False,
    )
    return Acknowledgement(acknowledged_at=at, new=True)


async def acknowledged_at(*, session: AsyncSession, broadcast_id: int, officer_id: int) -> datetime | None:
    """Returns when an officer acknowledged a broadcast, or None."""
    return await session.scalar(
        select(BroadcastAck.acknowledged_at).where(
            BroadcastAck.broadcast_id == broadcast_id, BroadcastAck.officer_id == officer_id
        )
    )


# --- reminders ----------------------------------------------------------------------------------


def next_reminder_at(broadcast: Broadcast) -> datetime | None:
    """Returns the earliest time of the next reminder round (an hour after the send or the last round)."""
    if broadcast.released_at is None:
        return None
    last = broadcast.last_reminded_at or broadcast.released_at
    return last + MIN_REMINDER_GAP


async def remind(
    *,
    session: AsyncSession,
    broadcast_id: int,
    actor: str,
    settings: Settings,
    actor_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Sends a reminder round to those who got the tip and have not acknowledged it; returns how many."""
    now = now or utcnow()
    broadcast = await require(session=session, broadcast_id=broadcast_id)
    if broadcast.status == BroadcastStatus.FAILED.value:
        raise BroadcastError("failed", broadcast.failure or "")
    if broadcast.released_at is None:
        raise BroadcastError("not_released")
    if broadcast.reminder_rounds >= settings.broadcast_max_reminders:
        raise BroadcastError("reminders_used", str(settings.broadcast_max_reminders))
    earliest = next_reminder_at(broadcast)
    if earliest is not None and now < earliest:
        raise BroadcastError("too_soon", earliest.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M"))
    rows = await session.execute(
        reminder_targets(broadcast.id, BroadcastRecipient.officer_id, Officer.language)
    )
    targets = rows.all()
    if not targets:
        raise BroadcastError("nobody_to_remind")
    round_number = broadcast.reminder_rounds + 1
    sender = await _sender(session, broadcast)
    tip = tip_of(broadcast, sender)
    media = media_of(broadcast)
    # Without a file id a reminder goes as text: uploading the file again for every officer is
    # what the single upload is there to avoid.
    attached = (media,) if media is not None and media.file_id else ()
    rendered: dict[str, str] = {}
    items = []
    for officer_id, language in targets:
        if language not in rendered:
            rendered[language] = render_tip(tip, language, settings.tz, reminder=round_number)
        items.append(
            OutboxItem(
                officer_id=officer_id,
                text=rendered[language],
                kind=REMINDER_KIND,
                dedupe_key=f"broadcast:{broadcast.id}:r{round_number}:{officer_id}",
                buttons=ack_buttons(broadcast.id, language),
                urgent=broadcast.urgent,
                media=attached,
                topic=reminder_topic(broadcast.id),
            )
        )
    queued = await enqueue_many(session=session, items=items)
    broadcast.reminder_rounds = round_number
    broadcast.last_reminded_at = now
    await audit.record(
        session=session,
        actor=actor,
        action="broadcast.remind",
        target_type="broadcast",
        target_id=broadcast.id,
        officer_id=actor_id,
        detail={"round": round_number, "officers": queued},
        at=now,
    )
    return queued


# --- cancellation -------------------------------------------------------------------------------


async def cancel(
    *,
    session: AsyncSession,
    broadcast_id: int,
    actor: str,
    actor_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Withdraws what is not yet sent (tips and reminders still queued or held); returns how many tips.

    A tip already handed to Telegram (being sent right now) goes out; the rest never will.
    """
    now = now or utcnow()
    broadcast = await require(session=session, broadcast_id=broadcast_id)
    if broadcast.status == BroadcastStatus.CANCELLED.value:
        raise BroadcastError("already_cancelled")
    if broadcast.status == BroadcastStatus.FAILED.value:
        raise BroadcastError("failed", broadcast.failure or "")
    r = BroadcastRecipient
    if broadcast.status == BroadcastStatus.SCHEDULED.value:
        # Nothing is queued yet; taking the broadcast out of the schedule is conditional, so a
        # release running at this very moment either happened first (and is withdrawn below) or not at all.
        taken = await session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast.id, Broadcast.status == BroadcastStatus.SCHEDULED.value)
            .values(status=BroadcastStatus.CANCELLED.value, cancelled_at=now, cancelled_by=actor)
            .returning(Broadcast.id),
            execution_options={"synchronize_session": False},
        )
        if taken.first() is not None:
            result = await session.execute(
                update(r)
                .where(r.broadcast_id == broadcast.id, r.cancelled_at.is_(None))
                .values(cancelled_at=now)
                .returning(r.officer_id),
                execution_options={"synchronize_session": False},
            )
            withdrawn = len(result.all())
            await session.refresh(broadcast)
            await _audit_cancel(session, broadcast, actor, actor_id, withdrawn, 0, now)
            return withdrawn
        await session.refresh(broadcast)
    o = OutboxMessage
    unsent = o.status.in_([OutboxStatus.PENDING.value, OutboxStatus.HELD.value])
    # Only rows nobody has claimed: a claimed row is being sent and can no longer be stopped.
    tips = await session.execute(
        delete(o).where(o.topic == tip_topic(broadcast.id), unsent).returning(o.officer_id),
        execution_options={"synchronize_session": False},
    )
    officers = [row[0] for row in tips.all()]
    reminders = await session.execute(
        delete(o).where(o.topic == reminder_topic(broadcast.id), unsent).returning(o.id),
        execution_options={"synchronize_session": False},
    )
    reminders_withdrawn = len(reminders.all())
    if not officers and not reminders_withdrawn:
        raise BroadcastError("nothing_to_cancel")
    for start in range(0, len(officers), RECIPIENT_CHUNK):
        await session.execute(
            update(r)
            .where(r.broadcast_id == broadcast.id, r.officer_id.in_(officers[start : start + RECIPIENT_CHUNK]))
            .values(cancelled_at=now),
            execution_options={"synchronize_session": False},
        )
    broadcast.status = BroadcastStatus.CANCELLED.value
    broadcast.cancelled_at = now
    broadcast.cancelled_by = actor
    await _audit_cancel(session, broadcast, actor, actor_id, len(officers), reminders_withdrawn, now)
    return len(officers)


async def _audit_cancel(
    session: AsyncSession,
    broadcast: Broadcast,
    actor: str,
    actor_id: int | None,
    tips: int,
    reminders: int,
    now: datetime,
) -> None:
    await audit.record(
        session=session,
        actor=actor,
        action="broadcast.cancel",
        target_type="broadcast",
        target_id=broadcast.id,
        officer_id=actor_id,
        detail={"withdrawn": tips, "reminders_withdrawn": reminders},
        at=now,
    )


# --- history ------------------------------------------------------------------------------------


async def search(
    *,
    session: AsyncSession,
    text: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    audience: str | None = None,
    sender_id: int | None = None,
    limit: int = 20,
    offset: int = 0,
) -> list[Broadcast]:
    """Lists broadcasts, newest first, by words of their text, send time and audience.

    ``audience`` is a unit name (broadcasts that reached officers of that unit or below it) or
    part of an audience spec (``role:supervisor``, ``all``).
    """
    query = select(Broadcast)
    if text and text.strip():
        words = [w for w in text.split() if w]
        query = query.where(*(Broadcast.text.ilike(f"%{_like(w)}%", escape="\\") for w in words))
    if since is not None:
        query = query.where(Broadcast.send_at >= since)
    if until is not None:
        query = query.where(Broadcast.send_at < until)
    if sender_id is not None:
        query = query.where(Broadcast.sender_id == sender_id)
    if audience and audience.strip():
        wanted = audience.strip()
        unit = await identity.get_unit(session=session, name=wanted)
        spec_match = Broadcast.audience.ilike(f"%{_like(wanted)}%", escape="\\")
        if unit is not None:
            units = await identity.unit_subtree_ids(session=session, unit_ids=[unit.id])
            reached = exists().where(
                BroadcastRecipient.broadcast_id == Broadcast.id, BroadcastRecipient.unit_id.in_(sorted(units))
            )
            query = query.where(or_(reached, spec_match))
        else:
            query = query.where(spec_match)
    query = query.order_by(Broadcast.send_at.desc(), Broadcast.id.desc()).limit(limit).offset(offset)
    return list((await session.scalars(query)).all())


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class Notice:
    """A tip as it appears in an officer's 我的通知."""

    broadcast: Broadcast
    acknowledged_at: datetime | None


async def notices_for(*, session: AsyncSession, officer_id: int, limit: int = 10) -> list[Notice]:
    """Lists an officer's tips: not yet acknowledged first, then the newest."""
    r, a = BroadcastRecipient, BroadcastAck
    query = (
        select(Broadcast, a.acknowledged_at)
        .join(r, and_(r.broadcast_id == Broadcast.id, r.officer_id == officer_id))
        .outerjoin(a, and_(a.broadcast_id == Broadcast.id, a.officer_id == officer_id))
        .where(r.cancelled_at.is_(None), Broadcast.released_at.is_not(None))
        .order_by(a.id.is_not(None), Broadcast.released_at.desc(), Broadcast.id.desc())
        .limit(limit)
    )
    return [Notice(broadcast=b, acknowledged_at=at) for b, at in (await session.execute(query)).all()]


async def count_unread(*, session: AsyncSession, officer_id: int) -> int:
    """Counts an officer's released tips not yet acknowledged."""
    r, a = BroadcastRecipient, BroadcastAck
    query = (
        select(func.count())
        .select_from(r)
        .join(Broadcast, Broadcast.id == r.broadcast_id)
        .outerjoin(a, and_(a.broadcast_id == r.broadcast_id, a.officer_id == officer_id))
        .where(
            r.officer_id == officer_id,
            r.cancelled_at.is_(None),
            Broadcast.released_at.is_not(None),
            a.id.is_(None),
        )
    )
    return int(await session.scalar(query) or 0)


async def visible_to(*, session: AsyncSession, broadcast_id: int, officer: Officer) -> Broadcast:
    """Gets a released broadcast an officer may read: one sent to them, or any for the legal brigade."""
    broadcast = await require(session=session, broadcast_id=broadcast_id)
    if may_broadcast(officer):
        return broadcast
    if broadcast.released_at is None or not await is_recipient(
        session=session, broadcast_id=broadcast_id, officer_id=officer.id
    ):
        raise BroadcastError("not_recipient")
    return broadcast


async def unit_name(*, session: AsyncSession, unit_id: int) -> str:
    """Returns a unit's name."""
    return str(await session.scalar(select(Unit.name).where(Unit.id == unit_id)) or "")
