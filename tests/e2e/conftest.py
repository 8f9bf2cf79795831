"""End-to-end harness: the real bot (Dispatcher, Bot, AiohttpSession over HTTP) polling a fake Bot API.

How to use it (for example in ``tests/e2e/test_reminders_e2e.py``)::

    async def test_something(harness: Harness) -> None:
        officer = await harness.add_officer("2001", roles=("officer",))   # committed to the db
        alice = await harness.enroll(555, "2001")     # issues a code, the account sends it
        reply = await alice.say("取保候审最长多久？")      # first message the chat gets back
        assert "第七十九条" in reply.text
        await alice.press(reply, "👍")                 # press an inline button by (part of) its text
        alice.messages                                # everything the chat received, edits applied
        async with harness.session() as session: ...  # read or change the database directly
        await harness.restart()                       # stop polling, rebuild the app on the same db

``make_harness(**settings_overrides)`` builds one with other settings (for example
``questions_per_minute=3``); ``harness.server`` is the :class:`FakeBotAPI`. The knowledge base
is :class:`FakeKnowledgeBase` (keyword answers over four articles), the referral queue is
``knowledge.feedback`` on the test database. Pushes to other officers go through the outbox
delivery loop, which the harness runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import knowledge.feedback as feedback_module
import schema
from bot.app import Frontline, create_app
from bot.messenger import TelegramMessenger
from core import identity
from core.db import make_engine, make_sessionmaker
from core.identity import Officer
from core.outbox import run_delivery_loop
from core.settings import Settings, load_settings
from tests.e2e.fakes import FakeKnowledgeBase
from tests.fakebotapi import FakeBotAPI, SentMessage


def _awake_window(settings: Settings) -> str:
    """A quiet-hours window that does not include the next hour, so pushes go out during tests."""
    now = datetime.now(settings.tz)
    start = now + timedelta(hours=3)
    end = now + timedelta(hours=4)
    return f"{start:%H:%M}-{end:%H:%M}"


@dataclass
class SimUser:
    """A Telegram account talking to the bot through the fake server."""

    harness: Harness
    user_id: int

    @property
    def messages(self) -> list[SentMessage]:
        """Everything this chat received, oldest first."""
        return self.harness.server.messages_to(self.user_id)

    def mark(self) -> int:
        """Returns how many messages the chat has, to wait for newer ones."""
        return len(self.messages)

    async def say(self, text: str, *, wait: float = 5.0) -> SentMessage:
        """Sends text and returns the first message the chat receives after it (waiting `wait` s)."""
        since = self.mark()
        self.harness.server.send_text(self.user_id, text)
        return await self.harness.server.wait_for(self.user_id, timeout=wait, since=since)

    def send(self, text: str) -> int:
        """Sends text without waiting; returns the update id."""
        return self.harness.server.send_text(self.user_id, text)

    async def press(self, message: SentMessage, button_text: str) -> int:
        """Presses the inline button whose text contains `button_text`; returns the update id."""
        button = message.button(button_text)
        assert button.callback_data is not None
        return self.harness.server.press(self.user_id, message.message_id, button.callback_data)

    async def press_for_answer(self, message: SentMessage, button_text: str, *, wait: float = 10.0) -> str:
        """Presses a button and returns the text of the callback answer it gets (waiting `wait` s)."""
        answers = self.harness.server.callback_answers
        before = len(answers)
        await self.press(message, button_text)
        for _ in range(int(wait / 0.05)):
            if len(answers) > before:
                return str(answers[before].get("text") or "")
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no answer to pressing {button_text!r} within {wait} s")

    async def wait_for(
        self, predicate: Callable[[SentMessage], bool], *, since: int = 0, wait: float = 5.0
    ) -> SentMessage:
        """Waits (up to `wait` s) for a message to this chat matching a predicate."""
        return await self.harness.server.wait_for(self.user_id, predicate, timeout=wait, since=since)


@dataclass
class Harness:
    """The running bot, its fake Bot API server and database."""

    server: FakeBotAPI
    settings: Settings
    db_url: str
    kb: FakeKnowledgeBase = field(default_factory=FakeKnowledgeBase)
    feedback: Any = field(default_factory=lambda: feedback_module)
    redis: Redis | None = None
    redis_prefix: str = "frontline-e2e"
    engine: AsyncEngine | None = None
    sessions: async_sessionmaker[AsyncSession] | None = None
    app: Frontline | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _stop_delivery: asyncio.Event | None = None
    _users: dict[int, SimUser] = field(default_factory=dict)

    async def open_db(self) -> None:
        """Opens the database (creating the tables the first time)."""
        self.engine = make_engine(self.db_url)
        async with self.engine.begin() as conn:
            await conn.run_sync(schema.load_models().create_all)
        self.sessions = make_sessionmaker(self.engine)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session that commits when the block ends."""
        assert self.sessions is not None
        async with self.sessions() as session, session.begin():
            yield session

    async def start(self) -> None:
        """Builds the application and starts polling and the outbox delivery loop."""
        if self.engine is None:
            await self.open_db()
        assert self.sessions is not None
        self.app = create_app(
            self.settings,
            sessions=self.sessions,
            kb=self.kb,
            feedback=self.feedback,
            redis=self.redis,
            redis_prefix=self.redis_prefix,
        )
        await self.app.prepare()
        self._stop_delivery = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self.app.run_polling(polling_timeout=5)),
            asyncio.create_task(
                run_delivery_loop(
                    sessions=self.sessions,
                    messenger=TelegramMessenger(self.app.bot),
                    settings=self.settings,
                    stop=self._stop_delivery,
                    worker_id=f"e2e-{uuid.uuid4().hex[:6]}",
                )
            ),
        ]

    async def stop(self, *, close_db: bool = False) -> None:
        """Stops polling after the updates in flight, and the outbox loop; raises what a loop raised."""
        if self.app is not None and self.app.poller is not None:
            self.app.poller.stop()
        if self._stop_delivery is not None:
            self._stop_delivery.set()
        failures: list[BaseException] = []
        try:
            if self._tasks:
                done, pending = await asyncio.wait(self._tasks, timeout=10)
                for task in pending:
                    task.cancel()
                    failures.append(TimeoutError(f"{task!r} did not stop within 10 s"))
                failures.extend(
                    task.exception() for task in done if not task.cancelled() and task.exception() is not None
                )
            self._tasks = []
            if self.app is not None:
                # The Redis client belongs to the harness; the app must not close it between restarts.
                self.app.redis = None
                await self.app.close()
                self.app = None
        finally:
            if close_db and self.engine is not None:
                await self.engine.dispose()
                self.engine = None
        if failures:
            raise failures[0]

    async def restart(self) -> None:
        """Stops everything, reopens the database with a new engine and starts a new application."""
        await self.stop(close_db=True)
        await self.start()

    async def add_officer(
        self,
        badge: str,
        *,
        name: str = "张三",
        roles: Iterable[str] = ("officer",),
        unit: str = "一中队",
        language: str = "zh",
        telegram_user_id: int | None = None,
    ) -> Officer:
        """Adds an officer (and the unit if new), committed."""
        async with self.session() as session:
            if await identity.get_unit(session=session, name=unit) is None:
                await identity.add_unit(session=session, name=unit)
            officer = await identity.add_officer(
                session=session, badge=badge, name=name, unit=unit, roles=roles, language=language
            )
            if telegram_user_id is not None:
                officer.telegram_user_id = telegram_user_id
            return officer

    async def issue_code(self, badge: str, *, hours: float = 72) -> str:
        """Issues an enrollment code for an officer."""
        async with self.session() as session:
            return await identity.issue_code(session=session, badge=badge, hours=hours)

    def user(self, user_id: int) -> SimUser:
        """Returns the simulated account with this Telegram id."""
        return self._users.setdefault(user_id, SimUser(self, user_id))

    async def enroll(self, user_id: int, badge: str) -> SimUser:
        """Enrolls an account as an officer the way a user does: by sending a fresh code."""
        code = await self.issue_code(badge)
        account = self.user(user_id)
        reply = await account.say(code)
        assert badge in reply.text, reply.text
        return account


