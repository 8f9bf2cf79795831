"""Units, officers and the enrollment code rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import identity
from core.audit import AuditEvent
from core.identity import EnrollmentCode, EnrollOutcome, IdentityError, Role
from tests.conftest import MakeOfficer

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


class TestUnitsAndOfficers:
    async def test_units_form_a_tree(self, session: AsyncSession) -> None:
        """Units nest bureau -> station -> team, and a subtree query finds all below."""
        await identity.add_unit(session=session, name="城关分局")
        await identity.add_unit(session=session, name="城关派出所", parent="城关分局")
        team = await identity.add_unit(session=session, name="巡逻一组", parent="城关派出所")
        other = await identity.add_unit(session=session, name="法制大队")
        bureau = await identity.get_unit(session=session, name="城关分局")
        assert bureau is not None
        below = await identity.unit_subtree_ids(session=session, unit_ids=[bureau.id])
        assert team.id in below and other.id not in below

    async def test_unknown_parent_and_duplicates_are_refused(self, session: AsyncSession) -> None:
        """A unit needs an existing parent and a unique name."""
        with pytest.raises(IdentityError, match="no such parent"):
            await identity.add_unit(session=session, name="A", parent="nowhere")
        await identity.add_unit(session=session, name="A")
        with pytest.raises(IdentityError, match="already exists"):
            await identity.add_unit(session=session, name="A")

    async def test_officer_holds_several_roles_and_badges_are_unique(self, make_officer: MakeOfficer) -> None:
        """An officer can be legal and supervisor at once; a badge is used once."""
        officer = await make_officer(badge="2001", roles=("legal", "supervisor"))
        assert officer.roles == {Role.LEGAL, Role.SUPERVISOR}
        assert officer.has_role(Role.SUPERVISOR) and not officer.has_role(Role.RIGHTS)
        with pytest.raises(IdentityError, match="badge already exists"):
            await make_officer(badge="2001")

    async def test_unknown_role_is_refused(self, make_officer: MakeOfficer) -> None:
        """Only the five roles exist."""
        with pytest.raises(IdentityError, match="unknown role 'chief'"):
            await make_officer(badge="2002", roles=("chief",))

    async def test_supervisors_are_found_up_the_unit_tree(self, session: AsyncSession) -> None:
        """An officer's supervisors are the nearest ones up the tree."""
        await identity.add_unit(session=session, name="分局")
        await identity.add_unit(session=session, name="派出所", parent="分局")
        await identity.add_officer(session=session, badge="S1", name="局长", unit="分局", roles=["supervisor"])
        officer = await identity.add_officer(session=session, badge="O1", name="民警", unit="派出所")
        assert [s.badge for s in await identity.supervisors_of(session=session, officer=officer)] == ["S1"]
        await identity.add_officer(session=session, badge="S2", name="所长", unit="派出所", roles=["supervisor"])
        assert [s.badge for s in await identity.supervisors_of(session=session, officer=officer)] == ["S2"]


