"""Outbox delivery rate through the real TelegramMessenger + aiogram against a 30/s rate-limited fake.

Usage: .venv/bin/python bench/outbox_throughput.py [--messages 1200] [--chats 400] [--fake-rate 30]

With --fake-rate below 30 the worker (pacing itself at 30/s) runs into 429s and must slow down.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from outbox_common import (
    TOKEN,
    FakeBotAPI,
    accepted_times,
    counts,
    deliveries,
    seed,
    start_worker,
    stop_worker,
    wait_delivered,
)


async def main(messages: int, chats: int, fake_rate: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        enqueue_seconds = await seed(url, officers=chats, messages=messages)
        api = FakeBotAPI(token=TOKEN, rate_per_second=fake_rate, per_chat_per_second=1)
        await api.start()
        started = time.monotonic()
        worker = start_worker(url, api, "bench-1")
        try:
            got = await wait_delivered(api, messages, within=messages / 20 + 60)
        finally:
            stop_worker(worker)
            await api.stop()
        wall = time.monotonic() - started
        times = accepted_times(api)
        per_key = deliveries(api)
        sustained = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
        # The steady state, leaving out the first and last 5 % (start-up and the final trickle).
        cut = len(times) // 20
        middle = times[cut : len(times) - cut]
        steady = (len(middle) - 1) / (middle[-1] - middle[0]) if len(middle) > 1 else 0.0
        print(f"messages {messages} to {chats} chats, fake limit {fake_rate:g}/s global and 1/s per chat")
        print(f"enqueue_many took {enqueue_seconds * 1000:.0f} ms")
        print(f"delivered {got}/{messages} distinct, duplicates {sum(v - 1 for v in per_key.values())}")
        print(f"429 answers from the fake: {api.rejected_429}")
        print(
            f"rate first->last accepted send: {sustained:.2f} msg/s; steady middle 90 %: {steady:.2f} msg/s"
        )
        print(f"wall time incl. worker start-up: {wall:.1f} s")
        print(f"final status counts: {await counts(url)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1200)
    parser.add_argument("--chats", type=int, default=400)
    parser.add_argument(
        "--fake-rate", type=float, default=30.0, help="the fake Bot API's global limit per second"
    )
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.chats, args.fake_rate))