MakeHarness = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotAPI]:
    """A started fake Bot API server."""
    server = FakeBotAPI()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def make_harness(
    settings: Settings, tmp_path: Path, fake_api: FakeBotAPI
) -> AsyncIterator[MakeHarness]:
    """Builds and starts harnesses with setting overrides; stops them at the end."""
    made: list[Harness] = []

    async def _make(*, redis: Redis | None = None, kb: Any = None, **overrides: Any) -> Harness:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "bot_token": fake_api.token,
            "telegram_api_base": fake_api.base_url,
            "quiet_hours": _awake_window(settings),
            "_env_file": None,
        }
        values.update(overrides)
        harness = Harness(
            server=fake_api,
            settings=load_settings(**values),
            db_url=f"sqlite+aiosqlite:///{tmp_path / f'e2e{len(made)}.db'}",
            redis=redis,
            redis_prefix=f"frontline-e2e-{uuid.uuid4().hex[:8]}",
        )
        if kb is not None:
            harness.kb = kb
        made.append(harness)
        await harness.start()
        return harness

    yield _make
    for harness in made:
        await harness.stop(close_db=True)


@pytest.fixture
async def harness(make_harness: MakeHarness) -> Harness:
    """A running bot with default settings."""
    return await make_harness()


@pytest.fixture(scope="session")
def real_kb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The bundled knowledge base on the bundled model, opened once per test session (~10 s)."""
    from knowledge.service import KnowledgeBase

    data_dir = tmp_path_factory.mktemp("real-kb")
    return KnowledgeBase.open(load_settings(data_dir=data_dir, _env_file=None))


@pytest.fixture
async def real_harness(make_harness: MakeHarness, real_kb: Any) -> Harness:
    """A running bot answering from the real bundled knowledge base (in process, shared by the session)."""
    return await make_harness(kb=real_kb)
