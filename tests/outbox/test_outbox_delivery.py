"""The delivery loop: pacing, 429s, unreachable officers, retries, quiet hours, held rows."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from outbox_helpers import FakeMessenger, push
from sqlalchemy import select

from core import outbox
from core.db import transaction, utcnow
from core.identity import Officer
from core.outbox import (
    DeliveryOptions,
    OutboxMessage,
    Pacer,
    PermanentSendError,
    RetryAfter,
    TransientSendError,
    Unreachable,
    deliver_once,
    quiet_until,
)
from core.settings import Settings

FAST = DeliveryOptions(per_chat_interval=0.05, backoff_base_seconds=0.0)


async def deliver(db, messenger, settings, options: DeliveryOptions = FAST, pacer: Pacer | None = None):
    return await deliver_once(
        sessions=db, messenger=messenger, settings=settings, options=options, pacer=pacer
    )


class TestSending:
    async def test_sends_a_due_row_and_records_the_message_id(
        self, db, add_officer, messenger, outbox_settings, rows
    ):
        """The message reaches the officer's chat with its buttons; the row records id and time."""
        officer = await add_officer("1001", chat=555)
        buttons = [[{"text": "查看", "callback_data": "case:9"}]]
        row = await push(db, officer, "k", text="案件即将到期", buttons=buttons)
        report = await deliver(db, messenger, outbox_settings)
        assert report.sent == 1
        assert [(chat, text) for chat, text, _t in messenger.sent] == [(555, "案件即将到期")]
        assert messenger.buttons == [buttons]
        stored = await rows.get(row.id)
        assert stored.status == "sent"
        assert stored.telegram_message_id == 1001
        assert stored.sent_at is not None
        assert stored.lease_owner is None

    async def test_a_sent_row_is_never_sent_again(self, db, add_officer, messenger, outbox_settings):
        """Running the loop again finds nothing to do."""
        officer = await add_officer("1001", chat=555)
        await push(db, officer, "k")
        await deliver(db, messenger, outbox_settings)
        again = await deliver(db, messenger, outbox_settings)
        assert again.claimed == 0
        assert len(messenger.sent) == 1

    async def test_the_loop_delivers_everything_and_stops_when_asked(
        self, db, add_officer, outbox_settings, rows
    ):
        """run_delivery_loop keeps claiming batches until the queue is empty and stop is set."""
        officers = [await add_officer(f"2{i:03d}", chat=9000 + i) for i in range(20)]
        for i in range(60):
            await push(db, officers[i % 20], f"k{i}")
        messenger = FakeMessenger(latency=0.005)
        stop = asyncio.Event()

        async def stop_when_done() -> None:
            while len(messenger.sent) < 60:  # noqa: ASYNC110  # polls the double's record; no event to wait on
                await asyncio.sleep(0.02)
            stop.set()

        stopper = asyncio.create_task(stop_when_done())
        report = await asyncio.wait_for(
            outbox.run_delivery_loop(
                sessions=db,
                messenger=messenger,
                settings=outbox_settings,
                stop=stop,
                worker_id="t",
                options=DeliveryOptions(batch_size=16, per_chat_interval=0.05, idle_seconds=0.05),
                pacer=Pacer(500, per_chat_interval=0.05),
            ),
            timeout=20,
        )
        await stopper
        assert report.sent == 60
        assert sorted(messenger.texts.values()) == [1] * 60
        assert {r.status for r in await rows.all()} == {"sent"}