class TestEnrollmentCodes:
    async def test_code_binds_the_telegram_account_once(self, session: AsyncSession, make_officer: MakeOfficer) -> None:
        """A good code binds the account; the same code cannot be used again."""
        await make_officer(badge="3001")
        code = await identity.issue_code(session=session, badge="3001", hours=72, now=NOW)
        result = await identity.redeem_code(session=session, telegram_user_id=555, code=code.lower(), now=NOW)
        assert result.outcome is EnrollOutcome.ENROLLED
        assert result.officer is not None and result.officer.telegram_user_id == 555
        again = await identity.redeem_code(session=session, telegram_user_id=556, code=code, now=NOW)
        assert again.outcome is EnrollOutcome.USED
        bound = await identity.get_by_telegram(session=session, telegram_user_id=555)
        assert bound is not None and bound.badge == "3001"

    async def test_code_is_stored_hashed(self, session: AsyncSession, make_officer: MakeOfficer) -> None:
        """The plain code never reaches the database."""
        await make_officer(badge="3002")
        code = await identity.issue_code(session=session, badge="3002", now=NOW)
        stored = (await session.scalars(select(EnrollmentCode.code_hash))).all()
        assert stored == [identity.hash_code(code)]
        assert code not in stored[0]

    async def test_expired_code_is_refused(self, session: AsyncSession, make_officer: MakeOfficer) -> None:
        """A code works only until it expires."""
        await make_officer(badge="3003")
        code = await identity.issue_code(session=session, badge="3003", hours=1, now=NOW)
        late = NOW + timedelta(hours=1, seconds=1)
        result = await identity.redeem_code(session=session, telegram_user_id=7, code=code, now=late)
        assert result.outcome is EnrollOutcome.EXPIRED
        assert result.officer is None

    async def test_five_wrong_codes_lock_the_account_for_an_hour(
        self, session: AsyncSession, make_officer: MakeOfficer
    ) -> None:
        """After five wrong tries within an hour even the right code is refused until the hour passes."""
        await make_officer(badge="3004")
        code = await identity.issue_code(session=session, badge="3004", now=NOW)
        for minute in range(5):
            result = await identity.redeem_code(
                session=session, telegram_user_id=9, code="WRONG999", now=NOW + timedelta(minutes=minute)
            )
            assert result.outcome is EnrollOutcome.WRONG_CODE
        locked = await identity.redeem_code(session=session, telegram_user_id=9, code=code, now=NOW + timedelta(minutes=10))
        assert locked.outcome is EnrollOutcome.LOCKED
        assert locked.retry_after == timedelta(minutes=50)
        # Once the oldest failure is an hour old, the account may try again.
        later = await identity.redeem_code(session=session, telegram_user_id=9, code=code, now=NOW + timedelta(minutes=61))
        assert later.outcome is EnrollOutcome.ENROLLED

    async def test_deactivated_officer_cannot_enroll_or_get_codes(
        self, session: AsyncSession, make_officer: MakeOfficer
    ) -> None:
        """Deactivation voids outstanding codes and refuses new ones."""
        await make_officer(badge="3005")
        code = await identity.issue_code(session=session, badge="3005", now=NOW)
        await identity.deactivate(session=session, badge="3005")
        result = await identity.redeem_code(session=session, telegram_user_id=11, code=code, now=NOW)
        assert result.outcome is EnrollOutcome.INACTIVE
        with pytest.raises(IdentityError, match="deactivated"):
            await identity.issue_code(session=session, badge="3005", now=NOW)

    async def test_every_attempt_is_audited(self, session: AsyncSession, make_officer: MakeOfficer) -> None:
        """Issuing, failing and succeeding all leave audit events."""
        await make_officer(badge="3006")
        code = await identity.issue_code(session=session, badge="3006", now=NOW)
        await identity.redeem_code(session=session, telegram_user_id=12, code="AAAAAAAA", now=NOW)
        await identity.redeem_code(session=session, telegram_user_id=12, code=code, now=NOW)
        actions = (await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id))).all()
        assert actions[-3:] == ["enroll.code_issued", "enroll.wrong_code", "enroll.success"]

    def test_codes_are_easy_to_type(self) -> None:
        """Codes avoid look-alike characters and are recognised in messages."""
        codes = {identity.new_code() for _ in range(200)}
        assert len(codes) == 200
        assert all(identity.looks_like_code(c) for c in codes)
        assert not any(ch in c for c in codes for ch in "01OI")
        assert identity.looks_like_code("abcd efgh") and not identity.looks_like_code("取保候审最长多久")


class TestUnitChain:
    async def test_nearest_unit_upward_with_a_role_wins(self, session) -> None:
        """A station without a legal officer reaches its bureau's legal brigade, not another bureau's."""
        await identity.add_unit(session=session, name="城关分局")
        await identity.add_unit(session=session, name="城关派出所", parent="城关分局")
        await identity.add_unit(session=session, name="东区分局")
        await identity.add_officer(session=session, badge="1", name="甲", unit="城关派出所")
        await identity.add_officer(session=session, badge="2", name="乙", unit="城关分局", roles=["legal"])
        await identity.add_officer(session=session, badge="3", name="丙", unit="东区分局", roles=["legal"])
        asker = await identity.get_officer(session=session, badge="1")
        assert asker is not None
        found = await identity.nearest_with_role(session=session, unit_id=asker.unit_id, role=identity.Role.LEGAL)
        assert [o.badge for o in found] == ["2"]
        assert await identity.nearest_with_role(
            session=session, unit_id=asker.unit_id, role=identity.Role.RIGHTS
        ) == []
