"""Confidentiality: only the applicant, the rights officers of the unit chain and administrators see an
application; everyone else is refused and audited; every view is audited."""

from __future__ import annotations

import pytest
from rights_helpers import FakeFetcher, Org, SubmitApp, item, sha
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import AuditEvent
from core.settings import Settings
from rights import custody, service, sla
from rights.access import Operator, RightsError, RightsForbidden


async def _audits(session: AsyncSession, action: str) -> list[AuditEvent]:
    return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


class TestWhoSees:
    async def test_the_applicant_the_office_above_and_admins_see_it_and_each_view_is_audited(
        self, session: AsyncSession, org: Org, submit_app: SubmitApp
    ) -> None:
        """1001 (applicant), 6001/6003 (县局 office), 9900 (admin) and the command line open it; five audited views."""
        application = await submit_app()
        for viewer in (org.applicant, org.rights, org.rights2, org.admin, Operator()):
            view = await service.open_application(session=session, viewer=viewer, number=application.number, via="test")
            assert view.number == application.number
        views = await _audits(session, "rights.view")
        assert [v.actor for v in views] == ["1001", "6001", "6003", "9900", "cli"]
        assert all(v.target_id == application.number and v.detail["via"] == "test" for v in views)

    @pytest.mark.parametrize("who", ["colleague", "station_supervisor", "county_supervisor", "east_rights", "city_rights"])
    async def test_colleagues_supervisors_and_other_offices_are_refused_and_audited(
        self, session: AsyncSession, org: Org, submit_app: SubmitApp, who: str
    ) -> None:
        """A colleague, the station's and the county's supervisors, a rights officer of a sibling station and of
        another bureau: each is refused, and the refusal is audited with what was attempted."""
        application = await submit_app()
        viewer = getattr(org, who)
        with pytest.raises(RightsForbidden):
            await service.open_application(session=session, viewer=viewer, number=application.number, via="bot")
        with pytest.raises(RightsForbidden):
            await service.show_evidence(session=session, viewer=viewer, application_id=application.id, via="bot")
        with pytest.raises(RightsForbidden):
            await service.accept(session=session, settings=None, viewer=viewer, application_id=application.id, via="bot")  # type: ignore[arg-type]  # refused before settings are read
        refused = await _audits(session, "rights.refused")
        assert [(r.actor, r.detail["attempted"]) for r in refused] == [
            (viewer.badge, "view"), (viewer.badge, "view_evidence"), (viewer.badge, "accept")
        ]
        assert await _audits(session, "rights.view") == []

    async def test_a_download_is_checked_logged_and_refused_for_a_reference(
        self, session: AsyncSession, settings: Settings, org: Org, fetcher: FakeFetcher, submit_app: SubmitApp
    ) -> None:
        """The office downloads a stored photo (custody 'downloaded'); a colleague is refused; a file kept only as
        a reference cannot be downloaded."""
        application = await submit_app(evidence=[item(fetcher, "p", b"photo"), item(fetcher, "big", None, kind="video")])
        row, path = await service.download_evidence(session=session, settings=settings, viewer=org.rights,
                                                    application_id=application.id, ordinal=1, via="desk")
        assert path.read_bytes() == b"photo" and row.ordinal == 1
        log = await custody.entries(session=session, application_id=application.id)
        assert (log[-1].action, log[-1].actor, log[-1].sha256) == ("downloaded", "6001", sha(b"photo"))
        with pytest.raises(RightsForbidden):
            await service.download_evidence(session=session, settings=settings, viewer=org.colleague,
                                            application_id=application.id, ordinal=1, via="desk")
        with pytest.raises(RightsError) as reference:
            await service.download_evidence(session=session, settings=settings, viewer=org.rights,
                                            application_id=application.id, ordinal=2, via="desk")
        assert reference.value.code == "not_stored"

    async def test_the_applicant_cannot_handle_their_own_application(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """A rights officer who applies sees their application but cannot accept it for the office."""
        application = await submit_app(applicant=org.rights2)
        assert application.office_unit_id == org.rights.unit_id
        await service.open_application(session=session, viewer=org.rights2, number=application.number, via="t")
        with pytest.raises(RightsForbidden):
            await service.accept(session=session, settings=settings, viewer=org.rights2,
                                 application_id=application.id, via="t")
        listed = await service.search(session=session, viewer=org.rights2, via="t")
        assert listed == []
        assert [a.number for a in await service.search(session=session, viewer=org.rights, via="t")] == [
            application.number
        ]

    async def test_after_a_transfer_the_new_office_sees_it(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """市局's office is outside the chain until the application is transferred to it."""
        application = await submit_app()
        with pytest.raises(RightsForbidden):
            await service.open_application(session=session, viewer=org.city_rights, number=application.number, via="t")
        city = next(u for u in await service.transfer_targets(session=session, application=application) if u.name == "市局")
        await service.transfer(session=session, settings=settings, viewer=org.rights, application_id=application.id,
                               unit_id=city.id, reason="上级督办", via="t")
        view = await service.open_application(session=session, viewer=org.city_rights, number=application.number, via="t")
        assert view.office_unit is not None and view.office_unit.name == "市局"

    async def test_office_listings_show_only_the_chain_and_are_audited(
        self, session: AsyncSession, org: Org, submit_app: SubmitApp
    ) -> None:
        """东城派出所's office lists its own officer's application but not 城关's; listings are audited."""
        chengguan = await submit_app()
        dongcheng = await submit_app(applicant=org.east_officer)
        assert dongcheng.office_unit_id == org.east_rights.unit_id
        east = await service.search(session=session, viewer=org.east_rights, via="bot")
        county = await service.search(session=session, viewer=org.rights, via="bot")
        nobody = await service.search(session=session, viewer=org.colleague, via="bot")
        assert [a.number for a in east] == [dongcheng.number]
        assert [a.number for a in county] == [chengguan.number, dongcheng.number]
        assert nobody == []
        listings = await _audits(session, "rights.list")
        assert [(entry.actor, entry.detail["numbers"]) for entry in listings] == [
            ("6002", [dongcheng.number]), ("6001", [chengguan.number, dongcheng.number]), ("1002", []),
        ]

    async def test_only_rights_officers_at_or_above_a_unit_set_its_limits(
        self, session: AsyncSession, settings: Settings, org: Org
    ) -> None:
        """东城's rights officer may not set 县局's limits; 县局's may set 东城's; the refusal is audited."""
        with pytest.raises(RightsForbidden):
            await sla.set_unit_limits(session=session, settings=settings, viewer=org.east_rights, unit_name="县局", accept=2)
        await sla.set_unit_limits(session=session, settings=settings, viewer=org.rights, unit_name="东城派出所", accept=2)
        refused = await _audits(session, "rights.refused")
        assert refused[-1].actor == "6002" and refused[-1].target_id == "县局"
