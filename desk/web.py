"""Per-request plumbing of the desk: the database session, who is signed in, roles, CSRF, rendering.

Every page depends on :func:`page` with the roles it admits. That one dependency reads the signed
session cookie, loads the officer (a deactivated officer or one who lost the role is out at the
next request), checks the role, checks the CSRF token of every form sent, audits the view and
hands the endpoint a :class:`PageContext`. One database session per request, committed before
the response leaves (``scope="function"``), so the page the browser is redirected to already
sees what the form changed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import audit, signin
from core.db import utcnow
from core.identity import Officer, Role
from core.settings import Settings
from desk.i18n import (
    LANGUAGE_COOKIE,
    LANGUAGE_NAMES,
    Translate,
    age_text,
    due_text,
    local_time,
    pick_language,
    translator,
)
from desk.registry import Registry
from desk.scope import Scope, scope_of

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
SESSION_COOKIE = "frontline_desk"
PRE_COOKIE = "frontline_desk_pre"  # before sign-in: the double-submit token of the sign-in form
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DESK_ROLES = frozenset(signin.DESK_ROLES)
ROLE_LABELS = {
    Role.OFFICER.value: "Officer",
    Role.LEGAL.value: "Legal brigade",
    Role.RIGHTS.value: "Rights office",
    Role.SUPERVISOR.value: "Supervisor",
    Role.ADMIN.value: "Administrator",
}


class NotSignedIn(Exception):
    """The request carries no live desk session."""


class Refused(Exception):
    """The signed-in officer's roles do not open this page."""

    def __init__(self, officer: Officer, roles: Iterable[Role]) -> None:
        super().__init__("refused")
        self.officer = officer
        self.roles = sorted(role.value for role in roles)


class CsrfFailed(Exception):
    """A form arrived without the token of the session that showed it."""


@dataclass
class Desk:
    """What every request of one desk application shares."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    secret: bytes
    registry: Registry
    env: jinja2.Environment
    bot_username: Callable[[], Awaitable[str | None]]
    serializer: URLSafeTimedSerializer = field(init=False)
    writes: int = 0
    """Counts the requests that changed something (kept renderings made before are stale)."""
    extras: dict[str, Any] = field(default_factory=dict)
    """What modules keep for the application's life (the overview's panel cache)."""

    prefix: str = field(init=False)
    """The path the desk is served under (from its public address), '' at the root."""

    def __post_init__(self) -> None:
        self.serializer = URLSafeTimedSerializer(self.secret, salt="frontline-desk-session")
        self.prefix = urlparse(self.settings.desk_public_url).path.rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        """Cookies are marked Secure when the desk is reached over https."""
        return self.settings.desk_public_url.startswith("https://")

    @property
    def session_seconds(self) -> int:
        """How long a desk session lasts, in seconds."""
        return int(self.settings.desk_session_hours * 3600)

    def url(self, path: str, **query: Any) -> str:
        """Builds an address on the desk (under its prefix), with optional query values."""
        clean = {k: v for k, v in query.items() if v is not None and v != ""}
        return f"{self.prefix}{path}" + (f"?{urlencode(clean)}" if clean else "")

    def csrf_for(self, session_token: str) -> str:
        """Derives a session's CSRF token (bound to the session, never stored)."""
        return hmac.new(self.secret, f"csrf:{session_token}".encode(), hashlib.sha256).hexdigest()

    def pre_csrf_for(self, pre: str) -> str:
        """Derives the sign-in form's token from the browser's pre-sign-in cookie."""
        return hmac.new(self.secret, f"pre:{pre}".encode(), hashlib.sha256).hexdigest()


def desk_of(request: Request) -> Desk:
    """Returns the desk application state."""
    desk: Desk = request.app.state.desk
    return desk


async def db(request: Request) -> AsyncIterator[AsyncSession]:
    """Opens the request's database session; commits when the endpoint succeeded."""
    desk = desk_of(request)
    async with desk.sessions() as session:
        try:
            yield session
        except BaseException:
            # Detached first, the objects keep what they loaded: an error page still names the officer.
            session.expunge_all()
            await session.rollback()
            raise
        await session.commit()
        if request.method not in SAFE_METHODS:
            desk.writes += 1


Db = Depends(db, scope="function")


@dataclass
class Viewer:
    """The signed-in officer and what their session allows."""

    officer: Officer
    session_id: int
    csrf: str
    scope: Scope

    def can(self, roles: Iterable[Role]) -> bool:
        """Tells whether the officer holds any of the roles (admins hold all)."""
        return self.officer.has_role(*roles)


