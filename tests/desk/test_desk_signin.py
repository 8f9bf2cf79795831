"""Password-free sign-in: single-use links (core.signin) and the desk's sessions in signed cookies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import identity, signin
from core.audit import AuditEvent
from core.signin import DeskSession, LinkState, SignInError, SignInLink
from desk.web import PRE_COOKIE, SESSION_COOKIE
from tests.conftest import MakeOfficer
from tests.desk.conftest import DeskHarness, csrf_of

NOW = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)


async def _actions(session: AsyncSession, action: str) -> list[AuditEvent]:
    return list((await session.scalars(select(AuditEvent).where(AuditEvent.action == action))).all())


class TestSignInLinks:
    async def test_a_link_opens_one_session_and_works_once(self, session: AsyncSession, make_officer: MakeOfficer) -> None:
        """Redeeming a link opens a session; the same link redeemed again is refused as used."""
        officer = await make_officer("3001", roles=("officer", "legal"))
        issued = await signin.issue_link(session=session, officer=officer, base_url="https://desk.example", via="bot", now=NOW)
        assert issued.url.startswith("https://desk.example/signin/")
        token = issued.url.rsplit("/", 1)[1]
        first = await signin.redeem_link(session=session, token=token, hours=8, now=NOW + timedelta(minutes=1))
        assert first.state is LinkState.VALID and first.token
        assert first.expires_at == NOW + timedelta(minutes=1, hours=8)
        again = await signin.redeem_link(session=session, token=token, hours=8, now=NOW + timedelta(minutes=2))
        assert again.state is LinkState.USED and again.token is None
        assert await session.scalar(select(func.count()).select_from(DeskSession)) == 1

    async def test_a_link_expires_after_ten_minutes(self, session: AsyncSession, make_officer: MakeOfficer) -> None:
        """A link redeemed ten minutes after it was issued no longer works."""
        officer = await make_officer("3001", roles=("legal",))
        issued = await signin.issue_link(session=session, officer=officer, base_url="", via="cli", now=NOW)
        token = issued.url.rsplit("/", 1)[1]
        late = await signin.redeem_link(session=session, token=token, hours=8, now=NOW + timedelta(minutes=10))
        assert late.state is LinkState.EXPIRED

    async def test_a_newer_link_replaces_an_unused_one(self, session: AsyncSession, make_officer: MakeOfficer) -> None:
        """Only the newest link of an officer works."""
        officer = await make_officer("3001", roles=("supervisor",))
        old = await signin.issue_link(session=session, officer=officer, base_url="", via="bot", now=NOW)
        new = await signin.issue_link(session=session, officer=officer, base_url="", via="bot", now=NOW)
        stale = await signin.redeem_link(session=session, token=old.url.rsplit("/", 1)[1], hours=8, now=NOW)
        fresh = await signin.redeem_link(session=session, token=new.url.rsplit("/", 1)[1], hours=8, now=NOW)
        assert (stale.state, fresh.state) == (LinkState.REPLACED, LinkState.VALID)

    async def test_only_desk_roles_get_a_link(self, session: AsyncSession, make_officer: MakeOfficer) -> None:
        """An officer with the plain officer role, or a deactivated one, gets no link."""
        plain = await make_officer("3001", roles=("officer",))
        gone = await make_officer("3002", roles=("legal",))
        await identity.deactivate(session=session, badge="3002")
        for officer in (plain, gone):
            try:
                await signin.issue_link(session=session, officer=officer, base_url="", via="bot")
            except SignInError:
                continue
            raise AssertionError(f"{officer.badge} got a link")
        assert await session.scalar(select(func.count()).select_from(SignInLink)) == 0

    async def test_a_link_of_an_officer_deactivated_since_does_not_sign_in(
        self, session: AsyncSession, make_officer: MakeOfficer
    ) -> None:
        """Deactivation between issue and use refuses the sign-in, and the refusal is audited."""
        officer = await make_officer("3001", roles=("rights",))
        issued = await signin.issue_link(session=session, officer=officer, base_url="", via="bot", now=NOW)
        await identity.deactivate(session=session, badge="3001")
        result = await signin.redeem_link(session=session, token=issued.url.rsplit("/", 1)[1], hours=8, now=NOW)
        assert result.state is LinkState.NOT_ALLOWED
        refused = await _actions(session, "desk.signin_refused")
        assert [e.detail["reason"] for e in refused] == ["not_allowed"]

    async def test_tokens_are_stored_only_as_hashes(self, session: AsyncSession, make_officer: MakeOfficer) -> None:
        """Neither the link's token nor the session's appears in the database."""
        officer = await make_officer("3001", roles=("legal",))
        issued = await signin.issue_link(session=session, officer=officer, base_url="", via="bot", now=NOW)
        token = issued.url.rsplit("/", 1)[1]
        result = await signin.redeem_link(session=session, token=token, hours=8, now=NOW)
        link = await session.scalar(select(SignInLink))
        row = await session.scalar(select(DeskSession))
        assert link is not None and row is not None and result.token
        assert token not in link.token_hash and result.token not in row.token_hash
        assert link.token_hash == signin.hash_token(token)

    async def test_a_session_ends_at_its_expiry_on_sign_out_and_when_the_role_goes(
        self, session: AsyncSession, make_officer: MakeOfficer
    ) -> None:
        """A session is live until it expires, is signed out, or its officer loses the desk roles."""
        officer = await make_officer("3001", roles=("legal",))
        opened = []
        for _ in range(3):
            issued = await signin.issue_link(session=session, officer=officer, base_url="", via="bot", now=NOW)
            result = await signin.redeem_link(session=session, token=issued.url.rsplit("/", 1)[1], hours=8, now=NOW)
            assert result.token
            opened.append(result.token)
        assert await signin.active_session(session=session, token=opened[0], now=NOW + timedelta(hours=7)) is not None
        assert await signin.active_session(session=session, token=opened[0], now=NOW + timedelta(hours=8)) is None
        assert await signin.end_session(session=session, token=opened[1], now=NOW)
        assert await signin.active_session(session=session, token=opened[1], now=NOW) is None
        await identity.set_roles(session=session, badge="3001", roles=["officer"])
        assert await signin.active_session(session=session, token=opened[2], now=NOW) is None


class TestSignInPages:
    async def test_opening_a_link_asks_first_and_uses_nothing(self, desk: DeskHarness) -> None:
        """GET shows whose link it is (a link preview cannot sign anyone in); only the button signs in."""
        await desk.add_officer("3001", name="周法制", roles=("officer", "legal"))
        path = await desk.link("3001")
        client = desk.client()
        for _ in range(2):
            page = await client.get(path)
            assert page.status_code == 200 and "周法制" in page.text
        async with desk.session() as session:
            link = await session.scalar(select(SignInLink))
            assert link is not None and link.used_at is None

    async def test_signing_in_sets_a_signed_http_only_same_site_cookie(self, desk: DeskHarness) -> None:
        """The session cookie is signed, http-only, same-site and expires with the session."""
        await desk.add_officer("3001", roles=("legal",))
        client = desk.client()
        path = await desk.link("3001")
        page = await client.get(path)
        done = await client.post(path, data={"csrf_token": csrf_of(page.text)})
        assert done.status_code == 303 and done.headers["location"] == "/"
        cookie = next(h for h in done.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "="))
        lowered = cookie.lower()
        assert "httponly" in lowered and "samesite=lax" in lowered
        assert f"max-age={int(desk.settings.desk_session_hours * 3600)}" in lowered
        value = cookie.split(";", 1)[0].split("=", 1)[1]
        async with desk.session() as session:
            row = await session.scalar(select(DeskSession))
        assert row is not None and value.strip('"') != row.token_hash
        overview = await client.get("/")
        assert overview.status_code == 200

    async def test_a_tampered_cookie_is_refused(self, desk: DeskHarness) -> None:
        """A cookie whose signature does not match sends the browser to the sign-in page."""
        await desk.add_officer("3001", roles=("legal",))
        client = await desk.signed_in("3001")
        value = client.cookies[SESSION_COOKIE]
        client.cookies.set(SESSION_COOKIE, value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
        answer = await client.get("/")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/signin")

    async def test_the_sign_in_form_needs_its_browser_token(self, desk: DeskHarness) -> None:
        """A sign-in POST without the pre-sign-in cookie and token (login CSRF) is refused and uses nothing."""
        await desk.add_officer("3001", roles=("legal",))
        path = await desk.link("3001")
        client = desk.client()
        refused = await client.post(path, data={"csrf_token": "x"})
        assert refused.status_code == 403
        async with desk.session() as session:
            link = await session.scalar(select(SignInLink))
            assert link is not None and link.used_at is None
        page = await client.get(path)
        assert PRE_COOKIE in client.cookies
        assert (await client.post(path, data={"csrf_token": csrf_of(page.text)})).status_code == 303

    async def test_a_used_or_expired_link_says_so_and_how_to_get_another(self, desk: DeskHarness) -> None:
        """A used link answers 410 with the reason; so does one ten minutes old."""
        await desk.add_officer("3001", roles=("legal",))
        path = await desk.link("3001")
        first = desk.client()
        page = await first.get(path)
        await first.post(path, data={"csrf_token": csrf_of(page.text)})
        used = await desk.client().get(path)
        assert used.status_code == 410 and "/desk" in used.text
        with time_machine.travel(datetime.now(UTC) + timedelta(minutes=11)):
            path = await desk.link("3001")
        with time_machine.travel(datetime.now(UTC) + timedelta(minutes=22)):
            late = await desk.client().get(path)
        assert late.status_code == 410
        unknown = await desk.client().get("/signin/not-a-token")
        assert unknown.status_code == 404

    async def test_signing_out_ends_the_session_for_good(self, desk: DeskHarness) -> None:
        """After signing out, replaying the old cookie does not get back in; the sign-out is audited."""
        await desk.add_officer("3001", roles=("legal",))
        client = await desk.signed_in("3001")
        old_cookie = client.cookies[SESSION_COOKIE]
        out = await desk.post(client, "/signout")
        assert out.status_code == 303
        replay = desk.client()
        replay.cookies.set(SESSION_COOKIE, old_cookie)
        assert (await replay.get("/")).status_code == 303
        async with desk.session() as session:
            assert len(await _actions(session, "desk.signout")) == 1

    async def test_sign_in_is_audited_with_the_browser(self, desk: DeskHarness) -> None:
        """The sign-in is in the audit log with the address and browser it came from."""
        await desk.add_officer("3001", roles=("legal",))
        await desk.signed_in("3001")
        async with desk.session() as session:
            [event] = await _actions(session, "desk.signin")
        assert event.actor == "3001" and event.detail["address"] == "127.0.0.1" and "agent" in event.detail

    async def test_a_session_expires_after_the_configured_hours(self, desk: DeskHarness) -> None:
        """A session older than FRONTLINE_DESK_SESSION_HOURS is sent back to sign in."""
        await desk.add_officer("3001", roles=("legal",))
        client = await desk.signed_in("3001")
        hours = desk.settings.desk_session_hours
        with time_machine.travel(datetime.now(UTC) + timedelta(hours=hours, minutes=1)):
            late = await client.get("/")
        assert late.status_code == 303
