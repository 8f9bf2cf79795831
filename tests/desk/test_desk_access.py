"""Who may open what on the desk: roles per page, scopes per unit, CSRF on every form, audit of every view."""

from __future__ import annotations

import pytest
from fastapi import APIRouter
from sqlalchemy import func, select

from core.audit import AuditEvent
from desk.app import create_app
from desk.registry import DeskModule, OverviewPanel, Registry
from knowledge.models import UnansweredQuestion
from tests.desk.conftest import DeskHarness

PAGES = ("/", "/cases", "/cases/calendar", "/cases/upload", "/questions", "/guidance", "/people", "/people/import", "/audit",
         "/rights", "/broadcasts", "/broadcasts/new", "/tasks", "/tasks/new")
# What each role opens (admins open everything).
OPENS = {
    "legal": {"/", "/cases", "/cases/calendar", "/cases/upload", "/questions", "/guidance", "/broadcasts", "/broadcasts/new",
              "/tasks", "/tasks/new"},
    "supervisor": {"/", "/cases", "/cases/calendar", "/people", "/tasks", "/tasks/new"},
    "rights": {"/", "/rights"},
    "admin": set(PAGES),
}


async def _count(desk: DeskHarness, action: str) -> int:
    async with desk.session() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)) or 0)


class TestRoles:
    @pytest.mark.parametrize("role", sorted(OPENS))
    async def test_each_page_opens_to_its_roles_only(self, desk: DeskHarness, role: str) -> None:
        """Every page answers 200 to the roles it is for and 403 to the others, and the menu matches."""
        await desk.add_officer("3001", roles=("officer", role))
        client = await desk.signed_in("3001")
        for path in PAGES:
            answer = await client.get(path)
            expected = 200 if path in OPENS[role] else 403
            assert answer.status_code == expected, (role, path, answer.status_code)
        menu = (await client.get("/")).text
        assert ('href="/audit"' in menu) == (role == "admin")
        assert ('href="/questions"' in menu) == (role in ("legal", "admin"))

    async def test_a_refusal_is_audited_and_explained(self, desk: DeskHarness) -> None:
        """A page refused for the role answers with who it is for, and the refusal is in the audit log."""
        await desk.add_officer("3001", roles=("officer", "rights"))
        client = await desk.signed_in("3001")
        answer = await client.get("/audit")
        assert answer.status_code == 403
        assert "管理员" in answer.text or "Administrator" in answer.text
        assert await _count(desk, "desk.refused") == 1

    async def test_a_role_taken_away_takes_effect_at_the_next_request(self, desk: DeskHarness) -> None:
        """Losing the legal role closes the desk at once, without signing out."""
        from core import identity

        await desk.add_officer("3001", roles=("legal",))
        client = await desk.signed_in("3001")
        assert (await client.get("/questions")).status_code == 200
        async with desk.session() as session:
            await identity.set_roles(session=session, badge="3001", roles=["officer"])
        assert (await client.get("/questions")).status_code == 303

    async def test_without_a_session_pages_send_to_sign_in(self, desk: DeskHarness) -> None:
        """No cookie: every page redirects to the sign-in help, and an htmx request is told where to go."""
        client = desk.client()
        for path in PAGES:
            answer = await client.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/signin"), path
        htmx = await client.get("/cases", headers={"HX-Request": "true"})
        assert htmx.headers["HX-Redirect"].startswith("/signin")
        help_page = await client.get("/signin")
        assert help_page.status_code == 200 and "/desk" in help_page.text


class TestScopes:
    async def test_a_supervisor_sees_only_their_units_cases(self, desk: DeskHarness) -> None:
        """A station supervisor's case list and timelines hold their station's cases, not another's."""
        from core.tabular import Row
        from reminders.cases import import_cases

        await desk.add_officer("S1", roles=("officer", "supervisor"), unit="东关派出所", parent="城关分局")
        await desk.add_officer("P1", unit="东关派出所", parent="城关分局")
        await desk.add_officer("P2", unit="西关派出所", parent="城关分局")
        rows = [
            Row(2, {"case_number": "A-1", "case_title": "东关的案子", "case_type": "治安", "officer_badge": "P1",
                    "event": "行政案件受理", "event_date": "2026-01-05"}),
            Row(3, {"case_number": "B-1", "case_title": "西关的案子", "case_type": "治安", "officer_badge": "P2",
                    "event": "行政案件受理", "event_date": "2026-01-05"}),
        ]
        async with desk.session() as session:
            report = await import_cases(session=session, rows=rows, settings=desk.settings)
            assert report.ok
        client = await desk.signed_in("S1")
        listing = (await client.get("/cases")).text
        assert "东关的案子" in listing and "西关的案子" not in listing
        async with desk.session() as session:
            from reminders.models import Case

            ids = {c.case_number: c.id for c in (await session.scalars(select(Case))).all()}
        assert (await client.get(f"/cases/{ids['A-1']}")).status_code == 200
        assert (await client.get(f"/cases/{ids['B-1']}")).status_code == 404
        async with desk.session() as session:
            miss = await session.scalar(select(AuditEvent).where(AuditEvent.action == "desk.view_failed"))
        assert miss is not None and miss.actor == "S1" and miss.target_id == f"/cases/{ids['B-1']}"