class TestPacing:
    async def test_keeps_one_second_between_messages_to_the_same_chat(
        self, db, add_officer, messenger, outbox_settings
    ):
        """Telegram allows about one message per second per chat; the pacer keeps the gap."""
        officer = await add_officer("1001", chat=1)
        for i in range(3):
            await push(db, officer, f"k{i}")
        options = DeliveryOptions(per_chat_interval=0.25)
        await deliver(db, messenger, outbox_settings, options, Pacer(100, per_chat_interval=0.25))
        times = messenger.times_for(1)
        assert len(times) == 3
        assert all(later - earlier >= 0.24 for earlier, later in itertools.pairwise(times))

    async def test_keeps_the_global_rate(self, db, add_officer, messenger, outbox_settings):
        """Twenty messages to twenty chats at 40/s take at least 19/40 s."""
        for i in range(20):
            officer = await add_officer(f"3{i:03d}", chat=100 + i)
            await push(db, officer, f"k{i}")
        await deliver(db, messenger, outbox_settings, FAST, Pacer(40, per_chat_interval=0.05))
        starts = sorted(t for _c, _x, t in messenger.sent)
        assert len(starts) == 20
        assert starts[-1] - starts[0] >= 19 / 40 - 0.03

    async def test_gives_back_rows_whose_chat_is_busy_spread_one_interval_apart(
        self, db, add_officer, messenger, outbox_settings, rows
    ):
        """Rather than stall the batch on one chat, extra rows go back with staggered not-before times."""
        officer = await add_officer("1001", chat=1)
        for i in range(3):
            await push(db, officer, f"k{i}")
        options = DeliveryOptions(per_chat_interval=1.0, max_pacing_wait=0.1)
        before = utcnow()
        report = await deliver(db, messenger, outbox_settings, options, Pacer(100, per_chat_interval=1.0))
        assert report.sent == 1
        assert report.released == 2
        waiting = sorted(r.not_before for r in await rows.all() if r.status == "pending")
        assert len(waiting) == 2
        assert waiting[0] >= before + timedelta(seconds=0.9)
        assert waiting[1] - waiting[0] >= timedelta(seconds=0.99)


class TestFloodControl:
    async def test_waits_out_a_429_and_then_sends(self, db, add_officer, messenger, outbox_settings, rows):
        """On 'retry after N' the worker pauses N seconds, slows down, and the message still goes out once."""
        officer = await add_officer("1001", chat=7)
        row = await push(db, officer, "k")
        messenger.fail(7, RetryAfter(0.3))
        pacer = Pacer(30, per_chat_interval=0.05)
        report = await deliver(db, messenger, outbox_settings, FAST, pacer)
        assert report.sent == 1
        assert len(messenger.calls) == 2
        assert messenger.calls[1][2] - messenger.calls[0][2] >= 0.29
        assert pacer.factor < 1.0
        stored = await rows.get(row.id)
        assert (stored.status, stored.attempts) == ("sent", 1)

    async def test_a_long_retry_after_gives_the_row_back_for_later(
        self, db, add_officer, messenger, outbox_settings, rows
    ):
        """A wait longer than the worker should sit on a lease puts the row back, due when Telegram allows."""
        officer = await add_officer("1001", chat=7)
        row = await push(db, officer, "k")
        messenger.fail(7, RetryAfter(120))
        before = utcnow()
        report = await deliver(db, messenger, outbox_settings)
        assert report.sent == 0
        stored = await rows.get(row.id)
        assert stored.status == "pending"
        assert stored.attempts == 0
        assert stored.not_before >= before + timedelta(seconds=119)


