"""Benchmark: 20 officers asking at once, through the real bot, against the fake Bot API server.

Measures, per question, the time from the bot fetching the update (getUpdates answered) to
the reply arriving at the server (sendMessage), with the full bundled knowledge base. The fake
server and the simulated officers run in a separate process (--same-process: in the bot's loop).

    .venv/bin/python bench/bot_latency.py [--officers 20] [--rounds 10] [--data-dir /tmp/frontline-bench-bot]
    .venv/bin/python bench/bot_latency.py --fake-kb     # the bot's own overhead, with an instant KB
    .venv/bin/python bench/bot_latency.py --in-process  # the knowledge base in the bot's own process
    .venv/bin/python bench/bot_latency.py --same-process  # server and officers in the bot's event loop
    .venv/bin/python bench/bot_latency.py --bare      # the floor: a bare aiogram bot + the same KB process
    .venv/bin/python bench/bot_latency.py --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test \
        --redis redis://127.0.0.1:6379/0                   # as deployed: PostgreSQL and Redis
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import statistics
import sys
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Imported after the path fix above, so the script runs from any directory.
from bot.app import create_app
from bot.knowledge_process import KnowledgeBaseProcess
from bot.services import KnowledgeBaseLike, default_feedback, open_knowledge_base
from core import identity
from core.db import make_engine, make_sessionmaker, transaction
from core.heap import settle_heap
from core.migrate import upgrade_async
from core.settings import load_settings
from core.testing import create_database
from tests.fakebotapi import FakeBotAPI

PG_DATABASE = "frontline_bench_bot"

QUESTIONS = [
    "取保候审最长多久？",
    "拘留后多久提请检察院批准逮捕？",
    "监视居住的期限是多少？",
    "传唤持续的时间最长多少小时？",
    "刑事拘留的期限可以延长到多少天？",
    "检察院审查批准逮捕的期限是几天？",
    "讯问犯罪嫌疑人需要录音录像吗？",
    "搜查需要出示搜查证吗？",
    "扣押物品需要开具清单吗？",
    "未成年人讯问时法定代理人应当到场吗？",
    "治安案件的办理期限是多少天？",
    "行政拘留可以暂缓执行吗？",
    "醉酒驾驶机动车如何处罚？",
    "询问证人应当个别进行吗？",
    "辨认需要几名陪衬人？",
    "逮捕后应当在多长时间内通知家属？",
    "取保候审保证金如何确定？",
    "What is the maximum term of bail pending trial?",
    "当场盘问和继续盘问的期限？",
    "外国人非法居留如何处理？",
]


def question_pool() -> list[str]:
    """Returns distinct questions: the ones above, bench/data/*.jsonl's, bench/data/burst_questions.txt's.

    Every ask in a run gets a question of its own, so no answer comes from the knowledge base's
    per-question caches (query vectors, BM25 scores): each one is embedded and searched afresh.
    """
    pool = list(QUESTIONS)
    data = Path(__file__).parent / "data"
    for path in sorted(data.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                pool.append(json.loads(line)["q"])
    # more officer questions, written for this benchmark (no expected answers: latency only)
    pool.extend(line.strip() for line in (data / "burst_questions.txt").read_text("utf-8").splitlines() if line.strip())
    return list(dict.fromkeys(pool))


def percentile(values: list[float], share: float) -> float:
    """Returns the nearest-rank percentile."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[index]


def _process_cpu(pid: int | None) -> float:
    """Returns the CPU seconds (user + system) a process has used so far, from /proc."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _fresh_db(data_dir: Path) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    db = data_dir / "bench.db"
    db.unlink(missing_ok=True)
    return db


async def drive(server: FakeBotAPI, officers: int, rounds: int) -> tuple[list[float], int]:
    """Plays the officers against a running bot; returns the latencies (ms) and the lost count."""
    latencies: list[float] = []
    lost = 0
    pool = question_pool()
    if len(pool) < 3 + officers * rounds:
        raise SystemExit(f"{officers} officers x {rounds} rounds need {3 + officers * rounds} distinct questions; have {len(pool)}")
    # Warm-up: first calls load lazily built parts (tokenizer, caches).
    for question in pool[:3]:
        server.send_text(10_000, question)
    await asyncio.sleep(0)
    await server.wait_for(10_000, lambda m: True, timeout=60)
    await server.wait_idle(timeout=60, quiet=0.3)
    for round_number in range(rounds):
        this_round: list[float] = []
        marks = {10_000 + n: len(server.messages_to(10_000 + n)) for n in range(officers)}
        update_ids = {}
        for number in range(officers):
            chat = 10_000 + number
            update_ids[chat] = server.send_text(chat, pool[3 + round_number * officers + number])
        for chat, update_id in update_ids.items():
            try:
                reply = await server.wait_for(chat, lambda m: True, timeout=30, since=marks[chat])
            except TimeoutError:
                lost += 1
                continue
            this_round.append((reply.sent_at - server.fetched_at[update_id]) * 1000)
        latencies.extend(this_round)
        if this_round:
            ordered = sorted(this_round)
            print(
                f"round {round_number + 1}: first {ordered[0]:.0f} ms, median {statistics.median(ordered):.0f} ms, "
                f"last {ordered[-1]:.0f} ms",
                flush=True,
            )
        await server.wait_idle(timeout=30, quiet=0.2)
    await server.wait_idle(timeout=30, quiet=0.3)
    lost += server.pending_updates
    return latencies, lost


def _server_process(conn: Connection, officers: int, rounds: int) -> None:
    """Runs the fake Bot API server and the simulated officers in a process of their own."""

    async def serve() -> None:
        server = FakeBotAPI()
        cpu_before = time.process_time()
        await server.start()
        conn.send((server.token, server.base_url))
        await asyncio.to_thread(conn.recv)  # the bot is polling
        try:
            latencies, lost = await drive(server, officers, rounds)
            conn.send((latencies, lost, time.process_time() - cpu_before))
        except Exception as exc:
            conn.send(exc)
        await asyncio.to_thread(conn.recv)  # the bot has stopped
        await server.stop()

    asyncio.run(serve())


async def _bare_bot(token: str, base_url: str, kb: KnowledgeBaseLike) -> tuple[Any, Any]:
    """The floor under the product: aiogram polling, one handler asking the same knowledge base.

    No middlewares, database, conversation state, audit, formatting or buttons: whatever the
    product's bot adds on top of this is its own cost; this is the framework's and the KB's.
    """
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message

    bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def answer(message: Message) -> None:
        found = await asyncio.to_thread(kb.ask, message.text or "")
        await message.answer(found.answer[:4000], parse_mode=None)

    polling = asyncio.create_task(dispatcher.start_polling(bot, polling_timeout=10, handle_signals=False))
    return dispatcher, polling


async def main(
    officers: int,
    rounds: int,
    data_dir: Path,
    fake_kb: bool,
    same_process: bool = False,
    postgres: str | None = None,
    redis: str | None = None,
    in_process: bool = False,
    bare: bool = False,
) -> int:
    server: FakeBotAPI | None = None
    process: BaseProcess | None = None
    conn: Connection | None = None
    if same_process:
        server = FakeBotAPI()
        await server.start()
        token, base_url = server.token, server.base_url
    else:
        # The fake server and the simulated officers get their own interpreter, so the figures
        # are of the bot's event loop alone and not of the harness competing with it.
        context = multiprocessing.get_context("spawn")
        conn, child = context.Pipe()
        process = context.Process(target=_server_process, args=(child, officers, rounds), daemon=True)
        process.start()
        token, base_url = await asyncio.to_thread(conn.recv)
    if postgres:
        database_url = await create_database(postgres, PG_DATABASE)
    else:
        database_url = f"sqlite+aiosqlite:///{_fresh_db(data_dir)}"
    settings = load_settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis,
        bot_token=token,
        telegram_api_base=base_url,
        questions_per_minute=1000,
        _env_file=None,
    )
    if redis:
        from redis.asyncio import Redis

        async with Redis.from_url(redis) as client:
            stale = [key async for key in client.scan_iter("frontline:fsm:*")]
            if stale:
                await client.delete(*stale)
    started = time.monotonic()
    if fake_kb:
        from tests.e2e.fakes import FakeKnowledgeBase

        kb: KnowledgeBaseLike = FakeKnowledgeBase()
    elif in_process:
        kb = await asyncio.to_thread(open_knowledge_base, settings)
    else:
        # as `frontline run` does (FRONTLINE_KNOWLEDGE_PROCESS, on by default)
        kb = await asyncio.to_thread(KnowledgeBaseProcess, settings)
    where_kb = "fake" if fake_kb else ("in the bot's process" if in_process else "in a process of its own")
    print(f"knowledge base ({where_kb}) opened in {time.monotonic() - started:.1f} s", flush=True)
    await upgrade_async(settings)
    engine = make_engine(settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    async with transaction(sessions) as session:
        await identity.add_unit(session=session, name="压测中队")
        for number in range(officers):
            officer = await identity.add_officer(
                session=session, badge=f"B{number:03d}", name=f"民警{number}", unit="压测中队"
            )
            officer.telegram_user_id = 10_000 + number
    app = None
    if bare:
        settle_heap()  # as the product's bot does after start-up
        dispatcher, polling = await _bare_bot(token, base_url, kb)
        print("bare aiogram bot: no middlewares, database, state or formatting", flush=True)
    else:
        app = create_app(settings, sessions=sessions, kb=kb, feedback=default_feedback())
        await app.prepare()
        polling = asyncio.create_task(app.run_polling(polling_timeout=10))
    cpu_before = time.process_time()
    kb_cpu_before = _process_cpu(kb.pid) if isinstance(kb, KnowledgeBaseProcess) else None
    try:
        if server is not None:
            latencies, lost = await drive(server, officers, rounds)
            server_cpu = None
        else:
            assert conn is not None
            conn.send("go")
            outcome = await asyncio.to_thread(conn.recv)
            if isinstance(outcome, Exception):
                raise outcome
            latencies, lost, server_cpu = outcome
        kb_cpu_after = _process_cpu(kb.pid) if isinstance(kb, KnowledgeBaseProcess) else None
    finally:
        if app is None:
            await dispatcher.stop_polling()
            await asyncio.gather(polling, return_exceptions=True)
        else:
            assert app.poller is not None
            app.poller.stop()
            await asyncio.gather(polling, return_exceptions=True)
            await app.close()
        await engine.dispose()
        if isinstance(kb, KnowledgeBaseProcess):
            kb.close()
        if server is not None:
            await server.stop()
        if conn is not None and process is not None:
            conn.send("stop")
            await asyncio.to_thread(process.join, 10)
    cpu_per_question = (time.process_time() - cpu_before) * 1000 / max(len(latencies) + 3, 1)
    kb_cpu_per_question = None
    if kb_cpu_before is not None and kb_cpu_after is not None:
        kb_cpu_per_question = (kb_cpu_after - kb_cpu_before) * 1000 / max(len(latencies) + 3, 1)
    p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
    where = "same process" if same_process else "separate process"
    print(
        f"officers={officers} rounds={rounds} questions={len(latencies)} lost={lost} (fake server: {where})"
    )
    print(f"bot process CPU per question (all threads, warm-up included): {cpu_per_question:.1f} ms")
    if kb_cpu_per_question is not None:
        print(f"knowledge base process CPU per question: {kb_cpu_per_question:.1f} ms")
    if server_cpu is not None:
        print(f"fake server and officers' process CPU per question: {server_cpu * 1000 / (len(latencies) + 3):.1f} ms")
    print(
        f"fetch->reply ms: p50={p50:.0f} p95={p95:.0f} max={max(latencies):.0f} mean={statistics.mean(latencies):.0f}"
    )
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--officers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/frontline-bench-bot"))
    parser.add_argument(
        "--fake-kb", action="store_true", help="an instant keyword KB: the bot's own overhead"
    )
    parser.add_argument(
        "--same-process",
        action="store_true",
        help="run the fake server and the officers in the bot's own event loop (the old set-up)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="run on PostgreSQL: a fresh database frontline_bench_bot is made on this URL's server",
    )
    parser.add_argument("--redis", metavar="URL", help="keep conversation state in this Redis (as deployed)")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="keep the knowledge base in the bot's process (FRONTLINE_KNOWLEDGE_PROCESS=false)",
    )
    parser.add_argument(
        "--bare",
        action="store_true",
        help="the floor: a bare aiogram bot (one handler, no database or middlewares) with the same KB",
    )
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    raise SystemExit(
        asyncio.run(
            main(
                arguments.officers,
                arguments.rounds,
                arguments.data_dir,
                arguments.fake_kb,
                arguments.same_process,
                arguments.postgres,
                arguments.redis,
                arguments.in_process,
                arguments.bare,
            )
        )
    )
