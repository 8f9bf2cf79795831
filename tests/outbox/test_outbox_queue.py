"""Queuing pushes and claiming them: dedupe, the caller's transaction, atomic claims, leases."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from outbox_helpers import Rows, push
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import outbox
from core.db import transaction, utcnow
from core.outbox import OutboxError, OutboxItem, OutboxMessage, OutboxStatus


class TestEnqueue:
    async def test_a_second_push_with_the_same_dedupe_key_writes_nothing(
        self, db, add_officer, rows: Rows
    ) -> None:
        """The reminder scan may run twice a day; the officer still gets one message per key."""
        officer = await add_officer("1001", chat=11)
        first = await push(db, officer, "case-7:bail:7d", text="first")
        async with transaction(db) as session:
            again = await outbox.enqueue(
                session=session,
                officer_id=officer.id,
                text="second",
                kind="reminder",
                dedupe_key="case-7:bail:7d",
            )
        assert again is None
        stored = await rows.all()
        assert [(r.id, r.payload["text"]) for r in stored] == [(first.id, "first")]

    async def test_keeps_the_payload_and_defaults(self, db, add_officer, rows: Rows) -> None:
        """Text, parse mode and buttons are stored as the payload; a row is pending and due now."""
        officer = await add_officer("1001", chat=11)
        before = utcnow()
        buttons = [
            [{"text": "已处理", "callback_data": "done:7"}, {"text": "法条", "url": "https://example.org/a"}]
        ]
        row = await push(db, officer, "k1", text="<b>取保候审</b>到期", buttons=buttons, urgent=True)
        stored = await rows.get(row.id)
        assert stored.payload == {"text": "<b>取保候审</b>到期", "parse_mode": "HTML", "buttons": buttons}
        assert stored.status == OutboxStatus.PENDING
        assert stored.urgent is True
        assert stored.attempts == 0
        assert before <= stored.not_before <= utcnow()

    async def test_a_rolled_back_change_leaves_no_push_behind(self, db, add_officer, rows: Rows) -> None:
        """The push lives in the caller's transaction: if the change fails, so does the push."""
        officer = await add_officer("1001", chat=11)
        with pytest.raises(RuntimeError):
            async with transaction(db) as session:
                await outbox.enqueue(
                    session=session, officer_id=officer.id, text="x", kind="notice", dedupe_key="k"
                )
                raise RuntimeError("the change that caused the push failed")
        assert await rows.all() == []

    async def test_a_duplicate_does_not_spoil_the_callers_transaction(
        self, db, add_officer, rows: Rows
    ) -> None:
        """ON CONFLICT DO NOTHING, not an exception: the caller's other writes still commit."""
        officer = await add_officer("1001", chat=11)
        await push(db, officer, "dup")
        async with transaction(db) as session:
            assert (
                await outbox.enqueue(
                    session=session, officer_id=officer.id, text="a", kind="notice", dedupe_key="dup"
                )
                is None
            )
            await outbox.enqueue(
                session=session, officer_id=officer.id, text="b", kind="notice", dedupe_key="new"
            )
        assert sorted(r.dedupe_key for r in await rows.all()) == ["dup", "new"]

    async def test_enqueue_many_counts_only_new_rows(self, db, add_officer, rows: Rows) -> None:
        """Bulk queuing skips keys already stored and keys repeated in the same call."""
        officer = await add_officer("1001", chat=11)
        await push(db, officer, "k-0")
        items = [
            OutboxItem(officer_id=officer.id, text=f"t{i}", kind="reminder", dedupe_key=f"k-{i}")
            for i in range(1200)
        ]
        items.append(OutboxItem(officer_id=officer.id, text="again", kind="reminder", dedupe_key="k-5"))
        async with transaction(db) as session:
            added = await outbox.enqueue_many(session=session, items=items)
        assert added == 1199
        async with db() as session:
            assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 1200

    @pytest.mark.parametrize(
        ("text", "buttons", "complaint"),
        [
            ("  ", None, "empty"),
            ("x" * 4097, None, "longer"),
            ("ok", [[{"text": "no target"}]], "exactly one"),
            ("ok", [[{"text": "both", "url": "https://a", "callback_data": "b"}]], "exactly one"),
            ("ok", [[{"text": "long", "callback_data": "x" * 65}]], "64 bytes"),
            ("ok", [[]], "non-empty"),
        ],
    )
    async def test_refuses_a_push_telegram_would_never_accept(
        self, db, add_officer, text: str, buttons, complaint: str
    ) -> None:
        """A caller's mistake shows up at once, not as a dead row hours later."""
        officer = await add_officer("1001", chat=11)
        async with db() as session:
            with pytest.raises(OutboxError, match=complaint):
                await outbox.enqueue(
                    session=session,
                    officer_id=officer.id,
                    text=text,
                    kind="notice",
                    dedupe_key="k",
                    buttons=buttons,
                )

    async def test_html_tags_do_not_count_towards_the_length_limit(self, db, add_officer) -> None:
        """Telegram counts the visible text; markup around 4,000 characters is fine."""
        officer = await add_officer("1001", chat=11)
        row = await push(db, officer, "long", text="<b>" + "字" * 4000 + "</b>" + "&amp;" * 90)
        assert row.id > 0


