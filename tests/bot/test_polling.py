"""Long polling: a burst of updates waits its turn instead of crowding the database pool."""

from __future__ import annotations

import asyncio
from typing import Any

from aiogram.types import Update

from bot.polling import Poller


class _CountingDispatcher:
    """Stands in for the Dispatcher: records how many updates are being handled at once."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.handled: list[int] = []

    async def feed_update(self, bot: Any, update: Update, **kwargs: Any) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(0.01)
        self.handled.append(update.update_id)
        self.running -= 1


class TestUpdatesInFlight:
    async def test_a_burst_is_handled_at_most_n_at_a_time_and_none_is_lost(self) -> None:
        """Fifty updates fetched at once: at most four run together (the cap), all fifty are handled."""
        dispatcher = _CountingDispatcher()
        poller = Poller(None, dispatcher, None, None, max_in_flight=4)  # type: ignore[arg-type]  # only feed_update is used
        for update_id in range(1, 51):
            poller._start(Update(update_id=update_id))
        await asyncio.gather(*list(poller.in_flight.values()))
        assert dispatcher.most == 4
        assert sorted(dispatcher.handled) == list(range(1, 51))
        assert poller.finished == set(range(1, 51))
