"""Desk test harness: the desk application on a SQLite file, driven over ASGI by httpx.

    async def test_something(desk: DeskHarness) -> None:
        legal = await desk.add_officer("3001", roles=("officer", "legal"))
        client = await desk.signed_in("3001")          # an httpx client holding the session cookie
        page = await client.get("/questions")
        await desk.post(client, "/questions/1/answer", {"answer": "…"})   # with the page's CSRF token

``desk.session()`` opens a committed session on the same database; ``desk.app`` is the FastAPI
application; ``desk.settings`` its settings.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import schema
from core import identity, signin
from core.db import make_engine, make_sessionmaker
from core.identity import Officer
from core.settings import Settings, load_settings
from desk.app import create_app

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
BOT_USERNAME = "frontline_test_bot"


async def _fixed_username() -> str:
    return BOT_USERNAME


def csrf_of(html: str) -> str:
    """Finds the CSRF token of the first form on a page."""
    match = CSRF_RE.search(html)
    assert match is not None, "no form with a CSRF token on the page"
    return match.group(1)


@dataclass
class DeskHarness:
    """The desk application, its database and helpers to sign officers in."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    app: FastAPI
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session that commits when the block ends."""
        async with self.sessions() as session, session.begin():
            yield session

    def client(self) -> httpx.AsyncClient:
        """A browser without a session."""
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=("127.0.0.1", 50000)),
            base_url=self.settings.desk_public_url,
            headers={"accept": "text/html"},
        )
        self.clients.append(client)
        return client

    async def add_officer(
        self, badge: str, *, name: str = "李四", roles: Iterable[str] = ("officer",), unit: str = "一中队",
        parent: str | None = None, telegram_user_id: int | None = None, language: str = "zh",
    ) -> Officer:
        """Adds an officer (and the unit, under an optional parent, if new)."""
        async with self.session() as session:
            if parent is not None and await identity.get_unit(session=session, name=parent) is None:
                await identity.add_unit(session=session, name=parent)
            if await identity.get_unit(session=session, name=unit) is None:
                await identity.add_unit(session=session, name=unit, parent=parent)
            officer = await identity.add_officer(
                session=session, badge=badge, name=name, unit=unit, roles=roles, language=language
            )
            officer.telegram_user_id = telegram_user_id
            return officer

    async def link(self, badge: str, *, via: str = "test") -> str:
        """Issues a sign-in link for an officer and returns its path."""
        async with self.session() as session:
            officer = await identity.get_officer(session=session, badge=badge)
            assert officer is not None
            issued = await signin.issue_link(session=session, officer=officer, base_url="", via=via)
        return issued.url

    async def signed_in(self, badge: str) -> httpx.AsyncClient:
        """Signs an officer in the way a browser does: opens the link, presses Sign in."""
        client = self.client()
        path = await self.link(badge)
        page = await client.get(path)
        assert page.status_code == 200, page.text
        done = await client.post(path, data={"csrf_token": csrf_of(page.text)})
        assert done.status_code == 303, done.text
        return client

    async def post(self, client: httpx.AsyncClient, path: str, data: dict[str, Any] | None = None, *,
                   page: str = "/", files: dict[str, Any] | None = None) -> httpx.Response:
        """Posts a form with the CSRF token of the session (read from a page)."""
        shown = await client.get(page)
        assert shown.status_code == 200, shown.text
        values = {"csrf_token": csrf_of(shown.text), **(data or {})}
        return await client.post(path, data=values, files=files)


@pytest.fixture
async def desk(settings: Settings, tmp_path: Path) -> AsyncIterator[DeskHarness]:
    """The desk on a fresh SQLite database with every table."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'desk.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(schema.load_models().create_all)
    sessions = make_sessionmaker(engine)
    desk_settings = load_settings(data_dir=settings.data_dir, _env_file=None)
    app = create_app(desk_settings, sessions=sessions, bot_username=_fixed_username)
    made = DeskHarness(desk_settings, engine, sessions, app)
    yield made
    for client in made.clients:
        await client.aclose()
    await engine.dispose()


# The bot's end-to-end harness (the real dispatcher polling a fake Bot API), for the tests where
# the desk and the bot meet: /desk links, answers reaching the officer's chat.
from tests.e2e.conftest import fake_api, harness, make_harness  # noqa: E402, F401  # re-exported fixtures
