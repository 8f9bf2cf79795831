"""Pacing: Telegram's global and per-chat limits, and backing off when it answers 429."""

from __future__ import annotations

import asyncio
import time


class Pacer:
    """Keeps sends under a global rate and one message per chat per interval, and backs off on 429."""

    MIN_FACTOR = 0.25

    def __init__(self, rate_per_second: float, per_chat_interval: float = 1.1) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate_per_second
        self.per_chat_interval = per_chat_interval
        self.factor = 1.0
        self._next_global = 0.0
        self._paused_until = 0.0
        self._chat_next: dict[int, float] = {}

    @property
    def interval(self) -> float:
        """Returns the current gap between two sends, slowed down after 429s."""
        return 1.0 / (self.rate * self.factor)

    def delay(self, chat_id: int, now: float | None = None) -> float:
        """Returns how long a send to this chat must wait from now."""
        now = time.monotonic() if now is None else now
        ready = max(self._next_global, self._paused_until, self._chat_next.get(chat_id, 0.0))
        return max(0.0, ready - now)

    def take(self, chat_id: int, now: float | None = None) -> None:
        """Records a send to a chat happening now."""
        now = time.monotonic() if now is None else now
        # Letting the schedule lag one interval absorbs sleep overshoot and the short pause
        # between two batches, which would otherwise shave a little off the rate; the price is
        # at most one message of catch-up, so never more than rate + 1 in any second.
        slack = self.interval
        self._next_global = max(self._next_global, now - slack) + self.interval
        self._chat_next[chat_id] = now + self.per_chat_interval
        if len(self._chat_next) > 50_000:
            self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}

    async def acquire(self, chat_id: int, deadline: float) -> bool:
        """Waits for a send slot to this chat; False (nothing taken) if it would come after the deadline."""
        while True:
            now = time.monotonic()
            wait = self.delay(chat_id, now)
            if now + wait > deadline:
                return False
            if wait <= 0:
                self.take(chat_id, now)
                return True
            await asyncio.sleep(wait)

    def retry_after(self, chat_id: int, seconds: float) -> None:
        """Pauses everything for the time Telegram asked, and slows the pace afterwards."""
        now = time.monotonic()
        self._paused_until = max(self._paused_until, now + seconds)
        self._chat_next[chat_id] = max(self._chat_next.get(chat_id, 0.0), now + seconds)
        self.factor = max(self.MIN_FACTOR, self.factor * 0.8)

    def succeeded(self) -> None:
        """Lets the pace creep back up after a successful send."""
        if self.factor < 1.0:
            self.factor = min(1.0, self.factor + 0.01)