class TestClaim:
    async def test_claims_due_rows_once_and_leaves_future_rows(self, db, add_officer) -> None:
        """A claimed row is leased to one worker; rows not yet due stay pending."""
        officer = await add_officer("1001", chat=11)
        due = await push(db, officer, "due")
        await push(db, officer, "later", not_before=utcnow() + timedelta(hours=1))
        async with transaction(db) as session:
            first = await outbox.claim_due(session=session, lease_owner="w1/a", limit=10, lease_seconds=60)
        async with transaction(db) as session:
            second = await outbox.claim_due(session=session, lease_owner="w2/b", limit=10, lease_seconds=60)
        assert [c.id for c in first] == [due.id]
        assert second == []

    async def test_concurrent_claims_never_share_a_row(
        self, db: async_sessionmaker[AsyncSession], add_officer
    ) -> None:
        """Several workers claiming at once split the rows between them without overlap."""
        officer = await add_officer("1001", chat=11)
        async with transaction(db) as session:
            await outbox.enqueue_many(
                session=session,
                items=[
                    OutboxItem(officer_id=officer.id, text="t", kind="r", dedupe_key=f"k{i}")
                    for i in range(200)
                ],
            )

        async def worker(name: str) -> list[int]:
            got: list[int] = []
            while True:
                async with transaction(db) as session:
                    batch = await outbox.claim_due(
                        session=session, lease_owner=name, limit=7, lease_seconds=60
                    )
                if not batch:
                    return got
                assert len(batch) <= 7, f"a claim took {len(batch)} rows, more than its limit"
                got.extend(c.id for c in batch)
                await asyncio.sleep(0)

        results = await asyncio.gather(*(worker(f"w{i}") for i in range(4)))
        everything = [row_id for result in results for row_id in result]
        assert len(everything) == 200
        assert len(set(everything)) == 200

    async def test_a_crashed_workers_rows_come_due_again_when_the_lease_expires(
        self, db, add_officer, rows
    ) -> None:
        """A row left 'sending' by a dead worker is claimed again after its lease, not before."""
        officer = await add_officer("1001", chat=11)
        row = await push(db, officer, "k")
        async with transaction(db) as session:
            await outbox.claim_due(session=session, lease_owner="dead/1", limit=10, lease_seconds=30)
        async with transaction(db) as session:
            early = await outbox.claim_due(
                session=session,
                lease_owner="w2/1",
                limit=10,
                lease_seconds=30,
                now=utcnow() + timedelta(seconds=29),
            )
        async with transaction(db) as session:
            late = await outbox.claim_due(
                session=session,
                lease_owner="w2/2",
                limit=10,
                lease_seconds=30,
                now=utcnow() + timedelta(seconds=31),
            )
        assert early == []
        assert [c.id for c in late] == [row.id]
        assert (await rows.get(row.id)).lease_owner == "w2/2"

    async def test_urgent_rows_are_claimed_before_older_ordinary_ones(self, db, add_officer) -> None:
        """With a backlog, an urgent push jumps the queue."""
        officer = await add_officer("1001", chat=11)
        for i in range(5):
            await push(db, officer, f"old{i}", not_before=utcnow() - timedelta(minutes=10 - i))
        urgent = await push(db, officer, "urgent", urgent=True)
        async with transaction(db) as session:
            batch = await outbox.claim_due(session=session, lease_owner="w/1", limit=2, lease_seconds=60)
        assert [c.dedupe_key for c in batch] == [urgent.dedupe_key, "old0"]


