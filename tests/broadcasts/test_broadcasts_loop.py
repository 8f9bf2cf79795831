"""The broadcast loop: scheduled and quiet-hour sends, the single upload, and the throttled status message."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import time_machine
from broadcast_helpers import FakeMessenger, FakeUploader, rows
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts import service
from broadcasts.loop import refresh_statuses, release_due, run_broadcast_loop
from broadcasts.models import Broadcast, tip_topic
from core import audit, identity
from core.db import transaction, utcnow
from core.identity import Officer
from core.outbox import DeliveryOptions, Media, PermanentSendError, TransientSendError, deliver_once
from core.settings import Settings

DB = async_sessionmaker[AsyncSession]


def local(settings: Settings, *args: int) -> datetime:
    return datetime(*args, tzinfo=settings.tz)  # type: ignore[misc]  # year, month, day, hour, minute


async def _create(db: DB, settings: Settings, spec: str, **kwargs: object) -> Broadcast:
    async with transaction(db) as session:
        sender = await identity.get_officer(session=session, badge="L1")
        assert sender is not None
        return await service.create(
            session=session, sender=sender, text="雨天路滑，出警注意安全。", audience=spec, settings=settings, **kwargs  # type: ignore[arg-type]  # test pass-through
        )


async def _get(db: DB, broadcast_id: int) -> Broadcast:
    async with transaction(db) as session:
        found = await session.get(Broadcast, broadcast_id)
        assert found is not None
        return found


class TestScheduledSends:
    async def test_a_scheduled_tip_is_released_when_its_time_comes(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """Written at 17:00 for 08:00 tomorrow: nothing goes out at 07:59, every tip at 08:00."""
        with time_machine.travel(local(quiet_off, 2026, 12, 1, 17, 0), tick=False):
            broadcast = await _create(db, quiet_off, "unit:东关派出所", send_at=local(quiet_off, 2026, 12, 2, 8, 0))
            assert broadcast.status == "scheduled"
        with time_machine.travel(local(quiet_off, 2026, 12, 2, 7, 59), tick=False):
            assert await release_due(sessions=db, settings=quiet_off, uploader=None) == 0
        assert await rows(db, tip_topic(broadcast.id)) == []
        with time_machine.travel(local(quiet_off, 2026, 12, 2, 8, 0), tick=False):
            assert await release_due(sessions=db, settings=quiet_off, uploader=None) == 2
            assert await release_due(sessions=db, settings=quiet_off, uploader=None) == 0
        released = await _get(db, broadcast.id)
        assert released.status == "sending" and released.released_at == local(quiet_off, 2026, 12, 2, 8, 0)

    async def test_quiet_hours_hold_back_a_tip_that_is_not_urgent(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """At 23:00 a normal tip waits for 07:00; an urgent one goes out at once."""
        settings = quiet_off.model_copy(update={"quiet_hours": "22:00-07:00"})
        messenger = FakeMessenger()
        with time_machine.travel(local(settings, 2026, 12, 1, 23, 0), tick=True):
            normal = await _create(db, settings, "unit:东关派出所")
            urgent = await _create(db, settings, "unit-only:城关分局", urgent=True)
            report = await deliver_once(sessions=db, messenger=messenger, settings=settings)
        chats = [chat for chat, _m in messenger.sent]
        assert 9101 in chats and 9301 not in chats and 9302 not in chats
        assert report.deferred >= 2
        waiting = await rows(db, tip_topic(normal.id))
        assert {r.status for r in waiting} == {"pending"}
        assert all(r.not_before == local(settings, 2026, 12, 2, 7, 0) for r in waiting)
        assert {r.status for r in await rows(db, tip_topic(urgent.id))} == {"sent"}
        with time_machine.travel(local(settings, 2026, 12, 2, 7, 1), tick=True):
            await deliver_once(sessions=db, messenger=messenger, settings=settings)
        assert {r.status for r in await rows(db, tip_topic(normal.id))} == {"sent"}

    async def test_the_loop_runs_until_stopped(self, db: DB, world: dict[str, Officer], quiet_off: Settings) -> None:
        """Started with a tip due, the loop releases it at once and ends when asked."""
        broadcast = await _create(db, quiet_off, "unit:东关派出所", send_at=utcnow() + timedelta(milliseconds=200))
        stop = asyncio.Event()
        task = asyncio.create_task(run_broadcast_loop(sessions=db, settings=quiet_off, stop=stop, tick_seconds=0.1))
        for _ in range(50):
            if (await _get(db, broadcast.id)).status == "sending":
                break
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        assert len(await rows(db, tip_topic(broadcast.id))) == 2


class TestSingleUpload:
    async def test_a_local_file_is_uploaded_once_and_every_tip_carries_its_file_id(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings, tmp_path: Path
    ) -> None:
        """The sender's own copy uploads the file; all recipients' tips reuse Telegram's file id."""
        leaflet = tmp_path / "leaflet.pdf"
        leaflet.write_bytes(b"%PDF-1.4 tip")
        broadcast = await _create(
            db, quiet_off, "unit:城关分局", media=Media(kind="document", path=str(leaflet), filename="leaflet.pdf")
        )
        assert broadcast.status == "scheduled"  # released by the loop, after the upload
        uploader = FakeUploader()
        assert await release_due(sessions=db, settings=quiet_off, uploader=uploader) == 7
        assert len(uploader.uploads) == 1
        chat, media, caption, _at = uploader.uploads[0]
        assert chat == 9001 and media.path == str(leaflet) and "雨天路滑" in caption
        tips = await rows(db, tip_topic(broadcast.id))
        assert len(tips) == 7 and all(t.payload["media"] == [{"kind": "document", "file_id": "FILE-1", "filename": "leaflet.pdf"}] for t in tips)
        assert await release_due(sessions=db, settings=quiet_off, uploader=uploader) == 0
        assert len(uploader.uploads) == 1

    async def test_without_telegram_each_tip_carries_the_file(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings, tmp_path: Path
    ) -> None:
        """With no uploader (the console demo), the tips are released with the local file."""
        photo = tmp_path / "scene.jpg"
        photo.write_bytes(b"\xff\xd8\xff")
        broadcast = await _create(db, quiet_off, "unit:东关派出所", media=Media(kind="photo", path=str(photo)))
        assert await release_due(sessions=db, settings=quiet_off, uploader=None) == 2
        tips = await rows(db, tip_topic(broadcast.id))
        assert all(t.payload["media"][0]["path"] == str(photo) for t in tips)

    async def test_a_passing_failure_is_retried_and_a_permanent_one_fails_the_broadcast(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings, tmp_path: Path
    ) -> None:
        """A network error waits and tries again; a refused file ends the broadcast and tells the sender."""
        photo = tmp_path / "scene.jpg"
        photo.write_bytes(b"\xff\xd8\xff")
        broadcast = await _create(db, quiet_off, "unit:东关派出所", media=Media(kind="photo", path=str(photo)))
        flaky = FakeUploader(error=TransientSendError("connection reset"))
        assert await release_due(sessions=db, settings=quiet_off, uploader=flaky) == 0
        assert (await _get(db, broadcast.id)).retry_at is not None
        assert await release_due(sessions=db, settings=quiet_off, uploader=flaky) == 0
        assert len(flaky.uploads) == 1  # not again before the retry time
        refused = FakeUploader(error=PermanentSendError("Bad Request: IMAGE_PROCESS_FAILED"))
        later = utcnow() + timedelta(minutes=1)
        assert await release_due(sessions=db, settings=quiet_off, uploader=refused, now=later) == 0
        failed = await _get(db, broadcast.id)
        assert failed.status == "failed" and "IMAGE_PROCESS_FAILED" in (failed.failure or "")
        notices = [r for r in await rows(db) if r.dedupe_key == f"broadcast:{broadcast.id}:failed"]
        assert len(notices) == 1 and notices[0].officer_id == world["L1"].id
        async with transaction(db) as session:
            assert "broadcast.failed" in [e.action for e in await audit.tail(session=session, limit=20)]

    async def test_a_file_gone_before_release_fails_the_broadcast(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings, tmp_path: Path
    ) -> None:
        """The stored copy vanished: the broadcast fails rather than sending tips that cannot carry it."""
        photo = tmp_path / "scene.jpg"
        photo.write_bytes(b"\xff\xd8\xff")
        broadcast = await _create(db, quiet_off, "unit:东关派出所", media=Media(kind="photo", path=str(photo)))
        photo.unlink()
        assert await release_due(sessions=db, settings=quiet_off, uploader=FakeUploader()) == 0
        assert (await _get(db, broadcast.id)).status == "failed"