@dataclass
class PageContext:
    """Everything an endpoint or an overview panel needs to answer one request."""

    request: Request
    session: AsyncSession
    desk: Desk
    viewer: Viewer
    language: str
    _: Translate

    @property
    def settings(self) -> Settings:
        """The settings of the desk."""
        return self.desk.settings

    @property
    def now(self) -> datetime:
        """The current instant (frozen in tests by time-machine)."""
        return utcnow()

    def labels(self, table: dict[str, str]) -> dict[str, str]:
        """Translates a table of codes to their labels (states, kinds …) into the viewer's language."""
        return {code: self._(msgid) for code, msgid in table.items()}

    def url(self, path: str, **query: Any) -> str:
        """Builds an address on the desk."""
        return self.desk.url(path, **query)

    def render(self, template: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
        """Renders a page (or, for an htmx request, the same template: fragments are their own files)."""
        return render(self.request, template, status_code=status_code, language=self.language, viewer=self.viewer, **values)

    def fragment(self, template: str, **values: Any) -> Markup:
        """Renders a template to markup, for panels inside a page."""
        return Markup(_template_text(self.request, template, language=self.language, viewer=self.viewer, **values))

    async def audit(self, action: str, *, target_type: str | None = None, target_id: str | int | None = None,
                    detail: dict[str, Any] | None = None) -> None:
        """Records an action of the signed-in officer."""
        await audit.record(
            session=self.session, actor=self.viewer.officer.badge, action=action, target_type=target_type,
            target_id=target_id, officer_id=self.viewer.officer.id, detail=detail,
        )


def request_language(request: Request, officer: Officer | None = None) -> str:
    """The language of a page: the switch's cookie, the officer's language, the default."""
    return pick_language(
        cookie=request.cookies.get(LANGUAGE_COOKIE),
        officer_language=officer.language if officer is not None else None,
        default=desk_of(request).settings.default_language,
    )


def _template_text(request: Request, template: str, *, language: str, viewer: Viewer | None, **values: Any) -> str:
    desk = desk_of(request)
    _ = translator(language)
    tz = desk.settings.tz
    nav = desk.registry.nav_for(viewer.can) if viewer is not None else []
    here = request.url.path
    matching = [item for item in nav if here == desk.url(item.path) or (item.path != "/" and here.startswith(desk.url(item.path) + "/"))]
    active = max(matching, key=lambda item: len(item.path)).key if matching else None
    context: dict[str, Any] = {
        "_": _,
        "lang": language,
        "languages": LANGUAGE_NAMES,
        "viewer": viewer,
        "nav": nav,
        "active_nav": active,
        "csrf": viewer.csrf if viewer is not None else "",
        "csrf_field": CSRF_FIELD,
        "url": desk.url,
        "path": request.url.path,
        "full_path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "when": lambda value, with_time=True: local_time(value, tz, with_time=with_time),
        "due": lambda value: due_text(value, tz),
        "age": lambda seconds: age_text(seconds, _),
        "role_label": lambda value: _(ROLE_LABELS.get(str(value), str(value))),
        "roles_text": lambda values: _(", ").join(_(ROLE_LABELS.get(str(v), str(v))) for v in values),
        "now": utcnow(),
    }
    context.update(values)
    return desk.env.get_template(template).render(context)


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    language: str | None = None,
    viewer: Viewer | None = None,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """Renders a template into a response."""
    language = language or request_language(request, viewer.officer if viewer else None)
    text = _template_text(request, template, language=language, viewer=viewer, **values)
    return HTMLResponse(text, status_code=status_code, headers=headers)


def read_session_cookie(request: Request) -> str | None:
    """Returns the session token from the signed cookie, if the signature and age are good."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    desk = desk_of(request)
    try:
        token = desk.serializer.loads(raw, max_age=desk.session_seconds)
    except BadSignature:
        return None
    return token if isinstance(token, str) else None


def set_session_cookie(response: Response, desk: Desk, token: str) -> None:
    """Puts a session token in the signed, http-only, same-site cookie."""
    response.set_cookie(
        SESSION_COOKIE,
        desk.serializer.dumps(token),
        max_age=desk.session_seconds,
        path=desk.prefix or "/",
        httponly=True,
        samesite="lax",
        secure=desk.secure_cookies,
    )


def clear_session_cookie(response: Response, desk: Desk) -> None:
    """Removes the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path=desk.prefix or "/", httponly=True, samesite="lax",
                           secure=desk.secure_cookies)


async def _sent_csrf(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def check_csrf(request: Request, expected: str) -> None:
    """Refuses an unsafe request whose CSRF token is missing or wrong."""
    if request.method in SAFE_METHODS:
        return
    sent = await _sent_csrf(request)
    if not sent or not hmac.compare_digest(sent, expected):
        raise CsrfFailed()


def page(*roles: Role, audit_view: bool = True) -> Callable[..., Awaitable[PageContext]]:
    """Builds the dependency of a page open to the given roles (admins hold every role)."""
    admitted = frozenset(roles) or DESK_ROLES

    async def dependency(request: Request, session: AsyncSession = Db) -> PageContext:
        token = read_session_cookie(request)
        live = await signin.active_session(session=session, token=token) if token else None
        if live is None:
            raise NotSignedIn()
        officer = live.officer
        desk = desk_of(request)
        csrf = desk.csrf_for(token or "")
        viewer = Viewer(officer=officer, session_id=live.row.id, csrf=csrf, scope=await scope_of(session=session, officer=officer))
        request.state.viewer = viewer  # error pages keep the signed-in layout
        if not officer.has_role(*admitted):
            raise Refused(officer, admitted)
        await check_csrf(request, csrf)
        language = request_language(request, officer)
        context = PageContext(request, session, desk, viewer, language, translator(language))
        if audit_view and request.method in SAFE_METHODS:
            query = dict(request.query_params)
            await audit.record(
                session=session, actor=officer.badge, action="desk.view", target_type="desk_page",
                target_id=request.url.path[:128], officer_id=officer.id, detail={"query": query} if query else None,
                flush=False,
            )
        return context

    return dependency


def new_pre_token() -> str:
    """Makes the random value of a pre-sign-in cookie."""
    return secrets.token_urlsafe(24)
