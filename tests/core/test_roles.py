"""Changing an officer's roles, by hand and by a re-import, on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import schema
from core import identity, roster
from core.audit import AuditEvent
from core.db import make_engine, make_sessionmaker, transaction
from core.identity import IdentityError, Role
from core.tabular import read_table
from core.testing import throwaway_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a file SQLite database, then on a throw-away PostgreSQL one, with every table."""
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'roles.db'}"
        else:
            url = await stack.enter_async_context(throwaway_database(request.getfixturevalue("pg_url")))
        engine = make_engine(url)
        stack.push_async_callback(engine.dispose)
        async with engine.begin() as conn:
            await conn.run_sync(schema.load_models().create_all)
        async with transaction(make_sessionmaker(engine)) as session:
            await identity.add_unit(session=session, name="城关派出所")
            await identity.add_officer(session=session, badge="012345", name="张三", unit="城关派出所")
        yield make_sessionmaker(engine)


async def _roles(sessions: async_sessionmaker[AsyncSession], badge: str = "012345") -> frozenset[Role]:
    async with sessions() as session:
        officer = await identity.get_officer(session=session, badge=badge)
        assert officer is not None
        return officer.roles


class TestSetRoles:
    async def test_a_new_set_that_keeps_a_role_is_saved(self, db: async_sessionmaker[AsyncSession]) -> None:
        """officer -> officer + legal keeps the officer row and adds legal, in one committed transaction."""
        async with transaction(db) as session:
            officer = await identity.set_roles(session=session, badge="012345", roles=["officer", "legal"])
            assert officer.roles == {Role.OFFICER, Role.LEGAL}
        assert await _roles(db) == {Role.OFFICER, Role.LEGAL}

    async def test_roles_can_be_dropped_swapped_and_repeated(self, db: async_sessionmaker[AsyncSession]) -> None:
        """Any sequence of role sets ends with exactly the last one; setting the same set twice is harmless."""
        for wanted in (
            ["officer", "legal", "supervisor"],
            ["legal"],
            ["legal", "rights"],
            ["legal", "rights"],
            ["officer"],
        ):
            async with transaction(db) as session:
                await identity.set_roles(session=session, badge="012345", roles=wanted)
            assert await _roles(db) == {Role(r) for r in wanted}

    async def test_each_change_is_audited_with_before_and_after(self, db: async_sessionmaker[AsyncSession]) -> None:
        """The audit row names the roles before and after."""
        async with transaction(db) as session:
            await identity.set_roles(session=session, badge="012345", roles=["officer", "legal"])
        async with db() as session:
            event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "officer.roles"))
        assert event is not None and event.detail == {"before": ["officer"], "after": ["officer", "legal"]}

    async def test_an_unknown_badge_or_role_changes_nothing(self, db: async_sessionmaker[AsyncSession]) -> None:
        """A bad request is refused before anything is written."""
        with pytest.raises(IdentityError, match="no such officer"):
            async with transaction(db) as session:
                await identity.set_roles(session=session, badge="999", roles=["legal"])
        with pytest.raises(IdentityError, match="unknown role"):
            async with transaction(db) as session:
                await identity.set_roles(session=session, badge="012345", roles=["officer", "chief"])
        assert await _roles(db) == {Role.OFFICER}


class TestImportUpdatesRoles:
    async def test_a_reimport_that_keeps_a_role_and_adds_one_is_applied(
        self, db: async_sessionmaker[AsyncSession], tmp_path: Path
    ) -> None:
        """Importing an existing officer with officer;legal updates their roles instead of failing."""
        path = tmp_path / "officers.csv"
        path.write_text("badge,name,unit,roles\n012345,张三,城关派出所,officer;legal\n", encoding="utf-8")
        table = read_table(path)
        async with transaction(db) as session:
            report = await roster.import_officers(session=session, rows=table, header=table.header)
        assert report.ok and report.updated == ["012345"]
        assert await _roles(db) == {Role.OFFICER, Role.LEGAL}


class TestChineseRoleNames:
    def test_chinese_names_mean_the_same_roles(self) -> None:
        """民警, 法制, 维权, 督导/领导 and 管理员 are read as the five roles, in any usual separator."""
        assert identity.parse_roles(["民警、法制"]) == [Role.OFFICER, Role.LEGAL]
        assert identity.parse_roles(["维权；督导"]) == [Role.RIGHTS, Role.SUPERVISOR]
        assert identity.parse_roles(["领导/督导", "管理员"]) == [Role.SUPERVISOR, Role.ADMIN]
        assert identity.parse_roles(["Officer, LEGAL"]) == [Role.OFFICER, Role.LEGAL]
        assert identity.parse_roles([""]) == [Role.OFFICER]

    def test_an_unknown_name_lists_the_accepted_ones_in_both_languages(self) -> None:
        """The error says which names are accepted, English and Chinese."""
        with pytest.raises(IdentityError) as caught:
            identity.parse_roles(["民警", "所长助理"])
        assert str(caught.value) == (
            "unknown role '所长助理' (allowed: officer/民警, legal/法制, rights/维权, supervisor/督导, admin/管理员)"
        )

    async def test_an_import_with_chinese_headers_and_role_names_is_applied(
        self, db: async_sessionmaker[AsyncSession], tmp_path: Path
    ) -> None:
        """警号/姓名/单位/角色 with 民警、法制 adds and updates officers with those roles."""
        path = tmp_path / "officers.csv"
        path.write_text(
            "警号,姓名,单位,角色\n012345,张三,城关派出所,民警、法制\n012346,李四,城关派出所,督导\n", encoding="utf-8"
        )
        table = read_table(path)
        async with transaction(db) as session:
            report = await roster.import_officers(session=session, rows=table, header=table.header)
        assert report.ok, report.errors
        assert report.added == ["012346"] and report.updated == ["012345"]
        assert await _roles(db) == {Role.OFFICER, Role.LEGAL}
        assert await _roles(db, "012346") == {Role.SUPERVISOR}


class TestLanguageNames:
    async def test_chinese_language_names_import_and_a_change_is_audited(
        self, db: async_sessionmaker[AsyncSession], tmp_path: Path
    ) -> None:
        """语言 中文/英文 are read as zh/en; changing it updates the officer and is audited; 法语 is refused by line."""
        path = tmp_path / "officers.csv"
        path.write_text("警号,姓名,单位,语言\n012345,张三,城关派出所,英文\n012347,王五,城关派出所,中文\n", encoding="utf-8")
        table = read_table(path)
        async with transaction(db) as session:
            report = await roster.import_officers(session=session, rows=table, header=table.header)
        assert report.ok and report.updated == ["012345"] and report.added == ["012347"]
        async with db() as session:
            zhang = await identity.get_officer(session=session, badge="012345")
            wang = await identity.get_officer(session=session, badge="012347")
            event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "officer.update"))
        assert zhang is not None and zhang.language == "en"
        assert wang is not None and wang.language == "zh"
        assert event is not None and event.detail == {"language": ["zh", "en"]}
        path.write_text("警号,姓名,单位,语言\n012345,张三,城关派出所,法语\n", encoding="utf-8")
        table = read_table(path)
        async with transaction(db) as session:
            bad = await roster.import_officers(session=session, rows=table, header=table.header)
        assert [(e.line, e.reason) for e in bad.errors] == [(2, "unknown language '法语' (allowed: zh/中文, en/英文)")]
