"""The office's lists of applications: filtered, paged, with the state of their time limits.

Every list goes through :func:`rights.access.visible_filter` (what the viewer sees as a rights
officer) and is audited with the numbers it showed. The state of an application's time limits
(``sla``) is one of:

- ``overdue``: a limit that runs (the office is working on it) has passed;
- ``due_soon``: none has passed, one runs out within :data:`DUE_SOON`;
- ``on_time``: the clocks run and none is close;
- ``paused``: waiting for the applicant (the clocks stand still);
- ``none``: decided or ended (no clock runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from rights import access, sla
from rights.access import RightsError, Viewer
from rights.models import RUNNING_STATUSES, RightsApplication, Status
from rights.service import evidence_counts
from rights.vocab import TYPES

DUE_SOON = timedelta(days=2)
SLA_STATES = ("overdue", "due_soon", "on_time", "paused", "none")
DUE_COLUMNS = (RightsApplication.accept_due_at, RightsApplication.feedback_due_at, RightsApplication.decide_due_at)


def _running() -> ColumnElement[bool]:
    return RightsApplication.status.in_(sorted(s.value for s in RUNNING_STATUSES))


def _any_due_before(moment: datetime) -> ColumnElement[bool]:
    # A limit that does not run is NULL: compared as such it would make the negation unknown, not true.
    return or_(*(and_(column.is_not(None), column < moment) for column in DUE_COLUMNS))


def sla_condition(state: str, now: datetime) -> ColumnElement[bool]:
    """The condition on applications whose time limits are in a state (see the module's list)."""
    if state == "overdue":
        return and_(_running(), _any_due_before(now))
    if state == "due_soon":
        return and_(_running(), ~_any_due_before(now), _any_due_before(now + DUE_SOON))
    if state == "on_time":
        return and_(_running(), ~_any_due_before(now + DUE_SOON))
    if state == "paused":
        return RightsApplication.status == Status.WAITING.value
    if state == "none":
        return ~RightsApplication.status.in_(sorted({*(s.value for s in RUNNING_STATUSES), Status.WAITING.value}))
    raise RightsError("bad_sla", state)


def sla_state(application: RightsApplication, now: datetime) -> str:
    """The state of one application's time limits (as :func:`sla_condition` selects them)."""
    if application.status == Status.WAITING:
        return "paused"
    due = sla.next_due(application)
    if application.status not in RUNNING_STATUSES:
        return "none"
    if due is None:
        return "on_time"
    if due < now:
        return "overdue"
    return "due_soon" if due < now + DUE_SOON else "on_time"


@dataclass(frozen=True)
class OfficeFilter:
    """What the office's list is narrowed to (None or empty: no narrowing)."""

    statuses: Sequence[str] = ()
    kind: str | None = None
    unit_ids: Sequence[int] | None = None  # the applicant's unit among these
    submitted_from: datetime | None = None
    submitted_to: datetime | None = None
    sla_state: str | None = None

    def conditions(self, now: datetime) -> list[ColumnElement[bool]]:
        """The filter as SQL conditions; RightsError for an unknown status, kind or SLA state."""
        found: list[ColumnElement[bool]] = []
        if self.statuses:
            known = {status.value for status in Status}
            unknown = [s for s in self.statuses if s not in known]
            if unknown:
                raise RightsError("bad_status", ", ".join(unknown))
            found.append(RightsApplication.status.in_(list(self.statuses)))
        if self.kind:
            if self.kind not in TYPES:
                raise RightsError("bad_type", self.kind)
            found.append(RightsApplication.type == self.kind)
        if self.unit_ids is not None:
            found.append(RightsApplication.applicant_unit_id.in_(sorted(self.unit_ids)))
        if self.submitted_from is not None:
            found.append(RightsApplication.submitted_at >= self.submitted_from)
        if self.submitted_to is not None:
            found.append(RightsApplication.submitted_at < self.submitted_to)
        if self.sla_state:
            found.append(sla_condition(self.sla_state, now))
        return found


@dataclass
class OfficePage:
    """One page of the office's list."""

    applications: list[RightsApplication]
    total: int
    evidence: dict[int, int] = field(default_factory=dict)


async def office_page(
    *, session: AsyncSession, viewer: Viewer, via: str, now: datetime, narrowed: OfficeFilter,
    offset: int = 0, limit: int = 50,
) -> OfficePage:
    """Lists the applications a viewer handles as the office: overdue first, then by the soonest limit.

    The listing is audited with the numbers shown.
    """
    where = narrowed.conditions(now)
    visible = await access.visible_filter(session=session, viewer=viewer, office=True)
    if visible is not None:
        where.append(visible)
    total = await session.scalar(select(func.count()).select_from(RightsApplication).where(*where))
    # The soonest running limit (NULL when none runs), written without LEAST so SQLite reads it too.
    accept, feedback, decide = DUE_COLUMNS
    first_two = case((feedback.is_(None), accept), (accept.is_(None), feedback), (accept < feedback, accept), else_=feedback)
    soonest = case((decide.is_(None), first_two), (first_two.is_(None), decide), (first_two < decide, first_two), else_=decide)
    running_due = case((_running(), soonest), else_=None)
    rows = list(
        await session.scalars(
            select(RightsApplication)
            .where(*where)
            .order_by(running_due.is_(None), running_due, RightsApplication.submitted_at.desc(), RightsApplication.id.desc())
            .offset(offset)
            .limit(limit)
        )
    )
    await access.audit_listing(
        session=session, viewer=viewer, numbers=[r.number for r in rows], via=via,
        detail={"statuses": list(narrowed.statuses), "kind": narrowed.kind, "sla": narrowed.sla_state,
                "offset": offset},
    )
    counts = await evidence_counts(session=session, application_ids=[r.id for r in rows])
    return OfficePage(rows, int(total or 0), counts)


@dataclass
class OfficeFigures:
    """The office's open applications by status and by the state of their time limits."""

    by_status: dict[str, int]
    overdue: int
    due_soon: int
    most_urgent: list[RightsApplication]

    @property
    def open(self) -> int:
        """How many applications are open (not closed, rejected or withdrawn)."""
        return sum(self.by_status.values())


async def office_figures(
    *, session: AsyncSession, viewer: Viewer, now: datetime, unit_ids: Sequence[int] | None = None, urgent: int = 5
) -> OfficeFigures:
    """Counts the open applications a viewer handles, by status and time limits, with the most urgent."""
    where: list[ColumnElement[bool]] = [~RightsApplication.status.in_([Status.CLOSED.value, Status.REJECTED.value,
                                                                       Status.WITHDRAWN.value])]
    visible = await access.visible_filter(session=session, viewer=viewer, office=True)
    if visible is not None:
        where.append(visible)
    if unit_ids is not None:
        where.append(RightsApplication.applicant_unit_id.in_(sorted(unit_ids)))
    overdue_if = sla_condition("overdue", now)
    soon_if = sla_condition("due_soon", now)
    rows = (
        await session.execute(
            select(
                RightsApplication.status,
                func.count(),
                func.sum(case((overdue_if, 1), else_=0)),
                func.sum(case((soon_if, 1), else_=0)),
            )
            .where(*where)
            .group_by(RightsApplication.status)
        )
    ).all()
    by_status = {str(row[0]): int(row[1]) for row in rows}
    overdue = sum(int(row[2] or 0) for row in rows)
    due_soon = sum(int(row[3] or 0) for row in rows)
    candidates = list(
        await session.scalars(
            select(RightsApplication)
            .where(*where, or_(overdue_if, soon_if))
            .order_by(RightsApplication.submitted_at)
            .limit(200)
        )
    )
    candidates.sort(key=lambda a: (sla.next_due(a) or now, a.id))
    return OfficeFigures(by_status, overdue, due_soon, candidates[:urgent])
