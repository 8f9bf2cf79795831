"""Sample data for desk tests and the README screenshot: a bureau, stations, officers, cases, questions.

Everything goes through the domains' own functions (units and officers through identity, cases
through the reminders import, questions through the referral queue), so the desk shows exactly
what a real deployment would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core import identity
from core.settings import Settings
from core.tabular import Row
from knowledge import feedback
from reminders.cases import import_cases

BUREAU = "城关分局"
STATIONS = ("城关派出所", "东关派出所", "西关派出所", "刑侦大队")
LEGAL_UNIT = "法制大队"


@dataclass(frozen=True)
class Seeded:
    """Who the sample data made, by role."""

    legal: str
    supervisor: str
    admin: str
    rights: str
    officers: list[str]


def _when(now: datetime, settings: Settings, *, days: float = 0, hours: float = 0, with_time: bool = False) -> str:
    moment = (now - timedelta(days=days, hours=hours)).astimezone(settings.tz)
    return moment.strftime("%Y-%m-%d %H:%M") if with_time else moment.strftime("%Y-%m-%d")


async def seed(session: AsyncSession, settings: Settings, now: datetime) -> Seeded:
    """Adds a bureau with four stations and a legal brigade, officers, 24 cases and 4 referred questions."""
    await identity.add_unit(session=session, name=BUREAU)
    for name in (*STATIONS, LEGAL_UNIT):
        await identity.add_unit(session=session, name=name, parent=BUREAU)
    people = [
        ("L001", "周法制", LEGAL_UNIT, ("officer", "legal")),
        ("S001", "赵所长", STATIONS[0], ("officer", "supervisor")),
        ("A001", "钱管理", BUREAU, ("officer", "admin")),
        ("R001", "孙维权", BUREAU, ("officer", "rights")),
    ]
    officers: list[str] = []
    names = ("张伟", "王芳", "李娜", "刘洋", "陈杰", "杨静", "黄磊", "吴敏")
    for index, name in enumerate(names):
        badge = f"P{index + 1:03d}"
        people.append((badge, name, STATIONS[index % len(STATIONS)], ("officer",)))
        officers.append(badge)
    for number, (badge, name, unit, roles) in enumerate(people):
        officer = await identity.add_officer(session=session, badge=badge, name=name, unit=unit, roles=roles)
        if badge != "P008":  # one officer has not enrolled yet
            officer.telegram_user_id = 70_001 + number
    rows: list[Row] = []

    def case(number: str, title: str, kind: str, badge: str, event: str, when: str) -> None:
        rows.append(Row(line=len(rows) + 2, values={
            "case_number": number, "case_title": title, "case_type": kind, "officer_badge": badge,
            "event": event, "event_date": when,
        }))

    # Administrative cases accepted 22 to 36 days ago: 30-day limits from 6 days away to overdue.
    for index, days in enumerate((36, 33, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22)):
        case(f"XZ2026{index + 1:04d}", f"治安案件{index + 1}号", "治安", officers[index % 8], "行政案件受理",
             _when(now, settings, days=days))
    # Criminal detentions 1 to 3 days ago: the three days to request an arrest run out now.
    for index, days in enumerate((3, 2, 2, 1, 1)):
        case(f"XS2026{index + 1:04d}", f"盗窃案{index + 1}号", "刑事", officers[(index + 3) % 8], "刑事拘留",
             _when(now, settings, days=days, with_time=True))
    # Bail granted almost twelve months ago.
    for index, days in enumerate((362, 360, 357)):
        case(f"XS2026{index + 10:04d}", f"诈骗案{index + 1}号", "刑事", officers[(index + 5) % 8], "取保候审",
             _when(now, settings, days=days))
    # Cases far from any limit.
    for index in range(4):
        case(f"XS2026{index + 20:04d}", f"寻衅滋事案{index + 1}号", "刑事", officers[index], "取保候审",
             _when(now, settings, days=30 + index))
    report = await import_cases(session=session, rows=rows, settings=settings, actor="seed", now=now)
    assert report.ok, report.errors
    asks = (  # oldest first, as they wait in the queue
        ("P001", "醉酒的人在派出所里打伤了同伴，能直接行政拘留吗？", timedelta(days=4, hours=2)),
        ("P002", "辅警能否单独对违法行为人进行询问并制作笔录？", timedelta(days=1, hours=5)),
        ("P003", "当事人拒绝在询问笔录上签字，笔录还有效吗？", timedelta(hours=6)),
        ("P004", "对未成年人传唤时必须通知监护人到场吗？", timedelta(minutes=40)),
    )
    for badge, question, waited in asks:
        officer = await identity.get_officer(session=session, badge=badge)
        assert officer is not None
        item = await feedback.refer_question(session=session, officer_id=officer.id, question=question)
        item.created_at = now - waited
    await _office_work(session, settings, now, officers)
    return Seeded(legal="L001", supervisor="S001", admin="A001", rights="R001", officers=officers)


# --- rights applications, broadcasts and tasks --------------------------------------------------


async def _office_work(session: AsyncSession, settings: Settings, now: datetime, officers: list[str]) -> None:
    """A risk tip to everyone two hours ago, acknowledged by three officers; a station task left overdue."""
    from broadcasts import service as broadcasts
    from core.holidays import load_calendar
    from tasks import service as tasks
    from tasks.spec import TaskSpec

    legal = await identity.get_officer(session=session, badge="L001")
    supervisor = await identity.get_officer(session=session, badge="S001")
    assert legal is not None and supervisor is not None
    tip = await broadcasts.create(session=session, sender=legal, text="节日期间加强巡逻，注意防范涉众型诈骗。", audience="all",
                                  settings=settings, now=now - timedelta(hours=2))
    for badge in officers[:3]:
        reader = await identity.get_officer(session=session, badge=badge)
        assert reader is not None
        await broadcasts.acknowledge(session=session, broadcast_id=tip.id, officer=reader, now=now - timedelta(hours=1))
    spec = TaskSpec(title="上报辖区矛盾纠纷排查情况", assignees=["P001", "P005"], due=now - timedelta(hours=3))
    await tasks.create_task(session=session, spec=spec, settings=settings, calendar=load_calendar(settings),
                            creator=supervisor, actor="S001", now=now - timedelta(days=1), past_ok=True)


def png_bytes(width: int = 24, height: int = 16, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A small solid-colour PNG (a photo the browser can show)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height))
            + chunk(b"IEND", b""))


PHOTO = png_bytes(320, 200)
DOCUMENT = b"%PDF-1.4 medical report of the injury"


class Files:
    """Serves evidence files by Telegram file id, as the Bot API's getFile would."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    async def download(self, *, file_id: str, destination: Path) -> None:
        from rights.evidence import FileUnavailable

        if file_id not in self.files:
            raise FileUnavailable(file_id)
        destination.write_bytes(self.files[file_id])  # noqa: ASYNC240  # a few bytes


async def rights_application(session: AsyncSession, settings: Settings, badge: str, *, now: datetime | None = None) -> Any:
    """Submits an application by an officer through the domain, with a photo and a document."""
    from rights import service
    from rights.evidence import EvidenceItem

    applicant = await identity.get_officer(session=session, badge=badge)
    assert applicant is not None
    draft = service.Draft(
        type="assault", occurred_at=now, place="城关镇人民路口", account="处置纠纷时被当事人推倒并踢伤右腿。",
        people="当事人赵某某", help_wanted=["medical", "accountability"],
        evidence=[
            EvidenceItem(kind="photo", file_id="ph1", file_unique_id="u-ph1", mime_type="image/png"),
            EvidenceItem(kind="document", file_id="doc1", file_unique_id="u-doc1", filename="诊断证明.pdf",
                         mime_type="application/pdf"),
        ],
    )
    fetcher = Files({"ph1": PHOTO, "doc1": DOCUMENT})
    return await service.submit(session=session, settings=settings, applicant=applicant, draft=draft, fetcher=fetcher,
                                now=now)