class TestCsrf:
    async def test_a_form_without_the_token_changes_nothing(self, desk: DeskHarness) -> None:
        """Answering a question without the CSRF token is refused, audited, and the question stays open."""
        from knowledge import feedback

        asker = await desk.add_officer("P1", telegram_user_id=555)
        await desk.add_officer("3001", roles=("officer", "legal"))
        async with desk.session() as session:
            item = await feedback.refer_question(session=session, officer_id=asker.id, question="能否当场收缴罚款？")
        client = await desk.signed_in("3001")
        for data in ({"answer": "可以。"}, {"answer": "可以。", "csrf_token": "0" * 64}):
            refused = await client.post(f"/questions/{item.id}/answer", data=data)
            assert refused.status_code == 403
        async with desk.session() as session:
            stored = await session.get(UnansweredQuestion, item.id)
            assert stored is not None and stored.status == "open"
        assert await _count(desk, "desk.csrf_refused") == 2

    async def test_another_sessions_token_does_not_pass(self, desk: DeskHarness) -> None:
        """A token shown to one session is refused in another (tokens are bound to their session)."""
        from tests.desk.conftest import csrf_of

        await desk.add_officer("3001", roles=("officer", "legal"))
        mine = await desk.signed_in("3001")
        theirs = await desk.signed_in("3001")
        token = csrf_of((await theirs.get("/")).text)
        assert (await mine.post("/signout", data={"csrf_token": token})).status_code == 403
        assert (await theirs.post("/signout", data={"csrf_token": token})).status_code == 303

    async def test_the_htmx_header_carries_the_token(self, desk: DeskHarness) -> None:
        """htmx requests send the token in X-CSRF-Token (set on the page body)."""
        import re

        await desk.add_officer("3001", roles=("officer", "legal"))
        client = await desk.signed_in("3001")
        page = (await client.get("/")).text
        token = re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', page)
        assert token is not None
        answer = await client.post("/signout", headers={"X-CSRF-Token": token.group(1)})
        assert answer.status_code == 303


class TestAuditOfViews:
    async def test_every_page_view_is_audited_with_its_query(self, desk: DeskHarness) -> None:
        """Each page an officer opens is an audit event with the path and the search they made."""
        await desk.add_officer("3001", roles=("officer", "legal"))
        client = await desk.signed_in("3001")
        await client.get("/cases", params={"q": "盗窃"})
        await client.get("/questions")
        async with desk.session() as session:
            views = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "desk.view").order_by(AuditEvent.id))).all()
        assert [(v.actor, v.target_id) for v in views] == [("3001", "/cases"), ("3001", "/questions")]
        assert views[0].detail == {"query": {"q": "盗窃"}}


class TestPageRegistry:
    def test_two_modules_cannot_fill_one_overview_slot(self) -> None:
        """Registering a second panel for a slot is refused at start-up."""

        async def panel(_ctx: object) -> str:
            return ""

        one = DeskModule("one", APIRouter(), panels=(OverviewPanel("rights", frozenset(), panel),))  # type: ignore[arg-type]
        two = DeskModule("two", APIRouter(), panels=(OverviewPanel("rights", frozenset(), panel),))  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="rights"):
            Registry.of([one, two])
        with pytest.raises(ValueError, match="unknown overview slot"):
            OverviewPanel("weather", frozenset(), panel)  # type: ignore[arg-type]

    async def test_a_new_module_adds_its_page_menu_entry_and_panel(self, desk: DeskHarness) -> None:
        """A module with a route, a menu entry and an overview panel appears on the desk as a whole."""
        from fastapi import Depends
        from fastapi.responses import HTMLResponse
        from markupsafe import Markup

        from core.identity import Role
        from desk.modules import all_modules
        from desk.registry import NavItem
        from desk.web import PageContext, page

        router = APIRouter()

        @router.get("/rights")
        async def rights_page(ctx: PageContext = Depends(page(Role.RIGHTS))) -> HTMLResponse:  # noqa: B008
            return HTMLResponse("applications")

        async def rights_panel(ctx: PageContext) -> Markup:
            return Markup("<p>rights panel</p>")

        extra = DeskModule(
            "rights", router, nav=(NavItem("rights", "/rights", "Rights applications", frozenset({Role.RIGHTS}), 30),),
            panels=(OverviewPanel("rights", frozenset({Role.RIGHTS}), rights_panel),),
        )
        others = [m for m in all_modules() if m.name != "rights"]  # the real rights module makes way for this one
        desk.app = create_app(desk.settings, sessions=desk.sessions, modules=[*others, extra])
        await desk.add_officer("3001", roles=("officer", "rights"))
        client = await desk.signed_in("3001")
        overview = (await client.get("/")).text
        assert 'href="/rights"' in overview and "rights panel" in overview and 'data-slot="rights"' in overview
        assert 'data-slot="deadlines"' not in overview  # the rights office has no deadline panel
        assert (await client.get("/rights")).text == "applications"
