"""The desk's one wiring point: builds the FastAPI application from the settings and a database."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import audit
from core.db import transaction
from core.settings import Settings
from desk.registry import DeskModule, Registry
from desk.web import (
    TEMPLATES_DIR,
    CsrfFailed,
    Desk,
    NotSignedIn,
    Refused,
    desk_of,
    render,
)

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
SECRET_FILE = "desk-secret.key"
MAX_BODY_BYTES = 25 * 1024 * 1024  # the largest upload (20 MB) and its form; anything bigger is refused unread
BOT_USERNAME_RETRY = 300.0
# No inline script or style anywhere: the page can run only the desk's own files.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # A sign-in link carries its token in the address: never pass it on to another site.
    (b"referrer-policy", b"no-referrer"),
]


def desk_secret(settings: Settings) -> bytes:
    """Returns the key that signs the desk's cookies: the setting, else one made once in the data dir."""
    if settings.desk_secret_key is not None:
        return settings.desk_secret_key.get_secret_value().encode()
    path = settings.data_dir / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_bytes().strip()


def bot_username_resolver(settings: Settings) -> Callable[[], Awaitable[str | None]]:
    """Returns a lookup of the bot's @username: the setting, else asked once from the Bot API."""
    configured = (settings.bot_username or "").lstrip("@") or None
    found: dict[str, Any] = {"name": configured, "failed_at": None}

    def ask() -> str | None:
        token = settings.bot_token_value
        if not token:
            return None
        url = f"{settings.telegram_api_base}/bot{token}/getMe"
        with urllib.request.urlopen(url, timeout=5) as response:  # the configured Bot API
            data = json.loads(response.read().decode())
        name = data.get("result", {}).get("username")
        return str(name) if name else None

    async def resolve() -> str | None:
        if found["name"] is not None:
            return str(found["name"])
        if found["failed_at"] is not None and time.monotonic() - found["failed_at"] < BOT_USERNAME_RETRY:
            return None
        try:
            found["name"] = await asyncio.to_thread(ask)
        except Exception as exc:  # the Bot API may be out of reach from the desk's network
            log.warning("could not ask the Bot API for the bot's username: %s", exc)
            found["failed_at"] = time.monotonic()
            return None
        if found["name"] is None:
            found["failed_at"] = time.monotonic()
        return found["name"]

    return resolve


class SecurityHeaders:
    """Adds the security headers to every response, and no-store to every page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = "/static/" in scope["path"]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                if not is_static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, sending)


class TooLarge:
    """Refuses a body larger than the desk accepts with a page saying so.

    A body that declares its length is refused before a byte of it is read; one that does not is
    counted as it arrives and refused (413, handled like any HTTP error) once it is too long.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            response = render(Request(scope), "error.html", status_code=413, kind="too_large", roles=[],
                              headers={"connection": "close"})
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    raise StarletteHTTPException(status_code=413)
            return message

        await self.app(scope, counted, send)


def make_environment() -> jinja2.Environment:
    """Builds the template environment (autoescaped; a missing variable is an error)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(["html", "svg"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "text/html") or request.headers.get("hx-request") == "true"


async def _audit_alone(sessions: async_sessionmaker[AsyncSession], **values: Any) -> None:
    """Records an audit event in a transaction of its own (the request's was rolled back)."""
    try:
        async with transaction(sessions) as session:
            await audit.record(session=session, **values)
    except Exception:
        log.exception("could not audit %s", values.get("action"))


def install_error_pages(app: FastAPI) -> None:
    """Answers sign-in, role, CSRF and other errors with a page in the viewer's language."""

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _exc: NotSignedIn) -> Response:
        desk = desk_of(request)
        target = desk.url("/signin", next=request.url.path if request.method == "GET" else None)
        if request.headers.get("hx-request") == "true":
            return Response(status_code=204, headers={"HX-Redirect": target})
        if not _wants_html(request):
            return JSONResponse({"detail": "not signed in"}, status_code=401)
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        desk = desk_of(request)
        await _audit_alone(
            desk.sessions, actor=exc.officer.badge, action="desk.refused", target_type="desk_page",
            target_id=request.url.path[:128], officer_id=exc.officer.id,
            detail={"method": request.method, "needs": exc.roles},
        )
        return render(request, "error.html", status_code=403, kind="refused", roles=exc.roles,
                      viewer=getattr(request.state, "viewer", None))

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, _exc: CsrfFailed) -> Response:
        desk = desk_of(request)
        viewer = getattr(request.state, "viewer", None)
        await _audit_alone(
            desk.sessions, actor=viewer.officer.badge if viewer else "anonymous", action="desk.csrf_refused",
            target_type="desk_page", target_id=request.url.path[:128],
            officer_id=viewer.officer.id if viewer else None, detail={"method": request.method},
        )
        return render(request, "error.html", status_code=403, kind="csrf", roles=[])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        viewer = getattr(request.state, "viewer", None)
        if viewer is not None:
            # The view was rolled back with the request: a miss (a case out of scope, say) is kept here.
            await _audit_alone(
                desk_of(request).sessions, actor=viewer.officer.badge, action="desk.view_failed",
                target_type="desk_page", target_id=request.url.path[:128], officer_id=viewer.officer.id,
                detail={"method": request.method, "status": exc.status_code},
            )
        if not _wants_html(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        kind = {404: "missing", 413: "too_large"}.get(exc.status_code, "bad_request")
        return render(request, "error.html", status_code=exc.status_code, kind=kind, roles=[],
                      viewer=getattr(request.state, "viewer", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, _exc: RequestValidationError) -> Response:
        return render(request, "error.html", status_code=400, kind="bad_request", roles=[])

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        incident = secrets.token_hex(4)
        log.error("incident %s: %s %s failed", incident, request.method, request.url.path, exc_info=exc)
        return render(request, "error.html", status_code=500, kind="crash", roles=[], incident=incident,
                      viewer=getattr(request.state, "viewer", None))


def create_app(
    settings: Settings,
    *,
    sessions: async_sessionmaker[AsyncSession],
    modules: Iterable[DeskModule] | None = None,
    bot_username: Callable[[], Awaitable[str | None]] | None = None,
) -> FastAPI:
    """Builds the desk application on a database session factory."""
    from desk.modules import all_modules

    registry = Registry.of(all_modules() if modules is None else modules)
    app = FastAPI(title="Frontline desk", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.desk = Desk(
        settings=settings,
        sessions=sessions,
        secret=desk_secret(settings),
        registry=registry,
        env=make_environment(),
        bot_username=bot_username or bot_username_resolver(settings),
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in registry.modules:
        app.include_router(module.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz(request: Request) -> JSONResponse:
        """Answers ok when the database answers (for container health checks)."""
        try:
            async with desk_of(request).sessions() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse({"status": "database unreachable", "error": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return RedirectResponse(app.state.desk.url("/static/favicon.svg"), status_code=301)

    install_error_pages(app)
    app.add_middleware(TooLarge)
    app.add_middleware(SecurityHeaders)
    return app

