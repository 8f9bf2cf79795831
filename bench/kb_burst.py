"""Benchmark: the knowledge base alone answering 20 questions at once (no bot, no Telegram, no database).

This is the floor under bench/bot_latency.py: the same bundled knowledge base, the same question
pool (a distinct question for every ask, so no per-question cache helps), called from threads
as the bot calls it. Whatever the bot adds comes on top of these figures.

    .venv/bin/python bench/kb_burst.py [--officers 20] [--rounds 10] [--engines 2] [--data-dir /tmp/frontline-bench-bot]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Imported after the path fix above, so the script runs from any directory.
from bench.bot_latency import percentile, question_pool
from bot.services import open_knowledge_base
from core.settings import load_settings


def main(officers: int, rounds: int, engines: int | None, data_dir: Path) -> int:
    settings = load_settings(data_dir=data_dir, _env_file=None)
    kb = open_knowledge_base(settings)
    if engines is not None:
        kb.embeddings.engines = engines  # type: ignore[attr-defined]  # the bundled E5Embeddings
    pool = question_pool()
    if len(pool) < 3 + officers * rounds:
        raise SystemExit(f"need {3 + officers * rounds} distinct questions; have {len(pool)}")
    for question in pool[:3]:
        kb.ask(question)
    gc.collect()
    gc.freeze()  # as the bot does after start-up
    latencies: list[float] = []
    cpu = 0.0
    with ThreadPoolExecutor(officers) as workers:
        for round_number in range(rounds):
            questions = pool[3 + round_number * officers : 3 + (round_number + 1) * officers]
            started, cpu_started = time.perf_counter(), time.process_time()

            def answer(question: str, started: float = started) -> float:
                kb.ask(question)
                return (time.perf_counter() - started) * 1000

            done = sorted(workers.map(answer, questions))
            cpu += time.process_time() - cpu_started
            latencies.extend(done)
            print(
                f"round {round_number + 1}: first {done[0]:.0f} ms, median {statistics.median(done):.0f} ms, "
                f"19th {done[min(18, len(done) - 1)]:.0f} ms, last {done[-1]:.0f} ms",
                flush=True,
            )
    print(f"officers={officers} rounds={rounds} engines={kb.embeddings.engines}")  # type: ignore[attr-defined]
    print(f"CPU per question: {cpu * 1000 / len(latencies):.1f} ms")
    print(
        f"question->answer ms: p50={statistics.median(latencies):.0f} p95={percentile(latencies, 0.95):.0f} "
        f"max={max(latencies):.0f}"
    )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--officers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--engines", type=int, default=None, help="embedding engines (default: as shipped)")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/frontline-bench-bot"))
    arguments = parser.parse_args()
    raise SystemExit(main(arguments.officers, arguments.rounds, arguments.engines, arguments.data_dir))
