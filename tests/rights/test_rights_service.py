"""Submitting an application and the office's workflow, on the service functions."""

from __future__ import annotations

import pytest
from rights_helpers import FakeFetcher, Org, SubmitApp, item, pushes, sha
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import AuditEvent
from core.settings import Settings
from rights import custody, service
from rights.access import Operator, RightsError
from rights.evidence import path_for
from rights.models import EvidenceStatus, RightsEvent, RightsEvidence, Status
from rights.service import Draft


class TestSubmit:
    async def test_numbers_by_year_and_routes_to_the_nearest_rights_office(
        self, session: AsyncSession, org: Org, submit_app: SubmitApp
    ) -> None:
        """Numbers run WQ-<year>-000001, 000002 …; 城关派出所 has no rights officer, so 县局's office gets it."""
        first = await submit_app()
        second = await submit_app(type_code="insult")
        year = first.submitted_at.year
        assert (first.number, second.number) == (f"WQ-{year}-000001", f"WQ-{year}-000002")
        assert first.office_unit_id == org.rights.unit_id
        assert first.status == Status.SUBMITTED and first.accept_due_at is not None
        assert first.limits == {"accept": 1}

    async def test_stores_evidence_by_hash_and_logs_its_custody(
        self, session: AsyncSession, settings: Settings, org: Org, fetcher: FakeFetcher, submit_app: SubmitApp
    ) -> None:
        """Each file lands under its SHA-256; a too-big one is kept as a reference; the log records all."""
        application = await submit_app(
            evidence=[
                item(fetcher, "ph1", b"photo one"),
                item(fetcher, "vid1", None, kind="video", declared_size=80_000_000),
                item(fetcher, "v1", b"OggS voice", kind="voice", purpose="account"),
            ]
        )
        rows = list(await session.scalars(select(RightsEvidence).order_by(RightsEvidence.ordinal)))
        assert [(r.ordinal, r.kind, r.status) for r in rows] == [
            (1, "photo", EvidenceStatus.STORED),
            (2, "video", EvidenceStatus.REFERENCE),
            (3, "voice", EvidenceStatus.STORED),
        ]
        assert rows[0].sha256 == sha(b"photo one")
        assert path_for(settings, sha(b"photo one")).read_bytes() == b"photo one"
        assert rows[1].reference_reason == "too_big" and rows[1].sha256 is None
        assert rows[2].purpose == "account"
        log = await custody.entries(session=session, application_id=application.id)
        assert [(e.action, e.evidence_id) for e in log] == [
            ("received", rows[0].id), ("stored", rows[0].id),
            ("received", rows[1].id), ("reference", rows[1].id),
            ("received", rows[2].id), ("stored", rows[2].id),
        ]
        report = await custody.verify(session=session, settings=settings, application=application)
        assert report.ok and report.files_checked == 2 and report.references == 1

    async def test_pushes_the_application_and_its_evidence_to_every_office_officer(
        self, session: AsyncSession, org: Org, fetcher: FakeFetcher, submit_app: SubmitApp
    ) -> None:
        """Both 县局 rights officers get the card with Accept/Open, then the photos as one album and the
        document; nobody else hears of it."""
        photos = [item(fetcher, f"ph{n}", f"photo {n}".encode()) for n in range(1, 4)]
        await submit_app(evidence=[*photos, item(fetcher, "d1", b"doc", kind="document")])
        for officer in (org.rights, org.rights2):
            rows = await pushes(session, officer)
            assert len(rows) == 3
            card, album, document = rows
            assert "新的维权申请" in card.payload["text"] and "张三" in card.payload["text"]
            assert card.urgent
            texts = [b["text"] for row in card.payload["buttons"] for b in row]
            assert any("受理" in t for t in texts) and any("查看" in t for t in texts)
            assert [m["file_id"] for m in album.payload["media"]] == ["ph1", "ph2", "ph3"]
            assert [m["kind"] for m in document.payload["media"]] == ["document"]
            assert album.not_before > card.not_before
        for bystander in (org.colleague, org.station_supervisor, org.county_supervisor, org.east_rights):
            assert await pushes(session, bystander) == []

    async def test_a_rights_officer_applying_goes_to_the_office_above_them(
        self, session: AsyncSession, org: Org, submit_app: SubmitApp
    ) -> None:
        """东城派出所's only rights officer applies: the office of 县局 above handles it, not themselves."""
        application = await submit_app(applicant=org.east_rights)
        assert application.office_unit_id == org.rights.unit_id

    async def test_with_no_rights_office_up_the_chain_the_administrators_are_told(
        self, session: AsyncSession, settings: Settings, org: Org
    ) -> None:
        """An officer of a unit with no rights office above it: the application is kept, its applicant is told
        so, and the administrators get a push (without the facts) to give someone the rights role."""
        from core import identity
        from rights.render import next_step
        from rights.views import load_view

        await identity.add_unit(session=session, name="乡镇派出所")
        lonely = await identity.add_officer(session=session, badge="3001", name="孤", unit="乡镇派出所")
        application = await service.submit(
            session=session, settings=settings, applicant=lonely, draft=Draft(type="threat", account="被威胁")
        )
        assert application.office_unit_id is None and application.accept_due_at is not None
        view = await load_view(session=session, application=application)
        assert "尚未设置维权办公室" in next_step(view, "zh", settings.tz)
        told = await pushes(session, org.admin)
        assert len(told) == 1 and "均无维权办公室" in told[0].payload["text"]
        assert application.number in told[0].payload["text"]
        assert "被威胁" not in told[0].payload["text"]

    async def test_an_incomplete_draft_is_refused_and_writes_nothing(
        self, session: AsyncSession, settings: Settings, org: Org
    ) -> None:
        """No type or no account: a RightsError naming what is missing, and no application."""
        with pytest.raises(RightsError) as caught:
            await service.submit(session=session, settings=settings, applicant=org.applicant, draft=Draft())
        assert caught.value.code == "incomplete"
        assert "the type" in caught.value.detail and "what happened" in caught.value.detail

    async def test_submitting_the_same_draft_twice_gives_the_one_application(
        self, session: AsyncSession, settings: Settings, org: Org
    ) -> None:
        """A double tap on 提交: the second call returns the first application; nothing is pushed twice."""
        draft = Draft(type="insult", account="被辱骂")
        first = await service.submit(session=session, settings=settings, applicant=org.applicant, draft=draft)
        again = await service.submit(session=session, settings=settings, applicant=org.applicant,
                                     draft=Draft.from_json(draft.to_json()))
        assert again.id == first.id
        assert len(await pushes(session, org.rights)) == 1
        other = await service.submit(session=session, settings=settings, applicant=org.applicant,
                                     draft=Draft(type="insult", account="又被辱骂"))
        assert other.number.endswith("000002")

    async def test_a_draft_round_trips_through_json(self, fetcher: FakeFetcher) -> None:
        """The conversation state keeps the draft as JSON and gets the same draft back."""
        draft = Draft(type="threat", place="x", help_wanted=["legal_aid", "bogus"], evidence=[item(fetcher, "a", b"1")])
        again = Draft.from_json(draft.to_json())
        assert again.type == "threat" and again.help_wanted == ["legal_aid"]
        assert again.evidence[0].file_id == "a"