class TestFailures:
    async def test_a_blocked_bot_marks_the_officer_unreachable_and_tells_the_supervisor(
        self, db, add_officer, messenger, outbox_settings, rows
    ):
        """403: the row dies with the reason, the officer is flagged, and their supervisor gets a notice."""
        supervisor = await add_officer("9000", chat=900, roles=("supervisor",), language="zh")
        officer = await add_officer("1001", chat=7)
        row = await push(db, officer, "k")
        messenger.fail(7, Unreachable("Forbidden: bot was blocked by the user"))
        report = await deliver(db, messenger, outbox_settings)
        assert report.unreachable == 1
        stored = await rows.get(row.id)
        assert stored.status == "dead"
        assert "bot was blocked" in (stored.last_error or "")
        async with db() as session:
            flagged = await session.get(Officer, officer.id)
            assert flagged is not None and flagged.reachable is False
            notices = (
                await session.scalars(select(OutboxMessage).where(OutboxMessage.officer_id == supervisor.id))
            ).all()
        assert len(notices) == 1
        assert notices[0].kind == "notice"
        assert "警号 1001" in notices[0].payload["text"]  # in the supervisor's language (zh)
        assert "bot was blocked" in notices[0].payload["text"]
        assert "officer.unreachable" in await rows.audit_actions()
        # The notice itself goes out on the next round.
        await deliver(db, messenger, outbox_settings)
        assert [chat for chat, _t, _s in messenger.sent] == [900]

    async def test_later_rows_for_an_unreachable_officer_are_held(
        self, db, add_officer, messenger, outbox_settings, rows
    ):
        """Once flagged unreachable, an officer's other pushes wait instead of hitting Telegram."""
        officer = await add_officer("1001", chat=7)
        await push(db, officer, "a")
        messenger.fail(7, Unreachable("Forbidden: bot was blocked by the user"))
        await deliver(db, messenger, outbox_settings)
        later = await push(db, officer, "b")
        await deliver(db, messenger, outbox_settings)
        assert len(messenger.calls) == 1
        assert (await rows.get(later.id)).status == "held"

    async def test_transient_errors_back_off_exponentially(
        self, db, add_officer, messenger, outbox_settings, rows
    ):
        """A network error puts the row back with attempts counted and a growing wait."""
        officer = await add_officer("1001", chat=7)
        row = await push(db, officer, "k")
        messenger.fail(7, TransientSendError("Bad Gateway"))
        options = DeliveryOptions(per_chat_interval=0.05, backoff_base_seconds=15, backoff_cap_seconds=1800)
        before = utcnow()
        await deliver(db, messenger, outbox_settings, options)
        stored = await rows.get(row.id)
        assert (stored.status, stored.attempts, stored.last_error) == ("pending", 1, "Bad Gateway")
        assert before + timedelta(seconds=13) <= stored.not_before <= utcnow() + timedelta(seconds=17)
        waits = [outbox.backoff_seconds(n, options) for n in (1, 2, 3, 4, 12)]
        assert 13 <= waits[0] <= 17
        assert 27 <= waits[1] <= 33
        assert 54 <= waits[2] <= 66
        assert 108 <= waits[3] <= 132
        assert waits[4] <= 1800 * 1.1

    async def test_a_row_dies_after_the_last_attempt(self, db, add_officer, messenger, outbox_settings, rows):
        """After max_attempts transient failures the row is dead, audited, and sent no more."""
        officer = await add_officer("1001", chat=7)
        row = await push(db, officer, "k")
        messenger.fail(7, *[TransientSendError("timeout")] * 3)
        options = DeliveryOptions(per_chat_interval=0.0, backoff_base_seconds=0.0, max_attempts=3)
        for _ in range(4):
            await deliver(db, messenger, outbox_settings, options)
        stored = await rows.get(row.id)
        assert (stored.status, stored.attempts) == ("dead", 3)
        assert len(messenger.calls) == 3
        assert "outbox.dead" in await rows.audit_actions()

    async def test_a_permanent_error_kills_the_row_at_once(
        self, db, add_officer, messenger, outbox_settings, rows
    ):
        """Bad HTML will never parse: no retries, the reason is kept for the admin."""
        officer = await add_officer("1001", chat=7)
        row = await push(db, officer, "k")
        messenger.fail(7, PermanentSendError("Bad Request: can't parse entities"))
        await deliver(db, messenger, outbox_settings)
        stored = await rows.get(row.id)
        assert (stored.status, stored.last_error) == ("dead", "Bad Request: can't parse entities")
        async with db() as session:
            dead = await outbox.list_dead(session=session)
        assert [d.id for d in dead] == [row.id]

    async def test_a_send_that_hangs_times_out_and_is_retried(self, db, add_officer, outbox_settings, rows):
        """A send with no answer is cut off well inside the lease and counted as a transient failure."""
        officer = await add_officer("1001", chat=7)
        row = await push(db, officer, "k")
        slow = FakeMessenger(latency=5)
        options = DeliveryOptions(
            per_chat_interval=0.0, backoff_base_seconds=0.0, send_timeout=0.2, lease_seconds=30
        )
        await deliver(db, slow, outbox_settings, options)
        stored = await rows.get(row.id)
        assert (stored.status, stored.attempts) == ("pending", 1)
        assert "no answer" in (stored.last_error or "")


