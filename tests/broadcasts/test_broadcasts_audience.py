"""Audiences: the spec, what it says in words, and exactly the officers it names."""

from __future__ import annotations

import pytest
from broadcast_helpers import badges_of
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts import audience
from broadcasts.audience import AudienceError, build, describe, head_count, parse, resolve
from core.db import transaction
from core.i18n import gettext_for
from core.identity import Officer


async def _names(
    db: async_sessionmaker[AsyncSession], world: dict[str, Officer], spec: str, exclude: str | None = "L1"
) -> set[str]:
    async with transaction(db) as session:
        found = await resolve(
            session=session,
            audience=parse(spec),
            exclude_officer_id=world[exclude].id if exclude else None,
        )
    return badges_of(world, [r.officer_id for r in found])


class TestParsing:
    def test_reads_every_kind_of_term_and_writes_it_back(self) -> None:
        """all, unit:, unit-only:, role: and +-joined terms survive a round trip; roles are lower-cased."""
        parsed = parse(" unit:城关分局 , unit-only:东关派出所,role:SUPERVISOR+unit:城关派出所,all")
        assert parsed.spec() == "unit:城关分局,unit-only:东关派出所,role:supervisor+unit:城关派出所,all"

    def test_takes_full_width_commas_and_colons(self) -> None:
        """Typed on a Chinese keyboard, ，and ：work as well."""
        assert parse("unit：城关分局，role：legal").spec() == "unit:城关分局,role:legal"

    def test_drops_repeated_terms_and_all_inside_a_term(self) -> None:
        """A term repeated is one term; "all" joined to a condition adds nothing to it."""
        assert parse("role:legal,role:legal,all+role:rights").spec() == "role:legal,role:rights"

    @pytest.mark.parametrize(
        ("spec", "code"),
        [
            ("", "empty"),
            (" , ", "empty"),
            ("everyone", "bad_term"),
            ("unit:", "bad_term"),
            ("role:chief", "bad_role"),
            ("unit:A+", "bad_term"),
            ("x" * 1001, "too_long"),
        ],
    )
    def test_refuses_a_bad_spec_naming_the_bad_part(self, spec: str, code: str) -> None:
        """Each mistake is reported with its own code and the part that was wrong."""
        with pytest.raises(AudienceError) as caught:
            parse(spec)
        assert caught.value.code == code

    def test_describes_an_audience_in_each_language(self) -> None:
        """The sender reads who gets the tip in words, not as a spec."""
        parsed = parse("unit:城关分局,unit-only:东关派出所+role:supervisor")
        zh = describe(parsed, gettext_for("zh"))
        en = describe(parsed, gettext_for("en"))
        assert "城关分局（含下级单位）" in zh and "督导" in zh
        assert en == "城关分局 (with sub-units); 东关派出所 (this unit only) and role: supervisor"

    def test_builds_the_spec_of_button_choices(self) -> None:
        """Units and roles chosen on buttons: roles within the units, or in addition to them."""
        units = [("城关分局", True), ("东关派出所", False)]
        within = build(units=units, roles=["supervisor"])
        assert within.spec() == "unit:城关分局+role:supervisor,unit-only:东关派出所+role:supervisor"
        besides = build(units=units, roles=["supervisor"], roles_within_units=False)
        assert besides.spec() == "unit:城关分局,unit-only:东关派出所,role:supervisor"
        assert build(everyone=True).spec() == "all"
        assert build(everyone=True, roles=["legal"]).spec() == "role:legal"
        with pytest.raises(AudienceError):
            build()


class TestResolution:
    async def test_a_unit_includes_its_sub_units_and_leaves_out_the_deactivated(
        self, db: async_sessionmaker[AsyncSession], world: dict[str, Officer]
    ) -> None:
        """unit:城关分局 is the sub-bureau, its stations and their teams; A5 is deactivated."""
        assert await _names(db, world, "unit:城关分局") == {"C1", "A1", "A2", "A3", "A4", "B1", "B2"}

    async def test_unit_only_leaves_out_the_sub_units(
        self, db: async_sessionmaker[AsyncSession], world: dict[str, Officer]
    ) -> None:
        """unit-only:城关派出所 is that station alone, not its community team; the not-enrolled A4 is in."""
        assert await _names(db, world, "unit-only:城关派出所") == {"A1", "A2", "A4"}

    async def test_roles_explicitly_held(self, db: async_sessionmaker[AsyncSession], world: dict[str, Officer]) -> None:
        """role:supervisor is the officers holding it; the legal sender is left out of role:legal."""
        assert await _names(db, world, "role:supervisor") == {"A2", "B2"}
        assert await _names(db, world, "role:legal") == {"L2"}

    async def test_joined_conditions_must_all_hold_and_terms_add_up(
        self, db: async_sessionmaker[AsyncSession], world: dict[str, Officer]
    ) -> None:
        """role:supervisor+unit:城关派出所 is A2 alone; a second term adds 东关派出所's officers."""
        assert await _names(db, world, "role:supervisor+unit:城关派出所") == {"A2"}
        assert await _names(db, world, "role:supervisor+unit:城关派出所,unit:东关派出所") == {"A2", "B1", "B2"}

    async def test_everyone_but_the_sender_and_the_deactivated(
        self, db: async_sessionmaker[AsyncSession], world: dict[str, Officer]
    ) -> None:
        """all is every active officer except the one sending."""
        everyone = await _names(db, world, "all")
        assert everyone == set(world) - {"L1", "A5"}
        assert "L1" in await _names(db, world, "all", exclude=None)

    async def test_an_unknown_unit_is_refused(
        self, db: async_sessionmaker[AsyncSession], world: dict[str, Officer]
    ) -> None:
        """A unit name nobody has is an error, not an empty audience."""
        with pytest.raises(AudienceError) as caught:
            await _names(db, world, "unit:西关派出所")
        assert (caught.value.code, caught.value.detail) == ("no_unit", "西关派出所")

    async def test_head_count_separates_enrolled_and_unreachable(
        self, db: async_sessionmaker[AsyncSession], world: dict[str, Officer]
    ) -> None:
        """The count shown before sending: how many, how many not enrolled yet, how many blocked the bot."""
        async with transaction(db) as session:
            blocked = await session.get(Officer, world["A1"].id)
            assert blocked is not None
            blocked.reachable = False
            count = await head_count(
                session=session, audience=audience.parse("unit-only:城关派出所"), exclude_officer_id=world["L1"].id
            )
        assert (count.total, count.enrolled, count.not_enrolled, count.unreachable) == (3, 2, 1, 1)