class TestStatusMessage:
    async def test_edits_are_throttled_skipped_when_unchanged_and_never_piled_up(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """At most one edit per 5 s while sending, none while the last is queued, none without a change."""
        broadcast = await _create(db, quiet_off, "unit:城关分局")
        messenger = FakeMessenger()
        # the status message and the first two tips go out
        await deliver_once(sessions=db, messenger=messenger, settings=quiet_off, options=DeliveryOptions(batch_size=3))
        status_id = next(
            r.telegram_message_id for r in await rows(db) if r.dedupe_key == f"broadcast:{broadcast.id}:status"
        )
        t0 = utcnow()
        assert await refresh_statuses(sessions=db, settings=quiet_off, now=t0) == 1
        assert (await _get(db, broadcast.id)).status_message_id == status_id
        assert await refresh_statuses(sessions=db, settings=quiet_off, now=t0 + timedelta(seconds=2)) == 0
        assert await refresh_statuses(sessions=db, settings=quiet_off, now=t0 + timedelta(seconds=6)) == 0  # queued
        edits = [r for r in await rows(db) if r.dedupe_key.startswith(f"broadcast:{broadcast.id}:status:")]
        assert len(edits) == 1
        assert edits[0].urgent and edits[0].payload["edit_message_id"] == status_id
        assert "已送达：2" in edits[0].payload["text"]
        assert edits[0].not_before < min(r.not_before for r in await rows(db, tip_topic(broadcast.id)))
        await deliver_once(sessions=db, messenger=messenger, settings=quiet_off)  # the edit and the other tips
        assert await refresh_statuses(sessions=db, settings=quiet_off, now=t0 + timedelta(seconds=12)) == 1
        finished = await _get(db, broadcast.id)
        assert finished.status == "sent" and finished.finished_at is not None
        await deliver_once(sessions=db, messenger=messenger, settings=quiet_off)
        assert await refresh_statuses(sessions=db, settings=quiet_off, now=t0 + timedelta(seconds=80)) == 0
        officer = await _officer(db, "B1")
        async with transaction(db) as session:
            await service.acknowledge(session=session, broadcast_id=broadcast.id, officer=officer)
        # once sent, an acknowledgement shows within a minute, not within 5 s
        assert await refresh_statuses(sessions=db, settings=quiet_off, now=t0 + timedelta(seconds=100)) == 0
        assert await refresh_statuses(sessions=db, settings=quiet_off, now=t0 + timedelta(seconds=141)) == 1
        edits = [m for m in messenger.to(9001) if m.edit_message_id == status_id]
        assert "已阅：1" in (await rows(db))[-1].payload["text"]
        assert len(edits) == 2
        assert "发送完毕" in edits[-1].text

    async def test_a_deleted_status_message_is_no_longer_edited(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """Telegram says the message is gone: the loop stops editing it instead of failing every 5 s."""
        broadcast = await _create(db, quiet_off, "unit:城关分局")
        messenger = FakeMessenger()
        await deliver_once(sessions=db, messenger=messenger, settings=quiet_off, options=DeliveryOptions(batch_size=2))
        t0 = utcnow()
        assert await refresh_statuses(sessions=db, settings=quiet_off, now=t0) == 1
        messenger.fail(9001, PermanentSendError("Bad Request: message to edit not found"))
        await deliver_once(sessions=db, messenger=messenger, settings=quiet_off, options=DeliveryOptions(batch_size=2))
        assert await refresh_statuses(sessions=db, settings=quiet_off, now=t0 + timedelta(seconds=6)) == 0
        assert (await _get(db, broadcast.id)).status_message_id is None
        assert await refresh_statuses(sessions=db, settings=quiet_off, now=t0 + timedelta(seconds=12)) == 0


class TestCancelledBeforeRelease:
    async def test_the_status_message_of_a_tip_cancelled_before_its_time_says_so(
        self, db: DB, world: dict[str, Officer], quiet_off: Settings
    ) -> None:
        """Written in the bot (its status message known), scheduled, cancelled: one edit says cancelled."""
        broadcast = await _create(db, quiet_off, "unit:东关派出所", send_at=utcnow() + timedelta(hours=2), status_message_id=77)
        async with transaction(db) as session:
            await service.cancel(session=session, broadcast_id=broadcast.id, actor="L1")
        t0 = utcnow()
        assert await refresh_statuses(sessions=db, settings=quiet_off, now=t0) == 1
        edit = [r for r in await rows(db) if r.dedupe_key.startswith(f"broadcast:{broadcast.id}:status:")]
        assert len(edit) == 1 and edit[0].payload["edit_message_id"] == 77
        assert "已撤回" in edit[0].payload["text"] and "发出前撤回：2" in edit[0].payload["text"]
        assert (await _get(db, broadcast.id)).finished_at == t0
        assert await refresh_statuses(sessions=db, settings=quiet_off, now=t0 + timedelta(minutes=5)) == 0


async def _officer(db: DB, badge: str) -> Officer:
    async with transaction(db) as session:
        found = await identity.get_officer(session=session, badge=badge)
        assert found is not None
        return found
