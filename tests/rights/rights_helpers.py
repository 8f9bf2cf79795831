"""Helpers and fixtures of the rights tests: an organisation, a fake evidence fetcher, submissions."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import identity
from core.identity import Officer
from core.outbox import OutboxMessage
from core.settings import Settings
from rights import service
from rights.evidence import EvidenceItem, FileTooBig, FileUnavailable
from rights.service import Draft


class FakeFetcher:
    """Serves file contents by file id; ids in ``too_big`` are refused like Telegram's 20 MB limit."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.too_big: set[str] = set()
        self.unavailable: set[str] = set()
        self.calls: list[str] = []

    async def download(self, *, file_id: str, destination: Path) -> None:
        self.calls.append(file_id)
        if file_id in self.too_big:
            raise FileTooBig(file_id)
        if file_id in self.unavailable or file_id not in self.files:
            raise FileUnavailable(file_id)
        destination.write_bytes(self.files[file_id])  # noqa: ASYNC240  # a few bytes in a test


@dataclass
class Org:
    """The officers of the test organisation.

    县局 (county bureau, rights office 6001, supervisor 9001, admin 9900)
      └ 城关派出所 (applicant 1001, colleague 1002, supervisor 1003)
      └ 东城派出所 (its own rights office 6002, officer 2001)
    市局 is an unrelated root with its own rights office 7001.
    """

    applicant: Officer
    colleague: Officer
    station_supervisor: Officer
    rights: Officer
    rights2: Officer
    county_supervisor: Officer
    admin: Officer
    east_rights: Officer
    east_officer: Officer
    city_rights: Officer
    all: dict[str, Officer] = field(default_factory=dict)


@pytest.fixture
async def org(session: AsyncSession) -> Org:
    """Builds the units and officers (committed)."""
    await identity.add_unit(session=session, name="县局")
    await identity.add_unit(session=session, name="城关派出所", parent="县局")
    await identity.add_unit(session=session, name="东城派出所", parent="县局")
    await identity.add_unit(session=session, name="市局")
    specs: list[tuple[str, str, str, tuple[str, ...]]] = [
        ("1001", "张三", "城关派出所", ("officer",)),
        ("1002", "李四", "城关派出所", ("officer",)),
        ("1003", "王所长", "城关派出所", ("officer", "supervisor")),
        ("6001", "赵维权", "县局", ("officer", "rights")),
        ("6003", "钱维权", "县局", ("officer", "rights")),
        ("9001", "孙督察长", "县局", ("officer", "supervisor")),
        ("9900", "管理员", "县局", ("admin",)),
        ("6002", "周维权", "东城派出所", ("officer", "rights")),
        ("2001", "吴警官", "东城派出所", ("officer",)),
        ("7001", "郑维权", "市局", ("officer", "rights")),
    ]
    made: dict[str, Officer] = {}
    for index, (badge, name, unit, roles) in enumerate(specs):
        officer = await identity.add_officer(session=session, badge=badge, name=name, unit=unit, roles=roles)
        officer.telegram_user_id = 500 + index
        made[badge] = officer
    await session.commit()
    return Org(
        applicant=made["1001"],
        colleague=made["1002"],
        station_supervisor=made["1003"],
        rights=made["6001"],
        rights2=made["6003"],
        county_supervisor=made["9001"],
        admin=made["9900"],
        east_rights=made["6002"],
        east_officer=made["2001"],
        city_rights=made["7001"],
        all=made,
    )


@pytest.fixture
def fetcher() -> FakeFetcher:
    """A fetcher with no files yet."""
    return FakeFetcher()


def item(fetcher: FakeFetcher, file_id: str, content: bytes | None, kind: str = "photo", **extra: Any) -> EvidenceItem:
    """Registers content under a file id (None: too big to fetch) and returns the evidence item."""
    if content is None:
        fetcher.too_big.add(file_id)
    else:
        fetcher.files[file_id] = content
    return EvidenceItem(kind=kind, file_id=file_id, file_unique_id=f"u-{file_id}", **extra)


def sha(content: bytes) -> str:
    """Returns the SHA-256 of some bytes."""
    return hashlib.sha256(content).hexdigest()


SubmitApp = Callable[..., Awaitable[Any]]


@pytest.fixture
def submit_app(session: AsyncSession, settings: Settings, org: Org, fetcher: FakeFetcher) -> SubmitApp:
    """Submits an application by 1001 (committed) with a photo and a document, unless told otherwise."""

    async def _submit(
        *, type_code: str = "assault", evidence: list[EvidenceItem] | None = None, now: datetime | None = None,
        applicant: Officer | None = None,
    ) -> Any:
        if evidence is None:
            evidence = [
                item(fetcher, "ph1", b"photo one"),
                item(fetcher, "doc1", b"%PDF medical report", kind="document", filename="诊断证明.pdf"),
            ]
        draft = Draft(
            type=type_code,
            occurred_at=now,
            place="城关镇人民路口",
            account="处置纠纷时被当事人推倒并踢伤右腿。",
            people="当事人赵某某",
            help_wanted=["medical", "accountability"],
            evidence=evidence,
        )
        application = await service.submit(
            session=session, settings=settings, applicant=applicant or org.applicant, draft=draft, fetcher=fetcher,
            now=now,
        )
        await session.commit()
        return application

    return _submit


async def pushes(session: AsyncSession, officer: Officer) -> list[OutboxMessage]:
    """Lists the outbox rows queued for an officer, oldest first."""
    rows = await session.scalars(
        select(OutboxMessage).where(OutboxMessage.officer_id == officer.id).order_by(OutboxMessage.id)
    )
    return list(rows)
