"""The custody log: hash-chained, append-only, and re-checked against the stored files."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rights_helpers import FakeFetcher, Org, SubmitApp, item, sha
from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core import identity
from core.db import make_engine, make_sessionmaker, transaction
from core.migrate import upgrade_url
from core.settings import Settings
from rights import custody, service
from rights.access import Operator, RightsError
from rights.evidence import path_for
from rights.models import RightsApplication, RightsCustodyEvent, RightsEvent, RightsEvidence
from rights.service import Draft


def _tamper(path: Path, content: bytes) -> None:
    os.chmod(path, 0o640)  # the store keeps evidence read-only
    path.write_bytes(content)


class TestVerify:
    async def test_a_changed_file_is_caught(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """Rewriting a stored photo makes verify report it by its number, with both hashes."""
        application = await submit_app()
        assert (await custody.verify(session=session, settings=settings, application=application)).ok
        _tamper(path_for(settings, sha(b"photo one")), b"photo one, retouched")
        report = await custody.verify(session=session, settings=settings, application=application)
        assert not report.ok
        assert len(report.problems) == 1 and report.problems[0].startswith("evidence #1: the file was changed")

    async def test_a_deleted_file_is_caught(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """A stored file gone from the store is reported missing."""
        application = await submit_app()
        path_for(settings, sha(b"%PDF medical report")).unlink()
        report = await custody.verify(session=session, settings=settings, application=application)
        assert report.problems == [f"evidence #2: the file is missing from the evidence store "
                                   f"({path_for(settings, sha(b'%PDF medical report'))})"]

    async def test_an_altered_entry_or_recorded_hash_is_caught(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp
    ) -> None:
        """Changing an entry's detail breaks its hash; swapping the evidence row's hash (with a matching file)
        no longer agrees with the log."""
        application = await submit_app()
        entry = (await custody.entries(session=session, application_id=application.id))[0]
        entry.actor = "someone else"
        await session.flush()
        swapped = b"a different photo"
        target = path_for(settings, sha(swapped))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(swapped)
        await session.execute(
            update(RightsEvidence).where(RightsEvidence.ordinal == 1).values(sha256=sha(swapped))
        )
        app_id = application.id
        session.expire_all()
        application = await session.get(RightsApplication, app_id)
        assert application is not None
        report = await custody.verify(session=session, settings=settings, application=application)
        assert any("entry 1 (received) was altered" in p for p in report.problems)
        assert any("evidence #1: its recorded SHA-256 differs from the custody log" in p for p in report.problems)

    async def test_views_and_dossiers_extend_the_chain(
        self, session: AsyncSession, settings: Settings, org: Org, submit_app: SubmitApp, tmp_path: Path
    ) -> None:
        """Showing the evidence adds a 'viewed' entry per item; a dossier adds 'exported'; the chain still holds."""
        application = await submit_app()
        await service.show_evidence(session=session, viewer=org.rights, application_id=application.id, via="t",
                                    send_to=org.rights)
        await service.make_dossier(session=session, settings=settings, viewer=Operator(), number=application.number,
                                   path=tmp_path / "d.docx", language="zh", via="t")
        actions = [e.action for e in await custody.entries(session=session, application_id=application.id)]
        assert actions == ["received", "stored", "received", "stored", "viewed", "viewed", "exported"]
        assert (await custody.verify(session=session, settings=settings, application=application)).ok

    async def test_the_same_content_twice_is_stored_once(
        self, session: AsyncSession, settings: Settings, org: Org, fetcher: FakeFetcher, submit_app: SubmitApp
    ) -> None:
        """Two file ids with the same bytes share one stored file (content addressing)."""
        await submit_app(evidence=[item(fetcher, "a", b"same"), item(fetcher, "b", b"same")])
        rows = list(await session.scalars(select(RightsEvidence)))
        assert {r.sha256 for r in rows} == {sha(b"same")}
        assert len(list(path_for(settings, sha(b"same")).parent.iterdir())) == 1


@pytest.fixture
async def migrated(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A SQLite database built by the migrations (so the append-only triggers exist)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    await upgrade_url(url)
    engine = make_engine(url)
    yield engine
    await engine.dispose()


async def _one_application(engine: AsyncEngine, settings: Settings) -> int:
    sessions = make_sessionmaker(engine)
    async with transaction(sessions) as session:
        await identity.add_unit(session=session, name="局")
        officer = await identity.add_officer(session=session, badge="1", name="甲", unit="局")
        await identity.add_officer(session=session, badge="2", name="乙", unit="局", roles=("rights",))
        fetcher = FakeFetcher()
        draft = Draft(type="insult", account="被辱骂", evidence=[item(fetcher, "x", b"x")])
        application = await service.submit(session=session, settings=settings, applicant=officer, draft=draft,
                                           fetcher=fetcher)
        return application.id


class TestAppendOnly:
    async def test_the_database_refuses_to_change_or_delete_custody_entries_or_evidence(
        self, migrated: AsyncEngine, settings: Settings
    ) -> None:
        """On a migrated database UPDATE and DELETE of custody entries, and DELETE of evidence, fail."""
        await _one_application(migrated, settings)
        for statement in (
            "UPDATE rights_custody SET actor = 'x'",
            "DELETE FROM rights_custody",
            "DELETE FROM rights_evidence",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                async with migrated.begin() as conn:
                    await conn.execute(text(statement))
        async with migrated.begin() as conn:
            await conn.execute(text("UPDATE rights_evidence SET status = 'purged'"))  # retention may mark it


@pytest.fixture
async def pg_engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    """A throw-away PostgreSQL database with the migrations applied."""
    name = f"frontline_rights_{uuid.uuid4().hex[:8]}"
    admin = make_engine(pg_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    await upgrade_url(url)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


class TestPostgres:
    async def test_a_double_tap_on_submit_gives_one_application(self, pg_engine: AsyncEngine, settings: Settings) -> None:
        """The same draft submitted twice at once, in two transactions: one application, one number."""
        sessions = make_sessionmaker(pg_engine)
        async with transaction(sessions) as session:
            await identity.add_unit(session=session, name="局")
            await identity.add_officer(session=session, badge="1", name="甲", unit="局")
            await identity.add_officer(session=session, badge="2", name="乙", unit="局", roles=("rights",))
        draft = Draft(type="insult", account="被辱骂")

        async def submit() -> str:
            async with transaction(sessions) as session:
                officer = await identity.get_officer(session=session, badge="1")
                assert officer is not None
                application = await service.submit(
                    session=session, settings=settings, applicant=officer, draft=Draft.from_json(draft.to_json())
                )
                return application.number

        numbers = await asyncio.gather(submit(), submit())
        assert numbers[0] == numbers[1]
        async with sessions() as session:
            assert list(await session.scalars(select(RightsApplication.number))) == [numbers[0]]

    async def test_two_officers_accepting_at_once_accept_once(self, pg_engine: AsyncEngine, settings: Settings) -> None:
        """Two office officers press 受理 together: one accepts, the other is told it moved on (bad_state)."""
        app_id = await _one_application(pg_engine, settings)
        sessions = make_sessionmaker(pg_engine)
        async with transaction(sessions) as session:
            await identity.add_officer(session=session, badge="3", name="丙", unit="局", roles=("rights",))

        async def accept(badge: str) -> str:
            try:
                async with transaction(sessions) as session:
                    officer = await identity.get_officer(session=session, badge=badge)
                    assert officer is not None
                    await service.accept(session=session, settings=settings, viewer=officer, application_id=app_id,
                                         via="t")
                    return "accepted"
            except RightsError as error:
                return error.code

        assert sorted(await asyncio.gather(accept("2"), accept("3"))) == ["accepted", "bad_state"]
        async with sessions() as session:
            events = list(await session.scalars(select(RightsEvent.kind).where(RightsEvent.application_id == app_id)))
        assert events.count("accepted") == 1

    async def test_concurrent_appends_keep_one_unbroken_chain(self, pg_engine: AsyncEngine, settings: Settings) -> None:
        """Twenty views at once from separate transactions: every entry gets its own number and the chain holds."""
        app_id = await _one_application(pg_engine, settings)
        sessions = make_sessionmaker(pg_engine)

        async def view(n: int) -> None:
            async with transaction(sessions) as session:
                application = await session.get(RightsApplication, app_id)
                assert application is not None
                await custody.append(session=session, application=application, actor=f"v{n}", action=custody.VIEWED)

        await asyncio.gather(*(view(n) for n in range(20)))
        async with sessions() as session:
            application = await session.get(RightsApplication, app_id)
            assert application is not None
            seqs = list(await session.scalars(select(RightsCustodyEvent.seq).order_by(RightsCustodyEvent.seq)))
            assert seqs == list(range(1, 23))
            assert (await custody.verify(session=session, settings=settings, application=application)).ok
        with pytest.raises(DBAPIError, match="append-only"):
            async with pg_engine.begin() as conn:
                await conn.execute(text("DELETE FROM rights_custody"))
