"""The rights office on the desk: the list and its filters, one application with its evidence served
through an audited route, the office's steps as forms reaching the applicant through the outbox."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from core.audit import AuditEvent
from core.db import utcnow
from core.outbox import OutboxMessage
from rights.models import RightsApplication, RightsCustodyEvent
from tests.desk.conftest import DeskHarness
from tests.desk.desk_fakes import DOCUMENT, PHOTO, rights_application


async def _office(desk: DeskHarness) -> int:
    """A bureau with a station: applicant P1 at the station, rights officer R1 at the bureau."""
    await desk.add_officer("R1", name="孙维权", roles=("officer", "rights"), unit="城关分局")
    await desk.add_officer("P1", name="张伟", unit="城关派出所", parent="城关分局", telegram_user_id=901)
    async with desk.session() as session:
        application = await rights_application(session, desk.settings, "P1")
    return int(application.id)


async def _count(desk: DeskHarness, model: type, *where: object) -> int:
    async with desk.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


class TestList:
    async def test_the_office_sees_the_application_and_filters_narrow_it(self, desk: DeskHarness) -> None:
        """The list shows the application; a status or time-limit filter that excludes it shows none."""
        app_id = await _office(desk)
        client = await desk.signed_in("R1")
        listed = await client.get("/rights")
        assert listed.status_code == 200 and f'href="/rights/{app_id}"' in listed.text and "暴力袭警" in listed.text
        assert f'href="/rights/{app_id}"' in (await client.get("/rights", params={"status": "submitted"})).text
        assert f'href="/rights/{app_id}"' not in (await client.get("/rights", params={"status": "accepted"})).text
        assert f'href="/rights/{app_id}"' not in (await client.get("/rights", params={"sla": "overdue"})).text
        assert f'href="/rights/{app_id}"' not in (await client.get("/rights", params={"kind": "insult"})).text
        tomorrow = (utcnow() + timedelta(days=2)).date().isoformat()
        assert f'href="/rights/{app_id}"' not in (await client.get("/rights", params={"since": tomorrow})).text
        assert await _count(desk, AuditEvent, AuditEvent.action == "rights.list") >= 5

    async def test_a_bad_date_is_refused_politely(self, desk: DeskHarness) -> None:
        """A date that is not YYYY-MM-DD is explained, and the list still shows."""
        await _office(desk)
        client = await desk.signed_in("R1")
        answer = await client.get("/rights", params={"since": "yesterday"})
        assert answer.status_code == 400 and "YYYY-MM-DD" in answer.text and "WQ-" in answer.text

    async def test_overdue_applications_show_in_the_overdue_filter(self, desk: DeskHarness) -> None:
        """An application whose acceptance limit has passed is listed under overdue and counted on the overview."""
        app_id = await _office(desk)
        async with desk.session() as session:
            application = await session.get(RightsApplication, app_id)
            assert application is not None
            application.accept_due_at = utcnow() - timedelta(hours=1)
        client = await desk.signed_in("R1")
        assert f'href="/rights/{app_id}"' in (await client.get("/rights", params={"sla": "overdue"})).text
        overview = await client.get("/")
        assert 'data-slot="rights"' in overview.text and "已超期限" in overview.text


class TestApplication:
    async def test_the_page_shows_the_account_evidence_hashes_and_custody(self, desk: DeskHarness) -> None:
        """The account, the photo inline, the document as a download, each hash and the custody log."""
        app_id = await _office(desk)
        client = await desk.signed_in("R1")
        shown = await client.get(f"/rights/{app_id}")
        assert shown.status_code == 200
        assert "处置纠纷时被当事人推倒并踢伤右腿。" in shown.text
        assert f'<img class="evidence-photo" src="/rights/{app_id}/evidence/1"' in shown.text
        assert f'/rights/{app_id}/evidence/2?download=1' in shown.text and "诊断证明.pdf" in shown.text
        import hashlib

        assert hashlib.sha256(PHOTO).hexdigest() in shown.text and hashlib.sha256(DOCUMENT).hexdigest() in shown.text
        assert "监管记录" in shown.text and "已保存" in shown.text
        assert await _count(desk, AuditEvent, AuditEvent.action == "rights.view") == 1

    async def test_files_come_through_the_audited_route_and_are_logged(self, desk: DeskHarness) -> None:
        """The photo is served inline (logged as viewed), the document as an attachment (logged as downloaded)."""
        app_id = await _office(desk)
        client = await desk.signed_in("R1")
        before = await _count(desk, RightsCustodyEvent)
        photo = await client.get(f"/rights/{app_id}/evidence/1")
        assert photo.status_code == 200 and photo.content == PHOTO and photo.headers["content-type"] == "image/png"
        assert photo.headers["content-disposition"].startswith("inline")
        document = await client.get(f"/rights/{app_id}/evidence/2")
        assert document.content == DOCUMENT and document.headers["content-disposition"].startswith("attachment")
        assert document.headers["content-type"] == "application/octet-stream"
        assert await _count(desk, RightsCustodyEvent) == before + 2
        async with desk.session() as session:
            actions = (await session.scalars(select(RightsCustodyEvent.action).order_by(RightsCustodyEvent.seq.desc()).limit(2))).all()
        assert set(actions) == {"viewed", "downloaded"}
        assert (await client.get(f"/rights/{app_id}/evidence/9")).status_code == 404

    async def test_accepting_tells_the_applicant_through_the_outbox(self, desk: DeskHarness) -> None:
        """Accept moves the application on and queues the push to the applicant, the bot's own way."""
        app_id = await _office(desk)
        client = await desk.signed_in("R1")
        done = await desk.post(client, f"/rights/{app_id}/accept", page=f"/rights/{app_id}")
        assert done.status_code == 303 and done.headers["location"] == f"/rights/{app_id}?done=accept"
        async with desk.session() as session:
            application = await session.get(RightsApplication, app_id)
            pushes = (await session.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key.like(f"rights:{app_id}:accepted:%")))).all()
        assert application is not None and application.status == "accepted"
        assert len(pushes) == 1 and pushes[0].kind == "rights" and "已受理" in pushes[0].payload["text"]
        page = await client.get(done.headers["location"])
        assert "已受理，并已告知申请人" in page.text
        assert await _count(desk, AuditEvent, AuditEvent.action == "rights.accepted") == 1
        assert await _count(desk, AuditEvent, AuditEvent.action == "desk.rights_step") == 1

    async def test_a_rejection_without_a_reason_is_refused_and_nothing_is_sent(self, desk: DeskHarness) -> None:
        """An empty reason is explained; the application stays submitted and the applicant hears nothing."""
        app_id = await _office(desk)
        client = await desk.signed_in("R1")
        before = await _count(desk, OutboxMessage)
        refused = await desk.post(client, f"/rights/{app_id}/reject", {"text": "  "}, page=f"/rights/{app_id}")
        assert refused.status_code == 400 and "请填写" in refused.text
        async with desk.session() as session:
            application = await session.get(RightsApplication, app_id)
        assert application is not None and application.status == "submitted"
        assert await _count(desk, OutboxMessage) == before

    async def test_a_step_the_status_does_not_allow_is_explained(self, desk: DeskHarness) -> None:
        """Closing an application not yet decided says why, keeping the page."""
        app_id = await _office(desk)
        client = await desk.signed_in("R1")
        refused = await desk.post(client, f"/rights/{app_id}/close", page=f"/rights/{app_id}")
        assert refused.status_code == 409 and "待受理" in refused.text

    async def test_a_request_for_more_keeps_the_typed_text_when_too_long(self, desk: DeskHarness) -> None:
        """A request over the limit is refused and shown back for shortening."""
        app_id = await _office(desk)
        client = await desk.signed_in("R1")
        long_text = "请补充现场视频。" * 400
        refused = await desk.post(client, f"/rights/{app_id}/request", {"text": long_text}, page=f"/rights/{app_id}")
        assert refused.status_code == 400 and long_text in refused.text

    async def test_a_form_without_its_csrf_token_is_refused(self, desk: DeskHarness) -> None:
        """A step posted without the session's token is refused and audited; nothing changes."""
        app_id = await _office(desk)
        client = await desk.signed_in("R1")
        refused = await client.post(f"/rights/{app_id}/accept", data={})
        assert refused.status_code == 403
        async with desk.session() as session:
            application = await session.get(RightsApplication, app_id)
        assert application is not None and application.status == "submitted"
        assert await _count(desk, AuditEvent, AuditEvent.action == "desk.csrf_refused") == 1


