"""Flood control: a sliding minute of questions per officer, in process or in Redis."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from bot.middlewares import FloodControl


class TestFloodControl:
    """Questions beyond the limit within a minute are refused."""

    async def test_refuses_beyond_the_limit_and_recovers_after_a_minute(self) -> None:
        """Three a minute: the fourth is refused; a minute later one is allowed again."""
        flood = FloodControl(3)
        assert [await flood.allow(1, now=100.0 + i) for i in range(4)] == [True, True, True, False]
        assert await flood.allow(2, now=103.0)
        assert await flood.allow(1, now=160.5)

    async def test_redis_counts_are_shared(self, redis_url: str) -> None:
        """Two bot processes sharing Redis share the count."""
        redis = Redis.from_url(redis_url)
        prefix = f"frontline-test-flood-{uuid.uuid4().hex}"
        try:
            first, second = FloodControl(2, redis, prefix), FloodControl(2, redis, prefix)
            assert await first.allow(9, now=1000.0)
            assert await second.allow(9, now=1001.0)
            assert not await first.allow(9, now=1002.0)
            assert await second.allow(9, now=1061.0)
        finally:
            await redis.delete(f"{prefix}:9")
            await redis.aclose()
