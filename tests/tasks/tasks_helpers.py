"""Helpers of the tasks tests: local times, a small police organisation, outbox rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import identity
from core.identity import Officer
from core.outbox import OutboxMessage

TZ = ZoneInfo("Asia/Shanghai")


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """Builds an aware Asia/Shanghai time."""
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


@dataclass
class Org:
    """城关分局 with its legal brigade and two stations; officers by badge."""

    people: dict[str, Officer]

    def __getitem__(self, badge: str) -> Officer:
        return self.people[badge]


UNITS = (
    ("城关分局", None),
    ("法制大队", "城关分局"),
    ("城关派出所", "城关分局"),
    ("一中队", "城关派出所"),
    ("二中队", "城关派出所"),
    ("东城派出所", "城关分局"),
    ("三中队", "东城派出所"),
)
OFFICERS = (
    # badge, name, unit, roles, language
    ("B001", "局长", "城关分局", ("supervisor",), "zh"),
    ("L001", "法制员", "法制大队", ("legal",), "zh"),
    ("S001", "王所长", "城关派出所", ("supervisor",), "zh"),
    ("1001", "张三", "一中队", ("officer",), "zh"),
    ("1002", "李四", "一中队", ("officer",), "en"),
    ("1003", "王五", "二中队", ("officer",), "zh"),
    ("1004", "赵六", "三中队", ("officer",), "zh"),
    ("1005", "钱七", "一中队", ("officer",), "zh"),
    ("A001", "管理员", "城关分局", ("admin",), "zh"),
)


async def build_org(session: AsyncSession, *, enrolled: bool = True) -> Org:
    """Adds the units and officers (1005 deactivated); every active officer enrolled unless told."""
    for name, parent in UNITS:
        await identity.add_unit(session=session, name=name, parent=parent)
    people: dict[str, Officer] = {}
    for number, (badge, name, unit, roles, language) in enumerate(OFFICERS, start=1):
        officer = await identity.add_officer(
            session=session, badge=badge, name=name, unit=unit, roles=roles, language=language
        )
        if enrolled:
            officer.telegram_user_id = 9000 + number
        people[badge] = officer
    await identity.deactivate(session=session, badge="1005")
    await session.flush()
    return Org(people)


async def pushes(session: AsyncSession, *, kind: str | None = None) -> list[OutboxMessage]:
    """Lists the outbox rows, oldest first, optionally of one kind."""
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind is not None:
        query = query.where(OutboxMessage.kind == kind)
    return list((await session.scalars(query)).all())


async def pushes_to(session: AsyncSession, officer: Officer, *, kind: str | None = None) -> list[OutboxMessage]:
    """Lists the outbox rows for one officer."""
    return [row for row in await pushes(session, kind=kind) if row.officer_id == officer.id]