class TestAccess:
    async def test_supervisors_and_the_legal_brigade_are_refused(self, desk: DeskHarness) -> None:
        """Rights applications are for the rights office and administrators only (rights.access)."""
        app_id = await _office(desk)
        await desk.add_officer("S1", roles=("officer", "supervisor"), unit="城关派出所", parent="城关分局")
        await desk.add_officer("L1", roles=("officer", "legal"), unit="城关分局")
        for badge in ("S1", "L1"):
            client = await desk.signed_in(badge)
            assert (await client.get("/rights")).status_code == 403
            assert (await client.get(f"/rights/{app_id}/evidence/1")).status_code == 403
            assert 'href="/rights"' not in (await client.get("/")).text

    async def test_another_bureaus_rights_office_cannot_see_it(self, desk: DeskHarness) -> None:
        """A rights officer outside the applicant's unit chain neither lists nor opens the application."""
        app_id = await _office(desk)
        await desk.add_officer("R9", roles=("officer", "rights"), unit="另一分局")
        client = await desk.signed_in("R9")
        assert f'href="/rights/{app_id}"' not in (await client.get("/rights")).text
        assert (await client.get(f"/rights/{app_id}")).status_code == 404
        assert (await client.get(f"/rights/{app_id}/evidence/1")).status_code == 404
        refused = await desk.post(client, f"/rights/{app_id}/accept", page="/rights")
        assert refused.status_code in (403, 404)
        async with desk.session() as session:
            application = await session.get(RightsApplication, app_id)
        assert application is not None and application.status == "submitted"

    async def test_an_administrator_handles_it(self, desk: DeskHarness) -> None:
        """An administrator sees and acts on any application (not their own)."""
        app_id = await _office(desk)
        await desk.add_officer("A1", roles=("admin",), unit="城关分局")
        client = await desk.signed_in("A1")
        assert (await client.get(f"/rights/{app_id}")).status_code == 200
        done = await desk.post(client, f"/rights/{app_id}/note", {"text": "已联系医院。", "to_applicant": "true"},
                               page=f"/rights/{app_id}")
        assert done.status_code == 303
        async with desk.session() as session:
            shared = (await session.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key.like(f"rights:{app_id}:note:%")))).all()
        assert len(shared) == 1 and "已联系医院。" in shared[0].payload["text"]

    async def test_kept_overview_figures_are_not_shared_across_offices(self, desk: DeskHarness) -> None:
        """Two rights officers of one bureau, at different units, each see their own office's figures."""
        import re

        await _office(desk)
        await desk.add_officer("R2", roles=("officer", "rights"), unit="东关派出所", parent="城关分局")
        one, two = await desk.signed_in("R1"), await desk.signed_in("R2")  # signing in is a write: both first
        first, second = (await one.get("/")).text, (await two.get("/")).text
        opened = re.compile(r'panel-rights.*?<span class="num">(\d+)</span>', re.S)
        assert opened.search(first).group(1) == "1"  # type: ignore[union-attr]
        assert opened.search(second).group(1) == "0"  # type: ignore[union-attr]
