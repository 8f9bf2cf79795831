"""A risk tip to 10,000 enrolled officers on PostgreSQL against a fake Bot API with Telegram's limits.

Usage: .venv/bin/python bench/broadcast_send.py [--db postgresql+asyncpg://…] [--officers 10000]
           [--blocked 0.02] [--flood-share 0.002] [--acks-per-second 50] [--compare]

Three processes, as in production: this one plays Telegram (the fake Bot API: 30 messages/s
overall, 1/s per chat, 403 for the chats that blocked the bot, and a share of sends answered
429 with retry_after regardless of the rate); a worker delivers the outbox and runs the
broadcast loop (the sender's status message), as `frontline worker` does; a bot polls for
updates and records acknowledgements. The tip is written and released here, as
`frontline broadcasts send` does, and timed until every tip is accepted or refused with 403.

Figures: completion time against the 380 s target (the limits alone need 333 s for 10,000),
tips lost and duplicated, blocked recipients counted unreachable, the status message's edits
(count, closest two, most in any minute), and with --compare the same send again while
officers press 已阅 at --acks-per-second (default 50): the slowdown (target ≤ 5 %).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from fakebotapi import FakeBotAPI  # noqa: E402  # the e2e fake Bot API
from sqlalchemy import insert, select  # noqa: E402

import schema  # noqa: E402
from broadcasts import service  # noqa: E402
from broadcasts.figures import figures  # noqa: E402
from core import identity  # noqa: E402
from core.db import make_engine, make_sessionmaker, transaction, utcnow  # noqa: E402
from core.identity import Officer, OfficerRole, Unit  # noqa: E402
from core.settings import load_settings  # noqa: E402
from core.testing import create_database, drop_database  # noqa: E402

TOKEN = "434343:BENCH-broadcast"
SENDER_CHAT = 999
FIRST_CHAT = 2_000_000
TIP = "【风险提示】近期多地发生暴力袭警事件，盘查时务必两人以上，全程开启执法记录仪，注意自身安全。"
STATIONS, TEAMS = 20, 4


# --- the worker and the bot, each a process of its own ----------------------------------------------


async def worker_main() -> None:
    """Delivers the outbox and runs the broadcast loop, as `frontline worker` does (no reminder scan)."""
    from bot.messenger import TelegramMessenger, make_bot
    from bot.routers.broadcasts import TelegramUploader
    from broadcasts.loop import run_broadcast_loop
    from core.outbox import run_delivery_loop

    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    bot = make_bot(settings)
    await bot.get_me()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.gather(
            run_delivery_loop(
                sessions=sessions, messenger=TelegramMessenger(bot), settings=settings, stop=stop, worker_id="bench"
            ),
            run_broadcast_loop(sessions=sessions, settings=settings, stop=stop, uploader=TelegramUploader(bot)),
        )
    finally:
        await bot.session.close()
        await engine.dispose()


class _NoKnowledge:
    """The bot here only takes button presses; a question would be a bug in the benchmark."""

    def __getattr__(self, name: str) -> object:
        raise RuntimeError(f"the benchmark bot has no knowledge base ({name})")


async def bot_main() -> None:
    """Runs the Telegram bot (long polling, the real dispatcher) to take acknowledgements."""
    from bot.app import create_app
    from bot.services import default_feedback

    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    app = create_app(settings, sessions=make_sessionmaker(engine), kb=_NoKnowledge(), feedback=default_feedback())  # type: ignore[arg-type]  # never asked
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, app.poller.stop)  # type: ignore[union-attr]  # made by create_app
    try:
        await app.prepare()
        await app.run_polling(polling_timeout=5)
    finally:
        await app.close()
        await engine.dispose()


def _start(mode: str, url: str, api: FakeBotAPI) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        FRONTLINE_DATABASE_URL=url,
        FRONTLINE_BOT_TOKEN=api.token,
        FRONTLINE_TELEGRAM_API_BASE=api.base_url,
        FRONTLINE_QUIET_HOURS="00:00-00:00",
        FRONTLINE_SEND_RATE_PER_SECOND="30",
        FRONTLINE_LOG_LEVEL="WARNING",
        FRONTLINE_DATA_DIR=str(Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-broadcast-{mode}"),
    )
    return subprocess.Popen([sys.executable, __file__, f"--{mode}"], env=env, cwd=ROOT)


def _cpu_seconds(process: subprocess.Popen[bytes] | None) -> float:
    """Returns the CPU time (user + system) a running process has used so far (Linux /proc)."""
    if process is None or process.poll() is not None:
        return 0.0
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- seeding ---------------------------------------------------------------------------------------


async def seed(url: str, officers: int) -> None:
    """Creates every table, a bureau with 20 stations of 4 teams, the legal sender and `officers` enrolled officers."""
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(schema.load_models().create_all)
    sessions = make_sessionmaker(engine)
    async with transaction(sessions) as session:
        await identity.add_unit(session=session, name="县公安局")
        await identity.add_unit(session=session, name="法制大队")
        leaves: list[str] = []
        for s in range(STATIONS):
            station = f"第{s + 1}派出所"
            await identity.add_unit(session=session, name=station, parent="县公安局")
            leaves.append(station)
            for t in range(TEAMS):
                team = f"{station}{t + 1}组"
                await identity.add_unit(session=session, name=team, parent=station)
                leaves.append(team)
        sender = await identity.add_officer(
            session=session, badge="L0001", name="法制员", unit="法制大队", roles=("officer", "legal")
        )
        sender.telegram_user_id = SENDER_CHAT
        ids = {u.name: u.id for u in (await session.scalars(select(Unit))).all()}
        now = utcnow()
        rows = [
            {
                "badge": f"P{n:05d}",
                "name": f"民警{n}",
                "unit_id": ids[leaves[n % len(leaves)]],
                "active": True,
                "language": "zh" if n % 10 else "en",
                "telegram_user_id": FIRST_CHAT + n,
                "reachable": True,
                "enrolled_at": now,
                "created_at": now,
            }
            for n in range(officers)
        ]
        table = Officer.__table__
        new_ids = (await session.execute(insert(table).returning(table.c.id), rows)).scalars().all()
        await session.execute(insert(OfficerRole.__table__), [{"officer_id": i, "role": "officer"} for i in new_ids])
    await engine.dispose()


# --- one run ---------------------------------------------------------------------------------------


@dataclass
class Result:
    acks_per_second: float
    enqueue_seconds: float
    completion_seconds: float
    delivered: int
    refused_403: int
    lost: int
    duplicated: int
    unreachable_counted: int
    figures: dict[str, int]
    edits: int
    closest_edits: float
    most_edits_in_a_minute: int
    flood_429: int
    limiter_429: int
    presses: int
    first_acks: int
    apologies: int
    answered_during_send: int
    answered: int
    answer_median: float
    answer_p95: float
    worker_cpu: float
    bot_cpu: float
    own_cpu: float


def _chat(params: dict[str, object]) -> int:
    chat = params.get("chat_id")
    return chat if isinstance(chat, int) else 0


def _tips_by_chat(api: FakeBotAPI, chats: range) -> dict[int, int]:
    return {chat: sum(1 for m in api.messages_to(chat) if m.text.startswith("📢")) for chat in chats}


async def run_once(
    base_url: str, officers: int, blocked_share: float, flood_share: float, acks_per_second: float, seed_value: int
) -> Result:
    name = f"frontline_bench_bc_{uuid.uuid4().hex[:8]}"
    url = await create_database(base_url, name)
    api = FakeBotAPI(
        token=TOKEN, rate_per_second=30, per_chat_per_second=1, flood_share=flood_share, seed=seed_value
    )
    worker = bot = None
    try:
        await seed(url, officers)
        await api.start()
        chats = range(FIRST_CHAT, FIRST_CHAT + officers)
        rng = random.Random(seed_value)
        api.blocked.update(rng.sample(list(chats), round(officers * blocked_share)))
        worker, bot = _start("worker", url, api), _start("bot", url, api)
        deadline = time.monotonic() + 120
        while not (api.calls_to("getMe") and api.calls_to("getUpdates")):
            if time.monotonic() > deadline:
                raise RuntimeError("the worker or the bot did not start")
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)  # both past start-up

        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        settings = load_settings(database_url=url, quiet_hours="00:00-00:00", _env_file=None)
        cpu_before = (_cpu_seconds(worker), _cpu_seconds(bot), time.process_time())
        started = time.monotonic()
        async with transaction(sessions) as session:
            sender = await identity.get_officer(session=session, badge="L0001")
            assert sender is not None
            broadcast = await service.create(
                session=session, sender=sender, text=TIP, audience="unit:县公安局", settings=settings
            )
        enqueue_seconds = time.monotonic() - started
        broadcast_id = broadcast.id

        presses = 0
        acked: set[int] = set()
        # update id -> when pressed; the fake names the callback query after the update (cb{id - 1})
        pressed: dict[int, float] = {}
        done = asyncio.Event()

        async def acknowledge() -> None:
            """Presses 已阅 at the given rate: officers who got the tip, each once, then again when all have."""
            nonlocal presses
            if acks_per_second <= 0:
                return
            interval = 1.0 / acks_per_second
            next_at = time.monotonic()
            delivered: list[tuple[int, int]] = []
            waiting: list[tuple[int, int]] = []
            scanned = 0
            while not done.is_set():
                calls = api.calls
                for call in calls[scanned:]:
                    chat = call.params.get("chat_id")
                    if (
                        call.method.lower() == "sendmessage"
                        and call.status == 200
                        and isinstance(chat, int)
                        and chat >= FIRST_CHAT
                        and str(call.params.get("text", "")).startswith("📢")
                    ):
                        message = api.messages_to(chat)[0]
                        delivered.append((chat, message.message_id))
                        waiting.append((chat, message.message_id))
                scanned = len(calls)
                if waiting:
                    chat, message_id = waiting.pop(rng.randrange(len(waiting)))
                    acked.add(chat)
                elif delivered:
                    chat, message_id = rng.choice(delivered)  # a second press: answered, nothing written
                else:
                    chat = 0
                if chat:
                    pressed[api.press(chat, message_id, f"bca:{broadcast_id}")] = time.monotonic()
                    presses += 1
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        pressing = asyncio.create_task(acknowledge())
        target = officers
        refused: set[int] = set()
        while True:
            accepted = sum(
                1 for c in api.calls
                if c.method.lower() == "sendmessage" and c.status == 200 and _chat(c.params) >= FIRST_CHAT
                and str(c.params.get("text", "")).startswith("📢")
            )
            refused = {_chat(c.params) for c in api.calls if c.status == 403 and _chat(c.params) >= FIRST_CHAT}
            if accepted + len(refused) >= target:
                break
            if time.monotonic() - started > 1200:
                break
            await asyncio.sleep(0.25)
        completion = time.monotonic() - started
        cpu = (
            _cpu_seconds(worker) - cpu_before[0],
            _cpu_seconds(bot) - cpu_before[1],
            time.process_time() - cpu_before[2],
        )
        done.set()
        await pressing
        answered_in_time = len(api.calls_to("answerCallbackQuery"))
        await asyncio.sleep(15)  # let the bot take the last presses and the loop edit the status once more
        answered = {str(c.params.get("callback_query_id")): c.at for c in api.calls_to("answerCallbackQuery")}
        waits = sorted(answered[f"cb{update - 1}"] - at for update, at in pressed.items() if f"cb{update - 1}" in answered)  # let the bot take the last presses and the loop edit the status once more

        tips = _tips_by_chat(api, chats)
        lost = sum(1 for chat, n in tips.items() if n == 0 and chat not in api.blocked)
        duplicated = sum(n - 1 for n in tips.values() if n > 1)
        async with transaction(sessions) as session:
            counted = (await figures(session=session, broadcast_id=broadcast_id)).as_json()
        await engine.dispose()
        edits = sorted(
            c.at for c in api.calls
            if c.method.lower() == "editmessagetext" and c.status == 200 and c.params.get("chat_id") == SENDER_CHAT
        )
        gaps = [b - a for a, b in itertools.pairwise(edits)]
        per_minute = max((sum(1 for t in edits if a <= t < a + 60) for a in edits), default=0)
        return Result(
            acks_per_second=acks_per_second,
            enqueue_seconds=enqueue_seconds,
            completion_seconds=completion,
            delivered=sum(1 for n in tips.values() if n),
            refused_403=len(refused),
            lost=lost,
            duplicated=duplicated,
            unreachable_counted=counted["unreachable"],
            figures=counted,
            edits=len(edits),
            closest_edits=min(gaps, default=0.0),
            most_edits_in_a_minute=per_minute,
            flood_429=api.injected_429,
            limiter_429=api.rejected_429,
            presses=presses,
            first_acks=len(acked),
            answered_during_send=answered_in_time,
            answered=len(waits),
            answer_median=waits[len(waits) // 2] if waits else 0.0,
            answer_p95=waits[int(len(waits) * 0.95)] if waits else 0.0,
            apologies=sum(
                1 for chat in chats for m in api.messages_to(chat) if not m.text.startswith("📢")
            ),
            worker_cpu=cpu[0],
            bot_cpu=cpu[1],
            own_cpu=cpu[2],
        )
    finally:
        for process in (worker, bot):
            if process is not None:
                _stop(process)
        await api.stop()
        await drop_database(base_url, name)


def report(result: Result, officers: int, blocked: int) -> None:
    ceiling = officers / 30
    print(f"--- acknowledgements pressed at {result.acks_per_second:g}/s ---")
    print(f"write + release ({officers:,} recipients and outbox rows): {result.enqueue_seconds:.1f} s")
    print(
        f"completion: {result.completion_seconds:.1f} s (target ≤ 380 s; the 30/s limit alone needs {ceiling:.0f} s)"
    )
    print(f"delivered {result.delivered}, refused 403 {result.refused_403} (blocked {blocked})")
    print(f"lost {result.lost}, duplicated {result.duplicated}")
    print(f"unreachable counted {result.unreachable_counted} (every blocked recipient: {result.unreachable_counted == blocked})")
    print(f"figures: {result.figures}")
    print(
        f"status message: {result.edits} edits, closest two {result.closest_edits:.1f} s apart, "
        f"at most {result.most_edits_in_a_minute} in a minute"
    )
    print(f"429 answers: {result.flood_429} injected, {result.limiter_429} from the rate limiter")
    if result.acks_per_second:
        print(
            f"presses {result.presses} ({result.first_acks} first acknowledgements), "
            f"acknowledged counted {result.figures['acknowledged']}, other messages to officers {result.apologies}"
        )
        print(
            f"presses answered: {result.answered_during_send} while sending, {result.answered} in all; "
            f"press to answer median {result.answer_median:.2f} s, p95 {result.answer_p95:.2f} s"
        )
    print(
        f"CPU during the send: worker {result.worker_cpu:.0f} s, bot {result.bot_cpu:.0f} s, "
        f"fake Bot API and this script {result.own_cpu:.0f} s"
    )


async def main(args: argparse.Namespace) -> None:
    blocked = round(args.officers * args.blocked)
    rates = [0.0, args.acks_per_second] if args.compare else [args.acks_per_second]
    results = []
    for rate in rates:
        result = await run_once(args.db, args.officers, args.blocked, args.flood_share, rate, args.seed)
        report(result, args.officers, blocked)
        results.append(result)
    if len(results) == 2:
        slowdown = results[1].completion_seconds / results[0].completion_seconds - 1
        print(f"slowdown with acknowledgements at {args.acks_per_second:g}/s: {100 * slowdown:+.1f} % (target ≤ 5 %)")


if __name__ == "__main__":
    if "--worker" in sys.argv or "--bot" in sys.argv:
        # 200 blocked officers are 200 expected warnings; errors still show.
        logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if "--worker" in sys.argv:
        asyncio.run(worker_main())
        sys.exit(0)
    if "--bot" in sys.argv:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(bot_main())
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--db",
        default=os.environ.get("FRONTLINE_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL URL; a throw-away database is made on its server",
    )
    parser.add_argument("--officers", type=int, default=10_000)
    parser.add_argument("--blocked", type=float, default=0.02, help="share of recipients who blocked the bot")
    parser.add_argument("--flood-share", type=float, default=0.002, help="share of sends answered 429 regardless")
    parser.add_argument("--acks-per-second", type=float, default=50)
    parser.add_argument("--compare", action="store_true", help="run without acknowledgements first, then with")
    parser.add_argument("--seed", type=int, default=7)
    asyncio.run(main(parser.parse_args()))
