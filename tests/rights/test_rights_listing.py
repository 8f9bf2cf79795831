"""The office's lists: the state of the time limits in SQL agrees with the one worked out in Python,
filters and paging, what each viewer sees, and the figures by status and time limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rights_helpers import Org, SubmitApp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import AuditEvent
from core.db import utcnow
from core.settings import Settings
from rights import listing, service
from rights.access import RightsError
from rights.listing import SLA_STATES, OfficeFilter
from rights.models import RightsApplication


async def _five(session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp) -> list[int]:
    """Five applications: overdue, due within a day, on time, waiting, closed."""
    now = utcnow()
    ids = [int((await submit_app(evidence=[])).id) for _ in range(5)]
    overdue, soon, on_time, waiting, closed = [await session.get(RightsApplication, i) for i in ids]
    assert overdue and soon and on_time and waiting and closed
    overdue.accept_due_at = now - timedelta(hours=2)
    soon.accept_due_at = now + timedelta(hours=20)
    on_time.status, on_time.accept_due_at, on_time.decide_due_at = "accepted", None, now + timedelta(days=20)
    waiting.status = "waiting"
    closed.status, closed.accept_due_at = "closed", None
    await session.commit()
    return ids


class TestStates:
    async def test_sql_and_python_agree_on_every_state(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """Each application falls in exactly one state, the same in the query as in sla_state."""
        ids = await _five(session, settings, org, submit_app)
        now = utcnow()
        expected = dict(zip(ids, ["overdue", "due_soon", "on_time", "paused", "none"], strict=True))
        for state in SLA_STATES:
            found = set(
                await session.scalars(select(RightsApplication.id).where(listing.sla_condition(state, now)))
            )
            assert found == {i for i, s in expected.items() if s == state}, state
        for application_id, state in expected.items():
            application = await session.get(RightsApplication, application_id)
            assert application is not None and listing.sla_state(application, now) == state

    async def test_an_unknown_state_or_type_is_refused(self, org: Org) -> None:
        """Filters name known states and types only."""
        with pytest.raises(RightsError) as bad_sla:
            OfficeFilter(sla_state="late").conditions(utcnow())
        assert bad_sla.value.code == "bad_sla"
        with pytest.raises(RightsError) as bad_type:
            OfficeFilter(kind="robbery").conditions(utcnow())
        assert bad_type.value.code == "bad_type"


class TestOfficePage:
    async def test_overdue_first_paged_and_audited(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """The office sees the overdue one first; pages hold what they should; each listing is audited."""
        ids = await _five(session, settings, org, submit_app)
        now = utcnow()
        first = await listing.office_page(session=session, viewer=org.rights, via="test", now=now,
                                          narrowed=OfficeFilter(), limit=2)
        assert first.total == 5 and [a.id for a in first.applications] == [ids[0], ids[1]]
        rest = await listing.office_page(session=session, viewer=org.rights, via="test", now=now,
                                         narrowed=OfficeFilter(), offset=2, limit=10)
        assert {a.id for a in rest.applications} == set(ids[2:])
        only = await listing.office_page(session=session, viewer=org.rights, via="test", now=now,
                                         narrowed=OfficeFilter(statuses=["waiting"]))
        assert [a.id for a in only.applications] == [ids[3]]
        audited = await session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "rights.list"))
        assert audited == 3

    async def test_other_offices_supervisors_and_the_applicant_see_none(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """Visibility is rights.access's: another root's office, a supervisor and the applicant list nothing here."""
        await _five(session, settings, org, submit_app)
        for viewer in (org.city_rights, org.county_supervisor, org.applicant):
            page = await listing.office_page(session=session, viewer=viewer, via="test", now=utcnow(),
                                             narrowed=OfficeFilter())
            assert page.total == 0 and page.applications == [], viewer.badge


class TestFigures:
    async def test_open_applications_by_status_and_time_limit(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """Four open (one of each kind), one overdue and one due soon; the most urgent listed first."""
        ids = await _five(session, settings, org, submit_app)
        figures = await listing.office_figures(session=session, viewer=org.rights, now=utcnow())
        assert figures.open == 4 and figures.by_status == {"submitted": 2, "accepted": 1, "waiting": 1}
        assert (figures.overdue, figures.due_soon) == (1, 1)
        assert [a.id for a in figures.most_urgent] == [ids[0], ids[1]]
        none = await listing.office_figures(session=session, viewer=org.city_rights, now=utcnow())
        assert none.open == 0 and none.most_urgent == []

    async def test_the_desk_serves_a_file_inline_as_viewed(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """A file shown in a page is logged as viewed; one taken away as downloaded."""
        application = await submit_app()
        _item, _path = await service.download_evidence(session=session, settings=settings, viewer=org.rights,
                                                       application_id=application.id, ordinal=1, via="test", inline=True)
        await service.download_evidence(session=session, settings=settings, viewer=org.rights,
                                        application_id=application.id, ordinal=2, via="test")
        from rights.models import RightsCustodyEvent

        actions = list(await session.scalars(select(RightsCustodyEvent.action).where(
            RightsCustodyEvent.application_id == application.id).order_by(RightsCustodyEvent.seq)))
        assert actions[-2:] == ["viewed", "downloaded"]