class TestRepair:
    async def test_retry_dead_puts_named_rows_back_with_fresh_attempts(
        self, db, add_officer, rows: Rows
    ) -> None:
        """An admin can requeue a dead row after fixing its cause; the change is audited."""
        officer = await add_officer("1001", chat=11)
        a = await push(db, officer, "a")
        b = await push(db, officer, "b")
        async with transaction(db) as session:
            for row_id in (a.id, b.id):
                stored = await session.get(OutboxMessage, row_id)
                assert stored is not None
                stored.status, stored.attempts, stored.last_error = "dead", 8, "boom"
        async with transaction(db) as session:
            assert await outbox.retry_dead(session=session, ids=[a.id]) == 1
        assert ((await rows.get(a.id)).status, (await rows.get(a.id)).attempts) == ("pending", 0)
        assert (await rows.get(b.id)).status == "dead"
        async with transaction(db) as session:
            assert await outbox.retry_dead(session=session, all_dead=True) == 1
            counts = await outbox.status_counts(session=session)
        assert counts == {("pending", "reminder"): 2}
        assert (await rows.audit_actions()).count("outbox.retry_dead") == 2

    async def test_retry_dead_wants_ids_or_all(self, db) -> None:
        """Asking to retry nothing in particular is refused rather than guessed."""
        async with db() as session:
            with pytest.raises(OutboxError):
                await outbox.retry_dead(session=session)


class TestMediaAndEdits:
    async def test_media_edits_and_topic_travel_to_the_messenger(
        self, db, add_officer, rows: Rows, messenger, outbox_settings
    ) -> None:
        """A push with photos, or an edit of an earlier message, reaches the messenger as queued."""
        officer = await add_officer("1001", chat=11)
        album = (outbox.Media("photo", file_id="p1"), outbox.Media("video", file_id="v1"))
        async with transaction(db) as session:
            await outbox.enqueue(
                session=session, officer_id=officer.id, text="证据", kind="rights",
                dedupe_key="m1", media=album, topic="rights:WQ-1",
            )
            await outbox.enqueue(
                session=session, officer_id=officer.id, text="已发送 5/10", kind="broadcast",
                dedupe_key="e1", edit_message_id=42, topic="broadcast:1",
            )
        await outbox.deliver_once(sessions=db, messenger=messenger, settings=outbox_settings)
        got = {m.text: m for _chat, m in messenger.messages}
        assert got["证据"].media == album
        assert got["已发送 5/10"].edit_message_id == 42
        async with transaction(db) as session:
            assert await outbox.topic_counts(session=session, topic="rights:WQ-1") == {"sent": 1}

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"media": (outbox.Media("photo", file_id="a"),) * 2, "buttons": [[{"text": "x", "callback_data": "y"}]]}, "buttons"),
            ({"media": (outbox.Media("voice", file_id="a"), outbox.Media("photo", file_id="b"))}, "voice"),
            ({"media": (outbox.Media("photo", file_id="a"),), "text": "长" * 1025}, "caption"),
            ({"media": (outbox.Media("photo", file_id="a"),), "edit_message_id": 3}, "edit"),
            ({"text": ""}, "empty"),
        ],
    )
    async def test_refuses_what_telegram_would_refuse(self, db, add_officer, kwargs, message) -> None:
        """An album with buttons, a voice note in an album, a long caption: refused when queued."""
        officer = await add_officer("1001", chat=11)
        values = {"text": "证据", **kwargs}
        with pytest.raises(OutboxError, match=message):
            async with transaction(db) as session:
                await outbox.enqueue(session=session, officer_id=officer.id, kind="x", dedupe_key="k", **values)

    def test_media_needs_one_source(self) -> None:
        """A media item is a platform file id or a local path, never both or neither."""
        with pytest.raises(OutboxError):
            outbox.Media("photo")
        with pytest.raises(OutboxError):
            outbox.Media("photo", file_id="a", path="/tmp/a.jpg")
        with pytest.raises(OutboxError):
            outbox.Media("sticker", file_id="a")
