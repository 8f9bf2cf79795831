"""An application with everything shown beside it: applicant, units, handler, evidence, outcomes, timeline."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.identity import Officer, Unit, get_officer_by_id
from rights.models import RightsApplication, RightsEvent, RightsEvidence, RightsOutcome


@dataclass
class ApplicationView:
    """An application and the rows it is read with."""

    application: RightsApplication
    applicant: Officer
    applicant_unit: Unit
    office_unit: Unit | None
    handler: Officer | None
    evidence: list[RightsEvidence] = field(default_factory=list)
    outcomes: list[RightsOutcome] = field(default_factory=list)
    events: list[RightsEvent] = field(default_factory=list)

    @property
    def number(self) -> str:
        """Returns the application number."""
        return self.application.number


async def load_view(
    *, session: AsyncSession, application: RightsApplication, with_events: bool = False
) -> ApplicationView:
    """Loads what is shown with an application (no access check: callers check first)."""
    applicant = await get_officer_by_id(session=session, officer_id=application.applicant_id)
    assert applicant is not None  # a foreign key
    applicant_unit = await session.get(Unit, application.applicant_unit_id)
    assert applicant_unit is not None
    office_unit = await session.get(Unit, application.office_unit_id) if application.office_unit_id else None
    handler = (
        await get_officer_by_id(session=session, officer_id=application.handler_id)
        if application.handler_id
        else None
    )
    evidence = list(
        await session.scalars(
            select(RightsEvidence)
            .where(RightsEvidence.application_id == application.id)
            .order_by(RightsEvidence.ordinal)
        )
    )
    outcomes = list(
        await session.scalars(
            select(RightsOutcome).where(RightsOutcome.application_id == application.id).order_by(RightsOutcome.id)
        )
    )
    events: list[RightsEvent] = []
    if with_events:
        events = list(
            await session.scalars(
                select(RightsEvent).where(RightsEvent.application_id == application.id).order_by(RightsEvent.id)
            )
        )
    return ApplicationView(application, applicant, applicant_unit, office_unit, handler, evidence, outcomes, events)