class TestWorkflow:
    async def test_accept_investigate_decide_close_tell_the_applicant_each_step(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """Every change is a timeline event, an audit record and a push to the applicant."""
        application = await submit_app()
        app_id = application.id
        await service.accept(session=session, settings=settings, viewer=org.rights, application_id=app_id, via="test")
        assert application.handler_id == org.rights.id
        assert application.feedback_due_at is not None and application.decide_due_at is not None
        await service.start_investigation(
            session=session, settings=settings, viewer=org.rights, application_id=app_id, via="test"
        )
        await service.decide(
            session=session, settings=settings, viewer=org.rights, application_id=app_id, outcome="referral",
            detail="城公(刑)立字〔2026〕88号", via="test",
        )
        await service.decide(
            session=session, settings=settings, viewer=org.rights, application_id=app_id, outcome="care",
            detail=None, via="test",
        )
        assert application.first_feedback_at is not None and application.feedback_due_at is None
        await service.close(session=session, settings=settings, viewer=org.rights, application_id=app_id, via="test")
        await session.commit()
        assert application.status == Status.CLOSED and application.ended_at is not None
        assert application.decide_due_at is None
        kinds = list(await session.scalars(select(RightsEvent.kind).order_by(RightsEvent.id)))
        assert kinds == ["submitted", "accepted", "investigating", "decided", "decided", "closed"]
        texts = [row.payload["text"] for row in await pushes(session, org.applicant)]
        assert len(texts) == 5
        assert "已受理" in texts[0] and "核查" in texts[1]
        assert "移送追责" in texts[2] and "城公(刑)立字〔2026〕88号" in texts[2]
        assert "已办结" in texts[4]
        actions = set(await session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("rights.%"))))
        assert {"rights.submitted", "rights.accepted", "rights.decided", "rights.closed"} <= actions

    async def test_not_supported_excludes_other_outcomes_and_needs_a_reason(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """不予支持 needs its reason and cannot stand beside another outcome."""
        application = await submit_app()
        await service.accept(session=session, settings=settings, viewer=org.rights, application_id=application.id, via="t")
        with pytest.raises(RightsError) as empty:
            await service.decide(session=session, settings=settings, viewer=org.rights, application_id=application.id,
                                 outcome="not_supported", detail="  ", via="t")
        assert empty.value.code == "empty"
        await service.decide(session=session, settings=settings, viewer=org.rights, application_id=application.id,
                             outcome="legal_aid", detail=None, via="t")
        with pytest.raises(RightsError) as conflict:
            await service.decide(session=session, settings=settings, viewer=org.rights, application_id=application.id,
                                 outcome="not_supported", detail="事实不成立", via="t")
        assert conflict.value.code == "outcome_conflict"

    async def test_actions_out_of_order_are_refused(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """Closing before a decision, or accepting twice, is a bad_state error naming the status."""
        application = await submit_app()
        with pytest.raises(RightsError) as early:
            await service.close(session=session, settings=settings, viewer=org.rights, application_id=application.id, via="t")
        assert (early.value.code, early.value.detail) == ("bad_state", "submitted")
        await service.accept(session=session, settings=settings, viewer=org.rights, application_id=application.id, via="t")
        with pytest.raises(RightsError):
            await service.accept(session=session, settings=settings, viewer=org.rights, application_id=application.id, via="t")

    async def test_more_information_round_trip_pauses_and_resumes(
        self, session: AsyncSession, settings: Settings, org: Org, fetcher: FakeFetcher, submit_app: SubmitApp
    ) -> None:
        """A request makes it wait (feedback given); the reply with a new photo brings it back to where it was,
        the office hears of it with the photo."""
        application = await submit_app()
        app_id = application.id
        await service.accept(session=session, settings=settings, viewer=org.rights, application_id=app_id, via="t")
        await service.request_more(session=session, settings=settings, viewer=org.rights, application_id=app_id,
                                   text="请补充伤情照片", via="t")
        assert application.status == Status.WAITING and application.waiting_since is not None
        request_push = (await pushes(session, org.applicant))[-1]
        assert "请补充伤情照片" in request_push.payload["text"]
        assert any("回复" in b["text"] for row in request_push.payload["buttons"] for b in row)
        with pytest.raises(RightsError):
            await service.reply(session=session, settings=settings, applicant=org.colleague, application_id=app_id,
                                text="not mine", fetcher=fetcher)
        await service.reply(session=session, settings=settings, applicant=org.applicant, application_id=app_id,
                            text="伤情照片已补充", evidence=[item(fetcher, "ph9", b"injury")], fetcher=fetcher)
        await session.commit()
        assert application.status == Status.ACCEPTED and application.waiting_since is None
        rows = list(await session.scalars(select(RightsEvidence).where(RightsEvidence.application_id == app_id)))
        assert [r.ordinal for r in rows] == [1, 2, 3] and rows[-1].event_id is not None
        office = await pushes(session, org.rights)
        assert "伤情照片已补充" in office[-2].payload["text"]
        assert office[-1].payload["media"][0]["file_id"] == "ph9"
        refused = await session.scalar(select(AuditEvent).where(AuditEvent.action == "rights.refused"))
        assert refused is not None and refused.actor == "1002"

    async def test_withdraw_by_the_applicant_tells_the_handler(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """Withdrawing ends the application; the handler is told; withdrawing again is refused."""
        application = await submit_app()
        await service.accept(session=session, settings=settings, viewer=org.rights2, application_id=application.id, via="t")
        await service.withdraw(session=session, settings=settings, applicant=org.applicant, application_id=application.id)
        assert application.status == Status.WITHDRAWN and application.ended_at is not None
        assert "撤回" in (await pushes(session, org.rights2))[-1].payload["text"]
        with pytest.raises(RightsError):
            await service.withdraw(session=session, settings=settings, applicant=org.applicant,
                                   application_id=application.id)

    async def test_transfer_passes_it_with_evidence_to_another_office(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """Transferred to 东城派出所's office: its officer gets the card and the evidence; the handler is cleared."""
        application = await submit_app()
        await service.accept(session=session, settings=settings, viewer=org.rights, application_id=application.id, via="t")
        targets = await service.transfer_targets(session=session, application=application)
        assert {u.name for u in targets} == {"东城派出所", "市局"}
        east = next(u for u in targets if u.name == "东城派出所")
        await service.transfer(session=session, settings=settings, viewer=org.rights, application_id=application.id,
                               unit_id=east.id, reason="案发地在东城辖区", via="t")
        assert application.office_unit_id == east.id and application.handler_id is None
        rows = await pushes(session, org.east_rights)
        assert "转交" in rows[0].payload["text"] and "案发地在东城辖区" in rows[0].payload["text"]
        assert any(r.payload.get("media") for r in rows)

    async def test_assign_makes_another_office_officer_the_handler(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """Only the office's rights officers can be handler; the new one is told."""
        application = await submit_app()
        with pytest.raises(RightsError):
            await service.assign(session=session, settings=settings, viewer=org.rights,
                                 application_id=application.id, handler_id=org.colleague.id, via="t")
        await service.assign(session=session, settings=settings, viewer=Operator(),
                             application_id=application.id, handler_id=org.rights2.id, via="cli")
        assert application.handler_id == org.rights2.id
        assert "承办人" in (await pushes(session, org.rights2))[-1].payload["text"]

    async def test_a_stored_file_that_vanished_before_submitting_is_fetched_again(
        self, session: AsyncSession, settings: Settings, org: Org, fetcher: FakeFetcher, submit_app: SubmitApp
    ) -> None:
        """A draft's file swept from the store is downloaded again at submission."""
        stored = item(fetcher, "ph1", b"photo one", sha256=sha(b"photo one"), size=9)
        await submit_app(evidence=[stored])
        assert fetcher.calls == ["ph1"]
        assert path_for(settings, sha(b"photo one")).exists()
