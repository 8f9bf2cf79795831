"""``frontline broadcasts send|stats|list`` (a stable contract), and cancel and remind."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from broadcast_helpers import build_world
from typer.testing import CliRunner

import schema
from cli import app
from core.db import make_engine, make_sessionmaker, transaction
from core.settings import Settings

STATS_KEYS = ["id", "recipients", "sent", "acknowledged", "unreachable", "pending", "cancelled"]


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A data dir whose database has every table, the unit tree and its officers, as the CLI finds it."""
    monkeypatch.setenv("FRONTLINE_DATA_DIR", str(settings.data_dir))
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def setup() -> None:
        engine = make_engine(settings.effective_database_url)
        async with engine.begin() as conn:
            await conn.run_sync(schema.load_models().create_all)
        async with transaction(make_sessionmaker(engine)) as session:
            await build_world(session)
        await engine.dispose()

    asyncio.run(setup())
    return settings


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["broadcasts", *args])
    return result.exit_code, result.output


class TestSend:
    def test_send_prints_the_id_last_and_stats_and_list_show_its_figures(self, cli_env: Settings) -> None:
        """The id is alone on the last line; stats --json has exactly the listed keys; list --json has it too."""
        code, output = run(
            "send", "--from", "L1", "--audience", "unit:城关派出所,unit-only:东关派出所",
            "--text", "夜间盘查注意安全", "--article", "刑事诉讼法:第七十九条",
        )
        assert code == 0, output
        lines = output.strip().splitlines()
        broadcast_id = int(lines[-1])
        assert "6 officer(s)" in lines[0] and "1 not yet enrolled" in lines[0]
        code, output = run("stats", str(broadcast_id), "--json")
        assert code == 0, output
        stats = json.loads(output)
        assert list(stats) == STATS_KEYS
        assert stats == {"id": broadcast_id, "recipients": 6, "sent": 0, "acknowledged": 0, "unreachable": 0,
                         "pending": 6, "cancelled": 0}
        code, output = run("list", "--json")
        assert code == 0, output
        listed = json.loads(output)
        assert [b["id"] for b in listed] == [broadcast_id]
        assert listed[0]["articles"] == ["刑事诉讼法:第七十九条"] and listed[0]["recipients"] == 6
        assert listed[0]["sender"] == "L1" and listed[0]["audience"] == "unit:城关派出所,unit-only:东关派出所"
        code, output = run("stats", str(broadcast_id), "--by-unit")
        assert code == 0 and "东关派出所: 2 recipients" in output

    def test_scheduled_from_a_text_file_and_found_by_search(self, cli_env: Settings, tmp_path: Path) -> None:
        """--at schedules it (local time); --text-file reads UTF-8; list searches by words, date and unit."""
        tip = tmp_path / "tip.txt"
        tip.write_text("\ufeff冬季防火检查要点\n第二段", encoding="utf-8")
        code, output = run("send", "--from", "L1", "--audience", "role:supervisor", "--text-file", str(tip),
                           "--at", "2099-01-02 08:30", "--urgent")
        assert code == 0, output
        assert "scheduled for 2099-01-02 08:30 (Asia/Shanghai)" in output
        listed = json.loads(run("list", "--json", "--search", "防火")[1])
        assert listed[0]["status"] == "scheduled" and listed[0]["urgent"] is True
        assert listed[0]["send_at"] == "2099-01-02T08:30:00+08:00" and listed[0]["text"].startswith("冬季防火")
        assert json.loads(run("list", "--json", "--since", "2099-01-02", "--until", "2099-01-02")[1])
        assert json.loads(run("list", "--json", "--until", "2099-01-01")[1]) == []
        assert json.loads(run("list", "--json", "--audience", "东关派出所")[1])[0]["id"] == listed[0]["id"]
        assert json.loads(run("list", "--json", "--search", "醉驾")[1]) == []

    def test_a_file_is_kept_in_the_data_dir_for_its_single_upload(self, cli_env: Settings, tmp_path: Path) -> None:
        """The attachment is copied into the data dir; the tip waits for the loop to upload it once."""
        photo = tmp_path / "scene.png"
        photo.write_bytes(b"\x89PNG\r\n")
        code, output = run("send", "--from", "L1", "--audience", "all", "--text", "现场照片", "--file", str(photo))
        assert code == 0, output
        assert "uploaded once" in output
        photo.unlink()
        copies = list((cli_env.data_dir / "broadcasts").rglob("scene.png"))
        assert len(copies) == 1 and copies[0].read_bytes() == b"\x89PNG\r\n"
        listed = json.loads(run("list", "--json")[1])
        assert listed[0]["media"] == "photo" and listed[0]["status"] == "scheduled"

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--audience", "everyone", "--text", "x"], "unknown audience term 'everyone'"),
            (["--audience", "unit:西关派出所", "--text", "x"], "no such unit: 西关派出所"),
            (["--audience", "all", "--text", "x", "--article", "刑法:第九千条"], "no such article in the knowledge base"),
            (["--audience", "all"], "give the tip as --text TEXT or --text-file FILE"),
            (["--audience", "all", "--text", "x", "--at", "2020-01-01 08:00"], "the send time is in the past"),
            (["--audience", "all", "--text", "x", "--at", "tomorrow"], "--at: expected a date and time"),
            (["--audience", "all", "--text", "x", "--file", "/nonexistent.pdf"], "no such file"),
        ],
    )
    def test_bad_input_is_one_line_and_exit_1(self, cli_env: Settings, args: list[str], message: str) -> None:
        """Each mistake is named on one line; nothing is sent."""
        code, output = run("send", "--from", "L1", *args)
        assert code == 1, output
        assert message in output and len(output.strip().splitlines()) == 1
        assert json.loads(run("list", "--json")[1]) == []

    def test_only_the_legal_brigade_may_send(self, cli_env: Settings) -> None:
        """An officer without the legal role, or an unknown badge, is refused."""
        code, output = run("send", "--from", "A1", "--audience", "all", "--text", "x")
        assert code == 1 and "A1 may not send broadcasts" in output
        code, output = run("send", "--from", "ZZ9", "--audience", "all", "--text", "x")
        assert code == 1 and output.strip() == "frontline: no such officer: ZZ9"


class TestFollowUp:
    def test_cancel_and_remind_from_the_command_line(self, cli_env: Settings) -> None:
        """cancel withdraws the unsent tips; remind says plainly why it cannot run yet."""
        code, output = run("send", "--from", "L1", "--audience", "all", "--text", "提示")
        broadcast_id = output.strip().splitlines()[-1]
        code, output = run("remind", broadcast_id, "--by", "L2")
        assert code == 1 and "at least an hour apart" in output
        code, output = run("cancel", broadcast_id, "--by", "A1")
        assert code == 1 and "may not send broadcasts" in output
        code, output = run("cancel", broadcast_id, "--by", "L2")
        assert code == 0 and "9 tip(s) withdrawn" in output
        stats = json.loads(run("stats", broadcast_id, "--json")[1])
        assert (stats["cancelled"], stats["pending"]) == (9, 0)
        code, output = run("stats", "999", "--json")
        assert code == 1 and "no such broadcast: 999" in output