class TestHeld:
    async def test_holds_rows_for_an_officer_who_has_not_enrolled(
        self, db, add_officer, messenger, outbox_settings, rows
    ):
        """No Telegram account yet: the row is held with the reason, not dropped, and sent after enrollment."""
        officer = await add_officer("1001", chat=None)
        row = await push(db, officer, "k")
        report = await deliver(db, messenger, outbox_settings)
        assert report.held == 1
        assert messenger.calls == []
        stored = await rows.get(row.id)
        assert stored.status == "held"
        assert "not enrolled" in (stored.last_error or "")
        async with transaction(db) as session:
            enrolled = await session.get(Officer, officer.id)
            assert enrolled is not None
            enrolled.telegram_user_id = 4242
        async with transaction(db) as session:
            assert await outbox.release_held(session=session) == 1
        await deliver(db, messenger, outbox_settings)
        assert [chat for chat, _t, _s in messenger.sent] == [4242]

    async def test_holds_rows_for_a_deactivated_officer(
        self, db, add_officer, messenger, outbox_settings, rows
    ):
        """A deactivated officer gets nothing, and the sweep does not release their rows."""
        officer = await add_officer("1001", chat=7, active=False)
        row = await push(db, officer, "k")
        await deliver(db, messenger, outbox_settings)
        async with transaction(db) as session:
            assert await outbox.release_held(session=session) == 0
        assert (await rows.get(row.id)).status == "held"
        assert messenger.calls == []


# 23:30 in Shanghai (UTC+8) is 15:30 UTC; 10:00 in Shanghai is 02:00 UTC.
LATE_EVENING = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
MORNING = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture
def night_settings(outbox_settings: Settings) -> Settings:
    """The product default: quiet from 22:00 to 07:00 in Asia/Shanghai."""
    return outbox_settings.model_copy(update={"quiet_hours": "22:00-07:00"})


