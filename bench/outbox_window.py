"""Measures the duplicate window: from the Bot API accepting a message to the outbox row's 'sent' commit.

A crash inside this window is the only way a message can go out twice (see core/outbox.py).
The fake Bot API runs in the same process and event loop as the worker here, which makes the
figure an upper bound for a separate worker process.

Usage: .venv/bin/python bench/outbox_window.py [--messages 300] [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from outbox_common import TOKEN, FakeBotAPI, seed

from bot.messenger import telegram_messenger
from core.db import make_engine, make_sessionmaker
from core.outbox import Claimed, Deliverer, DeliveryOptions
from core.settings import load_settings


class ProbeDeliverer(Deliverer):
    """A Deliverer that notes when each 'sent' commit has finished."""

    committed: dict[int, float]

    async def _sent(self, row: Claimed, message_id: int) -> None:
        await super()._sent(row, message_id)
        self.committed[message_id] = time.monotonic()


async def main(messages: int, db: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if db == "postgres":
            from outbox_crash import _pg_drop, _pg_fresh

            base = os.environ["FRONTLINE_TEST_DATABASE_URL"]
            url = await _pg_fresh(base)
        else:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'window.db'}"
        await seed(url, officers=300, messages=messages)
        api = FakeBotAPI(token=TOKEN, rate_per_second=30, per_chat_per_second=1)
        await api.start()
        settings = load_settings(
            data_dir=Path(tmp),
            database_url=url,
            bot_token=TOKEN,
            telegram_api_base=api.base_url,
            quiet_hours="00:00-00:00",
            _env_file=None,
        )
        engine = make_engine(url)
        async with telegram_messenger(settings) as messenger:
            deliverer = ProbeDeliverer(
                sessions=make_sessionmaker(engine),
                messenger=messenger,
                settings=settings,
                worker_id="probe",
                options=DeliveryOptions(),
            )
            deliverer.committed = {}
            while len(deliverer.committed) < messages:
                if await deliverer.run_batch() == 0:
                    await asyncio.sleep(0.05)
            await deliverer.drain()
            await deliverer.close()
        await engine.dispose()
        await api.stop()
        accepted = {
            m.message_id: m.sent_at for chat in range(1_000_000, 1_000_300) for m in api.messages_to(chat)
        }
        windows = sorted((deliverer.committed[i] - accepted[i]) * 1000 for i in accepted)
        rate_gap = 1000 / 30
        print(
            f"{db}: {len(windows)} messages; accepted -> committed window in ms: "
            f"median {statistics.median(windows):.1f}, p90 {windows[int(len(windows) * 0.9)]:.1f}, "
            f"max {windows[-1]:.1f}"
        )
        print(
            f"at 30 msg/s a kill -9 at a random moment duplicates one message with probability "
            f"~{statistics.mean(windows) / rate_gap:.0%} (mean window / {rate_gap:.1f} ms gap)"
        )
        if db == "postgres":
            await _pg_drop(base)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.db))
