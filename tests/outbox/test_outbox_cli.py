"""``frontline outbox status|retry-dead`` and the worker entry points."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from outbox_helpers import FakeMessenger, create_outbox_tables
from sqlalchemy import select
from typer.testing import CliRunner

import cli
from core import heartbeat, identity, outbox
from core.commands_outbox import outbox_app, run_worker
from core.db import make_engine, make_sessionmaker, transaction
from core.outbox import DeliveryOptions, OutboxMessage
from core.settings import Settings, load_settings

runner = CliRunner()


async def _seed(url: str) -> None:
    engine = make_engine(url)
    await create_outbox_tables(engine)
    sessions = make_sessionmaker(engine)
    async with transaction(sessions) as session:
        await identity.add_unit(session=session, name="一中队")
        officer = await identity.add_officer(session=session, badge="1001", name="张三", unit="一中队")
        officer.telegram_user_id = 11
        await session.flush()
        for key, status, error in (
            ("a", "dead", "Bad Request: can't parse entities"),
            ("b", "dead", "x"),
            ("c", None, None),
        ):
            row = await outbox.enqueue(
                session=session, officer_id=officer.id, text=key, kind="reminder", dedupe_key=key
            )
            assert row is not None
            if status:
                row.status, row.last_error, row.attempts = status, error, 8
    await engine.dispose()


async def _statuses(url: str) -> dict[str, str]:
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session:
        rows = (await session.scalars(select(OutboxMessage))).all()
    await engine.dispose()
    return {r.dedupe_key: r.status for r in rows}


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A seeded SQLite file the CLI finds through FRONTLINE_DATABASE_URL."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    asyncio.run(_seed(url))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FRONTLINE_DATABASE_URL", url)
    monkeypatch.delenv("FRONTLINE_BOT_TOKEN", raising=False)
    return url


class TestOutboxCommands:
    def test_status_shows_counts_and_dead_rows_with_their_errors(self, cli_db: str) -> None:
        """An admin sees how many rows are where, and why the dead ones died."""
        result = runner.invoke(outbox_app, ["status"])
        assert result.exit_code == 0, result.output
        assert "dead     reminder           2" in result.output
        assert "pending  reminder           1" in result.output
        assert "can't parse entities" in result.output

    def test_retry_dead_by_id_and_all(self, cli_db: str) -> None:
        """--id requeues one row, --all the rest."""

        async def dead_ids() -> list[int]:
            engine = make_engine(cli_db)
            async with make_sessionmaker(engine)() as session:
                found = [r.id for r in await outbox.list_dead(session=session)]
            await engine.dispose()
            return sorted(found)

        first, _second = asyncio.run(dead_ids())
        one = runner.invoke(outbox_app, ["retry-dead", "--id", str(first)])
        assert one.exit_code == 0, one.output
        assert "1 dead row(s)" in one.output
        assert asyncio.run(_statuses(cli_db)) == {"a": "pending", "b": "dead", "c": "pending"}
        rest = runner.invoke(outbox_app, ["retry-dead", "--all"])
        assert "1 dead row(s)" in rest.output
        assert set(asyncio.run(_statuses(cli_db)).values()) == {"pending"}

    def test_retry_dead_without_a_choice_is_refused(self, cli_db: str) -> None:
        """Neither --id nor --all: exit 2 with a hint, nothing changed."""
        result = runner.invoke(outbox_app, ["retry-dead"])
        assert result.exit_code == 2
        assert "--all" in result.output
        assert asyncio.run(_statuses(cli_db))["a"] == "dead"

    def test_the_worker_needs_a_bot_token(self, cli_db: str) -> None:
        """Without FRONTLINE_BOT_TOKEN `frontline worker` exits 2 with one line."""
        result = runner.invoke(cli.app, ["worker"])
        assert result.exit_code == 2
        err = result.output.strip().splitlines()
        assert len(err) == 1
        assert "FRONTLINE_BOT_TOKEN" in err[0]


class TestRunWorker:
    def test_runs_the_loop_and_extra_jobs_until_stopped(self, cli_db: str, tmp_path: Path) -> None:
        """Extra jobs run beside delivery and get the same stop signal; rows are delivered; the worker beats."""
        settings: Settings = load_settings(
            data_dir=tmp_path, database_url=cli_db, quiet_hours="00:00-00:00", _env_file=None
        )
        messenger = FakeMessenger()
        job_saw_stop = asyncio.Event()

        @contextlib.asynccontextmanager
        async def factory(_settings: Settings) -> AsyncIterator[FakeMessenger]:
            yield messenger

        async def main() -> None:
            stop = asyncio.Event()

            async def job(job_stop: asyncio.Event) -> None:
                await job_stop.wait()
                job_saw_stop.set()

            async def stop_soon() -> None:
                for _ in range(200):
                    if messenger.sent:
                        break
                    await asyncio.sleep(0.02)
                beats.append(heartbeat.age_seconds(tmp_path, "worker"))
                stop.set()

            stopper = asyncio.create_task(stop_soon())
            report = await run_worker(
                settings,
                extra_jobs=[job],
                messenger_factory=factory,
                worker_id="cli-test",
                stop=stop,
                options=DeliveryOptions(idle_seconds=0.05),
            )
            await stopper
            assert report.sent == 1

        beats: list[float | None] = []
        asyncio.run(main())
        assert [text for _chat, text, _t in messenger.sent] == ["c"]
        assert job_saw_stop.is_set()
        assert beats and beats[0] is not None, "the worker beats for `frontline health worker`"
        assert heartbeat.age_seconds(tmp_path, "worker") is None, "a stopped worker is not alive"
