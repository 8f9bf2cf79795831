"""The broadcasts' periodic work: release scheduled tips when due, keep the senders' status messages live.

Every tick (a second by default):

- scheduled broadcasts that have come due are released (one outbox row per recipient); a tip
  whose attachment is a local file is first uploaded once, with the sender's own copy, and the
  recipients' tips carry the file id Telegram returned;
- the status message of each broadcast being sent is edited in place through the outbox, at most
  every 5 s and only when its figures changed, and never while the previous edit is still queued
  (Telegram allows about one message a second per chat, edits included); once nothing is left in
  flight the broadcast is marked sent, and acknowledgements keep its message up to date once a
  minute for a day.

Two processes may run this loop on one database (the bot and a worker): releases are conditional
updates and every push has a dedupe key, so nothing is released, uploaded or edited twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.media import Uploader
from broadcasts.models import Broadcast, BroadcastStatus, status_topic
from broadcasts.render import render_status, render_tip, status_buttons, status_digest
from broadcasts.service import (
    STATUS_KIND,
    media_of,
    needs_upload,
    release,
    status_view,
    tip_of,
)
from core import audit, identity
from core.db import transaction, utcnow
from core.i18n import gettext_for
from core.outbox import (
    OutboxMessage,
    OutboxStatus,
    PermanentSendError,
    SendError,
    Unreachable,
    enqueue,
)
from core.settings import Settings

log = logging.getLogger(__name__)

STATUS_EVERY = timedelta(seconds=5)  # while sending
STATUS_EVERY_AFTER = timedelta(seconds=60)  # once sent, as acknowledgements come in
FOLLOW_FOR = timedelta(hours=24)
UPLOAD_LEASE = timedelta(minutes=2)  # one process uploads; another may try once this has passed
UPLOAD_RETRY = timedelta(seconds=30)
DUE_BATCH = 20
M_FAILED = "⚠️ Tip #{id} could not be sent: {reason}"


async def release_due(
    *,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    uploader: Uploader | None,
    now: datetime | None = None,
) -> int:
    """Releases the scheduled broadcasts that have come due; returns how many tips were queued."""
    now = now or utcnow()
    async with transaction(sessions) as session:
        due = (
            await session.scalars(
                select(Broadcast.id)
                .where(
                    Broadcast.status == BroadcastStatus.SCHEDULED.value,
                    Broadcast.send_at <= now,
                    or_(Broadcast.retry_at.is_(None), Broadcast.retry_at <= now),
                )
                .order_by(Broadcast.send_at, Broadcast.id)
                .limit(DUE_BATCH)
            )
        ).all()
    queued = 0
    for broadcast_id in due:
        queued += await _release_one(sessions, settings, uploader, broadcast_id, now)
    return queued


async def _release_one(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    uploader: Uploader | None,
    broadcast_id: int,
    now: datetime,
) -> int:
    async with transaction(sessions) as session:
        broadcast = await session.get(Broadcast, broadcast_id)
        if broadcast is None or broadcast.status != BroadcastStatus.SCHEDULED.value:
            return 0
        if not needs_upload(broadcast):
            return await release(session=session, broadcast=broadcast, settings=settings, now=now)
        sender = await identity.get_officer_by_id(session=session, officer_id=broadcast.sender_id)
        media = media_of(broadcast)
        assert media is not None and media.path is not None  # needs_upload: a local file, no file id
        if not _exists(media.path):
            await fail(session=session, broadcast=broadcast, reason="the attached file is gone", settings=settings)
            return 0
        can_upload = (
            uploader is not None
            and sender is not None
            and sender.active
            and sender.reachable
            and sender.telegram_user_id is not None
        )
        if not can_upload:
            # No Telegram here (the console) or no chat to upload through: each tip uploads the file.
            log.warning("broadcast %s: no upload possible, each tip carries the file", broadcast_id)
            return await release(session=session, broadcast=broadcast, settings=settings, now=now)
        claimed = await session.execute(
            update(Broadcast)
            .where(
                Broadcast.id == broadcast_id,
                Broadcast.status == BroadcastStatus.SCHEDULED.value,
                or_(Broadcast.retry_at.is_(None), Broadcast.retry_at <= now),
            )
            .values(retry_at=now + UPLOAD_LEASE)
            .returning(Broadcast.id),
            execution_options={"synchronize_session": False},
        )
        if claimed.first() is None:
            return 0
        assert sender is not None and sender.telegram_user_id is not None  # checked by can_upload
        chat_id = sender.telegram_user_id
        caption = render_tip(tip_of(broadcast, sender, at=now), sender.language, settings.tz)
    assert uploader is not None  # checked by can_upload
    try:
        file_id = await uploader.upload(chat_id=chat_id, media=media, caption=caption)
    except Unreachable as exc:
        log.warning("broadcast %s: the sender cannot be reached for the upload (%s)", broadcast_id, exc.reason)
        async with transaction(sessions) as session:
            broadcast = await session.get(Broadcast, broadcast_id)
            if broadcast is None or broadcast.status != BroadcastStatus.SCHEDULED.value:
                return 0
            return await release(session=session, broadcast=broadcast, settings=settings, now=now)
    except PermanentSendError as exc:
        async with transaction(sessions) as session:
            broadcast = await session.get(Broadcast, broadcast_id)
            if broadcast is not None and broadcast.status == BroadcastStatus.SCHEDULED.value:
                await fail(session=session, broadcast=broadcast, reason=exc.reason, settings=settings)
        return 0
    except (SendError, Exception) as exc:  # network, flood control, an adapter bug: try again shortly
        log.warning("broadcast %s: upload failed, retrying in %s: %s", broadcast_id, UPLOAD_RETRY, exc)
        async with transaction(sessions) as session:
            await session.execute(
                update(Broadcast).where(Broadcast.id == broadcast_id).values(retry_at=utcnow() + UPLOAD_RETRY)
            )
        return 0
    async with transaction(sessions) as session:
        broadcast = await session.get(Broadcast, broadcast_id)
        if broadcast is None or broadcast.status != BroadcastStatus.SCHEDULED.value:
            return 0  # cancelled while the file was on its way
        broadcast.media_file_id = file_id
        await audit.record(
            session=session,
            actor=audit.SYSTEM_ACTOR,
            action="broadcast.uploaded",
            target_type="broadcast",
            target_id=broadcast_id,
            detail={"kind": broadcast.media_kind},
        )
        return await release(session=session, broadcast=broadcast, settings=settings, now=now)


def _exists(path: str) -> bool:
    return Path(path).is_file()


async def fail(*, session: AsyncSession, broadcast: Broadcast, reason: str, settings: Settings) -> None:
    """Marks a broadcast that cannot be released, audits it and tells the sender."""
    broadcast.status = BroadcastStatus.FAILED.value
    broadcast.failure = reason[:500]
    await audit.record(
        session=session,
        actor=audit.SYSTEM_ACTOR,
        action="broadcast.failed",
        target_type="broadcast",
        target_id=broadcast.id,
        detail={"reason": reason},
    )
    sender = await identity.get_officer_by_id(session=session, officer_id=broadcast.sender_id)
    if sender is not None:
        _ = gettext_for(sender.language)
        await enqueue(
            session=session,
            officer_id=sender.id,
            text=_(M_FAILED).format(id=broadcast.id, reason=reason),
            kind=STATUS_KIND,
            dedupe_key=f"broadcast:{broadcast.id}:failed",
            urgent=True,
            parse_mode=None,
            topic=status_topic(broadcast.id),
        )


# --- the sender's status message ---------------------------------------------------------------


@dataclass(frozen=True)
class _Pushed:
    status: str
    message_id: int | None
    error: str | None
    sent_at: datetime | None


async def _row(session: AsyncSession, key: str) -> _Pushed | None:
    o = OutboxMessage
    found = (
        await session.execute(
            select(o.status, o.telegram_message_id, o.last_error, o.sent_at).where(o.dedupe_key == key)
        )
    ).first()
    return _Pushed(found[0], found[1], found[2], found[3]) if found is not None else None


async def refresh_status(
    *, session: AsyncSession, broadcast: Broadcast, settings: Settings, now: datetime, force: bool = False
) -> bool:
    """Queues an edit of the sender's status message if it is due and its figures changed; tells whether.

    The figures are counted at most every 5 s while sending (every minute after), ``force`` aside,
    and an edit is queued only once the previous one was delivered at least that long ago.
    """
    every = STATUS_EVERY if broadcast.finished_at is None else STATUS_EVERY_AFTER
    if not force and broadcast.status_edited_at is not None and now - broadcast.status_edited_at < every:
        return False
    previous = (
        await _row(session, f"broadcast:{broadcast.id}:status:{broadcast.status_edits}")
        if broadcast.status_edits
        else None
    )
    if previous is not None and broadcast.status_message_id is not None:
        if previous.status in (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value):
            return False  # the last edit is still on its way
        if previous.sent_at is not None and now - previous.sent_at < every and not force:
            return False  # Telegram showed the last edit less than that ago
        if previous.status == OutboxStatus.DEAD.value and "not found" in (previous.error or "").lower():
            broadcast.status_message_id = None  # the sender deleted it; the bot shows a new one on request
    broadcast.status_edited_at = now  # counted now, edited or not
    if broadcast.status_message_id is None:
        first = await _row(session, f"broadcast:{broadcast.id}:status")
        if (
            first is not None
            and first.status == OutboxStatus.SENT.value
            and first.message_id is not None
            and broadcast.status_edits == 0
        ):
            broadcast.status_message_id = first.message_id
    view = await status_view(session=session, broadcast=broadcast, settings=settings)
    settled = broadcast.released_at is not None or broadcast.status == BroadcastStatus.CANCELLED.value
    if settled and view.figures.in_flight == 0 and broadcast.finished_at is None:
        broadcast.finished_at = now
        if broadcast.status == BroadcastStatus.SENDING.value:
            broadcast.status = BroadcastStatus.SENT.value
            view = await status_view(session=session, broadcast=broadcast, settings=settings)
    message_id = broadcast.status_message_id
    if message_id is None:
        return False
    digest = status_digest(view)
    if digest == broadcast.status_shown:
        return False
    number = broadcast.status_edits + 1
    # Conditional on the edit number, so a second loop on the same database does not edit as well.
    taken = await session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast.id, Broadcast.status_edits == broadcast.status_edits)
        .values(status_edits=number, status_shown=digest)
        .returning(Broadcast.id),
        execution_options={"synchronize_session": False},
    )
    if taken.first() is None:
        return False
    broadcast.status_edits = number
    broadcast.status_shown = digest
    sender = await identity.get_officer_by_id(session=session, officer_id=broadcast.sender_id)
    if sender is None:
        return False
    sending = broadcast.finished_at is None
    await enqueue(
        session=session,
        officer_id=sender.id,
        text=render_status(view, sender.language, settings.tz, now),
        kind=STATUS_KIND,
        dedupe_key=f"broadcast:{broadcast.id}:status:{number}",
        buttons=status_buttons(view, sender.language) or None,
        urgent=True,
        # While the tips go out the edit is dated to their release, so it is claimed before them.
        not_before=(broadcast.released_at or now) - timedelta(seconds=1) if sending else None,
        edit_message_id=message_id,
        topic=status_topic(broadcast.id),
    )
    return True


async def refresh_statuses(
    *, sessions: async_sessionmaker[AsyncSession], settings: Settings, now: datetime | None = None
) -> int:
    """Refreshes the status messages of the broadcasts being sent, or sent or cancelled within a day; returns the edits queued."""
    now = now or utcnow()
    async with transaction(sessions) as session:
        followed = (
            await session.scalars(
                select(Broadcast.id).where(
                    Broadcast.status.in_(
                        [BroadcastStatus.SENDING.value, BroadcastStatus.SENT.value, BroadcastStatus.CANCELLED.value]
                    ),
                    # a tip cancelled before its time was never released; its status message still says so
                    or_(Broadcast.released_at.is_not(None), Broadcast.status == BroadcastStatus.CANCELLED.value),
                    or_(Broadcast.finished_at.is_(None), Broadcast.finished_at >= now - FOLLOW_FOR),
                )
            )
        ).all()
    edits = 0
    for broadcast_id in followed:
        async with transaction(sessions) as session:
            broadcast = await session.get(Broadcast, broadcast_id)
            if broadcast is not None and await refresh_status(session=session, broadcast=broadcast, settings=settings, now=now):
                edits += 1
    return edits


async def tick(
    *, sessions: async_sessionmaker[AsyncSession], settings: Settings, uploader: Uploader | None = None
) -> None:
    """Does one round of the loop's work."""
    await release_due(sessions=sessions, settings=settings, uploader=uploader)
    await refresh_statuses(sessions=sessions, settings=settings)


async def run_broadcast_loop(
    *,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    stop: asyncio.Event,
    uploader: Uploader | None = None,
    tick_seconds: float = 1.0,
) -> None:
    """Releases due broadcasts and refreshes status messages every ``tick_seconds`` until ``stop``."""
    while not stop.is_set():
        try:
            await tick(sessions=sessions, settings=settings, uploader=uploader)
        except Exception:
            # One failed round must not end the loop: the next one catches up.
            log.exception("broadcast loop round failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=tick_seconds)
