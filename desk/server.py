"""Serving the desk: on its own (``frontline desk``) or beside the console demo (``make run``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from urllib.parse import urlparse

import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import identity, signin
from core.db import make_engine, make_sessionmaker, transaction
from core.settings import Settings
from desk.app import create_app

log = logging.getLogger(__name__)


class DeskServer(uvicorn.Server):
    """Uvicorn, leaving the process's signals to whoever runs it (the console demo, the tests)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leaves SIGINT and SIGTERM alone."""
        yield


def bind(host: str, port: int) -> socket.socket:
    """Opens the listening socket, so a busy port is reported before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def server_for(app: FastAPI, settings: Settings, *, quiet: bool = False, embedded: bool = False) -> uvicorn.Server:
    """Builds the uvicorn server of a desk application."""
    config = uvicorn.Config(
        app,
        root_path=urlparse(settings.desk_public_url).path.rstrip("/"),
        proxy_headers=True,
        log_level="warning" if quiet else settings.log_level.lower(),
        access_log=not quiet,
        server_header=False,
        lifespan="off",
    )
    return DeskServer(config) if embedded else uvicorn.Server(config)


async def serve(settings: Settings) -> None:
    """Serves the desk until the process is told to stop (SIGINT, SIGTERM)."""
    sock = bind(settings.desk_host, settings.desk_port)
    engine = make_engine(settings.effective_database_url)
    try:
        app = create_app(settings, sessions=make_sessionmaker(engine))
        log.info("desk at %s (listening on %s:%s)", settings.desk_public_url, settings.desk_host, settings.desk_port)
        await server_for(app, settings).serve(sockets=[sock])
    finally:
        sock.close()
        await engine.dispose()


async def issue_link_for(sessions: async_sessionmaker[AsyncSession], settings: Settings, badge: str, *, via: str) -> str:
    """Issues a sign-in link for an officer by badge (committed)."""
    async with transaction(sessions) as session:
        officer = await identity.get_officer(session=session, badge=badge)
        if officer is None:
            raise identity.IdentityError(f"no such officer: {badge}")
        issued = await signin.issue_link(
            session=session, officer=officer, base_url=settings.desk_public_url, via=via, actor="cli" if via == "cli" else None
        )
    return issued.url


@contextlib.asynccontextmanager
async def beside_demo(
    settings: Settings, badge: str, *, say: Callable[[str], None] = print
) -> AsyncIterator[None]:
    """Runs the desk in this event loop while the block runs, and prints its address and a sign-in link."""
    try:
        sock = bind(settings.desk_host, settings.desk_port)
    except OSError as exc:
        say(f"(the desk could not start on {settings.desk_host}:{settings.desk_port}: {exc.strerror or exc}; "
            "set FRONTLINE_DESK_PORT to another port)")
        yield
        return
    engine = make_engine(settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    server = server_for(create_app(settings, sessions=sessions), settings, quiet=True, embedded=True)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="desk")
    try:
        link = await issue_link_for(sessions, settings, badge, via="demo")
        say(f"Desk (web console): {settings.desk_public_url}")
        say(f"Sign in as the demo legal officer {badge} (one use, 10 minutes): {link}")
        say("(a new link: /as DEMO002, then /desk)\n")
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=10)
        sock.close()
        await engine.dispose()
