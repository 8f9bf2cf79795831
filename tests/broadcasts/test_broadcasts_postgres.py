"""Broadcasts on PostgreSQL: concurrent acknowledgements stay one row, cancellation beside a claiming worker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from broadcast_helpers import FakeMessenger, build_world
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import schema
from broadcasts import service
from broadcasts.figures import figures
from broadcasts.models import BroadcastAck, tip_topic
from core import identity
from core.db import make_engine, make_sessionmaker, transaction
from core.outbox import DeliveryOptions, OutboxMessage, claim_due, deliver_once
from core.settings import Settings


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A throw-away PostgreSQL database with every table and the unit tree."""
    name = f"frontline_bc_{uuid.uuid4().hex[:8]}"
    admin = make_engine(pg_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(pg_url).set(database=name).render_as_string(hide_password=False))
    async with engine.begin() as conn:
        await conn.run_sync(schema.load_models().create_all)
    sessions = make_sessionmaker(engine)
    async with transaction(sessions) as session:
        await build_world(session)
    try:
        yield sessions
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


class TestOnPostgres:
    async def test_twenty_presses_at_once_make_one_acknowledgement(
        self, pg: async_sessionmaker[AsyncSession], quiet_off: Settings
    ) -> None:
        """Concurrent presses of one officer (each its own transaction) record one row and agree on its time."""
        async with transaction(pg) as session:
            sender = await identity.get_officer(session=session, badge="L1")
            assert sender is not None
            broadcast = await service.create(
                session=session, sender=sender, text="提示", audience="unit:东关派出所", settings=quiet_off
            )
        async with transaction(pg) as session:
            officer = await identity.get_officer(session=session, badge="B1")
            assert officer is not None

        async def press() -> service.Acknowledgement:
            async with transaction(pg) as session:
                return await service.acknowledge(session=session, broadcast_id=broadcast.id, officer=officer)

        results = await asyncio.gather(*(press() for _ in range(20)))
        assert sum(r.new for r in results) == 1
        assert len({r.acknowledged_at for r in results}) == 1
        async with transaction(pg) as session:
            assert await session.scalar(select(func.count()).select_from(BroadcastAck)) == 1

    async def test_cancel_beside_a_worker_holding_claimed_rows(
        self, pg: async_sessionmaker[AsyncSession], quiet_off: Settings
    ) -> None:
        """Rows a worker has claimed (locked, being sent) are not withdrawn; the rest are; the figures add up."""
        async with transaction(pg) as session:
            sender = await identity.get_officer(session=session, badge="L1")
            assert sender is not None
            broadcast = await service.create(
                session=session, sender=sender, text="提示", audience="all", settings=quiet_off
            )
        await deliver_once(sessions=pg, messenger=FakeMessenger(), settings=quiet_off, options=DeliveryOptions(batch_size=4))


        async def cancel() -> int:
            async with transaction(pg) as session:
                return await service.cancel(session=session, broadcast_id=broadcast.id, actor="L1")

        async with pg() as worker:
            # A second worker is claiming two rows (locked, not yet committed) as the sender cancels:
            # the withdrawal waits for the claim, then leaves the claimed rows to be sent.
            await worker.begin()
            claimed = await claim_due(session=worker, lease_owner="w2", limit=2, lease_seconds=60)
            cancelling = asyncio.create_task(cancel())
            await asyncio.sleep(0.5)
            assert not cancelling.done()
            await worker.commit()
        withdrawn = await asyncio.wait_for(cancelling, timeout=10)
        assert len(claimed) == 2
        async with transaction(pg) as session:
            counted = await figures(session=session, broadcast_id=broadcast.id)
            left = (await session.execute(
                select(OutboxMessage.status, func.count()).where(OutboxMessage.topic == tip_topic(broadcast.id))
                .group_by(OutboxMessage.status)
            )).all()
        assert dict(left) == {"sent": 3, "sending": 2}
        assert withdrawn == 4
        assert (counted.recipients, counted.sent, counted.pending, counted.cancelled) == (9, 3, 2, 4)
