"""The console chat: /attach sends a local file as the officer would, so 维权 works without Telegram."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import select

from core import identity
from core.db import make_engine, make_sessionmaker, transaction
from core.settings import Settings
from rights.evidence import path_for
from rights.models import RightsApplication, RightsEvidence
from tests.e2e.fakes import FakeKnowledgeBase


def _button(out: list[str], label: str) -> str:
    """The number of the newest inline button whose label contains ``label``."""
    for chunk in reversed(out):
        found = re.findall(r"\[#(\d+) ([^\]]*)\]", chunk)
        for number, text in reversed(found):
            if label in text:
                return f"#{number}"
    raise AssertionError(f"no button {label!r} in {out[-3:]!r}")


class TestConsoleAttach:
    async def test_an_officer_applies_with_attached_files_and_the_office_sees_them(
        self, settings: Settings, tmp_path: Path
    ) -> None:
        """The demo officer goes through the form with /attach for a photo and a PDF; both are stored by hash
        and the demo rights officer's chat shows the application and the files."""
        from bot.commands import CONSOLE_USER_BASE, chat_session, ensure_demo_data
        from core.migrate import upgrade_async

        await upgrade_async(settings)
        engine = make_engine(settings.effective_database_url)
        sessions = make_sessionmaker(engine)
        await ensure_demo_data(sessions, settings)
        async with transaction(sessions) as session:
            office = await identity.add_officer(session=session, badge="DEMO009", name="演示维权员",
                                                unit="演示派出所", roles=("officer", "rights"))
            office.telegram_user_id = CONSOLE_USER_BASE + office.id  # enrolled to a console account
        photo = tmp_path / "scene.jpg"
        photo.write_bytes(b"\xff\xd8 a photo from the scene")
        report = tmp_path / "report.pdf"
        report.write_bytes(b"%PDF-1.4 hospital report")
        out: list[str] = []
        steps: list[str | Callable[[], str]] = [
            "/rights",
            lambda: _button(out, "新建维权申请"),
            lambda: _button(out, "暴力袭警"),
            lambda: _button(out, "刚才"),
            "派出所门口",
            "出警时被推倒",
            lambda: _button(out, "跳过"),
            f"/attach {photo}",
            f"/attach {report}",
            "/attach /no/such/file.jpg",
            lambda: _button(out, "完成"),
            lambda: _button(out, "完成"),
            lambda: _button(out, "提交申请"),
        ]

        async def read_line() -> str:
            if not steps:
                for _ in range(200):  # let the delivery loop bring the office its pushes
                    shown = "\n".join(chunk for chunk in out if "→ chat" in chunk)
                    if "📎 photo" in shown and "📎 document" in shown:
                        break
                    await asyncio.sleep(0.05)
                raise EOFError
            step = steps.pop(0)
            return step() if callable(step) else step

        reader: Callable[[], Awaitable[str]] = read_line
        code = await chat_session(settings, "DEMO001", kb=FakeKnowledgeBase(), output=out.append, read_line=reader)
        text = "\n".join(out)
        assert code == 0
        assert "📎 已收到：照片（1/20）" in text and "📎 已收到：文件（2/20）" in text
        assert "(no such file: /no/such/file.jpg; usage: /attach PATH)" in text
        assert "✅ 您的维权申请已提交。" in text
        assert "→ chat" in text and "新的维权申请" in text
        assert "📎 photo console-" in text and "📎 document console-" in text
        async with sessions() as session:
            application = await session.scalar(select(RightsApplication))
            assert application is not None
            rows = list(await session.scalars(select(RightsEvidence).order_by(RightsEvidence.ordinal)))
        await engine.dispose()
        assert [(r.kind, r.filename) for r in rows] == [("photo", None), ("document", "report.pdf")]
        digest = hashlib.sha256(b"%PDF-1.4 hospital report").hexdigest()
        assert rows[1].sha256 == digest and path_for(settings, digest).read_bytes() == b"%PDF-1.4 hospital report"