class TestQuietHours:
    async def test_defers_ordinary_pushes_to_the_end_of_the_night(
        self, db, add_officer, messenger, night_settings, rows
    ):
        """At 23:30 a routine reminder waits until 07:00 local time."""
        officer = await add_officer("1001", chat=7)
        with time_machine.travel(LATE_EVENING, tick=True):
            row = await push(db, officer, "k")
            report = await deliver(db, messenger, night_settings)
        assert report.deferred == 1
        assert messenger.calls == []
        stored = await rows.get(row.id)
        assert stored.status == "pending"
        assert stored.not_before == datetime(2026, 11, 20, 23, 0, tzinfo=UTC)  # 07:00 on the 21st in Shanghai

    async def test_urgent_pushes_go_through_at_night(self, db, add_officer, messenger, night_settings):
        """A deadline expiring tonight is urgent and is not held back."""
        officer = await add_officer("1001", chat=7)
        with time_machine.travel(LATE_EVENING, tick=True):
            await push(db, officer, "k", urgent=True)
            report = await deliver(db, messenger, night_settings)
        assert report.sent == 1

    async def test_sends_ordinary_pushes_in_the_daytime(self, db, add_officer, messenger, night_settings):
        """Outside the window nothing is deferred."""
        officer = await add_officer("1001", chat=7)
        with time_machine.travel(MORNING, tick=True):
            await push(db, officer, "k")
            report = await deliver(db, messenger, night_settings)
        assert report.sent == 1

    async def test_a_units_own_quiet_hours_win_over_the_default(
        self, db, add_officer, messenger, night_settings, rows
    ):
        """A night-shift team with quiet hours 08:00-16:00 gets pushes at 23:30 and none at 10:00."""
        officer = await add_officer("1001", chat=7, unit="夜班中队", quiet_hours="08:00-16:00")
        with time_machine.travel(LATE_EVENING, tick=True):
            await push(db, officer, "night")
            await deliver(db, messenger, night_settings)
        with time_machine.travel(MORNING, tick=True):
            day = await push(db, officer, "day")
            await deliver(db, messenger, night_settings)
        assert len(messenger.sent) == 1
        assert (await rows.get(day.id)).not_before == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # 16:00 local

    async def test_a_sub_unit_inherits_its_parents_quiet_hours(
        self, db, add_officer, messenger, night_settings
    ):
        """Quiet hours set on a brigade apply to the teams below it."""
        await add_officer("9000", chat=900, unit="刑侦大队", quiet_hours="00:00-00:00")
        officer = await add_officer("1001", chat=7, unit="刑侦一中队", parent="刑侦大队")
        with time_machine.travel(LATE_EVENING, tick=True):
            await push(db, officer, "k")
            report = await deliver(db, messenger, night_settings)
        assert report.sent == 1


class TestQuietWindow:
    @pytest.mark.parametrize(
        ("local", "window", "ends"),
        [
            ("2026-11-20 23:30", "22:00-07:00", "2026-11-21 07:00"),
            ("2026-11-21 03:00", "22:00-07:00", "2026-11-21 07:00"),
            ("2026-11-21 07:00", "22:00-07:00", None),
            ("2026-11-21 21:59", "22:00-07:00", None),
            ("2026-11-21 12:00", "12:00-14:00", "2026-11-21 14:00"),
            ("2026-11-21 14:00", "12:00-14:00", None),
            ("2026-11-21 03:00", "00:00-00:00", None),
        ],
    )
    def test_finds_the_end_of_the_window(self, local: str, window: str, ends: str | None) -> None:
        """Windows may cross midnight; equal ends switch quiet hours off."""
        settings = Settings(_env_file=None)  # type: ignore[call-arg]  # pydantic-settings accepts _env_file
        tz = settings.tz
        now = datetime.fromisoformat(local).replace(tzinfo=tz)
        got = quiet_until(now, window, tz)
        expected = None if ends is None else datetime.fromisoformat(ends).replace(tzinfo=tz)
        assert got == expected

    def test_refuses_a_malformed_window(self) -> None:
        """A typo in a unit's quiet hours is reported, not silently read as 'never quiet'."""
        with pytest.raises(ValueError, match="22:00-07:00"):
            outbox.parse_window("10pm-7am")


class TestLeases:
    async def test_a_worker_that_lost_its_lease_changes_nothing(self, db, add_officer, outbox_settings, rows):
        """If another worker took the row over meanwhile, the first one's late result is dropped."""
        officer = await add_officer("1001", chat=7)
        row = await push(db, officer, "k")

        class TakenOverMidSend(FakeMessenger):
            async def send(self, **kwargs):  # type: ignore[no-untyped-def]  # same signature as the parent
                async with transaction(db) as session:
                    taken = await outbox.claim_due(
                        session=session,
                        lease_owner="other/1",
                        limit=5,
                        lease_seconds=60,
                        now=utcnow() + timedelta(minutes=5),
                    )
                assert [c.id for c in taken] == [row.id]
                return await super().send(**kwargs)

        report = await deliver(db, TakenOverMidSend(), outbox_settings)
        assert report.sent == 0
        assert report.lost_leases == 1
        stored = await rows.get(row.id)
        assert (stored.status, stored.lease_owner) == ("sending", "other/1")


