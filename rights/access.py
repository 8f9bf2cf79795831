"""Who may see and act on an application: the one access check every read path goes through.

An application is seen by its applicant, by the rights officers of the unit chain above the
applicant (and above the office it was transferred to), and by administrators. Everyone else,
colleagues and supervisors included, is refused, and the refusal is audited. Every view is
audited too. The command line acts as an :class:`Operator`: someone with the server in hand, who
sees everything and is audited under the operator's name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from core import audit
from core.identity import Officer, Role, unit_chain_ids, unit_parents, unit_subtree_ids
from rights.models import RightsApplication


@dataclass(frozen=True)
class Operator:
    """Someone working on the server (the command line, a maintenance job)."""

    name: str = audit.CLI_ACTOR


Viewer = Officer | Operator


# how each kind of error reads on the command line (the bot words them for officers itself)
MESSAGES = {
    "not_found": "no such application: {detail}",
    "bad_state": "not possible now: the application is {detail}",
    "empty": "{detail} is empty",
    "too_long": "{detail} is too long",
    "too_many": "at most {detail} files at a time",
    "incomplete": "missing: {detail}",
    "bad_status": "unknown status: {detail}",
    "bad_format": "unknown format: {detail} (csv or xlsx)",
    "bad_period": "the period ends before it starts: {detail}",
    "bad_outcome": "unknown outcome: {detail}",
    "outcome_conflict": "not supported cannot stand beside other outcomes",
    "bad_handler": "that officer cannot handle this application",
    "bad_unit": "that unit has no rights office to transfer to",
    "bad_kind": "unknown kind of evidence: {detail}",
    "not_stored": "no stored file for {detail}",
    "bad_type": "unknown type of application: {detail}",
    "bad_sla": "unknown state of the time limits: {detail}",
}


class RightsError(Exception):
    """A request about an application that cannot be carried out; ``code`` says which kind."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(MESSAGES.get(code, "{detail}").format(detail=detail) if (detail or code in MESSAGES) else code)
        self.code = code
        self.detail = detail


class RightsForbidden(RightsError):
    """The viewer may not see or do this."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("forbidden", detail)


def actor_name(viewer: Viewer) -> str:
    """Returns the name a viewer is audited under (badge, or the operator's name)."""
    return viewer.badge if isinstance(viewer, Officer) else viewer.name


def officer_id_of(viewer: Viewer) -> int | None:
    """Returns the viewer's officer id, if the viewer is an officer."""
    return viewer.id if isinstance(viewer, Officer) else None


def is_admin(viewer: Viewer) -> bool:
    """Tells whether the viewer sees everything (an operator, or an officer with the admin role)."""
    return isinstance(viewer, Operator) or Role.ADMIN in viewer.roles


def is_rights_officer(viewer: Viewer) -> bool:
    """Tells whether the viewer holds the rights role (admins hold every role)."""
    return isinstance(viewer, Operator) or viewer.has_role(Role.RIGHTS)


async def office_chain(*, session: AsyncSession, application: RightsApplication) -> set[int]:
    """Returns the units whose rights officers may see an application: both chains, upward."""
    parents = await unit_parents(session=session)
    units = set(unit_chain_ids(parents, application.applicant_unit_id))
    if application.office_unit_id is not None:
        units.update(unit_chain_ids(parents, application.office_unit_id))
    return units


async def may_see(*, session: AsyncSession, viewer: Viewer, application: RightsApplication) -> bool:
    """Tells whether a viewer may see an application."""
    if is_admin(viewer):
        return True
    assert isinstance(viewer, Officer)  # not an operator
    if viewer.id == application.applicant_id:
        return True
    if not viewer.has_role(Role.RIGHTS):
        return False
    return viewer.unit_id in await office_chain(session=session, application=application)


async def may_handle(*, session: AsyncSession, viewer: Viewer, application: RightsApplication) -> bool:
    """Tells whether a viewer may act for the office on an application (never its own applicant)."""
    if isinstance(viewer, Officer) and viewer.id == application.applicant_id:
        return False
    if is_admin(viewer):
        return True
    assert isinstance(viewer, Officer)
    return viewer.has_role(Role.RIGHTS) and viewer.unit_id in await office_chain(
        session=session, application=application
    )


async def _refuse(
    *, session: AsyncSession, viewer: Viewer, application: RightsApplication, action: str, via: str
) -> RightsForbidden:
    await audit.record(
        session=session,
        actor=actor_name(viewer),
        action="rights.refused",
        target_type="rights_application",
        target_id=application.number,
        officer_id=officer_id_of(viewer),
        detail={"attempted": action, "via": via},
    )
    return RightsForbidden(f"{actor_name(viewer)} may not {action} {application.number}")


async def require_view(
    *,
    session: AsyncSession,
    viewer: Viewer,
    application: RightsApplication,
    via: str,
    what: str = "view",
    detail: dict[str, Any] | None = None,
) -> None:
    """Lets a viewer see an application, auditing the view; audits and raises RightsForbidden otherwise."""
    if not await may_see(session=session, viewer=viewer, application=application):
        raise await _refuse(session=session, viewer=viewer, application=application, action=what, via=via)
    await audit.record(
        session=session,
        actor=actor_name(viewer),
        action=f"rights.{what}",
        target_type="rights_application",
        target_id=application.number,
        officer_id=officer_id_of(viewer),
        detail={"via": via, **(detail or {})},
    )


async def require_handle(
    *, session: AsyncSession, viewer: Viewer, application: RightsApplication, action: str, via: str
) -> None:
    """Lets a viewer act for the office; audits and raises RightsForbidden otherwise."""
    if not await may_handle(session=session, viewer=viewer, application=application):
        raise await _refuse(session=session, viewer=viewer, application=application, action=action, via=via)


async def visible_filter(*, session: AsyncSession, viewer: Viewer, office: bool) -> ColumnElement[bool] | None:
    """Returns the condition on applications a viewer may see (None: all of them).

    ``office=True`` lists what the viewer sees as a rights officer (not their own applications).
    """
    if isinstance(viewer, Operator):
        return None if office else RightsApplication.id.is_(None)
    if is_admin(viewer):
        # an administrator sees every application, but handles none of their own
        return RightsApplication.applicant_id != viewer.id if office else RightsApplication.applicant_id == viewer.id
    if not office:
        return RightsApplication.applicant_id == viewer.id
    if not viewer.has_role(Role.RIGHTS):
        return RightsApplication.id.is_(None)  # nothing
    below = await unit_subtree_ids(session=session, unit_ids=[viewer.unit_id])
    return (RightsApplication.applicant_id != viewer.id) & or_(
        RightsApplication.applicant_unit_id.in_(below), RightsApplication.office_unit_id.in_(below)
    )


async def audit_listing(
    *, session: AsyncSession, viewer: Viewer, numbers: Iterable[str], via: str, detail: dict[str, Any] | None = None
) -> None:
    """Audits that a viewer was shown a list of applications."""
    await audit.record(
        session=session,
        actor=actor_name(viewer),
        action="rights.list",
        target_type="rights_application",
        officer_id=officer_id_of(viewer),
        detail={"via": via, "numbers": list(numbers), **(detail or {})},
    )
