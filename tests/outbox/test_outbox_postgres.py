"""The outbox on PostgreSQL: ON CONFLICT dedupe, SKIP LOCKED claims, two workers sharing one queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from outbox_helpers import FakeMessenger, create_outbox_tables
from sqlalchemy.ext.asyncio import AsyncEngine

from core import identity, outbox
from core.db import make_engine, make_sessionmaker, transaction, utcnow
from core.outbox import DeliveryOptions, OutboxItem, Pacer
from core.settings import Settings


@pytest.fixture
async def pg_engines(pg_db_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """Two engines with their own connection pools on a throw-away database with the outbox tables,
    as two worker processes would have."""
    setup = make_engine(pg_db_url)
    await create_outbox_tables(setup)
    await setup.dispose()
    first, second = make_engine(pg_db_url), make_engine(pg_db_url)
    yield first, second
    await first.dispose()
    await second.dispose()


async def _seed(engine: AsyncEngine, officers: int, messages: int) -> None:
    sessions = make_sessionmaker(engine)
    async with transaction(sessions) as session:
        await identity.add_unit(session=session, name="一中队")
        ids = []
        for i in range(officers):
            officer = await identity.add_officer(
                session=session, badge=f"{i:04d}", name=f"警员{i}", unit="一中队"
            )
            officer.telegram_user_id = 10_000 + i
            ids.append(officer.id)
        await session.flush()
        added = await outbox.enqueue_many(
            session=session,
            items=[
                OutboxItem(
                    officer_id=ids[n % officers], text=f"msg-{n}", kind="reminder", dedupe_key=f"key-{n}"
                )
                for n in range(messages)
            ],
        )
    assert added == messages


class TestOnPostgres:
    async def test_dedupe_uses_on_conflict_inside_the_callers_transaction(self, pg_engines) -> None:
        """A duplicate key returns None and the rest of the transaction still commits."""
        engine, _ = pg_engines
        await _seed(engine, officers=1, messages=1)
        sessions = make_sessionmaker(engine)
        async with transaction(sessions) as session:
            officer = await identity.get_officer(session=session, badge="0000")
            assert officer is not None
            dup = await outbox.enqueue(
                session=session, officer_id=officer.id, text="x", kind="r", dedupe_key="key-0"
            )
            new = await outbox.enqueue(
                session=session, officer_id=officer.id, text="y", kind="r", dedupe_key="key-new"
            )
        assert dup is None
        assert new is not None
        async with sessions() as session:
            assert await outbox.status_counts(session=session) == {
                ("pending", "r"): 1,
                ("pending", "reminder"): 1,
            }

    async def test_concurrent_claims_skip_each_others_locked_rows(self, pg_engines) -> None:
        """Claims racing from two pools split the rows with no overlap and never exceed their limit;
        expired leases come back."""
        first, second = pg_engines
        await _seed(first, officers=5, messages=120)

        async def claim_all(engine: AsyncEngine, name: str) -> list[int]:
            sessions = make_sessionmaker(engine)
            got: list[int] = []
            while True:
                async with transaction(sessions) as session:
                    batch = await outbox.claim_due(
                        session=session, lease_owner=name, limit=9, lease_seconds=60
                    )
                if not batch:
                    return got
                assert len(batch) <= 9, f"a claim took {len(batch)} rows, more than its limit"
                got.extend(c.id for c in batch)

        a, b = await asyncio.gather(claim_all(first, "a"), claim_all(second, "b"))
        assert len(a) + len(b) == 120
        assert set(a).isdisjoint(b)
        async with transaction(make_sessionmaker(first)) as session:
            again = await outbox.claim_due(
                session=session,
                lease_owner="c",
                limit=500,
                lease_seconds=60,
                now=utcnow() + timedelta(seconds=61),
            )
        assert len(again) == 120

    async def test_two_workers_deliver_every_row_exactly_once(
        self, pg_engines, outbox_settings: Settings
    ) -> None:
        """Two delivery loops on one PostgreSQL queue: all 400 rows arrive, none twice."""
        first, second = pg_engines
        await _seed(first, officers=40, messages=400)
        messenger = FakeMessenger(latency=0.005)
        stop = asyncio.Event()
        options = DeliveryOptions(batch_size=25, per_chat_interval=0.02, idle_seconds=0.02)

        def loop(engine: AsyncEngine, name: str):
            return outbox.run_delivery_loop(
                sessions=make_sessionmaker(engine),
                messenger=messenger,
                settings=outbox_settings,
                stop=stop,
                worker_id=name,
                options=options,
                pacer=Pacer(300, per_chat_interval=0.02),
            )

        async def stop_when_done() -> None:
            for _ in range(1500):
                if len(messenger.sent) >= 400:
                    break
                await asyncio.sleep(0.02)
            stop.set()

        reports = await asyncio.wait_for(
            asyncio.gather(loop(first, "w1"), loop(second, "w2"), stop_when_done()), timeout=60
        )
        assert sorted(messenger.texts) == sorted(f"msg-{n}" for n in range(400))
        assert set(messenger.texts.values()) == {1}
        assert reports[0].sent > 0 and reports[1].sent > 0, "both workers should have taken a share"
        assert reports[0].sent + reports[1].sent == 400
        async with make_sessionmaker(first)() as session:
            assert await outbox.status_counts(session=session) == {("sent", "reminder"): 400}