class TestSharedConnection:
    async def test_delivers_on_an_in_memory_database_one_send_at_a_time(
        self, sessions, session, make_officer, outbox_settings
    ):
        """On the shared in-memory test database (one connection) delivery still works, serially."""
        officers = [await make_officer(badge=f"70{i}", telegram_user_id=700 + i) for i in range(3)]
        for i, officer in enumerate(officers * 2):
            await outbox.enqueue(
                session=session, officer_id=officer.id, text=f"m{i}", kind="r", dedupe_key=f"k{i}"
            )
        await session.commit()
        messenger = FakeMessenger(latency=0.01)
        report = await deliver_once(
            sessions=sessions,
            messenger=messenger,
            settings=outbox_settings,
            options=DeliveryOptions(per_chat_interval=0.02),
            pacer=Pacer(500, per_chat_interval=0.02),
        )
        assert report.sent == 6
        assert sorted(messenger.texts) == [f"m{i}" for i in range(6)]
        async with sessions() as check:
            assert await outbox.status_counts(session=check) == {("sent", "r"): 6}


class TestPacerSchedule:
    def test_keeps_the_rate_with_at_most_one_message_of_catch_up(self) -> None:
        """Sending as fast as allowed, late wake-ups included, gives the rate and never rate + 2 in a second."""
        pacer = Pacer(10, per_chat_interval=0.0)
        now, sent = 100.0, []
        while now < 110.0:
            wait = pacer.delay(len(sent), now=now)
            now += wait + (0.03 if len(sent) % 7 == 0 else 0.0)  # some wake-ups come 30 ms late
            pacer.take(len(sent), now=now)
            sent.append(now)
        per_second = [
            sum(1 for t in sent if start <= t < start + 1) for start in (100 + k / 10 for k in range(90))
        ]
        assert max(per_second) <= 11
        assert len(sent) >= 99  # ten seconds at 10/s: the late wake-ups cost nothing

    def test_a_429_pauses_everything_and_slows_the_pace(self) -> None:
        """Telegram's retry_after holds back every chat, and the rate drops until successes restore it."""
        pacer = Pacer(30, per_chat_interval=1.0)
        pacer.retry_after(5, seconds=2)
        assert pacer.delay(6) > 1.9
        assert pacer.rate * pacer.factor < 30
        for _ in range(100):
            pacer.succeeded()
        assert pacer.factor == 1.0


class TestLoopSweep:
    async def test_the_loop_sends_held_rows_once_the_officer_enrolls(
        self, db, add_officer, outbox_settings, rows
    ):
        """While the worker runs, a held row goes out soon after its officer binds Telegram."""
        officer = await add_officer("1001", chat=None)
        row = await push(db, officer, "k")
        messenger = FakeMessenger()
        stop = asyncio.Event()
        loop = asyncio.create_task(
            outbox.run_delivery_loop(
                sessions=db,
                messenger=messenger,
                settings=outbox_settings,
                stop=stop,
                worker_id="sweep",
                options=DeliveryOptions(idle_seconds=0.02, held_sweep_seconds=0.05),
            )
        )
        for _ in range(100):
            if (await rows.get(row.id)).status == "held":
                break
            await asyncio.sleep(0.02)
        assert (await rows.get(row.id)).status == "held"
        async with transaction(db) as session:
            enrolled = await session.get(Officer, officer.id)
            assert enrolled is not None
            enrolled.telegram_user_id = 31337
        for _ in range(100):
            if messenger.sent:
                break
            await asyncio.sleep(0.02)
        stop.set()
        report = await asyncio.wait_for(loop, timeout=10)
        assert [chat for chat, _t, _s in messenger.sent] == [31337]
        assert report.unheld == 1
        assert (await rows.get(row.id)).status == "sent"
