"""Signing in with a single-use link, signing out, and the language switch (open to everyone)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from core import signin
from core.signin import LinkState
from desk.i18n import LANGUAGE_COOKIE, LANGUAGE_NAMES
from desk.registry import DeskModule
from desk.web import (
    PRE_COOKIE,
    CsrfFailed,
    Db,
    check_csrf,
    clear_session_cookie,
    desk_of,
    new_pre_token,
    read_session_cookie,
    render,
    set_session_cookie,
)

LINK_STATUS = {
    LinkState.UNKNOWN: 404,
    LinkState.USED: 410,
    LinkState.EXPIRED: 410,
    LinkState.REPLACED: 410,
    LinkState.NOT_ALLOWED: 403,
}


def _safe_next(value: str | None, prefix: str) -> str | None:
    # Only a path on this desk: never an address elsewhere (//host or scheme:).
    if not value or not value.startswith(prefix + "/") or value.startswith("//") or "\\" in value:
        return None
    return value


def create_router() -> APIRouter:
    """Builds the sign-in routes."""
    router = APIRouter()

    @router.get("/signin")
    async def signin_help(request: Request, session: AsyncSession = Db, next: str | None = None) -> Response:
        """Explains how to get a sign-in link; a signed-in officer goes on to the desk."""
        desk = desk_of(request)
        token = read_session_cookie(request)
        if token and await signin.active_session(session=session, token=token) is not None:
            return RedirectResponse(_safe_next(next, desk.prefix) or desk.url("/"), status_code=303)
        return render(request, "signin/help.html")

    @router.get("/signin/{token}")
    async def signin_confirm(request: Request, token: str, session: AsyncSession = Db) -> Response:
        """Shows whose link this is and asks to sign in (a link preview fetching it uses nothing)."""
        desk = desk_of(request)
        check = await signin.check_link(session=session, token=token)
        if check.state is not LinkState.VALID:
            return render(request, "signin/refused.html", status_code=LINK_STATUS[check.state], state=check.state.value)
        pre = request.cookies.get(PRE_COOKIE) or new_pre_token()
        response = render(
            request, "signin/confirm.html", officer=check.officer, token=token, pre_csrf=desk.pre_csrf_for(pre),
            expires_at=check.link.expires_at if check.link else None,
        )
        response.set_cookie(PRE_COOKIE, pre, max_age=3600, path=desk.prefix or "/", httponly=True, samesite="strict",
                            secure=desk.secure_cookies)
        return response

    @router.post("/signin/{token}")
    async def signin_redeem(
        request: Request, token: str, session: AsyncSession = Db, csrf_token: Annotated[str, Form()] = ""
    ) -> Response:
        """Uses the link once, opens a desk session in a signed cookie and goes to the overview."""
        desk = desk_of(request)
        pre = request.cookies.get(PRE_COOKIE)
        if not pre or not hmac.compare_digest(csrf_token, desk.pre_csrf_for(pre)):
            raise CsrfFailed()
        client = {
            "address": request.client.host if request.client else None,
            "agent": request.headers.get("user-agent", "")[:200],
        }
        result = await signin.redeem_link(
            session=session, token=token, hours=desk.settings.desk_session_hours, client=client
        )
        if result.state is not LinkState.VALID or result.token is None:
            return render(request, "signin/refused.html", status_code=LINK_STATUS[result.state], state=result.state.value)
        earlier = read_session_cookie(request)
        if earlier:
            await signin.end_session(session=session, token=earlier, reason="replaced")
        response = RedirectResponse(desk.url("/"), status_code=303)
        set_session_cookie(response, desk, result.token)
        response.delete_cookie(PRE_COOKIE, path=desk.prefix or "/")
        return response

    @router.post("/signout")
    async def signout(request: Request, session: AsyncSession = Db) -> Response:
        """Ends the session here and in the database; the cookie is of no use afterwards."""
        desk = desk_of(request)
        token = read_session_cookie(request)
        if token:
            await check_csrf(request, desk.csrf_for(token))
            await signin.end_session(session=session, token=token)
        response = RedirectResponse(desk.url("/signin"), status_code=303)
        clear_session_cookie(response, desk)
        return response

    @router.get("/language/{code}")
    async def language(request: Request, code: str, next: str | None = None) -> Response:
        """Switches the desk's language (kept in a cookie) and returns to the page."""
        desk = desk_of(request)
        target = _safe_next(next, desk.prefix) or desk.url("/")
        response = RedirectResponse(target, status_code=303)
        if code in LANGUAGE_NAMES:
            response.set_cookie(LANGUAGE_COOKIE, code, max_age=365 * 86400, path=desk.prefix or "/", samesite="lax",
                                secure=desk.secure_cookies)
        return response

    return router


def module() -> DeskModule:
    """The sign-in pages: no menu entry, open to everyone."""
    return DeskModule(name="signin", router=create_router())
